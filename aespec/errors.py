"""Diagnostics: every problem aespec reports is data with a code, a span and a message.

Checks collect diagnostics; only the CLI/API boundary decides to fail.  `AespecError`
is the one exception family; it carries the diagnostics that caused it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Span:
    """A region of a source file, 1-based lines and columns, end column exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int

    @classmethod
    def point(cls, line: int, column: int, width: int = 1) -> Span:
        return cls(line, column, line, column + max(width, 1))

    def join(self, other: Span | None) -> Span:
        if other is None:
            return self
        start = min((self.line, self.column), (other.line, other.column))
        end = max((self.end_line, self.end_column), (other.end_line, other.end_column))
        return Span(start[0], start[1], end[0], end[1])


def source_lines(source: str) -> list[str]:
    """The lines of a spec as the parser numbers them: split at `\\n` only.

    `str.splitlines` also splits at form feeds, vertical tabs, `\\x1c`-`\\x1e`, `\\x85` and
    `\\u2028`, which the parser does not count, so it would show the wrong line.
    """
    return [line.removesuffix("\r") for line in source.split("\n")]


@dataclass(frozen=True)
class Diagnostic:
    """One finding: `code` is E1xx syntax, E2xx names/arguments, E3xx shapes, W4xx theory."""

    code: str
    message: str
    span: Span | None = None
    hint: str | None = None
    file: str | None = None

    @property
    def severity(self) -> Severity:
        return "warning" if self.code.startswith("W") else "error"

    def to_json(self) -> dict:
        out: dict = {"severity": self.severity, "code": self.code, "message": self.message}
        out["hint"] = self.hint
        span = asdict(self.span) if self.span else dict.fromkeys(
            ("line", "column", "end_line", "end_column"))
        out.update(span)
        return out

    def render(self, source: str | None = None) -> str:
        """gcc-style text: `file:line:col: error[E301]: message`, the line, carets, hint."""
        where = self.file or "<spec>"
        if self.span:
            where += f":{self.span.line}:{self.span.column}"
        text = f"{where}: {self.severity}[{self.code}]: {self.message}"
        own = own_text(self.file)
        if own is not None:  # a --set or --data value: its text is its source
            source = own
        lines = source_lines(source) if source else []
        if self.span and 0 < self.span.line <= len(lines):
            src = lines[self.span.line - 1].expandtabs(1)
            end = self.span.end_column if self.span.end_line == self.span.line else len(src) + 1
            width = max(1, min(end, len(src) + 1) - self.span.column)
            text += f"\n    {src}\n    {' ' * (self.span.column - 1)}{'^' * width}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


def own_text(file: str | None) -> str | None:
    """The text of a command-line value that a diagnostic's `file` names and points into,
    `<--set train.epochs=0>` or `<--data digits(size=0)>`; None for a file."""
    for head in ("<--set ", "<--data "):
        if file and file.startswith(head) and file.endswith(">"):
            return file[len(head):-1]
    return None


def is_pseudo_file(path: str | None) -> bool:
    """True for the name of a text that is no file: `<string>` (`aespec.loads`), `<stdin>`,
    `<cell>` (the `%%aespec` magic). Such a spec has no folder, and no file name to name
    its model or its copy in a run directory."""
    return path is not None and path.startswith("<") and path.endswith(">")


class AespecError(Exception):
    """The error every aespec stage raises for a problem in user input."""

    def __init__(self, diagnostics: Diagnostic | Iterable[Diagnostic], source: str | None = None):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        #: the text of the file the diagnostics point into, when known: `str()` then shows
        #: each one's source line and carets, as the CLI does.
        self.source: str | None = source
        super().__init__("\n".join(d.render() for d in self.diagnostics))

    def __str__(self) -> str:
        return "\n".join(d.render(self.source) for d in self.diagnostics)

    def _render_traceback_(self) -> list[str]:
        """What IPython shows for an AespecError nobody caught, in place of a Python
        traceback: each diagnostic with its source line and carets (the problem is in the
        user's spec, data or run, not in the code that found it)."""
        return [f"{type(self).__name__}:", *str(self).splitlines()]

    @classmethod
    def of(cls, code: str, message: str, span: Span | None = None, hint: str | None = None,
           file: str | None = None) -> AespecError:
        return cls(Diagnostic(code, message, span, hint, file))


@dataclass
class DiagnosticBag:
    """Collects diagnostics across a stage so one run reports every problem it can."""

    file: str | None = None
    items: list[Diagnostic] = field(default_factory=list)
    _seen: set[Diagnostic] = field(default_factory=set, repr=False, compare=False)

    def add(self, code: str, message: str, span: Span | None = None,
            hint: str | None = None) -> None:
        d = Diagnostic(code, message, span, hint, self.file)
        if d not in self._seen:  # the same problem met twice (a let used twice) is one
            self._seen.add(d)
            self.items.append(d)

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        for d in diagnostics:
            d = d if d.file else Diagnostic(d.code, d.message, d.span, d.hint, self.file)
            self._seen.add(d)
            self.items.append(d)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]

    def raise_if_errors(self) -> None:
        if self.errors:
            raise AespecError(self.items)


def plural(n: int, word: str) -> str:
    """`1 epoch`, `2 epochs`: a count and its noun, in English (regular plurals only)."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def did_you_mean(name: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest of `choices` to a misspelt `name`, or None."""
    close = difflib.get_close_matches(name, sorted(set(choices)), n=3, cutoff=0.6)
    if not close:
        return None
    return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
