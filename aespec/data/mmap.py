"""Data larger than memory: .npy files and uncompressed .npz members memory-mapped, and
the shared stages (split, scale, reshape, checks) done on `Rows` without loading them.

`npy("big.npy", mmap=true)` maps always; with `mmap` left out a file is mapped when
loading it would not fit in memory (where E508 refused it before). The same file gives
the same float32 examples either way, so a run's results do not depend on the path.
"""

from __future__ import annotations

import math
import pathlib
from typing import TYPE_CHECKING, Any

from aespec.data.base import COPIES, Ctx, Dataset, Raw, available_memory, numeric
from aespec.data.files import check_npy_header, npy_raw, npz_raw
from aespec.data.lazy import (
    FileStamp,
    MappedRows,
    Rows,
    advise_random,
    is_lazy,
    read_rows,
    stamp_file,
)
from aespec.data.sources import NpyArgs, NpzArgs

if TYPE_CHECKING:
    import numpy as np


def should_map(choice: bool | None, nbytes: int) -> bool:
    """`mmap=true` always, `false` never; left out, when loading would not fit."""
    if choice is not None:
        return choice
    free = available_memory()
    return free is not None and nbytes * COPIES > free


def npy_source(args: NpyArgs, ctx: Ctx) -> Raw:
    """`npy(file, y, mmap)`: loaded, or memory-mapped (see should_map)."""
    if not ctx.read(args.file, lambda p: should_map(args.mmap, _npy_bytes(p, ctx))):
        return npy_raw(args, ctx)
    x_path, x = ctx.read(args.file, lambda p: (p, map_npy(p, ctx)))
    if args.y is None:
        return Raw(str(x_path), x)
    y_path, y = ctx.read(args.y, lambda p: (p, map_npy(p, ctx)))
    return Raw(str(x_path), x, y=y, y_origin=str(y_path))


def _npy_bytes(path: pathlib.Path, ctx: Ctx) -> int:
    """The bytes of the array an .npy header claims (the header checked against the file);
    0 for a file that is not an .npy (the loader then says what it is)."""
    with open(path, "rb") as fh:
        if not fh.read(6).startswith(b"\x93NUMPY"):
            return 0
        fh.seek(0)
        return check_npy_header(fh, path.stat().st_size, str(path), ctx, memory=False)


def map_npy(path: pathlib.Path, ctx: Ctx) -> np.ndarray:
    """An .npy file as a read-only memory map."""
    import numpy as np

    _npy_bytes(path, ctx)
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    if hasattr(array, "files"):
        raise ctx.error("E504", f"{path} is an .npz archive, not a single array",
                        f'use npz("{path.name}", x="...")')
    advise_random(array)
    return numeric(array, str(path), ctx)


def npz_source(args: NpzArgs, ctx: Ctx) -> Raw:
    """`npz(file, x, y, labels, normal, mmap)`: loaded, or its arrays memory-mapped."""
    return ctx.read(args.file, lambda p: _npz(p, args, ctx))


def _npz(path: pathlib.Path, args: NpzArgs, ctx: Ctx) -> Raw:
    import zipfile

    import numpy as np

    try:
        with zipfile.ZipFile(path) as archive:
            inflated = sum(m.file_size for m in archive.infolist())
            keys = [m.filename[:-4] for m in archive.infolist() if m.filename.endswith(".npy")]
    except zipfile.BadZipFile:
        inflated, keys = 0, []
    if not keys or not should_map(args.mmap, inflated):
        return npz_raw(path, ctx, args.x, args.y, args.labels)
    roles = {"x": args.x, "y": args.y}

    def mapped(key: str) -> Any:
        array = map_member(path, key, ctx)
        if array is None:
            raise ctx.error("E509", f"{path} ['{key}'] cannot be memory-mapped: the archive "
                            "stores it compressed", "save the arrays with np.savez (not "
                            "savez_compressed), or one .npy file each")
        return array

    def part(suffix: Any) -> Raw | None:
        got = {r: mapped(suffix(k)) for r, k in roles.items() if k and suffix(k) in keys}
        if "x" not in got:
            return None
        labels = None
        if args.labels and suffix(args.labels) in keys:
            with np.load(path, allow_pickle=False) as archive:
                labels = numeric(archive[suffix(args.labels)], f"{path} ['{args.labels}']",
                                 ctx)
        return Raw(f"{path} ['{args.x}']", got["x"], got.get("y"), labels,
                   args.y and f"{path} ['{args.y}']")

    train = part(lambda k: k)
    if train is None:
        return npz_raw(path, ctx, args.x, args.y, args.labels)  # says which array is missing
    test = part(_test_key)
    return Raw(train.origin, train.x, train.y, train.labels, train.y_origin, test)


def _test_key(key: str) -> str:
    return key[: -len("_train")] + "_test" if key.endswith("_train") else key + "_test"


def map_member(path: pathlib.Path, key: str, ctx: Ctx) -> np.ndarray | None:
    """The array `key` of an .npz, memory-mapped where the archive stores it uncompressed
    (np.savez); None where it is compressed (np.savez_compressed) or absent."""
    import struct
    import zipfile

    import numpy as np
    from numpy.lib import format as npformat

    with zipfile.ZipFile(path) as archive:
        try:
            info = archive.getinfo(key + ".npy")
        except KeyError:
            return None
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        local = fh.read(30)  # the local file header: its name and extra field lengths
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        fh.seek(info.header_offset + 30 + name_len + extra_len)
        version = npformat.read_magic(fh)
        shape, fortran, dtype = (npformat.read_array_header_1_0 if version == (1, 0) else
                                 npformat.read_array_header_2_0)(fh, max_header_size=10_000)
        offset = fh.tell()
    if dtype.hasobject or math.prod(shape) == 0:
        return None
    array = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                      order="F" if fortran else "C")
    advise_random(array)
    return numeric(array, f"{path} ['{key}']", ctx)


def is_mapped(raw: Raw) -> bool:
    import numpy as np

    return isinstance(raw.x, np.memmap) or is_lazy(raw.x)


def load_lazy(raw: Raw, ctx: Ctx, need_unit_range: bool, describe: str,
              class_names: tuple[str, ...] | None = None) -> Dataset:
    """The shared stages of load_data for mapped (or streamed) data: the fixed split as
    row indices, the scale and value checks by a scan in blocks, the reshape per batch."""
    import numpy as np

    from aespec.data.prepare import check_counts

    for part in (raw, raw.test):
        if part is not None:
            check_counts(part, ctx)
    y_tr: Any
    y_te: Any
    if raw.test is not None:
        train, test = _rows(raw.x, ctx, raw.origin), _rows(raw.test.x, ctx, raw.origin)
        y_tr, y_te = (None if y is None else _rows(y, ctx, raw.y_origin or raw.origin,
                                                   target=True) for y in (raw.y, raw.test.y))
        l_tr, l_te = raw.labels, raw.test.labels
    else:
        n = len(raw.x)
        n_train = 4 * n // 5
        if n_train < 1:
            raise ctx.error("E505", f"{raw.origin} holds {n} example; at least 2 are needed")
        order = np.random.default_rng(0).permutation(n)  # as prepare.split
        whole = _rows(raw.x, ctx, raw.origin)
        train, test = whole.subset(order[:n_train]), whole.subset(order[n_train:])
        y_tr = y_te = None
        if raw.y is not None:
            ys = _rows(raw.y, ctx, raw.y_origin or raw.origin, target=True)
            y_tr, y_te = ys.subset(order[:n_train]), ys.subset(order[n_train:])
        l_tr = l_te = None
        if raw.labels is not None:
            labels = np.asarray(raw.labels).reshape(-1)
            l_tr, l_te = labels[order[:n_train]], labels[order[n_train:]]
    lo, hi = math.inf, -math.inf
    for rows in (train, test, y_tr, y_te):
        if isinstance(rows, Rows):
            a, b = _scan(rows, raw.origin, ctx, need_unit_range)
            lo, hi = min(lo, a), max(hi, b)
    l_tr, l_te = (None if v is None else np.asarray(v).astype(np.int64) for v in (l_tr, l_te))
    text = (f"{describe}: {len(train)} train / {len(test)} test, "
            f"{'x'.join(map(str, train.example))}, values in [{lo:g}, {hi:g}], read on demand")
    return Dataset(train, test, y_tr, y_te, l_tr, l_te, text,  # type: ignore[arg-type]
                   class_names if l_tr is not None else None)


def _rows(array: Any, ctx: Ctx, origin: str, target: bool = False) -> Rows:
    """A mapped array as Rows shaped to the input (E502 as for a loaded array)."""
    import numpy as np

    from aespec.data.prepare import _fit_shape

    if isinstance(array, Rows):
        return array
    # the file as it is now: every later read checks it is still so (lazy.FileStamp)
    stamp = stamp_file(array, ctx)
    each, shape = tuple(array.shape[1:]), ctx.input_shape
    if target and math.prod(each) != math.prod(shape):
        return MappedRows(array, each if len(each) != 2 else (1, *each), stamp=stamp)
    divisor = 255.0 if array.dtype == np.uint8 and _max(array, stamp) > 1 else 1.0
    sample = np.zeros((1, *each), dtype=np.float32)
    fitted = _fit_shape(sample, shape, origin, ctx)  # E502 when the shapes cannot agree
    moved = len(each) == 3 and each != shape and fitted.shape[1:] == shape and \
        each == (*shape[1:], shape[0])
    return MappedRows(array, tuple(shape), divisor, moved, stamp=stamp)


def _max(array: Any, stamp: FileStamp | None) -> float:
    """The largest value, read in blocks (uint8 pixels are divided by 255 when it is > 1)."""
    import numpy as np

    step = max(1, (16 << 20) // max(math.prod(array.shape[1:]), 1))
    return max(float(read_rows(array, np.arange(i, min(i + step, len(array))), stamp).max())
               for i in range(0, len(array), step))


def _scan(rows: Rows, origin: str, ctx: Ctx, need_unit_range: bool) -> tuple[float, float]:
    """(min, max) of rows read in blocks; E504 for NaN or infinity, E503 outside [0, 1]
    where the loss needs it, as prepare does for a loaded array."""
    import numpy as np

    known = getattr(rows, "known_range", None)
    if known is not None:  # decoded images: pixels / 255
        return known
    lo, hi = math.inf, -math.inf
    for block in rows.chunks():
        if not np.isfinite(block).all():
            raise ctx.error("E504", f"{origin} contains NaN or infinite values")
        lo, hi = min(lo, float(block.min())), max(hi, float(block.max()))
    if isinstance(rows, MappedRows):
        from aespec.data.lazy import release

        release(rows.base)
    if need_unit_range and (lo < 0.0 or hi > 1.0):
        raise ctx.error("E503", f"{origin}: values range over [{lo:g}, {hi:g}] but loss bce "
                        "needs them in [0, 1]", "scale the data to [0, 1], or use `loss mse`")
    return lo, hi
