"""A GAN's statements: `latent normal(N)`, `loss adversarial(KIND)`, and the checks that a
spec's parts make one model (E217): a generator from `latent` with a discriminator, or an
autoencoder with neither."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from aespec.errors import Span, did_you_mean
from aespec.model.spec import (
    ADVERSARIAL_TRAIN,
    AdversarialSpec,
    ConditionSpec,
    LatentSpec,
    Mirror,
)
from aespec.ops import Args
from aespec.ops.adversarial import AdversarialArgs
from aespec.parse.tree import LineStmt, LossStmt, Op
from aespec.resolve.resolver import Resolver
from aespec.resolve.vaegan import check_vae_gan
from aespec.resolve.values import bind_args


class _Normal(Args):
    dim: int = Field(gt=0)


PRIORS: dict[str, type[Args]] = {"normal": _Normal}  # the priors `latent` draws z from


class _Labels(Args):
    classes: int = Field(gt=1)


CONDITIONS: dict[str, type[Args]] = {"labels": _Labels}  # what `condition` reads from the data
CONDITION_LABEL = "y"  # the tensor name of the condition

# statements a GAN has no use for yet, and why
_NOT_IN_A_GAN = {
    "encoder": "its generator is the decoder, fed by z (adversarial autoencoders are not "
               "built yet)",
    "bottleneck": "z comes from `latent`, not from a bottleneck",
    "noise": "noise corrupts an encoder's input, and a GAN has no encoder",
    "regularize": "regularizers of a GAN are not built yet",
}
# the report items a GAN offers: the others read an encoder or a reconstruction
GAN_REPORT = ("samples", "sample_quality")


def _one_op(r: Resolver, stmt: LineStmt, table: dict[str, type[Args]], what: str,
            example: str) -> tuple[Op, Any] | None:
    """The one op of a `latent` or `condition` line, found in `table` and bound (E203,
    E201 where it is not: `what` names the op's kind, `example` the line to write)."""
    items = stmt.chain.items
    op = items[0] if len(items) == 1 and isinstance(items[0], Op) else None
    if op is None:
        r.bag.add("E203", f"{stmt.keyword} takes exactly one op: `{example}`", stmt.chain.span)
        return None
    model = table.get(op.name)
    if model is None:
        r.bag.add("E201", f"unknown {what} '{op.name}'", op.name_span,
                  did_you_mean(op.name, table) or f"write `{example}`")
        return None
    args = bind_args(op, model, r.scope, r.bag, op.name)
    return None if args is None else (op, args)


def do_latent(r: Resolver, stmt: LineStmt) -> None:
    """`latent normal(N)`: the GAN generator's noise z ~ N(0, I), N values."""
    found = _one_op(r, stmt, PRIORS, "latent prior", "latent normal(N)")
    if found is not None:
        op, args = found
        r.fields["latent"] = LatentSpec(prior="normal", dim=args.dim, span=op.span)


def do_condition(r: Resolver, stmt: LineStmt) -> None:
    """`condition labels(N)`: the data's class labels, one-hot, as the tensor `y`."""
    found = _one_op(r, stmt, CONDITIONS, "condition", "condition labels(N)")
    if found is not None:
        op, args = found
        r.fields["condition"] = ConditionSpec(kind="labels", classes=args.classes,
                                              span=op.span)


def adversarial_term(r: Resolver, stmt: LossStmt) -> list:
    """The `adversarial(KIND)` term of a loss line, resolved into `r.fields`; the line's
    other terms, handed back (a GAN's line has none, E217 in `check_parts`; an adversarial
    autoencoder's are its reconstruction terms)."""
    found = [t for t in stmt.terms if t.op.name == "adversarial"]
    rest = [t for t in stmt.terms if t.op.name != "adversarial"]
    if not found:
        return rest
    term = found[0]
    if len(found) > 1:
        r.bag.add("E217", "a loss line has one adversarial(...) term", found[1].op.span,
                  "remove the second")
    weight = r.fixed_weight(term, "adversarial")
    args = bind_args(term.op, AdversarialArgs, r.scope, r.bag, "adversarial")
    if args is not None:
        r.fields["adversarial"] = AdversarialSpec(
            kind=args.kind, gradient_penalty=args.gradient_penalty, clip=args.clip,
            weight=float(weight), span=term.op.span)
    r.fields["loss_span"] = stmt.span
    return rest


def check_parts(r: Resolver, spans: dict[str, Span]) -> None:
    """E217 where a spec's statements do not make one model; `spans`: each statement's."""
    if "latent" in spans:
        _check_gan(r, spans)
        return
    if "discriminator" in spans and r.fields.get("discriminator_on") != "code":
        check_vae_gan(r, spans)
        return
    if "discriminator" in spans or "adversarial" in r.fields:
        _check_aae(r, spans)
        return
    for key in ADVERSARIAL_TRAIN:
        if key in r.fields.get("train_spans", {}):
            r.bag.add("E217", f"train {key} is for a GAN, and this spec has no discriminator",
                      r.fields["train_spans"][key], "remove it")


def _check_gan(r: Resolver, spans: dict[str, Span]) -> None:
    for key, why in _NOT_IN_A_GAN.items():
        if key in spans:
            r.bag.add("E217", f"a GAN (a spec with `latent`) has no {key}: {why}", spans[key],
                      f"remove the {key} statement")
    report = r.fields.get("report")
    for item in [*(report.items if report else ()), *([report.baseline] if report and
                                                       report.baseline else [])]:
        if item not in GAN_REPORT:
            where = r.fields.get("report_spans", {}).get(item, spans.get("report"))
            r.bag.add("E217", f"a GAN's report has no {item}: it reads an encoder or a "
                      "reconstruction, and a GAN has neither", where,
                      f"a GAN's report items: {', '.join(GAN_REPORT)}")
    early = r.fields.get("train_spans", {}).get("early_stop")
    if early is not None and not (report and "sample_quality" in report.items):
        r.bag.add("E217", "a GAN's early stopping needs `sample_quality` in its report: a "
                  "GAN has no validation loss, and its epochs are judged by the Frechet "
                  "distance of their samples", early,
                  "add `report { sample_quality }`, or remove early_stop")
    if r.fields.get("discriminator_on") == "code":
        r.bag.add("E217", "a GAN has no code: its discriminator judges examples, real and "
                  "generated", spans["discriminator"], "write `discriminator { ... }`")
    if "discriminator" not in spans:
        r.bag.add("E207", "the spec has no discriminator", spans["latent"],
                  "a GAN's generator learns against `discriminator { ... }`, layers that "
                  "end in one logit: `dense(1)`")
    if isinstance(r.fields.get("decoder"), Mirror):
        r.bag.add("E217", "decoder mirror inverts an encoder, and a GAN has none",
                  spans["decoder"], "write the generator out: `decoder { ... }`")
    game = r.fields.get("adversarial")
    if game is not None and game.weight != 1.0:
        r.bag.add("E217", "a GAN's adversarial loss has no weight: it is the whole objective",
                  game.span, "write `loss adversarial(...)`")
    if r.fields.get("loss"):  # reconstruction terms, which a GAN has no input for
        r.bag.add("E217", "a GAN's loss is adversarial: the generator has no input to "
                  "reconstruct", r.fields["loss_span"],
                  "write `loss adversarial(nonsaturating)` (or minimax, wasserstein, hinge, "
                  "least_squares)")


def _check_aae(r: Resolver, spans: dict[str, Span]) -> None:
    """An adversarial autoencoder: an autoencoder whose `discriminator` reads its code,
    against draws of the prior N(0, I) (Makhzani et al., 2016)."""
    if "discriminator" not in spans:
        r.bag.add("E207", "adversarial(...) in an autoencoder needs a discriminator",
                  r.fields["adversarial"].span, "add `discriminator { ... }`: layers that "
                  "read the code and end in one logit, `dense(1)`; or `latent normal(N)` "
                  "for a GAN")
        return
    if not r.fields.get("loss") and "loss_span" in r.fields:
        r.bag.add("E217", "an adversarial autoencoder also reconstructs: its loss line "
                  "needs a reconstruction term", r.fields["loss_span"],
                  "write `loss mse + adversarial(nonsaturating)`")
    for block in r.fields.get("bottleneck", []):
        if block.op == "gaussian":
            r.bag.add("E217", "an adversarial autoencoder's code is deterministic: its "
                      "discriminator, not a KL term, pulls it towards N(0, I)", block.span,
                      "use `dense(N)` in the bottleneck")
    train = r.fields.get("train_spans", {})
    if "pretrain" in train:
        r.bag.add("E217", "an adversarial autoencoder has no layer-wise pretraining yet",
                  train["pretrain"], "remove pretrain")
