"""The stages every source shares, after its loader: count checks, the fixed split,
scaling, the reshape to the input's shape and the value checks."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aespec.data.base import Ctx, Raw
from aespec.data.entry import REGISTRY

if TYPE_CHECKING:
    import numpy as np


def check_counts(part: Raw, ctx: Ctx) -> None:
    n = len(part.x)
    if n == 0:
        raise ctx.error("E505", f"{part.origin} holds no examples")
    for arr, what in ((part.y, "targets"), (part.labels, "labels")):
        if arr is not None and len(arr) != n:
            raise ctx.error("E504", f"{part.origin}: {n} examples but {len(arr)} {what}")
    if part.labels is not None and part.labels.size != n:
        raise ctx.error("E504", f"{part.origin}: labels must be one integer per example, "
                        f"found shape {part.labels.shape}")


def train_share(n: int) -> int:
    """How many of n examples the fixed split keeps for training."""
    return 4 * n // 5  # 1797 digits -> 1437 train / 360 test


def split(raw: Raw, ctx: Ctx) -> tuple[Raw, Raw]:
    """The fixed split: permute with a generator seeded 0; the last fifth is the test set."""
    import numpy as np
    n = len(raw.x)
    n_train = train_share(n)
    if n_train < 1:
        raise ctx.error("E505", f"{raw.origin} holds {n} example; at least 2 are needed "
                        "for a training and a test set")
    order = np.random.default_rng(0).permutation(n)

    def take(idx: np.ndarray) -> Raw:
        y, labels = (None if a is None else a[idx] for a in (raw.y, raw.labels))
        return replace(raw, x=raw.x[idx], y=y, labels=labels)

    return take(order[:n_train]), take(order[n_train:])


def keep_normal(train: tuple[Any, Any, Any], labels_test: Any, normal: tuple[int, ...],
                ctx: Ctx) -> tuple[tuple[Any, Any, Any], Any]:
    """`normal=`: the (x, y, labels) of the training examples of the normal classes, and
    the test labels as anomaly marks (0 normal, 1 anomaly); E507 where the classes do not
    fit the data's labels."""
    import numpy as np
    x, y, labels = train
    if labels is None or labels_test is None:
        raise ctx.error("E507", f"normal= picks classes, but the {ctx.source} data has no "
                        "class labels", "load labels with the data (an .npz needs "
                        "y_train and y_test arrays), or leave out normal")
    present = sorted(set(np.unique(labels).tolist()) | set(np.unique(labels_test).tolist()))
    missing = [c for c in normal if c not in present]
    if missing:
        raise ctx.error("E507", f"normal class {', '.join(map(str, missing))} is not in the "
                        f"data: its labels are {_listed(present)}",
                        "normal takes labels the data has")
    if set(present) <= set(normal):
        raise ctx.error("E507", f"every class of the data ({_listed(present)}) is normal, so "
                        "no test example is an anomaly",
                        "leave out the class (or classes) to score as anomalies")
    keep = np.isin(labels, normal)
    if not keep.any():
        raise ctx.error("E505", f"no training example is of a normal class "
                        f"({_listed(sorted(normal))}): the normal classes are in the test "
                        "data only", "name a class that the training data has")
    marks = (~np.isin(labels_test, normal)).astype(np.int64)
    zeros = np.zeros(int(keep.sum()), dtype=np.int64)  # every training example is normal
    return (x[keep], None if y is None else y[keep], zeros), marks


def _listed(values: list[int]) -> str:
    return ", ".join(map(str, values)) if len(values) <= 12 else \
        f"{', '.join(map(str, values[:10]))}, ... ({len(values)} classes)"


def scale_for(a: np.ndarray) -> float:
    """uint8 is pixel data: divide by 255 (unless it only holds 0/1, as a mask does)."""
    return 255.0 if a.dtype.name == "uint8" and a.size and a.max() > 1 else 1.0


def finish(part: Raw, ctx: Ctx, scales: tuple[float, float | None],
           need_unit_range: bool, missing: bool = False
           ) -> tuple[Any, Any, Any, tuple[float, float]]:
    """(x, y, labels, x's value range) of one split: float32, shaped to the input, values
    checked; with `missing` (missing=nan) a NaN is let through, the range is that of the
    observed values."""
    import numpy as np
    shape, y_origin = ctx.input_shape, part.y_origin or part.origin
    x_range = value_range(part.x, scales[0])  # before the float copy: a uint8 pass is cheaper
    x = _fit_shape(_as_float(part.x, scales[0], part.origin, ctx, missing), shape,
                   part.origin, ctx)
    y = None if part.y is None else _as_float(part.y, scales[1] or 1.0, y_origin, ctx,
                                              missing)
    if y is not None and math.prod(y.shape[1:]) == math.prod(shape):
        y = _fit_shape(y, shape, y_origin, ctx)
    elif y is not None and y.ndim == 3:
        y = y[:, None]  # (N, H, W) maps, e.g. segmentation masks, gain a channel axis
    if need_unit_range:
        _check_unit_range(x_range, part.origin, ctx)
        if y is not None:
            _check_unit_range(value_range(y, 1.0), y_origin, ctx)
    labels = None if part.labels is None else part.labels.reshape(-1)
    if labels is not None and not np.array_equal(labels, np.round(labels)):  # NaN fails too
        raise ctx.error("E504", f"{part.origin}: class labels must be whole numbers")
    return x, y, None if labels is None else labels.astype(np.int64), x_range


def value_range(a: np.ndarray, divisor: float) -> tuple[float, float]:
    """(min, max) of `a / divisor` as float32 gives them; of the integers themselves when
    they are integers (a quarter of the memory to read for pixels), else of the floats."""
    import numpy as np
    if not a.size:
        return 0.0, 0.0
    lo, hi = a.min(), a.max()
    if lo != lo or hi != hi:  # missing=nan: the range of the observed values
        observed = a[~np.isnan(a)]
        lo, hi = (observed.min(), observed.max()) if observed.size else (0.0, 0.0)
    if a.dtype.kind in "biu" or divisor != 1.0:  # x / d is monotonic: (min x) / d is its min
        lo, hi = (np.float32(v) / np.float32(divisor) for v in (lo, hi))
    return float(lo), float(hi)


def to_range(x: np.ndarray, target: tuple[float, float]) -> np.ndarray:
    """Examples in [0, 1] mapped linearly onto `target` (range=(-1, 1): x * 2 - 1), in
    float32 as the emitted loader computes it (Dataset.to_unit is its inverse)."""
    import numpy as np
    lo, hi = target
    return x * np.float32(hi - lo) + np.float32(lo)


def _as_float(a: np.ndarray, divisor: float, origin: str, ctx: Ctx,
              missing: bool = False) -> np.ndarray:
    import numpy as np
    out = a.astype(np.float32)
    if divisor != 1.0:
        out /= np.float32(divisor)  # x / 255 in float32, as torchvision's ToTensor does
    if a.dtype.kind in "biu" or np.isfinite(out).all():  # integers always are
        return out
    if np.isinf(out).any():
        raise ctx.error("E504", f"{origin} contains infinite values")
    if not missing:
        entry = REGISTRY.get(ctx.source)
        takes = entry is not None and "missing" in entry.args.model_fields
        raise ctx.error("E504", f"{origin} contains NaN values", (
            f"if a NaN marks an unobserved entry, write `{ctx.source}(..., missing=nan)`: the "
            "loss then skips it" if takes else "replace the NaN values in the file"))
    return out


def _fit_shape(a: np.ndarray, shape: tuple[int, ...], origin: str, ctx: Ctx) -> np.ndarray:
    """Reshape (N, ...) to (N, *shape) when the element counts agree; E502 otherwise."""
    import numpy as np
    each = a.shape[1:]
    if each == shape:
        return a
    if len(each) == 3 and len(shape) == 3 and each == (*shape[1:], shape[0]):
        return np.ascontiguousarray(np.moveaxis(a, -1, 1))  # Keras channels-last -> (C, H, W)
    if math.prod(each) == math.prod(shape):
        return a.reshape(len(a), *shape)
    stmt = (f"image({', '.join(map(str, each if len(each) == 3 else (1, *each)))})"
            if len(each) in (2, 3) else f"vector({math.prod(each)})")
    hint = f"write `input {stmt}` to match the data"
    side, entry = image_side(shape), REGISTRY.get(ctx.source)
    if entry is not None and entry.resize and side and side[0] == side[1]:
        hint += f", or resize the {entry.name} with `{entry.name}({entry.resize}={side[0]})`"
    raise ctx.error("E502", f"{origin}: each example has shape {each} ({math.prod(each)} "
                    f"values) but the input wants {shape} ({math.prod(shape)} values)", hint)


def image_side(shape: tuple[int, ...]) -> tuple[int, int] | None:
    """(H, W) of the image an input holds: image(C, H, W), or a vector of a square size."""
    if len(shape) == 3:
        return shape[1], shape[2]
    root = math.isqrt(shape[0]) if len(shape) == 1 else 0
    return (root, root) if root > 1 and root * root == shape[0] else None


def _check_unit_range(value_range: tuple[float, float], origin: str, ctx: Ctx) -> None:
    lo, hi = value_range
    if lo < 0.0 or hi > 1.0:
        raise ctx.error("E503", f"{origin}: values range over [{lo:g}, {hi:g}] but loss bce "
                        "needs them in [0, 1]",
                        "scale the data to [0, 1] (for example divide by its maximum), "
                        "or use `loss mse`")
