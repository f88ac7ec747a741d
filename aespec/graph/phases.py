"""The phase sequence of a spec, as `aespec check` shows it (text table and `--json`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aespec.graph.summary import objective_text
from aespec.model import BLOCKS, Spec
from aespec.ops import get_op, op_text

if TYPE_CHECKING:
    from aespec.graph.ir import IR


def _choice(choice: Any) -> str:
    args = ", ".join(f"{k}={v}" for k, v in choice.args.model_dump().items()
                     if v != type(choice.args).model_fields[k].default)
    return f"{choice.name}({args})" if args else choice.name


def phase_rows(spec: Spec, irs: list[IR | None], main: IR) -> list[dict[str, Any]]:
    """One plain row per phase, in training order: its name, its epochs (1-based, over the
    whole run), its noise, objective, optimizer, schedule and frozen parts."""
    rows, first = [], 1
    for phase, ir in zip(spec.phases, irs, strict=True):
        noise = spec.noise if phase.noise is None else phase.noise
        train = spec.train
        rows.append({
            "name": phase.name, "line": phase.span.line, "epochs": phase.epochs,
            "first_epoch": first, "last_epoch": first + phase.epochs - 1,
            "noise": " ".join(op_text(get_op("noise", c.op), c.args) for c in noise) or "none",
            "objective": objective_text(ir or main),
            "optimizer": _choice(phase.optimizer or train.optimizer),
            "schedule": _choice(phase.schedule or train.schedule),
            "freeze": list(train.freeze if phase.freeze is None else phase.freeze)})
        first += phase.epochs
    return rows


def frozen_nodes(graph: IR, names: tuple[str, ...]) -> list[str]:
    """The layer nodes `freeze` names: a whole block, or the ops of a `NAME = ...` line."""
    out = []
    for name in names:
        if name in BLOCKS:
            out += [n for n in graph.order if graph.nodes[n].block == name]
        elif name in graph.labels:
            last = graph.nodes[graph.labels[name]]
            out += [n for n in graph.order if graph.nodes[n].block == last.block
                    and graph.nodes[n].span.line == last.span.line]
    return out
