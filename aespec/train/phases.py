"""A run's phases: per phase, its train settings, the model its steps run (the run's own
layers, with the phase's noise and loss) and its frozen parts.

A spec without `phase` blocks is one phase: the top level's. A phase whose noise or loss
differs is compiled from its own graph (`phase_spec`) with the run's layer modules reused,
so every phase trains the same weights; compiling it draws no random numbers (its new
modules, noise and loss terms, hold no weights, and the generator is put back anyway).

Frozen parts (`freeze encoder`, `freeze e1`): their parameters get `requires_grad=False`,
so no gradient and no update (an optimizer steps only parameters with a gradient: no
weight decay either), and their modules run in evaluation mode while the phase trains (a
batchnorm keeps its running statistics, a dropout keeps every unit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from aespec.graph.phases import frozen_nodes
from aespec.model import BLOCKS, Spec, TrainSpec, phase_spec

if TYPE_CHECKING:
    from aespec.graph.ir import IR


@dataclass
class Phase:
    """One phase as the Trainer runs it."""

    name: str | None  # None: a spec without phases (its records say no phase)
    train: TrainSpec  # the phase's epochs, optimizer, schedule, early stopping
    model: Any  # what its steps and validation run: the run's model, or one sharing its layers
    frozen: tuple[nn.Module, ...] = ()  # modules that run in evaluation mode

    def enter(self, main: Any) -> None:
        """The frozen parts' parameters without gradients, every other one with them."""
        frozen = {id(p) for m in self.frozen for p in m.parameters()}
        for model in (main, self.model):
            for p in model.parameters():
                p.requires_grad_(id(p) not in frozen)

    def train_mode(self) -> None:
        """Training mode, but the frozen parts in evaluation mode."""
        self.model.train()
        for m in self.frozen:
            m.eval()


def plan_phases(spec: Spec, graph: IR, model: Any, device: torch.device,
                fast: bool = False) -> list[Phase]:
    """The run's phases in order (one, the top level's, without `phase` blocks); `fast`
    (--fast-dev-run): one epoch each."""
    if not spec.phases:
        return [Phase(None, spec.train, model, frozen_modules(graph, model, spec.train.freeze))]
    phases = [_phase(spec, graph, model, device, p) for p in spec.phases]
    if fast:
        for p in phases:
            p.train = p.train.model_copy(update={"epochs": 1})
    return phases


def _phase(spec: Spec, graph: IR, model: Any, device: torch.device, p: Any) -> Phase:
    seen = phase_spec(spec, p)
    own = model
    if p.noise is not None or p.loss is not None:
        own = _sharing(seen, graph, model, device)
    return Phase(p.name, seen.train, own, frozen_modules(graph, model, seen.train.freeze))


def _sharing(seen: Spec, graph: IR, model: Any, device: torch.device) -> Any:
    """The phase's model, compiled from its own graph, made of `model`'s layer modules."""
    from aespec.compile import compile_model
    from aespec.graph import check_spec

    checked = check_spec(seen)
    checked.raise_for_errors()
    assert checked.ir is not None
    owners = [m for m in (model.net, getattr(model, "head", None)) if m is not None]
    reuse = {mine: owner.get_submodule(theirs)
             for mine, theirs in same_layers(checked.ir, graph).items()
             for owner in owners if hasattr(owner, theirs)}
    with torch.random.fork_rng(devices=[]):  # the run's random draws stay as they were
        own = compile_model(checked.ir, seen, reuse).to(device)
    return own


def same_layers(mine: IR, theirs: IR) -> dict[str, str]:
    """Node ids of `mine` -> those of `theirs` for the layers (and a head's): the same
    blocks in the same order (the ids differ where the noise lines have other lengths)."""
    out: dict[str, str] = {}
    for block in (*BLOCKS, "head"):  # a phase's xent trains the run's head
        a = [n for n in mine.order if mine.nodes[n].block == block]
        b = [n for n in theirs.order if theirs.nodes[n].block == block]
        out.update(zip(a, b, strict=False))
    return out


def frozen_modules(graph: IR, model: Any, names: tuple[str, ...]) -> tuple[nn.Module, ...]:
    """The modules of the frozen nodes in `model`'s network."""
    return tuple(model.net.get_submodule(n) for n in frozen_nodes(graph, names)
                 if hasattr(model.net, n))
