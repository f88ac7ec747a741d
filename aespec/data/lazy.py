"""Data read on demand, for data sets larger than memory: rows of an .npy (or of an
uncompressed .npz member) through a memory map, or images decoded from their files.

A `Rows` stands where a loaded array would (a `Dataset`'s x_train, x_test, y_...): it has a
length and a shape, `take(idx)` gives float32 examples shaped to the input, and a slice or
`np.asarray(rows)` reads what it names (so small uses, a report's first 16 test images,
work as with an array). Training reads a batch at a time (aespec/train/stream.py).

Resident memory stays bounded: a mapped file's rows are read with pread (read_rows), so
the page cache serves them without mapping its pages into this process.

A mapped file may change while a run reads it (cut short, replaced, removed, rewritten):
each read first checks the open file against the `FileStamp` taken when it was mapped, and
a changed file is E504 naming it, never an OSError (which the run would blame on its own
folder) and never a touch of the map past the file's end (SIGBUS, which kills the process).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aespec.errors import AespecError

if TYPE_CHECKING:
    import numpy as np

    from aespec.data.base import Ctx

SCAN_BYTES = 4 << 20  # rows read at a time when a whole file is scanned


class Rows:
    """Examples read on demand: `rows.take(idx)` -> float32 (len(idx), *example)."""

    example: tuple[int, ...]

    def __len__(self) -> int:
        raise NotImplementedError

    def take(self, idx: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def subset(self, idx: np.ndarray) -> Rows:
        """The rows `idx` (in that order), still read on demand."""
        raise NotImplementedError

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.example)

    @property
    def ndim(self) -> int:
        return 1 + len(self.example)

    @property
    def dtype(self) -> Any:
        import numpy as np

        return np.dtype(np.float32)

    @property
    def nbytes(self) -> int:
        return len(self) * math.prod(self.example) * 4

    def __getitem__(self, key: Any) -> np.ndarray:
        import numpy as np

        if isinstance(key, slice):
            return self.take(np.arange(len(self))[key])
        if isinstance(key, (int, np.integer)):
            return self.take(np.array([key]))[0]
        return self.take(np.asarray(key))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        import numpy as np

        whole = self.take(np.arange(len(self)))
        return whole if dtype is None else whole.astype(dtype)

    def chunks(self, size_bytes: int = SCAN_BYTES):
        """Consecutive blocks of rows (float32), `size_bytes` at a time."""
        import numpy as np

        step = max(1, size_bytes // max(math.prod(self.example) * 4, 1))
        for i in range(0, len(self), step):
            yield self.take(np.arange(i, min(i + step, len(self))))


@dataclass(eq=False)
class MappedRows(Rows):
    """Rows of a memory-mapped array (N, ...): rows `index` of it (all when None), as
    float32 divided by `divisor`, reshaped to `example` (moved from channels-last when
    `channels_last`)."""

    base: Any  # np.memmap
    example: tuple[int, ...]  # type: ignore[misc]
    divisor: float = 1.0
    channels_last: bool = False
    index: Any = None  # np.ndarray of rows of `base`, or None for all of them
    stamp: FileStamp | None = None  # the file as it was mapped: each read checks it

    def __len__(self) -> int:
        return len(self.base) if self.index is None else len(self.index)

    def subset(self, idx: np.ndarray) -> MappedRows:
        import numpy as np

        rows = np.asarray(idx) if self.index is None else self.index[np.asarray(idx)]
        return MappedRows(self.base, self.example, self.divisor, self.channels_last, rows,
                          self.stamp)

    def take(self, idx: np.ndarray) -> np.ndarray:
        import numpy as np

        idx = np.asarray(idx, dtype=np.int64)
        rows = idx if self.index is None else self.index[idx]
        out = read_rows(self.base, rows, self.stamp).astype(np.float32)
        if self.divisor != 1.0:
            out /= np.float32(self.divisor)  # as prepare.finish divides a loaded array
        if self.channels_last:
            return np.ascontiguousarray(np.moveaxis(out, -1, 1))
        return out.reshape(len(out), *self.example)


@dataclass(frozen=True)
class FileStamp:
    """A mapped file as it was when it was mapped: which file (device, inode), its size and
    modification time. `ctx` is the `data` line a changed file's E504 points at."""

    path: str
    device: int
    inode: int
    size: int
    mtime_ns: int
    ctx: Ctx | None = None

    def changed(self, now: Any) -> str | None:
        """How the file open now (an os.stat_result) differs from this one; None if not."""
        if (now.st_dev, now.st_ino) != (self.device, self.inode):
            return "was replaced by another file"
        if now.st_size != self.size:
            grew = "grew" if now.st_size > self.size else "shrank"
            return f"{grew} from {self.size:,} to {now.st_size:,} bytes"
        if now.st_mtime_ns != self.mtime_ns:  # the same size: written over in place
            return "was rewritten"
        return None


def stamp_file(base: Any, ctx: Ctx | None = None) -> FileStamp | None:
    """The stamp of a memory map's file (None for an array that is not a file's map)."""
    import os

    filename = getattr(base, "filename", None)
    if filename is None:
        return None
    try:
        info = os.stat(filename)
    except OSError as exc:  # gone since it was mapped
        raise unreadable(filename, ctx, exc.strerror or str(exc)) from None
    return FileStamp(str(filename), info.st_dev, info.st_ino, info.st_size,
                     info.st_mtime_ns, ctx)


def read_rows(base: Any, rows: np.ndarray, stamp: FileStamp | None = None) -> np.ndarray:
    """Rows of a memory-mapped C-order array, read from its file with pread (a run of
    consecutive rows in one read): the page cache serves them, and none of its pages is
    mapped into this process. Indexing the map itself leaves every page it touches
    resident, and the kernel maps large page-cache folios whole, so a batch of scattered
    rows would map most of the file. Other layouts are indexed through the map, once the
    file is checked to still hold all of it. E504 for a file that changed (see FileStamp)."""
    import os

    filename, offset = getattr(base, "filename", None), getattr(base, "offset", None)
    if filename is None or offset is None or not len(rows):
        return _through_map(base, rows)
    fd = _open_checked(filename, stamp, offset + base.nbytes)
    try:
        if not base.flags.c_contiguous:
            # checked above; a file cut in the instant since would still be SIGBUS here
            return _through_map(base, rows)
        return _pread_rows(fd, base, rows, offset, stamp)
    finally:
        os.close(fd)


def _through_map(base: Any, rows: np.ndarray) -> np.ndarray:
    import numpy as np

    raw = np.asarray(base[rows])
    release(base)
    return raw


def _pread_rows(fd: int, base: Any, rows: np.ndarray, offset: int,
                stamp: FileStamp | None) -> np.ndarray:
    """Rows (any order) of a C-order map's file: sorted, runs of consecutive ones read at
    once straight into the result, then put back in the order asked (unless it was so)."""
    import numpy as np

    row_bytes = base.itemsize * math.prod(base.shape[1:])
    order = np.argsort(rows, kind="stable")
    wanted = rows[order]
    buf = np.empty((len(rows), row_bytes), dtype=np.uint8)
    cuts = [0, *(np.flatnonzero(np.diff(wanted) != 1) + 1).tolist(), len(rows)]
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        if not _read_into(fd, buf[a:b], offset + int(wanted[a]) * row_bytes):
            raise changed(base.filename, stamp, "was cut short")  # since it was checked
    if not (np.diff(rows) > 0).all():  # not in the order asked: put back
        out = np.empty_like(buf)
        out[order] = buf
        buf = out
    return buf.view(base.dtype).reshape(len(rows), *base.shape[1:])


def _read_into(fd: int, into: np.ndarray, at: int) -> bool:
    """Fill `into` (contiguous bytes) from the file at `at`; False where it ends first."""
    import os

    view = into.data.cast("B")
    while len(view):
        got = os.preadv(fd, [view], at) if hasattr(os, "preadv") else _pread(fd, view, at)
        if got == 0:
            return False
        view, at = view[got:], at + got
    return True


def _pread(fd: int, view: memoryview, at: int) -> int:
    import os

    got = os.pread(fd, len(view), at)
    view[:len(got)] = got
    return len(got)


def _open_checked(filename: str, stamp: FileStamp | None, end: int) -> int:
    """A descriptor on the map's file, once its fstat shows it is the file that was
    mapped and still reaches `end` (the array's last byte). The check is of the open
    descriptor: a file replaced after it cannot slip in between."""
    import os

    ctx = stamp.ctx if stamp is not None else None
    try:
        fd = os.open(filename, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise changed(filename, stamp, "was removed") from None
    except OSError as exc:
        raise unreadable(filename, ctx, exc.strerror or str(exc)) from None
    info = os.fstat(fd)
    how = stamp.changed(info) if stamp is not None else None
    short = info.st_size < end
    if how is not None or short:
        os.close(fd)
        if how is not None:
            raise changed(filename, stamp, how)
        raise unreadable(filename, ctx, f"it is {info.st_size:,} bytes, shorter than the "
                         f"{end:,} its header says")
    return fd


def changed(filename: str, stamp: FileStamp | None, how: str) -> AespecError:
    """E504 for a file that changed under a run, naming the file (an OSError would be
    taken for the run's folder that cannot be written), at the spec's `data` line."""
    return unreadable(filename, stamp.ctx if stamp is not None else None,
                      f"the file {how} during the run",
                      "put the file back as it was and resume the run (aespec run --resume "
                      "RUN_DIR); a file a run reads must not change until it ends: write a "
                      "new file instead")


def unreadable(filename: str, ctx: Ctx | None, why: str, hint: str | None = None
               ) -> AespecError:
    """E504 `cannot read FILE: why`."""
    message = f"cannot read {filename}: {why}"
    if ctx is not None:
        return ctx.error("E504", message, hint)
    return AespecError.of("E504", message, hint=hint, file=filename)


def advise_random(array: Any) -> None:
    """Batches read scattered rows: no read-ahead, and no mapping of the pages around each
    one (the kernel's fault-around would map 16 pages per row read)."""
    _advise(array, "MADV_RANDOM")


def release(array: Any) -> None:
    """Hand a memory map's read pages back to the kernel (they stay in the page cache)."""
    _advise(array, "MADV_DONTNEED")


def _advise(array: Any, advice: str) -> None:
    import mmap

    handle = getattr(array, "_mmap", None)
    if handle is not None and hasattr(mmap, advice):
        try:
            handle.madvise(getattr(mmap, advice))
        except (OSError, ValueError):
            pass


def is_lazy(array: Any) -> bool:
    return isinstance(array, Rows)
