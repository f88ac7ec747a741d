"""Specs inside Markdown: the fenced blocks tagged `ae` of a `.md` file, one spec each.

    ```ae
    input vector(64)
    ...
    ```

Each block becomes the text of the whole file with every line outside the block blanked,
so the parser's lines and columns are the Markdown file's own: a diagnostic in block 2
points at `notes.md:LINE:COL` with no mapping back. Blank lines and the fences themselves
parse as nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from aespec.errors import AespecError, Span
from aespec.parse.syntax import MAX_SOURCE, read_bounded

SUFFIXES = (".md", ".markdown")
MAX_MARKDOWN = 16 * MAX_SOURCE  # characters read from a .md file (a course page, not a book)
_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})[ \t]*(\S*)[^\n]*$")
_MODEL = re.compile(r"^[ \t]*model[ \t]+([A-Za-z_][A-Za-z0-9_]*)", re.M)


@dataclass(frozen=True)
class AeBlock:
    """One ```ae block: its 1-based `index` among the file's ae blocks, the line its first
    spec line is on, the model name it declares (None without a `model` line), and `source`,
    the whole file's text with everything but this block blanked."""

    index: int
    line: int
    name: str | None
    source: str

    def describe(self) -> str:
        """`#2 tiny (line 14)`: how a list of blocks names this one."""
        return f"#{self.index}{' ' + self.name if self.name else ''} (line {self.line})"


def is_markdown(path: str | Path) -> bool:
    return Path(path).suffix.lower() in SUFFIXES


def read_markdown(path: str | Path) -> str:
    """A Markdown file's text, at most MAX_MARKDOWN characters; E001 or E106 as `read_spec`."""
    text = read_bounded(path, MAX_MARKDOWN)
    if len(text) > MAX_MARKDOWN:
        raise AespecError.of("E106", f"the Markdown file is longer than {MAX_MARKDOWN:,} "
                             "characters", Span.point(1, 1), "keep the specs in a smaller "
                             "page, or in .ae files", str(path))
    return text


def ae_blocks(text: str) -> list[AeBlock]:
    """Every fenced block whose info string is `ae`, in order (CommonMark fences: three or
    more backticks or tildes, indented at most three spaces, closed by a fence of the same
    character at least as long; a block left open runs to the end of the file)."""
    lines = text.split("\n")
    blocks: list[AeBlock] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i].rstrip("\r"))
        if m is None:
            i += 1
            continue
        fence, info = m.group(2), m.group(3)
        end = _closing(lines, i + 1, fence)
        if info == "ae":
            blocks.append(_block(lines, i + 1, end, len(blocks) + 1))
        i = end + 1
    return blocks


def _closing(lines: list[str], start: int, fence: str) -> int:
    """The index of the line that closes `fence`, or len(lines) when none does."""
    close = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
    return next((j for j in range(start, len(lines)) if close.match(lines[j].rstrip("\r"))),
                len(lines))


def _block(lines: list[str], start: int, end: int, index: int) -> AeBlock:
    """Lines start..end-1 kept as they are (a fence's indentation is spaces, which the
    parser skips), every other line blanked."""
    kept = ["" for _ in lines]
    kept[start:end] = lines[start:end]
    source = "\n".join(kept)
    found = _MODEL.search("\n".join(lines[start:end]))
    return AeBlock(index, start + 1, found.group(1) if found else None, source)


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
    for b in blocks:
        if (text.isdigit() and int(text) == b.index) or text == b.name:
            return b
    raise AespecError.of("E216", f"{path} has no ```ae block {text!r}; its blocks: {listing}",
                         None, f"--block takes a number from 1 to {len(blocks)} or a model "
                         "name", path)
