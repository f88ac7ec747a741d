"""Distributed training of an adversarial autoencoder and a VAE-GAN (train/adversarial.py's
AAETrainer, train/vaegan.py): two gloo ranks on loopback give the weights, the logged
terms, the Fréchet distances and the sample strip of one process at the same global batch,
and a VAE-GAN launched by `aespec run --nproc 2` and resumed by two ranks equals the
uninterrupted run.

The ranks are spawned as in tests/test_dist.py (whose helpers these tests use).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

import aespec
from tests.test_dist import assert_close, history, two_ranks, weights
from tests.test_dist_gan import assert_same_terms, strips

# 1,617 training digits in batches of 128: the last, 81, splits 41/40. WGAN-GP's critic
# of codes, two of its steps per batch: the prior's draws and the penalty's weights are
# drawn for the global batch and sharded
AAE = """\
data digits
input vector(64)
encoder {
    dense(32) relu
}
bottleneck {
    dense(2)
}
decoder {
    dense(32) relu
    dense(64) sigmoid
}
discriminator on code {
    dense(16) leaky_relu(0.2)
    dense(1)
}
loss mse + adversarial(wasserstein, gradient_penalty=10)
train {
    epochs 2
    batch 128
    seed 0
    discriminator_steps 2
}
"""

# two reparameterization draws per example (eps, the prior's z and the penalty's weights
# all sharded rows of the global batch's draws); the writer's Fréchet distance picks best.pt.
# Not a Wasserstein critic here: its loss does not move D's last bias, whose gradient is
# then float rounding that Adam scales up to full steps, differently in 1 and 2 processes
VAE_GAN = """\
data digits
input vector(64)
encoder {
    dense(32) relu
}
bottleneck {
    gaussian(4, samples=2)
}
decoder {
    dense(32) relu
    dense(64) sigmoid
}
discriminator {
    dense(16) leaky_relu(0.2)
    dense(1)
}
loss bce + adversarial(nonsaturating, gradient_penalty=1)
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
def vae_gan(tmp_path_factory):
    path = tmp_path_factory.mktemp("dist_vae_gan") / "vae_gan.ae"
    path.write_text(VAE_GAN)
    return path


@pytest.fixture(scope="module")
def single(vae_gan):
    return aespec.train(vae_gan, out=vae_gan.parent / "single", quiet=True, report=False)


@pytest.mark.slow
def test_two_ranks_train_the_adversarial_autoencoder_one_process_trains(tmp_path):
    spec = tmp_path / "aae.ae"
    spec.write_text(AAE)
    one = aespec.train(spec, out=tmp_path / "single", quiet=True, report=False)
    out = tmp_path / "ddp"
    two_ranks(spec=spec, out=out, report=False)
    assert_close(weights(out), weights(one.run_dir))
    assert_close(weights(out, "best.pt"), weights(one.run_dir, "best.pt"))
    assert_same_terms(history(out), one.history)


@pytest.mark.slow
def test_two_ranks_train_the_vae_gan_one_process_trains(vae_gan, single):
    out = vae_gan.parent / "ddp"
    two_ranks(spec=vae_gan, out=out, report=False)
    assert_close(weights(out), weights(single.run_dir))
    assert_close(weights(out, "best.pt"), weights(single.run_dir, "best.pt"))
    ddp = history(out)
    assert_same_terms(ddp, single.history, rel=1e-4)  # the distance: a sqrtm of features
    assert [r["best"] for r in ddp] == [r["best"] for r in single.history]
    ours, theirs = strips(out), strips(single.run_dir)
    assert len(ours) == len(theirs) == 2
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


@pytest.mark.slow
def test_launcher_run_then_resumed_two_ranks_equal_the_uninterrupted_vae_gan(vae_gan, single):
    """`aespec run --nproc 2` for 1 epoch, then 2 ranks resume it to 2 epochs: the weights
    and epoch 2's terms of the uninterrupted run (the draws' stream is in the checkpoint)."""
    out = vae_gan.parent / "launched"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "aespec", "run", str(vae_gan), "--nproc",
                           "2", "--epochs", "1", "--out", str(out), "--no-report"],
                          capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(history(out)) == 1
    two_ranks(spec=None, resume=out, epochs=2, report=False)
    assert_close(weights(out), weights(single.run_dir))
    resumed = history(out)
    assert [r["epoch"] for r in resumed] == [1, 2]
    assert_same_terms(resumed[1:], single.history[1:], rel=1e-4)
    assert len(strips(out)) == 2
