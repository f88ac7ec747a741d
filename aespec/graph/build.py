"""Validated Spec -> graph IR (`aespec.graph.ir.IR`) with every shape inferred, no tensors.

Each op of the spec becomes a typed `Node` (its op, kind, block, argument model, span,
shapes, parameter count, value range ...), each tensor between two an `Edge` with its
shape; loss terms and regularizers are nodes too, reading the decoder output and the input
(a loss) or their targets (a regularizer). A shape problem stops inference where it is:
the diagnostic goes to the bag and to `IR.stopped_by`, and the IR holds what was inferred.
"""

from __future__ import annotations

from typing import Any, get_args

from aespec.data import known_range
from aespec.errors import Diagnostic, DiagnosticBag, Span, did_you_mean
from aespec.graph.ir import IR, Edge, Network, Node
from aespec.model import BLOCKS, Mirror, OpCall, Spec
from aespec.ops import UNBOUNDED, OpDef, Range, Shape, ShapeProblem, get_op, missing
from aespec.ops.activations import default_output
from aespec.ops.adversarial import AdversarialArgs


class _Builder:
    def __init__(self, spec: Spec, bag: DiagnosticBag):
        self.spec, self.bag = spec, bag
        self.g = IR(name=spec.name, doc=spec.doc, input=spec.input.shape)
        self.prev: str | None = None  # None once a shape could not be inferred
        self.count = 0
        self.network: Network = "autoencoder"  # of the nodes added now

    def node_id(self, block: str) -> str:
        self.count += 1
        return f"{block}{self.count}"

    def stop(self, code: str, message: str, span: Span | None, hint: str | None = None) -> None:
        """A problem that stops shape inference: reported, and kept in `stopped_by`."""
        d = Diagnostic(code, message, span, hint, self.bag.file)
        self.bag.extend([d])
        self.g.stopped_by.append(d)
        self.prev = None

    def add_input(self) -> None:
        data = self.spec.data  # the range its values are known to lie in (range=), if any
        known = None if data is None else known_range(data.source, data.args)
        self.g.add_node("input", Node(
            op="input", kind="input", place=None, block="input", args=None,
            span=self.spec.input.span, label="x", out_shape=self.spec.input.shape,
            range=known or UNBOUNDED, network=self.network))
        self.prev = "input"
        self.g.order.append("input")

    def add_op(self, call: OpCall, block: str, opdef: OpDef, *, mirror: bool = False,
               tied_to: str | None = None) -> str | None:
        if self.prev is None:
            return None
        src = self.g.nodes[self.prev]
        s_in = src.output_shape()
        try:
            join = self._join_source(call) if opdef.kind == "join" else None
            if opdef.kind == "join" and join is None:
                return None
            s_out, r_out = _infer(opdef, call, s_in, src.range,
                                  self.g.nodes[join] if join else None)
        except ShapeProblem as p:
            self.stop(p.code, f"{call.op}: {p.message}", call.span, p.hint)
            return None
        params = opdef.params(call.args, s_in)
        if tied_to is not None:
            params = (opdef.tied_params or missing(opdef, "tied_params"))(call.args)
        nid = self.node_id(block)
        self.g.add_node(nid, Node(
            op=call.op, kind=opdef.kind, place=opdef.place, block=block, args=call.args,
            span=call.span, label=call.label, in_shape=s_in, out_shape=s_out, params=params,
            range=r_out, tied_to=tied_to, join=join, mirror=mirror, network=self.network,
            schedules=call.schedules))
        self.g.add_edge(self.prev, nid, Edge(s_in))
        if join is not None:
            self.g.add_edge(join, nid, Edge(self.g.nodes[join].output_shape(), skip=True))
        if call.label:
            self.g.labels[call.label] = nid
        self.g.order.append(nid)
        self.prev = nid
        return nid

    def _join_source(self, call: OpCall) -> str | None:
        name = getattr(call.args, "name")  # noqa: B009 - join args are dynamic models
        labels = self.g.labels
        if name not in labels:
            self.stop("E205", f"{call.op}({name}): no tensor named '{name}' is defined "
                         "before this line", call.span,
                         did_you_mean(name, labels) or "name a tensor with `NAME = ...`")
            return None
        if labels[name] == "y":  # the condition: every network's
            return "y"
        if (other := self.g.nodes[labels[name]].network) != self.network:
            self.stop("E205", f"{call.op}({name}): '{name}' is a tensor of the {other}, not of "
                      f"the {self.network}", call.span,
                      "a GAN's networks join only their own tensors")
            return None
        return labels[name]

    def add_block(self, calls: list[OpCall], block: str, place: str = "layer") -> None:
        for call in calls:
            self.add_op(call, block, get_op(place, call.op))
        if self.prev is not None:
            self.g.outputs[block] = self.prev


def _infer(opdef: OpDef, call: OpCall, s_in: Shape, r_in: Range, other: Node | None
           ) -> tuple[Shape, Range]:
    """An op's output shape and value range; a join's also read the joined node's."""
    if other is None:
        return tuple(opdef.shape(call.args, s_in)), opdef.range(call.args, r_in)
    join_shape = opdef.join_shape or missing(opdef, "join_shape")
    join_range = opdef.join_range or missing(opdef, "join_range")
    return (join_shape(call.args, s_in, other.output_shape()),
            join_range(r_in, other.range))


def build_ir(spec: Spec, bag: DiagnosticBag) -> IR:
    """Infer every shape; shape problems go to `bag`, and the IR holds what was inferred."""
    b = _Builder(spec, bag)
    b.g.masked = spec.data is not None and spec.data.args.get("missing") == "nan"
    _add_condition(b)
    if spec.is_adversarial:
        _build_gan(b)
        _summarise(b.g)
        return b.g
    b.add_input()
    b.add_block(spec.noise, "noise", "noise")
    b.add_block(spec.encoder, "encoder")
    b.add_block(spec.bottleneck, "bottleneck")
    latent = b.g.of_kind("latent")
    b.g.latent = latent[0] if latent else None
    if isinstance(spec.decoder, Mirror):
        _add_mirror(b, spec.decoder)
    else:
        b.add_block(spec.decoder, "decoder")
    _add_objective_nodes(b)
    b.g.prior = b.g.latent or _code_matched_to_prior(b.g)
    if spec.is_aae:
        _add_code_discriminator(b)
    if spec.is_vae_gan:
        _add_example_discriminator(b)
    _add_head(b)
    _summarise(b.g)
    return b.g


HEAD_READS = {"code": "bottleneck", "encoder": "encoder", "bottleneck": "bottleneck",
              "decoder": "decoder"}  # what `head on NAME` reads, besides named tensors


def _add_head(b: _Builder) -> None:
    """`head on NAME { ... }`: its layers after everything else in `order`, reading the
    named tensor (the code by default) along their first edge; E335 for a name that is no
    tensor of the autoencoder."""
    head, g = b.spec.head, b.g
    if head is None:
        return
    source = head_source(g, head.on)
    if source is None:
        if not g.stopped_by:  # a shape problem before it: the name may be fine
            choices = ["code", *g.labels]
            b.stop("E335", f"head on {head.on}: no tensor of the autoencoder is named "
                   f"'{head.on}'", head.on_span or head.span,
                   did_you_mean(head.on, choices) or f"tensors: {', '.join(choices)}")
        return
    b.network, b.prev = "autoencoder", source
    b.add_block(head.layers, "head")
    out, xent = g.outputs.get("head"), b.spec.xent
    if xent is None or out is None or not head.layers:
        return
    shape = g.nodes[out].output_shape()
    g.add_node("xent", Node(op="xent", kind="xent", place=None, block="loss", args=None,
                            span=xent.span, in_shape=shape, weight=xent.weight))
    g.add_edge(out, "xent", Edge(shape))


def head_source(g: IR, name: str) -> str | None:
    """The node whose output `head on NAME` reads; None where there is none (yet)."""
    if name in HEAD_READS:
        return g.outputs.get(HEAD_READS[name])
    node = g.labels.get(name)
    return node if node is not None and g.nodes[node].network == "autoencoder" and \
        node != "y" else None


def _code_matched_to_prior(g: IR) -> str | None:
    """The bottleneck's output, where a regularizer pulls it to N(0, I) (mmd): decoding
    draws of N(0, I) then samples the model, as a WAE's."""
    code = g.outputs.get("bottleneck")
    for n in g.of_kind("regularizer"):
        d = g.nodes[n]
        if get_op("regularizer", d.op).matches_prior and code is not None and \
                d.targets == (code,):
            return code
    return None


def _add_example_discriminator(b: _Builder) -> None:
    """A VAE-GAN's discriminator: it reads the real input and, along a `fake` edge, the
    decoder's output (reconstructions and decoded draws of the prior); the game after it."""
    g, fake = b.g, b.g.outputs.get("decoder")
    if fake is None or b.spec.adversarial is None:
        return
    b.network, b.prev = "discriminator", "input"
    b.add_block(b.spec.discriminator, "discriminator")
    first = next((n for n in g.order if g.nodes[n].block == "discriminator"), None)
    if first is not None:
        g.add_edge(fake, first, Edge(g.nodes[fake].output_shape(), fake=True))
    _add_game(b)


def _add_code_discriminator(b: _Builder) -> None:
    """An adversarial autoencoder's discriminator: it reads the code (the encoder's, along
    a `fake` edge, against draws of N(0, I)), and the game's node after it."""
    g, code = b.g, b.g.outputs.get("bottleneck")
    if code is None or b.spec.adversarial is None:
        return
    b.network, b.prev = "discriminator", code
    b.add_block(b.spec.discriminator, "discriminator")
    first = next((n for n in g.order if g.nodes[n].block == "discriminator"), None)
    if first is not None:
        g.edges[code, first] = Edge(g.nodes[code].output_shape(), fake=True)
    _add_game(b)


def _add_condition(b: _Builder) -> None:
    """`condition labels(N)`: the node `y`, one-hot labels of N values, which any network
    joins by its name; it is no network's op, so it stays out of `order`."""
    cond = b.spec.condition
    if cond is None:
        return
    b.g.add_node("y", Node(op=cond.kind, kind="input", place=None, block="condition",
                           args=None, span=cond.span, label="y", out_shape=(cond.classes,),
                           range=(0.0, 1.0)))
    b.g.labels["y"] = "y"


# ---------------------------------------------------------------- a GAN's two networks


def _build_gan(b: _Builder) -> None:
    """The generator (z, then the decoder) and the discriminator, which reads the real
    input and, along a `fake` edge, the generator's output; then the adversarial loss."""
    spec, g = b.spec, b.g
    latent, adversarial = spec.latent, spec.adversarial
    assert latent is not None and adversarial is not None  # what makes a spec adversarial
    b.network = "discriminator"
    b.add_input()
    b.network = "generator"
    g.add_node("z", Node(op=latent.prior, kind="input", place=None, block="latent", args=None,
                         span=latent.span, label="z", out_shape=(latent.dim,),
                         network="generator"))
    g.order.append("z")
    b.prev = "z"
    if isinstance(spec.decoder, list):  # a mirror is E217, before any graph
        b.add_block(spec.decoder, "decoder")
    fake = g.outputs.get("decoder")
    b.network, b.prev = "discriminator", "input"
    b.add_block(spec.discriminator, "discriminator")
    first = next((n for n in g.order if g.nodes[n].block == "discriminator"), None)
    if fake is not None and first is not None:
        g.add_edge(fake, first, Edge(g.nodes[fake].output_shape(), fake=True))
    _add_game(b)


def _add_game(b: _Builder) -> None:
    """The node `adversarial` after the discriminator's score."""
    g, adversarial = b.g, b.spec.adversarial
    assert adversarial is not None
    score = g.outputs.get("discriminator")
    shape = g.nodes[score].out_shape if score else None
    g.add_node("adversarial", Node(
        op="adversarial", kind="adversarial", place=None, block="loss",
        args=AdversarialArgs(**adversarial.model_dump(exclude={"span", "weight"})),
        span=adversarial.span, in_shape=shape, weight=adversarial.weight,
        network="discriminator"))
    if score is not None and shape is not None:
        g.add_edge(score, "adversarial", Edge(shape))


# ---------------------------------------------------------------- decoder mirror


def _forward_nodes(g: IR, blocks: tuple[str, ...]) -> list[str]:
    return [n for n in g.order if g.nodes[n].block in blocks]


def _add_mirror(b: _Builder, mirror: Mirror) -> None:
    """Walk encoder and bottleneck in reverse, each shape-changing op becoming its inverse."""
    g = b.g
    nodes = _forward_nodes(g, ("encoder", "bottleneck"))
    refused = [(n, why) for n in nodes if (why := get_op("layer", g.nodes[n].op).mirror_refusal)]
    if refused:
        n, why = refused[0]
        b.stop("E305", f"decoder mirror cannot invert {g.nodes[n].op} (line "
               f"{g.nodes[n].span.line}): {why}", mirror.span, "write the decoder block out")
        return
    changing = [n for n in nodes if get_op("layer", g.nodes[n].op).shape_changing]
    acts = {n: _activation_after(g, nodes, n) for n in changing}
    output = mirror.output or _mirror_output(b, changing)
    for i in range(len(changing) - 1, -1, -1):
        _add_inverse(b, mirror, changing[i])
        act = acts[changing[i - 1]] if i > 0 else (output, {})
        if act and not get_op("layer", act[0]).noop:
            _add_mirror_op(b, act[0], act[1], mirror.span, None)
    if b.prev is not None:
        g.outputs["decoder"] = b.prev


def _mirror_output(b: _Builder, changing: list[str]) -> str:
    """The activation that ends a mirror: the one of the first op with weights or a say of
    its own (an rbm's visible mean; a som's prototype as it is, after a flatten), else the
    loss's default (sigmoid for bce)."""
    g = b.g
    for n in changing:
        opdef = get_op("layer", g.nodes[n].op)
        if opdef.mirror_output is not None:
            return opdef.mirror_output(g.nodes[n].args)
        if g.nodes[n].params:
            break
    return default_output(b.spec.needs_unit_output)


def _add_inverse(b: _Builder, mirror: Mirror, n: str) -> None:
    """The ops that undo node `n`; E305 when they do not give back its input shape."""
    node = b.g.nodes[n]
    own = get_op("layer", node.op)
    invert = own.inverse or missing(own, "inverse")
    for name, args in invert(node.args, node.input_shape(), node.output_shape()):
        made = get_op("layer", name)
        ties = ((own.ties_inverse or mirror.tied and name == node.op)
                and made.tied_params is not None) or made.reads_inverted
        _add_mirror_op(b, name, args, mirror.span, n if ties else None)
    if b.prev is not None and (got := b.g.nodes[b.prev].out_shape) != node.in_shape:
        b.stop("E305", f"decoder mirror: the inverse of {node.op} (line {node.span.line}) "
               f"gives {got}, not its input {node.in_shape}", mirror.span,
               "use sizes that divide by the strides and pools, or write the decoder")


def _activation_after(g: IR, nodes: list[str], n: str) -> tuple[str, dict[str, Any]] | None:
    for m in nodes[nodes.index(n) + 1:]:
        d = g.nodes[m]
        opdef = get_op("layer", d.op)
        if opdef.shape_changing:
            return None
        if opdef.kind == "activation":
            return d.op, d.args.model_dump()
    return None


def _add_mirror_op(b: _Builder, name: str, args: dict[str, Any], span: Span,
                   tied: str | None) -> None:
    opdef = get_op("layer", name)
    call = OpCall(op=name, args=opdef.args(**args), span=span)
    b.add_op(call, "decoder", opdef, mirror=True, tied_to=tied)


# ---------------------------------------------------------------- loss, regularizers, summary


def _add_objective_nodes(b: _Builder) -> None:
    g, out = b.g, b.g.outputs.get("decoder")
    shape = g.nodes[out].out_shape if out else None
    for i, term in enumerate(b.spec.loss):
        nid = f"loss{i + 1}"
        opdef = get_op("loss", term.call.op)
        # a term's own parameters (a learned variance per output value) count in the total
        params = opdef.params(term.call.args, shape) if shape is not None else 0
        g.add_node(nid, Node(op=term.call.op, kind="loss", place="loss", block="loss",
                             args=term.call.args, span=term.call.span, in_shape=shape,
                             params=params, weight=term.weight,
                             schedules=(("weight", term.schedule),) if term.schedule else ()))
        if out and shape is not None:
            g.add_edge(out, nid, Edge(shape))
        g.add_edge("input", nid, Edge(g.input, target=True))
    for i, reg in enumerate(b.spec.regularizers):
        nid = f"reg{i + 1}"
        opdef = get_op("regularizer", reg.call.op)
        targets = regularizer_targets(g, reg.target, opdef)
        g.add_node(nid, Node(op=reg.call.op, kind="regularizer", place="regularizer",
                             block="regularizer", args=reg.call.args, span=reg.call.span,
                             target=reg.target, targets=tuple(targets),
                             schedules=reg.call.schedules))
        for t in targets:
            g.add_edge(t, nid, Edge(g.nodes[t].output_shape()))


def regularizer_targets(g: IR, target: str | None, opdef: OpDef) -> list[str]:
    """The nodes a regularizer reads: parametric layers for weights, one output otherwise."""
    weights = opdef.acts_on == "weights"
    target = target or (None if weights else "bottleneck")
    if target in g.labels:
        node = g.nodes[g.labels[target]]
        if not weights:
            return [g.labels[target]]
        return [n for n in g.order if (d := g.nodes[n]).block == node.block
                and d.span.line == node.span.line and d.params]
    if not weights:
        out = g.outputs.get(target) if target else None
        return [out] if out else []
    blocks = BLOCKS if target is None else (target,)
    return [n for n in g.order if (d := g.nodes[n]).block in blocks
            and d.params and d.kind in ("layer", "latent")]


def _summarise(g: IR) -> None:
    outs = g.outputs
    g.z = g.nodes[outs["bottleneck"]].out_shape if "bottleneck" in outs else None
    if "z" in g.nodes:  # a GAN's generator input
        g.z = g.nodes["z"].out_shape
    g.output = g.nodes[outs["decoder"]].out_shape if "decoder" in outs else None
    counted = [*g.order, *g.of_kind("loss")]
    g.params = sum(g.nodes[n].params for n in counted)
    for net in get_args(Network):  # in this order: the generator before its critic
        if any(g.nodes[n].network == net for n in counted):
            g.networks[net] = sum(g.nodes[n].params for n in counted
                                  if g.nodes[n].network == net)
