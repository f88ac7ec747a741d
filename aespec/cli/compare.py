"""`aespec compare RUN_DIR... [-o compare.html]`: several runs side by side in one page.

What differs between their specs, their metrics in one table, the curves of each term
overlaid, and each run's reconstructions of the same seeded test examples. torch is
imported when the command runs (the models are loaded to reconstruct). What a page leaves
out of a run folder is said on it and as warnings (E621), as `aespec report` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from aespec.cli.app import app
from aespec.cli.common import fail, out
from aespec.cli.run import DeviceOption, check_device
from aespec.errors import AespecError


@app.command("compare")
def compare_command(
    run_dirs: list[Path] = typer.Argument(..., metavar="RUN_DIR",
                                          help="Two or more directories from aespec run."),
    output: Path = typer.Option(Path("compare.html"), "--output", "-o", metavar="FILE",
                                help="Where to write the page."),
    n: int = typer.Option(8, "-n", min=1, max=32, help="Test examples to reconstruct."),
    seed: int = typer.Option(0, "--seed", help="Seeds the choice of test examples."),
    device: Optional[str] = DeviceOption,
    data_in: Optional[list[Path]] = typer.Option(
        None, "--data-in", metavar="DIR",
        help="A folder whose data files the runs may read for their reconstructions "
             "(repeatable; e.g. your project folder). Without it only data built into aespec "
             "or files inside the run folders are read: a run folder may be anyone's."),
) -> None:
    """Compare runs: spec differences, metrics, overlaid curves, the same reconstructions."""
    check_device(device)
    from aespec.cli.report import warn_left_out
    from aespec.report.compare import compare_page
    from aespec.train.loaded import compare_runs
    from aespec.train.rundir import atomic_write, cannot_write

    try:
        page = compare_runs(run_dirs, n=n, seed=seed, device=device or "auto",
                            inside=data_in or ())
        warn_left_out(d for run in page.runs for d in run.notes)
        html = compare_page(page)
        try:
            atomic_write(output, lambda fh: fh.write(html.encode("utf-8")))
        except OSError as exc:
            raise cannot_write(output, exc) from None
    except AespecError as error:
        raise fail(error) from None
    out.print(f"wrote {output}", markup=False)
