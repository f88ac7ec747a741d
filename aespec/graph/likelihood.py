"""The model's density, where it has one: a gaussian latent and one reconstruction term
that reads as -log p(x|z) (aespec.ops.likelihood).  `aespec eval --nll` estimates
-log p(x) with it, and `gaussian(dim, iw=K)` trains on its importance-weighted bound."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from aespec.errors import Diagnostic
from aespec.ops import get_op
from aespec.ops.likelihood import Likelihood

if TYPE_CHECKING:
    from aespec.graph.ir import IR

NO_LIKELIHOOD = "E321"


def likelihood_of(g: IR) -> Likelihood | Diagnostic:
    """The decoder distribution p(x|z) that the spec's loss reads as, or the E321 that says
    why there is none (no gaussian latent, several loss terms, a loss that is no
    log-likelihood as weighted)."""
    if g.latent is None:
        return Diagnostic(NO_LIKELIHOOD, "the likelihood p(x) needs a stochastic latent: "
                          "z ~ N(0, I) and q(z|x) come from `gaussian(dim)`",
                          hint="make the bottleneck gaussian(dim), a VAE")
    terms = g.of_kind("loss")
    if len(terms) != 1:
        d = g.nodes[terms[1]]
        return Diagnostic(NO_LIKELIHOOD, f"the likelihood p(x|z) is read from one loss term, "
                          f"but the loss has {len(terms)}", d.span,
                          "keep one term: bce, mse, mae or gaussian_nll")
    d = g.nodes[terms[0]]
    op = get_op("loss", d.op)
    if op.likelihood is None:
        return Diagnostic(NO_LIKELIHOOD, f"{d.op} is no log-likelihood of a decoder "
                          "distribution: its normalizer is not known", d.span,
                          "use bce (Bernoulli), mse (Gaussian), mae (Laplace) or "
                          "gaussian_nll")
    values = math.prod(d.input_shape())
    per_value = d.weight / values if d.args.reduce == "mean" else d.weight
    read: Likelihood | str = op.likelihood(d.args, per_value, values)
    if isinstance(read, str):
        return Diagnostic(NO_LIKELIHOOD, read, d.span, f"write `loss {d.op}` (reduce=sum is "
                          "the default with a stochastic latent)")
    return read
