"""Validated Spec -> graph IR: a networkx DiGraph with every shape inferred, no tensors.

Node attributes (plain data): `op`, `kind` (the OpDef kind, or input/loss/regularizer),
`place` (the registry table the op is in: layer, noise, loss, regularizer), `block`,
`args` (the op's argument model), `span`, `label`, `in_shape`, `out_shape`, `params`,
`range`, `tied_to`, `join` (the node a concat/add reads); a loss node has `in_shape` (the
decoder output's) and `params` (those the term owns, counted in the total).  Edges carry
`shape`; a skip edge has `skip=True`.  `graph.graph` holds `order` (forward nodes, in
order), `outputs` (block -> its last node), `input`, `z`, `output`, `params` (forward nodes
and loss terms), `latent`, and `stopped_by`: the diagnostics that stopped shape inference
(empty for a complete graph).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from aespec.data import in_unit_range
from aespec.errors import Diagnostic, DiagnosticBag, Span, did_you_mean
from aespec.graph.ir import IR
from aespec.model import BLOCKS, Mirror, OpCall, Spec
from aespec.ops import UNBOUNDED, OpDef, Shape, ShapeProblem, get_op, missing
from aespec.ops.activations import default_output

if TYPE_CHECKING:
    import networkx as nx


class _Builder:
    def __init__(self, spec: Spec, bag: DiagnosticBag):
        self.spec, self.bag = spec, bag
        self.g = IR(name=spec.name, doc=spec.doc, order=[], outputs={}, latent=None,
                            stopped_by=[])
        self.labels: dict[str, str] = {}  # tensor name -> node id
        self.prev: str | None = None  # None once a shape could not be inferred
        self.count = 0

    def node_id(self, block: str) -> str:
        self.count += 1
        return f"{block}{self.count}"

    def stop(self, code: str, message: str, span: Span | None, hint: str | None = None) -> None:
        """A problem that stops shape inference: reported, and kept in `stopped_by`."""
        d = Diagnostic(code, message, span, hint, self.bag.file)
        self.bag.extend([d])
        self.g.graph["stopped_by"].append(d)
        self.prev = None

    def add_input(self) -> None:
        unit = self.spec.data is not None and in_unit_range(self.spec.data.source)
        self.g.add_node("input", op="input", kind="input", place=None, block="input", args=None,
                        span=self.spec.input.span, label="x", in_shape=None,
                        out_shape=self.spec.input.shape, params=0,
                        range=(0.0, 1.0) if unit else UNBOUNDED, tied_to=None, join=None)
        self.prev = "input"
        self.g.graph["order"].append("input")

    def add_op(self, call: OpCall, block: str, opdef: OpDef, *, mirror: bool = False,
               tied_to: str | None = None) -> str | None:
        if self.prev is None:
            return None
        src = self.g.nodes[self.prev]
        s_in, r_in = src["out_shape"], src["range"]
        join = None
        try:
            if opdef.kind == "join":
                join = self._join_source(call)
                if join is None:
                    return None
                other = self.g.nodes[join]
                join_shape = opdef.join_shape or missing(opdef, "join_shape")
                join_range = opdef.join_range or missing(opdef, "join_range")
                s_out = join_shape(call.args, s_in, other["out_shape"])
                r_out = join_range(r_in, other["range"])
            else:
                s_out = tuple(opdef.shape(call.args, s_in))
                r_out = opdef.range(call.args, r_in)
        except ShapeProblem as p:
            self.stop(p.code, f"{call.op}: {p.message}", call.span, p.hint)
            return None
        params = opdef.params(call.args, s_in)
        if tied_to is not None:
            params = (opdef.tied_params or missing(opdef, "tied_params"))(call.args)
        nid = self.node_id(block)
        self.g.add_node(nid, op=call.op, kind=opdef.kind, place=opdef.place, block=block,
                        args=call.args,
                        span=call.span, label=call.label, in_shape=s_in, out_shape=s_out,
                        params=params, range=r_out, tied_to=tied_to, join=join, mirror=mirror)
        self.g.add_edge(self.prev, nid, shape=s_in, skip=False)
        if join is not None:
            self.g.add_edge(join, nid, shape=self.g.nodes[join]["out_shape"], skip=True)
        if call.label:
            self.labels[call.label] = nid
        self.g.graph["order"].append(nid)
        self.prev = nid
        return nid

    def _join_source(self, call: OpCall) -> str | None:
        name = getattr(call.args, "name")  # noqa: B009 - join args are dynamic models
        if name not in self.labels:
            self.stop("E205", f"{call.op}({name}): no tensor named '{name}' is defined "
                         "before this line", call.span,
                         did_you_mean(name, self.labels) or "name a tensor with `NAME = ...`")
            return None
        return self.labels[name]

    def add_block(self, calls: list[OpCall], block: str, place: str = "layer") -> None:
        for call in calls:
            self.add_op(call, block, get_op(place, call.op))
        if self.prev is not None:
            self.g.graph["outputs"][block] = self.prev


def build_graph(spec: Spec, bag: DiagnosticBag) -> nx.DiGraph:
    """Infer every shape; shape problems go to `bag`, and the graph holds what was inferred."""
    return build_ir(spec, bag).to_networkx()


def build_ir(spec: Spec, bag: DiagnosticBag) -> IR:
    """`build_graph`'s graph as the front end's own `IR`, without importing networkx."""
    b = _Builder(spec, bag)
    b.add_input()
    b.add_block(spec.noise, "noise", "noise")
    b.add_block(spec.encoder, "encoder")
    b.add_block(spec.bottleneck, "bottleneck")
    latent = [n for n, d in b.g.nodes(data=True) if d["kind"] == "latent"]
    b.g.graph["latent"] = latent[0] if latent else None
    if isinstance(spec.decoder, Mirror):
        _add_mirror(b, spec.decoder)
    else:
        b.add_block(spec.decoder, "decoder")
    _add_objective_nodes(b)
    _summarise(b)
    return b.g


# ---------------------------------------------------------------- decoder mirror


def _forward_nodes(g: nx.DiGraph, blocks: tuple[str, ...]) -> list[str]:
    return [n for n in g.graph["order"] if g.nodes[n]["block"] in blocks]


def _add_mirror(b: _Builder, mirror: Mirror) -> None:
    """Walk encoder and bottleneck in reverse, each shape-changing op becoming its inverse."""
    g = b.g
    nodes = _forward_nodes(g, ("encoder", "bottleneck"))
    refused = [(n, why) for n in nodes
               if (why := get_op("layer", g.nodes[n]["op"]).mirror_refusal)]
    if refused:
        n, why = refused[0]
        b.stop("E305", f"decoder mirror cannot invert {g.nodes[n]['op']} (line "
               f"{g.nodes[n]['span'].line}): {why}", mirror.span, "write the decoder block out")
        return
    changing = [n for n in nodes if get_op("layer", g.nodes[n]["op"]).shape_changing]
    acts = {n: _activation_after(g, nodes, n) for n in changing}
    output = mirror.output or default_output(b.spec.needs_unit_output)
    for i in range(len(changing) - 1, -1, -1):
        node = g.nodes[changing[i]]
        invert = get_op("layer", node["op"]).inverse
        assert invert is not None  # only shape-changing ops are in `changing`
        inverse = invert(node["args"], node["in_shape"], node["out_shape"])
        for name, args in inverse:
            ties = mirror.tied and name == node["op"] and get_op(
                "layer", name).tied_params is not None
            tied = changing[i] if ties else None
            _add_mirror_op(b, name, args, mirror.span, tied)
        if b.prev is not None and b.g.nodes[b.prev]["out_shape"] != node["in_shape"]:
            b.stop("E305", f"decoder mirror: the inverse of {node['op']} (line "
                   f"{node['span'].line}) gives {b.g.nodes[b.prev]['out_shape']}, not its "
                   f"input {node['in_shape']}", mirror.span,
                   "use sizes that divide by the strides and pools, or write the decoder")
        act = acts[changing[i - 1]] if i > 0 else (output, {})
        if act and not get_op("layer", act[0]).noop:
            _add_mirror_op(b, act[0], act[1], mirror.span, None)
    if b.prev is not None:
        b.g.graph["outputs"]["decoder"] = b.prev


def _activation_after(g: nx.DiGraph, nodes: list[str], n: str) -> tuple[str, dict] | None:
    for m in nodes[nodes.index(n) + 1:]:
        d = g.nodes[m]
        opdef = get_op("layer", d["op"])
        if opdef.shape_changing:
            return None
        if opdef.kind == "activation":
            return d["op"], d["args"].model_dump()
    return None


def _add_mirror_op(b: _Builder, name: str, args: dict, span: Span, tied: str | None) -> None:
    opdef = get_op("layer", name)
    call = OpCall(op=name, args=opdef.args(**args), span=span)
    b.add_op(call, "decoder", opdef, mirror=True, tied_to=tied)


# ---------------------------------------------------------------- loss, regularizers, summary


def _add_objective_nodes(b: _Builder) -> None:
    g, out = b.g, b.g.graph["outputs"].get("decoder")
    shape = g.nodes[out]["out_shape"] if out else None
    for i, term in enumerate(b.spec.loss):
        nid = f"loss{i + 1}"
        opdef = get_op("loss", term.call.op)
        # a term's own parameters (a learned variance per output value) count in the total
        params = opdef.params(term.call.args, shape) if shape is not None else 0
        g.add_node(nid, op=term.call.op, kind="loss", place="loss", block="loss",
                   args=term.call.args, in_shape=shape, params=params,
                   span=term.call.span, weight=term.weight, label=None)
        if out:
            g.add_edge(out, nid, shape=g.nodes[out]["out_shape"], skip=False)
        g.add_edge("input", nid, shape=g.nodes["input"]["out_shape"], skip=False, target=True)
    for i, reg in enumerate(b.spec.regularizers):
        nid = f"reg{i + 1}"
        opdef = get_op("regularizer", reg.call.op)
        targets = regularizer_targets(g, reg.target, opdef, b.labels)
        g.add_node(nid, op=reg.call.op, kind="regularizer", place="regularizer",
                   block="regularizer",
                   args=reg.call.args, span=reg.call.span, target=reg.target, label=None,
                   targets=targets)
        for t in targets:
            g.add_edge(t, nid, shape=g.nodes[t]["out_shape"], skip=False)


def regularizer_targets(g: nx.DiGraph, target: str | None, opdef: OpDef,
                        labels: dict[str, str]) -> list[str]:
    """The nodes a regularizer reads: parametric layers for weights, one output otherwise."""
    weights = opdef.acts_on == "weights"
    target = target or (None if weights else "bottleneck")
    if target in labels:
        node = labels[target]
        if not weights:
            return [node]
        line, block = g.nodes[node]["span"].line, g.nodes[node]["block"]
        return [n for n in g.graph["order"] if g.nodes[n]["block"] == block
                and g.nodes[n]["span"].line == line and g.nodes[n]["params"]]
    if not weights:
        out = g.graph["outputs"].get(target)
        return [out] if out else []
    blocks = BLOCKS if target is None else (target,)
    return [n for n in g.graph["order"] if g.nodes[n]["block"] in blocks
            and g.nodes[n].get("params") and g.nodes[n]["kind"] in ("layer", "latent")]


def _summarise(b: _Builder) -> None:
    g = b.g
    outs = g.graph["outputs"]
    g.graph["input"] = b.spec.input.shape
    g.graph["z"] = g.nodes[outs["bottleneck"]]["out_shape"] if "bottleneck" in outs else None
    g.graph["output"] = g.nodes[outs["decoder"]]["out_shape"] if "decoder" in outs else None
    terms = [n for n, d in g.nodes(data=True) if d["kind"] == "loss"]
    g.graph["params"] = sum(g.nodes[n].get("params", 0) for n in [*g.graph["order"], *terms])
    g.graph["labels"] = dict(b.labels)


def count_values(shape: Shape | None) -> int:
    return math.prod(shape) if shape else 0


