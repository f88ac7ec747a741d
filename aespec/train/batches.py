"""Data for a run: the source chosen, loaded once, split, and held on the device.

A batch is `x.index_select(0, idx)` on a tensor already on the device: no DataLoader,
no per-example Python.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from aespec import data as sources
from aespec.data.lazy import is_lazy
from aespec.errors import AespecError, Span
from aespec.model import Spec
from aespec.resolve.data import data_where
from aespec.resolve.data import parse_data as parse_data_text

VAL_SEED = 0  # the validation split is fixed, so runs with different seeds validate alike


@dataclass(frozen=True)
class DataChoice:
    """Which data a run reads: a source name and its arguments, plain data."""

    source: str
    args: dict[str, Any]
    span: Span | None = None
    file: str | None = None

    def text(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        return f"{self.source}({shown})" if shown else self.source

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "args": self.args}


def choose_data(spec: Spec) -> DataChoice:
    """The spec's `data` statement (the --data value where the front end put one there)."""
    if spec.data is None:
        raise AespecError.of("E506", "the spec has no `data` statement", None,
                             "add a line such as `data digits`, or pass --data SRC", spec.path)
    span, file = data_where(spec.data, spec.path)
    return DataChoice(spec.data.source, dict(spec.data.args), span, file)


def parse_data(text: str) -> DataChoice:
    """`SOURCE[(args)]` as the `data` statement would take it (resolve/data.py); for the
    data of a run already trained (eval, encode, resume), not a spec to check."""
    d = parse_data_text(text)
    span, file = data_where(d, None)
    return DataChoice(d.source, d.args, span, file)


def load(spec: Spec, choice: DataChoice, base_dir: pathlib.Path | None) -> sources.Dataset:
    return sources.load_data(choice.source, choice.args, spec.input.shape,
                             need_unit_range=spec.needs_unit_output, base_dir=base_dir,
                             span=choice.span, file=choice.file)


@dataclass(frozen=True)
class Split:
    """One part of the data as device tensors: x (N, *input), y (N, *target) or None."""

    x: torch.Tensor
    y: torch.Tensor | None

    def __len__(self) -> int:
        return len(self.x)

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.x.index_select(0, idx), (None if self.y is None
                                             else self.y.index_select(0, idx))

    def slices(self, size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        for i in range(0, len(self.x), size):
            yield self.x[i:i + size], None if self.y is None else self.y[i:i + size]


@dataclass(frozen=True)
class RunData:
    train: Split
    val: Split | None
    test: Split
    description: str


def to_device(ds: sources.Dataset, split: float, device: torch.device,
              classes: int | None = None, head: bool = False) -> RunData:
    """Train/validation split of the training data (fixed, seeded), all on the device.
    `classes`: a conditional spec's (`condition labels(N)`): each split's `y` holds the
    one-hot class labels that its networks read as `y`, in place of a target; a head's
    (`head`) too."""
    if classes is not None:
        ds = one_hot_labels(ds, classes, head)
    n = len(ds.x_train)
    n_val = n - int(round(n * split))
    n_val = min(n_val, n - 1)
    order = np.random.default_rng(VAL_SEED).permutation(n)
    tr, va = np.sort(order[n_val:]), np.sort(order[:n_val])

    def part(x: np.ndarray, y: np.ndarray | None, idx: np.ndarray | None) -> Split:
        if is_lazy(x):  # larger than memory: read a batch at a time (train/stream.py)
            from aespec.train import stream

            return stream.split(x, y, idx, device)  # type: ignore[return-value]
        if idx is None:  # the dataset's own arrays (the report reads them): copied
            return Split(_tensor(x, device), None if y is None else _tensor(y, device))
        # x[idx] is a new array of our own already: no second copy of the training data
        x, y = x[idx], None if y is None else y[idx]
        return Split(_tensor(x, device, owned=True),
                     None if y is None else _tensor(y, device, owned=True))

    val = part(ds.x_train, ds.y_train, va) if n_val > 0 else None
    return RunData(part(ds.x_train, ds.y_train, tr), val, part(ds.x_test, ds.y_test, None),
                   ds.description)


def label_classes(spec: Any, graph: Any) -> int | None:
    """The classes whose one-hot labels a run reads as `y`: a conditional spec's
    (`condition labels(N)`), or a head's outputs (`head on NAME { ... }`); None else."""
    if spec.condition is not None:
        return int(spec.condition.classes)
    out = graph.outputs.get("head") if spec.head is not None else None
    return None if out is None else int(graph.nodes[out].output_shape()[0])


def one_hot_labels(ds: sources.Dataset, classes: int, head: bool = False) -> sources.Dataset:
    """`ds` with its class labels, one-hot of `classes` values, as the targets `y`; E318
    (E337, E630 for a head's) for data without labels, or with a class outside
    0 .. classes - 1."""
    from dataclasses import replace

    what = f"the head's {classes} outputs" if head else f"condition labels({classes})"
    if ds.labels_train is None or ds.labels_test is None:
        raise AespecError.of("E337" if head else "E318", f"{what} need the data's class "
                             f"labels, and {ds.description} has none",
                             hint="use data with labels (digits, mnist, fashion_mnist, "
                             "npz(..., labels=KEY), csv(..., label=NAME))")
    found = int(max(np.max(ds.labels_train), np.max(ds.labels_test)))
    if found >= classes or min(np.min(ds.labels_train), np.min(ds.labels_test)) < 0:
        fix = f"end the head with dense({found + 1})" if head else \
            f"write condition labels({found + 1})"
        raise AespecError.of("E630" if head else "E318", f"{what} read classes 0 to "
                             f"{classes - 1}, but {ds.description} has class {found}",
                             hint=fix)
    eye = np.eye(classes, dtype=np.float32)
    return replace(ds, y_train=eye[np.asarray(ds.labels_train, np.int64)],
                   y_test=eye[np.asarray(ds.labels_test, np.int64)])


def _tensor(a: np.ndarray, device: torch.device, owned: bool = False) -> torch.Tensor:
    """A float32 tensor on the device, from a copy we own (the loader's cached arrays are
    read-only and shared) unless `a` is ours already, writable, float32 and contiguous."""
    if not (owned and a.flags.writeable and a.flags.c_contiguous and a.dtype == np.float32):
        a = np.array(a, dtype=np.float32, order="C")
    return torch.from_numpy(a).to(device)
