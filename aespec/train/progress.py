"""What a run tells its caller as it goes: a Reporter receives events, never tensors.

The trainer calls `step` at most a few times a second, so a reporter costs nothing per
step. The CLI's rich progress bar is one Reporter (in aespec.cli.run: rich belongs to the
CLI); `LineReporter` prints one plain line per epoch.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
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


def duration(seconds: float) -> str:
    """A time left, short: `45s`, `1m12s`, `2h03m`."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


@dataclass
class RunClock:
    """The time a run has left, from the mean time of the epochs seen so far (an upper
    bound when early stopping ends the run sooner)."""

    epochs: int
    seconds: list[float] = field(default_factory=list)

    def add(self, record: dict[str, Any]) -> None:
        self.seconds.append(float(record["seconds"]))

    def left(self, done: int) -> float | None:
        """Seconds for the epochs after epoch `done`; None before an epoch has ended."""
        if not self.seconds:
            return None
        return sum(self.seconds) / len(self.seconds) * max(0, self.epochs - done)


def epoch_line(record: dict[str, Any], epochs: int, eta: float | None = None) -> str:
    """`epoch 3/20  train 0.1234  val 0.1201  1.2 s  15,234 samples/s  best  eta 1m12s`;
    the eta (seconds the run has left) only when given and epochs remain."""
    text = f"epoch {record['epoch']}/{epochs}  train {record['train']['loss']:#.5g}"
    if record.get("val"):
        text += f"  val {record['val']['loss']:#.5g}"
    text += f"  {record['seconds']:.2f} s  {record['samples_per_s']:,.0f} samples/s"
    text += "  best" if record.get("best") else ""
    if eta is not None and record["epoch"] < epochs:
        text += f"  eta {duration(eta)}"
    return text


class LineReporter(Reporter):
    """One plain line per epoch on a stream (stdout by default), with the run's eta."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream
        self.clock: RunClock | None = None

    def _print(self, text: str) -> None:
        print(text, file=self.stream or sys.stdout, flush=True)

    def start(self, run: RunStart) -> None:
        self._print(f"{run.name}: {run.params:,} parameters on {run.device}; {run.data}; "
                    f"writing {run.run_dir}")

    def epoch(self, record: dict[str, Any], epochs: int) -> None:
        if self.clock is None or self.clock.epochs != epochs:
            self.clock = RunClock(epochs)
        self.clock.add(record)
        self._print(epoch_line(record, epochs, self.clock.left(record["epoch"])))

    def message(self, text: str) -> None:
        self._print(text)
