"""The optimizer and schedule entries: everything aespec knows of `optimizer NAME(args)` and
`schedule NAME(args)`, one record each.

An `Optimizer` carries its argument model, the torch.optim class and keyword arguments
that the run builds (and `aespec emit` writes), its state tensors per weight (the memory
estimate), the learning rate above which it diverges (W409), and whether torch's fused
kernel and aespec's flat stacked update (train/stacked.py) can step it.  A `Schedule`
carries its argument model and its learning-rate rule.  `OPTIMIZERS` and `SCHEDULES`
are the one table each that the settings, the checks, the run, the batched sweep and
`aespec emit` read: adding an optimizer is one entry here, nothing else switches on its
name.  No torch here (`aespec check` imports this module): the train stage turns
`torch_name` into the class.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field, model_serializer

from aespec.ops.registry import Args, NoArgs

# a moment's decay rate: (0.5, 0.999) is the DCGAN paper's, a shorter memory of the mean
Beta = Annotated[float, Field(ge=0, lt=1)]


TORCH_BETAS = (0.9, 0.999)


class _AdamBase(Args):
    """`betas` at torch's default stays out of a dump (a run's meaning), so that a run made
    before aespec took `betas` resumes as the same spec. (Each model declares `betas`
    last: positional arguments bind in field order, `adam(1e-3)` is the learning rate.)"""

    @model_serializer(mode="wrap")
    def _dump(self, handler: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        out = handler(self)
        if tuple(getattr(self, "betas", ())) == TORCH_BETAS:
            out.pop("betas", None)
        return out


class Adam(_AdamBase):
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    betas: tuple[Beta, Beta] = TORCH_BETAS


class AdamW(_AdamBase):
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-2, ge=0)
    betas: tuple[Beta, Beta] = TORCH_BETAS


class SGD(Args):
    lr: float = Field(1e-2, gt=0)
    momentum: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    nesterov: bool = False


class RMSprop(Args):
    lr: float = Field(1e-3, gt=0)
    momentum: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)


class Step(Args):
    every: int = Field(gt=0)
    gamma: float = Field(0.1, gt=0)


class Plateau(Args):
    patience: int = Field(5, ge=0)
    factor: float = Field(0.1, gt=0, lt=1)


@dataclass(frozen=True)
class Optimizer:
    """One optimizer and every rule for it.

    The run builds `torch.optim.<torch_name>(params, **kwargs(args))` (train/optim.py adds
    `fused=True` where `fused` and the device allow); `aespec emit` writes the same call,
    leaving out each keyword whose value is the one torch assumes (`torch_defaults`), in
    the order `kwargs` gives them.  `state(args)`: tensors the optimizer keeps per weight
    (Adam's two moments), for the memory estimate.  `max_lr`: W409 above it; None: no
    bound.  `flat`: train/stacked.py's `FlatAdam` steps a batched sweep's runs as one
    tensor, with weight decay added to the gradient (`"l2"`, Adam) or decoupled from it
    (`"decoupled"`, AdamW); None: each run's own optimizer steps.
    """

    name: str
    args: type[Args]
    doc: str
    torch_name: str
    kwargs: Callable[[Any], dict[str, Any]]
    state: Callable[[Any], int]
    torch_defaults: Mapping[str, Any] = field(default_factory=dict)
    max_lr: float | None = None
    fused: bool = False
    flat: Literal["l2", "decoupled"] | None = None

    def written_kwargs(self, args: Any) -> dict[str, Any]:
        """The keywords `aespec emit` writes: those torch would not assume."""
        return {k: v for k, v in self.kwargs(args).items()
                if k not in self.torch_defaults or v != self.torch_defaults[k]}


@dataclass(frozen=True)
class Schedule:
    """One learning-rate schedule and every rule for it.

    `factor(args, epochs)` gives the rule `epoch -> factor of the initial learning rate`
    (torch's LambdaLR steps it after each epoch); `plateau(args)` gives the keyword
    arguments of torch's ReduceLROnPlateau, stepped with the validation loss.  Neither:
    the learning rate stays.  `aespec emit` writes no schedule: the emitted file names it
    among what it leaves out, unless `noop`.
    """

    name: str
    args: type[Args]
    doc: str
    factor: Callable[[Any, int], Callable[[int], float]] | None = None
    plateau: Callable[[Any], dict[str, Any]] | None = None
    noop: bool = False


OPTIMIZERS: dict[str, Optimizer] = {}
SCHEDULES: dict[str, Schedule] = {}


def register(*entries: Optimizer | Schedule) -> None:
    """Add entries to `OPTIMIZERS` or `SCHEDULES`, in the order the docs list them."""
    for entry in entries:
        table: dict[str, Any] = OPTIMIZERS if isinstance(entry, Optimizer) else SCHEDULES
        if entry.name in table:
            raise ValueError(f"{type(entry).__name__.lower()} '{entry.name}' is registered twice")
        table[entry.name] = entry


class ArgModels(Mapping[str, type[Args]]):
    """name -> argument model of a table, read when asked (the settings' `ops`), so that an
    entry registered after import is a choice as any other."""

    def __init__(self, table: Mapping[str, Optimizer | Schedule]):
        self.table = table

    def __getitem__(self, name: str) -> type[Args]:
        return self.table[name].args

    def __iter__(self) -> Iterator[str]:
        return iter(self.table)

    def __len__(self) -> int:
        return len(self.table)


def _adam(a: Any) -> dict[str, Any]:
    return {"lr": a.lr, "betas": tuple(a.betas), "weight_decay": a.weight_decay}


def _momentum(a: Any) -> int:
    return 1 if a.momentum else 0  # the momentum buffer, kept only where momentum is on


register(
    # adaptive optimizers throw the weights away above lr 0.1 in their first steps
    Optimizer("adam", Adam, "adaptive moments (the default)", "Adam", _adam, lambda a: 2,
              {"betas": TORCH_BETAS, "weight_decay": 0.0}, max_lr=0.1, fused=True,
              flat="l2"),
    # torch's AdamW assumes weight_decay 1e-2 as aespec does; the emitted file says it
    Optimizer("adamw", AdamW, "Adam with decoupled weight decay", "AdamW", _adam,
              lambda a: 2, {"betas": TORCH_BETAS}, max_lr=0.1, fused=True,
              flat="decoupled"),
    Optimizer("sgd", SGD, "stochastic gradient descent, with momentum if asked", "SGD",
              lambda a: {"lr": a.lr, "momentum": a.momentum,
                         "nesterov": a.nesterov and a.momentum > 0,
                         "weight_decay": a.weight_decay},
              _momentum, {"momentum": 0.0, "nesterov": False, "weight_decay": 0.0},
              max_lr=10.0, fused=True),
    Optimizer("rmsprop", RMSprop, "gradients over their running RMS", "RMSprop",
              lambda a: {"lr": a.lr, "momentum": a.momentum, "weight_decay": a.weight_decay},
              lambda a: 1 + _momentum(a), {"momentum": 0.0, "weight_decay": 0.0},
              max_lr=0.1),
)


def _cosine(a: Any, epochs: int) -> Callable[[int], float]:
    # a function of the run's length: a run resumed with more epochs stretches to its end
    return lambda e: 0.5 * (1.0 + math.cos(math.pi * min(e, epochs) / epochs))


def _step(a: Any, epochs: int) -> Callable[[int], float]:
    return lambda e: a.gamma ** (e // a.every)


register(
    Schedule("none", NoArgs, "a constant learning rate", noop=True),
    Schedule("cosine", NoArgs, "cosine decay to 0 at the last epoch", factor=_cosine),
    Schedule("step", Step, "times `gamma` every `every` epochs", factor=_step),
    Schedule("plateau", Plateau, "times `factor` when validation loss has not improved for "
             "`patience` epochs",
             plateau=lambda a: {"patience": a.patience, "factor": a.factor}),
)
