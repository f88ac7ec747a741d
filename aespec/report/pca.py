"""PCA by the eigenvectors of the smaller Gram matrix: the report's baseline and its 2-D
view of the codes."""

from __future__ import annotations

import numpy as np


def fit_pca(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), components (k', D)) of (N, D) data: the top right singular vectors of
    the centred data, from the eigenvectors of the smaller Gram matrix (much faster than
    LAPACK's SVD of a tall or wide matrix).  k' = min(k, D), and never more than the
    data's rank when N < D (the other directions are not determined by the data)."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(0)
    vecs, _ = principal_axes(x - mean, k)
    return mean, vecs


def principal_axes(xc: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(components (k', D), their squared singular values) of centred (N, D) data."""
    wide = xc.shape[0] < xc.shape[1]
    vals, vecs = np.linalg.eigh(xc @ xc.T if wide else xc.T @ xc)
    order = np.argsort(vals)[::-1][:k]
    vals, vecs = np.clip(vals[order], 0, None), vecs[:, order]
    if wide:  # left singular vectors -> right ones, for directions the data spans
        keep = vals > max(vals.max(initial=0), 1e-300) * 1e-10
        vals, vecs = vals[keep], xc.T @ vecs[:, keep] / np.sqrt(vals[keep])
    return vecs.T, vals


def pca_reconstruct(x: np.ndarray, mean: np.ndarray, comps: np.ndarray) -> np.ndarray:
    """Projection of (N, D) data onto the components' affine subspace."""
    return (np.asarray(x, dtype=np.float64) - mean) @ comps.T @ comps + mean

