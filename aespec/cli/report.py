"""`aespec report RUN_DIR [-o FILE]`: (re)build a run's page, report.html.

The page is written at the end of every `aespec run`; this command rebuilds it, for a run
from an older aespec, or after its figures changed. It loads no model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from aespec.cli.app import app
from aespec.cli.common import fail, out
from aespec.errors import AespecError


@app.command("report")
def report_command(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="A directory from aespec run."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", metavar="FILE",
                                          help="Where to write [default: RUN_DIR/report.html]."),
) -> None:
    """Write a run's page: metrics, curves, figures, diagram, spec and settings in one file."""
    from aespec.train.pages import write_run_page

    try:
        path = write_run_page(run_dir, output)
    except AespecError as error:
        raise fail(error) from None
    out.print(f"wrote {path}", markup=False)
