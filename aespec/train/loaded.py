"""Reading a run directory back: its spec, graph and trained model (`load_run`); several
runs read back and run on the same test examples, for `aespec compare` (`compare_runs`).

A run folder may be someone else's, and its run.json names the data the run read (a
source, and files relative to `base_dir`). That data is read back only as a regular file
or a folder (never a FIFO, a socket or a device), and never through a link out of the run
folder. `aespec eval`, `encode` and the API read the data of the run the user named, where
run.json says (a run's data usually lies beside its spec, outside the run folder);
`aespec compare`, which takes runs from anyone, reads only data built into aespec
(digits, synthetic, mnist and fashion_mnist from their data set folder) or files inside
the run folder (or a folder the caller trusts, `inside`): else the page says why it has no
reconstructions. `--data`, named by the user, is read as given.
"""

from __future__ import annotations

import json
import os
import pathlib
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from aespec.data import REGISTRY as SOURCE_ENTRIES
from aespec.data import Dataset
from aespec.errors import AespecError
from aespec.graph import IR, check_source
from aespec.model import Spec
from aespec.report import latent, runfiles
from aespec.report.compare import ComparePage, labels_of, recon_grid
from aespec.report.page import summary_html
from aespec.train import batches
from aespec.train import device as dev
from aespec.train.finish import run_repr
from aespec.train.pages import read_run_page
from aespec.train.rundir import RunDir, check_same, load_checkpoint, load_weights
from aespec.train.setup import build_model


@dataclass(frozen=True)
class LoadedRun:
    """A run directory read back: its spec, graph, trained model (eval mode) and info."""

    run: RunDir
    spec: Spec
    graph: IR
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

    def dataset(self, data: str | None = None, *,
                inside: Sequence[pathlib.Path] | None = None) -> Dataset:
        """The run's data (or `data` as on the command line) as loaded, before any split.
        The data run.json names is checked first (`check_recorded_data`; E603): with
        `inside`, it must lie in the run folder or one of those folders."""
        if data is not None:
            return batches.load(self.spec, batches.parse_data(data), self.base_dir)
        choice = recorded_data(self.run.path, self.info)
        check_recorded_data(choice, self.base_dir, self.run.path, inside)
        return batches.load(self.spec, choice, self.base_dir)

    def data(self, data: str | None = None, *, dataset: Dataset | None = None
             ) -> batches.RunData:
        """The run's data (or `data`, or a `dataset` loaded already) on the device, split
        as in training."""
        return batches.to_device(dataset or self.dataset(data), self.spec.train.split,
                                 self.device, batches.label_classes(self.spec, self.graph),
                                 self.spec.head is not None)


    def _code_maps(self) -> tuple[Any, Any, bool]:
        """encode and decode over numpy arrays of flat codes (N, values), and whether the
        latent is gaussian (a prior N(0, I) over z)."""
        info = self.model.info
        z_shape = tuple(info.z_shape)

        def run(view: Any, a: Any, shape: tuple[int, ...]) -> np.ndarray:
            t = torch.as_tensor(np.asarray(a, np.float32), device=self.device)
            with torch.no_grad():
                out: np.ndarray = view(t.reshape(-1, *shape)).double().cpu().numpy()
            return out

        def encode(x: Any) -> np.ndarray:
            return run(self.model.encode, x, tuple(info.input_shape)).reshape(len(x), -1)

        def decode(z: Any) -> np.ndarray:
            return run(self.model.decode, z, z_shape)

        gaussian = info.latent_shape is not None and tuple(info.latent_shape) == z_shape
        return encode, decode, gaussian

    def interpolate(self, a: Any, b: Any, n: int = 8, path: str = "auto") -> np.ndarray:
        """(n, *output) decodings of the path from example `a`'s code to `b`'s, both ends
        included: `linear`, `slerp`, or `auto` (slerp for a gaussian latent)."""
        encode, decode, gaussian = self._code_maps()
        _, x = latent.interpolations(encode, decode, np.asarray(a)[None], np.asarray(b)[None],
                                     n, latent.path_of(path, gaussian))
        first: np.ndarray = x[0]
        return first

    def traverse(self, x: Any, codes_of: Any = None, dims: int = 8, steps: int = 9,
                 range: float = 3.0) -> dict[str, Any]:
        """Example `x`'s code with each of the `dims` dimensions the codes of `codes_of`
        (default: the run's test split) spread most over varied alone over `steps` values
        (+-`range` prior standard deviations for a gaussian latent, else of those codes):
        {"dims", "values" (dims, steps), "codes", "pictures" (dims, steps, *output)}."""
        encode, decode, gaussian = self._code_maps()
        data = self.data().test.x if codes_of is None else codes_of
        codes = encode(data.cpu().numpy() if isinstance(data, torch.Tensor) else data)
        return latent.traversal(encode, decode, np.asarray(x), codes, dims, steps, range,
                                gaussian)


def load_run(path: str | pathlib.Path, *, which: str = "best", device: str = "auto"
             ) -> LoadedRun:
    """Read a run directory: the spec it was trained from and the `best` (or `last`) weights."""
    run = RunDir(pathlib.Path(path))
    info = run.info()
    source, name = run.source()
    where = info.get("spec_path")  # names the spec in diagnostics; a foreign run's may be 7
    result = check_source(source, where if isinstance(where, str) and where else
                          str(run.path / name), [str(o) for o in info["overrides"]])
    result.raise_for_errors()
    spec, graph = result.spec, result.ir
    assert spec is not None and graph is not None
    ckpt = load_checkpoint(run.best if which == "best" else run.checkpoint)
    check_same(ckpt, spec, run.best if which == "best" else run.checkpoint, resume=False)
    torch_device = dev.resolve_device(device)
    model, _ = build_model(spec, graph, torch_device)
    load_weights(model, ckpt["model"], run.best if which == "best" else run.checkpoint)
    model.eval()
    return LoadedRun(run, spec, graph, model, info, torch_device, pathlib.Path(info["base_dir"]))


def _same_inputs(loaded: list[LoadedRun], x_test: Any, labels: list[str], n: int, seed: int
                 ) -> tuple[Any, list[tuple[str, Any]], tuple[float, float], str]:
    """A seeded choice of the first run's test examples and each run's reconstructions of
    them (eval mode: no noise, z = mu); a run whose input has another shape is left out."""
    import numpy as np

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
                 device: str = "auto", inside: Sequence[pathlib.Path] = ()) -> ComparePage:
    """The comparison of several runs (E603 for a directory that is not a run, E611 for
    fewer than two): their pages' data, and their reconstructions of the same test examples
    of the first run's data, read only from aespec's own sources or from files in its
    folder (or in `inside`'s: a sweep passes its spec's); else the page says why not."""
    chosen: dict[pathlib.Path, pathlib.Path] = {}
    for p in paths:  # each run once, as the caller named it first
        chosen.setdefault(pathlib.Path(p).resolve(), pathlib.Path(p))
    if len(chosen) < 2:
        raise AespecError.of("E611", f"compare needs two runs or more, got {len(chosen)}",
                             file=str(paths[0]) if paths else None,
                             hint="aespec compare RUN_DIR RUN_DIR [...]")
    pages = [read_run_page(p) for p in chosen.values()]
    labels = labels_of(pages)
    generative = [p for p in pages if _generative(p.run_dir)]
    if generative:  # a GAN draws from noise, a conditional model needs each label
        return ComparePage(pages, None, "No reconstructions: "
                           f"{labels[pages.index(generative[0])]} is a GAN or a conditional "
                           "model, which reconstructs no test example as it is", labels)
    try:
        loaded = [load_run(p.run_dir, device=device) for p in pages]
        x_test = loaded[0].dataset(inside=inside).x_test
    except AespecError as error:
        return ComparePage(pages, None, "No reconstructions: " + error.diagnostics[0].message,
                           labels)
    x, rows, value_range, note = _same_inputs(loaded, x_test, labels, n, seed)
    png = recon_grid(x, rows, value_range, "The same test examples, reconstructed by each run")
    return ComparePage(pages, png, note, labels)


def _generative(run_dir: str | pathlib.Path) -> bool:
    """A run of a GAN or a conditional spec, by its resolved spec (False when unreadable:
    loading it says why)."""
    from aespec.report.runfiles import MAX_JSON, NotReadable, read_whole

    try:  # a run folder may be anyone's: no link, no FIFO, nothing huge
        spec = json.loads(read_whole(pathlib.Path(run_dir), "resolved.json", MAX_JSON))["spec"]
    except (OSError, NotReadable, ValueError, KeyError, TypeError, RecursionError):
        return False
    return isinstance(spec, dict) and bool(spec.get("latent") or spec.get("condition"))


# ---------------------------------------------------------------- the data run.json names

# The arguments of each data source that name a file or folder, read from base_dir when
# relative (data/base.py `Ctx.read`, datasets.py `_mnist_places`, images.py `_folder`);
# npz's `y` names an array in the file, npy's a second file.  A test checks that every
# text argument of every source is here or known not to be a path.
PATH_ARGS: dict[str, tuple[str, ...]] = {n: e.paths for n, e in SOURCE_ENTRIES.items()
                                         if e.paths}


def recorded_data(root: pathlib.Path, info: dict[str, Any]) -> batches.DataChoice:
    """run.json's `data` as a choice of source; E603 when it is not one."""
    d = info.get("data")
    if not (isinstance(d, dict) and isinstance(d.get("source"), str)
            and isinstance(d.get("args"), dict)):
        raise AespecError.of("E603", f"{root / 'run.json'}: 'data' is not a data source "
                             "with its arguments", file=str(root / "run.json"),
                             hint="the file was changed or written by something else; "
                                  "pass --data SRC")
    return batches.DataChoice(d["source"], d["args"], None, str(root / "run.json"))


def data_paths(choice: batches.DataChoice, base_dir: pathlib.Path) -> list[pathlib.Path]:
    """The files and folders `choice` reads, where its loader looks for them."""
    names = [choice.args.get(k) for k in PATH_ARGS.get(choice.source, ())]
    paths = [pathlib.Path(n).expanduser() for n in names if isinstance(n, str)]
    return [p if p.is_absolute() else base_dir / p for p in paths]


def check_recorded_data(choice: batches.DataChoice, base_dir: pathlib.Path,
                        root: pathlib.Path, inside: Sequence[pathlib.Path] | None) -> None:
    """E603 naming run.json unless each file or folder its data names is a regular file or
    a folder, reached by no link out of the run folder `root`; with `inside` (compare),
    one that lies in `root` or in one of `inside` (links resolved). A missing file is the
    loader's to report (E501)."""
    for path in data_paths(choice, base_dir):
        why = _refused(path, root, inside)
        if why is not None:
            where = root / "run.json"
            raise AespecError.of("E603", f"{where} names data that is not read: {path} {why}",
                                 file=str(where), hint="pass the data with --data SRC, or "
                                 "put its file in the run folder")


def _refused(path: pathlib.Path, root: pathlib.Path,
             inside: Sequence[pathlib.Path] | None) -> str | None:
    """Why the data file or folder `path` is not read, or None."""
    try:
        real, home = path.resolve(), root.resolve()
        mode = os.stat(real).st_mode
        allowed = [home, *(pathlib.Path(p).resolve() for p in inside or ())]
    except FileNotFoundError:
        return None
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop of links
        return f"(it cannot be looked at: {getattr(exc, 'strerror', None) or exc})"
    in_run = pathlib.Path(os.path.abspath(path)).is_relative_to(os.path.abspath(root))
    if in_run and not real.is_relative_to(home):
        return "(it is a link out of the run folder)"
    if inside is not None and not _within(real, allowed):
        return ("(it lies outside the run folder; a run's data is read from its own folder, "
                "or from digits, synthetic, mnist or fashion_mnist; `aespec compare --data-in DIR` "
                "trusts a folder of yours)")
    if stat.S_ISDIR(mode):
        return _link_out_in(real, allowed) if in_run or inside is not None else None
    if not stat.S_ISREG(mode):
        return f"(it is {runfiles.kind_of(mode)}, not a file)"
    return None


def _within(path: pathlib.Path, folders: list[pathlib.Path]) -> bool:
    return any(path.is_relative_to(folder) for folder in folders)


def _link_out_in(folder: pathlib.Path, allowed: list[pathlib.Path]) -> str | None:
    """Why a data folder is not read: an entry that is a link out of the `allowed` folders
    (what the loaders find in it by name, such as an mnist folder's files; an image
    folder's own links are the images loader's to check, E512)."""
    try:
        with os.scandir(folder) as entries:
            for _, entry in zip(range(runfiles.MAX_LISTED), entries, strict=False):
                if entry.is_symlink() and not _within(pathlib.Path(entry.path).resolve(),
                                                      allowed):
                    return f"(its {entry.name} is a link out of the run folder)"
    except (OSError, RuntimeError) as exc:
        return f"(it cannot be listed: {getattr(exc, 'strerror', None) or exc})"
    return None
