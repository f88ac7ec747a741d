"""`aespec run SPEC`: train a spec into a run directory, with a progress bar and a summary.

torch is imported when the command runs, never when the CLI starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from aespec.cli import _launch
from aespec.cli.app import app
from aespec.cli.common import (
    BlockOption,
    DataOption,
    QuietOption,
    SetOption,
    err,
    fail,
    is_terminal,
    out,
    overrides,
    print_diagnostics,
)
from aespec.errors import AespecError, plural

if TYPE_CHECKING:  # rich's tables and bar are imported where drawn: a fast-dev-run has none
    from rich.table import Table

DeviceOption = typer.Option(None, "--device", metavar="D", help="auto, cpu, cuda, cuda:N, mps.")
INTERRUPTED = 130  # the shell's code for a run stopped by Ctrl-C
# report.json's keys that are no report item: the run's own measures of itself
NOT_ITEMS = {"examples", "references", "test_clean", "test_input", "warnings"}


class RichReporter:
    """The progress bar: one line per phase (epoch, pretraining stage) with the loss and
    samples/s, the time elapsed and left in the phase, and the time the run has left (the
    phase's, plus the mean epoch time for each epoch after it); finished epochs are printed
    above it. Refreshed only when the trainer reports (a few times a second): no drawing
    thread competes with training."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("loss {task.fields[loss]}"),
                            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                            TextColumn("eta"), TimeRemainingColumn(),
                            TextColumn("{task.fields[run_eta]}"),
                            console=out, auto_refresh=False, transient=True)
        self.task: Any = None
        self.clock: Any = None
        self.done = 0  # the last epoch finished

    def start(self, run: Any) -> None:
        from aespec.train.progress import RunClock

        print_start(run)
        self.clock, self.done = RunClock(run.epochs), run.first_epoch - 1
        self.bar.start()
        self.task = self.bar.add_task("", total=run.steps, loss="-", rate="", run_eta="")

    def phase(self, text: str, total: int) -> None:
        if self.task is None:  # a phase with no run around it (`aespec eval --nll`)
            self.bar.start()
            self.task = self.bar.add_task("", total=total, loss="-", rate="", run_eta="")
        self.bar.reset(self.task, total=total, description=text, loss="-", rate="",
                       run_eta=self._run_eta())
        self.bar.refresh()

    def step(self, done: int, loss: float, samples_per_s: float) -> None:
        self.bar.update(self.task, completed=done, loss=f"{loss:#.5g}",
                        rate=f"{samples_per_s:,.0f} samples/s", run_eta=self._run_eta())
        self.bar.refresh()

    def _run_eta(self) -> str:
        """`run 3m05s`: this phase's time left plus the mean epoch time for each epoch after
        the one under way; empty until an epoch has ended."""
        from aespec.train.progress import duration

        after = self.clock.left(self.done + 1) if self.clock is not None else None
        if after is None:
            return ""
        return f"run {duration(after + (self.bar.tasks[0].time_remaining or 0.0))}"

    def epoch(self, record: dict, epochs: int) -> None:
        from aespec.train.progress import RunClock, epoch_line

        self.bar.update(self.task, completed=self.bar.tasks[0].total)
        if self.clock is None or self.clock.epochs != epochs:
            self.clock = RunClock(epochs)
        self.clock.add(record)
        self.done = record["epoch"]
        self.bar.console.print(epoch_line(record, epochs, self.clock.left(self.done)),
                               markup=False)

    def message(self, text: str) -> None:
        self.bar.console.print(text, markup=False)

    def close(self) -> None:
        self.bar.stop()


def print_start(run: Any) -> None:
    resumed = f", resuming at epoch {run.first_epoch}" if 1 < run.first_epoch <= run.epochs \
        else ""
    out.print(f"{run.name}: {run.params:,} parameters on {run.device}"
              f"{' (' + ', '.join(run.notes) + ')' if run.notes else ''}{resumed}", markup=False)
    out.print(f"data: {run.data}; {run.n_train} train / {run.n_val} validation", markup=False)
    out.print(f"run directory: {run.run_dir}", markup=False)


def _reporter(quiet: bool) -> Any:
    from aespec.train.progress import LineReporter, Reporter

    if quiet:
        return Reporter()
    if is_terminal():
        return RichReporter()

    class Plain(LineReporter):
        def start(self, run: Any) -> None:
            print_start(run)

    return Plain()


def _by_name(table: Table, head: str, test: dict[str, float], val: dict[str, float],
             clean: dict[str, float] | None = None) -> None:
    """Columns `head`, test and validation, a row for each of `test`'s numbers; a
    denoiser's test from corrupted inputs, with a column of the clean inputs' (`clean`)."""
    cols = (head, "test (corrupted input)", "test (clean input)", "validation") if clean \
        else (head, "test", "validation")
    for col in cols:
        table.add_column(col, justify="left" if col == head else "right")
    for name, value in test.items():
        cells = [f"{value:#.6g}"] + ([f"{clean[name]:#.6g}" if name in clean else ""]
                                     if clean else [])
        table.add_row(name, *cells, f"{val[name]:#.6g}" if name in val else "")


def print_references(refs: dict[str, Any]) -> None:
    """The model's reconstruction error beside the mean image's and PCA's, as ratios."""
    from rich.table import Table

    from aespec.train.references import INPUT_NOTES

    table = Table(title=f"reference points: reconstruction error on the test split, from "
                        f"{INPUT_NOTES.get(refs['input'], refs['input'])}",
                  title_justify="left", show_edge=False, pad_edge=False)
    for col in ("predictor", "error", "model / it"):
        table.add_column(col, justify="left" if col == "predictor" else "right")
    table.add_row("this model", f"{refs['model']:#.5g}", "")
    table.add_row("mean image", f"{refs['mean_image']:#.5g}",
                  _times(refs.get("model_over_mean_image")))
    if "pca" in refs:
        table.add_row(f"PCA, {plural(refs['pca_components'], 'component')}",
                      f"{refs['pca']:#.5g}", _times(refs.get("model_over_pca")))
    out.print(table)


def _times(ratio: Any) -> str:
    return "" if ratio is None else f"{ratio:.2f}"


MEASURED = ("accuracy",)  # measured in training too, never trained on: a head's accuracy


def print_result(result: Any) -> None:
    """The summary: test loss by term (and the best epoch's validation), size and time; a
    GAN's best epoch's terms and its samples' quality instead."""
    from rich.table import Table

    best = next((r for r in result.history if r["epoch"] == result.best_epoch), None)
    val = (best or {}).get("val") or {}
    gan = best is not None and "generator" in best["train"]
    how = (" by the samples' Frechet distance" if val else ", the last: a GAN has no "
           "validation loss") if gan else ""
    if not gan and "frechet_distance" in val:  # a VAE-GAN's epochs, judged by its samples
        how = " by the samples' Frechet distance"
    table = Table(title=f"{result.name}: {result.status.replace('_', ' ')} after "
                        f"{plural(result.epochs, 'epoch')} (best: epoch {result.best_epoch}"
                        f"{how})", title_justify="left", show_edge=False, pad_edge=False)
    if gan and best is not None:
        from aespec.report import game

        table.add_column("term")
        table.add_column(f"epoch {result.best_epoch}", justify="right")
        for term, value in [*best["train"].items(), *val.items()]:
            table.add_row(game.label(term), f"{value:#.6g}")
    else:
        trained = set(best["train"]) - set(MEASURED) if best is not None else set(result.test)
        _by_name(table, "term", {k: v for k, v in result.test.items() if k in trained}, val,
                 getattr(result, "test_clean", None))
    out.print(table)
    if getattr(result, "references", None):
        print_references(result.references)
    measures = {k: v for k, v in result.test.items()
                if not gan and best is not None and (k not in best["train"] or k in MEASURED)}
    if measures:  # numbers evaluated, never trained on (a som's quantization error)
        table = Table(show_edge=False, pad_edge=False)
        _by_name(table, "measure", measures, val)
        out.print(table)
    if best is not None and not gan and "discriminator" in best["train"]:
        from aespec.report import vaegan

        if vaegan.is_vae_gan(best):  # its game beside the VAE's objective
            out.print(vaegan.game_line(best), markup=False)
        else:
            print_code_game(result, best)
    quality = result.report.get("sample_quality") or {}
    if "samples" in quality:
        from aespec.report.quality import summary_lines

        out.print("\n".join(summary_lines(quality)[2:]), markup=False)
    for nid, stats in getattr(result, "codebook", {}).items():
        out.print(codebook_line(nid, stats), markup=False)
    print_diagnostics(getattr(result, "warnings", []), None)
    if activity := getattr(result, "active_units", None):
        out.print(f"active units: {activity['active']} of {activity['dims']} latent dimensions "
                  f"(variance of E[z|x] over the test split > {activity['threshold']:g})",
                  markup=False)
    out.print(f"parameters: {result.params:,}    time: {result.seconds:.1f} s    "
              f"run: {result.run_dir}", markup=False)
    out.print(f"page: {result.run_dir / 'report.html'}", markup=False)
    if result.report:
        out.print(f"report: {result.run_dir / 'report' / 'summary.md'} "
                  f"({', '.join(k for k in result.report if k not in NOT_ITEMS)})",
                  markup=False)


def codebook_line(nid: str, stats: dict) -> str:
    """`codebook of bottleneck4: 57 of 64 codes used on the test split (89%), perplexity
    41.3`."""
    return (f"codebook of {nid}: {int(stats['used'])} of {int(stats['codes'])} codes used on "
            f"the test split ({stats['usage']:.0%}), perplexity {stats['perplexity']:.1f}")


def print_code_game(result: Any, best: dict[str, Any]) -> None:
    """An adversarial autoencoder's game at its best epoch (training means), and how near
    its test codes came to the prior (the report's code_prior)."""
    from aespec.report.game import AAE_TERMS

    said = ", ".join(f"{name} {best['train'][term]:#.4g}" for term, name in AAE_TERMS.items()
                     if term in best["train"])
    out.print(f"the game at epoch {best['epoch']} (training means): {said}", markup=False)
    prior = result.report.get("code_prior") or {}
    if "mmd" in prior:
        out.print(f"test codes against N(0, I): MMD² {prior['mmd']:#.3g} (RBF kernel, "
                  f"bandwidth {prior['bandwidth']:.3g}; {prior['file']})", markup=False)


@app.command("run")
def run_command(
    ctx: typer.Context,
    spec: Optional[Path] = typer.Argument(None, metavar="SPEC",
                                          help="Spec file (.ae) or Markdown file (.md); "
                                               "optional with --resume."),
    set_: Optional[list[str]] = SetOption,
    data: Optional[str] = DataOption,
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, metavar="N",
                                         help="Epochs (train.epochs)."),
    device: Optional[str] = DeviceOption,
    out_dir: Optional[Path] = typer.Option(None, "--out", metavar="DIR",
                                           help="Run directory [default: runs/<name>-<time>]."),
    resume: Optional[Path] = typer.Option(None, "--resume", metavar="RUN_DIR",
                                          help="Continue a stopped run in its directory."),
    quiet: bool = QuietOption,
    no_report: bool = typer.Option(False, "--no-report",
                                   help="Skip the figures of the spec's report block."),
    tensorboard: bool = typer.Option(False, "--tensorboard",
                                     help="Also write TensorBoard event files to "
                                          "RUN_DIR/tensorboard/ (needs aespec[tensorboard])."),
    fast_dev_run: bool = typer.Option(False, "--fast-dev-run",
                                      help="One batch of training, validation, test and "
                                           "report, in a temporary directory removed after."),
    init_from: Optional[Path] = typer.Option(None, "--init-from", metavar="PATH",
                                             help="Start from another run's weights: its "
                                                  "directory (best.pt) or a .pt file."),
    block: Optional[str] = BlockOption,
    nproc: int = _launch.NprocOption, nnodes: Optional[str] = _launch.NnodesOption,
    node_rank: Optional[int] = _launch.NodeRankOption,
    master_addr: Optional[str] = _launch.MasterAddrOption,
    master_port: Optional[int] = _launch.MasterPortOption,
    rdzv_endpoint: Optional[str] = _launch.RdzvOption,
) -> None:
    """Train a spec; write the run directory; print test results."""
    if spec is None and resume is None:
        err.print("error: give a SPEC to train, or --resume RUN_DIR", markup=False)
        raise typer.Exit(2)
    if fast_dev_run and (resume is not None or out_dir is not None):
        raise typer.BadParameter("a fast-dev-run keeps no run directory: drop --resume and "
                                 "--out", param_hint="'--fast-dev-run'")
    if init_from is not None and resume is not None:
        raise typer.BadParameter("a resumed run goes on from its own checkpoint",
                                 param_hint="'--init-from'")
    check_device(device)
    launched = _launch.relaunch(ctx)  # --nproc N: this command in N processes
    if launched is not None:
        raise typer.Exit(launched)
    from aespec.train.setup import RunRequest, run_overrides

    # --epochs and --device are overrides too: the spec is checked once, with them
    sets = run_overrides(overrides(set_), epochs, device)
    # --data is the spec's `data` line, checked with it; a resumed run's is compared with
    # the data it was trained on instead
    checked, source = _check(spec, resume, sets, block, quiet, data if resume is None else None)
    # this process ends when the run stops: a second Ctrl-C is not a traceback
    request = RunRequest(checked or spec, data=data, out=out_dir, resume=resume,
                         overrides=tuple(sets), device=device or "auto",
                         report=not no_report, tensorboard=tensorboard, ends_process=True,
                         init_from=None if init_from is None else str(init_from))
    if fast_dev_run:
        _fast_dev_run(request, quiet, source)
        return

    from aespec.train.api import run

    try:
        result = run(request, _reporter(quiet))
    except AespecError as error:
        raise fail(error, source) from None
    except KeyboardInterrupt:
        err.print("interrupted; the last checkpoint is kept", markup=False)
        raise typer.Exit(INTERRUPTED) from None
    if result.status == "interrupted":
        saved = (result.run_dir / "checkpoint.pt").is_file()
        err.print(f"interrupted in epoch {result.epochs + 1}; state saved. Continue with: "
                  f"aespec run --resume {result.run_dir}" if saved else
                  "interrupted before the first checkpoint (during pretraining); nothing to "
                  "resume", markup=False)
        raise typer.Exit(INTERRUPTED)
    if not quiet and _launch.rank() == 0:
        print_result(result)


def _fast_dev_run(request: Any, quiet: bool, source: str | None) -> None:
    """Every stage on one batch, in a temporary run directory removed after. The report's
    items are all computed but no figure is drawn: matplotlib's import and drawing would
    take as long as the rest (train/finish.py)."""
    import dataclasses
    import tempfile

    from aespec.train import Reporter
    from aespec.train.api import run

    with tempfile.TemporaryDirectory(prefix="aespec-fast-dev-run-") as tmp:
        try:
            result = run(dataclasses.replace(request, out=Path(tmp) / "run", fast_dev_run=True,
                                             tensorboard=False), Reporter())
        except AespecError as error:
            raise fail(error, source) from None
        if quiet:
            return
        record = result.history[-1]
        val, train = record["val"] or {}, record["train"]
        said = (f"discriminator loss {train['loss']:#.5g}, generator loss "
                f"{train['generator']:#.5g}" if "generator" in train else
                f"train loss {train['loss']:#.5g}"
                + (f", validation loss {val['loss']:#.5g}" if "loss" in val else "")
                + f", test loss {result.test['loss']:#.5g}")
        out.print(f"{result.name}: {result.params:,} parameters on {result.device}; "
                  f"1 training step, {said}", markup=False)
        made = [k for k in result.report if k not in NOT_ITEMS]
        items = ", ".join(made) + "; no figure drawn" if made else "nothing (no report block)"
        out.print(f"report: {items}; {result.seconds:.1f} s, nothing kept", markup=False)
    out.print("fast-dev-run ok", markup=False)


def check_device(device: str | None) -> None:
    """--device is checked here so a typo is a usage error naming the option."""
    ok = device is None or device in ("auto", "cpu", "cuda", "mps") or (
        device.startswith("cuda:") and device[5:].isdigit())
    if not ok:
        raise typer.BadParameter(f"{device!r} is not one of auto, cpu, cuda, cuda:N, mps",
                                 param_hint="'--device'")


def _check(spec: Path | None, resume: Path | None, sets: list[str], block: str | None = None,
           quiet: bool = False, data: str | None = None) -> tuple[Any, str | None]:
    """Check the spec with --set and --data (printing its warnings): the CheckResult that
    training goes on with, and the spec's text for later diagnostics (a resumed run's own
    spec without a SPEC)."""
    if spec is None:
        from aespec.train.rundir import RunDir

        try:
            return None, RunDir(resume).source()[0]  # type: ignore[arg-type]
        except AespecError:
            return None, None
    from aespec.graph import check_file

    result = check_file(spec, sets, block, data)
    # one copy of the warnings from a distributed run
    print_diagnostics(result.diagnostics, result.source, quiet or _launch.rank() > 0)
    if not result.ok:
        raise typer.Exit(1)
    return result, result.source
