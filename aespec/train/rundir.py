"""Run directories: the spec as given and resolved, metrics, checkpoints; and reading them back.

A run directory holds

    <name>.ae         the spec as given (its source text)
    resolved.json     the spec with every default filled in, overrides applied, and shapes
    run.json          how it was run: overrides, data, device, status, test results
    metrics.jsonl     one JSON object per epoch
    checkpoint.pt     the last state (model, optimizer, schedule, RNG, history)
    best.pt           the weights with the best validation loss

Checkpoints are plain dicts of tensors and JSON-like values, written to a temporary file
and renamed, and read with `torch.load(weights_only=True)`. Each carries the spec it was
trained from, so loading it into a different model is refused with the keys that differ.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
from dataclasses import dataclass
from typing import Any

import torch

from aespec.errors import AespecError
from aespec.model import Spec

FORMAT = "aespec-checkpoint/1"
MODEL_KEYS = ("input", "noise", "encoder", "bottleneck", "decoder", "loss", "regularizers")
RESUMABLE = ("epochs", "device")  # train keys a resumed run may change


# ---------------------------------------------------------------- what a spec means


def semantic(spec: Spec) -> dict[str, Any]:
    """The spec as plain JSON without source positions: equal for equal meaning."""
    dumped = spec.model_dump(mode="json", serialize_as_any=True, exclude={
        "source", "path", "train_spans", "report_spans", "block_spans", "loss_span"})
    return _strip_spans(dumped)


def _strip_spans(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_spans(v) for k, v in value.items() if k not in ("span", "target_span")}
    if isinstance(value, list):
        return [_strip_spans(v) for v in value]
    return value


def model_key(spec: Spec) -> dict[str, Any]:
    """What the weights depend on: the layers, noise and objective."""
    meaning = semantic(spec)
    return {k: meaning[k] for k in MODEL_KEYS}


def train_key(spec: Spec) -> dict[str, Any]:
    """What a resumed run must share with the stopped one, besides the model."""
    return {k: v for k, v in semantic(spec)["train"].items() if k not in RESUMABLE}


def differences(old: Any, new: Any, path: str = "") -> list[str]:
    """`encoder[0].args.channels: 32 -> 16` for each leaf that differs."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for k in sorted(set(old) | set(new), key=str)
                for d in differences(old.get(k), new.get(k), f"{path}.{k}" if path else k)]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new, strict=True))
                for d in differences(a, b, f"{path}[{i}]")]
    if old != new:
        return [f"{path}: {_short(old)} -> {_short(new)}"]
    return []


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_same(ckpt: dict, spec: Spec, where: pathlib.Path, *, resume: bool) -> None:
    """Refuse a checkpoint trained from a different model (or, to resume, other settings)."""
    found = differences(json.loads(ckpt["model_key"]), model_key(spec))
    if resume:
        found += [f"train.{d}" for d in differences(json.loads(ckpt["train_key"]),
                                                     train_key(spec))]
    if found:
        shown = "; ".join(found[:6]) + (f"; and {len(found) - 6} more" if len(found) > 6 else "")
        allowed = ", ".join(f"train.{k}" for k in RESUMABLE)
        raise AespecError.of("E602", f"{where} was trained from a different spec: {shown}",
                             hint=f"use the spec the run was trained with (a resumed run may "
                                  f"change only {allowed})" if resume else
                             "load it with the spec the run was trained with", file=str(where))


# ---------------------------------------------------------------- files


def atomic_write(path: pathlib.Path, write) -> None:
    """`write(file)` into PATH.tmp, flush to disk, rename over PATH: never a torn file."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_checkpoint(path: pathlib.Path, payload: dict) -> None:
    atomic_write(path, lambda fh: torch.save({"format": FORMAT, **payload}, fh))


def load_checkpoint(path: pathlib.Path) -> dict:
    """A checkpoint read with weights_only=True; E604 for a missing or unreadable one."""
    if not path.is_file():
        raise AespecError.of("E604", f"no checkpoint at {path}",
                             hint="the run stopped before its first checkpoint; start it again",
                             file=str(path))
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (torch raises many types for a bad file)
        raise AespecError.of("E604", f"cannot read checkpoint {path}: "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                             file=str(path)) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise AespecError.of("E604", f"{path} is not an aespec checkpoint", file=str(path))
    return ckpt


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


@dataclass
class RunDir:
    """A run directory, written by a training run and read by eval, sample and encode."""

    path: pathlib.Path

    @property
    def checkpoint(self) -> pathlib.Path:
        return self.path / "checkpoint.pt"

    @property
    def best(self) -> pathlib.Path:
        return self.path / "best.pt"

    @property
    def metrics(self) -> pathlib.Path:
        return self.path / "metrics.jsonl"

    def info(self) -> dict[str, Any]:
        try:
            return json.loads((self.path / "run.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise AespecError.of("E603", f"{self.path} is not a run directory (no run.json)",
                                 hint="pass a directory written by `aespec run`",
                                 file=str(self.path)) from None
        except (OSError, ValueError) as exc:
            raise AespecError.of("E603", f"cannot read {self.path / 'run.json'}: {exc}",
                                 file=str(self.path)) from None

    def update(self, **fields: Any) -> None:
        info = {**self.info(), **fields}
        atomic_write(self.path / "run.json", lambda fh: fh.write(_json(info).encode()))

    def write_start(self, spec: Spec, info: dict[str, Any], resolved: dict[str, Any]) -> None:
        """The spec as given, the resolved spec and run.json, at the start of a run."""
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / info["spec_file"]).write_text(spec.source, encoding="utf-8")
        (self.path / "resolved.json").write_text(_json(resolved), encoding="utf-8")
        atomic_write(self.path / "run.json", lambda fh: fh.write(_json(info).encode()))
        self.metrics.write_text("", encoding="utf-8")

    def append_metrics(self, record: dict[str, Any]) -> None:
        with open(self.metrics, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def rewrite_metrics(self, history: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(r) + "\n" for r in history)
        atomic_write(self.metrics, lambda fh: fh.write(text.encode()))

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics.is_file():
            return []
        return [json.loads(line) for line in self.metrics.read_text().splitlines() if line]

    def source(self) -> tuple[str, str]:
        """The spec text as given and the file name it was saved under."""
        name = self.info()["spec_file"]
        try:
            return (self.path / name).read_text(encoding="utf-8"), name
        except OSError as exc:
            raise AespecError.of("E603", f"cannot read the run's spec {self.path / name}: "
                                 f"{exc}", file=str(self.path)) from None


def new_run_path(name: str, root: pathlib.Path | None = None) -> pathlib.Path:
    """`runs/<name>-<YYYYmmdd-HHMMSS>` (with `-2`, `-3`... when that exists)."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = (root or pathlib.Path("runs")) / f"{name}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def check_fresh(path: pathlib.Path) -> None:
    """An --out directory must be new or empty: a run is never written over another."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        hint = ("continue it with --resume " + str(path)) if (path / "run.json").exists() \
            else "choose another --out"
        raise AespecError.of("E603", f"{path} already exists and is not empty", hint=hint,
                             file=str(path))
