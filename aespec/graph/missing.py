"""Checks of data with missing values (`missing=nan`, data/missing.py): the models that
cannot skip an unobserved entry (E343, E344) and batch statistics over filled inputs
(W438).  W437 and W439 need the data itself and are found when it is read."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aespec.errors import DiagnosticBag
from aespec.graph.checks import check
from aespec.model import Spec
from aespec.ops import get_op

if TYPE_CHECKING:
    from aespec.graph.ir import IR

# normalizations whose statistics are taken over the batch, and so over its filled entries
BATCH_STATISTICS = ("batchnorm",)


def has_missing(spec: Spec) -> bool:
    return spec.data is not None and spec.data.args.get("missing") == "nan"


@check
def condition_reads_no_missing_data(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """E343: `condition labels(N)` with missing=nan; a conditional model's second tensor
    is its labels, so the targets with their unobserved entries have nowhere to go."""
    if has_missing(spec) and spec.condition is not None and spec.data is not None:
        bag.add("E343", "missing=nan cannot go with `condition labels(N)`: a conditional "
                "model reads the labels where a model with missing values reads the "
                "targets that mark them", spec.data.span,
                f"leave out missing=nan, or the condition (line {spec.condition.span.line})")


@check
def missing_needs_a_masked_loss(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """E344: missing=nan with a model that is not trained by reconstruction terms alone:
    what trains it would read the filled entries as if they were data."""
    if not has_missing(spec) or spec.data is None:
        return
    why = None
    if spec.is_adversarial or spec.is_vae_gan:
        why = "its discriminator would judge the filled entries as real data"
    elif spec.train.pretrain is not None:
        why = (f"`pretrain {spec.train.pretrain.name}` trains each stage to reconstruct "
               "its input, filled entries included")
    else:
        own = [g.nodes[n] for n in g.order if g.nodes[n].place == "layer"
               and get_op("layer", g.nodes[n].op).adds_term]
        if own:
            why = (f"{own[0].op} (line {own[0].span.line}) trains by a term of its own on "
                   "its input, filled entries included")
    if why is not None:
        bag.add("E344", f"missing=nan needs a model trained by its reconstruction loss, "
                f"which skips the unobserved entries; {why}", spec.data.span,
                "leave out missing=nan (fill the file's NaN yourself), or train an "
                "autoencoder whose loss is reconstruction terms")


@check
def batch_statistics_over_filled_inputs(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W438: batchnorm on a model whose inputs are mostly filled in: its batch mean and
    variance are largely those of the fill, and change with how much each batch observes."""
    if not has_missing(spec):
        return
    for nid in g.order:
        d = g.nodes[nid]
        if d.place == "layer" and d.op in BATCH_STATISTICS and d.network == "autoencoder":
            bag.add("W438", f"{d.op} normalizes by batch statistics, but with missing=nan "
                    "the inputs hold filled entries: its mean and variance are partly the "
                    "fill's, and shift with the share each batch observes", d.span,
                    "layernorm, or no normalization (AutoRec has none)")
            return
