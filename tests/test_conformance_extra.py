"""More conformance cases of the kinds in ../shared/conformance, written against LANGUAGE.md
(tests/conformance_extra/{valid,invalid}); the expected `params` of each valid case were
counted on the equivalent hand-built PyTorch model. Same headers and same checks as
test_conformance.py, plus: the plain (non-JSON) `aespec check` never prints a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_conformance import _expectations, _run_check

CASES = sorted((Path(__file__).parent / "conformance_extra").glob("*/*.ae"))


def test_there_are_cases_of_both_kinds():
    kinds = {case.parent.name for case in CASES}
    assert kinds == {"valid", "invalid"}


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_extra_conformance_case(case: Path):
    want = _expectations(case)
    assert want.get("expect") in ("ok", "error", "no-crash"), f"{case} has no expect header"
    assert (want["expect"] == "ok") == (case.parent.name == "valid")
    code, payload, stderr = _run_check(case)
    assert "Traceback" not in stderr, stderr
    assert payload, f"no JSON on stdout; stderr: {stderr}"
    errors = [d for d in payload["diagnostics"] if d["severity"] == "error"]
    if want["expect"] == "ok":
        assert code == 0 and not errors, payload
        assert "params" in want and "z" in want, f"{case} should state params and z"
    elif want["expect"] == "no-crash":
        assert code in (0, 1)
    else:
        assert code == 1 and errors, payload
        if want["codes"]:
            prefixes = want["codes"].split("|")
            assert any(d["code"].startswith(p) for d in errors for p in prefixes), errors
        if want["lines"]:
            lines = {int(v) for v in want["lines"].split("|")}
            assert any(d["line"] in lines for d in errors), errors
    if "params" in want:
        assert payload["model"]["params"] == want["params"]
    if "z" in want:
        assert payload["model"]["z"] == want["z"]
    if "offer" in want:
        assert any(want["offer"] in (d["message"] + (d["hint"] or "")) for d in errors), errors


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_extra_case_plain_output_has_no_traceback(case: Path):
    proc = subprocess.run([sys.executable, "-m", "aespec.cli", "check", str(case)],
                          capture_output=True, text=True, timeout=60)
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.returncode == (0 if case.parent.name == "valid" else 1), proc.stderr
