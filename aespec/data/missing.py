"""`missing=nan`: a NaN in a user's file is an entry nobody observed (a rating never given).

The loss must skip it and the encoder must read something in its place, so a loaded
`Dataset` with missing values holds two versions of each split: `x`, the input, with every
NaN filled (`fill=mean`: the value's mean over the observed training entries, the default;
`fill=zero`: 0), and `y`, the target, with its NaN kept; the objective averages only over
the entries `y` observes (aespec.compile.objective).  Without `missing=nan` a NaN is
refused (E504): it would turn the loss into NaN at the first step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aespec.data.base import Ctx, Missing

if TYPE_CHECKING:
    pass

# below this share of observed training entries a model has too little to learn from: W439
FEW_OBSERVED = 0.02


def fill_missing(train: tuple[Any, Any], test: tuple[Any, Any], how: str, ctx: Ctx
                 ) -> tuple[tuple[Any, Any], tuple[Any, Any], Missing]:
    """((x, y) of train, (x, y) of test, Missing): x with its NaN filled, y the target with
    its NaN kept (x itself, before the fill, where the data has no separate target)."""
    import numpy as np
    (x_tr, y_tr), (x_te, y_te) = train, test
    observed = ~np.isnan(x_tr)
    if not observed.any() and (y_tr is None or np.isnan(y_tr).all()):
        raise ctx.error("E633", f"every training entry of the {ctx.source} data is missing "
                        "(NaN): there is nothing to learn from",
                        "check the file: missing=nan reads NaN as an unobserved entry")
    counts = observed.sum(0)
    overall = float(x_tr[observed].mean()) if observed.any() else 0.0
    sums = np.where(observed, x_tr, 0).sum(0, dtype=np.float64)
    means = np.where(counts > 0, sums / np.maximum(counts, 1), overall).astype(np.float32)
    fill = means if how == "mean" else np.zeros_like(means)
    target = tuple(x if y is None else y for x, y in ((x_tr, y_tr), (x_te, y_te)))
    filled = tuple(np.where(np.isnan(x), fill, x).astype(np.float32) for x in (x_tr, x_te))
    shares = tuple(float((~np.isnan(t)).mean()) if t.size else 0.0 for t in target)
    found = Missing(how, fill, means, shares[0], shares[1], int((counts == 0).sum()),
                    y_tr is not None)
    return (filled[0], target[0]), (filled[1], target[1]), found


def few_observed(found: Missing) -> str | None:
    """Why W439 is due: too few entries observed to learn from; None where enough are."""
    if found.observed_train < FEW_OBSERVED:
        return (f"only {found.observed_train:.2%} of the training entries are observed: too "
                f"few to learn more than each value's mean")
    if found.never_observed:
        return (f"{found.never_observed} value(s) of each example are never observed in the "
                "training split: the model cannot learn them, and imputes them as a guess")
    return None
