"""specs/keras_denoiser_two_phase.ae and specs/stacked_bce.ae, trained on real data, do
what they are for.

keras_denoiser_two_phase: on held-out Fashion-MNIST images corrupted as the recipe
corrupts them (x + 0.4 N(0, I), clipped to [0, 1]), the model after both phases removes
the noise: its error is clearly below that of the same spec trained on its clean phase
alone, and below the noisy input's own error. Measured (mse against the clean image,
1,000 test images, seeds 0 / 1):

    noisy input itself        0.0850   0.0850
    clean phase alone         0.0577   0.0495
    both phases               0.0236   0.0221

stacked_bce: each of the four stages' bce falls over its 20 epochs (0.445 -> 0.236 for
the pixels, 0.67 -> 0.48, 0.69 -> 0.53, 0.69 -> 0.58 for the sigmoid codes: their floor
is their own entropy), and the fine-tuned net's test mse is 0.025 against the mean
image's 0.074.
"""

from __future__ import annotations

import functools
import pathlib
import tempfile

import pytest

import aespec

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
FASHION = pathlib.Path("/usr/share/datasets/fashion-mnist")
SEEDS = (0, 1)

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not FASHION.exists(), reason="Fashion-MNIST is not installed (dataset-fashion-mnist)")]


@functools.cache
def _trained(name: str, seed: int, source: str | None = None):
    import torch

    out = pathlib.Path(tempfile.mkdtemp(prefix=f"spec-{name}-{seed}-"))
    path = SPECS / f"{name}.ae"
    if source is not None:
        path = out / f"{name}.ae"
        path.write_text(source)
    torch.set_num_threads(1)
    return aespec.train(path, overrides=[f"train.seed={seed}"], out=out / "run", quiet=True,
                        report=False)


def _clean_phase_only() -> str:
    text = (SPECS / "keras_denoiser_two_phase.ae").read_text()
    start = text.index("phase noisy {")
    end = text.index("}", start) + 1
    return text[:start] + text[end:]


def _denoising_errors(result) -> tuple[float, float]:
    """(mse of the model's output, mse of the noisy input itself) against the clean test
    images, the noise drawn as the recipe draws it, the same draw for every model."""
    import torch

    dataset = aespec.train.load_run(result.run_dir).dataset(None)
    x = torch.as_tensor(dataset.x_test[:1000]).float()
    g = torch.Generator().manual_seed(1234)
    noisy = (x + 0.4 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    model = result.model.eval()
    with torch.no_grad():
        x_hat = model(noisy, target=x).x_hat
    return float(((x_hat - x) ** 2).mean()), float(((noisy - x) ** 2).mean())


@pytest.mark.parametrize("seed", SEEDS)
def test_keras_denoiser_removes_noise_that_its_clean_phase_alone_keeps(seed):
    both = _trained("keras_denoiser_two_phase", seed)
    assert [r["phase"] for r in both.history] == ["clean"] * 3 + ["noisy"] * 6
    clean = _trained("keras_denoiser_two_phase_clean", seed, _clean_phase_only())
    after_both, noisy_input = _denoising_errors(both)
    after_clean, _ = _denoising_errors(clean)
    print(f"seed {seed}: noisy input {noisy_input:.4f}, clean phase alone {after_clean:.4f}, "
          f"both phases {after_both:.4f}")
    assert after_both < 0.6 * after_clean
    assert after_both < 0.5 * noisy_input


# ------------------------------------------------------------------ stacked_bce

def test_stacked_bce_stages_learn_and_the_fine_tuned_net_beats_the_mean_image():
    import json

    import torch

    result = _trained("stacked_bce", 0)
    stages = json.loads((result.run_dir / "run.json").read_text())["pretrain"]
    assert [s["loss_name"] for s in stages] == ["bce"] * 4
    assert all(s["output"] == "sigmoid" for s in stages)
    for stage in stages:  # each stage's own bce falls over its epochs
        first, *_, last = stage["epoch_losses"]
        assert last < first - 0.02, stage
    data = aespec.train.load_run(result.run_dir).data(None)
    x = data.test.x
    with torch.no_grad():
        x_hat = result.model.eval()(x).x_hat
    mse = float(((x_hat - x) ** 2).mean())
    mean_image = float(((data.train.x.mean(0, keepdim=True) - x) ** 2).mean())
    print(f"stages' bce {[round(s['epoch_losses'][0], 4) for s in stages]} -> "
          f"{[round(s['loss'], 4) for s in stages]}; test mse {mse:.4f}, "
          f"mean image {mean_image:.4f}")
    assert mse < 0.6 * mean_image
