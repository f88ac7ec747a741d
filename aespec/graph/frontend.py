"""The front-end pipeline: source -> syntax tree -> Spec -> graph IR -> diagnostics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aespec.errors import AespecError, Diagnostic, DiagnosticBag
from aespec.graph import (  # noqa: F401  (register their checks)
    adversarial,
    conditional,
    dbn,
    heads,
    missing,
    pitfalls,
    schedchecks,
    somchecks,
    theory,
)
from aespec.graph.build import build_ir
from aespec.graph.checks import run_checks
from aespec.graph.ir import IR
from aespec.graph.memory import estimate
from aespec.graph.phases import phase_rows
from aespec.model import PhaseSpec, Spec, phase_spec
from aespec.parse import parse_source, read_spec
from aespec.parse.markdown import AeBlock, ae_blocks, is_markdown, read_markdown, select_block
from aespec.resolve import resolve_spec
from aespec.resolve.overrides import locate_overrides

# of `aespec check --json`: 2 adds the `spec` object (docs/check-json-2.schema.json); 1
# (docs/check-json.schema.json) is still given with `--schema 1`
JSON_SCHEMA_VERSION = 2
SCHEMA_VERSIONS = (1, 2)


@dataclass
class CheckResult:
    """What `aespec check` knows about one spec: diagnostics, and the IR when it got that
    far (`aespec.graph.ir.IR`, which every later stage takes)."""

    path: str | None
    source: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    spec: Spec | None = None
    ir: IR | None = None
    overrides: tuple[str, ...] = ()  # the `--set` values it was checked with
    data: str | None = None  # the --data value in place of its `data` statement
    block: AeBlock | None = None  # the ```ae block of a Markdown file that was checked
    phase_irs: list[IR | None] = field(default_factory=list)  # per phase: its own graph
    #   where its noise or loss differs from the top level's, else None

    @property
    def label(self) -> str:
        """How the CLI names it: the path, and `#N` for a block of a Markdown file."""
        return f"{self.path}#{self.block.index}" if self.block else str(self.path)

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)

    def model_json(self) -> dict[str, Any] | None:
        g = self.ir
        if g is None or self.spec is None:
            return None
        return {"name": self.spec.name, "input": list(self.spec.input.shape),
                "z": list(g.z) if g.z else None,
                "output": list(g.output) if g.output else None,
                "params": g.params,
                **({"networks": dict(g.networks)} if self.spec.is_adversarial else {}),
                "memory": estimate(self.spec, g).to_json() if "decoder" in g.outputs
                else None}

    def to_json(self, version: int = JSON_SCHEMA_VERSION) -> dict[str, Any]:
        """The object of `check --json`, in schema `version` (1 or 2)."""
        out: dict[str, Any] = {"schema_version": version, "file": self.path}
        if self.block is not None:
            out["block"] = {"index": self.block.index, "name": self.block.name,
                            "line": self.block.line}
        out["ok"] = self.ok
        out["diagnostics"] = [self._diagnostic_json(d) for d in self.diagnostics]
        model = self.model_json()
        if model is not None and version >= 2 and self.spec is not None and self.spec.phases:
            assert self.ir is not None
            model["phases"] = phase_rows(self.spec, self.phase_irs, self.ir)
        if model is not None:
            out["model"] = model
        if version >= 2 and self.ir is not None and self.spec is not None:
            from aespec.graph.describe import spec_json

            out["spec"] = spec_json(self.spec, self.ir)
        return out

    def _diagnostic_json(self, d: Diagnostic) -> dict[str, Any]:
        """`Diagnostic.to_json`, and `file` where the position is in another text than the
        result's file: `<--set train.epochs=0>` for an override's value."""
        out = d.to_json()
        if d.file and d.file != self.path:
            out["file"] = d.file
        return out

    def raise_for_errors(self) -> None:
        if not self.ok:
            raise AespecError(self.diagnostics, source=self.source)


def check_source(source: str, path: str | None = None, overrides: Sequence[str] = (),
                 data: str | None = None) -> CheckResult:
    """Run every front-end stage; never raises for problems in the spec itself. `data`
    (--data) takes the place of the spec's `data` statement."""
    result = CheckResult(path, source, overrides=tuple(overrides), data=data)
    bag = DiagnosticBag(file=path)
    try:
        tree = parse_source(source, path)
        spec, bag = resolve_spec(tree, overrides, bag, data)
    except AespecError as err:
        result.diagnostics = locate_overrides(bag.items + err.diagnostics, overrides, data)
        return result
    _check_graph(result, spec, bag)
    result.diagnostics = locate_overrides(result.diagnostics, overrides, data)
    return result


def check_spec(spec: Spec) -> CheckResult:
    """The graph and checks of an already resolved `Spec` (no parse, no resolve)."""
    return _check_graph(CheckResult(spec.path, spec.source), spec, DiagnosticBag(file=spec.path))


def _check_phase(spec: Spec, phase: PhaseSpec, bag: DiagnosticBag) -> IR:
    """A phase's own graph and checks: its diagnostics that point inside the phase's block
    (its noise, its loss); the rest are the top level's, reported there once."""
    seen, own = phase_spec(spec, phase), DiagnosticBag(file=bag.file)
    ir = build_ir(seen, own)
    run_checks(seen, ir, own)
    for d in own.items:
        if d.span is not None and phase.span.line <= d.span.line <= phase.span.end_line:
            bag.add(d.code, d.message, d.span, d.hint)
    return ir


def _check_graph(result: CheckResult, spec: Spec | None, bag: DiagnosticBag) -> CheckResult:
    result.spec = spec
    if spec is not None:
        result.ir = build_ir(spec, bag)
        run_checks(spec, result.ir, bag)
        for phase in spec.phases:  # a phase's own noise or loss: its own graph's checks
            ir = None
            if phase.noise is not None or phase.loss is not None:
                ir = _check_phase(spec, phase, bag)
            result.phase_irs.append(ir)
    result.diagnostics = sorted(bag.items, key=_order)
    return result


def _order(d: Diagnostic) -> tuple[bool, int, int]:
    return (d.severity != "error", d.span.line if d.span else 0, d.span.column if d.span else 0)


def check_file(path: str | Path, overrides: Sequence[str] = (), block: str | int | None = None,
               data: str | None = None) -> CheckResult:
    """Read and check a spec file; an unreadable file is an E001 diagnostic, one too large
    E106 (at most MAX_SOURCE characters are read).

    A Markdown file (`.md`, `.markdown`) holds its specs in ```ae blocks: `block` (a
    1-based number or a model name) picks one, and may be None when there is only one
    (E214 when there are several, E215 with none, E216 when `block` names none).
    """
    try:
        if is_markdown(path):
            chosen = select_block(ae_blocks(read_markdown(path)), block, str(path))
            return check_block(chosen, path, overrides, data)
        if block is not None:
            raise AespecError.of("E216", f"--block {block}: {path} is not a Markdown file",
                                 None, "--block picks an ```ae block of a .md file", str(path))
        source = read_spec(path)
    except AespecError as err:
        return _unreadable(path, err)
    return check_source(source, str(path), overrides, data)


def check_blocks(path: str | Path, overrides: Sequence[str] = (), data: str | None = None
                 ) -> list[CheckResult]:
    """Every spec of a file: each ```ae block of a Markdown file, else the file itself."""
    if not is_markdown(path):
        return [check_file(path, overrides, data=data)]
    try:
        blocks = ae_blocks(read_markdown(path))
        select_block(blocks, 1, str(path))  # E215 for a page without one
    except AespecError as err:
        return [_unreadable(path, err)]
    return [check_block(b, path, overrides, data) for b in blocks]


def check_block(block: AeBlock, path: str | Path, overrides: Sequence[str] = (),
                data: str | None = None) -> CheckResult:
    """One ```ae block, its diagnostics at the Markdown file's own lines and columns."""
    result = check_source(block.source, str(path), overrides, data)
    result.block = block
    return result


def _unreadable(path: str | Path, err: AespecError) -> CheckResult:
    result = CheckResult(str(path), "")
    result.diagnostics = err.diagnostics
    return result
