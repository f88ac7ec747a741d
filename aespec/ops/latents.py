"""Stochastic latent ops (section 6 of the language): `gaussian`, bottleneck only."""

from __future__ import annotations

from pydantic import Field

from aespec.ops.layers import DenseArgs, PosInt, count, dense_inverse
from aespec.ops.registry import Args, OpDef, Shape, _unbounded, register


class GaussianLatentArgs(Args):
    dim: int = PosInt
    beta: float = Field(1.0, ge=0)
    samples: int = Field(1, gt=0)


def _build_gaussian(a: GaussianLatentArgs, s_in: Shape, s_out: Shape):
    """GaussianLatent: (z, mu, logvar); its `kl` is the closed-form KL to N(0, I)."""
    from aespec.ops.modules import GaussianLatent

    return GaussianLatent(count(s_in), a.dim, a.samples)


register(OpDef(
    "gaussian", "latent", "two dense heads give `mu` and `log sigma^2`; `z = mu + sigma * eps` "
    "(reparameterization); adds `beta * KL(q(z|x) || N(0, I))`; `samples=L` averages the "
    "reconstruction over L draws; `z = mu` at evaluation", GaussianLatentArgs,
    shape=lambda a, s: (a.dim,), params=lambda a, s: 2 * (count(s) * a.dim + a.dim),
    range=_unbounded,
    inverse=lambda a, s_in, s_out: dense_inverse(DenseArgs(units=a.dim), s_in, s_out),
    signature="gaussian(dim, beta=1.0, samples=1)",
    params_doc="`2 * (in * dim + dim)`", blocks=("bottleneck",), build=_build_gaussian))
