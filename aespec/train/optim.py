"""`optimizer` and `schedule` settings -> torch objects, built from their entries
(aespec/ops/optimizers.py: the torch class, its arguments, fused or not, the schedule's rule)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer

from aespec.model.settings import OpChoice, TrainSpec
from aespec.ops.optimizers import OPTIMIZERS, SCHEDULES

# the benches turn these off to measure what they give (bench/whole_run.py, a whole
# process: AESPEC_FUSED=0, AESPEC_LIGHT_OPTIM=0)
FUSED = os.environ.get("AESPEC_FUSED", "1") != "0"
LIGHT = os.environ.get("AESPEC_LIGHT_OPTIM", "1") != "0"


def _fused(device: torch.device) -> dict[str, Any]:
    # One fused kernel per parameter instead of a dozen elementwise passes over it: a
    # faster training step for the dense autoencoder on CPU, about even for the conv one
    # (the figures: bench/RESULTS.md, its `fused optimizer` rows).
    return {"fused": True} if FUSED and device.type in ("cpu", "cuda") else {}


def _undecorated(fn: Callable[..., Any]) -> Callable[..., Any]:
    return getattr(fn, "__wrapped__", fn)


_LIGHT: dict[type[Optimizer], type[Optimizer]] = {}


def light(base: type[Optimizer]) -> type[Optimizer]:
    """`base` (torch.optim.Adam, ...) less its wrappers that import torch._dynamo.

    torch.optim wraps `step`, `zero_grad`, `state_dict`, `load_state_dict` and
    `add_param_group` so that torch.compile leaves them alone; the first call of any of
    them imports torch._dynamo, seconds of a run's start (the figure: bench/WHOLE_RUN.md,
    "What not importing torch._dynamo gives"), for a run that never compiles. This
    subclass calls the same methods unwrapped: the same arithmetic, state and
    state_dict, bit for bit (tested); `step` sets grad mode as torch's wrapper does.
    Where a later torch drops `__wrapped__`, the wrapped method is called: slower to
    start, still right.
    `train.compile` runs use `base` itself.
    """

    if base in _LIGHT:
        return _LIGHT[base]

    class Light(base):  # type: ignore[valid-type, misc]
        def add_param_group(self, param_group: dict[str, Any]) -> None:
            _undecorated(Optimizer.add_param_group)(self, param_group)

        def zero_grad(self, set_to_none: bool = True) -> None:
            _undecorated(Optimizer.zero_grad)(self, set_to_none)

        def state_dict(self) -> dict[str, Any]:
            state: dict[str, Any] = _undecorated(Optimizer.state_dict)(self)
            return state

        def load_state_dict(self, state_dict: dict[str, Any]) -> None:
            _undecorated(Optimizer.load_state_dict)(self, state_dict)

        def step(self, closure: Callable[[], float] | None = None) -> Any:
            with torch.set_grad_enabled(self.defaults["differentiable"]):
                return _undecorated(base.step)(self, closure)

    Light.__name__ = Light.__qualname__ = base.__name__
    _LIGHT[base] = Light
    return Light


def _cls(base: type[Optimizer], compiled: bool) -> Any:  # (the constructors differ)
    return light(base) if LIGHT and not compiled else base


def build_optimizer(choice: OpChoice, params: Iterable[Any], device: torch.device, *,
                    lr: float | None = None, compiled: bool = False) -> Optimizer:
    """The optimizer a `train` block names, from its entry (aespec/ops/optimizers.py);
    `lr` replaces its learning rate (pretraining); `compiled`: for a step under
    torch.compile (torch's own class, dynamo-aware)."""
    entry = OPTIMIZERS[choice.name]
    args = choice.args if lr is None else choice.args.model_copy(update={"lr": lr})
    fused = _fused(device) if entry.fused else {}
    base = getattr(torch.optim, entry.torch_name)
    optimizer: Optimizer = _cls(base, compiled)(list(params), **entry.kwargs(args), **fused)
    return optimizer


class Schedule:
    """An epoch-level learning-rate schedule; `step(metric)` after each epoch.

    The factor is a function of the epoch and the run's length, so a run resumed with more
    epochs stretches a cosine schedule to its new end.
    """

    def __init__(self, opt: Optimizer, factor: Callable[[int], float] | None,
                 plateau: Any = None):
        self.plateau = plateau
        self.lambda_lr = (torch.optim.lr_scheduler.LambdaLR(opt, factor)
                          if factor is not None else None)

    def step(self, metric: float) -> None:
        if self.lambda_lr is not None:
            self.lambda_lr.step()
        if self.plateau is not None:
            self.plateau.step(metric)

    def state_dict(self) -> dict[str, Any]:
        return {"lambda": self.lambda_lr.state_dict() if self.lambda_lr else None,
                "plateau": self.plateau.state_dict() if self.plateau else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.lambda_lr is not None and state.get("lambda"):
            self.lambda_lr.load_state_dict(state["lambda"])
        if self.plateau is not None and state.get("plateau"):
            self.plateau.load_state_dict(state["plateau"])


def build_schedule(train: TrainSpec, opt: Optimizer) -> Schedule:
    """The schedule a `train` block names, from its entry's rules (aespec/ops/optimizers.py)."""
    entry, a = SCHEDULES[train.schedule.name], train.schedule.args
    plateau = (torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **entry.plateau(a))
               if entry.plateau else None)
    return Schedule(opt, entry.factor(a, train.epochs) if entry.factor else None, plateau)


def current_lr(opt: Optimizer) -> float:
    return float(opt.param_groups[0]["lr"])
