"""What a run shows in Python: the error's text with its source line and carets, short reprs
of a spec and of a run, the metrics CSV beside metrics.jsonl, TensorBoard event files, the
bar in a notebook, the HTML display of a spec and of a run, and report.html's data
(issue 10)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import aespec
from aespec.errors import AespecError
from aespec.train.progress import (
    LineReporter,
    NotebookReporter,
    Reporter,
    RunStart,
    bar_text,
    default_reporter,
    duration,
    in_notebook,
)

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
    return root, aespec.train(root / "tiny.ae", out=root / "run", quiet=True, tensorboard=True)


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



# ---------------------------------------------------------------- TensorBoard


def test_tensorboard_event_files_hold_each_epochs_losses(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root, result = trained
    (events,) = (root / "run" / "tensorboard").glob("events.out.tfevents.*")
    acc = EventAccumulator(str(events.parent))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert {"train/loss", "val/loss", "train/mse", "val/l1[bottleneck]", "lr"} <= set(tags)
    val = acc.Scalars("val/loss")
    assert [e.step for e in val] == [1, 2]
    assert [e.value for e in val] == pytest.approx([r["val"]["loss"] for r in result.history])


def test_tensorboard_missing_is_e609_naming_the_extra(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorboard" else real(name, *a))
    (tmp_path / "tiny.ae").write_text(TINY)
    with pytest.raises(AespecError) as info:
        aespec.train(tmp_path / "tiny.ae", out=tmp_path / "run", quiet=True, tensorboard=True)
    assert info.value.diagnostics[0].code == "E609"
    assert "pip install aespec[tensorboard]" in str(info.value)
    assert not (tmp_path / "run").exists()  # refused before the run began


# ---------------------------------------------------------------- the bar in a notebook


def _fake_ipython(monkeypatch, shell_class: str | None) -> None:
    module = types.ModuleType("IPython")
    shell = None if shell_class is None else type(shell_class, (), {})()
    if shell_class == "Shell":  # Colab's shell is a subclass of the ZMQ one
        zmq = type("ZMQInteractiveShell", (), {})
        shell = type("Shell", (zmq,), {})()
    module.get_ipython = lambda: shell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", module)


@pytest.mark.parametrize(("shell", "expected"), [
    ("ZMQInteractiveShell", True), ("Shell", True), ("TerminalInteractiveShell", False),
    (None, False)])
def test_a_notebook_is_a_zmq_kernel(monkeypatch, shell, expected):
    _fake_ipython(monkeypatch, shell)
    assert in_notebook() is expected
    chosen = default_reporter()
    assert type(chosen) is (NotebookReporter if expected else LineReporter)
    assert type(default_reporter(quiet=True)) is Reporter


def test_without_ipython_there_is_no_notebook(monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert not in_notebook() and type(default_reporter()) is LineReporter


class _Handle:
    def __init__(self, shown: list[str], data: dict, html: list[str] | None = None):
        self.shown, self.html = shown, html if html is not None else []
        shown.append(data["text/plain"])
        self.html.append(data["text/html"])

    def update(self, data: dict, raw: bool = False) -> None:
        assert raw
        self.shown.append(data["text/plain"])
        self.html.append(data["text/html"])


def test_the_notebook_bar_is_one_line_updated_in_place_with_both_etas():
    shown: list[str] = []
    handles: list[_Handle] = []
    now = [100.0]

    def display(data: dict) -> _Handle:
        handles.append(_Handle(shown, data))
        return handles[-1]

    bar = NotebookReporter(display=display, clock=lambda: now[0])
    bar.start(RunStart("tiny", "runs/tiny", 3, 1, 10, 100, 20, "digits", "cpu", 1000))
    bar.phase("epoch 1/3", 10)
    now[0] += 4.0
    bar.step(4, 0.5, 1000.0)
    assert shown[-1] == ("epoch 1/3 [##########--------------] 4/10  loss 0.50000  "
                         "1,000 samples/s  eta 6s")  # 6 steps at 1 s; no epoch has ended
    bar.epoch(_record(1, 10.0, best=True), 3)
    bar.phase("epoch 2/3", 10)
    now[0] += 5.0
    bar.step(5, 0.25, 2000.0)
    assert shown[-1] == ("epoch 2/3 [############------------] 5/10  loss 0.25000  "
                         "2,000 samples/s  eta 5s  run 15s  | epoch 1 val 0.25000 (best)")
    assert len(handles) == 1 and len(shown) == 6  # one display, updated in place
    assert all("\n" not in text for text in shown)
    html = handles[0].html[-1]  # the same bar as HTML, a <progress> element
    assert '<progress value="5" max="10"' in html and "loss 0.25000" in html
    assert "eta 5s" in html and "run 15s" in html and "epoch 1 val 0.25000 (best)" in html
    assert handles[0].html[0].startswith('<div style="font-family: monospace">tiny: ')


def test_bar_text_leaves_out_what_is_not_known_yet():
    assert bar_text("epoch 1/2", 0, 8, None, None, None, None) == (
        "epoch 1/2 [------------------------] 0/8")


# ---------------------------------------------------------------- HTML in Python


def test_a_run_and_a_run_read_back_show_as_html(trained):
    root, result = trained
    for html in (result._repr_html_(), aespec.train.load_run(root / "run")._repr_html_()):
        assert "tiny" in html and "finished" in html
        assert f"{result.test['loss']:#.5g}" in html  # the metrics table
        assert html.count('<svg class="chart"') == 3  # loss, mse, l1[bottleneck]
        assert 'src="data:image/svg+xml;base64,' in html  # the diagram


def test_ipython_shows_a_spec_as_html_registered_by_name(monkeypatch):
    registered = {}

    class Formatter:
        def for_type_by_name(self, module, name, func):
            registered[(module, name)] = func

    module = types.ModuleType("IPython")
    shell = types.SimpleNamespace(display_formatter=types.SimpleNamespace(
        formatters={"text/html": Formatter()}))
    module.get_ipython = lambda: shell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", module)
    aespec._register_ipython()
    spec = aespec.load("specs/mirror_fc.ae")
    func = registered[(type(spec).__module__, type(spec).__name__)]
    html = func(spec)
    assert "mirror_fc" in html and "(784,)" in html and "L = BCE" in html
    assert 'src="data:image/svg+xml;base64,' in html and "<details>" in html


def test_importing_aespec_inside_ipython_stays_cheap():
    probe = ("import sys, types; m = types.ModuleType('IPython'); f = types.SimpleNamespace("
             "for_type_by_name=lambda *a: print('registered', a[:2])); "
             "s = types.SimpleNamespace(display_formatter=types.SimpleNamespace("
             "formatters={'text/html': f})); m.get_ipython = lambda: s; "
             "sys.modules['IPython'] = m; import aespec; "
             "print(sorted({n.split('.')[0] for n in sys.modules} & "
             "{'torch', 'numpy', 'graphviz', 'matplotlib', 'pygments'}))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.splitlines() == ["registered ('aespec.model.spec', 'Spec')", "[]"]


# ---------------------------------------------------------------- report.html's data


def test_every_run_directory_has_its_page(trained):
    root, result = trained
    html = (root / "run" / "report.html").read_text()
    assert "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert f"{result.test['loss']:#.5g}" in html and "L = MSE(x, x̂)" in html
    assert "python" in html and sys.version.split()[0] in html


def test_a_failed_run_page_says_so_and_a_torn_metrics_line_is_left_out(trained, tmp_path):
    from aespec.train.pages import read_run_page, write_run_page

    root, _ = trained
    run = tmp_path / "run"
    shutil.copytree(root / "run", run)
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "status": "failed",
                                              "error": "disk full", "test": None}))
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write('{"epoch": 3, "tra')  # a run killed while writing
    page = read_run_page(run)
    assert page.status == "failed" and page.error == "disk full" and len(page.history) == 2
    html = write_run_page(run, tmp_path / "page.html").read_text()
    assert 'class="status failed"' in html and "disk full" in html
    (run / "metrics.jsonl").write_text("oops\n" + (root / "run" / "metrics.jsonl").read_text())
    with pytest.raises(AespecError) as info_:
        read_run_page(run)
    assert info_.value.diagnostics[0].code == "E610" and "metrics.jsonl:1" in str(info_.value)


def test_without_dot_the_page_says_so(trained, tmp_path, monkeypatch):
    from aespec.train.pages import read_run_page

    root, _ = trained
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` there
    page = read_run_page(root / "run")
    assert page.diagram_svg is None and "graphviz" in page.diagram_note


def test_the_compare_page_diffs_the_sources_and_lists_what_differs():
    from aespec.report.compare import ComparePage, compare_page, differing
    from aespec.report.page import RunPage

    def page(name: str, source: str, sets: list[str], lr: float, loss: float) -> RunPage:
        return RunPage(name="tiny", run_dir=f"runs/{name}", status="finished", source=source,
                       spec_file="tiny.ae", overrides=sets, best_epoch=1,
                       settings={"optimizer": {"name": "adam", "args": {"lr": lr}}},
                       history=[{"epoch": 1, "train": {"loss": loss}, "val": {"loss": loss}}],
                       test={"loss": loss}, info=[("device", "cpu")])

    a = page("a", "model tiny\nlet width = 8\n", [], 1e-3, 0.5)
    b = page("b", "model tiny\nlet width = 16\n", ["train.optimizer=adam(lr=1e-2)"], 1e-2, 0.25)
    assert differing([a, b]) == [("--set train.optimizer", ["(not set)", "adam(lr=1e-2)"]),
                                 ("train.optimizer", ["adam(lr=0.001)", "adam(lr=0.01)"])]
    html = compare_page(ComparePage([a, b], None, "no reconstructions here"))
    assert '<span class="del">-let width = 8</span>' in html
    assert '<span class="add">+let width = 16</span>' in html
    assert "<b>0.25000</b>" in html and "no reconstructions here" in html  # lowest in bold
    assert html.count('<svg class="chart"') == 1


def test_chart_ticks_are_round_and_cover_the_values():
    from aespec.report.charts import nice_ticks

    assert nice_ticks(0.013, 0.247) == [0.0, 0.05, 0.1, 0.15, 0.2, 0.25]
    assert nice_ticks(3.0, 3.0)[0] <= 3.0 <= nice_ticks(3.0, 3.0)[-1]


def test_a_run_that_diverged_still_gets_its_page(tmp_path):
    (tmp_path / "wild.ae").write_text(TINY.replace("    seed 3", "    seed 3\n    optimizer "
                                                   "sgd(lr=1e12)"))
    with pytest.raises(AespecError) as info:
        aespec.train(tmp_path / "wild.ae", out=tmp_path / "run", quiet=True)
    assert info.value.diagnostics[0].code == "E601"
    html = (tmp_path / "run" / "report.html").read_text()
    assert 'class="status diverged"' in html and "sgd(lr=1e+12" in html
