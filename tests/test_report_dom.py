"""What a student sees on report.html (issue 24), read from the DOM headless Chromium builds:
the model beside the mean image and PCA (`references`), the PCA baseline table, the anomaly
ROC AUC and threshold, a denoiser's clean-input figures, a VAE's active units and the
warnings of a run that learned nothing (W444-W446). Four small runs on the 8x8 digits: a
denoiser that also scores anomalies, a VAE, and the two collapses of tests/references.
Each page is also shot whole at 1366 wide (printed paths; copied to test-artifacts/ with
$AESPEC_ARTIFACTS set) to be looked at."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

import aespec
from aespec.report.records import fmt
from tests.test_report_html import CHROMIUM, _check_in_browser, _chromium
from tests.test_report_numbers import _dom

pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parent / "references"

DENOISER = """model dom_denoiser "A denoiser trained on digits 0-8; the 9s scored by their error"
data digits(normal=(0, 1, 2, 3, 4, 5, 6, 7, 8))
input vector(64)
noise gaussian(0.3)
encoder {
    dense(64) relu
}
bottleneck {
    dense(12)
}
decoder {
    dense(64) relu
    dense(64) sigmoid
}
loss mse
train {
    epochs 40
    optimizer adam(lr=3e-3)
    seed 0
}
report {
    anomaly(quantile=0.95)
    baseline pca
}
"""

VAE = """model dom_vae "A small VAE on the 8x8 digits"
data digits
input vector(64)
encoder {
    dense(128) relu
}
bottleneck {
    gaussian(8)
}
decoder {
    dense(128) relu
    dense(64) sigmoid
}
loss bce
train {
    epochs 40
    optimizer adam(lr=3e-3)
    seed 0
}
report {
    samples(n=16)
}
"""


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("AESPEC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def _run(tmp: Path, name: str, source: str) -> tuple[Path, dict, dict]:
    """The run's folder, its run.json and report.json."""
    import torch

    torch.set_num_threads(1)
    (tmp / f"{name}.ae").write_text(source)
    aespec.train(tmp / f"{name}.ae", out=tmp / name, quiet=True)
    read = lambda f: json.loads((tmp / name / f).read_text())  # noqa: E731
    return tmp / name, read("run.json"), read("report.json")


def _page_in_browser(run: Path, tmp: Path) -> str:
    """The DOM Chromium built, after the page's images and console were checked; a shot of
    the whole page kept beside the usual two."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    page = run / "report.html"
    seen = _check_in_browser(page, tmp)
    assert seen["bad"] == ["aespec-control"] and seen["overflow"] <= 0
    assert [c for c in seen["console"] if "aespec-control" not in c] == []
    shot = tmp / f"{run.name}-whole.png"
    _chromium(f"--screenshot={shot}", "--window-size=1366,2600", page.as_uri(),
              profile=tmp / "profile-whole")
    assert shot.is_file() and shot.stat().st_size > 10_000
    if os.environ.get("AESPEC_ARTIFACTS"):
        keep = Path(__file__).resolve().parents[1] / "test-artifacts"
        keep.mkdir(exist_ok=True)
        shutil.copy(shot, keep / shot.name)
    print("screenshot:", shot)
    return _dom(page, tmp)


def _references(dom: str) -> str:
    found = re.search(r'<div id="references">.*?</table>.*?</p>', dom, re.S)
    assert found, "no references section in the DOM"
    return found.group(0)


def _row(table: str, name: str) -> list[str]:
    found = re.search(rf"<tr><td>{re.escape(name)}</td>(.*?)</tr>", table, re.S)
    assert found, f"no row {name!r}"
    return re.findall(r"<td[^>]*>(.*?)</td>", found.group(1))


def _assert_references(dom: str, refs: dict) -> str:
    """The three rows hold run.json's figures: the model's, the mean image's and PCA's,
    with the model's over each as a ratio."""
    table = _references(dom)
    assert _row(table, "this model")[0] == fmt(refs["model"])
    assert _row(table, "mean image (the same output for every example)") == [
        fmt(refs["mean_image"]), f"{refs['model_over_mean_image']:.2f}"]
    assert _row(table, f"PCA, {refs['pca_components']} components") == [
        fmt(refs["pca"]), f"{refs['model_over_pca']:.2f}"]
    return table


def _warnings(dom: str) -> set[str]:
    return set(re.findall(r'<p class="note warning"><b>warning (W\d+)</b>', dom))


def test_a_denoiser_page_shows_references_pca_table_auc_and_threshold(tmp_path):
    run, info, report = _run(tmp_path, "denoiser", DENOISER)
    dom = _page_in_browser(run, tmp_path)
    table = _assert_references(dom, info["references"])
    assert "corrupted test inputs" in table and info["references"]["input"] == "corrupted"
    clean = re.search(r'<table class="test-clean">.*?</table>', dom, re.S)
    assert clean and fmt(info["test_clean"]["mse"]) in clean.group(0)
    pca = re.search(r'<table id="pca-baseline".*?</table>', dom, re.S)
    assert pca and ">noisy</td>" in pca.group(0) and ">clean</td>" in pca.group(0)
    anomaly = report["anomaly"]
    assert anomaly["roc_auc"] > 0.5  # the 9s it never saw reconstruct worse
    for key in ("roc_auc", "threshold"):
        assert re.search(rf">{key}</th><td[^>]*>{re.escape(f'{anomaly[key]:#.5g}')}</td>",
                         dom), key
    assert not _warnings(dom)


def test_a_vae_page_shows_references_and_its_active_units(tmp_path):
    run, info, _ = _run(tmp_path, "vae", VAE)
    dom = _page_in_browser(run, tmp_path)
    table = _assert_references(dom, info["references"])
    units = info["active_units"]
    assert info["references"]["active_units"]["active"] == units["active"] >= 1
    assert f"Active latent units (Var of E[z|x] > 0.01): {units['active']} of 8." in table
    assert "report/samples.png" in dom and "report/reconstructions.png" in dom
    assert not _warnings(dom)


def test_collapsed_pages_show_their_warnings_in_the_dom(tmp_path):
    l2, info, _ = _run(tmp_path, "l2", (HERE / "collapsed_l2.ae").read_text())
    dom = _page_in_browser(l2, tmp_path)
    _assert_references(dom, info["references"])
    assert info["references"]["model_over_mean_image"] >= 0.95
    assert _warnings(dom) == {"W444", "W445"}
    assert "hint: likely: a regularizer" in dom
    assert "<code>regularize l2(0.1)</code>" in dom  # the spec's text, not `backticks`
    assert not re.findall(r'<p class="note warning">[^\n]*`', dom)
    vae, info, _ = _run(tmp_path, "kl", (HERE / "collapsed_vae.ae").read_text())
    dom = _page_in_browser(vae, tmp_path)
    assert "W446" in _warnings(dom)
    assert "Active latent units (Var of E[z|x] > 0.01): 0 of 8." in dom
    assert "beta=20" in dom
