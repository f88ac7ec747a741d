"""Phases, frozen blocks and warm starts (docs/language.md, "Phases"): the phases run in
order in one run directory, each with its own noise, loss, optimizer and frozen parts; a run
stopped anywhere, at a phase boundary too, resumes to the uninterrupted run's numbers.

Tiny dense models on scikit-learn's 8x8 digits, as tests/test_train.py's.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch

import aespec
from aespec.errors import AespecError
from aespec.graph import check_source
from aespec.train import Reporter, loop
from aespec.train.rundir import load_checkpoint

SPEC = """\
data digits
input vector(64)
noise gaussian(std=0.3)
encoder {{
    e1 = dense(24) relu
    batchnorm
}}
bottleneck {{
    dense(8)
}}
decoder {{
    dense(24) relu
    dense(64)
}}
loss mse
train {{
    epochs 2
    batch 64
    seed 0
{train}
}}
{phases}
"""

TWO_PHASES = """\
phase clean {
    epochs 2
    noise none
    loss mae
    freeze encoder
    optimizer sgd(lr=0.05, momentum=0.9)
}
phase noisy {
    epochs 2
    schedule cosine
}
"""


def write(tmp_path, phases=TWO_PHASES, train="", name="phased"):
    path = tmp_path / f"{name}.ae"
    path.write_text(SPEC.format(phases=phases, train=train))
    return path


def run(spec, tmp_path, out, **kw):
    return aespec.train(spec, out=tmp_path / out, quiet=True, report=False, **kw)


def losses(history):
    return [(r["epoch"], r.get("phase"), r["train"], r["val"], r["lr"], r["best"])
            for r in history]


@pytest.fixture
def every_step(monkeypatch):
    monkeypatch.setattr(loop, "REPORT_SECONDS", 0.0)
    monkeypatch.setattr(loop, "CHECKPOINT_SECONDS", 0.0)


class InterruptAt(Reporter):
    """A Ctrl-C from inside the loop after step `step` of epoch `epoch`."""

    def __init__(self, epoch: int, step: int):
        self.at, self.epoch_no = (epoch, step), 0

    def phase(self, text, total):
        if text.startswith("epoch"):
            self.epoch_no += 1

    def step(self, done, loss, samples_per_s):
        if (self.epoch_no, done) == self.at:
            import signal

            signal.raise_signal(signal.SIGINT)


class CopyAtEpochStart(Reporter):
    """A copy of the run directory as it stands when epoch `epoch` starts: the state saved
    at the end of the epoch before (a phase boundary, for the first epoch of a phase)."""

    def __init__(self, run_dir, copy, epoch: int):
        self.run_dir, self.copy, self.at, self.seen = run_dir, copy, epoch, 0

    def phase(self, text, total):
        if text.startswith("epoch"):
            self.seen += 1
            if self.seen == self.at:
                shutil.copytree(self.run_dir, self.copy)


def test_phases_run_in_order_and_records_name_each_epochs_phase(tmp_path):
    result = run(write(tmp_path), tmp_path, "run")
    assert [r["phase"] for r in result.history] == ["clean", "clean", "noisy", "noisy"]
    assert set(result.history[0]["train"]) == {"loss", "mae"}  # the phase's own loss
    assert set(result.history[2]["train"]) == {"loss", "mse"}
    lrs = [r["lr"] for r in result.history]
    assert lrs[0] == 0.05 and lrs[2] == 1e-3 > lrs[3]  # sgd's, then adam's under cosine
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["phase"] for line in lines] == ["clean"] * 2 + ["noisy"] * 2
    assert set(result.test) == {"loss", "mse"}  # the top level's objective


def test_a_spec_without_phases_records_no_phase(tmp_path):
    result = run(write(tmp_path, phases=""), tmp_path, "run")
    assert all("phase" not in r for r in result.history)


def test_a_frozen_block_keeps_its_weights_and_batchnorm_statistics(tmp_path):
    spec = write(tmp_path, phases="phase only {\n    freeze encoder\n}\n")
    checked = check_source(spec.read_text(), str(spec))
    from aespec.compile import compile_model
    from aespec.train import device as dev

    dev.seed_everything(0)
    fresh = compile_model(checked.ir, checked.spec).state_dict()
    trained_model = run(spec, tmp_path, "run").model
    trained = trained_model.state_dict()
    encoder = [k for k in fresh if ".encoder" in k]
    assert any("running_mean" in k for k in encoder)
    for k in encoder:
        assert torch.equal(fresh[k], trained[k]), k
    code = next(k for k in fresh if ".bottleneck" in k and k.endswith("weight"))
    assert not torch.equal(fresh[code], trained[code])
    assert all(p.requires_grad for p in trained_model.parameters())  # frozen in training only


def test_freeze_a_named_layer_in_the_train_block(tmp_path):
    spec = write(tmp_path, phases="", train="    freeze e1")
    checked = check_source(spec.read_text(), str(spec))
    from aespec.compile import compile_model
    from aespec.train import device as dev

    dev.seed_everything(0)
    fresh = compile_model(checked.ir, checked.spec).state_dict()
    trained = run(spec, tmp_path, "run").model.state_dict()
    first, *_ = [k for k in fresh if ".encoder" in k and k.endswith("weight")]
    batchnorm = next(k for k in fresh if ".encoder" in k and k.endswith("running_mean"))
    assert torch.equal(fresh[first], trained[first])
    assert not torch.equal(fresh[batchnorm], trained[batchnorm])  # not in the line of e1


@pytest.mark.parametrize("stop_at", [(1, 3), (2, 1), (4, 2)],
                         ids=["mid-first-phase", "first-phase-last-epoch", "mid-second"])
def test_resume_in_the_middle_of_a_phase_is_bit_identical(tmp_path, every_step, stop_at):
    spec = write(tmp_path)
    whole = run(spec, tmp_path, "whole")
    stopped = aespec.train(spec, out=tmp_path / "cut", report=False,
                           progress=InterruptAt(*stop_at))
    assert stopped.status == "interrupted"
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["counters"]["step"] > 0
    resumed = aespec.train(resume=tmp_path / "cut", quiet=True, report=False)
    assert losses(resumed.history) == losses(whole.history)
    assert resumed.test == whole.test


def test_resume_at_a_phase_boundary_is_bit_identical(tmp_path, every_step):
    spec = write(tmp_path)
    whole = aespec.train(spec, out=tmp_path / "whole", report=False,
                         progress=CopyAtEpochStart(tmp_path / "whole", tmp_path / "cut", 3))
    ckpt = load_checkpoint(tmp_path / "cut" / "checkpoint.pt")
    assert ckpt["counters"]["epoch"] == 2 and ckpt["counters"]["step"] == 0
    assert ckpt["counters"]["phase"] == 1  # saved with the second phase's new optimizer
    resumed = aespec.train(resume=tmp_path / "cut", quiet=True, report=False)
    assert losses(resumed.history) == losses(whole.history)
    assert resumed.test == whole.test


# ------------------------------------------------------------------ warm start

def test_warm_start_from_a_run_directory_starts_where_it_ended(tmp_path):
    first = run(write(tmp_path, phases=""), tmp_path, "first")
    spec = write(tmp_path, phases="", train='    init "first"', name="second")
    second = run(spec, tmp_path, "second")
    # the same data and seed: from the first run's weights its first epoch is far better
    assert second.history[0]["train"]["loss"] < 0.8 * first.history[0]["train"]["loss"]
    info = json.loads((tmp_path / "second" / "run.json").read_text())
    assert info["init"].endswith("best.pt")


def test_warm_start_from_another_model_names_the_tensor_and_both_shapes(tmp_path):
    run(write(tmp_path, phases=""), tmp_path, "first")
    wider = write(tmp_path, phases="", train='    init "first/best.pt"', name="wide")
    wider.write_text(wider.read_text().replace("dense(8)", "dense(10)"))
    with pytest.raises(AespecError) as err:
        run(wider, tmp_path, "wide")
    d = err.value.diagnostics[0]
    assert d.code == "E626" and d.span is not None and d.span.line == 20
    assert "bottleneck" in d.message and "(8, 24)" in d.message and "(10, 24)" in d.message


def test_warm_start_refuses_missing_garbage_and_code_carrying_files(tmp_path):
    import os
    import pickle

    spec = write(tmp_path, phases="")
    with pytest.raises(AespecError, match="E625.*no weights"):
        run(spec, tmp_path, "a", init_from=tmp_path / "nowhere.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a torch file")
    with pytest.raises(AespecError, match="E625.*cannot read") as err:
        run(spec, tmp_path, "b", init_from=tmp_path / "garbage.pt")
    assert err.value.diagnostics[0].file == "--init-from"

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"model": Payload()}))
    with pytest.raises(AespecError, match="E625"):
        run(spec, tmp_path, "c", init_from=tmp_path / "evil.pt")
    assert not marker.exists()
    torch.save({"weights": [1, 2]}, tmp_path / "list.pt")
    with pytest.raises(AespecError, match="E625.*no model weights"):
        run(spec, tmp_path, "d", init_from=tmp_path / "list.pt")


def test_fast_dev_run_trains_one_epoch_of_each_phase(tmp_path):
    result = aespec.train(write(tmp_path), out=tmp_path / "fast", quiet=True,
                          fast_dev_run=True)
    assert [r["phase"] for r in result.history] == ["clean", "noisy"]


def test_resume_refuses_other_phases_but_takes_more_epochs(tmp_path, every_step):
    spec = write(tmp_path)
    aespec.train(spec, out=tmp_path / "cut", report=False, progress=InterruptAt(3, 1))
    other = write(tmp_path, phases=TWO_PHASES.replace("loss mae", "loss mse"), name="other")
    with pytest.raises(AespecError, match="E602"):
        aespec.train(other, resume=tmp_path / "cut", quiet=True, report=False)
    longer = aespec.train(spec, resume=tmp_path / "cut", quiet=True, report=False,
                          overrides=["phase.noisy.epochs=3"])
    assert [r["phase"] for r in longer.history] == ["clean"] * 2 + ["noisy"] * 3
    info = json.loads((tmp_path / "cut" / "run.json").read_text())
    assert info["phases"] == [{"name": "clean", "epochs": 2}, {"name": "noisy", "epochs": 2}]


def test_early_stopping_ends_its_phase_and_the_next_one_starts(tmp_path):
    phases = ("phase first {\n    epochs 20\n    early_stop(patience=1, min_delta=1000)\n}\n"
              "phase second {\n    epochs 2\n}\n")
    result = run(write(tmp_path, phases=phases), tmp_path, "run")
    assert [r["phase"] for r in result.history] == ["first"] * 2 + ["second"] * 2
    assert result.status == "finished" and result.history[2]["best"]  # its own best
