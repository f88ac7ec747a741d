"""Labels in the report: the data's class names, ROC AUC where labels mark anomalies, and
the per-example anomaly scores as a CSV file.  Plain numpy in; nothing here knows models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def label_names(labels: np.ndarray | None, names: tuple[str, ...] | None
                ) -> tuple[str, ...] | None:
    """The data's class names where they name these labels: whole numbers that index them.
    Anomaly marks (only 0 and 1) take names only from a data set with two names."""
    if labels is None or not names or len(labels) == 0 or not np.all(np.mod(labels, 1) == 0):
        return None
    values = np.unique(labels)
    if values.min() < 0 or values.max() >= len(names):
        return None
    return None if set(values.tolist()) <= {0, 1} and len(names) != 2 else names


def roc_auc(errors: np.ndarray, labels: np.ndarray | None) -> tuple[float | None, str | None]:
    """ROC AUC of the errors as anomaly scores, or None and why: only binary labels, 1 =
    anomaly, both in the test set, are anomaly marks."""
    if labels is None:
        return None, "the data has no labels"
    values = set(np.unique(labels).tolist())
    if not values <= {0, 1}:
        return None, "labels are classes, not anomaly marks (binary labels, 1 = anomaly)"
    if values != {0, 1}:
        return None, "the test set holds only one of the labels 0 and 1"
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, errors)), None


def write_scores(path: Path, index: np.ndarray, scores: np.ndarray,
                 labels: np.ndarray | None, threshold: float) -> None:
    """A CSV file: `index` (in the test split), `score`, `label` (where the data has
    labels) and `flagged`, 1 where the score is above the threshold."""
    head = "index,score" + (",label" if labels is not None else "") + ",flagged"
    lines = [head]
    for i, (k, score) in enumerate(zip(index, scores, strict=True)):
        label = "" if labels is None else f",{_label_text(labels[i])}"
        lines.append(f"{k},{score:.9g}{label},{int(score > threshold)}")
    path.write_text("\n".join(lines) + "\n")


def _label_text(v: Any) -> str:
    return str(int(v)) if float(v).is_integer() else f"{float(v):g}"
