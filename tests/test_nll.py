"""`aespec eval --nll K` against models whose likelihood is known exactly.

A linear-Gaussian model, x = W z + b + noise, z ~ N(0, I), noise ~ N(0, s2 I), has
p(x) = N(b, W W^T + s2 I).  Built through a spec (a linear decoder, a gaussian code, a
Gaussian likelihood of fixed variance) with W set by hand, the importance-sampled estimate
must find that value: exactly for every K when q(z|x) is the true posterior (the weights
are then constant), and from above, tightening as K grows, when q is off.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import aespec  # noqa: E402
from aespec.errors import AespecError  # noqa: E402
from aespec.train.batches import Split  # noqa: E402
from aespec.train.evaluate import importance_nll  # noqa: E402

W = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0], [1.0, 0.0]])  # W^T W = diag(2, 4)
B = torch.tensor([0.5, -1.0, 0.25, 0.0])


def _spec(tmp_path: Path, loss: str, decoder: str = "dense(4)"):
    path = tmp_path / "linear.ae"
    path.write_text("input vector(4)\nencoder {\n    dense(4)\n}\n"
                    f"bottleneck {{\n    gaussian(2)\n}}\ndecoder {{\n    {decoder}\n}}\n"
                    f"loss {loss}\n")
    return aespec.build(aespec.load(path))


def _linear_gaussian(model, s2: float, off: float = 0.0) -> None:
    """Decoder x̂ = W z + b; encoder the identity; q(z|x) the exact posterior, its mean
    scaled by (1 + off) and its log variance shifted by `off`."""
    var = 1 / (1 + torch.diag(W.T @ W) / s2)  # the posterior's (diagonal) variance
    a = (1 + off) * var[:, None] * W.T / s2  # mu = a (x - b)
    sd = model.state_dict()
    sd["net.encoder1.weight"], sd["net.encoder1.bias"] = torch.eye(4), torch.zeros(4)
    sd["net.bottleneck2.heads.weight"] = torch.cat([a, torch.zeros(2, 4)])
    sd["net.bottleneck2.heads.bias"] = torch.cat([-a @ B, var.log() + off])
    sd["net.decoder3.weight"], sd["net.decoder3.bias"] = W, B
    model.load_state_dict(sd)


def _exact_nll(x: torch.Tensor, s2: float) -> float:
    cov = (W @ W.T + s2 * torch.eye(4)).double()
    dist = torch.distributions.MultivariateNormal(B.double(), covariance_matrix=cov)
    return -dist.log_prob(x.double()).mean().item()


def _data(s2: float, n: int = 200) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    z = torch.randn(n, 2, generator=g)
    return z @ W.T + B + s2 ** 0.5 * torch.randn(n, 4, generator=g)


# each loss, read as a Gaussian likelihood, and the variance it means
READINGS = [("gaussian_nll(var=0.25)", 0.25), ("mse", 0.5), ("2 * mse", 0.25),
            ("mse(reduce=mean)", 2.0)]


@pytest.mark.parametrize(("loss", "s2"), READINGS)
def test_the_true_posterior_gives_the_exact_likelihood_at_every_k(tmp_path, loss, s2):
    model = _spec(tmp_path, loss)
    _linear_gaussian(model, s2)
    x = _data(s2)
    exact = _exact_nll(x, s2)
    for k in (1, 7):
        nll = importance_nll(model, Split(x, None), draws=k)
        assert nll.mean == pytest.approx(exact, abs=1e-4)


def test_the_estimate_tightens_with_k_to_the_exact_value(tmp_path):
    model = _spec(tmp_path, "gaussian_nll(var=0.25)")
    _linear_gaussian(model, 0.25, off=0.3)  # q(z|x): the mean and variance off by 30%
    x = _data(0.25)
    exact = _exact_nll(x, 0.25)  # 5.4352 nats
    found = [importance_nll(model, Split(x, None), draws=k).mean for k in (1, 10, 100, 5000)]
    assert found == sorted(found, reverse=True)  # 6.480, 5.625, 5.476, 5.433
    assert found[0] - exact > 1.0  # the ELBO: a nat loose
    assert found[-1] == pytest.approx(exact, abs=0.01)


def test_the_estimate_is_the_same_for_a_seed_and_changes_with_it(tmp_path):
    model = _spec(tmp_path, "gaussian_nll(var=0.25)")
    _linear_gaussian(model, 0.25, off=0.3)
    split = Split(_data(0.25, 30), None)
    first, again = (importance_nll(model, split, 50, seed=3) for _ in range(2))
    assert torch.equal(first.per_example, again.per_example)
    assert importance_nll(model, split, 50, seed=4).mean != first.mean


def test_a_bernoulli_decoder_matches_quadrature(tmp_path):
    """A 1-D code: p(x) = ∫ prod_i Bernoulli(x_i; sigmoid(w_i z + b_i)) N(z; 0, 1) dz on a grid."""
    path = tmp_path / "bernoulli.ae"
    path.write_text("input vector(3)\nencoder {\n    dense(3)\n}\nbottleneck {\n"
                    "    gaussian(1)\n}\ndecoder {\n    dense(3) sigmoid\n}\nloss bce\n")
    model = aespec.build(aespec.load(path))
    w, b = torch.tensor([[3.0], [-2.0], [0.5]]), torch.tensor([0.0, 1.0, -0.5])
    # q(z|x) = N(0, 1), the prior, whatever the encoder's random start: zero weights give
    # mu = 0 and log sigma^2 = 0, so the estimate does not hang on how good q happens to be
    sd = {k: torch.zeros_like(v) for k, v in model.state_dict().items()}
    sd["net.decoder3.weight"], sd["net.decoder3.bias"] = w, b
    model.load_state_dict(sd)
    x = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    z = torch.linspace(-10, 10, 200001, dtype=torch.float64)[:, None]
    logits = z @ w.double().T + b.double()  # (grid, 3)
    exact = []
    for row in x.double():
        log_lik = -torch.nn.functional.binary_cross_entropy_with_logits(
            logits, row.expand_as(logits), reduction="none").sum(1)
        log_joint = log_lik - 0.5 * z[:, 0] ** 2 - 0.5 * math.log(2 * math.pi)
        exact.append(-(torch.logsumexp(log_joint, 0) + math.log(20 / 200000)).item())
    nll = importance_nll(model, Split(x, None), draws=20000)
    assert nll.per_example.tolist() == pytest.approx(exact, abs=0.02)


@pytest.mark.parametrize(("loss", "words"), [
    ("huber", "huber is no log-likelihood"), ("0.5 * bce", "bce weighted 0.5"),
    ("mse + mae", "has 2")])
def test_a_loss_with_no_likelihood_is_refused(tmp_path, loss, words):
    model = _spec(tmp_path, loss, "dense(4) sigmoid")
    with pytest.raises(AespecError) as caught:
        importance_nll(model, Split(torch.zeros(2, 4), None), draws=2)
    assert caught.value.diagnostics[0].code == "E321"
    assert words in caught.value.diagnostics[0].message
