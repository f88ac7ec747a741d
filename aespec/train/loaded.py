"""Reading a run directory back: its spec, graph and trained model (`load_run`); several
runs read back and run on the same test examples, for `aespec compare` (`compare_runs`)."""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from aespec.data import Dataset
from aespec.errors import AespecError
from aespec.graph import check_source
from aespec.model import Spec
from aespec.report.compare import ComparePage, labels_of, recon_grid
from aespec.report.page import summary_html
from aespec.train import batches
from aespec.train import device as dev
from aespec.train.api import build_model, run_repr
from aespec.train.pages import read_run_page
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

    def _repr_html_(self) -> str:
        """A notebook's view: the metrics, the curves and the diagram."""
        return summary_html(read_run_page(self.run.path, (self.spec, self.graph)))

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


def _same_inputs(loaded: list[LoadedRun], labels: list[str], n: int, seed: int
                 ) -> tuple[Any, list[tuple[str, Any]], tuple[float, float], str]:
    """A seeded choice of the first run's test examples and each run's reconstructions of
    them (eval mode: no noise, z = mu); a run whose input has another shape is left out."""
    import numpy as np

    x_test = loaded[0].dataset().x_test
    rng = np.random.default_rng(seed)
    index = np.sort(rng.choice(len(x_test), size=min(n, len(x_test)), replace=False))
    x = x_test[index]
    rows, left_out = [], []
    for run, label in zip(loaded, labels, strict=True):
        if tuple(run.spec.input.shape) != tuple(x.shape[1:]):
            left_out.append(label)
            continue
        with torch.no_grad():
            x_hat = run.model(torch.as_tensor(x, device=run.device)).x_hat
        rows.append((label, x_hat.float().cpu().numpy().reshape(x.shape)))
    lo, hi = float(x.min()), float(x.max())
    value_range = (0.0, 1.0) if lo >= 0 and hi <= 1 else (lo, max(hi, lo + 1e-6))
    note = (f"The same {len(x)} test examples of {labels[0]}'s data (indices "
            f"{', '.join(map(str, index))}, seed {seed}) and each run's reconstruction, in "
            "eval mode (no noise)" + (f"; left out, for another input shape: "
                                      f"{', '.join(left_out)}" if left_out else "") + ".")
    return x, rows, value_range, note


def compare_runs(paths: Sequence[str | pathlib.Path], *, n: int = 8, seed: int = 0,
                 device: str = "auto") -> ComparePage:
    """The comparison of several runs (E603 for a directory that is not a run, E611 for
    fewer than two): their pages' data, and their reconstructions of the same test examples."""
    chosen: dict[pathlib.Path, pathlib.Path] = {}
    for p in paths:  # each run once, as the caller named it first
        chosen.setdefault(pathlib.Path(p).resolve(), pathlib.Path(p))
    if len(chosen) < 2:
        raise AespecError.of("E611", f"compare needs two runs or more, got {len(chosen)}",
                             file=str(paths[0]) if paths else None,
                             hint="aespec compare RUN_DIR RUN_DIR [...]")
    pages = [read_run_page(p) for p in chosen.values()]
    labels = labels_of(pages)
    try:
        loaded = [load_run(p.run_dir, device=device) for p in pages]
    except AespecError as error:
        return ComparePage(pages, None, "No reconstructions: " + error.diagnostics[0].message,
                           labels)
    x, rows, value_range, note = _same_inputs(loaded, labels, n, seed)
    png = recon_grid(x, rows, value_range, "The same test examples, reconstructed by each run")
    return ComparePage(pages, png, note, labels)
