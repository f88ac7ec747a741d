"""`aespec ops [SECTION | NAME]`: the registry's tables, the same text as docs/ops.md.

Both come from `aespec.cli.reference.render_ops`, so the command and the page cannot differ.
"""

from __future__ import annotations

import re
from typing import Optional

import typer

from aespec.cli.app import app
from aespec.cli.common import err, out


def ops_text(section: str | None = None) -> str:
    """docs/ops.md without its generated-file comment; with `section`, only the `##`
    sections whose heading contains that word (`noise`, `losses`, `train`...)."""
    from aespec.cli.reference import render_ops

    text = render_ops().split("\n", 1)[1].lstrip("\n")  # the first line is the comment
    if section is None:
        return text
    parts = re.split(r"(?m)^(?=## )", text)
    word = section.strip().lower()
    found = "\n".join(p for p in parts[1:] if word in p.split("\n", 1)[0].lower())
    return found or _entries(parts[1:], word)


def _entries(sections: list[str], name: str) -> str:
    """`aespec ops dense`: the rows whose first cell is the op, setting or source `name`,
    each under its section's heading and table header."""
    row = re.compile(rf"^\| `{re.escape(name)}(\(|`| )")
    kept = []
    for part in sections:
        lines = part.split("\n")
        header = None
        for i, line in enumerate(lines):
            if line.startswith("|---"):
                header = lines[i - 1:i + 1]
            elif header and row.match(line):
                kept.append("\n".join([lines[0], "", *header, line]) + "\n")
    return "\n".join(kept)


@app.command("ops")
def ops_command(
    section: Optional[str] = typer.Argument(None, metavar="SECTION",
                                            help="Only the sections whose heading has this "
                                                 "word: inputs, layers, noise, losses, "
                                                 "regularizers, data, train, report; or "
                                                 "one op, source or key by its name."),
) -> None:
    """Print every op, input, data source and setting, with arguments and defaults."""
    text = ops_text(section)
    if not text:
        err.print(f"aespec ops: no section or op matches {section!r}; sections: inputs, "
                  "layers, noise, losses, regularizers, data, train, report; or an op's "
                  "name (aespec ops dense)", markup=False)
        raise typer.Exit(2)
    out.print(text.rstrip("\n"), markup=False, highlight=False)
