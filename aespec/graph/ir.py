"""The graph IR as the front end builds it: a small directed graph with networkx's API.

`aespec check` builds, checks and summarises a graph of a few dozen nodes; importing
networkx for that (its `__init__` loads its whole algorithm library) took longer than the
check itself. `IR` has the part of `networkx.DiGraph`'s API that the graph stage uses
(`graph`, `nodes`, `edges`, `add_node`, `add_edge`, `successors`, `predecessors`,
`in_edges`, `out_edges`), with the same iteration order, and `to_networkx()` gives the
`nx.DiGraph` that the later stages are handed (`CheckResult.graph`, `build_graph`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import networkx as nx


class _Nodes:
    """`g.nodes`: `g.nodes[n]` the attributes, `g.nodes(data=True)` (node, attributes)."""

    def __init__(self, node: dict[Hashable, dict]):
        self._node = node

    def __getitem__(self, n: Hashable) -> dict:
        return self._node[n]

    def __call__(self, data: bool = False) -> Iterator:
        return iter(self._node.items()) if data else iter(self._node)

    def __iter__(self) -> Iterator:
        return iter(self._node)

    def __len__(self) -> int:
        return len(self._node)

    def __contains__(self, n: object) -> bool:
        return n in self._node


class _Edges:
    """`g.edges`: `g.edges[u, v]` the attributes, `g.edges(data=True)` (u, v, attributes)."""

    def __init__(self, succ: dict[Hashable, dict[Hashable, dict]]):
        self._succ = succ

    def __getitem__(self, uv: tuple[Hashable, Hashable]) -> dict:
        return self._succ[uv[0]][uv[1]]

    def __call__(self, data: bool = False) -> Iterator:
        for u, out in self._succ.items():
            for v, d in out.items():
                yield (u, v, d) if data else (u, v)

    def __iter__(self) -> Iterator:
        return self()

    def __len__(self) -> int:
        return sum(map(len, self._succ.values()))

    def __contains__(self, uv: object) -> bool:
        return isinstance(uv, tuple) and len(uv) == 2 and uv[1] in self._succ.get(uv[0], {})


class IR:
    """A directed graph of plain data (see the module's docstring)."""

    def __init__(self, **attr: Any):
        self.graph: dict[str, Any] = dict(attr)
        self._node: dict[Hashable, dict] = {}
        self._succ: dict[Hashable, dict[Hashable, dict]] = {}
        self._pred: dict[Hashable, dict[Hashable, dict]] = {}
        self._added: list[tuple[Hashable, Hashable]] = []  # edges in the order they came
        self.nodes = _Nodes(self._node)  # views, made once: the checks read g.nodes[n] a lot
        self.edges = _Edges(self._succ)

    def add_node(self, n: Hashable, **attr: Any) -> None:
        if n not in self._node:
            self._node[n], self._succ[n], self._pred[n] = {}, {}, {}
        self._node[n].update(attr)

    def add_edge(self, u: Hashable, v: Hashable, **attr: Any) -> None:
        for n in (u, v):
            if n not in self._node:
                self.add_node(n)
        if v not in self._succ[u]:
            self._added.append((u, v))
        d = self._succ[u].setdefault(v, {})
        d.update(attr)
        self._pred[v][u] = d

    def successors(self, n: Hashable) -> Iterator:
        return iter(self._succ[n])

    def predecessors(self, n: Hashable) -> Iterator:
        return iter(self._pred[n])

    def out_edges(self, n: Hashable, data: bool = False) -> list:
        return [(n, v, d) if data else (n, v) for v, d in self._succ[n].items()]

    def in_edges(self, n: Hashable, data: bool = False) -> list:
        return [(u, n, d) if data else (u, n) for u, d in self._pred[n].items()]

    def __contains__(self, n: object) -> bool:
        return n in self._node

    def __iter__(self) -> Iterator:
        return iter(self._node)

    def __len__(self) -> int:
        return len(self._node)

    def to_networkx(self) -> nx.DiGraph:
        """The same graph as an `nx.DiGraph`: same attributes, same node and edge order
        (edges added in the order they were, so that each node's predecessors come in the
        same order too)."""
        import networkx as nx

        g = nx.DiGraph(**self.graph)
        g.add_nodes_from(self._node.items())
        g.add_edges_from((u, v, self._succ[u][v]) for u, v in self._added)
        return g


def shortest_path(g: IR | nx.DiGraph, source: Hashable, target: Hashable) -> list:
    """The nodes of a shortest directed path from `source` to `target` (breadth first);
    KeyError when there is none."""
    came: dict[Hashable, Hashable | None] = {source: None}
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
