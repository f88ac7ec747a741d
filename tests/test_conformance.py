"""Runs every conformance case (a verbatim copy of ../shared/conformance) through the real
`aespec check --json` command, as the acceptance suite does, and checks its headers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

CASES = sorted((Path(__file__).parent / "conformance").glob("*/*.ae"))


def _expectations(case: Path) -> dict:
    """The header comments of a case (or of its sibling NAME.expect)."""
    expect_file = case.with_suffix(".expect")
    text = expect_file.read_text() if expect_file.exists() else case.read_text()
    out: dict = {}
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        body = line[1:].strip()
        if m := re.match(r"expect:\s*(ok|no-crash|error)\s*(E[0-9|E]+)?\s*"
                         r"(?:at line ([0-9|]+))?", body):
            out["expect"], out["codes"], out["lines"] = m.groups()
        elif m := re.match(r"params:\s*(\d+)", body):
            out["params"] = int(m.group(1))
        elif m := re.match(r"z:\s*\(([^)]*)\)", body):
            out["z"] = [int(v) for v in m.group(1).split(",") if v.strip()]
        elif m := re.match(r"The message should offer:\s*(\S+)", body):
            out["offer"] = m.group(1)
    return out


def _run_check(case: Path) -> tuple[int, dict, str]:
    proc = subprocess.run([sys.executable, "-m", "aespec.cli", "check", "--json", str(case)],
                          capture_output=True, text=True, timeout=60)
    payload = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return proc.returncode, payload, proc.stderr


def test_the_copy_is_verbatim():
    shared = Path(__file__).parents[2] / "shared" / "conformance"
    if not shared.exists():
        pytest.skip("../shared/conformance is not beside this checkout")
    for src in shared.rglob("*"):
        if src.is_file():
            copy = Path(__file__).parent / "conformance" / src.relative_to(shared)
            assert copy.read_bytes() == src.read_bytes(), f"{copy} differs from {src}"


def check_case(case: Path) -> dict:
    """Run `aespec check --json` on a case and assert its headers; returns them."""
    want = _expectations(case)
    assert want.get("expect") in ("ok", "error", "no-crash"), f"{case} has no expect header"
    code, payload, stderr = _run_check(case)
    assert "Traceback" not in stderr, stderr
    assert payload, f"no JSON on stdout; stderr: {stderr}"
    errors = [d for d in payload["diagnostics"] if d["severity"] == "error"]
    if want["expect"] == "ok":
        assert code == 0 and not errors, payload
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
    return want


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_conformance_case(case: Path):
    check_case(case)
