"""Distributed GAN training (aespec/train/dist.py, adversarial.py's GANTrainer): two gloo
ranks on loopback give the weights, the logged terms, the Fréchet distances, best.pt and the
sample strip of one process at the same global batch, and a run launched by
`aespec run --nproc 2` and resumed by two ranks equals the uninterrupted one.

The ranks are spawned as in tests/test_dist.py (whose helpers these tests use).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import aespec
from tests.test_dist import assert_close, history, two_ranks, weights

# a critic with WGAN-GP and two of its steps per batch: z and the penalty's mixing weights
# are drawn for the global batch and sharded; 256 digits in batches of 45 (23/22, last 3/2)
GAN = """\
data npy("digits.npy")
input vector(64)
latent normal(8)
decoder {{
    dense(32) relu
    dense(64) sigmoid
}}
discriminator {{
    dense(32) leaky_relu(0.2)
    dense(1)
}}
loss adversarial(wasserstein, gradient_penalty=10)
train {{
    epochs {epochs}
    batch 45
    seed 0
    discriminator_steps 2
}}
"""

# a conditional GAN on the digits (1,617 training examples in batches of 128: the last, 81,
# splits 41/40); its labels are sharded with x, and the writer's Fréchet distance picks
# best.pt on both ranks
CGAN = """\
data digits
input vector(64)
condition labels(10)
latent normal(8)
decoder {
    concat(y)
    dense(32) relu
    dense(64) sigmoid
}
discriminator {
    concat(y)
    dense(32) leaky_relu(0.2)
    dense(1)
}
loss adversarial(nonsaturating)
train {
    epochs 2
    batch 128
    seed 0
}
report {
    sample_quality(n=200)
}
"""


@pytest.fixture(scope="module")
def gan(tmp_path_factory):
    from sklearn.datasets import load_digits

    folder = tmp_path_factory.mktemp("dist_gan")
    x = (load_digits().images[:256] / 16).astype(np.float32).reshape(256, 64)
    np.save(folder / "digits.npy", x)
    path = folder / "gan.ae"
    path.write_text(GAN.format(epochs=2))
    return path


@pytest.fixture(scope="module")
def single(gan):
    return aespec.train(gan, out=gan.parent / "single", quiet=True, report=False)


def strips(run_dir):
    return torch.load(run_dir / "checkpoint.pt", weights_only=True)["strips"]


def assert_same_terms(ddp, one, rel=1e-5):
    """The logged terms are the global batch's. `abs`: a critic's mean scores and the
    generator's objective, means of values of both signs, come near 0 (9e-5 here), where
    float rounding (8e-9) is not small relative to them."""
    assert len(ddp) == len(one)
    for a, b in zip(ddp, one, strict=True):
        assert a["train"] == pytest.approx(b["train"], rel=rel, abs=1e-6)
        assert (a["val"] is None) == (b["val"] is None)
        if a["val"] is not None:
            assert a["val"] == pytest.approx(b["val"], rel=rel)


@pytest.mark.slow
def test_two_ranks_train_the_gan_one_process_trains(gan, single):
    out = gan.parent / "ddp"
    two_ranks(spec=gan, out=out, report=False)
    assert_close(weights(out), weights(single.run_dir))
    assert_same_terms(history(out), single.history)
    ours, theirs = strips(out), strips(single.run_dir)
    assert len(ours) == len(theirs) == 2
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


@pytest.mark.slow
def test_two_ranks_train_a_conditional_gan_and_agree_on_its_best_epoch(tmp_path):
    spec = tmp_path / "cgan.ae"
    spec.write_text(CGAN)
    one = aespec.train(spec, out=tmp_path / "single", quiet=True, report=False)
    out = tmp_path / "ddp"
    two_ranks(spec=spec, out=out, report=False)
    assert_close(weights(out), weights(one.run_dir))
    assert_close(weights(out, "best.pt"), weights(one.run_dir, "best.pt"))
    ddp = history(out)
    assert_same_terms(ddp, one.history, rel=1e-4)  # the distance: a sqrtm of features
    assert [r["best"] for r in ddp] == [r["best"] for r in one.history]


@pytest.mark.slow
def test_launcher_run_then_resumed_two_ranks_equal_the_uninterrupted_gan(gan, single):
    """`aespec run --nproc 2` for 1 epoch, then 2 ranks resume it to 2 epochs: the weights,
    epoch 2's terms and the strip of the uninterrupted run (z's stream is in the
    checkpoint)."""
    out = gan.parent / "launched"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "aespec", "run", str(gan), "--nproc", "2",
                           "--epochs", "1", "--out", str(out), "--no-report"],
                          capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(history(out)) == 1
    two_ranks(spec=None, resume=out, epochs=2, report=False)
    assert_close(weights(out), weights(single.run_dir))
    resumed = history(out)
    assert [r["epoch"] for r in resumed] == [1, 2]
    assert_same_terms(resumed[1:], single.history[1:])
    assert len(strips(out)) == 2
