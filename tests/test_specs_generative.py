"""The generative specs of the library (issue 21): each, trained on Fashion-MNIST, does what
it is for, judged by a reference classifier (aespec/report/quality.py) with margins wide
enough for any seed: a GAN's samples far below the noise and mean-image ceilings of the
Frechet distance and spread over at least 8 of the 10 classes; a conditional model's
samples of class k classified as k at least 70% of the time; a WGAN critic whose
Wasserstein estimate falls as the samples' distance does; an IWAE whose test NLL is below
that of the same VAE trained on the ELBO; an adversarial autoencoder's codes far nearer
N(0, I) than the same autoencoder's without its discriminator. Runs are shortened (fewer
epochs, `limit=`) to fit CI; each spec's comment says what a whole run gives."""

from __future__ import annotations

import functools
import pathlib
import re
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
    "aae": (10, "fashion_mnist(limit=3000)", ()),  # 270 steps of 100: 5 s of CPU
}


@functools.cache
def trained(name: str) -> aespec.train.RunResult:
    import torch

    epochs, data, overrides = SHORT[name.removesuffix("_twin")]
    torch.set_num_threads(1)
    out = pathlib.Path(tempfile.mkdtemp(prefix=f"spec-{name}-"))
    spec = SPECS / f"{name}.ae"
    if name.endswith("_twin"):
        spec = out / f"{name}.ae"
        spec.write_text(without_discriminator((SPECS / f"{name[:-5]}.ae").read_text()))
    return aespec.train(spec, epochs=epochs, data=data, overrides=list(overrides),
                        out=out / "run", quiet=True, report=not name.endswith("_twin"))


def without_discriminator(source: str) -> str:
    """An adversarial autoencoder's spec less its discriminator and its game: the same
    autoencoder, trained alone."""
    source = re.sub(r"\ndiscriminator on code \{.*?\n\}\n", "\n", source, flags=re.S)
    source = re.sub(r" \+ [\d.* ]*adversarial\([^)]*\)", "", source)
    return re.sub(r"\n *discriminator_\w+ [^\n]*", "", source)


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


def test_the_aae_codes_are_near_the_prior_and_still_reconstruct() -> None:
    """Six seeds of this shortened run gave an MMD² of 0.019 to 0.052 for the AAE's
    test codes, 0.378 to 0.412 for its twin's (spread 3 to 5 against the prior's 1, off
    its centre); a mean squared error of 0.035 to 0.041 against the mean image's 0.086
    (the twin's 0.033)."""
    import torch

    from aespec.report.prior import mmd, prior_draws

    distance, error = {}, {}
    for name in ("aae", "aae_twin"):
        result = trained(name)
        data = aespec.train.load_run(result.run_dir).data()
        x = data.test.x[:2000]
        with torch.no_grad():
            z = result.model.encode(x).flatten(1).numpy()
            error[name] = float(((result.model(x).x_hat - x) ** 2).mean())
        distance[name] = mmd(z, prior_draws(z.shape, 0))
        mean_image = float(((data.train.x.mean(0) - x) ** 2).mean())
    assert distance["aae"] < 0.12 and distance["aae_twin"] > 0.25, distance
    assert distance["aae"] < 0.3 * distance["aae_twin"], distance
    assert error["aae"] < 0.6 * mean_image, (error, mean_image)
    assert "discriminator" not in trained("aae_twin").history[0]["train"]
