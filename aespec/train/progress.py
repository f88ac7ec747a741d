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
    train, val = record["train"], record.get("val")
    text = f"epoch {record['epoch']}/{epochs}  "
    text += f"[{record['phase']}]  " if "phase" in record else ""
    if "generator" in train:  # a GAN's: both objectives, D's mean scores, the samples' FD
        text += (f"D {train['loss']:#.4g}  G {train['generator']:#.4g}  "
                 f"D(x) {train['d_real']:#.3g}  D(G(z)) {train['d_fake']:#.3g}")
        text += f"  FD {val['frechet_distance']:#.4g}" if val else ""
    else:
        text += f"train {train['loss']:#.5g}"
        text += f"  val {val['loss']:#.5g}" if val and "loss" in val else ""
    if "discriminator" in train and "d_sample" not in train:  # an AAE's game over its codes
        text += (f"  adv {train['adversarial']:#.4g}  D {train['discriminator']:#.4g}  "
                 f"D(prior) {train['d_real']:#.3g}  D(z) {train['d_fake']:#.3g}")
    text += vae_gan_text(train, val)
    text += f"  {record['seconds']:.2f} s  {record['samples_per_s']:,.0f} samples/s"
    text += "  best" if record.get("best") else ""
    if eta is not None and record["epoch"] < epochs:
        text += f"  eta {duration(eta)}"
    return text


def vae_gan_text(train: dict[str, Any], val: dict[str, Any] | None) -> str:
    """A VAE-GAN's game beside its VAE's loss, `  D 1.27  D(x) 0.58  D(x̂) 0.51
    D(Dec(z)) 0.45  FD 71.2`: D's loss and mean scores of the data, the reconstructions
    and the decoded draws of the prior; empty for another model's record."""
    if "d_sample" not in train:
        return ""
    text = (f"  D {train['discriminator']:#.4g}  D(x) {train['d_real']:#.3g}  "
            f"D(x̂) {train['d_recon']:#.3g}  D(Dec(z)) {train['d_sample']:#.3g}")
    return text + (f"  FD {val['frechet_distance']:#.4g}"
                   if val and "frechet_distance" in val else "")


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


# ---------------------------------------------------------------- in a notebook


def in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython's ZMQ shell, or a subclass such as Colab's):
    where a line per epoch would pile up in the cell's output, a bar updated in place reads
    better. A terminal IPython is not a notebook."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if callable(get) else None
    return shell is not None and any(
        k.__name__ == "ZMQInteractiveShell" for k in type(shell).__mro__)


def default_reporter(quiet: bool = False) -> Reporter:
    """What `aespec.train` shows when not told: nothing with `quiet`, a bar updated in
    place in a notebook, else a line per epoch."""
    if quiet:
        return Reporter()
    return NotebookReporter() if in_notebook() else LineReporter()


BAR_WIDTH = 24


def bar_text(phase: str, done: int, total: int, loss: float | None, rate: float | None,
             epoch_left: float | None, run_left: float | None, last: str = "") -> str:
    """One line: `epoch 3/20 [######------] 45/90  loss 0.12345  1,234 samples/s  eta 12s
    run 3m05s  | val 0.1201 (best)`; parts not known yet are left out."""
    filled = round(BAR_WIDTH * done / total) if total else 0
    text = f"{phase} [{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {done}/{total}"
    if loss is not None:
        text += f"  loss {loss:#.5g}"
    if rate is not None:
        text += f"  {rate:,.0f} samples/s"
    if epoch_left is not None:
        text += f"  eta {duration(epoch_left)}"
    if run_left is not None:
        text += f"  run {duration(run_left)}"
    return text + (f"  | {last}" if last else "")


def bar_html(phase: str, done: int, total: int, loss: float | None, rate: float | None,
             epoch_left: float | None, run_left: float | None, last: str = "") -> str:
    """The bar of `bar_text` as HTML for a notebook: a `<progress>` element, then the
    phase, steps, loss, samples/s, the epoch's eta and the run's, and the last epoch's
    loss; parts not known yet are left out."""
    from html import escape

    parts = [f"<b>{escape(phase)}</b>", f"{done}/{total}"]
    if loss is not None:
        parts.append(f"loss {loss:#.5g}")
    if rate is not None:
        parts.append(f"{rate:,.0f} samples/s")
    if epoch_left is not None:
        parts.append(f"eta {duration(epoch_left)}")
    if run_left is not None:
        parts.append(f"run {duration(run_left)}")
    if last:
        parts.append(f"<span style=\"color: #555\">{escape(last)}</span>")
    return ('<div class="aespec-progress" style="font-family: monospace; display: flex; '
            'gap: 1em; align-items: center; flex-wrap: wrap">'
            f'<progress value="{done}" max="{max(total, 1)}" style="width: 14em"></progress>'
            + "".join(f"<span>{p}</span>" for p in parts) + "</div>")


def _ipython_display(data: dict[str, str]) -> Any:
    """A display handle of the bar in the cell's output (its text and its HTML; the
    notebook shows the HTML, a console the text), updated in place."""
    from IPython.display import display

    return display(data, raw=True, display_id=True)


class NotebookReporter(Reporter):
    """A bar in one line of the cell's output, redrawn in place when the trainer reports
    (a few times a second): the phase, steps, running loss, samples/s, the epoch's time left
    (from its pace so far) and the run's (plus the mean epoch time for each epoch after
    it), and the last epoch's validation loss, as text and as an HTML `<progress>` bar.
    `display` makes the handle from the first {mimetype: text} bundle (IPython's by
    default; tests pass their own)."""

    def __init__(self, display: Any = None, clock: Any = None):
        import time

        self.display = display or _ipython_display
        self.now = clock or time.monotonic
        self.handle: Any = None
        self.run_clock: RunClock | None = None
        self.phase_text, self.total, self.started = "", 0, 0.0
        self.done = 0
        self.loss: float | None = None
        self.rate: float | None = None
        self.last, self.epochs_done = "", 0

    def start(self, run: RunStart) -> None:
        self.run_clock = RunClock(run.epochs)
        self.epochs_done = run.first_epoch - 1
        self._show(f"{run.name}: {run.params:,} parameters on {run.device}; {run.data}; "
                   f"writing {run.run_dir}")

    def phase(self, text: str, total: int) -> None:
        self.phase_text, self.total, self.started = text, total, self.now()
        self.done, self.loss, self.rate = 0, None, None
        self._show()

    def step(self, done: int, loss: float, samples_per_s: float) -> None:
        self.done, self.loss, self.rate = done, loss, samples_per_s
        self._show()

    def epoch(self, record: dict[str, Any], epochs: int) -> None:
        if self.run_clock is None or self.run_clock.epochs != epochs:
            self.run_clock = RunClock(epochs)
        self.run_clock.add(record)
        self.epochs_done = record["epoch"]
        self.done = self.total
        part = "val" if record.get("val") else "train"
        self.last = (f"epoch {record['epoch']} {part} {record[part]['loss']:#.5g}"
                     + (" (best)" if record.get("best") else ""))
        self._show()

    def epoch_left(self) -> float | None:
        """The phase's time left at its pace so far; None before its first step."""
        if not self.done or not self.total:
            return None
        spent = self.now() - self.started
        return spent / self.done * max(0, self.total - self.done)

    def parts(self) -> tuple[Any, ...]:
        """What the bar shows, the arguments of `bar_text` and `bar_html`."""
        left = self.epoch_left()
        after = self.run_clock.left(self.epochs_done + (self.done < self.total)) \
            if self.run_clock is not None else None
        run_left = None if after is None else after + (left or 0.0)
        return (self.phase_text, self.done, self.total, self.loss, self.rate, left,
                run_left, self.last)

    def text(self) -> str:
        return bar_text(*self.parts())

    def message(self, text: str) -> None:
        self.last = text
        self._show(None if self.phase_text else text)

    def _show(self, line: str | None = None) -> None:
        """The bar (or `line`, before the first phase) shown, or updated in place."""
        from html import escape

        if line is None:
            parts = self.parts()
            data = {"text/plain": bar_text(*parts), "text/html": bar_html(*parts)}
        else:
            data = {"text/plain": line,
                    "text/html": f'<div style="font-family: monospace">{escape(line)}</div>'}
        if self.handle is None:
            self.handle = self.display(data)
        else:
            self.handle.update(data, raw=True)
