"""A spec's phases and frozen parts in the emitted file, as aespec/train/phases.py runs them.

Each phase is one call of the emitted `train` in `train_phases`: its epochs, a new
optimizer of its own (the phase's, else the train block's), its frozen modules (no
gradient, so no update; evaluation mode while it trains), its noise and its loss.  A
phase's own noise is a `corrupt_NAME` method of the module, which `self.noise` selects
(`noise none`: None); its own loss a `loss_fn_NAME` written from the phase's graph with
the spec's noise (so that its node ids are the module's).  A spec with `freeze` and no
phases is one such phase.

A phase's bce reads the logits: the module then returns them whatever the spec's own
loss (`phase_logits`).

E330 where the file would train otherwise than aespec: a phase's loss that owns
parameters (a learned variance, which aespec keeps beside the model), or (a guard) that
reads a value the module does not return; and a frozen layer whose evaluation mode is a
line of forward (`if self.training`: a gaussian bottleneck's sampling, ksparse's k),
which aespec runs in evaluation mode on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aespec.emit.module import WIDTH, ModuleText, corrupt_method, write_module
from aespec.emit.network import Network, analyse
from aespec.emit.objective import plan_objective, write_loss_fn
from aespec.errors import AespecError, Span
from aespec.graph.phases import frozen_nodes
from aespec.model import PhaseSpec, Spec, TrainSpec, phase_spec
from aespec.ops import get_op

if TYPE_CHECKING:
    from aespec.graph.ir import IR


@dataclass
class EmittedPhase:
    """One call of `train` in `train_phases`."""

    name: str | None  # None: a spec without phases (its freeze line)
    line: int | None  # the phase block's line
    train: TrainSpec  # its epochs and optimizer
    noise: str | None  # the module's method it corrupts x with; None: no noise
    loss: str = "loss_fn"  # the loss function it trains
    frozen: list[str] = field(default_factory=list)  # the module attributes it freezes
    said: str = ""  # what the phase changes, for its comment


@dataclass
class PhasePlan:
    """The phases in order, and what the module and the file gain for them."""

    phases: list[EmittedPhase]
    noises: list[list[str]] | None  # the module's `corrupt_NAME` methods; None: forward as it is
    losses: list[list[str]]  # `loss_fn_NAME` functions


def trains_in_phases(spec: Spec) -> bool:
    """The spec's training is written as phases: it has `phase` blocks or frozen parts."""
    return bool(spec.phases) or bool(spec.train.freeze)


def phase_logits(spec: Spec) -> bool:
    """A phase's loss reads the logits (bce): the module's forward returns them."""
    return any(get_op("loss", t.call.op).needs_unit_output for p in spec.phases
               for t in p.loss or ())


def ident(name: str) -> str:
    """A phase name as part of a Python name (`warm-up` -> `warm_up`)."""
    return re.sub(r"\W", "_", name)


def plan_noises(spec: Spec, net: Network) -> list[list[str]] | None:
    """The phases' own noise methods for the module; None where every phase corrupts x
    with the spec's noise (forward then applies `corrupt` as without phases)."""
    if not any(p.noise is not None for p in spec.phases):
        return None
    methods = []
    for p in spec.phases:
        if p.noise:  # a noise chain of its own (`noise none` is [])
            own = analyse(_graph(phase_spec(spec, p), p.span))
            methods.append(corrupt_method(own, f"corrupt_{ident(p.name)}",
                                          f"Phase {p.name}'s"))
    return methods


def plan_phases(spec: Spec, graph: IR, module: ModuleText, noises: list[list[str]] | None,
                schedules: dict | None = None) -> PhasePlan:
    """Each phase's noise, loss and frozen attributes; E330 (module docstring) where the
    file cannot train it as aespec does; `schedules`: the spec's loss's scheduled weights
    (the file's SCHEDULES table), which a phase's loss may read, and no other."""
    own_noise = "corrupt" if any(graph.nodes[n].block == "noise" for n in graph.order) \
        else None
    if not spec.phases:
        only = EmittedPhase(None, None, spec.train, own_noise,
                            frozen=_frozen(spec, graph, module, spec.train.freeze,
                                           spec.train_spans.get("freeze")))
        return PhasePlan([only], None, [])
    phases, losses = [], []
    for p in spec.phases:
        seen = phase_spec(spec, p)
        noise = own_noise if p.noise is None else f"corrupt_{ident(p.name)}" if p.noise \
            else None
        said = [] if p.noise is None else ["no noise"] if not p.noise else ["its own noise"]
        loss = "loss_fn"
        if p.loss is not None:
            loss = f"loss_fn_{ident(p.name)}"
            losses.append(_loss_fn(spec, p, module, loss, schedules or {}))
            said.append("its own loss")
        frozen = _frozen(spec, graph, module, seen.train.freeze, p.spans.get("freeze"))
        phases.append(EmittedPhase(p.name, p.span.line, seen.train, noise, loss, frozen,
                                   ", ".join(said)))
    return PhasePlan(phases, noises, losses)


def _graph(seen: Spec, span: Span) -> IR:
    from aespec.graph import check_spec

    checked = check_spec(seen)
    if not checked.ok or checked.ir is None:
        raise AespecError.of("E330", "aespec emit cannot write this phase: its spec does "
                             "not check", span, "run `aespec check`", seen.path)
    return checked.ir


def _loss_fn(spec: Spec, p: PhaseSpec, module: ModuleText, name: str, schedules: dict
             ) -> list[str]:
    """`loss_fn_NAME`: the phase's loss on the module's outputs."""
    seen = phase_spec(spec, p).model_copy(update={"noise": spec.noise})
    net = analyse(_graph(seen, p.spans.get("loss", p.span)))
    own = plan_objective(net)
    probe = write_module(net, seen, [], own.contractive)
    span = p.spans.get("loss", p.span)
    missing = [k for k in probe.outputs if k not in module.outputs]
    if missing:  # the regularizers (a contractive one too) are the spec's in every phase
        raise AespecError.of("E330", "aespec emit does not write the loss of phase "
                             f"'{p.name}': it reads the value {missing[0]!r}, which the "
                             "spec's own loss does not",
                             span, "train it with `aespec run`, or give the spec's loss a "
                             "term that reads it too", spec.path)
    lines = write_loss_fn(net, own, module.outputs, module.weights)
    if own.owned:
        raise AespecError.of("E330", "aespec emit does not write the loss of phase "
                             f"'{p.name}': it has parameters of its own (a learned "
                             "variance)", span,
                             "train it with `aespec run`", spec.path)
    other = [n for n, s in own.schedules.items() if schedules.get(n) != s]
    if other:  # the file's SCHEDULES table is the spec's loss's
        raise AespecError.of("E330", "aespec emit does not write the loss of phase "
                             f"'{p.name}': its weight of {other[0]} is a schedule the "
                             "spec's own loss has not", span,
                             "train it with `aespec run`", spec.path)
    lines[0] = lines[0].replace("def loss_fn(", f"def {name}(", 1)
    lines[1] = lines[1].replace("The spec's objective", f"Phase {p.name}'s objective", 1)
    if len(lines[1]) > WIDTH:  # a long name: the first line without its last words
        lines[1] = lines[1].replace(", as aespec computes it.", ".", 1)
    return lines


def _frozen(spec: Spec, graph: IR, module: ModuleText, names: tuple[str, ...],
            span: Span | None) -> list[str]:
    """The module attributes of the frozen layers (those with a module: a relu has none)."""
    nodes = frozen_nodes(graph, names)
    moded = [n for n in nodes if n in module.moded]
    if moded:
        op = graph.nodes[moded[0]].op
        raise AespecError.of("E330", f"aespec emit does not write a frozen {op}: aespec "
                             "runs it in evaluation mode while the rest trains, the file's "
                             "forward in the whole model's mode", span,
                             "freeze the layers around it, or train it with `aespec run`",
                             spec.path)
    attrs = [module.attrs[n] for n in nodes if n in module.attrs]
    return list(dict.fromkeys(attrs))
