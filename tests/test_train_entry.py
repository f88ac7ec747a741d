"""The training stage's entry: each start-up step once a run, no module state set by the
CLI, and a batched sweep that drives the Trainer through its public methods only."""

from __future__ import annotations

import ast
import json
import signal
from pathlib import Path

from typer.testing import CliRunner

import aespec
from aespec.cli import app
from aespec.train import device as dev
from aespec.train import loop, stop
from aespec.train.setup import run_overrides

SPEC = """\
let width = 8
data digits
input vector(64)
encoder {
    dense(width) relu
}
bottleneck {
    dense(4)
}
decoder mirror
loss mse
train {
    epochs 3
    batch 256
    seed 0
}
"""


def counted_tuning(monkeypatch) -> list[int]:
    calls: list[int] = []

    def tune() -> bool:
        calls.append(1)
        return True

    monkeypatch.setattr(dev, "tune_allocator", tune)
    return calls


def test_regression_the_cli_set_a_module_global_to_ignore_a_second_ctrl_c():
    """`aespec run` set `loop.IGNORE_AFTER_STOP`; the flag's own option says it now."""
    assert not hasattr(loop, "IGNORE_AFTER_STOP")
    old = signal.getsignal(signal.SIGINT)
    try:
        for ends_process, after in ((False, old), (True, signal.SIG_IGN)):
            with stop.StopFlag(ends_process=ends_process) as flag:
                flag.requested = True  # a first Ctrl-C
            assert signal.getsignal(signal.SIGINT) == after
            signal.signal(signal.SIGINT, old)
    finally:
        signal.signal(signal.SIGINT, old)


def test_regression_tune_allocator_ran_three_times_a_run(tmp_path, monkeypatch):
    calls = counted_tuning(monkeypatch)
    (tmp_path / "tiny.ae").write_text(SPEC)
    result = CliRunner().invoke(app, ["run", str(tmp_path / "tiny.ae"), "--epochs", "1",
                                      "--out", str(tmp_path / "run"), "-q", "--no-report"])
    assert result.exit_code == 0, result.output
    assert len(calls) == 1
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["notes"][-1] == "malloc tuned"  # said once, from the setup's answer


def test_the_api_tunes_the_allocator_once_and_resume_once_more(tmp_path, monkeypatch):
    calls = counted_tuning(monkeypatch)
    (tmp_path / "tiny.ae").write_text(SPEC)
    aespec.train(tmp_path / "tiny.ae", epochs=1, out=tmp_path / "run", quiet=True,
                 report=False)
    assert len(calls) == 1
    aespec.train(resume=tmp_path / "run", epochs=2, quiet=True, report=False)
    assert len(calls) == 2


def test_run_overrides_folds_epochs_and_device_after_the_sets():
    assert run_overrides(["width=4"]) == ["width=4"]
    assert run_overrides(["width=4"], 2, "cpu") == ["width=4", "train.epochs=2",
                                                    "train.device=cpu"]


def test_the_cli_and_the_api_record_epochs_and_device_alike(tmp_path):
    """The CLI and `aespec.train` fold --epochs and --device with one function: run.json
    records each once, in the same order, either way."""
    (tmp_path / "tiny.ae").write_text(SPEC)
    result = CliRunner().invoke(app, ["run", str(tmp_path / "tiny.ae"), "--epochs", "1",
                                      "--device", "cpu", "--set", "width=4",
                                      "--out", str(tmp_path / "cli"), "-q", "--no-report"])
    assert result.exit_code == 0, result.output
    aespec.train(tmp_path / "tiny.ae", epochs=1, device="cpu", overrides=["width=4"],
                 out=tmp_path / "api", quiet=True, report=False)
    recorded = [json.loads((tmp_path / d / "run.json").read_text())["overrides"]
                for d in ("cli", "api")]
    assert recorded == [["width=4", "train.epochs=1", "train.device=cpu"]] * 2


def test_regression_the_batched_sweep_wrote_the_trainers_fields():
    """train/batched.py set `perm`, `sums`, `flag`, ... and called `_end_epoch`: now it
    reads the Trainer and calls its public methods, and writes only its own fields."""
    source = Path(aespec.__file__).parent / "train" / "batched.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    private, written = [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and not _on_self(node):
            if node.attr.startswith("_"):
                private.append(f"{ast.unparse(node)} (line {node.lineno})")
            if isinstance(node.ctx, ast.Store):
                written.append(f"{ast.unparse(node)} (line {node.lineno})")
    assert not private and [w for w in written if not w.startswith("r.")] == []


def _on_self(node: ast.Attribute) -> bool:
    return isinstance(node.value, ast.Name) and node.value.id == "self"
