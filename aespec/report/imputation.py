"""How well a model trained with `missing=nan` fills in entries it never saw.

A fixed share of the observed test entries is hidden (seeded: the same entries every
time): the model reads each test example with them missing (filled as the data fills every
missing entry) and its reconstruction of them is scored against their true values, beside
two baselines that need no model: each value's mean over the observed training entries
(column means) and each example's mean over its own visible entries (row means).  The
errors are root mean squared, in the data's values as loaded (a rating in [0, 1]).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

HOLDOUT_SHARE = 0.2  # of the observed test entries, hidden and imputed
HOLDOUT_SEED = 0
BATCH = 1024
# the names the scores take in the test metrics (run.json "test", the printed table)
KEYS = {"model": "imputation_rmse", "column_means": "imputation_rmse_column_means",
        "row_means": "imputation_rmse_row_means"}
NAMES = {"model": "model", "column_means": "column means", "row_means": "row means"}


def held_out(target: np.ndarray, share: float = HOLDOUT_SHARE, seed: int = HOLDOUT_SEED
             ) -> np.ndarray:
    """A boolean mask shaped like `target`: `share` of its observed (non-NaN) entries, drawn
    with a generator seeded `seed`; at least one where any entry is observed."""
    observed = np.flatnonzero(~np.isnan(target))
    n = min(len(observed), max(1, round(share * len(observed)))) if len(observed) else 0
    hide = np.zeros(target.size, dtype=bool)
    hide[np.random.default_rng(seed).choice(observed, n, replace=False)] = True
    return hide.reshape(target.shape)


@dataclass(frozen=True)
class Imputed:
    """The hidden test entries' true values and each method's guesses of them, (n,) each."""

    truth: np.ndarray
    guesses: dict[str, np.ndarray]  # model, column_means, row_means

    def scores(self) -> dict[str, float]:
        """RMSE of each method, by the names of `KEYS`, and `imputation_entries`."""
        rmse = {KEYS[k]: float(np.sqrt(np.mean((g - self.truth) ** 2)))
                for k, g in self.guesses.items()}
        return {**rmse, "imputation_entries": float(len(self.truth))}


def impute_held_out(model: Any, dataset: Any) -> Imputed | None:
    """The hidden test entries imputed by the model and by the baselines; None for data
    without missing values, with targets of its own (y=: the input is not what is
    imputed), or observing nothing."""
    found, target = dataset.missing, dataset.y_test
    if found is None or found.paired or target is None:
        return None
    hide = held_out(target)
    if not hide.any():
        return None
    visible = np.where(hide, np.nan, target)
    guesses = {"model": _reconstruct(model, np.where(np.isnan(visible), found.fill, visible)),
               "column_means": np.broadcast_to(found.column_means, target.shape),
               "row_means": _row_means(visible, found.column_means)}
    return Imputed(target[hide].astype(np.float64),
                   {k: np.asarray(g, np.float64)[hide] for k, g in guesses.items()})


def imputation_scores(model: Any, dataset: Any) -> dict[str, float]:
    """RMSE on the hidden test entries of the model's imputation and of the column-means and
    row-means baselines, by the names of `KEYS`, and `imputation_entries`, how many were
    hidden; {} where `impute_held_out` has nothing to score."""
    imputed = impute_held_out(model, dataset)
    return {} if imputed is None else imputed.scores()


def _row_means(visible: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Each row's mean over its observed entries, everywhere in the row; `fallback` (the
    column means) in a row that has none."""
    flat = visible.reshape(len(visible), -1)
    seen = ~np.isnan(flat)
    counts = seen.sum(1, keepdims=True)
    means = np.where(seen, flat, 0).sum(1, keepdims=True) / np.maximum(counts, 1)
    rows = np.where(counts > 0, means, fallback.reshape(1, -1))
    return np.broadcast_to(rows, flat.shape).reshape(visible.shape)


def _reconstruct(model: Any, x: np.ndarray) -> np.ndarray:
    """The model's reconstruction of filled inputs `x`, in evaluation mode."""
    import torch

    p = next(model.parameters())
    was = model.training
    model.eval()
    out = []
    try:
        with torch.no_grad():
            for i in range(0, len(x), BATCH):
                xb = torch.as_tensor(np.ascontiguousarray(x[i:i + BATCH]), dtype=torch.float32)
                out.append(model(xb.to(p.device)).x_hat.float().cpu().numpy())
    finally:
        model.train(was)
    return np.concatenate(out).astype(np.float64)


def summary_lines(scores: dict[str, float]) -> list[str]:
    """summary.md's table of the model's error beside the baselines'."""
    n = int(scores.get("imputation_entries", 0))
    return [f"Imputation of {n:,} held-out test entries ({HOLDOUT_SHARE:.0%} of the observed "
            f"ones, hidden from the model), RMSE:", "",
            "| model | column means | row means |", "|---|---|---|",
            f"| {scores[KEYS['model']]:.4f} | {scores[KEYS['column_means']]:.4f} | "
            f"{scores[KEYS['row_means']]:.4f} |"]
