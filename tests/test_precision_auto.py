"""`train.precision auto`: bf16 autocast on a CPU with a bf16 matrix engine for the models
measured to gain there, fp32 elsewhere; said in the run's notes and run.json; and bf16's
test loss beside fp32's.

The session says there is no engine (tests/conftest.py sets AESPEC_BF16_ENGINE=0, so that
no other test's numbers depend on the CPU); these tests say otherwise where they need to."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

import aespec
from aespec.graph import check_source
from aespec.train import device as dev


@pytest.fixture
def engine(monkeypatch):
    """Say whether the CPU has a bf16 matrix engine: engine(True) or engine(False)."""
    def say(present: bool) -> None:
        monkeypatch.setenv("AESPEC_BF16_ENGINE", "1" if present else "0")
        dev.bf16_engine.cache_clear()

    yield say
    dev.bf16_engine.cache_clear()


AE = ("data digits\ninput vector(64)\nencoder {\n    dense(32) relu\n}\nbottleneck {\n"
      "    dense(8)\n}\ndecoder {\n    dense(32) relu\n    dense(64) sigmoid\n}\nloss bce\n")


def resolve(text: str, device: str = "cpu") -> str:
    result = check_source(text, "<string>", [])
    spec, graph = result.spec, result.ir
    assert spec is not None and graph is not None
    return dev.resolve_precision(spec.train.precision, torch.device(device), graph, spec)


def test_the_default_is_auto_and_auto_is_bf16_only_with_an_engine(engine):
    assert aespec.loads(AE).train.precision == "auto"
    engine(True)
    assert resolve(AE) == "bf16"
    engine(False)
    assert resolve(AE) == "fp32"


def test_a_written_precision_is_kept_whatever_the_cpu(engine):
    for present in (True, False):
        engine(present)
        for written in ("fp32", "bf16", "fp16"):
            assert resolve(AE + f"train {{\n    precision {written}\n}}\n") == written


def test_auto_is_fp32_off_the_cpu_and_for_unmeasured_models(engine):
    engine(True)
    assert resolve(AE, "cuda") == "fp32"  # a GPU: `precision bf16` asks for it there
    root = os.path.join(os.path.dirname(__file__), "..", "specs")
    for name in ("rbm", "som", "vqvae", "gan_fc", "aae", "vae_gan", "stacked_pretrain"):
        with open(os.path.join(root, f"{name}.ae"), encoding="utf-8") as fh:
            assert resolve(fh.read()) == "fp32", name
    for name in ("mirror_fc", "vae_fc", "denoising_conv"):
        with open(os.path.join(root, f"{name}.ae"), encoding="utf-8") as fh:
            assert resolve(fh.read()) == "bf16", name


def test_the_engine_is_read_from_the_cpus_flags(monkeypatch):
    monkeypatch.delenv("AESPEC_BF16_ENGINE", raising=False)
    dev.bf16_engine.cache_clear()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            flags = next(line for line in fh if line.startswith("flags")).split()
        want = next((f for f in dev.BF16_ENGINES if f in flags), None)
        assert dev.bf16_engine() == want
    except (OSError, StopIteration):
        pytest.skip("no /proc/cpuinfo flags on this machine")
    finally:
        dev.bf16_engine.cache_clear()


@pytest.mark.parametrize("present, precision", [(True, "bf16"), (False, "fp32")])
def test_the_run_says_what_auto_chose(tmp_path, present, precision):
    spec = tmp_path / "ae.ae"
    spec.write_text(AE + "train {\n    epochs 1\n}\n")
    env = {**os.environ, "AESPEC_BF16_ENGINE": "1" if present else "0"}
    done = subprocess.run([sys.executable, "-m", "aespec", "run", str(spec), "--no-report",
                           "--out", str(tmp_path / "run")], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["precision"] == precision
    said = "precision auto: autocast bf16" in done.stdout
    assert said == present
    assert any("precision auto" in n for n in info["notes"]) == present


CONV = ("data digits\ninput image(1, 8, 8)\nencoder {\n    conv(16, k=3) relu\n"
        "    maxpool(2)\n}\nbottleneck {\n    conv(8, k=3) relu\n}\ndecoder {\n"
        "    upsample(2)\n    conv(16, k=3) relu\n    conv(1, k=3) sigmoid\n}\nloss bce\n")


@pytest.mark.parametrize("text", [AE, CONV], ids=["dense", "conv"])
def test_bf16s_test_loss_stays_within_two_percent_of_fp32s(tmp_path, text):
    """What `auto` may change: bf16 autocast's test loss against fp32's, same seeds, on
    digits (bench/WHOLE_RUN.md has the full-size workloads: within 0.5% there)."""
    spec = tmp_path / "m.ae"
    spec.write_text(text + "train {\n    epochs 8\n    batch 64\n    optimizer adam(lr=3e-3)\n}\n")
    got, runs = {}, {}
    for precision in ("fp32", "bf16"):
        runs[precision] = [aespec.train(str(spec), quiet=True, report=False,
                                        out=tmp_path / f"{precision}-{seed}",
                                        overrides=[f"train.precision={precision}",
                                                   f"train.seed={seed}"])
                           for seed in (0, 1)]
        got[precision] = sum(r.test["loss"] for r in runs[precision]) / 2
    history = runs["fp32"][0].history
    assert history[-1]["val"]["loss"] < 0.8 * history[0]["val"]["loss"]  # it learns
    assert abs(got["bf16"] - got["fp32"]) < 0.02 * got["fp32"], got
