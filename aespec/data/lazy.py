"""Data read on demand, for data sets larger than memory: rows of an .npy (or of an
uncompressed .npz member) through a memory map, or images decoded from their files.

A `Rows` stands where a loaded array would (a `Dataset`'s x_train, x_test, y_...): it has a
length and a shape, `take(idx)` gives float32 examples shaped to the input, and a slice or
`np.asarray(rows)` reads what it names (so small uses, a report's first 16 test images,
work as with an array). Training reads a batch at a time (aespec/train/stream.py).

Resident memory stays bounded: a mapped file's rows are read with pread (read_rows), so
the page cache serves them without mapping its pages into this process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

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

    def __len__(self) -> int:
        return len(self.base) if self.index is None else len(self.index)

    def subset(self, idx: np.ndarray) -> MappedRows:
        import numpy as np

        rows = np.asarray(idx) if self.index is None else self.index[np.asarray(idx)]
        return MappedRows(self.base, self.example, self.divisor, self.channels_last, rows)

    def take(self, idx: np.ndarray) -> np.ndarray:
        import numpy as np

        idx = np.asarray(idx, dtype=np.int64)
        rows = idx if self.index is None else self.index[idx]
        out = read_rows(self.base, rows).astype(np.float32)
        if self.divisor != 1.0:
            out /= np.float32(self.divisor)  # as prepare.finish divides a loaded array
        if self.channels_last:
            return np.ascontiguousarray(np.moveaxis(out, -1, 1))
        return out.reshape(len(out), *self.example)


def read_rows(base: Any, rows: np.ndarray) -> np.ndarray:
    """Rows of a memory-mapped C-order array, read from its file with pread (a run of
    consecutive rows in one read): the page cache serves them, and none of its pages is
    mapped into this process. Indexing the map itself leaves every page it touches
    resident, and the kernel maps large page-cache folios whole, so a batch of scattered
    rows would map most of the file. Other layouts are indexed through the map."""
    import os

    import numpy as np

    filename, offset = getattr(base, "filename", None), getattr(base, "offset", None)
    if filename is None or offset is None or not base.flags.c_contiguous or not len(rows):
        raw = np.asarray(base[rows])
        release(base)
        return raw
    row_bytes = base.itemsize * math.prod(base.shape[1:])
    order = np.argsort(rows, kind="stable")
    wanted = rows[order]
    buf = np.empty((len(rows), row_bytes), dtype=np.uint8)
    cuts = [0, *(np.flatnonzero(np.diff(wanted) != 1) + 1).tolist(), len(rows)]
    fd = os.open(filename, os.O_RDONLY)
    try:
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            size = (b - a) * row_bytes
            got = os.pread(fd, size, offset + int(wanted[a]) * row_bytes)
            if len(got) != size:
                raise OSError(f"{filename} is shorter than its header says")
            buf[a:b] = np.frombuffer(got, dtype=np.uint8).reshape(b - a, row_bytes)
    finally:
        os.close(fd)
    out = np.empty_like(buf)
    out[order] = buf
    return out.view(base.dtype).reshape(len(rows), *base.shape[1:])


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
