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
                      "--models", "fc", "--out", str(tmp_path)])
    rates = res["models"]["fc"]["samples_per_s"]
    assert set(rates) == {"loop", "aespec"}
    assert all(v > 0 for v in rates.values())
    # forward 2 x 1.08M MACs, backward about twice that (less the input's gradient)
    assert 5e6 < res["models"]["fc"]["flops_per_sample"] < 7e6
    page = (tmp_path / "GPU.md").read_text(encoding="utf-8")
    assert "No GPU was available" in page and "| dense AE (batch 256) |" in page


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
