"""Report item `som_maps`: a self-organizing map's U-matrix, hit map and prototypes.

Drawn as MATLAB's plotsomnd and plotsomhits draw them: one cell per unit at its grid
place (hexagons on a hex grid, squares on a rect grid); the U-matrix colours each unit by
the mean distance of its prototype to its grid neighbours' (dark: far, a border between
clusters), the hit map sizes a dark patch by the test examples the unit wins.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np

from aespec.errors import AespecError
from aespec.ops.grid import neighbour_pairs, unit_positions


def find_map(model: Any) -> Any:
    """The model's som module; E308 where it has none."""
    for m in model.modules():
        if hasattr(m, "measures") and hasattr(m, "adjacent"):
            return m
    raise AespecError.of("E308", "som_maps needs a som: write `som(rows, cols)` in the "
                         "bottleneck")


def u_matrix(w: np.ndarray, rows: int, cols: int, grid: str) -> np.ndarray:
    """Each unit's mean prototype distance to its grid neighbours, (units,)."""
    total, count = np.zeros(len(w)), np.zeros(len(w))
    for i, j in neighbour_pairs(rows, cols, grid):
        d = float(np.linalg.norm(w[i] - w[j]))
        total[[i, j]] += d
        count[[i, j]] += 1
    return total / np.maximum(count, 1)


def _cells(ax: Any, rows: int, cols: int, grid: str, colours: Any, scale: Any = None) -> None:
    from matplotlib.patches import RegularPolygon

    hexagonal = grid == "hex"
    radius = 1 / math.sqrt(3) if hexagonal else math.sqrt(0.5)
    for k, (x, y) in enumerate(unit_positions(rows, cols, grid)):
        size = radius * (1.0 if scale is None else scale[k])
        ax.add_patch(RegularPolygon((x, -y), 6 if hexagonal else 4, radius=size,
                                    orientation=0 if hexagonal else math.pi / 4,
                                    facecolor=colours[k], edgecolor="#888888", lw=0.4))
    ax.set_xlim(-1, cols + 0.5)
    ax.set_ylim(-rows * (math.sqrt(3) / 2 if hexagonal else 1), 1)
    ax.set_aspect("equal")
    ax.axis("off")


def draw_umatrix(u: np.ndarray, rows: int, cols: int, grid: str) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5.5))
    norm = plt.Normalize(float(u.min()), float(u.max()))
    cmap = plt.get_cmap("bone_r")
    _cells(ax, rows, cols, grid, cmap(norm(u)))
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.8,
                 label="mean distance to the neighbours' prototypes")
    ax.set_title("U-matrix: dark cells sit between clusters\n(row 0 at the top)")
    return fig


def draw_hits(hits: np.ndarray, rows: int, cols: int, grid: str) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5.5))
    _cells(ax, rows, cols, grid, ["#ffffff"] * len(hits))
    scale = np.sqrt(hits / max(int(hits.max()), 1))
    _cells(ax, rows, cols, grid, ["#3b6ea5"] * len(hits), scale)
    for k, (x, y) in enumerate(unit_positions(rows, cols, grid)):
        if hits[k]:
            ax.text(x, -y, str(int(hits[k])), ha="center", va="center", fontsize=6,
                    color="white" if scale[k] > 0.6 else "black")
    ax.set_title(f"Hits: test examples won by each unit ({int(hits.sum())} in all)")
    return fig


def draw_prototypes(w: np.ndarray, rows: int, cols: int, value_range: tuple[float, float]
                    ) -> Any:
    """Each unit's prototype as an image (first channel), at its (row, col)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.6, rows * 0.6), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.imshow(w[k][0], cmap="gray", vmin=value_range[0], vmax=value_range[1])
        ax.axis("off")
    fig.suptitle("Prototypes at their grid places (row, col)")
    return fig


def som_maps(ctx: Any, args: Any) -> dict:
    """The U-matrix, the hit map of the test set and, for images, the prototypes."""
    import torch

    som = find_map(ctx.model)
    rows, cols, grid = som.rows, som.cols, som.grid
    w = som.weight.detach().float().cpu().numpy()
    x = torch.as_tensor(ctx.x_test, device=ctx.device)
    h = torch.as_tensor(x).flatten(1)
    z = ctx.model.encode(x).round().long().cpu().numpy()  # (N, 2) winners' (row, col)
    hits = np.bincount(z[:, 0] * cols + z[:, 1], minlength=rows * cols)
    u = u_matrix(w, rows, cols, grid)
    out = {"file": ctx.save(partial(draw_umatrix, u, rows, cols, grid), "som_umatrix.png"),
           "hits_file": ctx.save(partial(draw_hits, hits, rows, cols, grid), "som_hits.png"),
           "rows": rows, "cols": cols, "grid": grid, "units_hit": int((hits > 0).sum()),
           **_distances(w, u)}
    shape = tuple(ctx.model.info.input_shape)
    if len(shape) == 3 and w.shape[1] == math.prod(shape):
        draw = partial(draw_prototypes, w.reshape(-1, *shape), rows, cols, ctx.value_range())
        out["prototypes_file"] = ctx.save(draw, "som_prototypes.png")
    if h.shape[1] == w.shape[1]:
        out.update({k: float(v) for k, v in som.measures(h.float()).items()})
    return out


def _distances(w: np.ndarray, u: np.ndarray) -> dict:
    """Mean neighbour prototype distance beside the mean over all pairs of units."""
    d = np.linalg.norm(w[:, None] - w[None], axis=-1)
    n = len(w)
    return {"mean_neighbour_distance": float(u.mean()),
            "mean_pair_distance": float(d.sum() / (n * (n - 1)))}
