"""Graph IR -> torch.fx: each node's op built by its registry entry, segments emitted as code.

A registry builder returns an `nn.Module` (an op with parameters or state) or a plain
function of the tensors.  A module becomes `name = self.name(x)`; a function is traced with
fx proxies, so `relu` becomes `torch.nn.functional.relu(x)` in the generated code, and one
that returns its input (`identity`) adds nothing.  Every fx value takes its IR node's id
(`encoder3`), so the code reads against `aespec check`'s table and the drawing.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from torch import fx, nn

from aespec.compile.init import init_weights
from aespec.errors import AespecError
from aespec.ops import OpDef, lookup
from aespec.ops.modules import tile_draws

if TYPE_CHECKING:
    from aespec.graph.ir import IR


def registered(place: Any, name: str) -> tuple[OpDef, Callable[..., Any]]:
    """The registry entry of an op of a checked graph, and its torch builder."""
    opdef = lookup(place, name)
    if opdef is None or opdef.build is None:
        raise NotImplementedError(f"op {name!r} has no torch builder in the registry")
    return opdef, opdef.build


def term_inputs(graph: IR) -> list[tuple[str, str]]:
    """(node, its input node) of each op that adds a term of its own to the loss (som)."""
    order = graph.order
    return [(n, order[order.index(n) - 1]) for n in order[1:]
            if (d := graph.nodes[n]).place == "layer" and registered("layer", d.op)[0].adds_term]


def build_ops(g: IR, reuse: dict[str, Any] | None = None,
              scheme: str = "glorot") -> dict[str, Any]:
    """Each forward node's torch form, from its registry builder (in order: tied layers
    are handed the encoder layer they share a weight with, joins the named tensor's shape),
    its layers' first weights set by `scheme` (`train { init_weights }`: compile/init.py);
    `reuse`: node id -> a module built before, taken as it is (a phase's model shares the
    run's layers: train/phases.py)."""
    built: dict[str, Any] = {}
    for nid in g.order[1:]:
        d = g.nodes[nid]
        if d.kind == "input":  # a GAN's z, and its real input after the generator
            continue
        if reuse and nid in reuse:
            built[nid] = reuse[nid]
            continue
        _, build = registered(d.place, d.op)
        tied = {"tied": built[d.tied_to]} if d.tied_to else {}
        join = {"other": g.nodes[d.join].out_shape} if d.join else {}
        built[nid] = build(d.args, d.in_shape, d.out_shape, **tied, **join)
    for nid, op in built.items():  # after every build, in order, as the emitted file does
        if isinstance(op, nn.Module) and not (reuse and nid in reuse):
            init_weights(op, scheme)
    return built


def module_root(built: dict[str, Any]) -> nn.Module:
    """A module holding every built module under its node id, for fx.GraphModule to copy."""
    root = nn.Module()
    for nid, op in built.items():
        if isinstance(op, nn.Module):
            root.add_module(nid, op)
    return root


class Segment:
    """An fx graph over consecutive IR nodes: the placeholder stands for `start`'s output.

    `env` maps an IR id (and `ID_mu`, `ID_logvar` of a latent, `ID_loss` of an op with a
    loss term of its own) to its fx value; ids that
    alias one value (identity) share it.
    """

    def __init__(self, g: IR, built: dict[str, Any], start: str, placeholder: str,
                 origin: Callable[[str], str] | None = None):
        self.g, self.built, self.order, self.origin = g, built, g.order, origin
        self.graph = fx.Graph()
        self.tracer = fx.proxy.GraphAppendingTracer(self.graph)
        self.env: dict[str, fx.Node] = {start: self.graph.placeholder(placeholder)}
        self.pos = self.order.index(start)
        self.draws_at: int | None = None  # order index of a latent drawing L > 1 samples

    def provide(self, nid: str) -> Segment:
        """A further input of the segment: node `nid`'s value is a placeholder of its name
        (the condition `y`, which is no network's op); none where the graph lacks it."""
        if nid in self.g.nodes:
            self.env[nid] = self.graph.placeholder(nid)
        return self

    def through(self, stop: str) -> Segment:
        """Emit every node after the last one emitted, up to and including `stop`."""
        end = self.order.index(stop)
        for i in range(self.pos + 1, end + 1):
            self._emit(i)
        self.pos = max(self.pos, end)
        return self

    def finish(self, outputs: list[fx.Node], root: nn.Module, name: str) -> fx.GraphModule:
        """The GraphModule returning `outputs` (one value, or a tuple of several)."""
        self.graph.output(outputs[0] if len(outputs) == 1 else tuple(outputs))
        self.graph.lint()
        return fx.GraphModule(root, self.graph, class_name=name)

    def _emit(self, i: int) -> None:
        before = len(self.graph.nodes)
        self._emit_node(i)
        if self.origin is not None:  # `print_readable()` shows it as `# File: spec:line`
            for node in list(self.graph.nodes)[before:]:
                node.meta["stack_trace"] = self.origin(self.order[i])

    def _emit_node(self, i: int) -> None:
        nid = self.order[i]
        d = self.g.nodes[nid]
        inputs = [self.env[self.order[i - 1]]]
        if d.join:
            inputs.append(self._skip(nid, i, inputs[0]))
        op = self.built[nid]
        if not isinstance(op, nn.Module):
            self.env[nid] = self._trace(op, inputs, nid)
        elif d.kind == "latent":
            self._emit_latent(nid, i, inputs)
        elif registered(d.place, d.op)[0].aux_loss:
            self._emit_with_loss(nid, inputs)
        else:
            self.env[nid] = self.graph.create_node("call_module", nid, tuple(inputs), name=nid)

    def _trace(self, fn: Any, inputs: list[fx.Node], nid: str) -> fx.Node:
        node: fx.Node = fn(*(fx.Proxy(n, self.tracer) for n in inputs)).node
        if node not in inputs:
            node._rename(nid)  # fx names a traced value after its function; we want the id
        return node

    def _emit_latent(self, nid: str, i: int, inputs: list[fx.Node]) -> None:
        """`ID_draw = self.ID(h)` gives (z, mu, logvar): ID, ID_mu, ID_logvar."""
        call = self.graph.create_node("call_module", nid, tuple(inputs), name=f"{nid}_draw")
        for k, key in enumerate((nid, f"{nid}_mu", f"{nid}_logvar")):
            self.env[key] = self.graph.create_node("call_function", operator.getitem, (call, k),
                                                   name=key)
        if getattr(self.built[nid], "samples", 1) > 1:
            self.draws_at = i

    def _emit_with_loss(self, nid: str, inputs: list[fx.Node]) -> None:
        """`ID_pair = self.ID(h)` gives (output, loss) (`OpDef.aux_loss`): ID, ID_loss."""
        call = self.graph.create_node("call_module", nid, tuple(inputs), name=f"{nid}_pair")
        for k, key in enumerate((nid, f"{nid}_loss")):
            self.env[key] = self.graph.create_node("call_function", operator.getitem, (call, k),
                                                   name=key)

    def _skip(self, nid: str, i: int, current: fx.Node) -> fx.Node:
        """The tensor a join reads; tiled to L draws when it was computed before them."""
        source = self.g.nodes[nid].join
        if source not in self.env:
            d = self.g.nodes[nid]
            name = d.args.name
            raise AespecError.of(
                "E311", f"{d.op}({name}) at line {d.span.line} joins {name}, a tensor "
                "computed before the code z: the decoder cannot run from z alone", d.span,
                "decode and sample need a decoder that reads nothing but z; training the "
                "whole model is fine")
        value = self.env[source]
        # the condition y is no op of `order`: each example's labels, there before any draw
        made = self.order.index(source) if source in self.order else -1
        if self.draws_at is not None and made < self.draws_at < i:
            value = self.graph.create_node("call_function", tile_draws, (value, current),
                                           name=f"{source}_tiled")
        return value
