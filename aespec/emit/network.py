"""Graph IR -> the emitted `nn.Module`: its layers, `corrupt`, `forward`, `encode`,
`decode` and `sample`, straight-line code with each value's shape as a comment.

Values are named as a reader would: `x` the input, `h` a value read only by the next line,
`z` the code, `x_hat` the reconstruction, `logits` the tensor before a final sigmoid, and a
tensor read again later (a skip join's source, a regularizer's target) by its spec label or
else its node id.  Layers are attributes named by node id (`self.encoder1`), the names of
`aespec check`'s table and of the compiled model's state_dict (`net.encoder1.weight`).
"""

from __future__ import annotations

import builtins
import keyword
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aespec.emit.rules import NOOP, Op, Written, layer_rule
from aespec.errors import AespecError
from aespec.ops import get_op, lookup

if TYPE_CHECKING:
    from aespec.graph.ir import IR, Node

# names the emitted code uses for itself; a label that is one of them keeps its node id
RESERVED = {"x", "h", "z", "x_hat", "logits", "class_logits", "mu", "logvar", "eps", "u",
            "n", "out", "self", "target", "terms", "total", "torch", "nn", "F", "math",
            "weights", "rho_hat", "kl", "generator", "weight", "occlude", "tile_draws",
            "gaussian_nll", "contractive_penalty"}


def shape_text(shape: tuple[int, ...] | None) -> str:
    """`(32, 14, 14)`, `(64,)`: a shape as Python writes the tuple."""
    return "(" + ", ".join(map(str, shape or ())) + ("," if len(shape or ()) == 1 else "") + ")"


@dataclass
class Network:
    """What the writer knows of the graph: each node's owner (the node whose value it is:
    an identity op's is its input's), the names of values read again later, the roles."""

    g: IR
    owner: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)  # role (z, x_hat, logits) -> node
    enc_in: str = "input"
    latent: str | None = None
    reg_targets: list[str] = field(default_factory=list)
    aux: list[str] = field(default_factory=list)  # ops that give a term beside their value (vq)
    adders: list[tuple[str, str]] = field(default_factory=list)  # (op, its input): an op
    #   whose module adds a term on its input (som, rbm: `term(h)`)
    helpers: set[str] = field(default_factory=set)
    head_source: str | None = None  # the node a supervised head reads (`head on NAME`)

    def provide_labels(self) -> None:
        """Name a conditional model's labels `y` before the values are named
        (`name_values`), so no label of the spec takes the name, and a join of `y` reads the
        argument."""
        if "y" in self.g.nodes:
            self.owner["y"], self.names["y"] = "y", "y"

    @property
    def order(self) -> list[str]:
        return self.g.order

    def var(self, nid: str) -> str:
        """The variable holding the value of `nid` in forward."""
        o = self.owner[nid]
        return "x" if self.g.nodes[o].block in ("input", "noise") else self.names[o]


def rule_of(d: Node) -> object:
    """The emit rule of a node's op; E313 for an op the emit stage cannot write."""
    opdef = lookup(d.place or "layer", d.op)
    rule = layer_rule(opdef) if opdef is not None else None
    if rule is None:
        raise AespecError.of(
            "E313", f"aespec emit has no PyTorch form for {d.place} op '{d.op}' "
            f"(line {d.span.line})", d.span,
            "train the spec with `aespec run`, or give the op an emit rule in aespec/ops")
    return rule


def analyse(g: IR, logits: bool = False) -> Network:
    """Owners, roles and names of the graph's values; `logits`: name the tensor before a
    final sigmoid even where no loss term of the graph reads it (a phase's bce does)."""
    net = Network(g)
    order, outs = g.order, g.outputs
    for i, nid in enumerate(order):
        d = g.nodes[nid]
        noop = i > 0 and rule_of(d) == NOOP
        net.owner[nid] = net.owner[order[i - 1]] if noop else nid
    noise = [n for n in order if g.nodes[n].block == "noise"]
    net.enc_in = noise[-1] if noise else "input"
    latents = g.of_kind("latent")
    net.latent = latents[0] if latents else None
    net.roles = {"z": outs["bottleneck"], "x_hat": outs["decoder"]}
    before = _logits(g, net, logits)
    if before is not None:
        net.roles["logits"] = before
    if "head" in outs:  # `head on NAME { ... }`: its first node reads the tensor NAME
        net.roles["class_logits"] = outs["head"]
        net.head_source = g.predecessors(head_nodes(g)[0])[0]
    net.reg_targets = _activity_targets(g)
    layers = [(i, n) for i, n in enumerate(order) if g.nodes[n].place == "layer"]
    net.aux = [n for _, n in layers if get_op("layer", g.nodes[n].op).aux_loss]
    net.adders = [(n, order[i - 1]) for i, n in layers
                  if i > 0 and get_op("layer", g.nodes[n].op).adds_term]
    net.provide_labels()  # a conditional autoencoder's labels: every method's argument
    name_values(g, net)
    return net


def _logits(g: IR, net: Network, wanted: bool = False) -> str | None:
    """The node before a final sigmoid when a loss term (bce) reads logits (as compiled),
    or when `wanted`."""
    terms = [d for d in g.nodes.values() if d.kind == "loss"]
    if not wanted and not any(get_op("loss", d.op).needs_unit_output for d in terms):
        return None
    order = net.order
    i = order.index(g.outputs["decoder"])
    while net.owner[order[i - 1]] == net.owner[order[i]]:  # identity ops after the sigmoid
        i -= 1
    if not get_op("layer", g.nodes[order[i]].op).logits:
        return None
    return order[i - 1]


def head_nodes(g: IR) -> list[str]:
    """A supervised head's nodes, in order (after every other node of `order`)."""
    return [n for n in g.order if g.nodes[n].block == "head"]


def head_segment(net: Network, source: str) -> Segment:
    """The head's lines, from `source` (the variable holding the tensor it reads) to its
    class scores `class_logits`."""
    order = net.order
    before = order[order.index(head_nodes(net.g)[0]) - 1]  # its input stands in for it
    return Segment(net, before, source).through(net.g.outputs["head"])


def _activity_targets(g: IR) -> list[str]:
    regs = [d for d in g.nodes.values() if d.kind == "regularizer"]
    return [d.targets[0] for d in regs
            if get_op("regularizer", d.op).acts_on != "weights"]


def name_values(g: IR, net: Network) -> None:
    """`h` by default; roles, then labels (or node ids) for values read again later."""
    taken = RESERVED | set(g.nodes) | set(dir(builtins)) | set(keyword.kwlist) | \
        {f"{n}_loss" for n in net.aux}  # the variable of the term an op gives (vq's)
    for nid in net.order:
        net.names[nid] = "h"
    for role, nid in net.roles.items():
        o = net.owner[nid]
        if net.names[o] == "h":
            net.names[o] = role
    reread = [d.join for d in g.nodes.values() if d.join] + net.reg_targets + \
        [source for _, source in net.adders] + \
        ([net.head_source] if net.head_source is not None else [])
    labels: dict[str, str] = {}
    for nid in net.order:
        label = g.nodes[nid].label
        if label and label.isidentifier() and label not in taken:
            labels.setdefault(net.owner[nid], label)
    used = set(net.names.values())
    for nid in reread:
        o = net.owner[nid]
        if net.names[o] == "h":
            name = labels.get(o, o)
            net.names[o] = name if name not in used else o
            used.add(net.names[o])


# ---------------------------------------------------------------- code


class Unavailable(Exception):
    """A view that cannot be written: its segment joins a tensor it does not compute."""

    def __init__(self, nid: str, source: str):
        super().__init__(nid)
        self.nid, self.source = nid, source


@dataclass
class Segment:
    """Forward code over the nodes after `start` up to `stop`; `start`'s value is `x`."""

    net: Network
    start: str
    placeholder: str
    lines: list[str] = field(default_factory=list)
    layers: list[tuple[str, str, str]] = field(default_factory=list)  # (nid, attr, ctor)
    written: dict[str, Written] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # owner -> its variable

    def through(self, stop: str) -> Segment:
        order, g = self.net.order, self.net.g
        env = self.env
        env[self.net.owner[self.start]] = self.placeholder
        draws_at = None
        for i in range(order.index(self.start) + 1, order.index(stop) + 1):
            nid, d = order[i], g.nodes[order[i]]
            rule = rule_of(d)
            if rule == NOOP:
                continue
            other = None
            if d.join:
                source = self.net.owner[d.join]
                if source not in env:
                    raise Unavailable(nid, d.join)
                other = env[source]
                # the condition y is no op of `order`: labels there before any draw
                made = order.index(d.join) if d.join in order else -1
                if draws_at is not None and made < draws_at:
                    other = f"tile_draws({other}, {env[self.net.owner[order[i - 1]]]})"
                    self.net.helpers.add("tile_draws")
            x = env[self.net.owner[order[i - 1]]]
            out = x if d.block == "noise" else self.net.names[nid]
            other_shape = g.nodes[d.join].out_shape if d.join else None
            op = Op(nid, d.args, d.input_shape(), d.output_shape(), d.tied_to, x, out,
                    other, other_shape)
            w = rule(op)  # type: ignore[operator]
            self.written[nid] = w
            self.net.helpers.update(w.helpers)
            self.lines += _commented(w.lines, d)
            self.layers += [(nid, attr, ctor) for attr, ctor in w.layers]
            env[nid] = out
            if d.kind == "latent" and d.args.samples * d.args.iw > 1:
                draws_at = i
        return self

    def var(self, nid: str) -> str:
        """The variable holding `nid`'s value at the end of the segment."""
        return self.env[self.net.owner[nid]]


def _commented(lines: tuple[str, ...], d: Node) -> list[str]:
    """The op's lines, the last one (when it has no comment) ending in the output's shape."""
    out = list(lines)
    if out and "#" not in out[-1]:
        out[-1] = f"{out[-1]}  # {shape_text(d.out_shape)}"
    return out
