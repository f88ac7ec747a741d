"""The graph IR: typed nodes and edges of a small directed graph, and the network's facts.

Every stage after the builder (checks, drawing, compile, emit, train, report) reads one
`IR`: `ir.nodes[n]` is a frozen `Node`, `ir.edges[u, v]` a frozen `Edge`, and what holds
for the whole network (`order`, `outputs`, `z`, `params` ...) are typed attributes. It is
plain data and needs no networkx, whose import (its `__init__` loads its whole algorithm
library) took longer than a whole `aespec check`; `to_networkx()` gives an `nx.DiGraph`
of attribute dicts to users who want networkx's algorithms (`aespec.graph_of`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

from aespec.errors import Diagnostic, Span
from aespec.ops import UNBOUNDED, Kind, Place, Range, Shape

if TYPE_CHECKING:
    import networkx as nx

NodeKind = Kind | Literal["input", "adversarial", "xent"]
# which network a node belongs to: an autoencoder's are all one; a GAN has a generator (z,
# the decoder) and a discriminator (the real input, its layers, the adversarial loss)
Network = Literal["autoencoder", "generator", "discriminator"]


@dataclass(frozen=True, slots=True)
class Node:
    """One op of the network, a loss term or a regularizer, with what inference found.

    A forward node (the input, a layer, a noise op) has `out_shape` and `range`; a loss
    term has `in_shape` (the decoder output's), `weight` and `params` (those the term owns,
    counted in the total); a regularizer has `target` (as written) and `targets` (the nodes
    it reads). Fields a node's kind does not use keep their defaults.
    """

    op: str
    # the OpDef's kind, "input" (x, a GAN's z), "adversarial" (its loss) or "xent" (a head's)
    kind: NodeKind
    place: Place | None  # the registry table of the op; None for the inputs, adversarial
    # input, noise, encoder, bottleneck, decoder, loss or regularizer; a GAN's latent (z)
    # and discriminator
    block: str
    # the op's argument model: an `aespec.ops.Args` whose fields are the op's; None for the
    # input. `Any`, since each op reads fields of its own model (`args.beta`, `args.name`)
    args: Any
    span: Span
    label: str | None = None  # the tensor name written `NAME = op(...)`
    in_shape: Shape | None = None
    out_shape: Shape | None = None
    params: int = 0
    range: Range = UNBOUNDED  # the values the output can take
    tied_to: str | None = None  # a mirror's dense layer: the encoder node it shares weights with
    join: str | None = None  # a concat/add: the node whose output it reads
    mirror: bool = False  # made by `decoder mirror`
    weight: float = 1.0  # a loss term's weight
    target: str | None = None  # a regularizer's target as written (None: its default)
    targets: tuple[str, ...] = ()  # a regularizer's nodes
    network: Network = "autoencoder"
    # arguments written as a schedule over the epochs (a loss term's is "weight"): name ->
    # aespec.ops.anneal.WeightSchedule; `args` (and `weight`) hold each one's settled value
    schedules: tuple[tuple[str, Any], ...] = ()

    def output_shape(self) -> Shape:
        """The output shape of a forward node (the only kind that has one)."""
        if self.out_shape is None:
            raise LookupError(f"{self.op} ({self.kind}) has no output shape")
        return self.out_shape

    def input_shape(self) -> Shape:
        """The input shape of an op, or of a loss term where the decoder has an output."""
        if self.in_shape is None:
            raise LookupError(f"{self.op} ({self.kind}) has no input shape")
        return self.in_shape


@dataclass(frozen=True, slots=True)
class Edge:
    """A tensor from one node to another: its shape; `skip` for the second input of a
    join, `target` for the input that a loss term compares the output with, `fake` for a
    GAN's generated samples into its discriminator (which also reads the real input)."""

    shape: Shape
    skip: bool = False
    target: bool = False
    fake: bool = False


@dataclass(eq=False)
class IR:
    """The network as a graph (see the module's docstring).

    `order` lists the forward nodes in order, `outputs` maps a block to its last node,
    `labels` a tensor name to its node; `stopped_by` holds the diagnostics that stopped
    shape inference (empty for a complete graph). Nodes and edges iterate in the order
    they were added.
    """

    name: str
    doc: str | None
    input: Shape
    order: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    latent: str | None = None  # the stochastic latent's node
    # the node whose output `sample` draws from N(0, I): the stochastic latent, or a code
    # that a regularizer pulls to N(0, I) (mmd on the bottleneck: a WAE)
    prior: str | None = None
    stopped_by: list[Diagnostic] = field(default_factory=list)
    z: Shape | None = None  # the bottleneck's output shape (a GAN's: the latent's)
    output: Shape | None = None  # the decoder's output shape
    params: int = 0  # forward nodes and loss terms
    # `data ...(missing=nan)`: a NaN target is unobserved, the loss terms skip it
    masked: bool = False
    networks: dict[str, int] = field(default_factory=dict)  # each network's parameters
    nodes: dict[str, Node] = field(default_factory=dict, repr=False)
    edges: dict[tuple[str, str], Edge] = field(default_factory=dict, repr=False)
    _succ: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)
    _pred: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)

    def add_node(self, n: str, node: Node) -> None:
        self.nodes[n] = node
        self._succ.setdefault(n, [])
        self._pred.setdefault(n, [])

    def add_edge(self, u: str, v: str, edge: Edge) -> None:
        if (u, v) not in self.edges:
            self._succ[u].append(v)
            self._pred[v].append(u)
        self.edges[u, v] = edge

    def successors(self, n: str) -> list[str]:
        return self._succ[n]

    def predecessors(self, n: str) -> list[str]:
        """The nodes with an edge into `n`, in the order the edges were added."""
        return self._pred[n]

    def shape_of(self, block: str) -> Shape:
        """The output shape of a block; KeyError where inference stopped before its end."""
        return self.nodes[self.outputs[block]].output_shape()

    def of_kind(self, kind: NodeKind) -> list[str]:
        """The nodes of one kind, in the order they were added (loss terms: the spec's)."""
        return [n for n, d in self.nodes.items() if d.kind == kind]

    @property
    def is_vae_gan(self) -> bool:
        """A VAE-GAN's graph: an autoencoder whose discriminator reads the input, judging
        real examples against the decoder's (an adversarial autoencoder's reads the code)."""
        first = next((n for n in self.order if self.nodes[n].block == "discriminator"), None)
        return "z" not in self.nodes and first is not None and "input" in self._pred[first]

    def to_networkx(self) -> nx.DiGraph:
        """The same graph as an `nx.DiGraph` of attribute dicts (a node's fields, an edge's
        fields, the network's facts as `graph.graph`), nodes and edges in the same order."""
        import networkx as nx

        g = nx.DiGraph(**_facts(self))
        g.add_nodes_from((n, _fields(d)) for n, d in self.nodes.items())
        g.add_edges_from((u, v, _fields(e)) for (u, v), e in self.edges.items())
        return g


def _fields(d: Node | Edge) -> dict[str, Any]:
    return {f.name: getattr(d, f.name) for f in fields(d)}


def _facts(ir: IR) -> dict[str, Any]:
    skip = ("nodes", "edges", "_succ", "_pred")
    return {f.name: getattr(ir, f.name) for f in fields(ir) if f.name not in skip}


def shortest_path(g: IR, source: str, target: str) -> list[str]:
    """The nodes of a shortest directed path from `source` to `target` (breadth first);
    KeyError when there is none."""
    came: dict[str, str | None] = {source: None}
    queue = deque([source])
    while queue:
        n = queue.popleft()
        if n == target:
            path = [n]
            while (prev := came[path[-1]]) is not None:
                path.append(prev)
            return path[::-1]
        for m in g.successors(n):
            if m not in came:
                came[m] = n
                queue.append(m)
    raise KeyError(f"no path from {source!r} to {target!r}")
