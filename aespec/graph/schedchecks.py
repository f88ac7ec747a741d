"""Checks of the weights written as schedules (aespec.ops.anneal): E340 where the training
cannot follow one, W434 for one that does not settle within the run, W435 for one that
never changes; and E341, gradient clipping where the training step does not clip."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from aespec.errors import DiagnosticBag
from aespec.graph.checks import check
from aespec.model import Spec
from aespec.ops import fmt_value

if TYPE_CHECKING:
    from aespec.graph.ir import IR


def scheduled(g: IR) -> Iterator[tuple[str, str, Any]]:
    """(node, argument, schedule) of every weight written as a schedule."""
    for nid, d in g.nodes.items():
        for arg, schedule in d.schedules:
            yield nid, arg, schedule


@check
def schedules_can_be_followed(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """E340: the adversarial trainers (an adversarial autoencoder's, a VAE-GAN's) and the
    importance-weighted bound do not read scheduled weights."""
    for _, _, schedule in scheduled(g):
        text = schedule.text()
        if "discriminator" in g.outputs:
            bag.add("E340", f"{text}: a model with a discriminator trains in the adversarial "
                    "loop, which keeps its weights fixed", schedule.span,
                    f"write the weight as a number, its settled value "
                    f"{fmt_value(schedule.settled)}")
        elif g.latent is not None and g.nodes[g.latent].args.iw > 1:
            bag.add("E340", f"{text}: iw={g.nodes[g.latent].args.iw} trains on the "
                    "importance-weighted bound, whose terms have no weights to schedule",
                    schedule.span, "train the ELBO (iw=1) to anneal its KL term")


@check
def schedules_settle_within_the_run(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W434: a schedule still changing when the run ends (the run trains on less than the
    weight it is evaluated at); W435: a schedule whose values are all one."""
    epochs = spec.train.epochs
    for _, _, schedule in scheduled(g):
        text, reaches = schedule.text(), schedule.reaches
        if reaches is not None and reaches > epochs:
            last = schedule.value_at(epochs, epochs)
            bag.add("W434", f"{text} settles after {fmt_value(reaches)} epochs, but the run "
                    f"has {epochs}: training ends at weight {fmt_value(last)}, while the "
                    f"validation and test losses weigh the term by "
                    f"{fmt_value(schedule.settled)}", schedule.span,
                    f"shorten the schedule to at most {epochs} epochs, or train longer")
        values = {schedule.value_at(0.0, epochs), schedule.settled}
        if schedule.kind == "step":
            values |= set(schedule.args.values)
        if len(values) == 1:
            bag.add("W435", f"{text} never changes: the weight is "
                    f"{fmt_value(schedule.settled)} throughout", schedule.span,
                    f"write the number {fmt_value(schedule.settled)} itself")


@check
def clipping_in_the_autoencoder_loop(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """E341: `clip` and `log grad_norm` act in the autoencoder's training step; a model with
    a discriminator (a GAN, an adversarial autoencoder, a VAE-GAN) steps its networks in
    the adversarial loop, which neither clips nor measures."""
    if "discriminator" not in g.outputs:
        return
    for key in ("clip", "log"):
        if getattr(spec.train, key) is not None and key in spec.train_spans:
            bag.add("E341", f"`{key}` is not applied to a model with a discriminator: the "
                    "adversarial loop steps its networks without it", spec.train_spans[key],
                    f"remove the `{key}` line (a WGAN's critic takes `adversarial(wasserstein, "
                    "clip=C)` for its weights)" if key == "clip" else f"remove the `{key}` line")
