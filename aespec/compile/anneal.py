"""The objective's scheduled weights (aespec.ops.anneal) as a module the terms read.

The weights live in non-persistent buffers: they move with the model to its device, stay
out of the state dict (they are a function of the training's progress, recomputed on
resume) and change in place, so a compiled step reads them without recompiling.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from aespec.ops.anneal import WeightSchedule


class ScheduledWeights(nn.Module):
    """One value per scheduled weight: `now` in training (`set_time` sets it at each step),
    the schedules' settled values in evaluation."""

    now: Tensor
    settled: Tensor

    def __init__(self, schedules: list[WeightSchedule]):
        super().__init__()
        self.schedules = list(schedules)
        self.names: list[str] = []  # the terms' names, once the objective knows them
        self.register_buffer("now", torch.tensor([s.value_at(0.0, 1) for s in schedules]),
                             persistent=False)
        self.register_buffer("settled", torch.tensor([s.settled for s in schedules]),
                             persistent=False)

    def set_time(self, t: float, epochs: int) -> None:
        """The weights `t` epochs (fractional) into a run of `epochs` epochs."""
        values = [s.value_at(t, epochs) for s in self.schedules]
        self.now.copy_(torch.tensor(values, dtype=self.now.dtype))

    def value(self, i: int) -> Tensor:
        return (self.now if self.training else self.settled)[i]

    def epoch_means(self, epoch: int, steps: int, epochs: int) -> dict[str, float]:
        """Each weight's mean over the steps of epoch `epoch` (from 0), by term name."""
        return {name: s.epoch_mean(epoch, steps, epochs)
                for name, s in zip(self.names, self.schedules, strict=True)}


@dataclass(frozen=True)
class Live:
    """A term's scheduled weight: `live()` is its value now (a 0-d tensor)."""

    weights: ScheduledWeights
    index: int

    def __call__(self) -> Tensor:
        return self.weights.value(self.index)

