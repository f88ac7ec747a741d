"""The named data sets: scikit-learn's digits (resized on request), and MNIST or
Fashion-MNIST found as IDX files or an .npz in the usual places; their entries at the end."""

from __future__ import annotations

import functools
import os
import pathlib
from dataclasses import replace
from typing import TYPE_CHECKING

from aespec.data.base import Ctx, Raw, guard, require_memory
from aespec.data.emitted import digits_loader, mnist_loader
from aespec.data.entry import REGISTRY, DataSource, register
from aespec.data.files import npz_raw, read_idx
from aespec.data.prepare import train_share
from aespec.data.sources import TEN_CLASSES, DigitsArgs, MnistArgs

if TYPE_CHECKING:
    import numpy as np


# ---------------------------------------------------------------- digits


@functools.lru_cache(maxsize=8)
def _digits(size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(1797, 1, S, S) float32 images in [0, 1] and their labels; cached, read-only."""
    import numpy as np
    images, target = read_digits()
    images = images / 16.0  # the 8x8 pixels count 0..16
    if size is not None and size != images.shape[1]:
        rows, cols = (_interpolation_matrix(n, size) for n in images.shape[1:])
        images = rows @ images @ cols.T  # (size, 8) @ (N, 8, 8) @ (8, size)
    x, labels = images[:, None].astype(np.float32), target.astype(np.int64)
    x.flags.writeable = labels.flags.writeable = False  # shared between calls
    return x, labels


def read_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as `load_digits()` gives them: (1797, 8, 8) float64 images
    (0..16) and their int labels. Read from the file scikit-learn ships, without importing
    scikit-learn (whose import, with scipy's, is most of a small run's start-up); through
    `load_digits` where that file is not found (another layout)."""
    import gzip
    import importlib.util

    import numpy as np

    found = importlib.util.find_spec("sklearn")  # finds the package, runs none of it
    folders = (found.submodule_search_locations or []) if found else []
    path = next((pathlib.Path(f, "datasets", "data", "digits.csv.gz") for f in folders
                 if pathlib.Path(f, "datasets", "data", "digits.csv.gz").is_file()), None)
    if path is None:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return bunch.images, bunch.target
    with gzip.open(path, "rt", encoding="utf-8") as text:
        data = np.loadtxt(text, delimiter=",")  # 64 pixels, then the label, a row
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int, copy=False)


def _interpolation_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) bilinear weights, pixel centres aligned as PIL and torch do."""
    import numpy as np
    pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lo = np.floor(pos).astype(np.int64)
    matrix = np.zeros((n_out, n_in))
    np.add.at(matrix, (np.arange(n_out), lo), 1 - (pos - lo))
    np.add.at(matrix, (np.arange(n_out), np.minimum(lo + 1, n_in - 1)), pos - lo)
    return matrix  # rows sum to 1, so values stay in [0, 1]


DIGITS = 1797  # scikit-learn's digits


def digits_raw(args: DigitsArgs, ctx: Ctx) -> Raw:
    if args.size:  # resized by float64 matrix products
        require_memory(ctx, f"digits(size={args.size})", DIGITS * args.size ** 2 * 8,
                       "use a size near the 8x8 originals, such as 28")
    x, labels = _digits(args.size)
    return Raw("digits" if args.size is None else f"digits(size={args.size})", x, labels=labels)


# ---------------------------------------------------------------- mnist / fashion_mnist

_IDX_NAMES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def _mnist_places(args: MnistArgs, ctx: Ctx) -> list[pathlib.Path]:
    """Where to look, in order. A path= is the only place: a typo in it must not quietly
    load other data."""
    if args.path:
        path = pathlib.Path(args.path).expanduser()
        return [path if path.is_absolute() else (ctx.base_dir or pathlib.Path.cwd()) / path]
    places = []
    if os.environ.get("AESPEC_DATA"):
        root = pathlib.Path(os.environ["AESPEC_DATA"]).expanduser()
        places = [root / name for name in sorted({ctx.source, ctx.source.replace("_", "-")})]
        places.append(root)
    return [*places, *map(pathlib.Path, REGISTRY[ctx.source].system_dirs)]


def mnist_raw(args: MnistArgs, ctx: Ctx) -> Raw:
    places = _mnist_places(args, ctx)
    for place in places:
        if (raw := _mnist_from(place, ctx, args.limit)) is not None:
            return raw
    files = ("set AESPEC_DATA or path= to a folder holding train-images-idx3-ubyte[.gz], "
             "train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], "
             f"t10k-labels-idx1-ubyte[.gz] or {ctx.source}.npz")
    apt = "apt-get install dataset-fashion-mnist"
    hint = (f"{apt}, or {files}" if ctx.source == "fashion_mnist" else
            f"{files}; or use `data fashion_mnist` after {apt}")
    looked = ", ".join(map(str, places))
    raise ctx.error("E501", f"{ctx.source} data not found; looked in: {looked}", hint)


def _mnist_from(place: pathlib.Path, ctx: Ctx, limit: int | None) -> Raw | None:
    """The data in one place (an .npz file or a folder), or None when it holds none."""
    if place.is_file():
        raw = guard(ctx, place, lambda p: npz_raw(p, ctx, "x_train", None, "y_train",
                                                 labels_optional=True))
        return raw if limit is None else _limit(raw, limit)
    if not place.is_dir():
        return None
    if _find_idx(place, _IDX_NAMES["train"][0]) is not None:
        train, test = (_idx_part(place, _IDX_NAMES[s], ctx, limit) for s in ("train", "test"))
        return replace(train, test=test)
    npz = place / f"{ctx.source}.npz"
    return _mnist_from(npz, ctx, limit) if npz.is_file() else None


def _find_idx(folder: pathlib.Path, stem: str) -> pathlib.Path | None:
    return next((folder / n for n in (stem, stem + ".gz") if (folder / n).is_file()), None)


def _idx_part(folder: pathlib.Path, names: tuple[str, str], ctx: Ctx,
              limit: int | None) -> Raw:
    """Images (required) and labels (when present) of one split of an IDX data set."""
    images, labels = (_find_idx(folder, name) for name in names)
    if images is None:
        raise ctx.error("E501", f"{folder} has no {names[0]}[.gz]",
                        "an IDX data set needs both the train and the t10k files")
    x = guard(ctx, images, lambda p: read_idx(p, limit, ctx))
    y = None if labels is None else guard(ctx, labels, lambda p: read_idx(p, limit, ctx))
    return Raw(str(images), x, labels=y)


def _limit(raw: Raw, limit: int) -> Raw:
    """The first `limit` training and the first `limit` test examples."""
    y, labels = (None if a is None else a[:limit] for a in (raw.y, raw.labels))
    test = None if raw.test is None else _limit(raw.test, limit)
    return replace(raw, x=raw.x[:limit], y=y, labels=labels, test=test)


# ---------------------------------------------------------------- entries

MNIST_TRAIN = 60_000  # the training files of mnist and fashion_mnist


def _digits_count(a: DigitsArgs) -> int | None:
    return None if a.normal is not None else train_share(DIGITS)


def _mnist_count(a: MnistArgs) -> int | None:
    if a.normal is not None:
        return None
    if a.limit is not None:
        return min(a.limit, MNIST_TRAIN) if a.path is None else None
    return MNIST_TRAIN if a.path is None else None  # an .npz of its own may hold any number


DIGIT_NAMES = tuple(map(str, TEN_CLASSES))
FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot")

register(
    DataSource("digits", DigitsArgs, digits_raw, lambda a: (1, a.size or 8, a.size or 8),
               unit=True, labels="always", class_names=DIGIT_NAMES, emit=digits_loader,
               resize="size", classifier=True, count=_digits_count),
    DataSource("fashion_mnist", MnistArgs, mnist_raw, lambda a: (1, 28, 28), unit=True,
               labels="always", class_names=FASHION_NAMES, emit=mnist_loader,
               system_dirs=("/usr/share/datasets/fashion-mnist",), paths=("path",),
               classifier=True, count=_mnist_count),
    DataSource("mnist", MnistArgs, mnist_raw, lambda a: (1, 28, 28), unit=True,
               labels="always", class_names=DIGIT_NAMES, emit=mnist_loader,
               system_dirs=("/usr/share/datasets/mnist",), paths=("path",), classifier=True,
               count=_mnist_count),
)
