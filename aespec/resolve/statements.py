"""Each top-level statement -> its `Spec` fields: one handler per statement, and `dispatch`."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import Field

from aespec import data as data_sources
from aespec.errors import did_you_mean
from aespec.model import settings as cfg
from aespec.model.spec import (
    LAYER_BLOCKS,
    STATEMENTS,
    DataSpec,
    InputSpec,
    Mirror,
    RegSpec,
)
from aespec.ops import Args, get_op, lookup, names
from aespec.parse.tree import (
    BlockStmt,
    LetStmt,
    LineStmt,
    LossStmt,
    ModelStmt,
    Op,
    PhaseStmt,
    RegularizeStmt,
)
from aespec.resolve.adversarial import adversarial_term, do_condition, do_latent
from aespec.resolve.heads import do_head, xent_term
from aespec.resolve.phases import do_phase
from aespec.resolve.resolver import Resolver
from aespec.resolve.settings import resolve_settings
from aespec.resolve.values import bind_args


class _Vector(Args):
    n: int = Field(gt=0)


class _Image(Args):
    c: int = Field(gt=0)
    h: int = Field(gt=0)
    w: int = Field(gt=0)


class _Sequence(Args):
    c: int = Field(gt=0)
    length: int = Field(gt=0)


class _MirrorArgs(Args):
    output: Optional[str] = None
    tied: bool = False


INPUTS: dict[str, type[Args]] = {"vector": _Vector, "image": _Image, "sequence": _Sequence}


def stmt_keyword(stmt) -> str:
    """The word a statement starts with: `model`, `let`, `encoder`, ..."""
    return {ModelStmt: "model", LetStmt: "let", LossStmt: "loss",
            RegularizeStmt: "regularize", PhaseStmt: "phase"}.get(type(stmt)) or stmt.keyword


def _single_op(r: Resolver, stmt: LineStmt) -> Op | None:
    items = stmt.chain.items
    if len(items) != 1 or not isinstance(items[0], Op):
        r.bag.add("E203", f"{stmt.keyword} takes exactly one op", stmt.chain.span)
        return None
    return items[0]


def _do_input(r: Resolver, stmt: LineStmt) -> None:
    op = _single_op(r, stmt)
    if op is None:
        return
    model = INPUTS.get(op.name)
    if model is None:
        r.bag.add("E201", f"unknown input kind '{op.name}'", op.name_span,
                  did_you_mean(op.name, INPUTS) or "use vector(N), image(C, H, W) or "
                  "sequence(C, L)")
        return
    args = bind_args(op, model, r.scope, r.bag, op.name)
    if args is not None:
        kind: Any = op.name  # one of INPUTS' keys
        r.fields["input"] = InputSpec(kind=kind, shape=tuple(args.model_dump().values()),
                                      span=op.span)
        _warn_channels_last(r, op, r.fields["input"].shape)


def _warn_channels_last(r: Resolver, op: Op, shape: tuple[int, ...]) -> None:
    """W411 for `image(28, 28, 1)`: Keras's (height, width, channels) habit. aespec's order is
    PyTorch's, channels first, so this would be a 28-channel image one pixel wide."""
    if op.name == "image" and shape[2] in (1, 3) and shape[0] > 4 and shape[1] > 4:
        c, h, w = shape
        r.bag.add("W411", f"image({c}, {h}, {w}) is {c} channels of {h}x{w}: aespec's order is "
                  "(channels, height, width)", op.span,
                  f"for {w} channel{'s' if w != 1 else ''} of {c}x{h} pixels write "
                  f"`image({w}, {c}, {h})`")


def _do_data(r: Resolver, stmt: LineStmt) -> None:
    op = _single_op(r, stmt)
    if op is None:
        return
    entry = data_sources.REGISTRY.get(op.name)
    if entry is None:
        r.bag.add("E201", f"unknown data source '{op.name}'", op.name_span,
                  did_you_mean(op.name, data_sources.REGISTRY))
        return
    args = bind_args(op, entry.args, r.scope, r.bag, op.name)
    if args is not None:
        r.fields["data"] = DataSpec(source=op.name, args=args.model_dump(exclude_unset=True),
                                    span=op.span)


def _do_noise(r: Resolver, stmt: LineStmt) -> None:
    r.fields["noise"] = r.chain(stmt.chain, "noise", "noise")


def _do_decoder_line(r: Resolver, stmt: LineStmt) -> None:
    op = _single_op(r, stmt)
    if op is None:
        return
    if op.name != "mirror":
        r.bag.add("E203", f"decoder takes a block {{ ... }} or `mirror`, got {op.name}",
                  op.name_span, did_you_mean(op.name, ["mirror"]))
        return
    args = bind_args(op, _MirrorArgs, r.scope, r.bag, "mirror")
    if args is None:
        return
    act = lookup("layer", args.output) if args.output else None
    if args.output and (act is None or act.kind != "activation"):
        acts = [n for n in names("layer") if get_op("layer", n).kind == "activation"]
        r.bag.add("E203", f"mirror output must be an activation, got '{args.output}'", op.span,
                  did_you_mean(args.output, acts) or f"one of: {', '.join(acts)}")
        return
    r.fields["decoder"] = Mirror(output=args.output, tied=args.tied, span=stmt.span)


def _do_block(r: Resolver, stmt: BlockStmt) -> None:
    if stmt.keyword == "head":
        do_head(r, stmt)
        return
    if stmt.target is not None:
        _do_block_target(r, stmt)
    if stmt.keyword in LAYER_BLOCKS:
        r.fields[stmt.keyword] = r.block(stmt.lines, stmt.keyword)
    elif stmt.keyword == "train":
        resolve_settings(r, stmt, cfg.TRAIN, "train")
    else:
        resolve_settings(r, stmt, cfg.REPORT, "report")


def _do_block_target(r: Resolver, stmt: BlockStmt) -> None:
    """`discriminator on code { ... }`: an adversarial autoencoder's discriminator, which
    judges the code; without `on`, a discriminator judges examples (data or generated)."""
    assert stmt.target is not None and stmt.target_span is not None
    if stmt.keyword != "discriminator":
        r.bag.add("E203", f"`{stmt.keyword} on {stmt.target}`: only a discriminator reads "
                  "something other than the block before it", stmt.target_span,
                  f"write `{stmt.keyword} {{ ... }}`")
    elif stmt.target != "code":
        r.bag.add("E203", f"a discriminator judges examples (no `on`) or the code (`on "
                  f"code`), not '{stmt.target}'", stmt.target_span,
                  did_you_mean(stmt.target, ["code"]) or "write `discriminator on code`")
        r.fields["discriminator_on"] = "code"  # read on as the one known target: no cascade
    else:
        r.fields["discriminator_on"] = "code"


def _do_loss(r: Resolver, stmt: LossStmt) -> None:
    rest = xent_term(r, stmt, adversarial_term(r, stmt))
    if len(rest) < len(stmt.terms) and not rest:  # adversarial(...) alone: a GAN's line
        return
    r.fields["loss"] = r.loss_terms(rest)
    r.fields["loss_span"] = stmt.span


def _do_regularize(r: Resolver, stmt: RegularizeStmt) -> None:
    call = r.op(stmt.op, "regularizer", "regularize")
    if call is not None:
        r.fields.setdefault("regularizers", []).append(
            RegSpec(call=call, target=stmt.target, target_span=stmt.target_span))


def _do_model(r: Resolver, stmt: ModelStmt) -> None:
    r.fields["name"], r.fields["doc"] = stmt.name, stmt.doc


_LINE_HANDLERS = {"input": _do_input, "data": _do_data, "noise": _do_noise,
                  "latent": do_latent, "condition": do_condition,
                  "decoder": _do_decoder_line}
_BLOCK_STATEMENTS = (*LAYER_BLOCKS, "head", "train", "report")


def dispatch(r: Resolver, stmt) -> None:
    """Resolve one top-level statement (not a `let`) into `r.fields`, problems into `r.bag`."""
    if isinstance(stmt, ModelStmt):
        _do_model(r, stmt)
    elif isinstance(stmt, LossStmt):
        _do_loss(r, stmt)
    elif isinstance(stmt, RegularizeStmt):
        _do_regularize(r, stmt)
    elif isinstance(stmt, BlockStmt):
        if stmt.keyword not in _BLOCK_STATEMENTS:
            r.bag.add("E209", f"'{stmt.keyword}' does not take a block", stmt.keyword_span,
                      _statement_hint(stmt.keyword))
        else:
            _do_block(r, stmt)
    elif isinstance(stmt, LineStmt):
        _dispatch_line(r, stmt)
    elif isinstance(stmt, PhaseStmt):
        do_phase(r, stmt)


def _dispatch_line(r: Resolver, stmt: LineStmt) -> None:
    handler = _LINE_HANDLERS.get(stmt.keyword)
    if stmt.keyword_args and handler is not None:
        r.bag.add("E101", f"{stmt.keyword} takes no arguments itself", stmt.keyword_span,
                  f"write `{stmt.keyword} VALUE`")
    elif lookup("layer", stmt.keyword) or lookup("noise", stmt.keyword):
        r.bag.add("E208", f"{stmt.keyword} is an op: it belongs inside encoder, "
                  "bottleneck, decoder or discriminator { ... }, or on the noise line",
                  stmt.keyword_span, "put it inside a block")
    elif handler is None:
        hint = (f"{stmt.keyword} takes a block: `{stmt.keyword} {{`"
                if stmt.keyword in _BLOCK_STATEMENTS
                else _statement_hint(stmt.keyword))
        r.bag.add("E209", f"unknown statement '{stmt.keyword}'"
                  if stmt.keyword not in STATEMENTS else f"{stmt.keyword} takes a block",
                  stmt.keyword_span, hint)
    else:
        handler(r, stmt)


def _statement_hint(word: str) -> str:
    return did_you_mean(word, STATEMENTS) or f"statements: {', '.join(STATEMENTS)}"

