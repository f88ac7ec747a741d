"""`aespec check` (text and --json) and `aespec explain` never import torch, numpy,
scikit-learn or graphviz: checking is parsing, validation and shape inference only, and it
must stay fast (see bench/check_speed.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted(str(p) for p in (ROOT / "specs").glob("*.ae")) + sorted(
    str(p) for p in (ROOT / "tests" / "conformance").glob("*/*.ae"))
HEAVY = ("torch", "numpy", "sklearn", "scipy", "graphviz", "matplotlib")

# Runs the real entry point in a fresh interpreter, then reports which heavy modules it
# loaded. SystemExit is the CLI's normal way out (0, 1 or 2).
PROBE = """
import json, sys
watch = set(json.loads(sys.argv[2]))
sys.argv = ["aespec", *json.loads(sys.argv[1])]
from aespec.cli import main
try:
    main()
except SystemExit as exit:
    code = exit.code
heavy = sorted({m.split(".")[0] for m in sys.modules} & watch)
sys.stderr.write("HEAVY=" + json.dumps(heavy) + "\\n")
sys.exit(code)
"""


def _heavy_modules(args: list[str]) -> tuple[list[str], subprocess.CompletedProcess]:
    argv = json.dumps(args)
    proc = subprocess.run([sys.executable, "-c", PROBE, argv, json.dumps(HEAVY)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("HEAVY=")]
    assert line, proc.stderr
    return json.loads(line[-1][len("HEAVY="):]), proc


@pytest.mark.parametrize("mode", [[], ["--json"]], ids=["text", "json"])
def test_check_imports_no_heavy_module(mode):
    assert SPECS, "no spec to check"
    heavy, proc = _heavy_modules(["check", *mode, *SPECS])
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 1)  # the invalid conformance cases fail, as they should
    assert heavy == [], f"aespec check imported {heavy}"


def test_check_json_prints_one_object_per_spec():
    _, proc = _heavy_modules(["check", "--json", *SPECS])
    objects = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert [o["file"] for o in objects] == SPECS


def test_explain_imports_no_heavy_module():
    heavy, proc = _heavy_modules(["explain", "E301"])
    assert proc.returncode == 0, proc.stderr
    assert heavy == []


def test_importing_aespec_imports_nothing_heavy():
    code = ("import sys, aespec, aespec.graph.frontend, aespec.cli.reference; "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "[]"
