"""`aespec eval RUN_DIR`: a trained run's test loss by term and per-example errors."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from aespec.cli.app import app
from aespec.cli.common import DataOption, fail, out
from aespec.cli.run import DeviceOption, check_device
from aespec.errors import AespecError

CheckpointOption = typer.Option("best", "--checkpoint", metavar="best|last",
                                help="Weights to load: best.pt or checkpoint.pt.")


def open_run(run_dir: Path, which: str, device: Optional[str]):
    """The run read back, or the CLI's error exit."""
    if which not in ("best", "last"):
        raise typer.BadParameter(f"{which!r} is not best or last", param_hint="'--checkpoint'")
    check_device(device)
    from aespec.train import load_run

    return load_run(run_dir, which=which, device=device or "auto")


def _json_safe(value: Any) -> Any:
    """NaN and infinities (a diverged model's loss) as null: JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


@app.command("eval")
def eval_command(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="A directory from aespec run."),
    data: Optional[str] = DataOption,
    which: str = CheckpointOption,
    device: Optional[str] = DeviceOption,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Evaluate a trained run on the test split of its data (or of --data)."""
    try:
        loaded = open_run(run_dir, which, device)
        from aespec.train.evaluate import evaluate, recon_errors

        split = loaded.data(data).test
        terms = evaluate(loaded.model, split)
        errors = recon_errors(loaded.model, split)
    except AespecError as error:
        raise fail(error) from None
    stats = {"mean": errors.mean().item(), "median": errors.median().item(),
             "p95": errors.quantile(0.95).item(), "max": errors.max().item()}
    if as_json:
        record = {"run": str(run_dir), "checkpoint": which, "data": data or loaded.info["data"],
                  "n": len(split), "test": terms, "recon_error": stats}
        out.print(json.dumps(_json_safe(record), allow_nan=False), markup=False,
                  highlight=False, soft_wrap=True)
        return
    table = Table(title=f"{loaded.spec.name}: {which} weights, {len(split)} test examples",
                  title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("term")
    table.add_column("test", justify="right")
    for term, value in terms.items():
        table.add_row(term, f"{value:.6g}")
    out.print(table)
    out.print("reconstruction error per example: " + "  ".join(
        f"{k} {v:.5g}" for k, v in stats.items()), markup=False)
