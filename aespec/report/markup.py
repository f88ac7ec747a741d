"""HTML built so that a value is text unless the page wrote it: escaped by default.

    >>> html('<td class="{}">{}</td>', "num", "<b>")
    '<td class="num">&lt;b&gt;</td>'

The pages show what a run folder holds (names, messages, metric names and values, paths),
and a run folder may come from anyone.  So a template is the page's own markup, a string
literal in this package, and every value put into it is escaped (quotes too, so it is
safe inside an attribute) unless it is `Html`: markup this package made with `html`,
`join` or a trusted writer (Pygments, the chart code).  A value is never a template.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any


class Html(str):
    """Text that is already HTML, written by this package; every other str is escaped."""

    __slots__ = ()


def text(value: Any) -> Html:
    """`value` as HTML text: escaped, quotes included, unless it is `Html`; None is empty."""
    if isinstance(value, Html):
        return value
    return Html(escape("" if value is None else str(value), quote=True))


def html(template: str, *values: Any) -> Html:
    """The page's own markup `template` with each `{}` filled by a value escaped by `text`."""
    return Html(template.format(*(text(v) for v in values)))


def join(parts: Iterable[Any], sep: str = "") -> Html:
    """Parts one after another, each escaped unless it is `Html` (`sep` is markup)."""
    return Html(sep.join(text(p) for p in parts))


def shorten(value: Any, limit: int = 120) -> str:
    """A value as at most `limit` characters of text (a cell, not a file's worth)."""
    said = "" if value is None else str(value)
    return said if len(said) <= limit else said[:limit - 1] + "\u2026"
