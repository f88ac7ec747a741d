"""`aespec sweep SPEC --set z=2,8,32 [--set train.seed=0,1] [--jobs N]`: a grid of runs
under one sweep directory, and their comparison (docs/sweeps.md)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Optional

import typer

from aespec.cli.app import app
from aespec.cli.common import err, fail, out
from aespec.errors import AespecError

INTERRUPTED = 130  # the shell's code for a command stopped by Ctrl-C (as `aespec run`)

SweepSetOption = typer.Option(..., "--set", metavar="NAME=V1,V2,...",
                              help="A let or train key and its values (repeatable; a single "
                                   "value is fixed for every point): --set z=2,8,32.")


def _progress(point: Any, outcome: dict, done: int, total: int, metric: str) -> None:
    said = " ".join(f"{k}={v}" for k, v in point.values)
    if outcome["status"] == "failed":
        err.print(f"[{done}/{total}] {said}: failed: {outcome.get('error')}", markup=False)
        return
    if outcome["status"] in ("interrupted", "not run"):
        err.print(f"[{done}/{total}] {said}: {outcome['status']}", markup=False)
        return
    part, _, term = metric.partition(".")
    value = (outcome.get(part) or {}).get(term) if term else outcome.get(metric)
    shown = f"{value:.5g}" if isinstance(value, (int, float)) else "-"
    out.print(f"[{done}/{total}] {said}: {metric} {shown} ({outcome['seconds']:.1f} s)",
              markup=False)


@app.command("sweep")
def sweep_command(
    spec: Path = typer.Argument(..., metavar="SPEC", help="Spec file (.ae)."),
    set_: list[str] = SweepSetOption,
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1, metavar="N",
                                       help="Points at once [default: one per core]."),
    executor: str = typer.Option("local", "--executor", metavar="local|ray",
                                 help="local processes, or a Ray cluster (pip install "
                                      "aespec[ray])."),
    address: Optional[str] = typer.Option(None, "--address", metavar="ADDR",
                                          help="A running Ray cluster (with --executor ray)."),
    metric: Optional[str] = typer.Option(
        None, "--metric", metavar="PART.TERM",
        help="What the figure plots: test.loss, val.mse, seconds... [default: test.loss; a "
             "GAN's val.frechet_distance with sample_quality, else train.generator]"),
    out_dir: Optional[Path] = typer.Option(None, "--out", metavar="DIR",
                                           help="Sweep directory [default: sweeps/<name>-"
                                                "<time>]."),
    data: Optional[str] = typer.Option(None, "--data", metavar="SRC",
                                       help="Data source instead of the spec's `data` line."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, metavar="N",
                                         help="Epochs of every point (train.epochs)."),
    no_report: bool = typer.Option(False, "--no-report",
                                   help="Skip each point's report-block figures."),
    batched: str = typer.Option("auto", "--batched", metavar="auto|on|off",
                                help="Train points that differ only in seeds, optimizer "
                                     "numbers or loss weights together as one vmapped model: "
                                     "where it pays (auto), wherever they can (on), never."),
) -> None:
    """Run a grid of --set values, one run directory per point; write the comparison."""
    from aespec.sweep import sweep

    if executor not in ("local", "ray"):
        raise typer.BadParameter(f"{executor!r} is not local or ray", param_hint="'--executor'")
    if batched not in ("auto", "on", "off"):
        raise typer.BadParameter(f"{batched!r} is not auto, on or off", param_hint="'--batched'")
    total: list[int] = []

    def progress(point: Any, outcome: dict, done: int, chosen: str) -> None:
        _progress(point, outcome, done, len(total) or done, chosen)

    try:
        from aespec.sweep.grid import grid, parse_axes

        total.extend(range(len(grid(parse_axes(list(set_))[0]))))
        result = sweep(spec, list(set_), jobs=jobs, executor=executor, address=address,
                       metric=metric, out=out_dir, data=data, epochs=epochs,
                       report=not no_report, batched=batched, progress=progress,
                       note=lambda text: err.print(f"note: {text}", markup=False))
    except AespecError as error:
        raise fail(error, _source(spec)) from None
    except KeyboardInterrupt:  # a Ctrl-C while the sweep was writing its comparison
        err.print("interrupted; sweep.json says what ran", markup=False)
        raise typer.Exit(INTERRUPTED) from None
    ran = "stopped after" if result.interrupted else f"{len(result.points)} points in"
    out.print(f"{ran} {result.seconds:.1f} s ({result.jobs} at once, {result.threads} threads "
              f"each); sweep directory: {result.sweep_dir}", markup=False)
    if result.groups:
        out.print(f"batched: {sum(len(g) for g in result.groups)} points in "
                  f"{len(result.groups)} group(s), each trained as one vmapped model",
                  markup=False)
    if batched == "on" and result.alone:
        i, why = next(iter(result.alone.items()))
        out.print(f"apart: {len(result.alone)} point(s), e.g. {result.points[i].name}: {why}",
                  markup=False)
    for kind, path in result.files.items():
        out.print(f"{kind}: {path}", markup=False)
    if result.interrupted:
        raise typer.Exit(_interrupted(result))
    if result.failed:
        raise fail(AespecError.of("E616", f"{len(result.failed)} of {len(result.points)} "
                                  "points failed", hint=f"their errors are in "
                                  f"{result.sweep_dir / 'sweep.json'}",
                                  file=str(result.sweep_dir)))


def _interrupted(result: Any) -> int:
    """What a Ctrl-C left: the points stopped (each resumable) and those not run."""
    for r in result.rows:
        if r["status"] == "interrupted":
            err.print(f"interrupted: {r['point']}; continue it with: aespec run --resume "
                      f"{r['run_dir']}", markup=False)
    counts = Counter(r["status"] for r in result.rows)
    err.print("sweep interrupted: " + ", ".join(f"{n} {status}" for status, n in
                                                counts.items()), markup=False)
    return INTERRUPTED


def _source(spec: Path) -> str | None:
    try:
        return spec.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
