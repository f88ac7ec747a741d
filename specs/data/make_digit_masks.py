"""Write digit_masks.npz, the paired data of specs/segmentation_unet.ae.

    python specs/data/make_digit_masks.py

x: the 1,797 scikit-learn digits at 16x16, drawn over clutter (random bars of random grey,
and a little pixel noise); y: the digit's mask (1 where the clean digit's ink is above
0.4), 0/1. A segmenter must tell curved strokes from straight bars: the target is not the
input. Seeded: the same bytes every run. Labels: the digit classes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

SIZE = 16


def resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) linear interpolation between pixel centres."""
    pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    m = np.zeros((n_out, n_in))
    for i, p in enumerate(np.clip(pos, 0, n_in - 1)):
        lo = int(np.floor(p))
        hi = min(lo + 1, n_in - 1)
        m[i, lo] += 1 - (p - lo)
        m[i, hi] += p - lo
    return m


def clutter(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, SIZE, SIZE): two to four straight bars per image, each of its own grey."""
    out = np.zeros((n, SIZE, SIZE))
    for img in out:
        for _ in range(rng.integers(2, 5)):
            grey, width = rng.uniform(0.3, 0.8), rng.integers(1, 3)
            at, start, length = rng.integers(0, SIZE - width), rng.integers(0, 8), \
                rng.integers(6, SIZE)
            if rng.random() < 0.5:
                img[at:at + width, start:start + length] = grey
            else:
                img[start:start + length, at:at + width] = grey
    return out


def main() -> None:
    rng = np.random.default_rng(0)
    digits = load_digits()
    m = resize_matrix(8, SIZE)
    clean = np.einsum("ij,njk,lk->nil", m, digits.images / 16.0, m)  # (n, 16, 16) in [0, 1]
    x = np.maximum(clean, clutter(rng, len(clean))) + rng.normal(0, 0.05, clean.shape)
    x = np.clip(x, 0, 1)
    y = (clean > 0.4).astype(np.uint8)
    np.savez_compressed(Path(__file__).with_name("digit_masks.npz"),
                        x=(x * 255).round().astype(np.uint8)[:, None],
                        y=y[:, None], labels=digits.target.astype(np.int64))


if __name__ == "__main__":
    main()
