"""What a run shows in Python: the error's text with its source line and carets, short reprs
of a spec and of a run, the metrics CSV beside metrics.jsonl (issue 10)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

import aespec
from aespec.errors import AespecError
from aespec.train.progress import LineReporter, RunStart, duration

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


# ---------------------------------------------------------------- eta


def _record(epoch: int, seconds: float, best: bool = False) -> dict:
    return {"epoch": epoch, "train": {"loss": 0.5}, "val": {"loss": 0.25}, "lr": 1e-3,
            "train_seconds": seconds, "samples_per_s": 1000.0, "seconds": seconds,
            "best": best}


def test_duration_is_short():
    assert [duration(s) for s in (0, 44.6, 72, 3599, 7380)] == [
        "0s", "45s", "1m12s", "59m59s", "2h03m"]


def test_the_epoch_line_ends_with_the_run_eta_from_the_mean_epoch_time():
    stream = io.StringIO()
    reporter = LineReporter(stream)
    for epoch, seconds in ((1, 10.0), (2, 14.0), (3, 12.0)):
        reporter.epoch(_record(epoch, seconds, best=epoch == 2), 9)
    reporter.epoch(_record(9, 12.0), 9)
    lines = stream.getvalue().splitlines()
    assert lines[0] == ("epoch 1/9  train 0.50000  val 0.25000  10.00 s  1,000 samples/s  "
                        "eta 1m20s")  # 8 epochs of 10 s
    assert lines[1].endswith("  best  eta 1m24s")  # 7 of (10 + 14) / 2
    assert lines[2].endswith("  eta 1m12s")  # 6 of 12
    assert "eta" not in lines[3]  # the last epoch: nothing left


def test_the_progress_bar_shows_the_epoch_and_the_run_eta():
    from rich.progress import TimeRemainingColumn

    from aespec.cli.run import RichReporter

    bar = RichReporter()
    assert any(isinstance(c, TimeRemainingColumn) for c in bar.bar.columns)
    bar.start(RunStart("tiny", "runs/tiny", 5, 1, 10, 100, 20, "digits", "cpu", 1000))
    try:
        bar.phase("epoch 1/5", 10)
        bar.step(5, 0.5, 1000.0)
        assert bar.bar.tasks[0].fields["run_eta"] == ""  # no epoch has ended yet
        bar.epoch(_record(1, 30.0), 5)
        bar.phase("epoch 2/5", 10)
        bar.step(1, 0.5, 1000.0)
        assert bar.bar.tasks[0].fields["run_eta"].startswith("run 1m3")  # 3 x 30 s + epoch 2
    finally:
        bar.close()
