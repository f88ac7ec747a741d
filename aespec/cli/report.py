"""`aespec report RUN_DIR [-o FILE]`: (re)build a run's page, report.html.

The page is written at the end of every `aespec run`; this command rebuilds it, for a run
from an older aespec, or after its figures changed. It loads no model. The run folder may
come from anyone: what the page leaves out of it (a figure that is a link or not a PNG, a
metrics file cut at its limit) is said on the page and here, as warnings (E621).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Optional

import typer

from aespec.cli.app import app
from aespec.cli.common import err, fail, out
from aespec.errors import AespecError, Diagnostic


def warn_left_out(notes: Iterable[Diagnostic]) -> None:
    """Each note of what a page left out, gcc-style on stderr: `FILE: warning[E621]: ...`
    (the page is still written, so these are warnings though the code is an E)."""
    for d in notes:
        err.print(f"{d.file}: warning[{d.code}]: {d.message}", style="yellow", markup=False,
                  highlight=False)


@app.command("report")
def report_command(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="A directory from aespec run."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", metavar="FILE",
                                          help="Where to write [default: RUN_DIR/report.html]."),
) -> None:
    """Write a run's page: metrics, curves, figures, diagram, spec and settings in one file."""
    from aespec.report.page import run_page
    from aespec.train.pages import PAGE, read_run_page
    from aespec.train.rundir import atomic_write, cannot_write

    target = output if output is not None else run_dir / PAGE
    try:
        page = read_run_page(run_dir)
        warn_left_out(page.notes)
        html = run_page(page)
        try:
            atomic_write(target, lambda fh: fh.write(html.encode("utf-8")))
        except OSError as exc:
            raise cannot_write(target, exc) from None
    except AespecError as error:
        raise fail(error) from None
    out.print(f"wrote {target}", markup=False)
