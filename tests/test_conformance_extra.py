"""More conformance cases of the kinds in ../shared/conformance, written against LANGUAGE.md
(tests/conformance_extra/{valid,invalid}); the expected `params` of each valid case were
counted on the equivalent hand-built PyTorch model. Same headers and same checks as
test_conformance.py, plus: the plain (non-JSON) `aespec check` never prints a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_conformance import check_case

CASES = sorted((Path(__file__).parent / "conformance_extra").glob("*/*.ae"))


def test_there_are_cases_of_both_kinds():
    kinds = {case.parent.name for case in CASES}
    assert kinds == {"valid", "invalid"}


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_extra_conformance_case(case: Path):
    want = check_case(case)
    assert (want["expect"] == "ok") == (case.parent.name == "valid")
    if want["expect"] == "ok":
        assert "params" in want and "z" in want, f"{case} should state params and z"


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_extra_case_plain_output_has_no_traceback(case: Path):
    proc = subprocess.run([sys.executable, "-m", "aespec.cli", "check", str(case)],
                          capture_output=True, text=True, timeout=60)
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.returncode == (0 if case.parent.name == "valid" else 1), proc.stderr
