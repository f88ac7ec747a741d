"""The VQ-VAE of specs/vqvae.ae, trained on a Fashion-MNIST subset, does what it is for:
its reconstructions are far better than the mean image, and its codebook has not
collapsed (most codes chosen on the test split, a perplexity far above one code's).

Margins hold for seeds 0, 1 and 2 (6 epochs on 6,000 images, about 15 s on one core):
test mse 0.0107 / 0.0100 / 0.0110 against the mean image's 0.087; 64 / 57 / 55 of
64 codes used; perplexity 38.6 / 31.6 / 32.1."""

from __future__ import annotations

import functools
import pathlib
import tempfile

import pytest

import aespec

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "vqvae.ae"
FASHION = pathlib.Path("/usr/share/datasets/fashion-mnist")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not FASHION.exists(), reason="Fashion-MNIST is not installed "
    "(apt-get install dataset-fashion-mnist)")]


@functools.cache
def trained() -> aespec.train.RunResult:
    import torch

    torch.set_num_threads(1)
    out = pathlib.Path(tempfile.mkdtemp(prefix="spec-vqvae-"))
    return aespec.train(SPEC, out=out / "run", quiet=True)


def test_vqvae_reconstructs_far_better_than_the_mean_image() -> None:
    import torch

    result = trained()
    data = aespec.train.load_run(result.run_dir).data()
    mean_image = data.train.x.float().mean(0)
    baseline = float((data.test.x.float() - mean_image).square().mean())
    assert result.test["mse"] < baseline / 4, (result.test, baseline)
    x = data.test.x[:256].float()
    with torch.no_grad():
        x_hat = result.model.decode(result.model.encode(x))
        assert torch.allclose(x_hat, result.model(x).x_hat, atol=1e-5)  # decode(encode) = forward


def test_vqvae_codebook_has_not_collapsed() -> None:
    result = trained()
    (stats,) = result.codebook.values()
    assert stats["codes"] == 64
    assert stats["usage"] >= 0.6, stats  # 55 of 64 or more for seeds 0-2
    assert stats["perplexity"] >= 16, stats  # 31 or more for seeds 0-2; collapse gives ~1
    recorded = (result.run_dir / "run.json").read_text()
    assert '"perplexity"' in recorded


def test_vqvae_cannot_be_sampled_and_says_why() -> None:
    result = trained()
    with pytest.raises(aespec.AespecError) as err:
        result.model.sample(4)
    assert err.value.diagnostics[0].code == "E308"
    assert "prior" in err.value.diagnostics[0].message
