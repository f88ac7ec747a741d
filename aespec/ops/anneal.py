"""Schedules of loss and regularizer weights: `beta=warmup(epochs=10)`, one entry each.

A schedule is written where a weight is (a loss term's weight, a regularizer's `weight`, a
latent's `beta`; `OpDef.schedulable` names an op's) and gives the weight as a function of
the training's progress `t`, in epochs from the start (fractional: `t = epoch + step /
steps`), so that a KL warm-up ramps at every step as Bowman et al. (2016) and Fu et al.
(2019) anneal it, and a resumed run computes the very same weights. At evaluation (the
validation loss, best.pt, the test and the report) a term is weighed by its schedule's
`settled` value, the weight the run is heading for, so that the epochs' validation losses
measure one objective and early stopping compares like with like.

No torch here: `aespec check` reads this module; the compiled objective
(aespec.compile.objective) and `aespec emit` evaluate `value_at` in Python.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import Field, model_validator

from aespec.errors import Span
from aespec.ops.registry import Args


class LinearArgs(Args):
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    epochs: float = Field(gt=0)


class WarmupArgs(Args):
    epochs: float = Field(gt=0)
    high: float = Field(1.0, ge=0)


class CyclicalArgs(Args):
    cycles: int = Field(4, ge=1)
    ratio: float = Field(0.5, gt=0, le=1)
    low: float = Field(0.0, ge=0)
    high: float = Field(1.0, ge=0)


class StepArgs(Args):
    values: tuple[float, ...]
    every: float = Field(gt=0)

    @model_validator(mode="after")
    def _two(self) -> StepArgs:
        if len(self.values) < 2 or any(v < 0 or not math.isfinite(v) for v in self.values):
            raise ValueError("step needs two or more values, each >= 0, as in "
                             "`step(0, 0.5, 1, every=5)`")
        return self


# The three rules below are copied as text into the files `aespec emit` writes
# (aespec.emit.helpers), so that a spec's emitted loop weighs its terms as aespec does: plain
# Python, no annotations, no names but their arguments.


def linear_weight(start, end, span, t):
    """From start to end linearly over the first `span` epochs, then end (t in epochs)."""
    return end if t >= span else start + (end - start) * t / span


def cyclical_weight(low, high, ratio, cycles, t, epochs):
    """Fu et al. (2019): each of `cycles` equal cycles of the run's `epochs` ramps from low
    to high over its first `ratio` share, then holds high (t in epochs)."""
    period = epochs / cycles
    u = (t % period) / period
    return low + (high - low) * min(u / ratio, 1.0)


def step_weight(values, every, t):
    """values[0] for the first `every` epochs, then values[1], ...; the last to the end."""
    return values[min(int(t // every), len(values) - 1)]


@dataclass(frozen=True)
class Kind:
    """One schedule: its argument model, `value(args, t, epochs)`, its settled value, the
    epochs it takes to get there (None: it never settles, a cycle), its doc line."""

    name: str
    args: type[Args]
    # the rule (one of the functions above) and its arguments but `t` and `epochs`, in order
    rule: Callable[..., float]
    params: Callable[[Any], tuple[Any, ...]]
    settled: Callable[[Any], float]
    reaches: Callable[[Any], float | None]
    signature: str
    doc: str
    varargs: str | None = None
    needs_epochs: bool = False  # the rule reads the run's epochs (a cycle's length)


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("warmup", WarmupArgs, linear_weight, lambda a: (0.0, a.high, a.epochs),
         lambda a: a.high, lambda a: a.epochs, "warmup(epochs, high=1.0)",
         "from 0 up to `high`, linearly over the first `epochs` epochs, then `high`"),
    Kind("linear", LinearArgs, linear_weight, lambda a: (a.start, a.end, a.epochs),
         lambda a: a.end, lambda a: a.epochs, "linear(start, end, epochs)",
         "from `start` to `end`, linearly over the first `epochs` epochs, then `end`"),
    Kind("cyclical", CyclicalArgs, cyclical_weight,
         lambda a: (a.low, a.high, a.ratio, a.cycles), lambda a: a.high, lambda a: None,
         "cyclical(cycles=4, ratio=0.5, low=0.0, high=1.0)",
         "the run's epochs cut into `cycles` equal cycles; each ramps from `low` to `high` "
         "over its first `ratio` share, then holds `high` (Fu et al., 2019)",
         needs_epochs=True),
    Kind("step", StepArgs, step_weight, lambda a: (tuple(a.values), a.every),
         lambda a: a.values[-1], lambda a: a.every * (len(a.values) - 1),
         "step(v0, v1, ..., every)",
         "`v0` for the first `every` epochs, then `v1`, ... and the last value to the end",
         varargs="values"),
)}


@dataclass(frozen=True)
class WeightSchedule:
    """A weight written as a schedule: `kind` (a key of KINDS), its validated `args`."""

    kind: str
    args: Any
    span: Span

    def value_at(self, t: float, epochs: int) -> float:
        """The weight `t` epochs into a run of `epochs` epochs."""
        kind = KINDS[self.kind]
        params = kind.params(self.args)
        return float(kind.rule(*params, t, epochs) if kind.needs_epochs else
                     kind.rule(*params, t))

    def call_text(self) -> str:
        """Its rule's call as the emitted file writes it, of `t` and `epochs`:
        `linear_weight(0.0, 1.0, 10.0, t)`."""
        kind = KINDS[self.kind]
        args = [*(repr(p) for p in kind.params(self.args)), "t",
                *(["epochs"] if kind.needs_epochs else [])]
        return f"{kind.rule.__name__}({', '.join(args)})"

    @property
    def settled(self) -> float:
        """The weight the schedule heads for: evaluation's weight (see the module doc)."""
        return float(KINDS[self.kind].settled(self.args))

    @property
    def reaches(self) -> float | None:
        """The epoch from which the weight stays at `settled` (None: it cycles)."""
        return KINDS[self.kind].reaches(self.args)

    def epoch_mean(self, epoch: int, steps: int, epochs: int) -> float:
        """The mean weight over the steps of epoch `epoch` (from 0): the metrics' record."""
        return sum(self.value_at(epoch + s / steps, epochs) for s in range(steps)) / steps

    def text(self) -> str:
        """As written in a spec: `warmup(epochs=10)`, `step(0, 0.5, 1, every=5)`."""
        kind = KINDS[self.kind]
        dump = self.args.model_dump()
        parts = [f"{v:g}" for v in dump.pop(kind.varargs)] if kind.varargs else []
        for key, field in kind.args.model_fields.items():
            if key in dump and (field.is_required() or dump[key] != field.default):
                parts.append(f"{key}={dump[key]:g}")
        return f"{self.kind}({', '.join(parts)})"


def weight_name(kind: str, op: str) -> str:
    """A scheduled term's stable name in the metrics: `warmup*kl`, `cyclical*bce`."""
    return f"{kind}*{op}"
