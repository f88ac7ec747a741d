"""The short fuzz campaign (`make fuzz` runs the long one): hostile specs, grammar strings,
`--set` values, data files and run directories give aespec's own errors only, and none
takes longer than 5 s."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_short_fuzz_campaign_finds_nothing(tmp_path):
    out = tmp_path / "FUZZ.md"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "fuzz.py"), "--inputs", "800",
                           "--seed", "1", "--out", str(out)], capture_output=True, text=True,
                          timeout=900, cwd=ROOT)
    report = out.read_text() if out.is_file() else proc.stderr
    assert proc.returncode == 0, report
    assert "; 0 findings" in report
