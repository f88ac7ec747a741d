"""How far codes lie from a prior N(0, I): the squared maximum mean discrepancy (MMD) of
Gretton et al. (2012), what an adversarial autoencoder's report states beside its figure
of the codes over draws of the prior. Plain numpy."""

from __future__ import annotations

import numpy as np


def prior_draws(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """`shape` draws of N(0, 1), (N, values), from their own seeded generator."""
    return np.random.default_rng(seed).standard_normal(shape)


def mmd(a: np.ndarray, b: np.ndarray) -> float:
    """The squared MMD (the biased estimate) between samples a (N, d) and b (M, d), with
    the RBF kernel exp(-|u - v|² / 2d): a bandwidth of sqrt(d), the scale of the distance
    between two draws of N(0, I). 0 for one distribution; near 0.5 for a plain
    autoencoder's 2-D codes of Fashion-MNIST (their spread is 4 or so)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(_kernel(a, a) + _kernel(b, b) - 2 * _kernel(a, b))


def _kernel(u: np.ndarray, v: np.ndarray) -> float:
    """The mean of the RBF kernel over all pairs of rows of u and v."""
    sq = (u * u).sum(1)[:, None] + (v * v).sum(1)[None, :] - 2 * u @ v.T
    return float(np.exp(-np.maximum(sq, 0) / (2 * u.shape[1])).mean())
