"""The fuzz campaign's doors for files and messages from others (bench/fuzz.py runs them).

    markdown   Markdown pages with ```ae fences through the block extraction and check
    lsp        JSON-RPC messages and framed byte streams through the language server
    report     run folders, mutated, through the report and compare page builders
    images     image folders of lying files through the images data loader
    emit       hostile names, docs, file names and data paths through emit_source
    files      (data, run) the first doors' data files and run directories

Each door module has `inputs(rng, n, folder)`, yielding `(kind, shown, fn)`: the kind of
input (the campaign stops feeding a kind once it has hung three times, so one slow kind
cannot eat the campaign), what the report shows of it, and the call to make. A call that
breaks a promise without raising (a page that holds an injected tag, code that does not
compile) raises `Finding`; any other exception that is not an AespecError is one too.
"""

from __future__ import annotations

import os
from pathlib import Path

# strings from someone else: markup, quotes, escapes, separators, control characters
HOSTILE = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>',
           "'><svg onload=alert(1)>", "</style><script>alert(1)</script>",
           "</textarea><img src=x onerror=alert(1)>", '" onmouseover="alert(1)', "{{7*7}}",
           '"', "'", "\\", '"""', "'''", "\\N", "\\x", "\n", "\r\n", "\r", "\x00", "\t",
           "\u2028", "\u2029", "\x85", "\ud800", "\udfff", "\ufeff", "\u202e", "é",
           "%s%n", "../../../etc/passwd", "A" * 100_000, ""]


class Hang(Exception):  # noqa: N818 - the campaign's alarm, not an error
    """Raised by the campaign's timer when an input takes longer than it may."""


class Finding(Exception):  # noqa: N818 - not an error of aespec's: a broken promise
    """An input that broke a promise without raising: the promise, in words."""


def cycle(kinds: list, i: int):
    """The i-th input's kind: every kind in turn, so that a short campaign sees them all."""
    return kinds[i % len(kinds)]


def sparse(path: Path, size: int = 64 << 30) -> None:
    """A file that claims `size` bytes and holds none (64 GiB: past the campaign's limit)."""
    with open(path, "wb") as fh:
        fh.truncate(size)


def fifo(path: Path) -> None:
    """A named pipe nobody writes to: opening it for reading waits forever."""
    os.mkfifo(path)
