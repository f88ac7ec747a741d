"""Reconstruction losses read as decoder likelihoods p(x|z), for `aespec eval --nll` and
the importance-weighted bound of `gaussian(dim, iw=K)`.

A loss term is a log-likelihood when, as the spec weighs and reduces it, it equals
-log p(x|z) up to a constant that does not depend on the model: then the training
objective is the negative ELBO of a model with a known density, and the constant added
back gives nats.  Each loss's registry entry carries its reading (`OpDef.likelihood`):

| loss | p(x|z), c the term's weight per value | nats added per example |
|---|---|---|
| `bce` | independent Bernoulli with means x̂; needs c = 1 | 0 |
| `mse` | N(x̂, σ²) per value, σ² = 1/(2c) | D/2 · log(π/c) |
| `mae` | Laplace(x̂, b) per value, b = 1/c | D · log(2/c) |
| `gaussian_nll` | N(x̂, σ²) with its own σ²; needs c = 1 | 0 |

D is the number of output values.  `bce` on grey levels (not 0/1) is the cross-entropy
of the Bernoulli pixels, not a normalized density of the grey levels: comparable between
models on the same data, as is the custom for grey-level MNIST.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Likelihood:
    """A decoder distribution: `name` as the docs write it; `constant` the nats per
    example that -log p(x|z) adds to the reconstruction term."""

    name: str
    constant: float = 0.0


def _unit_weight(name: str, what: str) -> Any:
    def read(a: Any, c: float, values: int) -> Likelihood | str:
        if c != 1:
            return (f"{name} weighted {c:g} per value is not the log-likelihood of a "
                    f"{what}: that is the term with weight 1 and reduce=sum")
        return Likelihood(what)

    return read


def bernoulli(a: Any, c: float, values: int) -> Likelihood | str:
    """`bce`: independent Bernoulli pixels with means x̂."""
    return _unit_weight("bce", "Bernoulli with means x̂")(a, c, values)


def gaussian_of_mse(a: Any, c: float, values: int) -> Likelihood | str:
    """`mse`: c·(x - x̂)² is -log N(x; x̂, σ²) less ½·log(2πσ²) when σ² = 1/(2c)."""
    var = 1 / (2 * c)
    return Likelihood(f"Gaussian N(x̂, {var:g})", values * 0.5 * math.log(2 * math.pi * var))


def laplace_of_mae(a: Any, c: float, values: int) -> Likelihood | str:
    """`mae`: c·|x - x̂| is -log Laplace(x; x̂, b) less log(2b) when b = 1/c."""
    return Likelihood(f"Laplace(x̂, {1 / c:g})", values * math.log(2 / c))


def gaussian_of_nll(a: Any, c: float, values: int) -> Likelihood | str:
    """`gaussian_nll`: already -log N(x; x̂, σ²), its σ² fixed or learned."""
    what = "Gaussian N(x̂, σ²), σ² learned" if a.var == "learned" else \
        f"Gaussian N(x̂, {a.var:g})"
    return _unit_weight("gaussian_nll", what)(a, c, values)
