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
    nll: Optional[int] = typer.Option(
        None, "--nll", min=1, metavar="K",
        help="Also estimate the test NLL -log p(x) in nats per example with K importance "
             "samples from q(z|x) (K=1: the ELBO; Burda et al. use 5000). VAEs only."),
    seed: int = typer.Option(0, "--seed", help="Seed of the --nll draws."),
) -> None:
    """Evaluate a trained run on the test split of its data (or of --data)."""
    try:
        loaded = open_run(run_dir, which, device)
        from aespec.report.imputation import imputation_scores
        from aespec.train.evaluate import evaluate, recon_errors

        dataset = loaded.dataset(data)
        split = loaded.data(dataset=dataset).test
        estimate = None if nll is None else _nll(loaded.model, split, nll, seed, as_json)
        terms = evaluate(loaded.model, split)
        terms.update(imputation_scores(loaded.model, dataset))  # missing=nan: held-out
        errors = recon_errors(loaded.model, split)
    except AespecError as error:
        raise fail(error) from None
    stats = {"mean": errors.mean().item(), "median": errors.median().item(),
             "p95": errors.quantile(0.95).item(), "max": errors.max().item()}
    if as_json:
        record = {"run": str(run_dir), "checkpoint": which, "data": data or loaded.info["data"],
                  "n": len(split), "test": terms, "recon_error": stats}
        if estimate is not None:
            record["nll"] = {"draws": estimate.draws, "seed": estimate.seed,
                             "nats": estimate.mean, "se": estimate.se,
                             "likelihood": loaded.model.info.likelihood.name}
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
    if estimate is not None:
        out.print(f"NLL -log p(x), K={estimate.draws} importance samples (seed "
                  f"{estimate.seed}): {estimate.mean:.4f} ± {estimate.se:.4f} nats per example "
                  f"(p(x|z): {loaded.model.info.likelihood.name})", markup=False)


def _nll(model: Any, split: Any, draws: int, seed: int, quiet: bool) -> Any:
    """The importance-sampled NLL, with the run's progress bar (at a terminal, not --json):
    the NLL so far where `aespec run` shows the loss, examples/s, the time left."""
    import time

    from aespec.cli.run import _reporter
    from aespec.train.evaluate import importance_nll

    reporter = _reporter(quiet)
    reporter.phase(f"NLL, K={draws}", len(split))
    started = shown = time.perf_counter()

    def progress(done: int, total: int, mean: float) -> None:
        nonlocal shown
        now = time.perf_counter()
        if now - shown >= 0.2 or done == total:  # a few times a second, as a run's bar
            shown = now
            reporter.step(done, mean, done / max(now - started, 1e-9))

    try:
        return importance_nll(model, split, draws, seed, progress)
    finally:
        reporter.close()
