"""Which of a sweep's points may train together as one batched model (train/batched.py).

Two points may when their checked specs differ only in values that keep every shape and
every module's construction: the seed, the optimizer's numbers (same optimizer), the
schedule, the epochs, early stopping, the loss terms' weights and a latent's beta, the
report. Each point keeps its own optimizer, schedule and stopping, so those may differ;
everything else (layers, noise, regularizers, data, batch, split, precision, ...) must be
equal, and so must the graphs' shapes and parameter counts. Plain data: no torch here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aespec.errors import AespecError
from aespec.graph import CheckResult
from aespec.ops.registry import lookup

# the semantic paths (resolved spec, as JSON) whose values may differ within a group
FREE = re.compile(r"^(name|doc|lets|report|train\.(seed|epochs|schedule|early_stop)"
                  r"|train\.optimizer\.args)(\.|\[|$)")
# a loss weight or a latent's beta: free too, but not 0 (the batched step scales the first
# point's weighted term by each point's weight over it)
WEIGHTS = re.compile(r"^(loss\[\d+\]\.weight|(encoder|bottleneck|decoder)\[\d+\]\.args\.beta)$")
# the batched step needs the ordinary fp32 eager step (no autocast, compile, pretraining)
# (`precision auto` is fp32 there: a batched point runs the fp32 step whatever the CPU)
PLAIN_TRAIN = {"precision": ("fp32", "auto"), "compile": False, "pretrain": None}
MODES = ("auto", "on", "off")
# `auto` batches a group when it has PAYS_POINTS points or more and one training step of
# one point is at most PAYS_WORK parameters x batch rows (its cost: a small model is bound
# by the per-step overhead that batching shares; a large one by its matrix products, which
# batched are no faster): measured in bench/SWEEP_BATCHED.md
PAYS_POINTS = 8
PAYS_WORK = 4_000_000


@dataclass(frozen=True)
class Plan:
    """The points (indices) that train together, group by group, and why each other point
    runs alone."""

    groups: tuple[tuple[int, ...], ...]
    alone: dict[int, str]

    def group_of(self, index: int) -> tuple[int, ...] | None:
        return next((g for g in self.groups if index in g), None)


def choose(checked: list[CheckResult], mode: str) -> Plan:
    """The plan a --batched mode gives: "off" none, "on" every group the points allow
    (E617 when there is none), "auto" the groups where batching pays."""
    if mode == "off":
        return Plan((), {})
    found = plan(checked)
    if mode == "on":
        if not found.groups:
            raise AespecError.of("E617", "--batched on: no two points can train batched: "
                                 + "; ".join(f"point {i}: {why}" for i, why
                                             in list(found.alone.items())[:3]),
                                 hint="batched points differ only in the seed, the "
                                 "optimizer's numbers, the schedule, epochs, early stopping "
                                 "or loss weights; use --batched auto or off", file="--batched")
        return found
    kept = tuple(g for g in found.groups if pays(checked[g[0]], len(g)))
    alone = {**found.alone, **{i: why for g in found.groups if g not in kept
                               for i in g if (why := _no_gain(checked[g[0]], len(g)))}}
    return Plan(kept, dict(sorted(alone.items())))


def pays(c: CheckResult, points: int) -> bool:
    """Whether `points` points of this spec trained batched beat them trained one after
    another (the rule measured in bench/SWEEP_BATCHED.md, on CPU)."""
    return _no_gain(c, points) is None


def _no_gain(c: CheckResult, points: int) -> str | None:
    assert c.spec is not None and c.ir is not None
    work = c.ir.params * c.spec.train.batch
    if points < PAYS_POINTS:
        return f"batching pays from {PAYS_POINTS} points (--batched on batches {points})"
    if work > PAYS_WORK:
        return (f"batching pays up to {PAYS_WORK:,} parameters x batch rows, this spec has "
                f"{work:,} (--batched on batches it)")
    return None


def plan(checked: list[CheckResult]) -> Plan:
    """Group the points whose specs differ only in FREE or WEIGHTS values; a point that
    fits no other, or whose spec cannot run batched at all, runs alone (with the reason)."""
    alone: dict[int, str] = {}
    keys: dict[str, list[int]] = {}
    meanings = [_meaning(c) for c in checked]
    for i, c in enumerate(checked):
        why = blocker(c)
        if why is not None:
            alone[i] = why
            continue
        keys.setdefault(_group_key(c, meanings[i]), []).append(i)
    groups = tuple(tuple(g) for g in keys.values() if len(g) > 1)
    for g in keys.values():
        if len(g) == 1:
            alone[g[0]] = _unlike(meanings, g[0], [i for i in range(len(checked)) if i != g[0]])
    return Plan(groups, dict(sorted(alone.items())))


def blocker(c: CheckResult) -> str | None:
    """Why a point's spec cannot train batched at all; None when it can."""
    assert c.spec is not None and c.ir is not None
    if c.spec.discriminator:  # train/batched.py vmaps one network's one step
        return "a model with a discriminator trains two networks in turn"
    if c.spec.condition is not None:
        return "a conditional spec reads the labels, which the batched model does not"
    if c.spec.phases:
        return "a spec with phases trains them in turn, which the batched step does not"
    if c.spec.head is not None:
        return "a head reads the labels, which the batched model does not"
    train = c.spec.train
    if train.freeze or train.init is not None:
        return f"train.{'freeze' if train.freeze else 'init'} is set, which the batched " \
            "step does not follow"
    for key, plain in PLAIN_TRAIN.items():
        if getattr(train, key) not in (plain if isinstance(plain, tuple) else (plain,)):
            return f"train.{key} is {getattr(train, key)!r}"
    if train.clip is not None or train.log is not None:
        key = "clip" if train.clip is not None else "log"
        return (f"train.{key}: the batched step neither clips nor measures gradients (one "
                "norm per point)")
    if any(d.schedules for d in c.ir.nodes.values()):
        return ("a weight written as a schedule changes at every step, which the batched "
                "step does not follow")
    for n in c.ir.order:
        d = c.ir.nodes[n]
        op = lookup("layer", d.op) if d.place == "layer" else None
        if op is not None and op.follows_progress:
            return (f"{d.op} changes with the epochs (its neighbourhood shrinks), which the "
                    "batched step does not follow")
        if op is not None and op.unbatched:
            return f"{d.op}: {op.unbatched}"
    for n in c.ir.of_kind("regularizer"):
        d = c.ir.nodes[n]
        op = lookup("regularizer", d.op)
        if op is not None and op.jacobian:
            return f"{d.op} differentiates by the input (a double backward)"
    return None


def _meaning(c: CheckResult) -> dict[str, Any]:
    """The resolved spec as plain JSON without source positions."""
    assert c.spec is not None
    return c.spec.semantic()


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(path, value) of each leaf: `train.optimizer.args.lr`, `loss[0].weight`."""
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from _leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, value


def _held(path: str, value: Any) -> bool:
    """Whether a leaf must be equal within a group (a 0 weight is held: it scales nothing)."""
    if FREE.match(path):
        return False
    return not (WEIGHTS.match(path) and isinstance(value, (int, float)) and value != 0)


def _group_key(c: CheckResult, meaning: dict[str, Any]) -> str:
    """Equal for points that may train together: the held leaves and the graph's shapes."""
    held = [(p, v) for p, v in _leaves(meaning) if _held(p, v)]
    assert c.ir is not None
    shapes = [(n, d.op, str(d.out_shape), d.params) for n, d in c.ir.nodes.items()]
    return json.dumps([held, shapes, c.ir.params], default=str)


def _unlike(meanings: list[dict[str, Any]], i: int, others: list[int]) -> str:
    """Why point i fits no other point: the first held value it differs in from one."""
    if not others:
        return "the only point"
    mine = dict(_leaves(meanings[i]))
    found = [_held_differences(mine, dict(_leaves(meanings[j]))) for j in others]
    nearest = min(found, key=len)
    if not nearest:
        return "its graph differs from the other points'"
    path, a, b = nearest[0]
    return f"its {path} ({_short(a)}) differs from the nearest point's ({_short(b)})"


def _held_differences(mine: dict[str, Any], theirs: dict[str, Any]) -> list[tuple]:
    return [(p, mine.get(p), theirs.get(p)) for p in dict.fromkeys([*mine, *theirs])
            if mine.get(p) != theirs.get(p) and (_held(p, mine.get(p))
                                                 or _held(p, theirs.get(p)))]


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."
