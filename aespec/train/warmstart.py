"""Warm start: a new run's model starts from another run's weights (`train { init PATH }`,
`aespec run --init-from PATH`).

PATH is a run directory (its best.pt: the weights its test and report used) or a `.pt`
file: an aespec checkpoint or a bare state dict. The file may be anyone's: it is read
with `torch.load(weights_only=True)`, which builds tensors and plain containers only and
runs no code, and it must hold exactly the model's tensors with the model's shapes.
"""

from __future__ import annotations

import pathlib
from typing import Any

import torch

from aespec.errors import AespecError, Span
from aespec.model import Spec


class Where:
    """Where the PATH was given, for the errors: the spec's `init` line or the CLI."""

    def __init__(self, spec: Spec, cli: bool):
        self.span: Span | None = None if cli else spec.train_spans.get("init")
        self.file = "--init-from" if cli else spec.path
        self.source = None if cli else spec.source

    def error(self, code: str, message: str, hint: str | None = None) -> AespecError:
        err = AespecError.of(code, message, self.span, hint, self.file)
        err.source = self.source
        return err


def init_path(given: str, base: pathlib.Path | None) -> pathlib.Path:
    """The file PATH names: a run directory's best.pt, else PATH (relative to `base`)."""
    path = pathlib.Path(given).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    return path / "best.pt" if path.is_dir() else path


def read_weights(path: pathlib.Path, where: Where) -> dict[str, torch.Tensor]:
    """The state dict in `path`: E625 for a file that is missing, not a file of tensors, or
    not a model's weights."""
    if not path.is_file():
        raise where.error("E625", f"no weights to start from at {path}",
                          "give a run directory (its best.pt is read) or a .pt file")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001  (torch raises many types for a bad file)
        # not torch's message: it suggests weights_only=False, which would run the file's code
        raise where.error("E625", f"cannot read weights from {path}: it is not a PyTorch "
                          "file of tensors (or it holds objects other than tensors)",
                          "give a run directory or a checkpoint an aespec run wrote; a file "
                          "of any other objects is never loaded") from None
    state = loaded.get("model", loaded) if isinstance(loaded, dict) else None
    if not isinstance(state, dict) or not state or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise where.error("E625", f"{path} holds no model weights (a dict of named tensors)",
                          "give a run directory or a checkpoint an aespec run wrote")
    return state


def check_fits(model: Any, state: dict[str, torch.Tensor], path: pathlib.Path,
               where: Where) -> None:
    """E626 naming the first tensor that the model and the file do not share alike."""
    own = model.state_dict()
    for key, mine in own.items():
        theirs = state.get(key)
        if theirs is None:
            raise where.error("E626", f"{path} has no tensor '{key}' {tuple(mine.shape)}",
                              "warm start from a run of the same layers (`aespec check` "
                              "both specs: the op tables must match)")
        if theirs.shape != mine.shape:
            raise where.error("E626", f"'{key}' is {tuple(theirs.shape)} in {path} but "
                              f"{tuple(mine.shape)} in this model",
                              "warm start from a run of the same layers and widths")
    extra = next((k for k in state if k not in own), None)
    if extra is not None:
        raise where.error("E626", f"{path} has a tensor '{extra}' "
                          f"{tuple(state[extra].shape)} that this model has not",
                          "warm start from a run of the same layers")


def warm_start(model: Any, spec: Spec, base: pathlib.Path | None,
               cli_path: str | None = None) -> str | None:
    """Load the weights `--init-from` (first) or `train.init` names into `model`; the
    path read, or None when neither is given."""
    given = cli_path or spec.train.init
    if given is None:
        return None
    where = Where(spec, cli_path is not None)
    path = init_path(given, None if cli_path else base)
    state = read_weights(path, where)
    check_fits(model, state, path, where)
    with torch.no_grad():
        model.load_state_dict({k: v.to(model.state_dict()[k].dtype) for k, v in state.items()})
    return str(path)
