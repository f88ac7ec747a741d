"""The generative specs of the library (issue 21): each, trained on Fashion-MNIST, does what
it is for, judged by a reference classifier (aespec/report/quality.py) with margins wide
enough for any seed: a GAN's samples far below the noise and mean-image ceilings of the
Frechet distance and spread over at least 8 of the 10 classes; a conditional model's
samples of class k classified as k at least 70% of the time; a WGAN critic whose
Wasserstein estimate falls as the samples' distance does; an IWAE whose test NLL is below
that of the same VAE trained on the ELBO. Runs are shortened (fewer
epochs, `limit=`) to fit CI; each spec's comment says what a whole run gives."""

from __future__ import annotations

import functools
import pathlib
import tempfile

import numpy as np
import pytest

import aespec

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
FASHION = pathlib.Path("/usr/share/datasets/fashion-mnist")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not FASHION.exists(), reason="Fashion-MNIST is not installed "
    "(apt-get install dataset-fashion-mnist)")]

# epochs, data and overrides of each shortened run
SHORT: dict[str, tuple[int, str, tuple[str, ...]]] = {
    "gan_fc": (14, "fashion_mnist(limit=12000)", ()),
    "dcgan_fashion": (5, "fashion_mnist(limit=6400)", ()),  # 225 steps of 128
    "cgan": (16, "fashion_mnist(limit=12000)", ()),
    "cvae": (30, "fashion_mnist(limit=12000)", ()),
    "wgan_gp": (4, "fashion_mnist(limit=12000)", ()),
    "vae_fc": (5, "fashion_mnist(limit=3000)", ()),  # the IWAE's ELBO-trained twin
    "iwae": (5, "fashion_mnist(limit=3000)", ()),
}


@functools.cache
def trained(name: str) -> aespec.train.RunResult:
    import torch

    epochs, data, overrides = SHORT[name]
    torch.set_num_threads(1)
    out = pathlib.Path(tempfile.mkdtemp(prefix=f"spec-{name}-"))
    return aespec.train(SPECS / f"{name}.ae", epochs=epochs, data=data,
                        overrides=list(overrides), out=out / "run", quiet=True)


def quality(name: str) -> dict:
    return trained(name).report["sample_quality"]


def check_strip(name: str) -> None:
    """A GAN's sample strip: the same z after every epoch, drawn at most 12 rows."""
    from aespec.train.rundir import load_checkpoint

    result = trained(name)
    strip = result.report["sample_strip"]
    assert strip["epochs"][0] == 1 and strip["epochs"][-1] == result.epochs
    assert len(strip["epochs"]) == min(result.epochs, 12)
    assert (result.run_dir / strip["file"]).stat().st_size > 10_000
    kept = load_checkpoint(result.run_dir / "checkpoint.pt")["strips"]
    assert len(kept) == result.epochs


@pytest.mark.parametrize("name", ["gan_fc", "dcgan_fashion"])
def test_gan_samples_are_far_from_the_ceilings_and_cover_the_classes(name: str) -> None:
    q = quality(name)
    fd = q["samples"]["frechet_distance"]
    ceiling = min(q["noise"]["frechet_distance"], q["mean_image"]["frechet_distance"])
    assert fd < 0.5 * ceiling, (fd, ceiling)
    assert q["samples"]["covered"] >= 8, q["samples"]["shares"]
    check_strip(name)


@pytest.mark.parametrize("name", ["cgan", "cvae"])
def test_conditional_samples_are_of_the_class_asked_for(name: str) -> None:
    q = quality(name)
    assert q["conditional"]["accuracy"] >= 0.7, q["conditional"]
    assert q["samples"]["covered"] >= 8, q["samples"]["shares"]
    if name == "cgan":
        check_strip(name)


def test_the_wgan_critic_estimate_falls_as_the_samples_improve() -> None:
    history = trained("wgan_gp").history
    w = np.array([r["train"]["wasserstein"] for r in history])
    fd = np.array([r["val"]["frechet_distance"] for r in history])
    peak = int(np.argmax(w))
    assert w[-1] < 0.8 * w[peak] and fd[-1] < fd[peak], (w, fd)
    ranks = [np.argsort(np.argsort(a)) for a in (w[peak:], fd[peak:])]
    assert np.corrcoef(*ranks)[0, 1] > 0.3, (w, fd)  # falling together after the peak
    check_strip("wgan_gp")


def test_the_iwae_has_a_lower_test_nll_than_the_same_vae_trained_on_the_elbo() -> None:
    """specs/iwae.ae is specs/vae_fc.ae with gaussian(20, iw=5): at equal epochs its test
    NLL (K=200 draws, the same draws for both, 300 test examples) is lower: these 5
    epochs on 3,000 examples gave 7.0, 7.7 and 7.2 nats less for seeds 0, 1 and 2; the
    margin asked is 3. (The margin narrows with training: 0.7 to 2.1 nats after 10 epochs
    on 12,000, where the IWAE keeps all 20 units active and the VAE 14 to 18; see
    docs/results.md.) Both estimates tighten from the K=1 ELBO."""
    from aespec.train import load_run
    from aespec.train.batches import Split
    from aespec.train.evaluate import importance_nll

    nll = {}
    for name in ("vae_fc", "iwae"):
        _, data, _ = SHORT[name]
        run = trained(name)
        test = Split(load_run(run.run_dir).data(data).test.x[:300], None)
        nll[name] = {k: importance_nll(run.model, test, k, seed=0).mean for k in (1, 200)}
        assert nll[name][200] < nll[name][1]
    assert nll["iwae"][200] < nll["vae_fc"][200] - 3.0, nll
