"""A run's start-up: a spec checked with its overrides -> a Setup (data chosen, device and
allocator tuned, once), the memory it needs, its model on the device."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from aespec.errors import AespecError, is_pseudo_file
from aespec.graph import CheckResult, check_file, check_source, check_spec, memory
from aespec.model import Spec
from aespec.train import batches, dist
from aespec.train import device as dev
from aespec.train.rundir import model_key, train_key

if TYPE_CHECKING:
    from aespec.graph.ir import IR

SpecLike = Spec | CheckResult | str | pathlib.Path


def run_overrides(overrides: Sequence[str], epochs: int | None = None,
                  device: str | None = None) -> list[str]:
    """The `--set` values with `--epochs` and `--device` folded in after them (they are
    overrides of `train.epochs` and `train.device`): the one place they are folded."""
    return [*overrides, *[f"train.epochs={epochs}"] * (epochs is not None),
            *[f"train.device={device}"] * (device is not None)]


@dataclass(frozen=True)
class Setup:
    """A spec ready to run: resolved, with its overrides, data and device."""

    spec: Spec
    graph: IR  # built once, by the check
    overrides: list[str]
    base_dir: pathlib.Path
    data: batches.DataChoice
    device: torch.device
    report: bool = True
    fast_dev_run: bool = False  # one batch of each split (aespec.train.fastdev)
    ranks: dist.Ranks | None = None  # a distributed run (docs/distributed.md)
    malloc_tuned: bool = False  # dev.tune_allocator's answer, said in the run's notes
    init_from: str | None = None  # --init-from: weights to start from (train/warmstart.py)
    precision: str = "fp32"  # train.precision resolved for this device (`auto`: dev docstring)

    @property
    def train(self) -> Any:
        """The spec's train settings with `precision` resolved: what the Trainer runs."""
        return self.spec.train.model_copy(update={"precision": self.precision})


def check_spec_for_run(spec: SpecLike, overrides: list[str], data: str | None = None
                       ) -> tuple[CheckResult, pathlib.Path]:
    """The spec checked with `overrides` and `data` (--data, in place of its `data`
    statement), its graph built once, and the folder its relative data paths start from.
    A CheckResult checked with the same ones is used as it is: `aespec run` checks the
    file once, to print its warnings, and hands it on. A Spec resolved with overrides
    (`aespec.load(path, overrides)`) keeps them, before `overrides`: the result's
    `overrides` are those the run records."""
    if isinstance(spec, Spec) and spec.overrides:
        overrides = [*spec.overrides, *overrides]
    if isinstance(spec, CheckResult) and list(spec.overrides) == overrides and \
            spec.data == data:
        result = spec
    elif isinstance(spec, (Spec, CheckResult)):
        if (overrides or data is not None) and not spec.source:
            raise AespecError.of("E210", "overrides need the spec's source text",
                                 file="--set" if overrides else "--data")
        result = check_source(spec.source, spec.path, overrides, data) if overrides or \
            data is not None or isinstance(spec, CheckResult) else check_spec(spec)
    else:
        result = check_file(spec, overrides, data=data)
    result.raise_for_errors()
    assert result.spec is not None and result.ir is not None
    path = result.spec.path
    return result, pathlib.Path(path).parent if path and not is_pseudo_file(path) \
        else pathlib.Path.cwd()  # a spec of `aespec.loads` or a cell: paths from the cwd


def setup_run(checked: CheckResult, overrides: list[str], base: pathlib.Path,
              data: batches.DataChoice, report: bool, fast_dev_run: bool = False,
              ranks: dist.Ranks | None = None) -> Setup:
    """A checked spec's Setup: its device resolved (CUDA tuned for it) and the allocator
    tuned before the data or the model allocate (dev.tune_allocator's docstring says why)."""
    spec = checked.spec
    assert spec is not None and checked.ir is not None
    device = dev.resolve_device(spec.train.device)
    return Setup(spec, checked.ir, overrides, base, data,
                 device if ranks is None else ranks.device(device), report, fast_dev_run,
                 ranks, dev.tune_allocator(),
                 precision=dev.resolve_precision(spec.train.precision, device, checked.ir, spec))


def prepare(spec: SpecLike, overrides: list[str], data: str | None, report: bool = True,
            fast_dev_run: bool = False, ranks: dist.Ranks | None = None) -> Setup:
    """A new run's setup (a batched sweep point's too, train/batched.py): the spec checked
    with its overrides, its data chosen (`data`: the command line's, else the spec's), its
    device."""
    checked, base = check_spec_for_run(spec, overrides, data)
    assert checked.spec is not None
    return setup_run(checked, list(checked.overrides), base.resolve(),
                     batches.choose_data(checked.spec), report, fast_dev_run, ranks)


def train_examples(n: int, split: float) -> int:
    """How many of `n` training examples the training split keeps (batches.to_device
    holds out the rest, at least one kept)."""
    return max(int(round(n * split)), 1)


def require_memory(spec: Spec, graph: IR, device: torch.device,
                   examples: int | None = None) -> None:
    """E608 for a model whose training step the device's free memory cannot hold; the step's
    batch is capped at `examples` (the training split's size) where it is known."""
    need, free = memory.estimate(spec, graph, examples), dev.free_memory(device)
    if free is not None and need.total > free:
        raise AespecError.of(
            "E608", f"one training step needs at least {memory.describe(need)}, but {device} "
            f"has {memory.fmt_bytes(free)} free; the largest part is "
            f"{memory.largest_text(need, graph)}", file=spec.path,
            hint="use fewer units or channels, a smaller input or `train.batch`, or a device "
            "with more memory")


def place_model(spec: Spec, graph: IR, device: torch.device, precision: str = "fp32"
                ) -> tuple[Any, list[str]]:
    """The compiled model, seeded, on the device, in the memory format that pays there;
    the notes on how it runs (channels_last, autocast, torch.compile)."""
    from aespec.compile import compile_model

    dev.seed_everything(spec.train.seed)
    model = compile_model(graph, spec).to(device)
    notes = []
    if dev.use_channels_last(spec.train.channels_last, graph, device):
        model = model.to(memory_format=torch.channels_last)
        notes.append("channels_last")
    if precision != "fp32":
        notes.append(f"precision auto: autocast bf16 on {dev.bf16_engine()}"
                     if spec.train.precision == "auto" else f"autocast {precision}")
    if spec.train.compile:
        notes.append("torch.compile")
    return model, notes


def run_notes(setup: Setup, notes: list[str]) -> list[str]:
    """The model's notes and the setup's: what the run's first line and run.json say."""
    return [*notes, *["malloc tuned"] * setup.malloc_tuned]


def build_model(spec: Spec, graph: IR, device: torch.device) -> tuple[Any, list[str]]:
    """`place_model` for a model outside a run (load_run, the benches): the allocator
    tuned first, as a run's setup tunes it, and said in the notes."""
    tuned = dev.tune_allocator()
    model, notes = place_model(spec, graph, device)
    return model, [*notes, *["malloc tuned"] * tuned]


def run_identity(spec: Spec) -> dict[str, str]:
    """What a checkpoint records of its spec, to refuse another's (rundir.check_same)."""
    return {"model_key": json.dumps(model_key(spec)), "train_key": json.dumps(train_key(spec)),
            "spec_name": spec.name}


@dataclass(frozen=True)
class RunRequest:
    """One run as asked for, by `aespec.train` or by `aespec run`: plain data."""

    spec: SpecLike | None  # None with `resume`: the run's own spec
    data: str | None = None  # a source replacing the spec's `data` line
    out: str | pathlib.Path | None = None  # a new run's directory (default: new_run_path)
    resume: str | pathlib.Path | None = None  # a stopped run's directory, to go on in
    overrides: tuple[str, ...] = ()  # `--set` values, --epochs and --device folded in
    device: str = "auto"  # --device as given: the process group's kind (dist.joined)
    report: bool = True  # the `report { }` block's figures
    tensorboard: bool = False  # TensorBoard event files too (train/loggers.py)
    fast_dev_run: bool = False  # one batch of each split (train/fastdev.py)
    ends_process: bool = False  # the process ends with the run: stop.StopFlag's docstring
    init_from: str | None = None  # --init-from: a run directory or .pt file to start from
