"""`aespec.train`: a spec and its data -> a training run -> a run directory and a RunResult.

Also `load_run`, which reads a run directory back into its spec and trained model.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import pathlib
import platform
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from aespec.data import Dataset
from aespec.errors import AespecError
from aespec.graph import CheckResult, check_file, check_source, check_spec, memory
from aespec.model import Spec
from aespec.train import batches, dist, fastdev
from aespec.train import device as dev
from aespec.train.evaluate import evaluate
from aespec.train.loggers import with_tensorboard
from aespec.train.loop import Diverged, Interrupted, StopFlag, Trainer
from aespec.train.pages import read_run_page, write_run_page
from aespec.train.pretrain import pretrain_layerwise
from aespec.train.progress import Reporter, RunStart, default_reporter
from aespec.train.rundir import (
    STATE,
    RunDir,
    cannot_write,
    check_fresh,
    check_same,
    load_checkpoint,
    model_key,
    new_run_path,
    train_key,
)

if TYPE_CHECKING:
    import networkx as nx


@dataclass(frozen=True)
class RunResult:
    """What a training run gave. `status`: finished, early_stopped or interrupted."""

    run_dir: pathlib.Path
    name: str
    status: str
    epochs: int  # completed epochs
    best_epoch: int | None
    history: list[dict[str, Any]]
    test: dict[str, float]  # mean test loss by term ({} when interrupted)
    params: int
    seconds: float
    device: str
    pretrain: list[dict[str, Any]] = field(default_factory=list)
    model: Any = field(default=None, repr=False, compare=False)  # best weights, eval mode
    report: dict[str, Any] = field(default_factory=dict)  # what `report { }` wrote

    def __repr__(self) -> str:
        return run_repr("RunResult", self.name, self.status, self.epochs, self.best_epoch,
                         self.test, self.run_dir)

    def _repr_html_(self) -> str:
        """A notebook's view: the metrics, the curves and the diagram (from the run dir)."""
        from aespec.report.page import summary_html

        return summary_html(read_run_page(self.run_dir))


@dataclass(frozen=True)
class Setup:
    """A spec ready to run: resolved, with its overrides, data and device."""

    spec: Spec
    graph: nx.DiGraph  # built once, by the check
    overrides: list[str]
    base_dir: pathlib.Path
    data: batches.DataChoice
    device: torch.device
    report: bool = True
    fast_dev_run: bool = False  # one batch of each split (aespec.train.fastdev)
    ranks: dist.Ranks | None = None  # a distributed run (docs/distributed.md)


SpecLike = Spec | CheckResult | str | pathlib.Path


def _checked(spec: SpecLike, overrides: list[str]) -> tuple[CheckResult, pathlib.Path]:
    """The spec checked with `overrides` (its graph built, once), and the folder its
    relative data paths start from. A CheckResult checked with the same overrides is used
    as it is: `aespec run` checks the file once, to print its warnings, and hands it on."""
    if isinstance(spec, CheckResult) and list(spec.overrides) == overrides:
        result = spec
    elif isinstance(spec, (Spec, CheckResult)):
        if overrides and not spec.source:
            raise AespecError.of("E210", "overrides need the spec's source text", file="--set")
        result = check_source(spec.source, spec.path, overrides) if overrides or isinstance(
            spec, CheckResult) else check_spec(spec)
    else:
        result = check_file(spec, overrides)
    result.raise_for_errors()
    assert result.spec is not None and result.ir is not None
    path = result.spec.path
    return result, pathlib.Path(path).parent if path else pathlib.Path.cwd()


def _setup(checked: CheckResult, overrides: list[str], base: pathlib.Path,
           data: batches.DataChoice, report: bool, fast_dev_run: bool = False,
           ranks: dist.Ranks | None = None) -> Setup:
    spec = checked.spec
    assert spec is not None and checked.ir is not None
    device = dev.resolve_device(spec.train.device)
    return Setup(spec, checked.ir, overrides, base, data,
                  device if ranks is None else ranks.device(device), report, fast_dev_run,
                  ranks)


def prepare(spec: SpecLike, overrides: list[str], data: str | None, report: bool = True,
            fast_dev_run: bool = False, ranks: dist.Ranks | None = None) -> Setup:
    """A new run's setup (a batched sweep point's too, train/batched.py): the spec checked
    with its overrides, its data chosen (`data`: the command line's, else the spec's), its
    device."""
    checked, base = _checked(spec, overrides)
    assert checked.spec is not None
    return _setup(checked, overrides, base.resolve(), batches.choose_data(checked.spec, data),
                  report, fast_dev_run, ranks)


def _spec_file(spec: Spec) -> str:
    return f"{pathlib.Path(spec.path).stem if spec.path else spec.name}.ae"


def train(spec: SpecLike | None = None, *, data: str | None = None,
          epochs: int | None = None, device: str | None = None,
          out: str | pathlib.Path | None = None, quiet: bool = False,
          resume: str | pathlib.Path | None = None, overrides: Sequence[str] = (),
          progress: Reporter | None = None, report: bool = True,
          tensorboard: bool = False, fast_dev_run: bool = False) -> RunResult:
    """Train a spec and write a run directory; returns a RunResult.

    `spec` is a Spec, a path to a `.ae` file or a CheckResult (None with `resume`: the
    run's own spec).
    `data` overrides the spec's `data` line (`"digits(size=28)"`); `epochs` and `device`
    override `train.epochs` and `train.device`; `overrides` are `--set` values
    (`"width=16"`, `"train.batch=64"`). `out` is the run directory (default
    `runs/<name>-<timestamp>`). `resume` continues a stopped run in its own directory.
    `tensorboard` also writes TensorBoard event files to RUN_DIR/tensorboard/ (E609 without
    the tensorboard package). `progress` shows the run (default: a line per epoch; a bar
    updated in place in a notebook; nothing with `quiet`). Each run gets RUN_DIR/report.html.
    Problems in the spec, the data or a checkpoint raise AespecError. `fast_dev_run`
    trains one epoch of one batch and validates, tests and reports on one batch each
    (`aespec run --fast-dev-run`, which gives it a temporary `out`).
    """
    dev.tune_allocator()
    extra = [f"train.epochs={epochs}"] * (epochs is not None) + [f"train.device={device}"] * (
        device is not None)
    reporter = progress or default_reporter(quiet)
    if tensorboard:
        reporter = with_tensorboard(reporter)
    with dist.joined(device or "auto") as ranks:  # None unless under torch's launcher
        if ranks is not None and not ranks.writer:
            reporter = Reporter()
        if resume is not None:
            return _resume(spec, pathlib.Path(resume), data, [*overrides, *extra], reporter,
                           report, ranks)
        return _start(spec, data, out, [*overrides, *extra] + ["train.epochs=1"] * fast_dev_run,
                      reporter, report, ranks, fast_dev_run)


def _start(spec: SpecLike | None, data: str | None, out: str | pathlib.Path | None,
           all_overrides: list[str], reporter: Reporter, report: bool,
           ranks: dist.Ranks | None, fast_dev_run: bool = False) -> RunResult:
    if spec is None:
        raise TypeError("train() needs a spec, or resume=RUN_DIR")
    setup = prepare(spec, all_overrides, data, report, fast_dev_run, ranks)

    existed = out is not None and pathlib.Path(out).exists()  # the user's: never removed

    def place() -> pathlib.Path:
        path = pathlib.Path(out) if out is not None else new_run_path(setup.spec.name)
        check_fresh(path)
        return path

    run = dist.run_dir_for(ranks, place() if ranks is None else ranks.on_writer(place))
    try:
        return _execute(setup, run, None, reporter, time.time())
    except BaseException:
        with contextlib.suppress(OSError):
            if run.writes and not existed:
                run.path.rmdir()  # only if the run left nothing in it (refused before it began)
        raise


def _resume(spec: SpecLike | None, path: pathlib.Path, data: str | None,
            overrides: list[str], reporter: Reporter, report: bool = True,
            ranks: dist.Ranks | None = None) -> RunResult:
    run = dist.run_dir_for(ranks, path)
    info = run.info()
    ckpt = load_checkpoint(run.checkpoint, STATE)
    all_overrides = _latest([*info["overrides"], *overrides])
    if spec is None:
        source, name = run.source()
        checked = check_source(source, info.get("spec_path") or str(run.path / name),
                               all_overrides)
        checked.raise_for_errors()
        base = pathlib.Path(info["base_dir"])
    else:
        checked, base = _checked(spec, all_overrides)  # overrides are idempotent
    resolved = checked.spec
    assert resolved is not None
    check_same(ckpt, resolved, run.checkpoint, resume=True)
    from aespec.train.loaded import check_recorded_data, recorded_data  # it imports this

    choice = batches.parse_data(data) if data is not None else recorded_data(run.path, info)
    if data is None:  # as eval: a regular file, never through a link out of the run folder
        check_recorded_data(choice, base, run.path, None)
    if json.loads(json.dumps(choice.to_json())) != info["data"]:  # tuples are lists there
        raise AespecError.of("E602", f"{run.path} was trained on {_data_text(info['data'])}, "
                             f"not {choice.text()}", hint="resume without --data",
                             file=str(run.path))
    setup = _setup(checked, all_overrides, base, choice, report, ranks=ranks)
    return _execute(setup, run, ckpt, reporter, time.time() - info.get("seconds", 0.0))


def _latest(overrides: list[str]) -> list[str]:
    """Each overridden key once, at its last value (a resumed run adds to the list)."""
    last = {text.partition("=")[0].strip(): i for i, text in enumerate(overrides)}
    return [text for i, text in enumerate(overrides) if last[text.partition("=")[0].strip()] == i]


def _data_text(d: dict) -> str:
    return batches.DataChoice(d["source"], d["args"]).text()


def _execute(setup: Setup, run: RunDir, ckpt: dict | None, reporter: Reporter,
             started: float) -> RunResult:
    spec, graph, device = setup.spec, setup.graph, setup.device
    dataset = batches.load(spec, setup.data, setup.base_dir)
    if setup.fast_dev_run:
        dataset = fastdev.one_batch(dataset, spec.train.batch)
    # before the model or the data are on the device; at the batch that runs (the data's)
    require_memory(spec, graph, device, train_examples(len(dataset.x_train), spec.train.split))
    data = batches.to_device(dataset, spec.train.split, device)
    model, notes = build_model(spec, graph, device)
    identity = run_identity(spec)
    with _paged(run, (spec, graph)), StopFlag() as flag, _recorded(run, started), \
            dist.lost_ranks(setup.ranks, run.path):
        trainer = Trainer(model, spec.train, data, device, run, identity, reporter, flag,
                          setup.ranks)
        if ckpt is not None:
            trainer.load_state_dict(ckpt, run.checkpoint)
            run.rewrite_metrics(trainer.c.history)
            run.update(overrides=setup.overrides, status="running", device=str(device))
        else:
            write_start(setup, run, dataset.description, notes)
        params = sum(p.numel() for p in model.parameters())
        reporter.start(RunStart(spec.name, str(run.path), spec.train.epochs,
                                trainer.c.epoch + 1, trainer.steps, len(data.train),
                                len(data.val) if data.val else 0, data.description,
                                str(device), params, tuple(notes)))
        try:
            status = _fit(trainer, spec, graph, data, device, reporter, flag)
        except Diverged as d:
            run.update(status="diverged", seconds=time.time() - started)
            raise diverged_error(d, trainer, run) from None
        finally:
            reporter.close()
        return finish_run(setup, trainer, dataset, run, status, started)


def run_identity(spec: Spec) -> dict[str, str]:
    """What a checkpoint records of its spec, to refuse another's (rundir.check_same)."""
    return {"model_key": json.dumps(model_key(spec)), "train_key": json.dumps(train_key(spec)),
            "spec_name": spec.name}


def finish_run(setup: Setup, trainer: Trainer, dataset: Dataset, run: RunDir, status: str,
               started: float) -> RunResult:
    """What a run does after its last epoch (a batched one too, train/batched.py): the
    best weights' test loss and the report's figures unless it was interrupted, then
    run.json's outcome; its RunResult."""
    model, c = trainer.model, trainer.c
    test: dict[str, float] = {}
    if status != "interrupted":
        trainer.restore_best()
        test = evaluate(model, trainer.data.test, trainer.autocast)
    model.eval()
    figures = _write_report(setup, model, dataset, run) if status != "interrupted" else {}
    seconds = time.time() - started
    run.update(status=status, epochs_run=c.epoch, best_epoch=c.best_epoch,
               best_loss=c.best, test=test, seconds=seconds, finished=_now())
    params = sum(p.numel() for p in model.parameters())
    return RunResult(run.path, setup.spec.name, status, c.epoch, c.best_epoch,
                     list(c.history), test, params, seconds, str(setup.device),
                     _pretrain_records(run), model, figures)


def train_examples(n: int, split: float) -> int:
    """How many of `n` training examples the training split keeps (batches.to_device
    holds out the rest, at least one kept)."""
    return max(int(round(n * split)), 1)


def require_memory(spec: Spec, graph: nx.DiGraph, device: torch.device,
                   examples: int | None = None) -> None:
    """E608 for a model whose training step the device's free memory cannot hold; the step's
    batch is capped at `examples` (the training split's size) where it is known."""
    need, free = memory.estimate(spec, graph, examples), dev.free_memory(device)
    if free is not None and need.total > free:
        raise AespecError.of(
            "E608", f"one training step needs at least {memory.describe(need)}, but {device} "
            f"has {memory.fmt_bytes(free)} free; the largest part is "
            f"{memory.largest_text(need, graph)}", file=spec.path,
            hint="use fewer units or channels, a smaller input or `train.batch`, or a device "
            "with more memory")


@contextlib.contextmanager
def _recorded(run: RunDir, started: float) -> Iterator[None]:
    """run.json says how a run ended, however it ends: `failed` (with the error) for our
    errors and for a disk that cannot be written (then E606), `interrupted` for a second
    Ctrl-C; never `running` after the process is gone."""
    try:
        yield
    except KeyboardInterrupt:
        mark_run(run, started, status="interrupted")
        raise
    except AespecError as err:
        if err.diagnostics[0].code != "E601":  # a diverged run is marked so already
            mark_run(run, started, status="failed", error=err.diagnostics[0].message)
        raise
    except OSError as exc:
        refused = cannot_write(pathlib.Path(exc.filename or run.path), exc)
        mark_run(run, started, status="failed", error=refused.diagnostics[0].message)
        raise refused from None


@contextlib.contextmanager
def _paged(run: RunDir, checked: tuple[Spec, Any]) -> Iterator[None]:
    """report.html when the run ends: finished, stopped, or failed once it had begun (best
    effort then: the run's own error is what counts); not after a second Ctrl-C."""
    if not run.writes:  # a distributed run's other ranks
        yield
        return
    try:
        yield
    except KeyboardInterrupt:
        raise
    except BaseException:
        if not run.refused and (run.path / "run.json").is_file():
            with contextlib.suppress(Exception):
                write_run_page(run.path, checked=checked)
        raise
    write_run_page(run.path, checked=checked)


def mark_run(run: RunDir, started: float, **fields: Any) -> None:
    """Best effort: on a full disk even run.json may not be writable."""
    try:
        run.update(seconds=time.time() - started, finished=_now(), **fields)
    except (OSError, AespecError):
        pass


def _write_report(setup: Setup, model: Any, dataset: Dataset, run: RunDir) -> dict:
    """The `report { }` block's figures and evaluations, from the best weights."""
    spec = setup.spec
    if not setup.report or not (spec.report.items or spec.report.baseline) or not run.writes:
        return {}
    from aespec.report.items import write_report

    return write_report(spec, model, dataset, run.path, device=setup.device)


def _fit(trainer: Trainer, spec: Spec, graph: Any, data: batches.RunData,
         device: torch.device, reporter: Reporter, flag: StopFlag) -> str:
    try:
        if spec.train.pretrain is not None and not trainer.c.pretrained:
            records = pretrain_layerwise(trainer.model, graph, data.train, spec.train, device,
                                         reporter, flag)
            if trainer.ranks is not None:  # each rank pretrained alone: rank 0's weights
                trainer.ranks.broadcast_weights(trainer.model)
            trainer.c.pretrained = True
            trainer.run.update(pretrain=records)
            trainer.save(force=True)
        return trainer.fit()
    except Interrupted:
        if trainer.c.pretrained or spec.train.pretrain is None:
            trainer.save(force=True)
        return "interrupted"


def _pretrain_records(run: RunDir) -> list[dict]:
    return list(run.info().get("pretrain") or [])


def diverged_error(d: Diverged, trainer: Trainer, run: RunDir) -> AespecError:
    kept = (f"the last good checkpoint ({run.checkpoint}, epoch {trainer.saved_epoch}) is kept"
            if trainer.saved_epoch is not None else "no checkpoint had been written yet")
    return AespecError.of(
        "E601", f"the loss became NaN or infinite at {d.where}; training stopped and {kept}",
        hint="lower the learning rate (optimizer adam(lr=...)), use precision fp32, or check the "
        "data for extreme values", file=str(run.path))


def build_model(spec: Spec, graph: Any, device: torch.device) -> tuple[Any, list[str]]:
    """The compiled model, seeded, on the device, in the memory format that pays there."""
    from aespec.compile import compile_model

    dev.seed_everything(spec.train.seed)
    model = compile_model(graph, spec).to(device)
    notes = []
    if dev.use_channels_last(spec.train.channels_last, graph, device):
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        notes.append("channels_last")
    if spec.train.precision != "fp32":
        notes.append(f"autocast {spec.train.precision}")
    if spec.train.compile:
        notes.append("torch.compile")
    if dev.tune_allocator():
        notes.append("malloc tuned")
    return model, notes


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aespec")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def write_start(setup: Setup, run: RunDir, description: str, notes: list[str],
                **extra: Any) -> None:
    """A new run's first files: run.json (what ran, where, on what; `extra` added) and the
    resolved spec."""
    run.write_start(setup.spec, {**_info(setup, description, notes), **extra},
                    _resolved(setup))


def _info(setup: Setup, description: str, notes: list[str]) -> dict[str, Any]:
    spec, graph = setup.spec, setup.graph
    return {"aespec": _version(), "torch": torch.__version__,
            "python": platform.python_version(), "name": spec.name,
            "spec_file": _spec_file(spec),
            "spec_path": str(pathlib.Path(spec.path).resolve()) if spec.path else None,
            "base_dir": str(setup.base_dir), "overrides": setup.overrides,
            "data": setup.data.to_json(), "data_description": description,
            "device": str(setup.device), "notes": notes, "params": graph.graph["params"],
            "started": _now(), "status": "running", "seconds": 0.0}


def _resolved(setup: Setup) -> dict[str, Any]:
    spec, g = setup.spec, setup.graph.graph
    return {"spec": spec.semantic(), "overrides": setup.overrides, "data": setup.data.to_json(),
            "model": {"input": list(spec.input.shape), "z": list(g["z"]) if g.get("z") else None,
                      "output": list(g["output"]) if g.get("output") else None,
                      "params": g["params"]}}


def run_repr(kind: str, name: str, status: Any, epochs: Any, best: Any, test: Any,
              path: pathlib.Path) -> str:
    """One line for the Python display: name, status, epochs, best epoch, test loss, dir."""
    loss = test.get("loss") if isinstance(test, dict) else None
    shown = f"{loss:.4g}" if isinstance(loss, (int, float)) else None
    return (f"{kind}(name={name!r}, status={status!r}, epochs={epochs}, best_epoch={best}, "
            f"test_loss={shown}, run_dir={str(path)!r})")
