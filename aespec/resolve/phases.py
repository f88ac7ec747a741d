"""`phase NAME { ... }` -> a `PhaseSpec`; `freeze` names checked against the spec's blocks
and labels once every statement is resolved."""

from __future__ import annotations

from typing import Any

from aespec.errors import Span, did_you_mean
from aespec.model import settings as cfg
from aespec.model.spec import BLOCKS, PhaseSpec
from aespec.ops import get_op, names
from aespec.parse.tree import BlockStmt, ChainLine, LineStmt, LossStmt, Op, PhaseStmt
from aespec.resolve.heads import split_xent
from aespec.resolve.resolver import Resolver
from aespec.resolve.settings import BAD, plain_values, setting_value

# what a phase may hold, for the E328 hint
PHASE_LINES = ("noise", "loss", *cfg.PHASE_KEYS)


def do_phase(r: Resolver, stmt: PhaseStmt) -> None:
    """Resolve one phase into `r.fields["phases"]` (file order); problems into `r.bag`."""
    phases: list[PhaseSpec] = r.fields.setdefault("phases", [])
    if any(p.name == stmt.name for p in phases):
        r.bag.add("E328", f"phase '{stmt.name}' is given twice", stmt.name_span,
                  "give each phase a name of its own")
    values: dict[str, Any] = {}
    spans: dict[str, Span] = {}
    for inner in stmt.statements:
        key = _phase_line(r, inner, values)
        if key is not None:
            spans[key] = inner.span
    plain = plain_values({k: v for k, v in values.items() if k in cfg.PHASE_KEYS})
    plain.setdefault("epochs", 0)  # 0: the train block's, filled in by finish_phases
    phases.append(PhaseSpec(name=stmt.name, noise=values.get("noise"),
                            loss=values.get("loss"), xent=values.get("xent"),
                            span=stmt.span, spans=spans, **plain))


def _phase_line(r: Resolver, inner, values: dict[str, Any]) -> str | None:
    """One statement of a phase into `values`; its key, or None when it was refused."""
    key = _key_of(inner)
    if key is None or key not in PHASE_LINES or isinstance(inner, BlockStmt):
        r.bag.add("E328", f"a phase cannot set {_what(inner, key)}", _span_of(inner),
                  (did_you_mean(key, PHASE_LINES) if key else None)
                  or f"a phase sets: {', '.join(PHASE_LINES)}")
        return None
    if key in values:
        r.bag.add("E206", f"phase setting '{key}' is given twice", inner.span)
        return None
    if key == "loss":  # its xent, as the top level's: the head's term in this phase
        values["xent"], rest = split_xent(r, inner.terms)
        values["loss"] = r.loss_terms(rest)
    elif key == "noise":
        values["noise"] = _noise(r, inner)
    else:
        head = Op(inner.keyword, inner.keyword_args, inner.keyword_span, inner.keyword_span)
        line = ChainLine((head, *inner.chain.items), inner.span)
        value = setting_value(r, head, line, cfg.TRAIN[key])
        if value is BAD:
            return None
        values[key] = value
    return key


def _key_of(inner) -> str | None:
    if isinstance(inner, LossStmt):
        return "loss"
    if isinstance(inner, (LineStmt, BlockStmt)):
        return inner.keyword
    return None


def _what(inner, key: str | None) -> str:
    if isinstance(inner, PhaseStmt):
        return "another phase (phases follow one another at the top level)"
    if key is None:
        return f"a {type(inner).__name__.removesuffix('Stmt').lower()} statement"
    return f"'{key}'" + (" (its blocks are the spec's, shared by every phase)"
                         if key in BLOCKS else "")


def _span_of(inner) -> Span:
    return getattr(inner, "keyword_span", None) or getattr(inner, "name_span", None) \
        or inner.span


def _noise(r: Resolver, inner: LineStmt) -> list:
    """`noise none` (no corruption in this phase) or a noise chain as the top level's."""
    items = inner.chain.items
    if len(items) == 1 and isinstance(items[0], Op) and items[0].name == "none" \
            and not items[0].args:
        return []
    return r.chain(inner.chain, "noise", "noise")


def finish_phases(r: Resolver) -> None:
    """Phases without `epochs` take the train block's; `freeze` names checked (E329), in
    train and in each phase; phases refused where the spec trains a game (E328)."""
    train = r.fields.get("train", cfg.TrainSpec())
    phases = r.fields.get("phases", [])
    r.fields["phases"] = [p if p.epochs else p.model_copy(update={"epochs": train.epochs})
                          for p in phases]
    known = [b for b in BLOCKS if b in r.fields] + list(r.labels)
    for name in r.fields.pop("freeze_names", []):  # settings.py's _names keeps them
        if name.name not in known:
            r.bag.add("E329", f"nothing to freeze is named '{name.name}'", name.span,
                      did_you_mean(name.name, known) or
                      f"freeze a block or a named layer: {', '.join(known)}")
    blocks = {b for b in BLOCKS if b in r.fields}
    for frozen, span in [(train.freeze, r.fields.get("train_spans", {}).get("freeze")),
                         *((p.freeze or (), p.spans.get("freeze")) for p in phases)]:
        if span is not None and blocks and blocks <= set(frozen):
            r.bag.add("W426", "every block is frozen: nothing trains", span,
                      "freeze fewer blocks, or leave the phase out")
    game = "latent" in r.fields or bool(r.fields.get("discriminator"))
    if phases and game:
        r.bag.add("E328", "phases train an autoencoder's objective; this spec trains a game "
                  "(a discriminator)", phases[0].span,
                  "train the game in one run, or warm start it with `train { init ... }`")
    if game and "freeze" in r.fields.get("train_spans", {}):
        r.bag.add("E329", "freeze is for an autoencoder's blocks; this spec trains a game "
                  "(a discriminator)", r.fields["train_spans"]["freeze"],
                  "remove the freeze line")


def check_layerwise(r: Resolver) -> None:
    """`pretrain layerwise(output=NAME, loss=bce)`: NAME an activation (E203), and bce
    read from an output in [0, 1] (sigmoid)."""
    train = r.fields.get("train")
    span = r.fields.get("train_spans", {}).get("pretrain")
    if train is None or span is None or train.pretrain is None or \
            train.pretrain.name != "layerwise":
        return
    args = train.pretrain.args
    acts = [n for n in names("layer") if get_op("layer", n).kind == "activation"]
    if args.output is not None and args.output not in acts:
        r.bag.add("E203", f"layerwise output must be an activation, got '{args.output}'",
                  span, did_you_mean(args.output, acts) or f"one of: {', '.join(acts)}")
    elif args.loss == "bce" and args.output != "sigmoid":
        r.bag.add("E203", "layerwise loss=bce reads an output in [0, 1]: the stage "
                  f"decoder's output is {args.output or 'linear'}", span,
                  "write `layerwise(output=sigmoid, loss=bce)`")
