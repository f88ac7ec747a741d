"""Loggers beside the run directory's own files: TensorBoard event files, when asked.

    >>> reporter = with_tensorboard(LineReporter())   # E609 when tensorboard is missing
    >>> watch_run(reporter, spec, model, data)        # its pictures and hparams, too

A logger is a Reporter (aespec.train.progress): it receives the same epoch records as the
progress output, so the loop knows nothing of it. `Tee` hands every event to several.
Pictures need the model: `watch_run` hands the run's spec, model and a few fixed
validation examples to the TensorBoard logger alone (a Reporter still sees no tensor).
tensorboard is an optional extra (`pip install aespec[tensorboard]`), imported only here,
only when asked.
"""

from __future__ import annotations

import importlib.util
import math
import pathlib
from typing import Any

import numpy as np
import torch

from aespec.errors import AespecError
from aespec.model import Spec
from aespec.train.batches import RunData
from aespec.train.progress import Reporter, RunStart

FOLDER = "tensorboard"  # under the run directory
PICTURES = 8  # validation examples (and prior draws) drawn each epoch


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
    samples/s as scalars at step = epoch, in RUN_DIR/tensorboard/; with `watch_run`, the
    spec's settings as hparams and, each epoch, `reconstructions` (a few fixed validation
    examples over the model's reconstructions) and `samples` (decoded draws of the prior,
    for a model that has one) as images."""

    def __init__(self) -> None:
        require_tensorboard()
        self.writer: Any = None
        self.spec: Spec | None = None
        self.pictures: EpochPictures | None = None

    def start(self, run: RunStart) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(pathlib.Path(run.run_dir) / FOLDER))
        if self.spec is not None:
            write_hparams(self.writer, hparams_of(self.spec, run),
                          ["train/loss", *["val/loss"] * (run.n_val > 0)])

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
        if self.pictures is not None:
            for tag, image in self.pictures.draw().items():
                self.writer.add_image(tag, image, step,
                                      dataformats="HW" if image.ndim == 2 else "HWC")
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def with_tensorboard(reporter: Reporter) -> Reporter:
    """`reporter` and a TensorBoardLogger together (E609 when tensorboard is missing)."""
    return Tee(reporter, TensorBoardLogger())


def watch_run(reporter: Reporter, spec: Spec, model: Any, data: RunData) -> None:
    """Hand the run's spec, model and first validation (else test) examples to each
    TensorBoard logger among `reporter`'s: its hparams and its pictures each epoch."""
    loggers = [r for r in getattr(reporter, "reporters", (reporter,))
               if isinstance(r, TensorBoardLogger)]
    if not loggers:
        return
    split = data.val if data.val is not None and len(data.val) else data.test
    x, y = next(split.slices(PICTURES))  # (a split read from disk reads only these)
    for logger in loggers:
        logger.spec = spec
        logger.pictures = EpochPictures(model, x, y, spec)


# ---------------------------------------------------------------- hparams


def flat_settings(value: Any, key: str, out: dict[str, Any]) -> None:
    """A nested setting as `key.sub: scalar` entries (hparams take bool, int, float or
    str): `train.optimizer: adam`, `train.optimizer.lr: 0.001`; None as `none`."""
    if isinstance(value, dict) and set(value) == {"name", "args"}:
        out[key] = str(value["name"])
        flat_settings(value["args"], key, out)
    elif isinstance(value, dict):
        for k, v in value.items():
            flat_settings(v, f"{key}.{k}", out)
    elif isinstance(value, bool):  # as a spec writes it (TensorBoard would show 0.0)
        out[key] = str(value).lower()
    elif isinstance(value, (int, float, str)):
        out[key] = value
    else:  # None, a tuple (betas): as written
        out[key] = "none" if value is None else str(value)


def hparams_of(spec: Spec, run: RunStart) -> dict[str, Any]:
    """The spec's settings as TensorBoard hparams: its train keys, its lets, its data, its
    code size and parameter count, so that runs of a sweep compare in the HPARAMS tab."""
    said = ", ".join(f"{k}={v!r}" for k, v in spec.data.args.items()) if spec.data else ""
    data = "" if spec.data is None else f"{spec.data.source}({said})" if said else \
        spec.data.source
    out: dict[str, Any] = {"model": spec.name, "data": data, "params": run.params}
    for name, value in spec.lets.items():
        flat_settings(value, f"let.{name}", out)
    flat_settings(spec.semantic().get("train") or {}, "train", out)
    return out


def write_hparams(writer: Any, hparams: dict[str, Any], metrics: list[str]) -> None:
    """The hparams and the scalar tags they are judged by, in the run's own event file
    (SummaryWriter.add_hparams would start a run of its own in a subfolder)."""
    from torch.utils.tensorboard.summary import hparams as summaries

    for summary in summaries(hparams, dict.fromkeys(metrics, math.nan)):
        writer.file_writer.add_summary(summary)


# ---------------------------------------------------------------- pictures


class EpochPictures:
    """The same few validation examples each epoch: inputs (with the spec's noise, for a
    denoiser) over the model's reconstructions, and decoded draws of its prior, as
    (H, W) or (H, W, 3) arrays in [0, 1]; none for data that are not pictures. Drawn in
    eval mode without gradients, in a forked random state: training is left as it was."""

    def __init__(self, model: Any, x: torch.Tensor, y: torch.Tensor | None, spec: Spec):
        self.model, self.x, self.y, self.spec = model, x, y, spec
        self.can_sample = True
        lo, hi = (float(x.min()), float(x.max())) if len(x) else (0.0, 1.0)
        self.range = (0.0, 1.0) if lo >= 0 and hi <= 1 else (lo, max(hi, lo + 1e-6))

    def draw(self) -> dict[str, np.ndarray]:
        from aespec.report.figures import _pictures

        if not len(self.x) or _pictures(self.x[:1].detach().cpu().numpy()) is None:
            return {}
        model, was = self.model, self.model.training
        devices = [self.x.device.index or 0] if self.x.device.type == "cuda" else []
        out: dict[str, np.ndarray] = {}
        model.eval()
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=devices):
                torch.manual_seed(self.spec.train.seed)
                out.update(self._reconstructions())
                out.update(self._samples())
        finally:
            model.train(was)
        return out

    def _reconstructions(self) -> dict[str, np.ndarray]:
        model, x = self.model, self.x
        if self.spec.is_adversarial:  # a GAN's x_hat is its generator's draws: samples only
            return {}
        classes = getattr(model, "classes", None)
        shown = model.corrupt(x) if self.spec.noise and hasattr(model, "corrupt") else x
        x_hat = getattr(model(shown, target=self.y if classes is not None else None),
                        "x_hat", None)
        if not isinstance(x_hat, torch.Tensor) or x_hat.shape != x.shape:
            return {}  # a segmentation's masks, say: not pictures of the input
        return {"reconstructions": self._mosaic([shown, x_hat])}

    def _samples(self) -> dict[str, np.ndarray]:
        info = getattr(self.model, "info", None)
        if not self.can_sample or (getattr(info, "latent_shape", None) is None and
                                   getattr(info, "sampler", None) is None):
            return {}
        gen = torch.Generator(device=self.x.device).manual_seed(self.spec.train.seed)
        try:
            drawn = self.model.sample(len(self.x), generator=gen)
        except AespecError:  # no prior to draw from after all (E308)
            self.can_sample = False
            return {}
        return {"samples": self._mosaic([drawn])} if drawn.shape == self.x.shape else {}

    def _mosaic(self, bands: list[torch.Tensor]) -> np.ndarray:
        """Bands of pictures, one row each, white between them, scaled to [0, 1]."""
        from aespec.report.figures import _mosaic, _pictures

        pics = [_pictures(b.detach().float().cpu().numpy()) for b in bands]
        canvas, _ = _mosaic(pics, len(self.x))  # type: ignore[arg-type]
        lo, hi = self.range
        return np.nan_to_num(np.clip((canvas - lo) / (hi - lo), 0, 1), nan=1.0) \
            .astype(np.float32)
