"""What a run shows in Python: the error's text with its source line and carets, short reprs
of a spec and of a run, the metrics CSV beside metrics.jsonl (issue 10)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

import aespec
from aespec.errors import AespecError

BROKEN = """model broken
input vector(64)
encoder {
    dense(32) relu
    dens(16)
}
bottleneck {
    dense(8)
}
decoder mirror
loss mse
"""


def test_str_of_a_load_error_shows_the_source_line_and_a_caret(tmp_path: Path):
    path = tmp_path / "broken.ae"
    path.write_text(BROKEN)
    with pytest.raises(AespecError) as info:
        aespec.load(path)
    lines = str(info.value).splitlines()
    assert info.value.source == BROKEN
    assert lines[0].startswith(f"{path}:5:5: error[E201]: unknown layer op 'dens'")
    at = lines.index("        dens(16)")
    assert lines[at + 1] == "        ^^^^"  # under d-e-n-s, column 5 of the line


def test_str_without_a_source_has_no_line_to_show():
    err = AespecError.of("E201", "unknown layer op 'dens'", aespec.errors.Span(1, 1, 1, 5))
    assert str(err) == "<spec>:1:1: error[E201]: unknown layer op 'dens'"
    err.source = "dens(8)"
    assert str(err).splitlines()[1:] == ["    dens(8)", "    ^^^^"]


# ---------------------------------------------------------------- short reprs

TINY = """model tiny
data digits
input vector(64)
encoder {
    dense(12) relu
}
bottleneck {
    dense(4)
}
decoder mirror
loss mse
regularize l1(1e-4) on bottleneck
train {
    epochs 2
    seed 3
}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run on the digits, shared by the tests that read it."""
    root = tmp_path_factory.mktemp("runs")
    (root / "tiny.ae").write_text(TINY)
    return root, aespec.train(root / "tiny.ae", out=root / "run", quiet=True)


def test_the_repr_of_a_spec_is_one_short_line_of_what_it_says():
    text = repr(aespec.load("specs/mirror_fc.ae"))
    assert len(text) < 200 and "\n" not in text
    assert text == ("Spec(name='mirror_fc', input=vector(784), encoder=4 ops, bottleneck=1 op, "
                    "decoder=mirror, loss='bce', file='specs/mirror_fc.ae')")
    many = repr(aespec.load("specs/noise_and_penalties.ae"))
    assert len(many) < 200 and "loss='0.5*mse + 0.5*bce'" in many and "regularize=3" in many


def test_the_reprs_of_a_run_and_of_a_run_read_back_are_short(trained):
    root, result = trained
    text = repr(result)
    assert len(text) < 200 and "\n" not in text
    assert text.startswith("RunResult(name='tiny', status='finished', epochs=2, best_epoch=")
    assert f"test_loss={result.test['loss']:.4g}" in text and str(root / "run") in text
    loaded = repr(aespec.train.load_run(root / "run"))
    assert len(loaded) < 200
    assert loaded == text.replace("RunResult", "LoadedRun", 1)


# ---------------------------------------------------------------- metrics.csv


def _csv_matches_jsonl(run: Path) -> list[dict[str, str]]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    with open(run / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(records)
    for row, rec in zip(rows, records, strict=True):
        assert int(row["epoch"]) == rec["epoch"]
        for part in ("train", "val"):
            for term, value in rec[part].items():
                assert float(row[f"{part}_{term}"]) == value
        for key in ("lr", "train_seconds", "samples_per_s"):
            assert float(row[key]) == rec[key]
    return rows


def test_a_run_writes_metrics_csv_beside_metrics_jsonl(trained):
    root, result = trained
    rows = _csv_matches_jsonl(root / "run")
    terms = ["loss", "mse", "l1[bottleneck]"]
    assert list(rows[0]) == ["epoch", *(f"train_{t}" for t in terms),
                             *(f"val_{t}" for t in terms), "lr", "train_seconds",
                             "samples_per_s"]
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert float(rows[-1]["val_loss"]) == result.history[-1]["val"]["loss"]


def test_metrics_csv_agrees_with_metrics_jsonl_after_a_resume(trained, tmp_path):
    root, _ = trained
    run = tmp_path / "run"
    shutil.copytree(root / "run", run)
    with open(run / "metrics.jsonl", "a") as fh:  # an epoch logged after the last checkpoint
        fh.write(json.dumps({"epoch": 3, "train": {"loss": 9.0}, "val": None}) + "\n")
    with open(run / "metrics.csv", "a") as fh:
        fh.write("3,9.0,,,,,,,,\n")
    aespec.train(resume=run, epochs=3, quiet=True)
    rows = _csv_matches_jsonl(run)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3] and float(rows[2]["train_loss"]) != 9.0
