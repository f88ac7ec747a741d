"""bench/gpu.py stays runnable: a few steps of it on the CPU (the GPU figures need a CUDA
machine; there it writes bench/GPU.md itself)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_gpu", ROOT / "bench" / "gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_gpu_bench_runs_on_the_cpu_and_writes_its_page(tmp_path):
    bench = _bench()
    res = bench.main(["--device", "cpu", "--quick", "--n", "256", "--epochs", "2",
                      "--class-size", "4", "--out", str(tmp_path)])
    assert set(res["models"]) == {"fc", "conv", "vae", "dcgan", "vaegan"}
    for m in res["models"].values():
        assert set(m["samples_per_s"]) == {"loop", "aespec"}
        assert all(v > 0 for v in m["samples_per_s"].values())
    flops = {kind: m["flops_per_sample"] for kind, m in res["models"].items()}
    # forward 2 x 1.08M MACs, backward about twice that (less the input's gradient)
    assert 5e6 < flops["fc"] < 7e6
    # G 7.25M MACs forward, D 6.63M; the tutorial's step: G once, D three times (the real
    # batch, the fakes detached, the fakes for G), each forward and backward: about 160M
    assert 1.3e8 < flops["dcgan"] < 1.9e8
    grading = res["grading"]
    assert grading["hand_ins"] == 4 and grading["trained"] >= 1 and grading["total_s"] > 0
    assert set(grading["smoke"]) == {"cpu"}
    page = (tmp_path / "GPU.md").read_text(encoding="utf-8")
    assert "No GPU was available" in page and "| dense AE (batch 256) |" in page
    assert "| DCGAN (batch 128) |" in page and "| VAE-GAN (batch 128) |" in page
    assert "## Grading: `aespec grade` of a class" in page


def test_the_page_shows_what_the_budget_left_out_and_the_share_of_the_peak():
    bench = _bench()
    rates = {"loop": 1000.0, "aespec": 3000.0, "aespec bf16": 4000.0,
             "aespec bf16 + compile": None}
    res = {"device": "NVIDIA H100 80GB HBM3", "device_type": "cuda", "data": "x",
           "epochs": 4, "budget": 420.0, "torch": "2.x",
           "models": {"dcgan": {"samples_per_s": rates, "flops_per_sample": 1.6e8,
                                "batch": 128, "n": 60000},
                      "vaegan": {"samples_per_s": {**rates, "aespec bf16": None},
                                 "errors": {"aespec bf16": "RuntimeError: no kernel"},
                                 "flops_per_sample": 1e7, "batch": 128, "n": 60000}}}
    page = bench.render(res, 400.0)
    row = next(line for line in page.splitlines() if line.startswith("| DCGAN"))
    assert "left out (budget)" in row and "**4.00x**" in row
    assert "0.06%" in row  # 4000/s x 1.6e8 FLOPs over 989 TFLOP/s
    row = next(line for line in page.splitlines() if line.startswith("| VAE-GAN"))
    assert "| failed |" in row and "**3.00x**" in row
    assert "- VAE-GAN, aespec bf16: RuntimeError: no kernel" in page


def test_a_variant_that_fails_is_recorded_not_raised():
    bench = _bench()
    errors: dict[str, str] = {}

    def broken(*args):
        raise RuntimeError("torch.compile is not supported here\nmore")

    assert bench.timed_rates(errors, "aespec bf16 + compile", broken, 1)[0] is None
    assert errors == {"aespec bf16 + compile": "RuntimeError: torch.compile is not "
                                                "supported here"}


def test_the_budget_leaves_out_what_would_not_fit():
    bench = _bench()
    bench.STARTED = bench.time.perf_counter() - 100.0
    assert bench.Budget(420.0).fits(300.0) and not bench.Budget(420.0).fits(330.0)


def test_without_a_gpu_it_says_so_and_measures_nothing(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _bench().main(["--out", str(tmp_path)]) == {}
    assert "No GPU was available" in (tmp_path / "GPU.md").read_text(encoding="utf-8")


def test_the_bf16_peak_table_knows_the_h200():
    bench = _bench()
    assert bench.bf16_peak("NVIDIA H200") == 989e12
    assert bench.bf16_peak("NVIDIA H100 80GB HBM3") == 989e12
    assert bench.bf16_peak("some unknown card") is None
