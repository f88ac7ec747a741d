"""The students' loop (issue 27): `aespec run SPEC --fast-dev-run` imports no more than a
run needs. The digits come from scikit-learn's own file without importing scikit-learn (and
scipy behind it), equal to `load_digits()`; the report computes every item's numbers but
draws no figure (no matplotlib). How long it takes is bench/FAST_DEV_RUN.md's business, not
a test's."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from aespec.data.datasets import read_digits

ROOT = pathlib.Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "undercomplete_fc.ae"
NOT_NEEDED = ("sklearn", "scipy", "matplotlib")

PROBE = """
import json, sys
sys.argv = ["aespec", *json.loads(sys.argv[1])]
from aespec.cli import main
try:
    main()
except SystemExit as stop:
    sys.stderr.write(f"EXIT={stop.code}\\n")
sys.stderr.write("MODULES=" + json.dumps(sorted(sys.modules)) + "\\n")
"""


def _run_probe(args: list[str]) -> tuple[set[str], str]:
    """The modules a CLI command imported, in a fresh process, and its stdout."""
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True,
                          text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("MODULES=")]
    assert line, proc.stderr
    return set(json.loads(line[-1][len("MODULES="):])), proc.stdout


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in NOT_NEEDED)


def test_digits_read_from_scikit_learns_file_equal_load_digits():
    from sklearn.datasets import load_digits

    images, target = read_digits()
    bunch = load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == bunch.images.dtype
    assert target.dtype == bunch.target.dtype
    np.testing.assert_array_equal(images, bunch.images)
    np.testing.assert_array_equal(target, bunch.target)


def test_digits_come_from_load_digits_where_the_file_is_not_found(monkeypatch):
    import importlib.util

    from sklearn.datasets import load_digits

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    images, target = read_digits()
    np.testing.assert_array_equal(images, load_digits().images)
    np.testing.assert_array_equal(target, load_digits().target)


def test_the_cli_imports_no_scikit_learn_scipy_or_matplotlib():
    proc = subprocess.run([sys.executable, "-c", "import json, sys, aespec.cli, aespec.data; "
                           "print(json.dumps(sorted(sys.modules)))"], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, check=True)
    assert _heavy(set(json.loads(proc.stdout))) == []


@pytest.mark.slow
def test_a_fast_dev_run_imports_no_scikit_learn_scipy_or_matplotlib():
    modules, out = _run_probe(["run", str(SPEC), "--fast-dev-run"])
    assert out.rstrip().endswith("fast-dev-run ok"), out
    assert "report: reconstructions, baseline; no figure drawn" in out
    assert "torch" in modules  # it did train
    assert _heavy(modules) == [], f"a fast-dev-run imported {_heavy(modules)}"
    assert "rich.progress" not in modules  # the bar of a real run


@pytest.mark.slow
def test_a_fast_dev_runs_report_has_every_number_and_no_figure(tmp_path):
    import aespec

    result = aespec.train(SPEC, out=tmp_path / "run", quiet=True, fast_dev_run=True)
    recon, baseline = result.report["reconstructions"], result.report["baseline"]
    assert recon["file"] is None and recon["n"] == 16
    assert baseline["clean"]["pca"]["mse"] > 0 and baseline["clean"]["model"]["mse"] > 0
    assert not list((tmp_path / "run" / "report").glob("*.png"))
    assert "- reconstructions: not drawn" in \
        (tmp_path / "run" / "report" / "summary.md").read_text()


def test_a_report_without_figures_has_the_same_numbers(tmp_path):
    """`draws=False` leaves out the figures only: every other value is the drawn report's."""
    torch = pytest.importorskip("torch")
    import aespec
    from aespec.data import load_data
    from aespec.report.items import write_report

    spec = aespec.load(SPEC)
    torch.manual_seed(0)
    model = aespec.build(spec)
    assert spec.data is not None
    data = load_data(spec.data.source, dict(spec.data.args), spec.input.shape)
    drawn = write_report(spec, model, data, tmp_path / "drawn")
    numbers = write_report(spec, model, data, tmp_path / "numbers", draws=False)
    assert drawn["reconstructions"].pop("file") == "report/reconstructions.png"
    assert numbers["reconstructions"].pop("file") is None
    assert numbers == drawn
    assert (tmp_path / "drawn" / "report" / "reconstructions.png").is_file()
    assert not (tmp_path / "numbers" / "report" / "reconstructions.png").exists()
