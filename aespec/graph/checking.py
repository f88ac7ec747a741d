"""The front-end pipeline: source -> syntax tree -> Spec -> graph IR -> diagnostics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from aespec.errors import AespecError, Diagnostic, DiagnosticBag
from aespec.graph import theory  # noqa: F401  (registers the W4xx checks)
from aespec.graph.build import build_ir
from aespec.graph.checks import run_checks
from aespec.graph.ir import IR
from aespec.graph.memory import estimate
from aespec.model import Spec
from aespec.parse import parse_source, read_spec
from aespec.resolve import resolve_spec

if TYPE_CHECKING:
    import networkx as nx


@dataclass
class CheckResult:
    """What `aespec check` knows about one spec: diagnostics, and the IR when it got that far.

    `ir` is the graph as the front end built it (`aespec.graph.ir.IR`, which needs no
    networkx); `graph` the same as an `nx.DiGraph`, made on first use, for the later stages.
    """

    path: str | None
    source: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    spec: Spec | None = None
    ir: IR | None = None
    overrides: tuple[str, ...] = ()  # the `--set` values it was checked with
    _graph: nx.DiGraph | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def graph(self) -> nx.DiGraph | None:
        if self._graph is None and self.ir is not None:
            self._graph = self.ir.to_networkx()
        return self._graph

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)

    def model_json(self) -> dict | None:
        g = self.ir
        if g is None or self.spec is None:
            return None
        return {"name": self.spec.name, "input": list(self.spec.input.shape),
                "z": list(g.graph["z"]) if g.graph.get("z") else None,
                "output": list(g.graph["output"]) if g.graph.get("output") else None,
                "params": g.graph["params"],
                "memory": estimate(self.spec, g).to_json() if "decoder" in g.graph[
                    "outputs"] else None}

    def to_json(self) -> dict:
        out: dict = {"file": self.path, "ok": self.ok,
                     "diagnostics": [d.to_json() for d in self.diagnostics]}
        model = self.model_json()
        if model is not None:
            out["model"] = model
        return out

    def raise_for_errors(self) -> None:
        if not self.ok:
            raise AespecError(self.diagnostics, source=self.source)


def check_source(source: str, path: str | None = None, overrides: Sequence[str] = ()
                 ) -> CheckResult:
    """Run every front-end stage; never raises for problems in the spec itself."""
    result = CheckResult(path, source, overrides=tuple(overrides))
    bag = DiagnosticBag(file=path)
    try:
        tree = parse_source(source, path)
        spec, bag = resolve_spec(tree, overrides, bag)
    except AespecError as err:
        result.diagnostics = bag.items + err.diagnostics
        return result
    return _check_graph(result, spec, bag)


def check_spec(spec: Spec) -> CheckResult:
    """The graph and checks of an already resolved `Spec` (no parse, no resolve)."""
    return _check_graph(CheckResult(spec.path, spec.source), spec, DiagnosticBag(file=spec.path))


def _check_graph(result: CheckResult, spec: Spec | None, bag: DiagnosticBag) -> CheckResult:
    result.spec = spec
    if spec is not None:
        result.ir = build_ir(spec, bag)
        run_checks(spec, result.ir, bag)
    result.diagnostics = sorted(bag.items, key=_order)
    return result


def _order(d: Diagnostic) -> tuple:
    return (d.severity != "error", d.span.line if d.span else 0, d.span.column if d.span else 0)


def check_file(path: str | Path, overrides: Sequence[str] = ()) -> CheckResult:
    """Read and check a spec file; an unreadable file is an E001 diagnostic, one too large
    E106 (at most MAX_SOURCE characters are read)."""
    try:
        source = read_spec(path)
    except AespecError as err:
        result = CheckResult(str(path), "")
        result.diagnostics = err.diagnostics
        return result
    return check_source(source, str(path), overrides)

