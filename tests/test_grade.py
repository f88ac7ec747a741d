"""`aespec grade`: a made-up class (good, shape error, collapsed, two blocks, no block,
binary, a hang) graded end to end, every line of the gradebook asserted; the same class
twice gives the same gradebook; the feedback files; the rubric's errors (E643), the
limits (E644, E645, E646) and the references (mean image, PCA)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from aespec.cli import app
from aespec.errors import AespecError
from aespec.grade import grade_class, load_rubric
from aespec.grade.book import _failure, columns, students
from aespec.grade.smoke import reference_errors

GOOD = """\
model denoiser "a denoising autoencoder of the digits"
data digits
input vector(64)
noise gaussian(std=0.2) clip(0, 1)
encoder {
    dense(48) relu
}
bottleneck {
    dense(16) relu
}
decoder {
    dense(48) relu
    dense(64) sigmoid
}
loss bce
train {
    epochs 30
    batch 32
    optimizer adam(lr=3e-3)
}
"""
SHAPE = GOOD.replace("dense(64) sigmoid", "dense(60) sigmoid")
COLLAPSED = GOOD.replace("loss bce\n", "loss bce\nregularize l2(0.1)\n")
WIDE = GOOD.replace("dense(16) relu", "dense(64) relu").replace("noise gaussian(std=0.2) "
                                                                "clip(0, 1)\n", "")

RUBRIC = """\
[grade]
block = "only"
data = "digits"
epochs = 3
timeout = 120
memory_mb = 4000

[criteria.checks]
points = 2
[criteria.params]
points = 1
max = 10000
[criteria.code]
points = 1
max = 16
[criteria.techniques]
points = 1
require = ["noise"]
[criteria.trains]
points = 1
[criteria.test]
points = 2
beats = "mean"
ratio = 0.9
[criteria.collapse]
points = 2
"""


def _page(*specs: str) -> str:
    return "# My report\n\n" + "\n".join(f"```ae\n{s}```\n\nsome text\n" for s in specs)


def _class(root: Path) -> Path:
    klass = root / "class"
    klass.mkdir()
    (klass / "good.ae").write_text(GOOD)
    (klass / "shape.ae").write_text(SHAPE)
    (klass / "collapsed.md").write_text(_page(COLLAPSED))
    (klass / "two_blocks.md").write_text(_page(WIDE, GOOD))
    (klass / "no_block.md").write_text("# My report\n\nI forgot the spec.\n")
    (klass / "binary.ae").write_bytes(bytes(range(256)) * 8)
    folder = klass / "wide"  # a student's folder: its spec files are the hand-in
    folder.mkdir()
    (folder / "answer.ae").write_text(WIDE)
    (folder / "notes.txt").write_text("not a spec")
    return klass


def _grade(root: Path, tag: str, rubric: str = RUBRIC, jobs: int = 2):
    (root / f"rubric{tag}.toml").write_text(rubric)
    book, jsonl, fb = root / f"book{tag}.csv", root / f"book{tag}.jsonl", root / f"fb{tag}"
    result = CliRunner().invoke(app, ["grade", str(root / f"rubric{tag}.toml"),
                                      str(root / "class"), "-o", str(book), "--jsonl",
                                      str(jsonl), "--feedback", str(fb), "--jobs", str(jobs)])
    assert result.exit_code == 0, result.output
    with open(book, newline="") as f:
        rows = list(csv.DictReader(f))
    return result, rows, [json.loads(line) for line in jsonl.read_text().splitlines()], fb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("grade")
    _class(root)
    return root, _grade(root, "1"), _grade(root, "2")


def _points(row: dict) -> list[str]:
    return [row[c] for c in ("checks", "params", "code", "techniques", "trains", "test",
                             "collapse", "total", "out_of")]


def test_every_line_of_the_gradebook(graded):
    _, (result, rows, lines, _), _ = graded
    assert list(rows[0]) == columns(load_rubric_text(RUBRIC))
    by = {r["student"]: r for r in rows}
    assert [r["student"] for r in rows] == sorted(by)  # sorted, one line a student
    assert sorted(by) == ["binary", "collapsed", "good", "no_block", "shape", "two_blocks",
                          "wide"]
    assert _points(by["good"]) == ["2", "1", "1", "1", "1", "2", "2", "10", "10"]
    assert by["good"]["notes"] == ""
    assert _points(by["shape"]) == ["0"] * 8 + ["10"]
    assert by["shape"]["notes"].startswith("checks: 1 error(s); first E301 at line 13: "
                                           "decoder output (60,) does not match input (64,)")
    assert "params: not judged: the spec has errors (see checks)" in by["shape"]["notes"]
    # collapsed: checks, budgets and techniques fine; trains; no better than the mean image
    assert _points(by["collapsed"]) == ["2", "1", "1", "1", "1", "0", "0", "6", "10"]
    assert "the outputs barely vary across examples" in by["collapsed"]["notes"]
    assert "no better than the mean image" in by["collapsed"]["notes"]
    assert by["collapsed"]["block"] == "denoiser (collapsed.md line 4)"
    assert _points(by["two_blocks"]) == ["0"] * 8 + ["10"]
    assert by["two_blocks"]["notes"].startswith("checks: E214: the hand-in has 2 specs: "
                                                "denoiser (two_blocks.md line 4), denoiser "
                                                "(two_blocks.md line 28)")
    assert _points(by["no_block"]) == ["0"] * 8 + ["10"]
    assert by["no_block"]["notes"].startswith("checks: E215: ")
    assert "not judged: no spec was graded (see checks)" in by["no_block"]["notes"]
    assert _points(by["binary"]) == ["0"] * 8 + ["10"]
    assert by["binary"]["notes"].startswith("checks: E001: cannot read ")
    # wide: a code as wide as the input, no noise: over budget; trains, and its test
    # error after 3 epochs does not beat the mean image by the ratio
    assert _points(by["wide"])[:5] == ["2", "0", "0", "0", "1"]
    assert by["wide"]["handin"].endswith("answer.ae")
    assert "missing: noise" in by["wide"]["notes"]
    assert lines[2]["student"] == "good" and lines[2]["total"] == 10
    figures = lines[2]["figures"]
    assert figures["test_mse"] < 0.9 * figures["mean_mse"] and figures["pca_k"] == 16
    assert figures["pca_mse"] < figures["mean_mse"]
    assert "7 hand-ins graded (3 trained)" in result.output


def load_rubric_text(text: str):
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(text)
    return load_rubric(f.name)


def test_the_same_class_gives_the_same_gradebook(graded):
    _, (_, rows1, lines1, fb1), (_, rows2, lines2, fb2) = graded
    assert rows1 == rows2 and lines1 == lines2
    assert [p.read_text() for p in sorted(fb1.iterdir())] == \
        [p.read_text() for p in sorted(fb2.iterdir())]


def test_feedback_files(graded):
    _, (_, _, _, fb), _ = graded
    assert sorted(p.name for p in fb.iterdir()) == [
        "binary.md", "collapsed.md", "good.md", "no_block.md", "shape.md", "two_blocks.md",
        "wide.md"]
    shape = (fb / "shape.md").read_text()
    assert "**Score: 0 / 10**" in shape
    assert "shape.ae:13:5: error[E301]: decoder output (60,) does not match input (64,)" \
        in shape
    assert "hint: the last layer should have 64 units: `dense(64)`" in shape
    good = (fb / "good.md").read_text()
    assert "**Score: 10 / 10**" in good and "| test | 2 / 2 | pass: test mse" in good
    assert "## Smoke training" in good and "PCA with 16 components" in good
    two = (fb / "two_blocks.md").read_text()
    assert "hint: hand in exactly one spec" in two


def test_a_hang_is_stopped_and_the_batch_goes_on(tmp_path):
    klass = tmp_path / "class"
    klass.mkdir()
    (klass / "a_hang.ae").write_text(GOOD)
    (klass / "b_hang.ae").write_text(GOOD)
    (klass / "c_shape.ae").write_text(SHAPE)
    rubric = RUBRIC.replace("epochs = 3", "epochs = 100000").replace("timeout = 120",
                                                                     "timeout = 2")
    _, rows, lines, _ = _grade(tmp_path, "h", rubric, jobs=1)
    assert [r["student"] for r in rows] == ["a_hang", "b_hang", "c_shape"]
    for row in rows[:2]:  # the second ran in a fresh worker
        assert _points(row) == ["2", "1", "1", "1", "0", "0", "0", "5", "10"]
        assert "trains: E644: the smoke training passed the time limit of 2 s" in row["notes"]
        assert "test: not judged: the smoke training failed" in row["notes"]
    assert _points(rows[2]) == ["0"] * 8 + ["10"]


def test_block_rules(tmp_path):
    (tmp_path / "two.md").write_text(_page(WIDE, GOOD.replace("model denoiser",
                                                             "model final")))
    base = RUBRIC.split("[criteria.trains]")[0]
    last = load_rubric_text(base.replace('block = "only"', 'block = "last"'))
    [g] = grade_class(last, [tmp_path / "two.md"])
    assert g.block == "final (two.md line 28)" and g.total == 5
    named = load_rubric_text(base.replace('block = "only"', 'block = "denoiser"'))
    [g] = grade_class(named, [tmp_path / "two.md"])
    assert g.block == "denoiser (two.md line 4)" and g.total == 2
    missing = load_rubric_text(base.replace('block = "only"', 'block = "vae"'))
    [g] = grade_class(missing, [tmp_path / "two.md"])
    assert g.total == 0 and g.diagnostics[0].code == "E216"


def test_students_of_files_and_folders(tmp_path):
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "ann.ae").write_text(GOOD)
    (tmp_path / "k" / "bob").mkdir()
    (tmp_path / "k" / "bob" / "x.md").write_text(_page(GOOD))
    (tmp_path / "cid.ae").write_text(GOOD)
    found = students([tmp_path / "k", tmp_path / "cid.ae"])
    assert [(s, [f.name for f in fs]) for s, fs in found] == [
        ("ann", ["ann.ae"]), ("bob", ["x.md"]), ("cid", ["cid.ae"])]


@pytest.mark.parametrize("text, fragment", [
    ("[criteria.speed]\npoints = 1\n", "unknown criterion 'speed'"),
    ("[criteria.checks]\n", "criteria.checks needs `points`"),
    ("[criteria.params]\npoints = 1\n", "criteria.params needs `max`"),
    ("[criteria.test]\npoints = 1\nbeats = \"median\"\n", "criteria.test.beats"),
    ("[criteria.techniques]\npoints = 1\nrequire = [\"magic\"]\n", "unknown technique"),
    ("[grade]\nepochs = \"3\"\n[criteria.checks]\npoints = 1\n", "`grade.epochs` is '3'"),
    ("[criteria.checks\npoints = 1\n", "not valid TOML"),
    ("[grade]\nepochs = 1\n", "names no criteria"),
])
def test_e643_a_bad_rubric_is_a_usage_error(tmp_path, text, fragment):
    path = tmp_path / "r.toml"
    path.write_text(text)
    with pytest.raises(AespecError) as info:
        load_rubric(path)
    assert info.value.diagnostics[0].code == "E643"
    assert fragment in info.value.diagnostics[0].message
    result = CliRunner().invoke(app, ["grade", str(path), str(path)])
    assert result.exit_code == 2 and "E643" in result.output


def test_e643_does_not_fire_for_a_rubric_in_a_markdown_page(tmp_path):
    page = tmp_path / "assignment.md"
    page.write_text("# Assignment\n\n```toml\nx = 1\n```\n\n```toml\n" + RUBRIC + "```\n")
    rubric = load_rubric(page)
    assert [c.name for c in rubric.criteria] == ["checks", "params", "code", "techniques",
                                                 "trains", "test", "collapse"]
    assert rubric.out_of == 10 and rubric.block == "only" and rubric.epochs == 3


def test_e645_refuses_before_training_when_the_estimate_is_over_the_cap(tmp_path):
    (tmp_path / "big.ae").write_text(GOOD.replace("dense(48) relu\n}\nbottleneck",
                                                  "dense(200000) relu\n}\nbottleneck"))
    rubric = load_rubric_text(RUBRIC.replace("memory_mb = 4000", "memory_mb = 200"))
    [g] = grade_class(rubric, [tmp_path / "big.ae"])
    trains = next(r for r in g.results if r.name == "trains")
    assert trains.points == 0 and trains.detail.startswith("E645: one training step needs")
    assert g.total == 4  # checks, code, techniques; over the parameter budget
    [g] = grade_class(load_rubric_text(RUBRIC.split("[criteria.trains]")[0]),
                      [tmp_path / "big.ae"])
    assert "E645" not in json.dumps([r.detail for r in g.results])  # no training asked


def test_e645_stops_a_worker_over_the_memory_cap(tmp_path):
    """The estimate of GOOD is far under the cap, but a worker holds torch (about 200 MB
    resident): a cap of 120 MB stops it while it trains."""
    (tmp_path / "good.ae").write_text(GOOD)
    rubric = load_rubric_text(RUBRIC.replace("memory_mb = 4000", "memory_mb = 120"))
    [g] = grade_class(rubric, [tmp_path / "good.ae"])
    trains = next(r for r in g.results if r.name == "trains")
    assert trains.detail.startswith("E645: the smoke training used ")
    assert trains.detail.endswith("over the limit of 120 MB, and was stopped")


def test_e644_e645_e646_messages():
    rubric = load_rubric_text(RUBRIC)
    assert _failure({"limit": "time"}, rubric).startswith("E644: ")
    assert _failure({"limit": "memory", "rss_mb": 5000}, rubric).startswith(
        "E645: the smoke training used 5000 MB, over the limit of 4000 MB")
    assert _failure({"limit": "ended"}, rubric).startswith("E646: ")
    assert _failure({"crash": "ValueError: x"}, rubric).startswith("E646: ")
    # a spec's own problem in training is its diagnostic, none of these
    got = {"diagnostics": [{"code": "E501", "line": 2, "message": "no such data"}]}
    assert _failure(got, rubric) == "E501 at line 2: no such data"


def test_reference_errors_are_the_mean_image_and_pca():
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(2, 10))
    x = rng.normal(size=(200, 2)) @ basis + 0.5  # rank 2 around a mean
    ref = reference_errors(x[:150], x[150:], x[150:], 2)
    assert ref["pca_mse"] < 1e-12 < ref["mean_mse"] and ref["pca_k"] == 2
    assert ref["mean_mse"] == pytest.approx(((x[150:] - x[:150].mean(0)) ** 2).mean())


def test_a_huge_hand_in_is_a_graded_line(tmp_path):
    (tmp_path / "huge.ae").write_text(GOOD + "# padding\n" * 200_000)
    (tmp_path / "huge_page.md").write_text("x\n" * 3_000_000)
    rubric = load_rubric_text(RUBRIC.split("[criteria.trains]")[0])
    grades = grade_class(rubric, [tmp_path])
    assert [g.student for g in grades] == ["huge", "huge_page"]
    for g in grades:
        assert g.total == 0 and g.diagnostics[0].code == "E106"
        assert g.results[0].detail.startswith("E106: ")


def test_a_link_loop_in_a_students_folder_is_not_followed(tmp_path):
    folder = tmp_path / "k" / "eve"
    folder.mkdir(parents=True)
    (folder / "a.ae").write_text(GOOD)
    (folder / "loop").symlink_to(folder)
    assert students([tmp_path / "k"]) == [("eve", [folder / "a.ae"])]


def test_techniques_and_kind(tmp_path):
    (tmp_path / "dae.ae").write_text(GOOD)
    base = RUBRIC.split("[criteria.techniques]")[0]
    rubric = load_rubric_text(base + '[criteria.techniques]\npoints = 3\nrequire = ["noise", '
                              '"mirror"]\nkind = "vae"\n')
    [g] = grade_class(rubric, [tmp_path / "dae.ae"])
    r = g.results[-1]
    assert r.name == "techniques" and r.points == 0
    assert r.detail == ("uses noise; kind autoencoder; missing: mirror; the assignment asks "
                        "for a vae")
    rubric = load_rubric_text(base + '[criteria.techniques]\npoints = 3\nrequire = ["noise"]\n'
                              'kind = "autoencoder"\n')
    [g] = grade_class(rubric, [tmp_path / "dae.ae"])
    assert g.results[-1].points == 3


def test_a_students_words_stay_text_in_the_feedback(tmp_path):
    """A hand-in is untrusted: its line with ``` cannot close the fence its diagnostic is
    shown in, its file name cannot open HTML, and two names that make the same file name
    get a page each."""
    from aespec.grade.book import write_feedback

    cls = tmp_path / "class"
    cls.mkdir()
    (cls / "a<b>.ae").write_text(GOOD.replace("dense(16) relu", "dense(16) ```<script>"))
    (cls / "a_b_.ae").write_text(GOOD)
    rubric = tmp_path / "r.toml"
    rubric.write_text("[criteria.checks]\npoints = 1\n")
    grades = grade_class(load_rubric(rubric), [cls])
    write_feedback(grades, load_rubric(rubric), tmp_path / "fb")
    pages = sorted(p.name for p in (tmp_path / "fb").iterdir())
    assert pages == ["a_b_-2.md", "a_b_.md"]
    evil = next(p for p in (tmp_path / "fb").iterdir()
                if "&lt;b&gt;" in p.read_text()).read_text()
    fence = next(line for line in evil.splitlines() if line.endswith("text"))[:-4]
    assert len(fence) > 3 and set(fence) == {"`"}
    before, rest = evil.split(fence + "text\n", 1)
    inside, after = rest.split("\n" + fence + "\n", 1)
    assert "```<script>" in inside  # shown as it is, inside its fence only
    assert "<" not in before + after and "&lt;b&gt;" in before
