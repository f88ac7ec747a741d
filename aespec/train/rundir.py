"""Run directories: the spec as given and resolved, metrics, checkpoints; and reading them back.

A run directory holds

    <name>.ae         the spec as given (its source text)
    resolved.json     the spec with every default filled in, overrides applied, and shapes
    run.json          how it was run: overrides, data, device, status, test results
    metrics.jsonl     one JSON object per epoch
    metrics.csv       the same, one row per epoch (epoch, train_<term>..., val_<term>...,
                      lr, train_seconds, samples_per_s), rewritten with metrics.jsonl
    checkpoint.pt     the last state (model, optimizer, schedule, RNG, history)
    best.pt           the weights with the best validation loss
    .aespec-run       the mark of a run folder aespec made: its run id and the files
                      it writes before the first checkpoint (see `check_fresh`)

Checkpoints are plain dicts of tensors and JSON-like values, written to a temporary file
and renamed, and read with `torch.load(weights_only=True)`. Each carries the spec it was
trained from, so loading it into a different model is refused with the keys that differ.

`--out DIR` writes only into a new or empty folder, or into a run folder aespec made (the
mark) whose run stopped before its first checkpoint; any other folder, whatever its files
are called, is the user's and is refused (E618) before anything is written.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import pathlib
import stat
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, ClassVar, cast

import torch

from aespec.errors import AespecError, Diagnostic
from aespec.model import Spec
from aespec.report import runfiles

FORMAT = "aespec-checkpoint/1"
# What each kind of checkpoint must hold, and of what type: a file that lacks a key, or
# holds the wrong type, is refused (E604) before any of it is used.
WEIGHTS = {"model": dict, "model_key": str, "train_key": str}
STATE = {**WEIGHTS, "optimizer": dict, "schedule": dict, "counters": dict, "names": list,
         "elapsed": (int, float), "rng": dict, "batch_rng": torch.Tensor}
# What run.json must hold for a run to be read back or resumed.
RUN_INFO = {"spec_file": str, "overrides": list, "data": dict, "base_dir": str}
MODEL_KEYS = ("input", "noise", "encoder", "bottleneck", "decoder", "loss", "regularizers")
# and a GAN's, and a condition's (spec.semantic drops them where a spec has none, so its
# runs' identity is what it was before GANs and conditions)
GAN_KEYS = ("condition", "latent", "discriminator", "adversarial")
# train keys a resumed run may change (its weights are loaded: how they began is past)
RESUMABLE = ("epochs", "device", "init_weights")


# ---------------------------------------------------------------- what a spec means


def model_key(spec: Spec) -> dict[str, Any]:
    """What the weights depend on: the layers, noise and objective."""
    meaning = spec.semantic()
    return {k: meaning[k] for k in (*MODEL_KEYS, *GAN_KEYS) if k in meaning}


def train_key(spec: Spec) -> dict[str, Any]:
    """What a resumed run must share with the stopped one, besides the model: its phases
    too, less their epochs (a resumed run may change those, as `train.epochs`)."""
    meaning = spec.semantic()
    key = {k: v for k, v in meaning["train"].items() if k not in RESUMABLE}
    if "phases" in meaning:
        key["phases"] = [{k: v for k, v in p.items() if k != "epochs"}
                         for p in meaning["phases"]]
    return key


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


def _key(ckpt: dict[str, Any], name: str, where: pathlib.Path) -> Any:
    """A checkpoint's record of its spec (JSON text); E604 when it is not JSON."""
    try:
        return json.loads(ckpt[name])
    except ValueError:
        raise AespecError.of("E604", f"{where}: its record of the spec ('{name}') is not "
                             "JSON", file=str(where),
                             hint="the file was changed; use the run's own checkpoint") from None


def check_same(ckpt: dict[str, Any], spec: Spec, where: pathlib.Path, *, resume: bool) -> None:
    """Refuse a checkpoint trained from a different model (or, to resume, other settings)."""
    found = differences(_key(ckpt, "model_key", where), model_key(spec))
    if resume:
        found += [f"train.{d}" for d in differences(_key(ckpt, "train_key", where),
                                                     train_key(spec))]
    if found:
        shown = "; ".join(found[:6]) + (f"; and {len(found) - 6} more" if len(found) > 6 else "")
        allowed = ", ".join(f"train.{k}" for k in RESUMABLE)
        raise AespecError.of("E602", f"{where} was trained from a different spec: {shown}",
                             hint=f"use the spec the run was trained with (a resumed run may "
                                  f"change only {allowed})" if resume else
                             "load it with the spec the run was trained with", file=str(where))


# ---------------------------------------------------------------- files


def atomic_write(path: pathlib.Path, write: Callable[[IO[bytes]], object]) -> None:
    """`write(file)` into PATH.tmp, flush to disk, rename over PATH: never a torn file."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.unlink(missing_ok=True)  # a link left there (a hand-in) is removed, not followed
        with open(tmp, "xb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class _WriteErrors:
    """A file whose write() keeps the OSError it raised: torch.save's zip writer swallows
    it (a full disk) and raises RuntimeError("unexpected pos ...") in its place."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self.fh.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.fh.flush()


def _torch_save(obj: Any, fh: IO[bytes]) -> None:
    """torch.save into `fh`; a failed write of the file is its OSError (E606 upstream)."""
    out = _WriteErrors(fh)
    try:
        torch.save(obj, cast(IO[bytes], out))  # torch needs only write() and flush()
    except RuntimeError:
        if out.error is None:
            raise
        raise out.error from None


def save_checkpoint(path: pathlib.Path, payload: dict[str, Any]) -> None:
    atomic_write(path, lambda fh: _torch_save({"format": FORMAT, **payload}, fh))


def load_checkpoint(path: pathlib.Path, need: dict[str, Any] = WEIGHTS) -> dict[str, Any]:
    """A checkpoint read with weights_only=True and checked to hold every key of `need`
    (WEIGHTS, or STATE to resume) with its type; E604 for a missing, unreadable or
    incomplete one."""
    if not path.is_file():
        raise AespecError.of("E604", f"no checkpoint at {path}",
                             hint="the run stopped before its first checkpoint; start it again "
                             f"with --out {path.parent}", file=str(path))
    if path.is_symlink():  # a run folder may be anyone's: its files are its own, not links
        raise AespecError.of("E604", f"{path} is a link, not the run's own checkpoint",
                             file=str(path))
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (torch raises many types for a bad file)
        raise AespecError.of("E604", f"cannot read checkpoint {path}: "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                             file=str(path)) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise AespecError.of("E604", f"{path} is not an aespec checkpoint", file=str(path))
    _check_fields(ckpt, need, path)
    return ckpt


def _check_fields(ckpt: dict[str, Any], need: dict[str, Any], path: pathlib.Path) -> None:
    missing = [k for k in need if k not in ckpt]
    if missing and need is STATE and not any(k in ckpt for k in ("optimizer", "counters")):
        raise AespecError.of("E604", f"{path} holds weights only (as best.pt does), not the "
                             "training state a run resumes from", file=str(path),
                             hint="resume from the run's own checkpoint.pt, or start again")
    wrong = [k for k in need if k in ckpt and not isinstance(ckpt[k], need[k])]
    if missing or wrong:
        said = [f"lacks '{k}'" for k in missing] + [
            f"'{k}' is a {type(ckpt[k]).__name__}" for k in wrong]
        raise AespecError.of("E604", f"{path} is not a complete aespec checkpoint: "
                             f"{', '.join(said)}", file=str(path),
                             hint="the file was changed or written by something else; use the "
                             "run's own checkpoint, or start again")


def load_weights(module: Any, state: dict[str, Any], path: pathlib.Path) -> None:
    """`module.load_state_dict(state)`; E604 naming the first tensor that does not fit.

    A buffer the model holds empty takes the file's size (an rbm's persistent chains: as
    many as the batch, filled by the first training step; the module resizes it)."""
    own = module.state_dict()
    buffers = getattr(module, "named_buffers", lambda: ())()  # an optimizer has none
    empty = {k for k, b in buffers if b.numel() == 0}
    for key, value in state.items():
        mine = own.get(key)
        if key in empty and isinstance(value, torch.Tensor):
            continue
        if isinstance(mine, torch.Tensor) and (not isinstance(value, torch.Tensor)
                                               or value.shape != mine.shape):
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise AespecError.of("E604", f"'{key}' is {shape} in the file but "
                                 f"{tuple(mine.shape)} in the model", file=str(path),
                                 hint="the weights were changed or come from another model")
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AespecError.of("E604", f"the weights do not fit the model: {first}",
                             file=str(path)) from None


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


@dataclass
class RunDir:
    """A run directory, written by a training run and read by eval, sample and encode."""

    path: pathlib.Path
    writes: ClassVar[bool] = True  # False for a distributed run's other ranks (dist.py)
    # set when write_start refused the folder (E618, E603): then `update`, which marks a
    # failed run, leaves the folder (the user's, or another run's) alone
    refused: bool = field(default=False, init=False, repr=False)

    @property
    def checkpoint(self) -> pathlib.Path:
        return self.path / "checkpoint.pt"

    @property
    def best(self) -> pathlib.Path:
        return self.path / "best.pt"

    @property
    def metrics(self) -> pathlib.Path:
        return self.path / "metrics.jsonl"

    @property
    def metrics_csv(self) -> pathlib.Path:
        return self.path / "metrics.csv"

    def info(self) -> dict[str, Any]:
        """run.json, checked to hold what reading the run back needs (RUN_INFO); E603."""
        where = self.path / "run.json"
        try:
            info = json.loads(self._read("run.json", runfiles.MAX_JSON, "record").decode())
        except (FileNotFoundError, NotADirectoryError):
            raise AespecError.of("E603", f"{self.path} is not a run directory (no run.json)",
                                 hint="pass a directory written by `aespec run`",
                                 file=str(self.path)) from None
        except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, nested too deep
            raise AespecError.of("E603", f"cannot read {where}: "
                                 f"{exc if isinstance(exc, ValueError) else 'nested too deeply'}",
                                 file=str(where)) from None
        said = ["it is not a JSON object"] if not isinstance(info, dict) else [
            f"it lacks '{k}'" if k not in info else f"'{k}' is not a {kind.__name__}"
            for k, kind in RUN_INFO.items() if not isinstance(info.get(k), kind)]
        name = info.get("spec_file") if isinstance(info, dict) else None
        if isinstance(name, str) and (pathlib.Path(name).name != name or name in ("", ".", "..")):
            said.append(f"'spec_file' must name a file in the run directory, not {name!r}")
        if said:
            raise AespecError.of("E603", f"{where} is not a run's record: {'; '.join(said)}",
                                 hint="the file was changed or written by something else",
                                 file=str(self.path))
        return cast(dict[str, Any], info)

    def _read(self, name: str, limit: int, what: str) -> bytes:
        """The run folder's file `name`, read as the report pages read it: a regular file in
        the folder (not a link, a FIFO, a directory or a device), opened without blocking,
        at most `limit` bytes (runfiles.read_whole). FileNotFoundError when it is missing;
        E603 naming the file otherwise: a run folder may be someone else's."""
        where = self.path / name
        try:
            return runfiles.read_whole(self.path, name, limit)
        except runfiles.NotReadable as why:
            reason = str(why)
        except (FileNotFoundError, NotADirectoryError):
            raise
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
        raise AespecError.of("E603", f"cannot read {where} as the run's {what}: {reason}",
                             file=str(where), hint="a run folder holds the files aespec "
                             "wrote; was it changed or handed in by someone else?")

    def update(self, **fields: Any) -> None:
        if self.refused:
            return
        info = {**self.info(), **fields}
        atomic_write(self.path / "run.json", lambda fh: fh.write(_json(info).encode()))

    def write_start(self, spec: Spec, info: dict[str, Any], resolved: dict[str, Any]) -> None:
        """The mark, run.json, the spec as given and the resolved spec, at the start of a
        run; the folder is checked again first (it may have changed since the run was
        placed), so nothing is written over a file aespec did not write."""
        try:
            run_id = claim(self.path, info["spec_file"], info.get("aespec"))
        except AespecError:
            self.refused = True
            raise
        info = {**info, "run_id": run_id}
        atomic_write(self.path / "run.json", lambda fh: fh.write(_json(info).encode()))
        (self.path / info["spec_file"]).write_text(spec.source, encoding="utf-8")
        (self.path / "resolved.json").write_text(_json(resolved), encoding="utf-8")
        self.metrics.write_text("", encoding="utf-8")
        self.metrics_csv.write_text("", encoding="utf-8")

    def append_metrics(self, record: dict[str, Any]) -> None:
        with open(self.metrics, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def rewrite_metrics(self, history: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(r) + "\n" for r in history)
        atomic_write(self.metrics, lambda fh: fh.write(text.encode()))
        self.write_metrics_csv(history)

    def write_metrics_csv(self, history: list[dict[str, Any]]) -> None:
        """metrics.csv from the whole history, written to a .tmp and renamed over it."""
        tmp = self.metrics_csv.with_name("metrics.csv.tmp")
        tmp.unlink(missing_ok=True)  # as atomic_write: never written through a link
        with open(tmp, "x", encoding="utf-8") as fh:
            fh.write(metrics_csv(history))
        os.replace(tmp, self.metrics_csv)

    def read_metrics(self) -> tuple[list[dict[str, Any]], list[Diagnostic]]:
        """metrics.jsonl's records, read as the report pages read them (runfiles.read_metrics):
        at most 64 MiB and 100,000 epochs, with a note (E621) when it was cut; E610 for a
        file that is not a regular one in the folder, or a line that is not an epoch's."""
        return runfiles.read_metrics(self.metrics)

    def source(self) -> tuple[str, str]:
        """The spec text as given and the file name it was saved under (E603 when it is
        missing, not a regular file in the folder, larger than a spec can be, or not UTF-8)."""
        name = self.info()["spec_file"]
        where = self.path / name
        try:
            return self._read(name, runfiles.MAX_SPEC, "spec").decode("utf-8"), name
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise AespecError.of("E603", f"cannot read the run's spec {where}: {reason}",
                                 file=str(where)) from None


def new_run_path(name: str, root: pathlib.Path | None = None) -> pathlib.Path:
    """`runs/<name>-<YYYYmmdd-HHMMSS>` (with `-2`, `-3`... when that exists), created here:
    `mkdir` either makes it or fails, so two runs started in the same second never share
    a directory."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = (root or pathlib.Path("runs")) / f"{name}-{stamp}"
    make_dir(base.parent, parents=True)
    path, n = base, 1
    while True:
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        except OSError as exc:
            raise cannot_write(path, exc) from None


# the files a run writes before its first checkpoint: what starting it again replaces
# (with the spec's own file, named in run.json and the mark)
STARTED = ("run.json", "resolved.json", "metrics.jsonl", "metrics.csv", "report.html")

CSV_TAIL = ("lr", "train_seconds", "samples_per_s")


def metrics_csv(history: list[dict[str, Any]]) -> str:
    """The metrics as CSV, one row per epoch: epoch, train_<term>..., val_<term>..., then
    where the run has them weight_<term>... (scheduled weights) and grad_norm_<mean, max>,
    then lr, train_seconds, samples_per_s; a value missing from an epoch is an empty cell."""
    def terms(part: str) -> list[str]:
        return list(dict.fromkeys(k for r in history for k in (r.get(part) or {})))

    parts = {"train": "train", "val": "val", "weights": "weight", "grad_norm": "grad_norm"}
    columns = {part: terms(part) for part in parts}
    out = io.StringIO()
    rows = csv.writer(out, lineterminator="\n")
    rows.writerow(["epoch", *(f"{parts[p]}_{t}" for p, ts in columns.items() for t in ts),
                   *CSV_TAIL])
    for r in history:
        rows.writerow([r.get("epoch"), *((r.get(p) or {}).get(t, "") for p, ts in
                                         columns.items() for t in ts),
                       *(r.get(k, "") for k in CSV_TAIL)])
    return out.getvalue()


def check_fresh(path: pathlib.Path) -> None:
    """An --out directory must be new, empty, or a run folder aespec made whose run stopped
    before its first checkpoint (started again in place): a run is never written over
    another (E603), nor into a folder of the user's (E618)."""
    if not path.exists():
        return
    if not path.is_dir():
        raise AespecError.of("E603", f"{path} exists and is not a directory", file=str(path),
                             hint="choose another --out")
    names = _names(path)
    if not names or _restartable(path, names):
        return
    if read_mark(path) is None:
        raise _not_ours(path, names)
    hint = ("continue it with --resume " + str(path)) if "checkpoint.pt" in names \
        else "choose another --out"
    raise AespecError.of("E603", f"{path} already exists and is not empty", hint=hint,
                         file=str(path))


MARKER = ".aespec-run"  # written first into each run folder aespec makes
MARK_FORMAT = "aespec-run/1"
MARK_LIMIT = 64 * 1024  # bytes of a mark read: its few names are well under this


def claim(path: pathlib.Path, spec_file: str, version: Any = None) -> str:
    """Make PATH a run folder of aespec's (check_fresh again, then the mark, before any
    other file); its run id, kept when a stopped run starts again in place. The mark lists
    the files the run writes before its first checkpoint: only those may be replaced."""
    check_fresh(path)
    make_dir(path, parents=True)
    mark = read_mark(path) or {"format": MARK_FORMAT, "run_id": uuid.uuid4().hex,
                               "aespec": version, "files": []}
    mark["files"] = sorted({*mark["files"], *STARTED, spec_file})
    atomic_write(path / MARKER, lambda fh: fh.write(_json(mark).encode()))
    return str(mark["run_id"])


def read_mark(path: pathlib.Path) -> dict[str, Any] | None:
    """The folder's mark, or None where there is none that aespec wrote: missing, not a
    regular file (a link, a FIFO: not followed, not opened), too large, or not the mark's
    JSON."""
    try:
        text, whole = runfiles.read_head(path, MARKER, MARK_LIMIT)
        mark = json.loads(text) if whole else None
    except (OSError, runfiles.NotReadable, ValueError, RecursionError):
        return None
    good = (isinstance(mark, dict) and mark.get("format") == MARK_FORMAT
            and isinstance(mark.get("run_id"), str) and isinstance(mark.get("files"), list)
            and all(isinstance(n, str) for n in mark["files"]))
    return mark if good else None


def _restartable(path: pathlib.Path, names: list[str]) -> bool:
    """A run folder aespec made whose run stopped (killed, failed) before its first
    checkpoint, holding only files the mark lists (and their .tmp): nothing in it can be
    resumed, and nothing in it is the user's, so `--out` the same folder starts it again."""
    mark = read_mark(path)
    if mark is None or "checkpoint.pt" in names or "best.pt" in names:
        return False
    ours = {MARKER, *mark["files"]}
    return all((n in ours or (n.endswith(".tmp") and n[:-4] in ours))
               and _is_file(path / n) for n in names)


def _is_file(path: pathlib.Path) -> bool:
    """A regular file, not a link: starting again writes these names, and must not write
    through a link to somewhere else."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _names(path: pathlib.Path) -> list[str]:
    try:
        return sorted(p.name for p in path.iterdir())
    except OSError as exc:
        raise cannot_write(path, exc) from None


def _not_ours(path: pathlib.Path, names: list[str]) -> AespecError:
    """E618 for a folder aespec did not make, naming a file that a run would replace, else
    the first file there."""
    would = [n for n in names if n in STARTED or n.endswith(".ae")
             or n in ("checkpoint.pt", "best.pt")]
    named = path / (would or names)[0]
    said = "would be overwritten" if would else "is there"
    hint = "choose a new or empty folder for --out"
    if "checkpoint.pt" in names and "run.json" in names:
        hint += f", or continue a run kept there with --resume {path}"
    return AespecError.of("E618", f"{named} {said}, and aespec did not write it: {path} is "
                          "not a run folder aespec made, and it is not empty", hint=hint,
                          file=str(named))


def make_dir(path: pathlib.Path, parents: bool = False) -> None:
    """mkdir (existing is fine); E606 naming the path when it cannot be made."""
    try:
        path.mkdir(parents=parents, exist_ok=True)
    except OSError as exc:
        raise cannot_write(path, exc) from None


def cannot_write(path: pathlib.Path, exc: OSError, kept: str = "") -> AespecError:
    """E606 for a file or folder of a run that cannot be written: the reason, not a trace."""
    reason = exc.strerror or type(exc).__name__
    return AespecError.of("E606", f"cannot write {path}: {reason}{kept}", file=str(path),
                          hint="free some space, or choose an --out on a writable disk"
                          if exc.errno == 28 else "choose an --out folder you can write to")
