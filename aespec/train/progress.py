"""What a run tells its caller as it goes: a Reporter receives events, never tensors.

The trainer calls `step` at most a few times a second, so a reporter costs nothing per
step. The CLI's rich progress bar is one Reporter (in aespec.cli.run: rich belongs to the
CLI); `LineReporter` prints one plain line per epoch.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, TextIO


@dataclass(frozen=True)
class RunStart:
    name: str
    run_dir: str
    epochs: int
    first_epoch: int  # 1, or the epoch a resumed run continues from
    steps: int  # steps per epoch
    n_train: int
    n_val: int
    data: str
    device: str
    params: int
    notes: tuple[str, ...] = ()  # the speed choices in effect (channels_last, fused adam...)


class Reporter:
    """A no-op reporter: subclasses override what they show."""

    def start(self, run: RunStart) -> None: ...

    def phase(self, text: str, total: int) -> None:
        """A new phase of `total` steps starts (an epoch, a pretraining stage)."""

    def step(self, done: int, loss: float, samples_per_s: float) -> None: ...

    def epoch(self, record: dict[str, Any], epochs: int) -> None: ...

    def message(self, text: str) -> None: ...

    def close(self) -> None: ...


def epoch_line(record: dict[str, Any], epochs: int) -> str:
    """`epoch 3/20  train 0.1234  val 0.1201  1.2 s  15,234 samples/s  best`."""
    text = f"epoch {record['epoch']}/{epochs}  train {record['train']['loss']:#.5g}"
    if record.get("val"):
        text += f"  val {record['val']['loss']:#.5g}"
    text += f"  {record['seconds']:.2f} s  {record['samples_per_s']:,.0f} samples/s"
    return text + ("  best" if record.get("best") else "")


class LineReporter(Reporter):
    """One plain line per epoch on a stream (stdout by default)."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream

    def _print(self, text: str) -> None:
        print(text, file=self.stream or sys.stdout, flush=True)

    def start(self, run: RunStart) -> None:
        self._print(f"{run.name}: {run.params:,} parameters on {run.device}; {run.data}; "
                    f"writing {run.run_dir}")

    def epoch(self, record: dict[str, Any], epochs: int) -> None:
        self._print(epoch_line(record, epochs))

    def message(self, text: str) -> None:
        self._print(text)
