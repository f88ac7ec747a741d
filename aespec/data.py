"""Data sources: turn a `data SOURCE(args)` line into float32 arrays shaped like `input`.

A source is an argument model in `SOURCES` plus an entry in `_REGISTRY` (its loader and,
where it is known without reading a file, the shape of one example). Loaders return a
`_Raw`; the split, scaling, reshape and checks are shared. numpy, scikit-learn, gzip and
friends are imported inside functions: `aespec check` imports this module to validate
arguments and must not pay for them.
"""

from __future__ import annotations

import functools
import json
import math
import os
import pathlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aespec.errors import AespecError, Diagnostic, Span, did_you_mean

if TYPE_CHECKING:
    import numpy as np

Count = Annotated[int, Field(ge=1)]


class _Args(BaseModel):
    # strict: `size=true` or `size="28"` is a mistake to report, not a value to coerce
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DigitsArgs(_Args):
    """`digits(size)`: scikit-learn's 8x8 digits, resized to size x size when given."""

    size: Count | None = None


class MnistArgs(_Args):
    """`fashion_mnist(path, limit)` / `mnist(path, limit)`: IDX files or an .npz."""

    path: str | None = None
    limit: Count | None = None  # first N training and first N test examples


class NpzArgs(_Args):
    """`npz(file, x, y, labels)`: arrays by key; `y` is a separate target."""

    file: str
    x: str = "x"
    y: str | None = None
    labels: str | None = None


class NpyArgs(_Args):
    """`npy(file, y)`: one array of examples; `y` names a second .npy of targets."""

    file: str
    y: str | None = None


class CsvArgs(_Args):
    """`csv(file, label)`: numeric rows under a header; `label` names a class column."""

    file: str
    label: str | None = None


class SyntheticArgs(_Args):
    """`synthetic(n, kind, seed)`: generated to fit the input shape."""

    n: Annotated[int, Field(ge=2)] = 1024  # two at least: one to train, one to test
    kind: Literal["blobs", "bars", "sine"] = "blobs"
    seed: Annotated[int, Field(ge=0)] = 0


SOURCES: dict[str, type[BaseModel]] = {
    "digits": DigitsArgs, "fashion_mnist": MnistArgs, "mnist": MnistArgs,
    "npz": NpzArgs, "npy": NpyArgs, "csv": CsvArgs, "synthetic": SyntheticArgs,
}


@dataclass(frozen=True, eq=False)
class Dataset:
    """Loaded data: float32 examples shaped (N, *input_shape), optional targets and labels."""

    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray | None  # (N, *target_shape), only when the source has y=
    y_test: np.ndarray | None
    labels_train: np.ndarray | None  # (N,) int64, where the source knows classes
    labels_test: np.ndarray | None
    description: str


@dataclass(frozen=True)
class _Raw:
    """What a loader read, before the shared split, scaling, reshape and checks."""

    origin: str  # the file (or source) error messages name
    x: np.ndarray  # (N, ...)
    y: np.ndarray | None = None
    labels: np.ndarray | None = None
    y_origin: str | None = None
    test: _Raw | None = None  # the source's own test split, where it has one


@dataclass(frozen=True)
class _Ctx:
    source: str
    input_shape: tuple[int, ...]
    base_dir: pathlib.Path | None
    span: Span | None
    file: str | None

    def error(self, code: str, message: str, hint: str | None = None) -> AespecError:
        return AespecError.of(code, message, self.span, hint, self.file)

    def read(self, name: str, read: Callable[[pathlib.Path], Any]) -> Any:
        """`read` a user's file, relative to the spec's folder; E501/E504 when it fails."""
        path = pathlib.Path(name).expanduser()
        return _guard(self, path if path.is_absolute() else
                      (self.base_dir or pathlib.Path.cwd()) / path, read)


# ---------------------------------------------------------------- public API


def validate_args(source: str, args: dict, *, span: Span | None = None,
                  file: str | None = None) -> BaseModel:
    """Validate a source's keyword arguments: E201 for an unknown source, E203 for bad ones."""
    model = SOURCES.get(source)
    if model is None:
        hint = did_you_mean(source, SOURCES) or "sources: " + ", ".join(SOURCES)
        raise AespecError.of("E201", f"unknown data source '{source}'", span, hint, file)
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        found = [_arg_problem(source, model, err) for err in exc.errors(include_url=False)]
        raise AespecError([Diagnostic("E203", m, span, h, file) for m, h in found]) from None


def _arg_problem(source: str, model: type[BaseModel], err: Any) -> tuple[str, str | None]:
    name = str(err["loc"][0]) if err["loc"] else "?"
    takes = f"{source} takes: {', '.join(model.model_fields)}"
    if err["type"] == "extra_forbidden":
        return f"{source} has no argument '{name}'", did_you_mean(name, model.model_fields) or takes
    if err["type"] == "missing":
        return f"{source} needs the argument '{name}'", takes
    msg = err["msg"][0].lower() + err["msg"][1:]
    return f"{source} argument '{name}': {msg}, got {err['input']!r}", None


def natural_shape(source: str, args: dict) -> tuple[int, ...] | None:
    """The shape of one example, known without reading a file; None where it is not."""
    entry = _REGISTRY.get(source)
    if entry is None or entry.natural is None:
        return None
    try:
        return entry.natural(SOURCES[source].model_validate(args))
    except ValidationError:
        return None  # bad arguments are reported by validate_args


def load_data(source: str, args: dict, input_shape: tuple[int, ...], *,
              need_unit_range: bool = False, base_dir: pathlib.Path | None = None,
              span: Span | None = None, file: str | None = None) -> Dataset:
    """Load a source as float32 arrays shaped (N, *input_shape), split into train and test.

    Every problem with the arguments or the data is an AespecError: E2xx for arguments,
    E5xx for the data. The same call gives the same arrays, bit for bit.
    """
    model = validate_args(source, args, span=span, file=file)
    ctx = _Ctx(source, tuple(input_shape), base_dir, span, file)
    raw = _REGISTRY[source].load(model, ctx)
    for part in (raw, raw.test):
        if part is not None:
            _check_counts(part, ctx)
    train, test = (raw, raw.test) if raw.test is not None else _split(raw, ctx)
    # scale both splits alike, decided by the training data
    scales = (_scale_for(train.x), None if train.y is None else _scale_for(train.y))
    (x_tr, y_tr, l_tr), (x_te, y_te, l_te) = (
        _finish(part, ctx, scales, need_unit_range) for part in (train, test))
    return Dataset(x_tr, x_te, y_tr, y_te, l_tr, l_te, _describe(model, ctx, x_tr, x_te, y_tr))


# ---------------------------------------------------------------- shared stages


def _check_counts(part: _Raw, ctx: _Ctx) -> None:
    n = len(part.x)
    if n == 0:
        raise ctx.error("E505", f"{part.origin} holds no examples")
    for arr, what in ((part.y, "targets"), (part.labels, "labels")):
        if arr is not None and len(arr) != n:
            raise ctx.error("E504", f"{part.origin}: {n} examples but {len(arr)} {what}")
    if part.labels is not None and part.labels.size != n:
        raise ctx.error("E504", f"{part.origin}: labels must be one integer per example, "
                        f"found shape {part.labels.shape}")


def _split(raw: _Raw, ctx: _Ctx) -> tuple[_Raw, _Raw]:
    """The fixed split: permute with a generator seeded 0; the last fifth is the test set."""
    import numpy as np
    n = len(raw.x)
    n_train = 4 * n // 5  # 1797 digits -> 1437 train / 360 test
    if n_train < 1:
        raise ctx.error("E505", f"{raw.origin} holds {n} example; at least 2 are needed "
                        "for a training and a test set")
    order = np.random.default_rng(0).permutation(n)

    def take(idx: np.ndarray) -> _Raw:
        y, labels = (None if a is None else a[idx] for a in (raw.y, raw.labels))
        return replace(raw, x=raw.x[idx], y=y, labels=labels)

    return take(order[:n_train]), take(order[n_train:])


def _scale_for(a: np.ndarray) -> float:
    """uint8 is pixel data: divide by 255 (unless it only holds 0/1, as a mask does)."""
    return 255.0 if a.dtype.name == "uint8" and a.size and a.max() > 1 else 1.0


def _finish(part: _Raw, ctx: _Ctx, scales: tuple[float, float | None],
            need_unit_range: bool) -> tuple[Any, Any, Any]:
    """(x, y, labels) of one split: float32, shaped to the input, values checked."""
    import numpy as np
    shape, y_origin = ctx.input_shape, part.y_origin or part.origin
    x = _fit_shape(_as_float(part.x, scales[0], part.origin, ctx), shape, part.origin, ctx)
    y = None if part.y is None else _as_float(part.y, scales[1] or 1.0, y_origin, ctx)
    if y is not None and math.prod(y.shape[1:]) == math.prod(shape):
        y = _fit_shape(y, shape, y_origin, ctx)
    elif y is not None and y.ndim == 3:
        y = y[:, None]  # (N, H, W) maps, e.g. segmentation masks, gain a channel axis
    if need_unit_range:
        for arr, origin in ((x, part.origin), (y, y_origin)):
            if arr is not None:
                _check_unit_range(arr, origin, ctx)
    labels = None if part.labels is None else part.labels.reshape(-1)
    if labels is not None and not np.array_equal(labels, np.round(labels)):  # NaN fails too
        raise ctx.error("E504", f"{part.origin}: class labels must be whole numbers")
    return x, y, None if labels is None else labels.astype(np.int64)


def _as_float(a: np.ndarray, divisor: float, origin: str, ctx: _Ctx) -> np.ndarray:
    import numpy as np
    out = a.astype(np.float32)
    if divisor != 1.0:
        out /= np.float32(divisor)  # x / 255 in float32, as torchvision's ToTensor does
    if not np.isfinite(out).all():
        raise ctx.error("E504", f"{origin} contains NaN or infinite values")
    return out


def _fit_shape(a: np.ndarray, shape: tuple[int, ...], origin: str, ctx: _Ctx) -> np.ndarray:
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
    side = _image_side(shape)
    if ctx.source == "digits" and side and side[0] == side[1]:
        hint += f", or resize the digits with `digits(size={side[0]})`"
    raise ctx.error("E502", f"{origin}: each example has shape {each} ({math.prod(each)} "
                    f"values) but the input wants {shape} ({math.prod(shape)} values)", hint)


def _image_side(shape: tuple[int, ...]) -> tuple[int, int] | None:
    """(H, W) of the image an input holds: image(C, H, W), or a vector of a square size."""
    if len(shape) == 3:
        return shape[1], shape[2]
    root = math.isqrt(shape[0]) if len(shape) == 1 else 0
    return (root, root) if root > 1 and root * root == shape[0] else None


def _check_unit_range(a: np.ndarray, origin: str, ctx: _Ctx) -> None:
    lo, hi = float(a.min()), float(a.max())
    if lo < 0.0 or hi > 1.0:
        raise ctx.error("E503", f"{origin}: values range over [{lo:g}, {hi:g}] but loss bce "
                        "needs them in [0, 1]",
                        "scale the data to [0, 1] (for example divide by its maximum), "
                        "or use `loss mse`")


def _describe(model: BaseModel, ctx: _Ctx, x_tr: Any, x_te: Any, y_tr: Any) -> str:
    shown = ", ".join(f"{k}={json.dumps(v)}"
                      for k, v in model.model_dump(exclude_defaults=True).items())
    lo, hi = min(x_tr.min(), x_te.min()), max(x_tr.max(), x_te.max())
    text = (f"{ctx.source}{f'({shown})' if shown else ''}: {len(x_tr)} train / {len(x_te)} "
            f"test, {'x'.join(map(str, x_tr.shape[1:]))}, values in [{lo:g}, {hi:g}]")
    if y_tr is not None:
        text += f", targets {'x'.join(map(str, y_tr.shape[1:]))}"
    return text


def _guard(ctx: _Ctx, path: pathlib.Path, read: Callable[[pathlib.Path], Any]) -> Any:
    """Run `read(path)`, turning a missing or unreadable file into E501/E504."""
    import zipfile
    import zlib
    if not path.exists():
        raise ctx.error("E501", f"data file not found: {path}",
                        "relative paths are read from the spec file's folder")
    try:
        return read(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ctx.error("E504", f"cannot read {path}: {exc}") from None


def _numeric(a: Any, origin: str, ctx: _Ctx) -> np.ndarray:
    """An array of examples: numeric, with a leading example axis."""
    import numpy as np
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "biuf":
        kind = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
        raise ctx.error("E504", f"{origin} does not hold numeric data (found {kind})")
    if a.ndim == 0:
        raise ctx.error("E502", f"{origin} holds a single number, not an array of examples")
    return a


# ---------------------------------------------------------------- digits


@functools.lru_cache(maxsize=8)
def _digits(size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(1797, 1, S, S) float32 images in [0, 1] and their labels; cached, read-only."""
    import numpy as np
    from sklearn.datasets import load_digits
    bunch = load_digits()
    images = bunch.images / 16.0  # the 8x8 pixels count 0..16
    if size is not None and size != images.shape[1]:
        rows, cols = (_interpolation_matrix(n, size) for n in images.shape[1:])
        images = rows @ images @ cols.T  # (size, 8) @ (N, 8, 8) @ (8, size)
    x, labels = images[:, None].astype(np.float32), bunch.target.astype(np.int64)
    x.flags.writeable = labels.flags.writeable = False  # shared between calls
    return x, labels


def _interpolation_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) bilinear weights, pixel centres aligned as PIL and torch do."""
    import numpy as np
    pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lo = np.floor(pos).astype(np.int64)
    matrix = np.zeros((n_out, n_in))
    np.add.at(matrix, (np.arange(n_out), lo), 1 - (pos - lo))
    np.add.at(matrix, (np.arange(n_out), np.minimum(lo + 1, n_in - 1)), pos - lo)
    return matrix  # rows sum to 1, so values stay in [0, 1]


def _load_digits(args: DigitsArgs, ctx: _Ctx) -> _Raw:
    x, labels = _digits(args.size)
    return _Raw("digits" if args.size is None else f"digits(size={args.size})", x, labels=labels)


# ---------------------------------------------------------------- mnist / fashion_mnist

_IDX_NAMES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_SYSTEM_DIRS = {"fashion_mnist": "/usr/share/datasets/fashion-mnist",
                "mnist": "/usr/share/datasets/mnist"}
_IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _mnist_places(args: MnistArgs, ctx: _Ctx) -> list[pathlib.Path]:
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
    return [*places, pathlib.Path(_SYSTEM_DIRS[ctx.source])]


def _load_mnist(args: MnistArgs, ctx: _Ctx) -> _Raw:
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


def _mnist_from(place: pathlib.Path, ctx: _Ctx, limit: int | None) -> _Raw | None:
    """The data in one place (an .npz file or a folder), or None when it holds none."""
    if place.is_file():
        raw = _guard(ctx, place, lambda p: _npz_raw(p, ctx, "x_train", None, "y_train",
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


def _idx_part(folder: pathlib.Path, names: tuple[str, str], ctx: _Ctx,
              limit: int | None) -> _Raw:
    """Images (required) and labels (when present) of one split of an IDX data set."""
    images, labels = (_find_idx(folder, name) for name in names)
    if images is None:
        raise ctx.error("E501", f"{folder} has no {names[0]}[.gz]",
                        "an IDX data set needs both the train and the t10k files")
    x = _guard(ctx, images, lambda p: _read_idx(p, limit, ctx))
    y = None if labels is None else _guard(ctx, labels, lambda p: _read_idx(p, limit, ctx))
    return _Raw(str(images), x, labels=y)


def _read_idx(path: pathlib.Path, limit: int | None, ctx: _Ctx) -> np.ndarray:
    """An IDX file (plain or gzipped); only the first `limit` records are read."""
    import gzip
    import struct

    import numpy as np
    with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as fh:
        magic = fh.read(4)  # 0, 0, type code, number of dimensions
        if len(magic) < 4 or magic[:2] != b"\0\0" or magic[2] not in _IDX_TYPES:
            raise ctx.error("E504", f"{path} is not an IDX file (magic number {magic.hex()})")
        header = fh.read(4 * magic[3])
        if len(header) != 4 * magic[3]:
            raise ctx.error("E504", f"{path}: the IDX header is truncated")
        dims = list(struct.unpack(f">{magic[3]}I", header))
        if limit is not None and dims:
            dims[0] = min(dims[0], limit)
        dtype = np.dtype(_IDX_TYPES[magic[2]])
        body = fh.read(want := math.prod(dims) * dtype.itemsize)
    if len(body) != want:
        raise ctx.error("E504", f"{path} is truncated: {len(body)} of {want} data bytes")
    return _numeric(np.frombuffer(body, dtype).reshape(dims), str(path), ctx)


def _limit(raw: _Raw, limit: int) -> _Raw:
    """The first `limit` training and the first `limit` test examples."""
    y, labels = (None if a is None else a[:limit] for a in (raw.y, raw.labels))
    test = None if raw.test is None else _limit(raw.test, limit)
    return replace(raw, x=raw.x[:limit], y=y, labels=labels, test=test)


# ---------------------------------------------------------------- user files


def _test_key(key: str) -> str:
    return key[: -len("_train")] + "_test" if key.endswith("_train") else key + "_test"


def _npz_raw(path: pathlib.Path, ctx: _Ctx, x_key: str, y_key: str | None,
             labels_key: str | None, labels_optional: bool = False) -> _Raw:
    """Arrays by role from an .npz; `<key>_test` arrays (x_train -> x_test) are the test set."""
    with open(path, "rb") as fh:  # our handle: np.load leaks its own on a corrupt archive
        archive = _np_load(fh, path, ctx)
        if not hasattr(archive, "files"):
            raise ctx.error("E504", f"{path} is a single array, not an .npz archive",
                            f'use npy("{path.name}")')
        keys = list(archive.files)
        if labels_optional and labels_key not in keys:
            labels_key = None
        roles = {r: k for r, k in (("x", x_key), ("y", y_key), ("labels", labels_key)) if k}

        def get(role: str, key: str) -> np.ndarray:
            if key not in keys:
                near = did_you_mean(key, keys) or next(
                    (f'use {role}="{k}"' for k in keys if k.startswith(key)), None)
                raise ctx.error("E504", f"{path} has no array '{key}'; it holds: "
                                f"{', '.join(keys) or 'nothing'}", near)
            return _numeric(archive[key], f"{path} ['{key}']", ctx)

        train = {r: get(r, k) for r, k in roles.items()}
        has_test = _test_key(x_key) in keys
        test = {r: get(r, _test_key(k)) for r, k in roles.items()} if has_test else None
    origin, y_origin = f"{path} ['{x_key}']", y_key and f"{path} ['{y_key}']"

    def build(got: dict[str, np.ndarray], test: _Raw | None = None) -> _Raw:
        return _Raw(origin, got["x"], got.get("y"), got.get("labels"), y_origin, test)

    return build(train, None if test is None else build(test))


def _np_load(fh: Any, path: pathlib.Path, ctx: _Ctx) -> Any:
    """np.load without pickles, after checking the magic: numpy's own message for a
    text file talks about pickled data."""
    import numpy as np
    magic = fh.read(6)
    fh.seek(0)
    if not magic.startswith((b"\x93NUMPY", b"PK\x03\x04", b"PK\x05\x06")):
        raise ctx.error("E504", f"{path} is not a .npy or .npz file")
    return np.load(fh, allow_pickle=False)


def _read_npy(path: pathlib.Path, ctx: _Ctx) -> np.ndarray:
    with open(path, "rb") as fh:
        array = _np_load(fh, path, ctx)
    if hasattr(array, "files"):
        raise ctx.error("E504", f"{path} is an .npz archive, not a single array",
                        f'use npz("{path.name}", x="...")')
    return _numeric(array, str(path), ctx)


def _load_npy(args: NpyArgs, ctx: _Ctx) -> _Raw:
    x_path, x = ctx.read(args.file, lambda p: (p, _read_npy(p, ctx)))
    if args.y is None:
        return _Raw(str(x_path), x)
    y_path, y = ctx.read(args.y, lambda p: (p, _read_npy(p, ctx)))
    return _Raw(str(x_path), x, y=y, y_origin=str(y_path))


def _read_csv(path: pathlib.Path, label: str | None, ctx: _Ctx) -> _Raw:
    """Numeric rows under a header row; a `label` column becomes the class labels."""
    import csv

    import numpy as np
    with open(path, newline="", encoding="utf-8-sig") as fh:  # -sig: spreadsheets add a BOM
        reader = csv.reader(fh)
        rows = [(reader.line_num, r) for r in reader if any(c.strip() for c in r)]
    names = [c.strip() for c in rows[0][1]] if rows else []
    if label is not None and label not in names:
        raise ctx.error("E504", f"{path} has no column '{label}'; columns: "
                        f"{', '.join(names) or 'none'}", did_you_mean(label, names))
    data = np.empty((max(len(rows) - 1, 0), len(names)), dtype=np.float64)
    for out, (line, row) in enumerate(rows[1:]):
        if len(row) != len(names):
            raise ctx.error("E504", f"{path}:{line}: {len(row)} values, the header has "
                            f"{len(names)}")
        try:
            data[out] = [float(v) for v in row]
        except ValueError:
            raise ctx.error("E504", f"{path}:{line}: a value is not a number") from None
    if label is None:
        return _Raw(str(path), data)
    col = names.index(label)
    return _Raw(str(path), np.delete(data, col, axis=1), labels=data[:, col])


# ---------------------------------------------------------------- synthetic


def _load_synthetic(args: SyntheticArgs, ctx: _Ctx) -> _Raw:
    import numpy as np
    rng = np.random.default_rng(args.seed)
    kind = args.kind
    if kind == "bars" and _image_side(ctx.input_shape) is None:
        kind = "blobs"  # bars need an image; a sequence or a non-square vector gets blobs
    x, labels = _GENERATORS[kind](rng, args.n, ctx.input_shape)
    return _Raw(f"synthetic(kind={kind})", x.astype(np.float32), labels=labels)


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
    h, w = _image_side(shape) or (1, 1)
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


# ---------------------------------------------------------------- registry


@dataclass(frozen=True)
class _Source:
    load: Callable[[Any, _Ctx], _Raw]
    natural: Callable[[Any], tuple[int, ...]] | None = None


_REGISTRY: dict[str, _Source] = {
    "digits": _Source(_load_digits, lambda a: (1, a.size or 8, a.size or 8)),
    "fashion_mnist": _Source(_load_mnist, lambda a: (1, 28, 28)),
    "mnist": _Source(_load_mnist, lambda a: (1, 28, 28)),
    "npz": _Source(lambda a, ctx: ctx.read(a.file, lambda p: _npz_raw(p, ctx, a.x, a.y, a.labels))),
    "npy": _Source(_load_npy),
    "csv": _Source(lambda a, ctx: ctx.read(a.file, lambda p: _read_csv(p, a.label, ctx))),
    "synthetic": _Source(_load_synthetic),
}
