"""The grid of a sweep: `--set z=2,8,32 --set train.seed=0,1` -> one point per combination.

Plain data only; nothing here imports torch.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from aespec.errors import AespecError

MAX_POINTS = 10_000
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")


@dataclass(frozen=True)
class Axis:
    """One swept key and its values, as written (`z`, `("2", "8", "32")`)."""

    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Point:
    """One run of the sweep: its index, its values by key and the folder it runs in."""

    index: int
    values: tuple[tuple[str, str], ...]  # ((key, value), ...) in the axes' order
    name: str

    @property
    def overrides(self) -> list[str]:
        return [f"{k}={v}" for k, v in self.values]


def split_values(text: str) -> list[str]:
    """`2,8,32` -> ["2", "8", "32"]; commas inside (), [] or quotes stay: `(1,2),(3,4)`."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def parse_axes(sets: list[str]) -> tuple[list[Axis], list[str]]:
    """The swept axes (a --set with two values or more) and the fixed overrides (one
    value); E613 for a key given twice, or an empty value."""
    axes: list[Axis] = []
    fixed: list[str] = []
    seen: set[str] = set()
    for text in sets:
        key, sep, rest = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise _bad(f"--set needs NAME=VALUE[,VALUE...], got {text!r}")
        if key in seen:
            raise _bad(f"--set {key} is given twice", f"list its values once: --set {key}=a,b,c")
        seen.add(key)
        values = split_values(rest)
        if any(not v for v in values):
            raise _bad(f"--set {key}={rest}: an empty value", "separate values by single commas")
        if len(values) == 1:
            fixed.append(f"{key}={values[0]}")
        elif len(set(values)) != len(values):
            raise _bad(f"--set {key}={rest}: a value is listed twice")
        else:
            axes.append(Axis(key, tuple(values)))
    return axes, fixed


def grid(axes: list[Axis]) -> list[Point]:
    """Every combination of the axes' values, the first axis slowest; E613 past MAX_POINTS."""
    count = 1
    for axis in axes:
        count *= len(axis.values)
    if count > MAX_POINTS:
        raise _bad(f"the grid has {count:,} points, more than {MAX_POINTS:,}",
                   "sweep fewer values, or split the sweep")
    points = []
    for i, combo in enumerate(itertools.product(*(a.values for a in axes))):
        values = tuple(zip((a.key for a in axes), combo, strict=True))
        points.append(Point(i, values, point_name(i, values)))
    return points


def point_name(index: int, values: tuple[tuple[str, str], ...]) -> str:
    """`003-z=8-train.seed=1`: the point's folder, safe on any file system."""
    said = "-".join(f"{k}={v}" for k, v in values) or "point"
    return f"{index:03d}-{_UNSAFE.sub('_', said)[:120]}"


def _bad(message: str, hint: str | None = None) -> AespecError:
    return AespecError.of("E613", message, hint=hint, file="--set")
