"""Loggers beside the run directory's own files: TensorBoard event files, when asked.

    >>> reporter = with_tensorboard(LineReporter())   # E609 when tensorboard is missing

A logger is a Reporter (aespec.train.progress): it receives the same epoch records as the
progress output, so the loop knows nothing of it. `Tee` hands every event to several.
tensorboard is an optional extra (`pip install aespec[tensorboard]`), imported only here,
only when asked.
"""

from __future__ import annotations

import importlib.util
import pathlib
from typing import Any

from aespec.errors import AespecError
from aespec.train.progress import Reporter, RunStart

FOLDER = "tensorboard"  # under the run directory


class Tee(Reporter):
    """Every event to each reporter, in order."""

    def __init__(self, *reporters: Reporter):
        self.reporters = reporters

    def start(self, run: RunStart) -> None:
        for r in self.reporters:
            r.start(run)

    def phase(self, text: str, total: int) -> None:
        for r in self.reporters:
            r.phase(text, total)

    def step(self, done: int, loss: float, samples_per_s: float) -> None:
        for r in self.reporters:
            r.step(done, loss, samples_per_s)

    def epoch(self, record: dict[str, Any], epochs: int) -> None:
        for r in self.reporters:
            r.epoch(record, epochs)

    def message(self, text: str) -> None:
        for r in self.reporters:
            r.message(text)

    def close(self) -> None:
        for r in self.reporters:
            r.close()


def require_tensorboard() -> None:
    """E609 unless torch's SummaryWriter can be used (it needs the tensorboard package)."""
    if importlib.util.find_spec("tensorboard") is None:
        raise AespecError.of("E609", "--tensorboard needs the tensorboard package, which is "
                             "not installed", file="--tensorboard",
                             hint="pip install aespec[tensorboard]  (or pip install tensorboard)")


class TensorBoardLogger(Reporter):
    """Each epoch's losses by term (`train/<term>`, `val/<term>`), the learning rate and
    samples/s as scalars at step = epoch, in RUN_DIR/tensorboard/."""

    def __init__(self) -> None:
        require_tensorboard()
        self.writer: Any = None

    def start(self, run: RunStart) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(pathlib.Path(run.run_dir) / FOLDER))

    def epoch(self, record: dict[str, Any], epochs: int) -> None:
        if self.writer is None:
            return
        step = int(record["epoch"])
        for part in ("train", "val"):
            for term, value in (record.get(part) or {}).items():
                self.writer.add_scalar(f"{part}/{term}", float(value), step)
        for key in ("lr", "samples_per_s"):
            if isinstance(record.get(key), (int, float)):
                self.writer.add_scalar(key, float(record[key]), step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def with_tensorboard(reporter: Reporter) -> Reporter:
    """`reporter` and a TensorBoardLogger together (E609 when tensorboard is missing)."""
    return Tee(reporter, TensorBoardLogger())
