"""The package's layout is its pipeline: one subpackage per stage, each importing only the
stages before it (docs/stages.md gives the order), and no import cycle anywhere.

Every `import` counts, wherever it stands: at the top, inside a function, under
`TYPE_CHECKING`. A dynamic `importlib.import_module` does not (the CLI and the package's
top use it to load the stages they know).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "aespec"
TOP = {"errors", "codes"}  # the error types and the code catalogue, below every stage
API = {"__init__", "__main__"}  # the package's top: knows every stage, as the CLI does


def stage_order() -> list[str]:
    """The stages in order, as docs/stages.md numbers them: "1. `parse`: ..."."""
    page = (ROOT / "docs" / "stages.md").read_text(encoding="utf-8")
    section = page.split("## The stage order", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\d+\. `(\w+)`", section, flags=re.M)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _target(name: str) -> str:
    """The module an imported dotted name stands for: itself, or the nearest package."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imports_of(module: str) -> set[str]:
    """The aespec modules that `module` imports, anywhere in its text."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from aespec.graph import checks` imports the module aespec.graph.checks
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                      for a in node.names}
    return {_target(n) for n in found if n == "aespec" or n.startswith("aespec.")} - {module}


def stage_of(module: str, order: list[str]) -> int:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in API:
        return len(order)  # the package's top comes after every stage
    if parts[1] in TOP:
        return -1
    return order.index(parts[1])


def import_graph() -> nx.DiGraph:
    g = nx.DiGraph()
    for module in MODULES:
        g.add_node(module)
        g.add_edges_from((module, target) for target in imports_of(module))
    return g


def test_the_doc_names_every_stage_once_and_each_is_a_subpackage():
    order = stage_order()
    assert len(order) == len(set(order)) >= 10, order
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(order), "docs/stages.md and aespec/ list different stages"


def test_only_the_top_modules_sit_beside_the_stages():
    beside = {p.stem for p in PACKAGE.glob("*.py")}
    assert beside == TOP | API, f"modules outside a stage: {sorted(beside - TOP - API)}"


def test_no_module_imports_a_later_stage():
    order = stage_order()
    wrong = [f"{m} ({stage}) imports {t} ({t.split('.')[1] if '.' in t else 'aespec'})"
             for m in MODULES for t in sorted(imports_of(m))
             if stage_of(t, order) > stage_of(m, order)
             for stage in [m.split(".")[1] if "." in m else "aespec"]]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle():
    cycles = list(nx.simple_cycles(import_graph()))
    assert not cycles, "\n".join(" -> ".join([*c, c[0]]) for c in cycles)


def test_the_spec_model_imports_only_earlier_stages_and_no_heavy_library():
    for module in (m for m in MODULES if m.startswith("aespec.model")):
        text = MODULES[module].read_text(encoding="utf-8")
        assert not re.search(r"^\s*(import|from) (torch|numpy|graphviz|networkx)\b", text,
                             flags=re.M), module


# ---------------------------------------------------------------- the test's own reading


@pytest.mark.parametrize("line, expected", [
    ("from aespec.graph import checks", {"aespec.graph.checks"}),
    ("from aespec.graph import build_ir", {"aespec.graph"}),
    ("import aespec.train.loop", {"aespec.train.loop"}),
    ("def f():\n    from aespec.compile import compile_model", {"aespec.compile"}),
    ("import aespec", {"aespec"}),
])
def test_imports_are_read_inside_functions_and_to_the_module(tmp_path, monkeypatch, line,
                                                             expected):
    monkeypatch.setitem(MODULES, "aespec.model.fake", tmp_path / "fake.py")
    (tmp_path / "fake.py").write_text(line + "\n", encoding="utf-8")
    assert imports_of("aespec.model.fake") == expected


def test_a_later_import_and_a_cycle_would_be_found():
    order = stage_order()
    assert stage_of("aespec.compile", order) > stage_of("aespec.model.spec", order)
    g = import_graph()
    g.add_edge("aespec.ops.registry", "aespec.ops")  # as the registry once imported its ops
    assert list(nx.simple_cycles(g))
