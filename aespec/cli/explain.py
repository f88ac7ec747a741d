"""`aespec explain CODE`: the catalogue entry of a diagnostic code, with its example."""

from __future__ import annotations

import textwrap

import typer

from aespec.cli.app import app
from aespec.cli.common import err, out
from aespec.codes import CODES, explain
from aespec.errors import did_you_mean


@app.command("explain")
def explain_command(
    code: str = typer.Argument(..., metavar="CODE", help="A diagnostic code: E203, W401, ..."),
) -> None:
    """Explain a diagnostic code: what it means, how to fix it, an example."""
    entry = explain(code)
    if entry is None:
        hint = did_you_mean(code.strip().upper(), CODES) or f"codes: {', '.join(CODES)}"
        err.print(f"aespec explain: unknown code {code!r}; {hint}", markup=False)
        raise typer.Exit(2)
    out.print(f"{entry.code}: {entry.title} ({entry.severity}, {entry.stage} stage)\n",
              markup=False)
    out.print(textwrap.fill(entry.explanation, width=88), markup=False)
    if not entry.example_is_spec:
        out.print(f"\nexample: {entry.example}", markup=False)
        return
    from aespec.cli.reference import example_output  # runs the checker on the example

    out.print("\nexample:\n" + textwrap.indent(entry.example.rstrip("\n"), "    "),
              markup=False)
    out.print("\ngives:\n" + textwrap.indent(example_output(entry), "    "), markup=False)
