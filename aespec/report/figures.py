"""The report's figures: pictures as mosaics, sequences as line plots, scatter plots and
histograms, drawn on matplotlib's Agg canvas.  Plain numpy in, a Figure out: nothing here
knows about models or runs.  matplotlib is imported inside functions."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

COLUMNS, LINE_COLUMNS = 16, 8  # pictures, and line plots, a row of a grid


def _pictures(x: np.ndarray, rgb: bool = True) -> np.ndarray | None:
    """(N, *shape) as (N, H, W) or (N, H, W, 3) pictures, None for line data: a square
    vector of 64 values or more is an image; channels other than 1 or 3 (or 3, without
    `rgb`) lie side by side."""
    shape = x.shape[1:]
    if len(shape) == 1 and shape[0] >= 64 and math.isqrt(shape[0]) ** 2 == shape[0]:
        return x.reshape(len(x), math.isqrt(shape[0]), -1)
    if len(shape) != 3:
        return None
    if shape[0] == 1 or (rgb and shape[0] == 3):
        return x[:, 0] if shape[0] == 1 else x.transpose(0, 2, 3, 1)
    return x.transpose(0, 2, 1, 3).reshape(len(x), shape[1], -1)


def _mosaic(bands: list[np.ndarray], ncols: int) -> tuple[np.ndarray, list[float]]:
    """Bands of pictures (same N) in one canvas, `ncols` a row, each band's row under the
    previous band's before wrapping; NaN between cells.  Also each row's centre."""
    h, w = max(b.shape[1] for b in bands), max(b.shape[2] for b in bands)
    rows = math.ceil(len(bands[0]) / ncols) * len(bands)
    canvas = np.full((rows * (h + 1) + 1, ncols * (w + 1) + 1, *bands[0].shape[3:]), np.nan)
    for i in range(len(bands[0])):
        for b, band in enumerate(bands):
            top = ((i // ncols) * len(bands) + b) * (h + 1) + 1
            left = (i % ncols) * (w + 1) + 1
            canvas[top:top + band.shape[1], left:left + band.shape[2]] = band[i]
    return canvas, [1 + r * (h + 1) + h / 2 for r in range(rows)]


def draw_examples(bands: list[tuple[str, np.ndarray]], title: str,
                   value_range: tuple[float, float], ncols: int | None = None,
                   gap: str = "white"):
    """Examples as one mosaic of pictures (`gap`: the colour between them), or as a grid
    of line plots for sequences (each band a line in every plot); bands named on the left."""
    pics = [_pictures(np.asarray(x)) for _, x in bands]
    n = len(bands[0][1])
    if any(p is None for p in pics):
        return _draw_lines(bands, title, min(ncols or LINE_COLUMNS, n))
    canvas, centres = _mosaic(pics, min(ncols or COLUMNS, n))  # type: ignore[arg-type]
    fig, ax = _figure(10.0, max(10.0 * canvas.shape[0] / canvas.shape[1] + 0.7, 2.0))
    lo, hi = value_range
    if canvas.ndim == 3:  # RGB: scaled by hand, the gap colour between cells
        from matplotlib.colors import to_rgb

        rgb = np.clip((canvas - lo) / (hi - lo), 0, 1)
        ax.imshow(np.where(np.isnan(rgb), np.array(to_rgb(gap)), rgb))
    else:
        ax.imshow(np.ma.masked_invalid(canvas), cmap=_colormap("gray", bad=gap),
                  vmin=lo, vmax=hi, interpolation="nearest")
    names = [name for _ in range(len(centres) // len(bands)) for name, _ in bands]
    ax.set_yticks(centres if any(names) else [], names if any(names) else [])
    ax.set_xticks([])
    ax.tick_params(length=0, labelsize=11)
    ax.set_frame_on(False)
    ax.set_title(title, fontsize=14)
    return fig


def draw_filters(w: np.ndarray, title: str, rows: bool, row_label: str = ""):
    """Weights on one colour scale symmetric about 0 (blue < 0 < red, white 0), with a
    colour bar: pictures in a mosaic, an (N, values) matrix as one row per unit when
    `rows`; weights that are not pictures (1-D kernels) as line plots on a symmetric axis."""
    m = weight_scale(w)
    pics = None if rows else _pictures(w, rgb=False)
    if not rows and pics is None:
        fig = _draw_lines([("", w)], title, min(LINE_COLUMNS, len(w)))
        for ax in fig.axes:
            ax.set_ylim(-1.05 * m, 1.05 * m)
            ax.axhline(0, color="0.6", lw=0.8)
        return fig
    if rows:
        fig, ax = _figure(10.0, min(max(2.5, 0.18 * len(w) + 1.5), 14.0))
        image = ax.imshow(w, cmap="RdBu_r", vmin=-m, vmax=m, aspect="auto",
                          interpolation="nearest")
        ax.set_ylabel("unit", fontsize=12)
        ax.set_xlabel(row_label, fontsize=12)
    else:
        canvas, _ = _mosaic([pics], min(COLUMNS, len(w)))  # type: ignore[list-item]
        fig, ax = _figure(10.0, max(10.0 * canvas.shape[0] / canvas.shape[1] + 0.7, 2.0))
        image = ax.imshow(np.ma.masked_invalid(canvas), cmap=_colormap("RdBu_r", bad="0.75"),
                          vmin=-m, vmax=m, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_frame_on(False)
    extend = "both" if float(np.abs(w).max()) > m else "neither"
    fig.colorbar(image, ax=ax, shrink=0.8, label="weight", extend=extend)
    ax.set_title(title, fontsize=13)
    return fig


SCALE_QUANTILE = 0.995


def weight_scale(w: np.ndarray) -> float:
    """The colour scale's half-width: the 99.5th percentile of |w|, so that a few large
    weights (on pixels the data seldom lights, which nothing pulls back) do not wash every
    other weight out to white; the rare larger ones saturate (the colour bar's arrows)."""
    a = np.abs(np.asarray(w, dtype=np.float64))
    return max(float(np.quantile(a, SCALE_QUANTILE)), float(a.max()) * 1e-3, 1e-12)


def _draw_lines(bands: list[tuple[str, np.ndarray]], title: str, ncols: int):
    n = len(bands[0][1])
    nrows = math.ceil(n / ncols)
    fig, _ = _figure(2.0 * ncols, 1.5 * nrows + 0.8, nrows=0)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True).flat
    colours = ("0.5", "C0", "C2") if len(bands) > 1 else ("C0",)
    for i, ax in enumerate(axes):
        ax.set_visible(i < n)
        for (name, x), colour in zip(bands, colours, strict=False):
            if i < n:  # (C, L): one line per channel, the band named once
                lines = ax.plot(np.asarray(x[i]).reshape(-1, x.shape[-1]).T, color=colour,
                                lw=1.2)
                lines[0].set_label(name or None)
    if any(name for name, _ in bands):
        axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=14)
    return fig


def tick_manifold(fig: Any, axes: tuple[np.ndarray, ...], n: int) -> None:
    """The z values along the manifold: ticks at the first and last cells and at z = 0
    (or the middle, where 0 lies outside the grid or near an end) of a picture, or a label
    on each outer plot of a grid of line plots."""
    ax = fig.axes[0]
    if not ax.images:
        for i, ax in enumerate(fig.axes[:n * n]):
            ax.set_xlabel(f"z[0] = {tick_label(axes[0][i % n])}" if i >= n * (n - 1) else "")
            ax.set_ylabel(f"z[1] = {tick_label(axes[1][::-1][i // n])}" if i % n == 0 else "")
        return
    height, width = ax.images[0].get_array().shape[:2]
    x, y = (axis_ticks(a, n) for a in axes)
    ax.set_xticks([f * width for f, _ in x], [label for _, label in x])
    ax.set_yticks([(1 - f) * height for f, _ in y], [label for _, label in y])  # z[1] up
    ax.set_xlabel("z[0]", fontsize=12)
    ax.set_ylabel("z[1]", fontsize=12)


def axis_ticks(axis: np.ndarray, n: int) -> list[tuple[float, str]]:
    """(share of the axis from its low end, label) of three ticks: the first and last
    cells' centres, and 0 where it lies well inside the grid, else the middle value.
    Positions between cells are linear in z, so a symmetric grid has 0 in the middle."""
    lo, hi = float(axis[0]), float(axis[-1])
    if not hi > lo:  # every code had the same value: one column of the grid
        return [(0.5, tick_label(lo))]
    ends = [(0.5 / n, lo), (1 - 0.5 / n, hi)]

    def share(v: float) -> float:
        return (0.5 + (v - lo) / (hi - lo) * (n - 1)) / n

    centre = 0.0 if lo < 0 < hi and 0.25 <= share(0.0) <= 0.75 else (lo + hi) / 2
    return [(f, tick_label(v)) for f, v in (ends[0], (share(centre), centre), ends[1])]


def tick_label(v: float) -> str:
    """Two decimals; a value that rounds to zero reads 0 (never -0.00)."""
    return "0" if round(float(v), 2) == 0 else f"{float(v):.2f}"


def scatter(xy: np.ndarray, labels: np.ndarray | None, names: tuple[str, str], title: str,
            class_names: tuple[str, ...] | None = None, over: np.ndarray | None = None):
    """The points coloured by label: a legend up to 20 classes (naming them by
    `class_names`, indexed by label, where given), a colour bar above; `over`, (M, 2)
    draws of a prior, as small black dots over them (tab10's grey is a class's)."""
    fig, ax = _figure(8, 6.5)
    if over is not None:
        ax.scatter(*over.T, s=3, alpha=0.45, color="k", label="N(0, I)", zorder=3)
    classes: Any = np.unique(labels) if labels is not None else []
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=8, alpha=0.6, color="C0")
    elif len(classes) <= 20:
        cmap = _colormap("tab10" if len(classes) <= 10 else "tab20")
        for i, c in enumerate(classes):
            name = f"{c:g}" if class_names is None else f"{class_names[int(c)]} ({c:g})"
            ax.scatter(*xy[labels == c].T, s=8, alpha=0.7, color=cmap(i), label=name)
        ax.legend(title="label" if class_names is None else "class", markerscale=2.5,
                  fontsize=10, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    else:
        fig.colorbar(ax.scatter(*xy.T, c=labels, s=8, alpha=0.7), ax=ax, label="label")
    ax.set_xlabel(names[0], fontsize=12)
    ax.set_ylabel(names[1], fontsize=12)
    ax.set_title(title, fontsize=14)
    return fig


def prior_histograms(codes: np.ndarray, title: str, most: int = 8):
    """Each of the first `most` values of the codes, (N, values), as a histogram under
    the density of N(0, 1) (its prior), one panel each."""
    k = min(codes.shape[1], most)
    cols = min(k, 4)
    fig, _ = _figure(3 * cols, 2.6 * math.ceil(k / cols), nrows=0)
    grid = np.linspace(-4, 4, 161)
    for i in range(k):
        ax = fig.add_subplot(math.ceil(k / cols), cols, i + 1)
        ax.hist(codes[:, i], bins=40, density=True, color="C0", alpha=0.7, label="codes")
        ax.plot(grid, np.exp(-grid ** 2 / 2) / math.sqrt(2 * math.pi), color="k", lw=1.5,
                label="N(0, 1)")
        ax.set_xlabel(f"z[{i}]")
        if i == 0:
            ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=12)
    return fig


def histogram(train: np.ndarray, test: np.ndarray, threshold: float, rule: str,
              share: float, labels: np.ndarray | None,
              class_names: tuple[str, ...] = ("normal", "anomaly")):
    """Train and test errors on shared bins, the test split by its 0/1 labels (named by
    `class_names`) where given, and the threshold."""
    fig, ax = _figure(9, 5)
    bins = np.histogram_bin_edges(np.concatenate([train, test]), bins=50)
    ax.hist(train, bins=bins, density=True, alpha=0.5, color="0.5", label="train")
    parts = [("test", test, "C0")] if labels is None else [
        (f"test, {class_names[0]} (0)", test[labels == 0], "C0"),
        (f"test, {class_names[1]} (1)", test[labels == 1], "C3")]
    for name, values, colour in parts:
        ax.hist(values, bins=bins, density=True, histtype="step", lw=2, color=colour, label=name)
    ax.axvline(threshold, color="k", ls="--", lw=1.5, label=f"threshold {threshold:.4g} ({rule})")
    ax.set_xlabel("per-example reconstruction error", fontsize=12)
    ax.set_ylabel("density", fontsize=12)
    ax.set_title(f"Reconstruction error: {share:.1%} of the test set above the threshold",
                 fontsize=14)
    ax.legend(fontsize=10)
    return fig


def imputation_chart(truth: np.ndarray, guesses: dict[str, np.ndarray],
                     names: dict[str, str], title: str):
    """Left: each method's mean guess (and its spread, one standard deviation) against the
    true value of the hidden entries, binned by true value (each value its own bin where
    there are few, as star ratings have), the diagonal a perfect imputation.  Right: each
    method's RMSE, a bar each, the value written beside it."""
    fig, _ = _figure(13, 4.8, nrows=0)
    left, right = fig.subplots(1, 2, width_ratios=[1.3, 1])
    levels = np.unique(truth)
    if len(levels) > 12:  # a continuous value: 10 bins of equal counts
        edges = np.unique(np.quantile(truth, np.linspace(0, 1, 11)))
        which = np.clip(np.searchsorted(edges, truth, side="right") - 1, 0, len(edges) - 2)
        centres = np.array([truth[which == b].mean() for b in range(len(edges) - 1)])
    else:
        which, centres = np.searchsorted(levels, truth), levels
    width = (centres.max() - centres.min()) / max(len(centres), 1) * 0.2
    for i, (key, guess) in enumerate(guesses.items()):
        means = np.array([guess[which == b].mean() for b in range(len(centres))])
        spread = np.array([guess[which == b].std() for b in range(len(centres))])
        left.errorbar(centres + (i - 1) * width, means, yerr=spread, fmt="o-", capsize=3,
                      color=f"C{i}", label=names.get(key, key))
    lo, hi = float(min(truth.min(), centres.min())), float(max(truth.max(), centres.max()))
    left.plot([lo, hi], [lo, hi], color="0.5", ls="--", lw=1, label="perfect")
    left.set_xlabel("true value of the hidden entry", fontsize=12)
    left.set_ylabel("imputed value (mean ± sd)", fontsize=12)
    left.legend(fontsize=10)
    rmse = [float(np.sqrt(np.mean((g - truth) ** 2))) for g in guesses.values()]
    bars = right.barh(range(len(rmse)), rmse, color=[f"C{i}" for i in range(len(rmse))])
    right.bar_label(bars, [f"{v:.4f}" for v in rmse], padding=3, fontsize=11)
    right.set_yticks(range(len(rmse)), [names.get(k, k) for k in guesses], fontsize=11)
    right.invert_yaxis()
    right.set_xlim(0, max(max(rmse), 1e-9) * 1.25)
    right.set_xlabel("RMSE on the hidden entries (lower is better)", fontsize=12)
    fig.suptitle(title, fontsize=14)
    return fig


def short_number(v: float) -> str:
    """Three significant digits, whole numbers from 100 on: `5.43`, `107`, `1170`."""
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


def quality_chart(sets: dict[str, dict], names: dict[str, str], title: str,
                  class_names: tuple[str, ...] | None, min_share: float):
    """Left: each set's Frechet distance to the test data, a bar each, the value written
    beside it.  Right: the share of each set's examples given each class, and the share
    from which a class counts as covered."""
    fig, _ = _figure(13, 4.8, nrows=0)
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.3])
    keys = list(names)
    fds = [sets[k]["frechet_distance"] for k in keys]
    bars = left.barh(range(len(keys)), fds, color=[f"C{i}" for i in range(len(keys))])
    left.bar_label(bars, [short_number(v) for v in fds], padding=3, fontsize=11)
    left.set_yticks(range(len(keys)), [names[k] for k in keys], fontsize=11)
    left.invert_yaxis()
    left.set_xlim(0, max(max(fds), 1e-9) * 1.25)
    left.set_xlabel("Frechet distance to the test examples (lower is nearer)", fontsize=11)
    width = 0.8 / len(keys)
    for i, k in enumerate(keys):
        shares = np.asarray(sets[k]["shares"])
        right.bar(np.arange(len(shares)) + (i - (len(keys) - 1) / 2) * width, shares, width,
                  color=f"C{i}", label=f"{names[k]}: {sets[k]['covered']} of {len(shares)} "
                  f"classes, {sets[k]['entropy_bits']:.2f} bits")
    right.axhline(min_share, color="k", ls="--", lw=1, label=f"covered from {min_share:g}")
    ticks = [str(c) for c in (class_names if class_names is not None
                               and len(class_names) == len(shares) else range(len(shares)))]
    right.set_xticks(range(len(shares)), ticks, rotation=30 if max(map(len, ticks)) > 2 else 0)
    right.set_xlabel("class the reference classifier gives", fontsize=11)
    right.set_ylabel("share of the examples", fontsize=11)
    right.legend(fontsize=9)
    fig.suptitle(title, fontsize=12)
    return fig


def _figure(width: float, height: float, nrows: int = 1):
    """A figure on the Agg canvas, outside pyplot: no window, no global state, and a
    notebook's own backend is left alone.  With `nrows=0` the caller adds the axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, (fig.subplots() if nrows else None)


def _colormap(name: str, bad: str | None = None):
    import matplotlib

    cmap = matplotlib.colormaps[name]
    return cmap.with_extremes(bad=bad) if bad else cmap

