"""The specs of the language's extensions, trained briefly, still do what they are for:
specs/anomaly_fc.ae (`normal=`: train on the normal digits, score the held-out class) and
specs/vae_gaussian.ae (`gaussian_nll(var=learned)`: a sigma-VAE)."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
import torch

import aespec
from aespec.report.pca import fit_pca, pca_reconstruct
from aespec.train import load_run

SPECS = pathlib.Path(__file__).resolve().parents[1] / "specs"


def test_anomaly_spec_scores_the_held_out_digit(tmp_path: pathlib.Path) -> None:
    result = aespec.train(SPECS / "anomaly_fc.ae", epochs=40, out=tmp_path / "run", quiet=True)
    anomaly = result.report["anomaly"]
    assert anomaly["roc_auc"] is not None, anomaly["roc_auc_reason"]
    assert anomaly["roc_auc"] > 0.75  # 0.5 is chance; the full run gives 0.92
    run = load_run(tmp_path / "run")
    data = run.dataset()
    assert data.class_names == ("normal", "anomaly")
    assert set(np.unique(data.labels_test).tolist()) == {0, 1}
    # the anomalies' errors are larger on the whole than those of the normal test digits
    scores = run.model.recon_error(torch.from_numpy(data.x_test)).detach().numpy()
    marks = data.labels_test.astype(bool)
    assert np.median(scores[marks]) > 1.3 * np.median(scores[~marks])
    # and PCA, fitted on the same normal digits, also ranks them above chance
    mean, comps = fit_pca(data.x_train, 8)
    pca = ((pca_reconstruct(data.x_test, mean, comps) - data.x_test) ** 2).mean(1)
    assert np.median(pca[marks]) > np.median(pca[~marks])


def test_gaussian_vae_spec_reconstructs_samples_and_uses_its_code(
        tmp_path: pathlib.Path) -> None:
    aespec.train(SPECS / "vae_gaussian.ae", epochs=30, out=tmp_path / "run", quiet=True)
    run = load_run(tmp_path / "run")
    data = run.dataset()
    x = torch.from_numpy(data.x_test)
    with torch.no_grad():
        out = run.model(x)
        samples = run.model.sample(200, torch.Generator().manual_seed(0))
    x_hat, mu, logvar = out.x_hat.numpy(), out.extras["mu"], out.extras["logvar"]
    mse = float(((x_hat - data.x_test) ** 2).mean())
    mean_image = float(((data.x_train.mean(0) - data.x_test) ** 2).mean())
    assert mse < 0.6 * mean_image  # the full run: 0.016 against 0.074
    assert x_hat.std(0).mean() > 0.1  # reconstructions follow the input (collapse: ~0)
    kl = (0.5 * (mu.square() + logvar.exp() - 1 - logvar).sum(1)).mean().item()
    assert kl > 1.0  # the code carries information (30 epochs: 3.6; a fixed σ² = 1: 0.0002)
    assert 0.0 <= samples.min() and samples.max() <= 1.0
    assert samples.std(0).mean() > 0.05  # draws differ from one another
    log_var = run.model.objective_params["loss1_log_var"]
    assert log_var.shape == (64,) and log_var.max().item() < -0.5  # σ² learned below 1


@pytest.mark.parametrize("name", ["anomaly_fc", "vae_gaussian"])
def test_extension_specs_check_clean(name: str) -> None:
    result = aespec.check(SPECS / f"{name}.ae")
    assert result.ok and not [d for d in result.diagnostics if d.severity == "error"]
