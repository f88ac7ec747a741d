"""`aespec.train`: a spec and its data -> a training run -> a run directory and a RunResult.

The entry only: a run's stages are rooms of their own. setup.py (the spec checked, the
data chosen, the device and allocator tuned), start.py (a new or resumed run, its epochs),
loop.py (the Trainer), record.py (what run.json says), finish.py (test, report, result).
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

from aespec.train import dist
from aespec.train.finish import RunResult, run_repr
from aespec.train.loggers import with_tensorboard
from aespec.train.progress import Reporter, default_reporter
from aespec.train.setup import RunRequest, SpecLike, build_model, run_overrides
from aespec.train.start import resume_run, start_run

__all__ = ["RunRequest", "RunResult", "build_model", "run", "run_repr", "train"]


def train(spec: SpecLike | None = None, *, data: str | None = None,
          epochs: int | None = None, device: str | None = None,
          out: str | pathlib.Path | None = None, quiet: bool = False,
          resume: str | pathlib.Path | None = None, overrides: Sequence[str] = (),
          progress: Reporter | None = None, report: bool = True,
          tensorboard: bool = False, fast_dev_run: bool = False,
          init_from: str | pathlib.Path | None = None) -> RunResult:
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
    (`aespec run --fast-dev-run`, which gives it a temporary `out`). `init_from` starts
    a new run from another run's weights (a run directory or a .pt file; as `train { init
    PATH }`, checked to have the model's tensors and shapes: E625, E626).
    """
    request = RunRequest(spec, data=data, out=out, resume=resume,
                         overrides=tuple(run_overrides(overrides, epochs, device)),
                         device=device or "auto", report=report, tensorboard=tensorboard,
                         fast_dev_run=fast_dev_run,
                         init_from=None if init_from is None else str(init_from))
    return run(request, progress or default_reporter(quiet))


def run(request: RunRequest, reporter: Reporter) -> RunResult:
    """Carry out a run request (`aespec run` builds its own), shown by `reporter`: in a
    distributed run (docs/distributed.md) each rank runs it, and only the writer shows it."""
    if request.tensorboard:
        reporter = with_tensorboard(reporter)
    with dist.joined(request.device) as ranks:  # None unless under torch's launcher
        if ranks is not None and not ranks.writer:
            reporter = Reporter()
        if request.resume is not None:
            return resume_run(request, reporter, ranks)
        return start_run(request, reporter, ranks)
