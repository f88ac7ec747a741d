"""The training stage: determinism, resume, divergence, settings, data, precision.

Tiny dense models on scikit-learn's 8x8 digits: each run takes well under a second.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

import aespec
from aespec.errors import AespecError
from aespec.train import Reporter, loop
from aespec.train.rundir import load_checkpoint

DENSE = """\
data digits
input vector(64)
encoder {{
    dense(24) relu
}}
bottleneck {{
    dense(8)
}}
decoder mirror
loss {loss}
{extra}
train {{
    epochs {epochs}
    batch {batch}
    seed 0
{train}
}}
"""


def write_spec(tmp_path, name="tiny", loss="mse", extra="", epochs=3, train="", batch=128):
    path = tmp_path / f"{name}.ae"
    path.write_text(DENSE.format(loss=loss, extra=extra, epochs=epochs, train=train, batch=batch))
    return path


def run(spec, tmp_path, out="run", **kw):
    return aespec.train(spec, out=tmp_path / out, quiet=True, **kw)


def losses(history):
    """The metrics that must repeat bit for bit (not the timings)."""
    return [(r["epoch"], r["train"], r["val"], r["lr"], r["best"]) for r in history]


class InterruptAt(Reporter):
    """Sends SIGINT from inside the loop at (epoch, step): as a user's Ctrl-C would."""

    def __init__(self, epoch: int, step: int):
        self.at, self.epoch_no = (epoch, step), 0

    def phase(self, text, total):
        if text.startswith("epoch"):
            self.epoch_no += 1

    def step(self, done, loss, samples_per_s):
        if (self.epoch_no, done) == self.at:
            signal.raise_signal(signal.SIGINT)


@pytest.fixture
def every_step(monkeypatch):
    """Report every step and checkpoint every epoch, so tests can stop anywhere."""
    monkeypatch.setattr(loop, "REPORT_SECONDS", 0.0)
    monkeypatch.setattr(loop, "CHECKPOINT_SECONDS", 0.0)


def test_same_seed_gives_the_same_metrics_to_the_bit(tmp_path):
    spec = write_spec(tmp_path, extra="noise gaussian(std=0.1)")
    a, b = run(spec, tmp_path, "a"), run(spec, tmp_path, "b")
    assert losses(a.history) == losses(b.history)
    assert a.test == b.test
    c = run(spec, tmp_path, "c", overrides=["train.seed=1"])
    assert losses(c.history) != losses(a.history)


def test_result_carries_history_test_terms_and_trained_model(tmp_path):
    result = run(write_spec(tmp_path, extra="regularize l2(1e-4)"), tmp_path)
    assert result.status == "finished" and result.epochs == 3 and len(result.history) == 3
    assert set(result.test) == {"loss", "mse", "l2"}
    assert result.params == sum(p.numel() for p in result.model.parameters())
    record = result.history[0]
    assert {"train", "val", "lr", "seconds", "train_seconds", "samples_per_s"} <= set(record)
    assert set(record["train"]) == set(record["val"]) == {"loss", "mse", "l2"}
    assert record["samples_per_s"] > 0
    assert not result.model.training


@pytest.mark.parametrize("stop_at", [(2, 3), (3, 1)], ids=["mid-epoch", "first-step"])
def test_resume_continues_to_the_uninterrupted_result(tmp_path, every_step, stop_at):
    spec = write_spec(tmp_path, epochs=4, extra="noise mask(0.2)", batch=64,
                      train="    schedule cosine")
    whole = run(spec, tmp_path, "whole")
    stopped = aespec.train(spec, out=tmp_path / "cut", progress=InterruptAt(*stop_at))
    assert stopped.status == "interrupted" and stopped.epochs == stop_at[0] - 1
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["counters"]["step"] > 0
    resumed = aespec.train(resume=tmp_path / "cut", quiet=True)
    assert resumed.status == "finished"
    assert losses(resumed.history) == losses(whole.history)
    assert resumed.test == whole.test
    lines = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4]


def test_resume_with_pretraining_and_early_stopping_state(tmp_path, every_step):
    spec = write_spec(tmp_path, epochs=4, train="    pretrain layerwise(epochs=1)\n"
                                                "    early_stop(patience=3)")
    whole = run(spec, tmp_path, "whole")
    stopped = aespec.train(spec, out=tmp_path / "cut", progress=InterruptAt(3, 2))
    assert stopped.status == "interrupted"
    resumed = aespec.train(spec, resume=tmp_path / "cut", quiet=True)
    assert losses(resumed.history) == losses(whole.history)
    assert json.loads((tmp_path / "cut" / "run.json").read_text())["pretrain"]


def test_resume_with_more_epochs_extends_a_finished_run(tmp_path):
    spec = write_spec(tmp_path, epochs=2)
    run(spec, tmp_path)
    more = aespec.train(resume=tmp_path / "run", epochs=3, quiet=True)
    assert more.epochs == 3 and [r["epoch"] for r in more.history] == [1, 2, 3]


def test_resume_refuses_a_different_model(tmp_path):
    spec = write_spec(tmp_path, epochs=1)
    run(spec, tmp_path)
    other = write_spec(tmp_path, name="other", epochs=1).read_text().replace("dense(24)",
                                                                           "dense(16)")
    (tmp_path / "other.ae").write_text(other)
    with pytest.raises(AespecError) as exc:
        aespec.train(tmp_path / "other.ae", resume=tmp_path / "run", quiet=True)
    d = exc.value.diagnostics[0]
    assert d.code == "E602" and "encoder[0].args.units: 24 -> 16" in d.message


def test_resume_refuses_other_training_settings_and_other_data(tmp_path):
    spec = write_spec(tmp_path, epochs=1)
    run(spec, tmp_path)
    with pytest.raises(AespecError, match=r"train\.batch: 128 -> 64"):
        aespec.train(spec, resume=tmp_path / "run", overrides=["train.batch=64"], quiet=True)
    with pytest.raises(AespecError, match="trained on digits"):
        aespec.train(resume=tmp_path / "run", data="synthetic(n=100)", quiet=True)


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, every_step,
                                                                   monkeypatch):
    step = loop.Trainer._step
    calls = []

    def poisoned(self, xb, yb):
        vals, names = step(self, xb, yb)
        calls.append(1)
        return (vals * float("nan") if len(calls) > 2 * self.steps else vals), names

    monkeypatch.setattr(loop.Trainer, "_step", poisoned)
    with pytest.raises(AespecError) as exc:
        run(write_spec(tmp_path, epochs=5), tmp_path)
    d = exc.value.diagnostics[0]
    assert d.code == "E601" and "epoch 3" in d.message and "epoch 2) is kept" in d.message
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert ckpt["counters"]["epoch"] == 2
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "diverged"


def test_early_stopping_on_validation_loss(tmp_path):
    spec = write_spec(tmp_path, epochs=10, train="    early_stop(patience=2, min_delta=100)")
    result = run(spec, tmp_path)
    assert result.status == "early_stopped"
    assert result.epochs == 3 and result.best_epoch == 1  # no later epoch beats it by 100


@pytest.mark.parametrize("schedule, check", [
    ("cosine", lambda lrs: lrs[0] == 1e-3 and lrs[1] < lrs[0] and lrs[2] < lrs[1]),
    ("step(every=2, gamma=0.5)", lambda lrs: lrs == [1e-3, 1e-3, 5e-4, 5e-4]),
    ("none", lambda lrs: lrs == [1e-3] * 4),
])
def test_schedules(tmp_path, schedule, check):
    spec = write_spec(tmp_path, epochs=4, train=f"    schedule {schedule}")
    assert check([r["lr"] for r in run(spec, tmp_path).history])


@pytest.mark.parametrize("optimizer", ["adam(lr=0.01)", "adamw", "sgd(lr=0.1, momentum=0.9)",
                                       "rmsprop(lr=0.001)"])
def test_optimizers_train(tmp_path, optimizer):
    spec = write_spec(tmp_path, epochs=3, train=f"    optimizer {optimizer}")
    history = run(spec, tmp_path).history
    assert history[-1]["val"]["loss"] < history[0]["val"]["loss"]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_precisions_train_on_cpu(tmp_path, precision):
    spec = write_spec(tmp_path, loss="bce", epochs=3, train=f"    precision {precision}")
    history = run(spec, tmp_path).history
    assert all(np.isfinite(r["train"]["loss"]) for r in history)
    assert history[-1]["val"]["loss"] < history[0]["val"]["loss"]


def test_layerwise_pretraining_changes_the_encoder_before_training(tmp_path):
    spec = write_spec(tmp_path, epochs=1, train="    pretrain layerwise(epochs=2)")
    result = run(spec, tmp_path)
    records = result.pretrain
    assert [r["layer"] for r in records] == ["encoder1", "bottleneck3"]
    assert all(r["epochs"] == 2 and np.isfinite(r["loss"]) for r in records)
    plain = run(write_spec(tmp_path, name="plain", epochs=1), tmp_path, "plain")
    assert losses(plain.history) != losses(result.history)


def test_split_one_trains_on_everything_and_monitors_training_loss(tmp_path):
    result = run(write_spec(tmp_path, epochs=2, train="    split 1.0"), tmp_path)
    assert result.history[0]["val"] is None and result.best_epoch is not None


def test_channels_last_is_on_for_conv_models_on_cpu(tmp_path):
    conv = tmp_path / "conv.ae"
    conv.write_text("data digits\ninput image(1, 8, 8)\nencoder {\n    conv(4, k=3) relu\n"
                    "    maxpool(2)\n}\nbottleneck {\n    conv(4, k=3) relu\n}\n"
                    "decoder {\n    upsample(2)\n    conv(1, k=3) sigmoid\n}\nloss bce\n"
                    "train {\n    epochs 1\n}\n")
    run(conv, tmp_path, "cl")
    assert "channels_last" in json.loads((tmp_path / "cl" / "run.json").read_text())["notes"]
    run(conv, tmp_path, "nocl", overrides=["train.channels_last=false"])
    assert "channels_last" not in json.loads((tmp_path / "nocl" / "run.json").read_text())[
        "notes"]


def test_data_override_and_missing_data(tmp_path):
    spec = write_spec(tmp_path, epochs=1).read_text().replace("data digits\n", "")
    (tmp_path / "nodata.ae").write_text(spec)
    with pytest.raises(AespecError) as exc:
        run(tmp_path / "nodata.ae", tmp_path)
    assert exc.value.diagnostics[0].code == "E506"
    result = run(tmp_path / "nodata.ae", tmp_path, "with", data="synthetic(n=300)")
    assert json.loads((tmp_path / "with" / "run.json").read_text())["data"] == {
        "source": "synthetic", "args": {"n": 300}}
    assert result.status == "finished"


@pytest.mark.parametrize("text, code", [("nope", "E201"), ("digits(size=0)", "E203"),
                                        ("digits digits", "E203"), ("digits(", "E1")])
def test_bad_data_option(tmp_path, text, code):
    with pytest.raises(AespecError) as exc:
        run(write_spec(tmp_path), tmp_path, data=text)
    assert exc.value.diagnostics[0].code.startswith(code)


def test_bce_needs_data_in_unit_range(tmp_path):
    np.save(tmp_path / "big.npy", np.full((20, 64), 3.0, dtype=np.float32))
    spec = write_spec(tmp_path, loss="bce").read_text().replace("data digits",
                                                                'data npy("big.npy")')
    (tmp_path / "big.ae").write_text(spec)
    with pytest.raises(AespecError) as exc:
        run(tmp_path / "big.ae", tmp_path)
    d = exc.value.diagnostics[0]
    assert d.code == "E503" and "big.npy" in d.message and "[3, 3]" in d.message


def test_unavailable_device_is_a_clear_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(AespecError) as exc:
        run(write_spec(tmp_path), tmp_path, device="cuda")
    assert exc.value.diagnostics[0].code == "E605"


def test_public_api_is_callable_both_ways(tmp_path):
    import aespec.train as module

    spec = aespec.load(write_spec(tmp_path, epochs=1))
    assert module(spec, out=tmp_path / "a", quiet=True).status == "finished"
    assert aespec.train(spec, out=tmp_path / "b", quiet=True).status == "finished"
    loaded = module.load_run(tmp_path / "b")
    assert loaded.spec.name == "tiny" and not loaded.model.training


def test_compiled_training_step_traces(tmp_path, monkeypatch):
    """`compile true` wraps the whole step in torch.compile. Dynamo's eager backend checks
    that the step traces, without inductor's cold start (20 s and more; see the bench)."""
    compile_ = torch.compile
    monkeypatch.setattr(torch, "compile", lambda fn: compile_(fn, backend="eager"))
    result = run(write_spec(tmp_path, epochs=2, train="    compile true"), tmp_path)
    assert result.history[-1]["val"]["loss"] < result.history[0]["val"]["loss"]
    assert "torch.compile" in json.loads((tmp_path / "run" / "run.json").read_text())["notes"]


@pytest.mark.slow
def test_the_api_page_runs(tmp_path, monkeypatch):
    """docs/api.md's example, run as written (in a scratch folder that sees specs/)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    text = (root / "docs" / "api.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").symlink_to(root / "specs")
    scope: dict = {}
    exec(compile(code, "docs/api.md", "exec"), scope)  # noqa: S102
    assert scope["result"].status == "finished"
    assert tuple(scope["codes"].shape) == (360, 128, 7, 7)


def test_load_run_is_reachable_from_a_bare_import_aespec(tmp_path):
    """`import aespec; aespec.train.load_run(...)` works without importing aespec.train
    first, as docs/api.md shows."""
    code = ("import aespec, sys; f = aespec.train.load_run; "
            "print(callable(f), callable(aespec.train), 'aespec.train' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.split() == ["True", "True", "True"]


def test_regression_a_model_the_device_cannot_hold_is_e608_before_allocating(tmp_path):
    """dense(10**9) used to die in a traceback trying to allocate 256 GB."""
    (tmp_path / "big.ae").write_text("data digits\ninput vector(64)\nencoder {\n"
                                     "    dense(1000000000) relu\n}\nbottleneck {\n"
                                     "    dense(2)\n}\ndecoder {\n    dense(64)\n}\n")
    with pytest.raises(AespecError) as exc:
        aespec.train(tmp_path / "big.ae", out=tmp_path / "run", quiet=True)
    d = exc.value.diagnostics[0]
    assert d.code == "E608" and "dense at line 4" in d.message
    assert not (tmp_path / "run").exists()
