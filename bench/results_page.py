"""docs/results.md holds several benches' sections: bench/quality.py writes the page's head
and appends each generated section, and each bench rewrites its own section alone
(`--page`), so that one bench's figures never wipe another's."""

from __future__ import annotations

import pathlib

PAGE = pathlib.Path(__file__).resolve().parent.parent / "docs" / "results.md"


def replace_section(heading: str, text: str) -> None:
    """Put `text` where the page's section starting with `heading` stands (to the next
    `## ` heading), or at the end of the page; the other sections stay as they are."""
    head, found, rest = PAGE.read_text(encoding="utf-8").partition(heading)
    tail = rest[rest.find("\n## "):] if found and "\n## " in rest else ""
    PAGE.write_text(head.rstrip("\n") + "\n" + text + tail, encoding="utf-8")
