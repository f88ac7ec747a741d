"""bench/quality.py (which writes docs/results.md) keeps working: a quick run on a few
hundred images, one seed, scores aespec and its hand-written twin alike."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quick_quality_run_scores_aespec_beside_its_twin_and_pca(tmp_path):
    out, data = tmp_path / "results.md", tmp_path / "quality.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "quality.py"), "--quick",
                           "--models", "dense,vae", "--out", str(out), "--json", str(data)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    results = {r["kind"]: r for r in json.loads(data.read_text())}
    for kind, r in results.items():
        [seed] = r["seeds"]
        a, h = seed["aespec"]["metric"], seed["hand"]["metric"]
        assert 0.7 < a / h < 1.4, (kind, a, h)  # one epoch: the same model, other draws
        assert r["mean_image_mse"] > 0 and r["pca_mse"] > 0
    page = out.read_text()
    assert page.count("| dense AE") == 1 and page.count("| FC-VAE") == 1
