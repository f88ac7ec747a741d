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
             "samples from q(z|x) (K=1: the ELBO; Burda et al. use 5000); for an rbm, "
             "with log Z from K chains of annealed importance sampling. VAEs and RBMs."),
    seed: int = typer.Option(0, "--seed", help="Seed of the --nll draws and of the noise "
                                               "on the test inputs (--noisy)."),
    betas: int = typer.Option(
        10_000, "--betas", min=1, metavar="T",
        help="An rbm's --nll: AIS steps from the base model to the rbm."),
    noisy: Optional[bool] = typer.Option(
        None, "--noisy/--clean",
        help="Feed the test inputs with the spec's noise (seeded; the clean inputs are the "
             "targets), or clean ones. Default: noisy for a spec with `noise`, as `aespec "
             "run` reports it."),
) -> None:
    """Evaluate a trained run on the test split of its data (or of --data)."""
    try:
        loaded = open_run(run_dir, which, device)
        from aespec.report.imputation import imputation_scores
        from aespec.train.evaluate import active_units, evaluate, recon_errors
        from aespec.train.references import noise_text, start_references

        dataset = loaded.dataset(data)
        splits = loaded.data(dataset=dataset)
        split, kind = _inputs(loaded, splits, noisy, seed)
        estimate = None if nll is None else \
            _nll(loaded.model, splits, (nll, betas), seed, as_json)
        scorer = start_references(loaded.model, splits.train, split, loaded.device,
                                  splits.description, kind, noise_text(loaded.spec))
        terms = evaluate(loaded.model, split, observe=None if scorer is None else scorer.observe)
        refs = None if scorer is None else \
            scorer.finish(terms, active_units(loaded.model, splits.test))
        terms.update(imputation_scores(loaded.model, dataset))  # missing=nan: held-out
        errors = recon_errors(loaded.model, split)
    except AespecError as error:
        raise fail(error) from None
    stats = {"mean": errors.mean().item(), "median": errors.median().item(),
             "p95": errors.quantile(0.95).item(), "max": errors.max().item()}
    if as_json:
        record = {"run": str(run_dir), "checkpoint": which, "data": data or loaded.info["data"],
                  "n": len(split), "input": kind, "test": terms, "recon_error": stats}
        if refs is not None:
            record["references"] = refs
        if estimate is not None:
            record["nll"] = {"draws": estimate.draws, "seed": estimate.seed,
                             "nats": estimate.mean, "se": estimate.se,
                             **_nll_method(loaded.model, estimate)}
        out.print(json.dumps(_json_safe(record), allow_nan=False), markup=False,
                  highlight=False, soft_wrap=True)
        return
    from aespec.train.references import INPUT_NOTES

    table = Table(title=f"{loaded.spec.name}: {which} weights, {len(split)} test examples, "
                        f"{INPUT_NOTES[kind]}",
                  title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("term")
    table.add_column("test", justify="right")
    for term, value in terms.items():
        table.add_row(term, f"{value:.6g}")
    out.print(table)
    out.print("reconstruction error per example: " + "  ".join(
        f"{k} {v:.5g}" for k, v in stats.items()), markup=False)
    if refs is not None:
        from aespec.cli.run import print_references

        print_references(refs)
    if estimate is not None:
        out.print(_nll_line(loaded.model, estimate), markup=False)


def _inputs(loaded: Any, run_data: Any, noisy: Optional[bool], seed: int) -> tuple[Any, str]:
    """The test split as --noisy/--clean ask (default: as `aespec run` reports the model),
    and what its inputs are (references.INPUT_NOTES); E636 for --noisy on a model with no
    noise."""
    from aespec.train.references import Corrupted, headline_input, is_denoiser, reads_labels

    model, test = loaded.model, run_data.test
    if noisy is None:
        noisy = is_denoiser(model)
    if noisy and not is_denoiser(model):
        raise AespecError.of(
            "E636", f"--noisy: {loaded.spec.name} has no noise to corrupt its test inputs with"
            + (" (a model that reads labels is scored clean)" if reads_labels(model) else ""),
            hint="drop --noisy; a spec with a `noise` line is evaluated on noisy inputs",
            file=str(loaded.run.path))
    paired = test.y is not None and not reads_labels(model)
    if noisy:
        return Corrupted(test, model, seed), "corrupted"
    return test, headline_input(model, paired) if not is_denoiser(model) else "clean"


def _nll_method(model: Any, estimate: Any) -> dict[str, Any]:
    """How the --nll figure was made, for the JSON record."""
    z = estimate.partition
    if z is None:
        return {"likelihood": model.info.likelihood.name}
    return {"method": "ais", "betas": z.betas, "log_z": z.log_z, "log_z_se": z.se}


def _nll_line(model: Any, estimate: Any) -> str:
    z = estimate.partition
    if z is None:
        return (f"NLL -log p(x), K={estimate.draws} importance samples (seed {estimate.seed})"
                f": {estimate.mean:.4f} ± {estimate.se:.4f} nats per example "
                f"(p(x|z): {model.info.likelihood.name})")
    return (f"NLL -log p(v) = F(v) + log Z, log Z by AIS with K={z.chains} chains of "
            f"{z.betas} steps (seed {estimate.seed}): {estimate.mean:.4f} ± "
            f"{estimate.se:.4f} nats per example (log Z {z.log_z:.4f} ± {z.se:.4f})")


def _nll(model: Any, splits: Any, draws: tuple[int, int], seed: int, quiet: bool) -> Any:
    """The importance-sampled NLL (an rbm's by AIS, `draws` its chains and betas), with
    the run's progress bar (at a terminal, not --json):
    the NLL so far where `aespec run` shows the loss, examples/s, the time left."""
    import time

    from aespec.cli.run import _reporter
    from aespec.train.ais import ais_nll, rbm_of
    from aespec.train.evaluate import importance_nll

    chains, betas = draws
    reporter = _reporter(quiet)
    reporter.phase(f"NLL, K={chains}", len(splits.test))
    started = shown = time.perf_counter()

    def progress(done: int, total: int, mean: float) -> None:
        nonlocal shown
        now = time.perf_counter()
        if now - shown >= 0.2 or done == total:  # a few times a second, as a run's bar
            shown = now
            reporter.step(done, mean, done / max(now - started, 1e-9))

    try:
        if rbm_of(model) is not None:
            return ais_nll(model, splits.test, splits.train.x, chains, seed, betas, progress)
        return importance_nll(model, splits.test, chains, seed, progress)
    finally:
        reporter.close()
