"""`aespec check FILE... [--json] [--block N|NAME] [--set K=V] [--data SRC] [-q]`:
diagnostics, the op table, the code shape and the objective.

Never imports torch: checking is parsing, validation and shape inference only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from aespec.cli.app import app
from aespec.cli.common import (
    BlockOption,
    DataOption,
    QuietOption,
    SetOption,
    out,
    overrides,
    print_diagnostics,
)
from aespec.graph.frontend import (
    JSON_SCHEMA_VERSION,
    SCHEMA_VERSIONS,
    CheckResult,
    check_blocks,
    check_file,
    check_source,
)
from aespec.graph.memory import describe, estimate
from aespec.graph.phases import phase_rows
from aespec.graph.summary import Row, objective_text, params_text, table_rows
from aespec.parse import MAX_SOURCE


def _shape(s) -> str:
    return "(" + ", ".join(map(str, s)) + ("," if len(s) == 1 else "") + ")" if s else "-"


def print_summary(result: CheckResult) -> None:
    """The op table, the code shape, the parameter total and the objective."""
    from rich.text import Text  # here: `check --json` prints no table

    g, spec = result.ir, result.spec
    assert g is not None and spec is not None  # only called for specs that checked
    title = f"{spec.name}" + (f": {spec.doc}" if spec.doc else "")
    out.print(_table(Text(title), table_rows(g)))
    z = "noise z" if spec.is_adversarial else "code z"
    out.print(f"{z}: {_shape(g.z)}    input: {_shape(spec.input.shape)}    "
              f"parameters: {params_text(g)}", markup=False)
    out.print(f"objective: {objective_text(g)}", markup=False)
    # a GAN's step runs the discriminator on a real and a generated batch: more than this
    least = "at least " if spec.is_adversarial else ""
    out.print(f"memory of one training step: {least}{describe(estimate(spec, g))}",
              markup=False)
    if spec.phases:
        print_phases(result)


def print_phases(result: CheckResult) -> None:
    """The phase sequence: each phase's epochs, noise, objective, optimizer, frozen parts."""
    from rich.table import Table

    assert result.spec is not None and result.ir is not None
    table = Table(title="phases, in training order", title_justify="left", show_edge=False,
                  pad_edge=False)
    for col in ("line", "phase", "epochs", "noise", "objective", "optimizer", "frozen"):
        table.add_column(col, justify="right" if col == "line" else "left")
    for row in phase_rows(result.spec, result.phase_irs, result.ir):
        schedule = "" if row["schedule"] == "none" else f", {row['schedule']}"
        table.add_row(str(row["line"]), row["name"],
                      f"{row['first_epoch']}-{row['last_epoch']} ({row['epochs']})",
                      row["noise"], row["objective"], row["optimizer"] + schedule,
                      " ".join(row["freeze"]) or "-")
    out.print(table)


def _table(title: Any, rows: list[Row]) -> Any:
    """The op table: line, block, op, output shape, parameters, note."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for col in ("line", "block", "op", "output", "params", ""):
        table.add_column(col, justify="right" if col in ("line", "params") else "left")
    for row in rows:
        table.add_row(str(row.line), row.block, row.op, _shape(row.shape),
                      f"{row.params:,}" if row.params else "", row.note)
    return table


def print_shapes_to_error(result: CheckResult) -> None:
    """A spec with a shape error (E3xx): the table of the ops whose shapes were inferred,
    up to the line of the first such error, so the student sees where the sizes went."""
    from rich.text import Text

    first = next((d for d in result.diagnostics if d.severity == "error"), None)
    if result.ir is None or first is None or not first.code.startswith("E3") \
            or first.span is None:
        return
    rows = []
    try:
        for row in table_rows(result.ir):
            if row.block != "loss" and row.line <= first.span.end_line:
                rows.append(row)
    except LookupError:  # an op whose shape could not be inferred: the table stops there
        pass
    if len(rows) > 1:
        out.print(_table(Text(f"shapes up to line {first.span.end_line}"), rows))


@app.command("check")
def check_command(
    files: list[Path] = typer.Argument(..., metavar="FILE...",
                                       help="Spec files (.ae), Markdown files whose ```ae "
                                            "blocks are specs (.md), or - for standard input."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per spec "
                                 "(docs/check-json-2.schema.json)."),
    schema: int = typer.Option(JSON_SCHEMA_VERSION, "--schema", metavar="N",
                               help="The --json schema version: 2 (ops, objective, noise, "
                                    "latent, regularizers, settings) or 1.",
                               min=min(SCHEMA_VERSIONS), max=max(SCHEMA_VERSIONS)),
    set_: Optional[list[str]] = SetOption,
    block: Optional[str] = BlockOption,
    data: Optional[str] = DataOption,
    quiet: bool = QuietOption,
) -> None:
    """Parse, validate and shape-check specs; exit 1 if any has an error."""
    failed = False
    for path in files:
        for result in _results(path, overrides(set_), block, data):
            failed |= not result.ok
            if as_json:
                out.print(json.dumps(result.to_json(schema), ensure_ascii=False), markup=False,
                          highlight=False, soft_wrap=True)
                continue
            print_diagnostics(result.diagnostics, result.source, quiet)
            if not result.ok and not quiet:
                print_shapes_to_error(result)
            if result.ok and result.ir is not None and not quiet:
                if result.block is not None:
                    out.print(f"{result.label} (line {result.block.line})", markup=False)
                print_summary(result)
    raise typer.Exit(1 if failed else 0)


def _results(path: Path, sets: list[str], block: str | None, data: str | None
             ) -> list[CheckResult]:
    """What one FILE argument checks: standard input for `-`, one block of a Markdown
    file with --block, else every spec in the file."""
    if str(path) == "-":
        return [check_source(sys.stdin.read(MAX_SOURCE + 1), "<stdin>", sets, data)]
    if block is not None:
        return [check_file(path, sets, block, data)]
    return check_blocks(path, sets, data)
