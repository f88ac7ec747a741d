"""Specs inside Markdown: the fenced blocks tagged `ae` of a `.md` file, one spec each.

    ```ae
    input vector(64)
    ...
    ```

Each block becomes the text of the whole file with every line outside the block blanked,
so the parser's lines and columns are the Markdown file's own: a diagnostic in block 2
points at `notes.md:LINE:COL` with no mapping back. Blank lines and the fences themselves
parse as nothing. That text is a page's worth of characters, so a block builds it when asked
(`AeBlock.source`) instead of keeping it; and a page holds at most MAX_BLOCKS blocks (E004),
so that checking every block stays a bounded amount of work.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from aespec.errors import AespecError, Span
from aespec.parse.syntax import MAX_SOURCE, read_bounded

SUFFIXES = (".md", ".markdown")
MAX_MARKDOWN = 16 * MAX_SOURCE  # characters read from a .md file (a course page, not a book)
MAX_BLOCKS = 100  # ```ae blocks in one page (each is checked with a page-long text)
MAX_BLOCK_NAME = 100  # characters of a --block value: a number or a model name
_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})[ \t]*(\S*)[^\n]*$")
_MODEL = re.compile(r"^[ \t]*model[ \t]+([A-Za-z_][A-Za-z0-9_]*)", re.M)


@dataclass(frozen=True)
class AeBlock:
    """One ```ae block: its 1-based `index` among the file's ae blocks, the line its first
    spec line is on, the model name it declares (None without a `model` line), its `body`
    (its `count` lines) and `total`, the number of lines in the page."""

    index: int
    line: int
    name: str | None
    body: str
    count: int
    total: int

    @property
    def source(self) -> str:
        """The whole file's text with everything but this block blanked (built each time:
        a page's worth of characters)."""
        if not self.count:
            return "\n" * (self.total - 1)
        return "\n" * (self.line - 1) + self.body + "\n" * (self.total - self.line + 1 -
                                                           self.count)

    def describe(self) -> str:
        """`#2 tiny (line 14)`: how a list of blocks names this one."""
        return f"#{self.index}{' ' + self.name if self.name else ''} (line {self.line})"


def is_markdown(path: str | Path) -> bool:
    return Path(path).suffix.lower() in SUFFIXES


def read_markdown(path: str | Path) -> str:
    """A Markdown file's text, at most MAX_MARKDOWN characters; E001 or E106 as `read_spec`,
    E004 for a page of more than MAX_BLOCKS ```ae blocks."""
    text = read_bounded(path, MAX_MARKDOWN)
    if len(text) > MAX_MARKDOWN:
        raise AespecError.of("E106", f"the Markdown file is longer than {MAX_MARKDOWN:,} "
                             "characters", Span.point(1, 1), "keep the specs in a smaller "
                             "page, or in .ae files", str(path))
    ae_blocks(text, str(path))  # E004 here, where the error can name the file
    return text


def ae_blocks(text: str, path: str | None = None) -> list[AeBlock]:
    """Every fenced block whose info string is `ae`, in order (CommonMark fences: three or
    more backticks or tildes, indented at most three spaces, closed by a fence of the same
    character at least as long; a block left open runs to the end of the file). One pass
    over the lines; E004 past MAX_BLOCKS blocks, naming `path` where given."""
    lines = text.split("\n")
    blocks: list[AeBlock] = []
    for start, end, info in _fences(lines):
        if info not in ("ae", "aespec"):
            continue
        if len(blocks) == MAX_BLOCKS:
            raise AespecError.of("E004", f"the Markdown file has more than {MAX_BLOCKS} ```ae "
                                 "blocks", Span.point(start, 1), "split the page, or keep "
                                 "the specs in .ae files", path)
        blocks.append(_block(lines, start, end, len(blocks) + 1))
    return blocks


def _fences(lines: list[str]) -> Iterator[tuple[int, int, str]]:
    """(first, end, info) of each fenced block: its content is lines first..end-1."""
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i].rstrip("\r"))
        if m is None:
            i += 1
            continue
        end = _closing(lines, i + 1, m.group(2))
        yield i + 1, end, m.group(3)
        i = end + 1


def _closing(lines: list[str], start: int, fence: str) -> int:
    """The index of the line that closes `fence`, or len(lines) when none does."""
    close = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
    return next((j for j in range(start, len(lines)) if close.match(lines[j].rstrip("\r"))),
                len(lines))


def _block(lines: list[str], start: int, end: int, index: int) -> AeBlock:
    """Lines start..end-1 as they are (a fence's indentation is spaces, which the parser
    skips); `source` blanks every other line."""
    body = "\n".join(lines[start:end])
    found = _MODEL.search(body)
    return AeBlock(index, start + 1, found.group(1) if found else None, body, end - start,
                   len(lines))


def select_block(blocks: list[AeBlock], block: str | int | None, path: str) -> AeBlock:
    """The one block a command works on: `block` is its 1-based number or its model name;
    None is allowed when the file has exactly one. E214 when several are there and none is
    named, E215 when the file has none, E216 when `block` names none of them."""
    if not blocks:
        raise AespecError.of("E215", f"{path} has no ```ae block", None,
                             "mark each spec in the page with a fence: ```ae on the line "
                             "before it, ``` on the line after", path)
    listing = ", ".join(b.describe() for b in blocks)
    if block is None:
        if len(blocks) == 1:
            return blocks[0]
        raise AespecError.of("E214", f"{path} has {len(blocks)} ```ae blocks: {listing}", None,
                             f"pick one with --block N (1 to {len(blocks)}) or --block NAME",
                             path)
    text = str(block).strip()
    # ASCII digits, few of them: int() of "²" or of 5,000 digits raises ValueError
    number = int(text) if text.isascii() and text.isdigit() and len(text) <= 6 else None
    for b in blocks:
        if number == b.index or text == b.name:
            return b
    shown = text if len(text) <= 40 else text[:40] + "..."
    raise AespecError.of("E216", f"{path} has no ```ae block {shown!r}; its blocks: "
                         f"{listing}", None, f"--block takes a number from 1 to "
                         f"{len(blocks)} or a model name", path)
