"""`aespec check FILE... [--json]`: diagnostics, the op table, code shape and objective.

Never imports torch: checking is parsing, validation and shape inference only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from aespec.cli.app import app
from aespec.cli.common import SetOption, out, overrides, print_diagnostics
from aespec.graph.checking import CheckResult, check_file
from aespec.graph.memory import describe, estimate
from aespec.graph.summary import objective_text, table_rows


def _shape(s) -> str:
    return "(" + ", ".join(map(str, s)) + ("," if len(s) == 1 else "") + ")" if s else "-"


def print_summary(result: CheckResult) -> None:
    """The op table, the code shape, the parameter total and the objective."""
    from rich.table import Table  # here: `check --json` prints no table
    from rich.text import Text

    g, spec = result.ir, result.spec
    assert g is not None and spec is not None  # only called for specs that checked
    title = f"{spec.name}" + (f": {spec.doc}" if spec.doc else "")
    table = Table(title=Text(title), title_justify="left", show_edge=False, pad_edge=False)
    for col in ("line", "block", "op", "output", "params", ""):
        table.add_column(col, justify="right" if col in ("line", "params") else "left")
    for row in table_rows(g):
        table.add_row(str(row.line), row.block, row.op, _shape(row.shape),
                      f"{row.params:,}" if row.params else "", row.note)
    out.print(table)
    out.print(f"code z: {_shape(g.graph['z'])}    input: {_shape(spec.input.shape)}    "
              f"parameters: {g.graph['params']:,}", markup=False)
    out.print(f"objective: {objective_text(g)}", markup=False)
    out.print(f"memory of one training step: {describe(estimate(spec, g))}", markup=False)


@app.command("check")
def check_command(
    files: list[Path] = typer.Argument(..., metavar="FILE...", help="Spec files (.ae)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per file."),
    set_: Optional[list[str]] = SetOption,
) -> None:
    """Parse, validate and shape-check specs; exit 1 if any has an error."""
    failed = False
    for path in files:
        result = check_file(path, overrides(set_))
        failed |= not result.ok
        if as_json:
            out.print(json.dumps(result.to_json(), ensure_ascii=False), markup=False,
                      highlight=False, soft_wrap=True)
            continue
        print_diagnostics(result.diagnostics, result.source)
        if result.ok and result.ir is not None:
            print_summary(result)
    raise typer.Exit(1 if failed else 0)
