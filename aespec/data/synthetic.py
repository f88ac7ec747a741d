"""`synthetic(n, kind, seed)`: seeded blobs, bars or sine waves shaped to fit the input."""

from __future__ import annotations

import math
from typing import Any

from aespec.data.base import Ctx, Raw, require_memory
from aespec.data.entry import DataSource, register
from aespec.data.prepare import image_side, train_share
from aespec.data.sources import SyntheticArgs


def synthetic_raw(args: SyntheticArgs, ctx: Ctx) -> Raw:
    import numpy as np
    require_memory(ctx, f"synthetic(n={args.n})", args.n * math.prod(ctx.input_shape) * 8,
                   "use a smaller n")
    rng = np.random.default_rng(args.seed)
    kind = args.kind
    if kind == "bars" and image_side(ctx.input_shape) is None:
        kind = "blobs"  # bars need an image; a sequence or a non-square vector gets blobs
    x, labels = _GENERATORS[kind](rng, args.n, ctx.input_shape)
    return Raw(f"synthetic(kind={kind})", x.astype(np.float32), labels=labels)


def _blobs(rng: Any, n: int, shape: tuple[int, ...], k: int = 4) -> tuple[Any, Any]:
    """k gaussian clusters with centres in [0.2, 0.8], clipped to [0, 1]; label = cluster."""
    import numpy as np
    centres = rng.uniform(0.2, 0.8, size=(k, math.prod(shape)))
    labels = rng.integers(0, k, size=n)
    x = np.clip(centres[labels] + rng.normal(0.0, 0.05, size=(n, centres.shape[1])), 0, 1)
    return x.reshape(n, *shape), labels.astype(np.int64)


def _bars(rng: Any, n: int, shape: tuple[int, ...]) -> tuple[Any, Any]:
    """Random horizontal (label 0) or vertical (label 1) bars in {0, 1}, one at least."""
    import numpy as np
    h, w = image_side(shape) or (1, 1)
    labels = rng.integers(0, 2, size=n)
    rows, cols = rng.random((n, h)) < 0.3, rng.random((n, w)) < 0.3
    rows[np.arange(n), rng.integers(0, h, size=n)] = True
    cols[np.arange(n), rng.integers(0, w, size=n)] = True
    img = np.where(labels[:, None, None] == 0, rows[:, :, None], cols[:, None, :])  # (n, h, w)
    x = np.broadcast_to(img[:, None], (n, math.prod(shape) // (h * w), h, w))
    return x.reshape(n, *shape), labels.astype(np.int64)


def _sine(rng: Any, n: int, shape: tuple[int, ...], bins: int = 4) -> tuple[Any, Any]:
    """0.5 + 0.5 sin(...) along the last axis; label k for k + 0.5 to k + 1.5 cycles."""
    import numpy as np
    cycles = rng.uniform(0.5, bins + 0.5, size=n)  # over one example's length
    labels = np.minimum(np.floor(cycles - 0.5), bins - 1).astype(np.int64)
    phase = rng.uniform(0.0, 2 * np.pi, size=n)
    t = np.arange(shape[-1]) / shape[-1]
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * cycles[:, None] * t + phase[:, None])  # (n, L)
    wave = wave.reshape(n, *([1] * (len(shape) - 1)), shape[-1])
    return np.broadcast_to(wave, (n, *shape)), labels


_GENERATORS = {"blobs": _blobs, "bars": _bars, "sine": _sine}

register(DataSource("synthetic", SyntheticArgs, synthetic_raw, unit=True, labels="always",
                    count=lambda a: train_share(a.n)))
