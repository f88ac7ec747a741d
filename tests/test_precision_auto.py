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
# large enough for bf16 to pay: 784x512 + 512x64 weights a layer pass, batch 256
BIG = ("data fashion_mnist\ninput vector(784)\nencoder {\n    dense(512) relu\n}\n"
       "bottleneck {\n    dense(64)\n}\ndecoder {\n    dense(512) relu\n"
       "    dense(784) sigmoid\n}\nloss bce\ntrain {\n    batch 256\n}\n")


def resolve(text: str, device: str = "cpu") -> str:
    result = check_source(text, "<string>", [])
    spec, graph = result.spec, result.ir
    assert spec is not None and graph is not None
    return dev.resolve_precision(spec.train.precision, torch.device(device), graph, spec)


def test_the_default_is_auto_and_auto_is_bf16_only_with_an_engine(engine):
    assert aespec.loads(AE).train.precision == "auto"
    engine(True)
    assert resolve(BIG) == "bf16"
    engine(False)
    assert resolve(BIG) == "fp32"


def test_auto_keeps_fp32_for_a_step_too_small_for_bf16_to_pay(engine):
    engine(True)
    assert resolve(AE) == "fp32"  # 64-32-8 on digits: the casts cost more than they save
    assert resolve(BIG.replace("batch 256", "batch 4")) == "fp32"
    result = check_source(BIG, "<string>", [])
    assert result.ir is not None
    assert dev.step_macs(result.ir) == 784 * 512 + 512 * 64 + 64 * 512 + 512 * 784 + \
        512 + 64 + 512 + 784  # the biases ride along with their weights


def test_a_written_precision_is_kept_whatever_the_cpu(engine):
    for present in (True, False):
        engine(present)
        for written in ("fp32", "bf16", "fp16"):
            assert resolve(BIG.replace("batch 256", f"batch 256\n    precision {written}")
                           ) == written


def test_auto_is_fp32_off_the_cpu_and_for_unmeasured_models(engine):
    engine(True)
    assert resolve(BIG, "cuda") == "fp32"  # a GPU: `precision bf16` asks for it there
    root = os.path.join(os.path.dirname(__file__), "..", "specs")
    for name in ("rbm", "som", "vqvae", "gan_fc", "aae", "vae_gan", "stacked_pretrain",
                 "undercomplete_fc"):
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
    spec.write_text(BIG.replace("batch 256", "batch 256\n    epochs 1").replace(
        "data fashion_mnist", "data fashion_mnist(limit=600)"))
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


SHIPPED = {"mirror_fc": ("fashion_mnist(limit=3000)", 3), "denoising_conv": (None, 2)}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_bf16s_test_loss_stays_within_two_percent_of_fp32s(tmp_path, name):
    """What `auto` changes on a CPU with the engine: two shipped specs it moves to bf16,
    trained in fp32 and in bf16 from the same seed, end within 2% of each other's test loss
    (bench/PRECISION_SPECS.md: every moved spec within -0.8% to +1.2% after an epoch)."""
    data, epochs = SHIPPED[name]
    spec = os.path.join(os.path.dirname(__file__), "..", "specs", f"{name}.ae")
    runs = {p: aespec.train(spec, quiet=True, report=False, out=tmp_path / p, data=data,
                            epochs=epochs, overrides=[f"train.precision={p}"])
            for p in ("fp32", "bf16")}
    history = runs["fp32"].history
    assert history[-1]["val"]["loss"] < history[0]["val"]["loss"]  # it learns
    fp32, bf16 = runs["fp32"].test["loss"], runs["bf16"].test["loss"]
    assert abs(bf16 - fp32) < 0.02 * fp32, (fp32, bf16)
