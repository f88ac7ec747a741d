"""`aespec check` imports only what a check uses (bench/check_speed.md): no networkx (the
front end builds `aespec.graph.ir.IR`), no interegular (lark gets it when it builds tables),
no numpy, torch or the other commands' modules; and the IR converts to the same graph as an
`nx.DiGraph` of attribute dicts (`aespec.graph_of`)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import networkx as nx
import pytest

from aespec.graph import check_file
from aespec.graph.ir import IR, shortest_path

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.ae"))
UNWANTED = ("networkx", "interegular", "numpy", "torch", "sklearn", "graphviz",
            "aespec.cli.run", "aespec.cli.draw", "aespec.cli.eval")

PROBE = """
import json, sys
sys.argv = ["aespec", *json.loads(sys.argv[1])]
from aespec.cli import main
try:
    main()
except SystemExit:
    pass
sys.stderr.write("MODULES=" + json.dumps(sorted(sys.modules)) + "\\n")
"""


def _modules_of(args: list[str]) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("MODULES=")]
    assert line, proc.stderr
    return set(json.loads(line[-1][len("MODULES="):]))


@pytest.mark.parametrize("mode", [[], ["--json"]], ids=["text", "json"])
def test_check_imports_none_of_the_heavy_or_unneeded_modules(mode):
    from aespec.parse import syntax

    for parser in (syntax._parser, syntax._expr_parser, syntax._chain_parser):
        parser()  # the tables in the (test session's) cache, as after a first check: a cold
        # cache builds them, which needs interegular
    modules = _modules_of(["check", *mode, str(SPECS[0]), str(SPECS[-1])])
    assert "aespec.cli.check" in modules and "lark" in modules
    loaded = sorted(m for m in modules if m.split(".")[0] in UNWANTED or m in UNWANTED)
    assert loaded == [], f"aespec check imported {loaded}"


def test_help_lists_every_command_module():
    proc = subprocess.run([sys.executable, "-m", "aespec", "--help"], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    from aespec.cli import command_names

    assert proc.returncode == 0
    names = command_names()
    assert "check" in names and "run" in names and "app" not in names
    listed = proc.stdout.split("Commands:")[1]
    assert all(f" {name} " in listed for name in names), proc.stdout


def test_the_app_imported_by_name_has_every_command():
    from aespec.cli import app, command_names

    registered = {c.name for c in app.registered_commands}
    assert set(command_names()) <= registered


@pytest.mark.parametrize("spec", SPECS[:6] + [ROOT / "specs" / "inpainting_unet.ae"],
                         ids=lambda p: p.stem)
def test_the_ir_converts_to_the_same_networkx_graph(spec):
    ir = check_file(spec).ir
    assert isinstance(ir, IR)
    g = ir.to_networkx()
    assert list(g.nodes) == list(ir.nodes)
    for n, d in g.nodes(data=True):
        assert d == {f.name: getattr(ir.nodes[n], f.name) for f in fields(ir.nodes[n])}
        # predecessors in the same order: the drawing's edge order follows them
        assert list(g.predecessors(n)) == ir.predecessors(n)
        assert list(g.successors(n)) == ir.successors(n)
    assert sorted(g.edges) == sorted(ir.edges)
    assert all(g.edges[uv]["shape"] == e.shape for uv, e in ir.edges.items())
    assert g.graph["order"] == ir.order and g.graph["params"] == ir.params


def test_shortest_path_agrees_with_networkx_in_length():
    ir = check_file(ROOT / "specs" / "inpainting_unet.ae").ir
    assert ir is not None
    g = ir.to_networkx()
    last = ir.order[-1]
    ours = shortest_path(ir, "input", last)
    assert ours[0] == "input" and ours[-1] == last
    assert len(ours) == len(nx.shortest_path(g, "input", last))
    with pytest.raises(KeyError):
        shortest_path(ir, last, "input")


def test_the_strict_grammar_still_builds_after_a_check_loaded_lark():
    """lark was loaded with interegular refused (aespec.parse._lark); strict mode needs it."""
    pytest.importorskip("interegular")
    from lark import Lark

    from aespec.parse import grammar_text

    check_file(SPECS[0])
    Lark(grammar_text(), parser="lalr", strict=True)
