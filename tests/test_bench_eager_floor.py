"""bench/eager_floor.py stays runnable and honest: its written-out step's gradients are
autograd's, and its page names every contestant (a few steps; the figures come from
`make bench`)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_eager_floor",
                                                  ROOT / "bench" / "eager_floor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_eager_floor_bench_runs_and_writes_its_page(tmp_path):
    res = _bench().main(["--rounds", "2", "--steps", "2", "--out", str(tmp_path)])
    assert set(res["ms"]) == {"products", "aespec", "script", "written out"}
    assert all(len(v) == 2 and min(v) > 0 for v in res["ms"].values())
    assert res["written_out_grad_error"] < 1e-4
    assert res["summary"]["products"]["share"] == 1.0
    page = (tmp_path / "EAGER_FLOOR.md").read_text(encoding="utf-8")
    assert "| written out |" in page and "| aespec |" in page
    assert json.loads((tmp_path / "eager_floor.json").read_text())["steps"] == 2


def test_a_wrong_gradient_in_the_written_out_step_is_caught():
    import torch

    bench = _bench()
    model, _ = bench._model_and_trainer()
    step, grads, params = bench.written_out(model)
    x = torch.rand(bench.BATCH, 784)
    assert bench.check_written_out(model, grads, params, x) < 1e-4

    def off(batch):  # the same step with the loss's gradient doubled
        grads(batch)
        for p in params:
            p.grad.mul_(2)

    assert bench.check_written_out(model, off, params, x) > 0.5
