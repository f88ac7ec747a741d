"""report.html holds every number of report.json and summary.md (issue 24): the PCA
baseline table, the anomaly threshold and ROC AUC, each item's numbers beside its figure;
and a reconstruction figure for every autoencoder run, report block or not.  The pages are
opened in headless Chromium (as tests/test_report_html.py does) and the numbers looked for
in the DOM it built; screenshots are kept (printed paths)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

import aespec
from aespec.report.numbers import item_numbers
from aespec.report.page import RunPage, run_page
from tests.test_report_html import CHROMIUM, _check_in_browser, _chromium

pytestmark = pytest.mark.slow

ANOMALY = """model tiny_anomaly "Digits 0-8 as normal data; the 9s scored by their error"
data digits(normal=(0, 1, 2, 3, 4, 5, 6, 7, 8))
input vector(64)
encoder {
    dense(64) relu
}
bottleneck {
    dense(8)
}
decoder {
    dense(64) relu
    dense(64) sigmoid
}
loss mse
train {
    epochs 4
    seed 0
}
report {
    anomaly(quantile=0.95)
    baseline pca
}
"""

DENOISER = """model tiny_denoiser "A small denoiser on the 8x8 digits"
data digits
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
    epochs 4
    seed 0
}
report {
    baseline pca
}
"""

PLAIN = """model tiny_plain "No report block at all"
data digits
input vector(64)
encoder {
    dense(32) relu
}
bottleneck {
    dense(8)
}
decoder mirror
loss mse
train {
    epochs 2
    seed 0
}
"""


def _run(tmp: Path, name: str, source: str) -> tuple[Path, dict]:
    (tmp / f"{name}.ae").write_text(source)
    aespec.train(tmp / f"{name}.ae", out=tmp / name, quiet=True)
    return tmp / name, json.loads((tmp / name / "report.json").read_text())


def _dom(page: Path, tmp: Path) -> str:
    """The DOM Chromium built from the page, as text (the numbers the student sees)."""
    done = _chromium("--virtual-time-budget=3000", "--dump-dom", page.as_uri(),
                     profile=tmp / "profile-dom")
    assert "<html" in done.stdout, done.stderr[-2000:]
    return html.unescape(done.stdout)


def test_the_anomaly_page_shows_the_pca_table_the_threshold_and_the_auc(tmp_path):
    run, report = _run(tmp_path, "anomaly", ANOMALY)
    anomaly, base = report["anomaly"], report["baseline"]
    assert anomaly["roc_auc"] is not None
    text = html.unescape((run / "report.html").read_text())
    assert 'id="pca-baseline"' in text
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    dom = _dom(run / "report.html", tmp_path)
    table = re.search(r'<table id="pca-baseline".*?</table>', dom, re.S)
    assert table, "no PCA table in the DOM"
    cells = re.findall(r"<td[^>]*>(.*?)</td>", table.group(0))
    assert f"{base['clean']['model']['mse']:#.5g}" in cells
    assert f"{base['clean']['pca']['mse']:#.5g}" in cells
    assert "PCA, 8 components" in table.group(0)
    for key, value in (("roc_auc", anomaly["roc_auc"]), ("threshold", anomaly["threshold"]),
                       ("share_above", anomaly["share_above"])):
        assert re.search(rf">{key}</th><td[^>]*>{re.escape(f'{value:#.5g}')}</td>", dom), key
    assert "report/anomaly.png" in dom and "report/reconstructions.png" in dom
    seen = _check_in_browser(run / "report.html", tmp_path)
    assert seen["bad"] == ["aespec-control"] and seen["overflow"] <= 0


def test_a_denoiser_page_shows_the_noisy_and_clean_baseline(tmp_path):
    run, report = _run(tmp_path, "denoiser", DENOISER)
    assert report["reconstructions"]["default"] is True  # not asked for, drawn anyway
    assert report["reconstructions"]["noisy_input"] is True
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    dom = _dom(run / "report.html", tmp_path)
    table = re.search(r'<table id="pca-baseline".*?</table>', dom, re.S)
    assert table and ">noisy</td>" in table.group(0) and ">clean</td>" in table.group(0)
    noisy = report["baseline"]["noisy"]
    assert f"{noisy['model']['mse']:#.5g}" in table.group(0)
    seen = _check_in_browser(run / "report.html", tmp_path)
    assert seen["images"] == 3 and seen["bad"] == ["aespec-control"]  # figure, diagram


def test_a_run_without_a_report_block_still_shows_its_reconstructions(tmp_path):
    run, report = _run(tmp_path, "plain", PLAIN)
    achieved = {"references", "test_input", "test_clean", "warnings"}  # the run's own (refs)
    assert set(report) - achieved == {"reconstructions", "examples"}
    assert (run / "report" / "reconstructions.png").is_file()
    assert "report/reconstructions.png" in (run / "report.html").read_text()


def test_every_number_of_an_unknown_item_is_on_the_page():
    """A number another item writes shows without a renderer of its own."""
    report = {"kl_per_unit": {"file": "report/kl.png", "kl": [0.5, 0.0, 1.25],
                              "active": 2, "note": "units with KL above 0.01"},
              "baseline": {"skipped": "the targets' shape differs"}}
    page = html.unescape(run_page(RunPage(name="x", run_dir="r", status="finished",
                                          report=report)))
    for part in ("kl_per_unit", ">kl</th>", "0.50000, 0.0000, 1.2500", ">active</th>",
                 "units with KL above 0.01", "skipped: the targets' shape differs"):
        assert part in page, part
    assert "report/kl.png" not in page  # the file's name is its figure's, and it has none


def test_nested_numbers_are_joined_by_dots_and_cut():
    item = {"a": {"b": {"c": 1.5}}, **{f"k{i}": i for i in range(100)}}
    shown = html.unescape(item_numbers("x", item))
    assert ">a.b.c</th>" in shown and "41 more values are left out" in shown
