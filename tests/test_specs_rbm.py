"""The restricted Boltzmann machine (specs/rbm.ae, issue: rbm): trained by contrastive
divergence on the digits it does what an RBM is for, with margins for any seed (seeds
0, 1, 2 gave free energies of about -69 on data against -20 on Bernoulli(0.5) noise, a
test reconstruction error of 0.046 against the mean image's 0.074, and samples about
1.3-1.6 apart): data far below noise in free energy, a mean-field reconstruction well
under the mean image's error, samples that differ.  And the unit facts: the exact
parameter count, Gaussian visible units, persistent chains kept in the state."""

from __future__ import annotations

import pathlib
import tempfile

import numpy as np
import pytest
import torch

import aespec
from aespec.compile import compile_model
from aespec.data import load_data
from aespec.graph.frontend import check_source

SPEC = pathlib.Path(__file__).resolve().parent.parent / "specs" / "rbm.ae"
SOURCE = """input vector(12)
encoder {
}
bottleneck {
    rbm(5, visible=VISIBLE, k=2, persistent=true, steps=3)
}
decoder mirror
loss mse
"""


def _compiled(visible: str):
    result = check_source(SOURCE.replace("VISIBLE", visible), "rbm.ae")
    assert result.ok and result.ir is not None, result.diagnostics
    return result.ir, compile_model(result.ir, result.spec)


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_the_count_is_w_and_both_biases_and_samples_have_the_input_shape(visible):
    graph, model = _compiled(visible)
    assert graph.params == 12 * 5 + 5 + 12 == sum(p.numel() for p in model.parameters())
    x = torch.rand(4, 12)
    out = model.train()(x)
    assert set(out.terms) == {"mse", "cd"} and out.z.shape == (4, 5)
    out.loss.backward()  # CD alone reaches the weights: the reconstruction is measured
    assert model.net.bottleneck1.weight.grad is not None
    assert model.sample(3, generator=torch.Generator().manual_seed(0)).shape == (3, 12)
    assert set(model.eval()(x).measures) >= {"free_energy_data", "free_energy_noise"}


def test_persistent_chains_are_in_the_state_and_load_back():
    _, model = _compiled("bernoulli")
    model.train()(torch.rand(6, 12))
    chains = model.state_dict()["net.bottleneck1.chains"]
    assert chains.shape == (6, 12)
    _, fresh = _compiled("bernoulli")
    fresh.load_state_dict(model.state_dict())  # a checkpoint's chains, whatever their count
    assert torch.equal(fresh.state_dict()["net.bottleneck1.chains"], chains)


@pytest.mark.slow
def test_an_rbm_on_the_digits_models_the_data():
    torch.set_num_threads(1)
    out = pathlib.Path(tempfile.mkdtemp(prefix="spec-rbm-"))
    result = aespec.train(SPEC, out=out / "run", quiet=True)
    test = result.test
    assert test["free_energy_data"] < test["free_energy_noise"] - 20  # about -69 vs -20
    data = load_data("digits", {}, (64,))
    x_train, x_test = (torch.as_tensor(np.asarray(a)) for a in (data.x_train, data.x_test))
    model = result.model.eval()
    with torch.no_grad():
        x_hat = model.decode(model.encode(x_test))
        samples = model.sample(32, generator=torch.Generator().manual_seed(1))
    error = float((x_hat - x_test).square().mean())
    mean_image = float((x_train.mean(0) - x_test).square().mean())
    assert error < 0.8 * mean_image  # about 0.046 against 0.074
    assert float(torch.cdist(samples, samples).mean()) > 0.5  # about 1.3 to 1.6
    assert "samples" in result.report and "reconstructions" in result.report
