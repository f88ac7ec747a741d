"""Each kind of autoencoder learns: validation loss well below its first epoch's.

Ten epochs on scikit-learn's 8x8 digits, a few CPU seconds each. The bound is per kind:
a KL term or a sparsity penalty leaves a larger share of the first epoch's loss standing.
"""

from __future__ import annotations

import pytest

import aespec

HEAD = "data digits\ninput vector(64)\n"
TRAIN = "train {\n    epochs 10\n    batch 64\n    optimizer adam(lr=3e-3)\n    seed 0\n}\n"
ENCODER = "encoder {\n    dense(32) relu\n}\n"

KINDS = {
    "plain": (ENCODER + "bottleneck {\n    dense(8)\n}\ndecoder mirror\nloss mse\n", 0.5),
    "denoising": ("noise gaussian(std=0.3) clip(0, 1)\n" + ENCODER
                  + "bottleneck {\n    dense(16) relu\n}\ndecoder mirror(output=sigmoid)\n"
                    "loss mse\n", 0.75),
    "sparse": (ENCODER + "bottleneck {\n    dense(64) sigmoid\n}\n"
               "decoder {\n    dense(64) sigmoid\n}\nloss mse\n"
               "regularize kl_sparsity(rho=0.05, weight=1e-2)\n", 0.75),
    "contractive": (ENCODER + "bottleneck {\n    dense(8) sigmoid\n}\ndecoder mirror\n"
                    "loss mse\nregularize contractive(1e-2) on bottleneck\n", 0.6),
    "vae": (ENCODER + "bottleneck {\n    gaussian(4)\n}\n"
            "decoder {\n    dense(32) relu\n    dense(64) sigmoid\n}\nloss bce\n", 0.8),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_validation_loss_falls_well_below_the_first_epochs(tmp_path, kind):
    body, bound = KINDS[kind]
    path = tmp_path / f"{kind}.ae"
    path.write_text(HEAD + body + TRAIN)
    result = aespec.train(path, out=tmp_path / "run", quiet=True)
    val = [r["val"]["loss"] for r in result.history]
    assert val[-1] < bound * val[0], f"{kind}: {val}"
    assert result.test["loss"] < bound * val[0]
    # Ten epochs take a few CPU seconds here; speed is measured in bench/, not asserted.
