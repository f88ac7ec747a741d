"""Graph IR and Spec -> the text of one standalone PyTorch file (`emit_source`)."""

from __future__ import annotations

import ast
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from aespec.emit import condition, gan, phases
from aespec.emit.anneal import schedule_helpers, schedule_lines
from aespec.emit.helpers import HELPERS
from aespec.emit.module import INDENT, WIDTH, block, write_module
from aespec.emit.network import analyse
from aespec.emit.objective import plan_objective, write_loss_fn
from aespec.emit.script import (
    READ_IDX,
    WARM_START,
    paired,
    write_data,
    write_state_loader,
    write_training,
)
from aespec.emit.strings import clip, doc_text
from aespec.errors import AespecError, Diagnostic
from aespec.model import Spec

if TYPE_CHECKING:
    from aespec.graph.ir import IR


def emit_source(graph: IR, spec: Spec, filename: str | None = None) -> str:
    """A readable PyTorch file that builds, runs and trains the spec's model without aespec.

    Its module has the compiled model's parameters (`load_aespec_state_dict` reads an
    `AEModel`'s state_dict) and computes the same outputs and loss.  `filename` is the name
    the file will have, for its usage line (default: the spec's name + `.py`).  E314 for a
    graph whose shapes were not all inferred; E313 for an op the emit stage has no form for.
    A GAN's file holds `Generator`, `Discriminator` and the game's objectives instead
    (`_emit_gan`).  A conditional spec's (`condition labels(N)`) networks, objective and
    training loop read the one-hot labels `y` too (aespec/emit/condition.py); a spec with
    a supervised head's (`head on NAME { ... }`) forward ends in the head's `class_logits`,
    its `loss_fn(model, x, labels)` adds the `xent` term, and its data and loop read the
    labels as a conditional spec's do. E316 for an adversarial autoencoder.
    """
    _require_complete(graph, spec)
    if "z" in graph.nodes:
        return _emit_gan(graph, spec, filename)
    net = analyse(graph, phases.phase_logits(spec))
    obj = plan_objective(net)
    noises = phases.plan_noises(spec, net)
    # the module is written twice: the loss reads its outputs and weights, and the
    # parameters a loss term owns (a learned variance) are the module's
    probe = write_module(net, spec, [], obj.contractive, noises)
    loss = write_loss_fn(net, obj, probe.outputs, probe.weights)
    plan = phases.plan_phases(spec, graph, probe, noises, obj.schedules) \
        if phases.trains_in_phases(spec) else None
    module = write_module(net, spec, obj.owned, obj.contractive, noises)
    k = condition.classes(graph) or head_classes(graph)  # the labels the file loads
    data, stdlib = write_data(spec, graph.shape_of("decoder"), k)
    helpers = sorted(net.helpers | obj.helpers | schedule_helpers(obj.schedules))
    parts = [module.lines, loss, *(plan.losses if plan else []),
             *(HELPERS[h].strip("\n").splitlines() for h in helpers)]
    if obj.schedules:
        parts.append(schedule_lines(obj.schedules))
    if "gzip" in stdlib:
        parts.append(READ_IDX.strip("\n").splitlines())
    progress = any("def set_progress(" in HELPERS[h] for h in helpers)
    parts += [data, write_state_loader(module.renamed, "head" in graph.outputs)]
    if spec.train.init is not None:
        parts.append(WARM_START.strip("\n").splitlines())
        stdlib = stdlib | {"os"}
    parts.append(write_training(spec, module.name, k, progress, bool(obj.schedules), plan))
    body = "\n\n\n".join("\n".join(p) for p in parts)
    header = "\n".join(_header(spec, filename or f"{spec.name}.py"))
    return header + "\n\n" + _imports(body, stdlib) + "\n\n\n" + body + "\n"


def head_classes(graph: IR) -> int | None:
    """A supervised head's number of classes (`head on NAME { ... dense(k) }`); None else."""
    return graph.nodes[graph.outputs["head"]].output_shape()[0] if "head" in graph.outputs \
        else None


def _emit_gan(graph: IR, spec: Spec, filename: str | None) -> str:
    """A GAN's file: the two networks, the objectives, the data, the alternating loop."""
    net = gan.analyse_gan(graph)
    nets = gan.write_networks(net, spec)
    data, stdlib = write_data(spec, graph.input, condition.classes(graph))
    parts = [*nets.parts, gan.write_losses(graph),
             *(HELPERS[h].strip("\n").splitlines() for h in sorted(net.helpers))]
    if "gzip" in stdlib:
        parts.append(READ_IDX.strip("\n").splitlines())
    parts += [data, gan.write_gan_state_loader(nets.renamed),
              gan.write_gan_training(spec, graph)]
    body = "\n\n\n".join("\n".join(p) for p in parts)
    header = "\n".join(_header(spec, filename or f"{spec.name}.py"))
    return header + "\n\n" + _imports(body, stdlib) + "\n\n\n" + body + "\n"


def _require_complete(graph: IR, spec: Spec) -> None:
    if spec.is_aae:  # its file would need the discriminator and the two-phase loop
        raise AespecError.of("E316", "aespec emit does not take an adversarial autoencoder "
                             "(`discriminator on code`) yet; aespec run trains it",
                             spec.block_spans.get("discriminator"),
                             "train it with `aespec run`", spec.path)
    if graph.is_vae_gan:
        raise AespecError.of("E316", "aespec emit does not take a VAE-GAN (an autoencoder "
                             "with a discriminator of examples) yet; aespec run trains it",
                             spec.block_spans.get("discriminator"),
                             "train it with `aespec run`", spec.path)
    outputs = graph.outputs
    wanted = ("decoder", "discriminator") if "z" in graph.nodes else \
        ("encoder", "bottleneck", "decoder")
    if all(b in outputs for b in wanted):
        return
    first = Diagnostic("E314", "cannot emit a spec whose shapes could not all be inferred",
                       hint="run `aespec check` and fix its errors first", file=spec.path)
    raise AespecError([first, *graph.stopped_by])


def _header(spec: Spec, filename: str) -> list[str]:
    """The module docstring; every name and text in it escaped (aespec.emit.strings)."""
    source = Path(spec.path).name if spec.path else f"{spec.name}.ae"
    what = "a GAN" if spec.is_adversarial else "an autoencoder"
    title = f"{spec.name}: {spec.doc or what}".rstrip(".") + "."
    first = '"""' + clip(title, WIDTH - 3)
    generated = f"Generated by `aespec emit {doc_text(shlex.quote(source))}`"
    if len(generated) > 96:
        generated = "Generated by `aespec emit`"
    usage = clip(f"python {shlex.quote(filename)}", WIDTH - 50)
    return [first, "", generated + ".",
            "Plain PyTorch, no aespec needed. The module's layers are named by the node ids",
            "of `aespec check`'s table; each line of `forward` ends with the shape of its value",
            "(batch excluded). Train it with",
            "",
            f"    {usage} [--epochs N] [--limit N] [--save weights.pt]",
            '"""']


def _imports(body: str, stdlib: set[str]) -> str:
    """Only the modules the file uses, in ruff's (isort's) order."""
    names = _names_used(body)  # in code, not in a docstring: a model named `math`
    used = set(stdlib) | {"argparse"} | ({"math"} & names)
    third = ["import torch"]
    if "F" in names:
        third.append("import torch.nn.functional as F  # noqa: N812")
    third.append("from torch import nn")
    return "\n".join(f"import {m}" for m in sorted(used)) + "\n\n" + "\n".join(third)


def _names_used(body: str) -> set[str]:
    """The names the code reads attributes of (`math.sqrt`, `F.relu`)."""
    return {n.value.id for n in ast.walk(ast.parse(body))
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)}


__all__ = ["INDENT", "block", "emit_source", "paired"]
