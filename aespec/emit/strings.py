"""Text of others written into the emitted file: string literals, docstrings and comments.

A spec's doc string and data paths, its file's name (the model's name when there is no
`model` line) and the `-o` name come from whoever wrote them.  Each reaches the emitted file
only through these functions: a literal or a docstring reads back as exactly the value, a
comment shows it on its one line, so no value can end a string or a comment early and write
code of its own.  Every character Python does not print (a line break, NUL, U+2028, a lone
surrogate from an undecodable file name) is written as its escape.
"""

from __future__ import annotations

from collections.abc import Callable

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_char(ch: str) -> str:
    """`ch` as a string literal's escape: `\\n`, `\\x00`, `\\u2028`, `\\udcff`, `\\U0001f600`."""
    code = ord(ch)
    if ch in _SHORT:
        return _SHORT[ch]
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _shown(ch: str) -> bool:
    # a lone surrogate is not printable either, so it is always escaped (and the file's
    # text stays encodable as UTF-8)
    return ch.isprintable()


def literal(text: str) -> str:
    """A double-quoted Python string literal whose value is exactly `text`."""
    return '"' + "".join(
        "\\" + ch if ch in '"\\' else ch if _shown(ch) else escape_char(ch)
        for ch in text) + '"'


def doc_text(text: str) -> str:
    """`text` for the inside of a `\"\"\"` docstring, reading back as exactly `text`.

    A backslash is doubled; a `"` is escaped when another follows it or it ends `text`, so
    no three can close the docstring (one between letters stays as written)."""
    out = []
    for i, ch in enumerate(text):
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"' if text[i + 1:i + 2] in ('"', "") else ch)
        else:
            out.append(ch if _shown(ch) else escape_char(ch))
    return "".join(out)


def comment_text(text: str) -> str:
    """`text` for a `#` comment: what Python would not print is escaped, so it stays on
    its line (a backslash or a quote in a comment is only text)."""
    return "".join(ch if _shown(ch) else escape_char(ch) for ch in text)


def clip(text: str, width: int, write: Callable[[str], str] = doc_text,
         more: str = "...") -> str:
    """`write(text)`, or when longer than `width` the longest start of `text` that fits
    written, then `more`: cut before it is escaped, so no escape is cut in half."""
    whole = write(text)
    if len(whole) <= width:
        return whole
    room, lo, hi = width - len(more), 0, len(text)
    while lo < hi:  # the written length never shrinks as the start grows: bisect it
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if len(write(text[:mid])) <= room else (lo, mid - 1)
    return write(text[:lo]) + more
