"""What every loader shares: the loaded `Dataset`, the `Raw` arrays a loader returns, and
the `Ctx` that errors and reads of a user's file go through."""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aespec.errors import AespecError, Diagnostic, Span

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True, eq=False)
class Missing:
    """What a load with `missing=nan` found (aespec.data.missing): the fill the input reads
    in place of a NaN, each value's observed training mean (the column-means baseline of
    imputation), and the share of entries observed in each split."""

    how: str  # "mean" or "zero"
    fill: np.ndarray  # (*input_shape,) float32
    column_means: np.ndarray  # (*input_shape,) float32; the overall mean where none observed
    observed_train: float
    observed_test: float
    never_observed: int  # values no training example observes
    paired: bool = False  # the data has its own targets (y=): no imputation is scored

    def describe(self) -> str:
        return (f"; observed: {self.observed_train:.1%} of the training entries, "
                f"{self.observed_test:.1%} of the test entries (fill={self.how})")


@dataclass(frozen=True, eq=False)
class Dataset:
    """Loaded data: float32 examples shaped (N, *input_shape), optional targets and labels.

    With `normal=` the training examples are those of the normal classes only, and the test
    labels mark anomalies: 0 normal, 1 anomaly.  `class_names[k]` names label k, where the
    source knows its classes (("normal", "anomaly") with `normal=`); None otherwise.
    With `range=(-1, 1)` the examples were scaled from [0, 1] to `scaled`, (-1, 1).
    With `missing=nan` the examples have every NaN filled and `y` holds the targets, NaN
    where an entry is unobserved; `missing` says what was filled.
    """

    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray | None  # (N, *target_shape), only when the source has y=
    y_test: np.ndarray | None
    labels_train: np.ndarray | None  # (N,) int64, where the source knows classes
    labels_test: np.ndarray | None
    description: str
    class_names: tuple[str, ...] | None = None
    scaled: tuple[float, float] | None = None  # range=: what [0, 1] was mapped to
    # missing=nan (data/missing.py): x is filled, y holds the targets with their NaN
    missing: Missing | None = None
    warnings: tuple[Diagnostic, ...] = ()  # found when the data was read (W437, W439)

    def to_unit(self, x: Any) -> Any:
        """Examples (numpy or torch) back in [0, 1], as pictures show and the report's
        reference classifier reads them: undoes `range=`; other data is returned as it is."""
        if self.scaled is None:
            return x
        lo, hi = self.scaled
        return (x - lo) / (hi - lo)


@dataclass(frozen=True)
class Raw:
    """What a loader read, before the shared split, scaling, reshape and checks."""

    origin: str  # the file (or source) error messages name
    x: np.ndarray  # (N, ...)
    y: np.ndarray | None = None
    labels: np.ndarray | None = None
    y_origin: str | None = None
    test: Raw | None = None  # the source's own test split, where it has one
    class_names: tuple[str, ...] | None = None  # where the files name the classes (images)


@dataclass(frozen=True)
class Ctx:
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
        return guard(self, path if path.is_absolute() else
                     (self.base_dir or pathlib.Path.cwd()) / path, read)


def guard(ctx: Ctx, path: pathlib.Path, read: Callable[[pathlib.Path], Any]) -> Any:
    """Run `read(path)`, turning a missing or unreadable file into E501/E504."""
    import zipfile
    import zlib
    if not path.exists():
        raise ctx.error("E501", f"data file not found: {path}",
                        "relative paths are read from the spec file's folder")
    if not path.is_file():  # a FIFO would block the read for ever, a device never end
        raise ctx.error("E504", f"cannot read {path}: not a regular file",
                        "name a data file (.npy, .npz, .csv or IDX)")
    try:
        return read(path)
    except (OSError, ValueError, EOFError, OverflowError, zipfile.BadZipFile,
            zlib.error) as exc:
        raise ctx.error("E504", f"cannot read {path}: {exc}") from None


def numeric(a: Any, origin: str, ctx: Ctx) -> np.ndarray:
    """An array of examples: numeric, with a leading example axis."""
    import numpy as np
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "biuf":
        kind = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
        raise ctx.error("E504", f"{origin} does not hold numeric data (found {kind})")
    if a.ndim == 0:
        raise ctx.error("E502", f"{origin} holds a single number, not an array of examples")
    return a


def available_memory() -> int | None:
    """Bytes this machine can still give (MemAvailable); None where it cannot be known."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    import os

    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


COPIES = 3  # float64 while it is scaled, float32 kept, one split copy: a load's peak


def require_memory(ctx: Ctx, what: str, nbytes: int, hint: str) -> None:
    """E508 before reading or making `nbytes` of data that the machine cannot hold."""
    free = available_memory()
    if free is not None and nbytes * COPIES > free:
        raise ctx.error("E508", f"{what} would take {fmt_bytes(nbytes)} "
                        f"({fmt_bytes(nbytes * COPIES)} while it is prepared), more than the "
                        f"{fmt_bytes(free)} free", hint)


def fmt_bytes(n: float) -> str:
    """`512 B`, `3.1 MiB`, `81.0 GiB`, `23.5 TiB`."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"
