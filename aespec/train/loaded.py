"""Reading a run directory back: its spec, graph and trained model (`load_run`)."""

from __future__ import annotations

import pathlib
from dataclasses import dataclass
from typing import Any

import torch

from aespec.data import Dataset
from aespec.graph import check_source
from aespec.model import Spec
from aespec.train import batches
from aespec.train import device as dev
from aespec.train.api import build_model, run_repr
from aespec.train.rundir import RunDir, check_same, load_checkpoint, load_weights


@dataclass(frozen=True)
class LoadedRun:
    """A run directory read back: its spec, graph, trained model (eval mode) and info."""

    run: RunDir
    spec: Spec
    graph: Any
    model: Any
    info: dict[str, Any]
    device: torch.device
    base_dir: pathlib.Path

    def __repr__(self) -> str:
        i = self.info
        return run_repr("LoadedRun", self.spec.name, i.get("status"), i.get("epochs_run"),
                         i.get("best_epoch"), i.get("test"), self.run.path)

    def dataset(self, data: str | None = None) -> Dataset:
        """The run's data (or `data` as on the command line) as loaded, before any split."""
        d = self.info["data"]
        choice = batches.parse_data(data) if data is not None else batches.DataChoice(
            d["source"], d["args"], None, str(self.run.path / "run.json"))
        return batches.load(self.spec, choice, self.base_dir)

    def data(self, data: str | None = None) -> batches.RunData:
        """The run's data (or `data`) on the device, split as in training."""
        return batches.to_device(self.dataset(data), self.spec.train.split, self.device)



def load_run(path: str | pathlib.Path, *, which: str = "best", device: str = "auto"
             ) -> LoadedRun:
    """Read a run directory: the spec it was trained from and the `best` (or `last`) weights."""
    run = RunDir(pathlib.Path(path))
    info = run.info()
    source, name = run.source()
    result = check_source(source, info.get("spec_path") or str(run.path / name),
                          info["overrides"])
    result.raise_for_errors()
    spec = result.spec
    assert spec is not None
    ckpt = load_checkpoint(run.best if which == "best" else run.checkpoint)
    check_same(ckpt, spec, run.best if which == "best" else run.checkpoint, resume=False)
    torch_device = dev.resolve_device(device)
    graph = result.graph
    model, _ = build_model(spec, graph, torch_device)
    load_weights(model, ckpt["model"], run.best if which == "best" else run.checkpoint)
    model.eval()
    return LoadedRun(run, spec, graph, model, info, torch_device, pathlib.Path(info["base_dir"]))
