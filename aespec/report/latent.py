"""Latent exploration: paths between codes and one dimension varied at a time.

    >>> z = interpolation_path(z_a, z_b, 8, "slerp")    # (8, values) codes from z_a to z_b
    >>> z = traversal_codes(z0, dims=[3, 0], values)   # (2, steps, values)

The lecture's point: an autoencoder's codes lie where its training put them, so the
decoder between two of them may show nothing like the data, or jump; a VAE's KL term packs
its codes into N(0, I), so every point between two codes decodes to something plausible
and the pictures change evenly.  `interpolation_path` is the straight line, or the great
circle (slerp) with the norm going linearly from one end's to the other's: a straight line
between two draws of N(0, I) in many dimensions passes near the origin, far inside the
shell of radius ~sqrt(d) where the prior's mass lies; slerp stays on it.
`even_steps` says how evenly a path's pictures change: the largest step over the mean
step (1: every step alike; n - 1: all of the change in one step).

Plain numpy; the report items (`interpolate`, `traverse`) and `LoadedRun.interpolate` /
`LoadedRun.traverse` give the codes to a model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

Codes = Callable[[np.ndarray], np.ndarray]  # (N, *input) -> (N, values), or back


def slerp(z0: np.ndarray, z1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(len(t), values) points on the great circle from z0's direction to z1's, the norm
    going linearly from |z0| to |z1| (a straight line for parallel or zero codes)."""
    n0, n1 = float(np.linalg.norm(z0)), float(np.linalg.norm(z1))
    norms = (1 - t) * n0 + t * n1
    if min(n0, n1) < 1e-12:
        return linear(z0, z1, t)
    u0, u1 = z0 / n0, z1 / n1
    omega = math.acos(float(np.clip(u0 @ u1, -1.0, 1.0)))
    if omega < 1e-6 or math.pi - omega < 1e-6:  # parallel, or opposite: no single circle
        return linear(z0, z1, t)
    dirs = (np.sin((1 - t) * omega)[:, None] * u0 + np.sin(t * omega)[:, None] * u1) \
        / math.sin(omega)
    return norms[:, None] * dirs


def linear(z0: np.ndarray, z1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(len(t), values) points on the straight line from z0 to z1."""
    return (1 - t)[:, None] * z0 + t[:, None] * z1


PATHS = {"linear": linear, "slerp": slerp}


def path_of(path: str, gaussian: bool) -> str:
    """`auto` made concrete: slerp for a gaussian latent, linear otherwise."""
    return ("slerp" if gaussian else "linear") if path == "auto" else path


def interpolation_path(z0: np.ndarray, z1: np.ndarray, n: int, path: str) -> np.ndarray:
    """(n, values) codes from z0 to z1, both ends included, by `path` (linear, slerp)."""
    return PATHS[path](np.ravel(z0).astype(np.float64), np.ravel(z1).astype(np.float64),
                       np.linspace(0.0, 1.0, n))


def even_steps(pictures: np.ndarray) -> float:
    """The largest step between neighbouring pictures over the mean step (RMS per value):
    1 when the pictures change evenly, up to n - 1 when they change at one step only."""
    flat = np.asarray(pictures, np.float64).reshape(len(pictures), -1)
    steps = np.sqrt(np.mean(np.diff(flat, axis=0) ** 2, axis=1))
    mean = float(steps.mean())
    return float(steps.max() / mean) if mean > 1e-12 else 1.0


def spread_dims(codes: np.ndarray, k: int) -> np.ndarray:
    """The k dimensions the codes spread most over (largest standard deviation first)."""
    return np.argsort(-codes.std(0), kind="stable")[:min(k, codes.shape[1])]


def traversal_codes(z0: np.ndarray, dims: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(len(dims), steps, values) copies of z0, row i with dimension dims[i] set to
    values[i] (each row its own (steps,) values)."""
    z = np.repeat(np.repeat(np.ravel(z0)[None, None], len(dims), 0), values.shape[1], 1)
    for i, d in enumerate(dims):
        z[i, :, d] = values[i]
    return z


def traversal_values(codes: np.ndarray, dims: np.ndarray, steps: int, reach: float,
                     gaussian: bool) -> np.ndarray:
    """(len(dims), steps) values of each varied dimension: -reach..reach (in the prior's
    standard deviations) for a gaussian latent, else the test codes' mean +- reach of their
    standard deviations in that dimension."""
    ramp = np.linspace(-reach, reach, steps)
    if gaussian:
        return np.repeat(ramp[None], len(dims), 0)
    mean, std = codes[:, dims].mean(0), codes[:, dims].std(0)
    return mean[:, None] + ramp[None] * np.maximum(std, 1e-12)[:, None]


def pairs_of(n_examples: int, pairs: int, seed: int) -> np.ndarray:
    """(pairs, 2) seeded distinct test indices, no example paired with itself."""
    rng = np.random.default_rng(seed)
    pick = rng.permutation(n_examples)[:2 * pairs]
    return pick[:2 * (len(pick) // 2)].reshape(-1, 2)


def interpolations(encode: Codes, decode: Codes, xa: np.ndarray, xb: np.ndarray, n: int,
                   path: str) -> tuple[np.ndarray, np.ndarray]:
    """Codes (pairs, n, values) on `path` from each xa's code to its xb's, and their
    decodings (pairs, n, *output)."""
    za, zb = encode(xa), encode(xb)
    z = np.stack([interpolation_path(a, b, n, path) for a, b in zip(za, zb, strict=True)])
    x = decode(z.reshape(-1, z.shape[-1]))
    return z, x.reshape(len(z), n, *x.shape[1:])


def traversal(encode: Codes, decode: Codes, x0: np.ndarray, codes: np.ndarray, dims: int,
              steps: int, reach: float, gaussian: bool) -> dict[str, Any]:
    """x0's code with each of the `dims` most spread dimensions of `codes` varied over
    `steps` values: {"dims", "values" (dims, steps), "codes", "pictures" (dims, steps, ...)}."""
    chosen = spread_dims(codes, dims)
    values = traversal_values(codes, chosen, steps, reach, gaussian)
    z = traversal_codes(encode(x0[None])[0], chosen, values)
    x = decode(z.reshape(-1, z.shape[-1]))
    return {"dims": chosen, "values": values, "codes": z,
            "pictures": x.reshape(len(chosen), steps, *x.shape[1:])}
