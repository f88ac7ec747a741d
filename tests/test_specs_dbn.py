"""specs/dbn_fashion.ae, scaled down, does what it is for: a deep belief net's
pretraining lets the deep autoencoder beat the same net trained without it, and PCA.

The paper's 784-1000-500-250-30 stack shrunk to 784-256-64-32-16 (the `let`s), on 5,000
Fashion-MNIST images, each RBM 5 epochs of CD-1, then 20 fine-tuning epochs for both
nets (equal epochs; batch 50, adam at 3e-3). Test mean squared error per pixel on 1,000
test images, seeds 0, 1, 2 (mean image: 0.0867; PCA with 16 components: 0.0204):

    pretrained (DBN)        0.0196 0.0192 0.0195
    no pretraining          0.0386 0.0333 0.0329
    DBN / PCA-16            0.957  0.940  0.955

The win over PCA is small at this scale (about 5 %), so the test asks for 2 %; over the
net without pretraining it is 1.7 to 2 times, so the test asks for 1.4. One seed (0)
runs here; bench/dbn.py gives the full recipe's figures (docs/results.md).
"""

from __future__ import annotations

import pathlib
import tempfile

import pytest

import aespec

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "dbn_fashion.ae"
FASHION = pathlib.Path("/usr/share/datasets/fashion-mnist")
SMALL = ("h1=256", "h2=64", "h3=32", "code=16", "train.epochs=20", "train.batch=50",
         "train.optimizer=adam(lr=3e-3)")
PRETRAIN = "pretrain rbm(epochs=5, k=1, lr=1e-2)"
DATA = "fashion_mnist(limit=5000)"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not FASHION.exists(), reason="Fashion-MNIST is not installed (dataset-fashion-mnist)")]


def _test_mse(source: str, seed: int = 0) -> tuple[float, float, list]:
    """Test error of the spec's text trained small; PCA-16's on the same split; records."""
    import torch

    from aespec.report.pca import fit_pca, pca_reconstruct

    out = pathlib.Path(tempfile.mkdtemp(prefix="spec-dbn-"))
    (out / "dbn.ae").write_text(source)
    torch.set_num_threads(1)
    result = aespec.train(out / "dbn.ae", data=DATA, overrides=[*SMALL, f"train.seed={seed}"],
                          out=out / "run", quiet=True, report=False)
    data = aespec.train.load_run(result.run_dir).data(None)
    x = data.test.x[:1000]
    with torch.no_grad():
        mse = float(((result.model.eval()(x).x_hat - x) ** 2).mean())
    mean, comps = fit_pca(data.train.x.flatten(1).double().numpy(), 16)
    flat = x.flatten(1).double().numpy()
    pca = float(((pca_reconstruct(flat, mean, comps) - flat) ** 2).mean())
    return mse, pca, result.pretrain


def test_dbn_pretraining_beats_the_same_net_without_it_and_pca() -> None:
    source = SPEC.read_text()
    line = next(s.strip().split("#")[0].strip() for s in source.splitlines()
                if s.strip().startswith("pretrain rbm"))
    pretrained = source.replace(line, PRETRAIN)
    plain = "\n".join(s for s in source.splitlines() if not s.strip().startswith("pretrain "))
    assert PRETRAIN in pretrained and "pretrain" not in plain.split("train {")[1]
    dbn, pca, records = _test_mse(pretrained)
    without, _, none = _test_mse(plain)
    assert [r["hidden"] for r in records] == ["bernoulli"] * 3 + ["gaussian"] and not none
    assert dbn < 0.98 * pca, (dbn, pca)
    assert without > 1.4 * dbn, (dbn, without)
