"""`optimizer` and `schedule` settings -> torch objects, one table entry per choice."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import torch

from aespec.model.settings import OpChoice, TrainSpec

# the benches turn it off to measure what it gives (bench/whole_run.py, a whole process:
# AESPEC_FUSED=0)
FUSED = os.environ.get("AESPEC_FUSED", "1") != "0"


def _fused(device: torch.device) -> dict[str, Any]:
    # One fused kernel per parameter instead of a dozen elementwise passes over it: 1.07x
    # the whole training step of the dense autoencoder on CPU (bench/RESULTS.md).
    return {"fused": True} if FUSED and device.type in ("cpu", "cuda") else {}


def _adam(params, a, device) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=a.lr, weight_decay=a.weight_decay, **_fused(device))


def _adamw(params, a, device) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=a.lr, weight_decay=a.weight_decay, **_fused(device))


def _sgd(params, a, device) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=a.lr, momentum=a.momentum, weight_decay=a.weight_decay,
                           nesterov=a.nesterov and a.momentum > 0, **_fused(device))


def _rmsprop(params, a, device) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(params, lr=a.lr, momentum=a.momentum,
                               weight_decay=a.weight_decay)


OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": _adam, "adamw": _adamw, "sgd": _sgd, "rmsprop": _rmsprop}


def build_optimizer(choice: OpChoice, params, device: torch.device, *,
                    lr: float | None = None) -> torch.optim.Optimizer:
    """The optimizer a `train` block names; `lr` replaces its learning rate (pretraining)."""
    args = choice.args if lr is None else choice.args.model_copy(update={"lr": lr})
    return OPTIMIZERS[choice.name](list(params), args, device)


class Schedule:
    """An epoch-level learning-rate schedule; `step(metric)` after each epoch.

    The factor is a function of the epoch and the run's length, so a run resumed with more
    epochs stretches a cosine schedule to its new end.
    """

    def __init__(self, opt: torch.optim.Optimizer, factor: Callable[[int], float] | None,
                 plateau: Any = None):
        self.plateau = plateau
        self.lambda_lr = (torch.optim.lr_scheduler.LambdaLR(opt, factor)
                          if factor is not None else None)

    def step(self, metric: float) -> None:
        if self.lambda_lr is not None:
            self.lambda_lr.step()
        if self.plateau is not None:
            self.plateau.step(metric)

    def state_dict(self) -> dict:
        return {"lambda": self.lambda_lr.state_dict() if self.lambda_lr else None,
                "plateau": self.plateau.state_dict() if self.plateau else None}

    def load_state_dict(self, state: dict) -> None:
        if self.lambda_lr is not None and state.get("lambda"):
            self.lambda_lr.load_state_dict(state["lambda"])
        if self.plateau is not None and state.get("plateau"):
            self.plateau.load_state_dict(state["plateau"])


def _cosine(opt, a, epochs) -> Schedule:
    return Schedule(opt, lambda e: 0.5 * (1.0 + math.cos(math.pi * min(e, epochs) / epochs)))


def _step(opt, a, epochs) -> Schedule:
    return Schedule(opt, lambda e: a.gamma ** (e // a.every))


def _plateau(opt, a, epochs) -> Schedule:
    return Schedule(opt, None, torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, patience=a.patience, factor=a.factor))


SCHEDULES: dict[str, Callable[..., Schedule]] = {
    "none": lambda opt, a, epochs: Schedule(opt, None), "cosine": _cosine, "step": _step,
    "plateau": _plateau}


def build_schedule(train: TrainSpec, opt: torch.optim.Optimizer) -> Schedule:
    return SCHEDULES[train.schedule.name](opt, train.schedule.args, train.epochs)


def current_lr(opt: torch.optim.Optimizer) -> float:
    return float(opt.param_groups[0]["lr"])
