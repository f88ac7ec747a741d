"""A grading rubric (docs/grading.md): a TOML file, or the ```toml block of an assignment's
Markdown page that has a `[criteria]` table. Read with tomllib; every mistake is E643 with
the rubric's file and the key at fault, a usage error of `aespec grade`."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aespec.errors import AespecError, Span

# the criteria a rubric may name, in the fixed order of the gradebook's columns
CRITERIA = ("checks", "params", "code", "techniques", "trains", "test", "collapse")
BEATS = ("mean", "pca")
MAX_RUBRIC = 1_000_000  # characters


@dataclass(frozen=True)
class Criterion:
    name: str
    points: float
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rubric:
    """What `aespec grade` grades: the criteria with their points, and the rules for a
    hand-in (which block, the smoke training, the limits of each hand-in)."""

    path: str
    criteria: tuple[Criterion, ...]
    block: str = "only"  # "only", "last", or a model name
    data: str | None = None  # the smoke training's data, in place of the spec's data line
    epochs: int = 3
    seed: int = 0
    timeout: float = 60.0  # seconds of one hand-in's smoke training
    memory_mb: int = 4096  # a worker's resident memory, and the check-time estimate

    @property
    def out_of(self) -> float:
        return sum(c.points for c in self.criteria)

    @property
    def trains(self) -> bool:
        return any(c.name in ("trains", "test", "collapse") for c in self.criteria)

    def get(self, name: str) -> Criterion | None:
        return next((c for c in self.criteria if c.name == name), None)


_SETTINGS = {"block": str, "data": str, "epochs": int, "seed": int, "timeout": (int, float),
             "memory_mb": int}
_OPTIONS: dict[str, dict[str, Any]] = {
    "checks": {"warnings": bool},
    "params": {"max": int},
    "code": {"max": int},
    "techniques": {"require": list, "kind": str},
    "trains": {},
    "test": {"beats": str, "ratio": (int, float)},
    "collapse": {"spread": (int, float)},
}


def load_rubric(path: str | Path) -> Rubric:
    """Read and validate a rubric; E643 for anything wrong with it."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")[:MAX_RUBRIC + 1]
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad(name, f"cannot read the rubric: {getattr(exc, 'strerror', None) or exc}",
                   "give a TOML file, or a Markdown page with a ```toml block") from None
    offset = 0
    if name.endswith((".md", ".markdown")):
        text, offset = _toml_block(text, name)
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        span = Span.point(int(line.group(1)) + offset, 1) if line else None
        raise AespecError.of("E643", f"the rubric is not valid TOML: {exc}", span,
                             "see docs/grading.md for the rubric's format", name) from None
    return _rubric(table, name)


def _toml_block(text: str, name: str) -> tuple[str, int]:
    """The first ```toml block of a page that has a [criteria] table, and its line offset."""
    for m in re.finditer(r"^(`{3,}|~{3,})toml[^\n]*\n(.*?)^\1", text, re.M | re.S):
        if re.search(r"^\s*\[criteria", m.group(2), re.M):
            return m.group(2), text[:m.start(2)].count("\n")
    raise _bad(name, "the page has no ```toml block with a [criteria] table",
               "put the rubric in a fenced block marked toml (docs/grading.md)")


def _bad(name: str, message: str, hint: str) -> AespecError:
    return AespecError.of("E643", message, None, hint, name)


def _check_type(name: str, key: str, value: Any, kind: Any) -> None:
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        want = {str: "a string", int: "an integer", bool: "true or false", list: "a list"
                }.get(kind, "a number")
        raise _bad(name, f"`{key}` is {value!r}, not {want}", "see docs/grading.md")


def _rubric(table: dict[str, Any], name: str) -> Rubric:
    criteria_table = table.pop("criteria", None)
    settings = table.pop("grade", {})
    if table:
        raise _bad(name, f"unknown table or key: {', '.join(sorted(table))}",
                   "a rubric has a [grade] table of settings and [criteria.NAME] tables")
    if not isinstance(criteria_table, dict) or not criteria_table:
        raise _bad(name, "the rubric names no criteria",
                   f"add [criteria.NAME] tables, NAME one of {', '.join(CRITERIA)}")
    if not isinstance(settings, dict):
        raise _bad(name, "`grade` must be a table", "write [grade] on a line of its own")
    for key, value in settings.items():
        if key not in _SETTINGS:
            raise _bad(name, f"unknown setting grade.{key}",
                       f"the settings are {', '.join(_SETTINGS)}")
        _check_type(name, f"grade.{key}", value, _SETTINGS[key])
    unknown = sorted(set(criteria_table) - set(CRITERIA))
    if unknown:
        raise _bad(name, f"unknown criterion {unknown[0]!r}",
                   f"the criteria are {', '.join(CRITERIA)}")
    criteria = [_criterion(name, c, criteria_table[c]) for c in CRITERIA if c in criteria_table]
    rubric = Rubric(name, tuple(criteria), **settings)
    if rubric.epochs < 1 or rubric.timeout <= 0 or rubric.memory_mb < 1:
        raise _bad(name, "grade.epochs, grade.timeout and grade.memory_mb must be positive",
                   "e.g. epochs = 3, timeout = 60, memory_mb = 4096")
    return rubric


def _criterion(name: str, key: str, body: Any) -> Criterion:
    if not isinstance(body, dict):
        raise _bad(name, f"criteria.{key} must be a table", f"write [criteria.{key}]")
    body = dict(body)
    points = body.pop("points", None)
    if not isinstance(points, (int, float)) or isinstance(points, bool) or points < 0:
        raise _bad(name, f"criteria.{key} needs `points`, a number at least 0",
                   f"e.g. [criteria.{key}] points = 2")
    for option, value in body.items():
        if option not in _OPTIONS[key]:
            raise _bad(name, f"unknown option criteria.{key}.{option}",
                       f"criteria.{key} takes points"
                       + "".join(f", {o}" for o in _OPTIONS[key]))
        _check_type(name, f"criteria.{key}.{option}", value, _OPTIONS[key][option])
    if key in ("params", "code") and "max" not in body:
        raise _bad(name, f"criteria.{key} needs `max`", "e.g. max = 10000")
    if key == "test" and body.get("beats", "mean") not in BEATS:
        raise _bad(name, f"criteria.test.beats is {body['beats']!r}",
                   "beats = \"mean\" (the mean image) or \"pca\" (PCA with the code's size)")
    if key == "techniques":
        from aespec.graph.describe import TECHNIQUES

        for t in body.get("require", []):
            if t not in TECHNIQUES:
                raise _bad(name, f"unknown technique {t!r}",
                           f"the techniques are {', '.join(TECHNIQUES)}")
    return Criterion(key, float(points), body)
