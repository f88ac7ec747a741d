"""Readers of data files: IDX (plain or gzipped), .npz, .npy and .csv; each checks what
it read and reports a bad file as E504."""

from __future__ import annotations

import contextlib
import math
import pathlib
import re
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from aespec.data.base import Ctx, Raw, numeric, require_memory
from aespec.data.sources import NpyArgs
from aespec.errors import did_you_mean

if TYPE_CHECKING:
    import numpy as np

_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_ .-]{0,39}$")
_IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: pathlib.Path, limit: int | None, ctx: Ctx) -> np.ndarray:
    """An IDX file (plain or gzipped); only the first `limit` records are read.

    A gzipped file's decoded array is kept in the user's cache folder (`cache_folder`) the
    first time it is read whole, and read from there (a plain .npy, memory-mapped) while the
    file's path, size, modification time and inode stay the same: decompressing
    Fashion-MNIST's training images takes longer than a check of the spec.
    """
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
        full = list(struct.unpack(f">{magic[3]}I", header))
        dims = list(full)
        if limit is not None and dims:
            dims[0] = min(dims[0], limit)
        dtype = np.dtype(_IDX_TYPES[magic[2]])
        want = math.prod(dims) * dtype.itemsize
        if path.suffix != ".gz" and want > path.stat().st_size:  # the header lies
            raise ctx.error("E504", f"{path} is truncated: its header claims "
                            f"{'x'.join(map(str, dims))} values, more than the file holds")
        require_memory(ctx, f"{path} (its header claims {'x'.join(map(str, dims))} values)",
                       want, "use limit= to read the first N examples only")
        cache = _idx_cache(path) if path.suffix == ".gz" else None
        cached = None if cache is None else _read_cached(cache, full, dtype)
        if cached is not None:
            # a read-only view of the mapped file: the shared stages copy what they keep
            return numeric(cached[:dims[0]] if dims else cached, str(path), ctx)
        whole = cache is not None and dims == full  # cache only a whole file's array
        body = fh.read(want)
    if len(body) != want:
        raise ctx.error("E504", f"{path} is truncated: {len(body)} of {want} data bytes")
    array = np.frombuffer(body, dtype).reshape(dims)
    if whole and cache is not None:
        _write_cached(cache, array)
    return numeric(array, str(path), ctx)


def cache_folder() -> pathlib.Path | None:
    """aespec's folder in the user's cache (`AESPEC_CACHE_DIR`, else `$XDG_CACHE_HOME/aespec`
    or `~/.cache/aespec`); None when it is turned off (`AESPEC_CACHE_DIR=`) or unknown."""
    import os

    folder = os.environ.get("AESPEC_CACHE_DIR")
    if folder is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                                 ".cache")
        folder = os.path.join(base, "aespec")
    return pathlib.Path(folder) if folder and os.path.isabs(folder) else None


IDX_CACHE_VERSION = 1


def _idx_cache(path: pathlib.Path) -> pathlib.Path | None:
    """Where the decoded array of a gzipped IDX file is cached: a name that changes with
    the file's resolved path, size, modification time and inode (a file rewritten in place,
    or replaced, gets a new name, so a stale array is never read)."""
    import hashlib

    folder = cache_folder()
    if folder is None:
        return None
    try:
        st = path.stat()
        key = f"{IDX_CACHE_VERSION}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"
    except OSError:
        return None
    return folder / "data" / f"idx-{hashlib.sha256(key.encode()).hexdigest()[:24]}.npy"


def _read_cached(cache: pathlib.Path, dims: list[int], dtype: Any) -> np.ndarray | None:
    """The cached array, memory-mapped, if it is there and has the header's shape and type;
    None otherwise (a missing, foreign or damaged file only costs decoding again)."""
    import numpy as np

    try:
        array = np.load(cache, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    return np.asarray(array) if list(array.shape) == dims and array.dtype == dtype else None


def _write_cached(cache: pathlib.Path, array: np.ndarray) -> None:
    import numpy as np

    write_cache(cache, lambda fh: np.save(fh, array, allow_pickle=False))


def write_cache(cache: pathlib.Path, write: Callable[[IO[bytes]], object]) -> None:
    """`write(file)` into the cache file `cache`, best effort, under a private name then
    renamed: a concurrent reader never sees half a file, and a cache that cannot be
    written is no error (the next run makes it again)."""
    import os

    tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            write(fh)
        os.replace(tmp, cache)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _test_key(key: str) -> str:
    return key[: -len("_train")] + "_test" if key.endswith("_train") else key + "_test"


def npz_raw(path: pathlib.Path, ctx: Ctx, x_key: str, y_key: str | None,
            labels_key: str | None, labels_optional: bool = False) -> Raw:
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
            return numeric(archive[key], f"{path} ['{key}']", ctx)

        train = {r: get(r, k) for r, k in roles.items()}
        has_test = _test_key(x_key) in keys
        test = {r: get(r, _test_key(k)) for r, k in roles.items()} if has_test else None
    origin, y_origin = f"{path} ['{x_key}']", y_key and f"{path} ['{y_key}']"

    def build(got: dict[str, np.ndarray], test: Raw | None = None) -> Raw:
        return Raw(origin, got["x"], got.get("y"), got.get("labels"), y_origin, test)

    return build(train, None if test is None else build(test))


def _np_load(fh: Any, path: pathlib.Path, ctx: Ctx) -> Any:
    """np.load without pickles, after checking the magic (numpy's own message for a text
    file talks about pickled data) and what the headers claim: an array larger than its
    file, or an archive that inflates past what memory holds, is refused unread."""
    import numpy as np
    magic = fh.read(6)
    fh.seek(0)
    if magic.startswith(b"\x93NUMPY"):
        check_npy_header(fh, path.stat().st_size, str(path), ctx)
    elif magic.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        _check_archive(fh, path, ctx)
    else:
        raise ctx.error("E504", f"{path} is not a .npy or .npz file")
    return np.load(fh, allow_pickle=False)


def check_npy_header(fh: Any, size: int, origin: str, ctx: Ctx, memory: bool = True) -> int:
    """The shape and type an .npy header claims, against the bytes that follow it (and,
    with `memory`, against the memory free: E508); the array's bytes."""
    import numpy as np
    from numpy.lib import format as npformat

    start = fh.tell()
    try:
        version = npformat.read_magic(fh)
        shape, _, dtype = (npformat.read_array_header_1_0 if version == (1, 0) else
                           npformat.read_array_header_2_0)(fh, max_header_size=10_000)
    except (ValueError, OSError, SyntaxError, TypeError):
        raise ctx.error("E504", f"{origin}: the .npy header cannot be read") from None
    header = fh.tell() - start
    fh.seek(start)
    want = math.prod(shape) * np.dtype(dtype).itemsize
    if want > size - header:
        raise ctx.error("E504", f"{origin}: its header claims an array of shape {shape} "
                        f"({want:,} bytes), more than the file holds ({size - header:,})")
    if memory:
        require_memory(ctx, origin, want, "use a smaller file, or memory-map it: "
                       "npy(\"...\", mmap=true) (docs/training.md)")
    return want


INFLATE_RATIO = 200  # an archive this much larger inflated, and big, is a zip bomb
INFLATE_BIG = 256 << 20


def _check_archive(fh: Any, path: pathlib.Path, ctx: Ctx) -> None:
    import zipfile

    with zipfile.ZipFile(fh) as archive:
        members = archive.infolist()
        inflated = sum(m.file_size for m in members)
        packed = sum(m.compress_size for m in members)
        if inflated > INFLATE_BIG and inflated > INFLATE_RATIO * max(packed, 1):
            raise ctx.error("E504", f"{path} inflates from {packed:,} to {inflated:,} bytes: "
                            "refused as a zip bomb", "save the arrays with np.savez (not "
                            "compressed), or use smaller ones")
        require_memory(ctx, f"{path} (inflated)", inflated, "use smaller arrays")
        for m in members:
            if m.filename.endswith(".npy"):
                with archive.open(m) as member:
                    check_npy_header(member, m.file_size, f"{path} ['{m.filename[:-4]}']",
                                      ctx)
    fh.seek(0)


def _read_npy(path: pathlib.Path, ctx: Ctx) -> np.ndarray:
    with open(path, "rb") as fh:
        array = _np_load(fh, path, ctx)
    if hasattr(array, "files"):
        raise ctx.error("E504", f"{path} is an .npz archive, not a single array",
                        f'use npz("{path.name}", x="...")')
    return numeric(array, str(path), ctx)


def npy_raw(args: NpyArgs, ctx: Ctx) -> Raw:
    x_path, x = ctx.read(args.file, lambda p: (p, _read_npy(p, ctx)))
    if args.y is None:
        return Raw(str(x_path), x)
    y_path, y = ctx.read(args.y, lambda p: (p, _read_npy(p, ctx)))
    return Raw(str(x_path), x, y=y, y_origin=str(y_path))


def read_csv(path: pathlib.Path, label: str | None, ctx: Ctx, blank: str | None = None
             ) -> Raw:
    """Numeric rows under a header row; a `label` column becomes the class labels; an empty
    cell reads as `blank` where it is given ("nan" with missing=nan)."""
    import csv

    import numpy as np
    with open(path, newline="", encoding="utf-8-sig") as fh:  # -sig: spreadsheets add a BOM
        reader = csv.reader(fh)
        try:
            rows = [(reader.line_num, r) for r in reader if any(c.strip() for c in r)]
        except csv.Error:
            raise ctx.error("E504", f"{path}:{reader.line_num}: a field is longer than "
                            f"{csv.field_size_limit():,} characters, or the file is not CSV"
                            ) from None
    names = [c.strip() for c in rows[0][1]] if rows else []
    if label is not None and label not in names:
        # the header is the file's first line: named only when it reads as column names,
        # never printed whole (a spec could point csv() at any file on the machine)
        shown = all(_COLUMN.match(n) for n in names)
        raise ctx.error("E504", f"{path} has no column '{label}'" + (
            f"; columns: {', '.join(names)}" if shown and names else
            " (its first line does not read as a header of column names)"),
            did_you_mean(label, names) if shown else None)
    data = np.empty((max(len(rows) - 1, 0), len(names)), dtype=np.float64)
    for out, (line, row) in enumerate(rows[1:]):
        if len(row) != len(names):
            raise ctx.error("E504", f"{path}:{line}: {len(row)} values, the header has "
                            f"{len(names)}")
        try:
            data[out] = [float(v if v.strip() or blank is None else blank) for v in row]
        except ValueError:
            raise ctx.error("E504", f"{path}:{line}: a value is not a number") from None
    if label is None:
        return Raw(str(path), data)
    col = names.index(label)
    return Raw(str(path), np.delete(data, col, axis=1), labels=data[:, col])
