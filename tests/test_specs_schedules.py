"""specs/vae_kl_warmup.ae on Fashion-MNIST: its KL weight follows the cyclical warm-up as
written, and it keeps more latent units active than the same VAE trained at its full beta
from the first step (`--set beta=8`): the less posterior collapse it is for, measured as
Burda et al.'s active units on the test set.

Both runs are the spec as shipped (20 epochs, 3,000 images; about 15 to 20 s each on one
core), seed 0. Measured over seeds 0-4 (the spec's comment has every figure): the schedule
kept 24 to 28 units where the unscheduled VAE kept 15 to 21, the smallest gap 4; the bar
below is 3. Its test ELBO (at beta = 8) was better too, by 8 to 12 nats; the bar is 2."""

from __future__ import annotations

import functools
import pathlib
import tempfile

import pytest

import aespec

SPEC = pathlib.Path(__file__).resolve().parent.parent / "specs" / "vae_kl_warmup.ae"
FASHION = pathlib.Path("/usr/share/datasets/fashion-mnist")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not FASHION.exists(), reason="Fashion-MNIST is not installed "
    "(apt-get install dataset-fashion-mnist)")]


@functools.cache
def trained(beta: str | None) -> aespec.train.RunResult:
    import torch

    torch.set_num_threads(1)
    out = pathlib.Path(tempfile.mkdtemp(prefix="spec-vae-kl-warmup-")) / "run"
    return aespec.train(SPEC, overrides=[] if beta is None else [f"beta={beta}"], out=out,
                        quiet=True, report=False)


def test_the_kl_weight_cycles_as_written():
    """Four 5-epoch cycles: beta climbs over each cycle's first half (the records hold
    each epoch's mean weight), holds 8 over its second, and falls back at the next."""
    weights = [r["weights"]["cyclical*kl"] for r in trained(None).history]
    assert len(weights) == 20
    for cycle in range(4):
        w = weights[5 * cycle:5 * cycle + 5]
        assert w[0] < 2 and w[0] < w[1] < w[2] < 8
        assert w[3] == pytest.approx(8) and w[4] == pytest.approx(8)
    assert "weights" not in trained("8").history[0]


def test_the_cycles_keep_more_units_active_than_no_schedule():
    cycled, cold = trained(None).active_units, trained("8").active_units
    assert cycled["dims"] == cold["dims"] == 32
    assert cycled["active"] >= cold["active"] + 3  # measured 28 against 19 at seed 0


def test_the_cycles_reach_a_better_objective_too():
    cycled, cold = trained(None), trained("8")
    assert cycled.test["loss"] < cold.test["loss"] - 2  # both at beta = 8; measured -9
