"""The weights a spec writes as schedules, as an emitted file computes them: the rules'
text (aespec.ops.anneal, copied), a table of each term's schedule, and `weight(name,
model)`, which the loss function reads."""

from __future__ import annotations

from typing import Any

from aespec.emit.rules import lit, q
from aespec.ops.anneal import KINDS


def schedule_helpers(schedules: dict[str, Any]) -> set[str]:
    """The rules (`linear_weight`, ...) the emitted file copies for `schedules`."""
    return {KINDS[s.kind].rule.__name__ for s in schedules.values()}


def schedule_lines(schedules: dict[str, Any]) -> list[str]:
    """SCHEDULES, SETTLED, WEIGHTS and `weight`, for the terms of `schedules` (name ->
    WeightSchedule); nothing without any."""
    if not schedules:
        return []
    table = [line for name, s in schedules.items() for line in (
        f"    # {s.text()}", f"    {q(name)}: lambda t, epochs: {s.call_text()},")]
    settled = ", ".join(f"{q(name)}: {lit(s.settled)}" for name, s in schedules.items())
    return ["# The weights the spec writes as schedules: each one's value t epochs (epoch + "
            "step / steps)", "# into a run of `epochs`. `train` sets WEIGHTS at every step; "
            "evaluation weighs", "# the terms by SETTLED, the values the schedules settle at.",
            "SCHEDULES = {", *table, "}", f"SETTLED = {{{settled}}}",
            "WEIGHTS = {name: at(0.0, 1) for name, at in SCHEDULES.items()}", "", "",
            "def weight(name, model):",
            '    """A scheduled term\'s weight: its value at the step in training, settled in '
            'evaluation."""',
            "    return WEIGHTS[name] if model.training else SETTLED[name]"]


def step_lines() -> list[str]:
    """The training loop's lines that set the weights before a step (`start`: its first
    example)."""
    return ["        for name, at in SCHEDULES.items():  # the weights follow the steps",
            "            WEIGHTS[name] = at(epoch + start // batch / steps, epochs)"]


def clip_lines(spec: Any) -> list[str]:
    """The training loop's gradient clipping after backward (`train { clip ... }`)."""
    clip = spec.train.clip
    if clip is None:
        return []
    if clip.name == "norm":
        return [f"        torch.nn.utils.clip_grad_norm_(model.parameters(), {lit(clip.args.max)})"]
    return [f"        torch.nn.utils.clip_grad_value_(model.parameters(), {lit(clip.args.max)})"]
