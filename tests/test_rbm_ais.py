"""An rbm's log-likelihood by annealed importance sampling (aespec.train.ais), against
RBMs small enough that log Z is exact: by enumerating the visible states (Bernoulli
units) or the hidden states with each one's Gaussian integral in closed form (Gaussian
units); and `aespec eval --nll K` on a trained rbm, where it is F(v) + log Z."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

from aespec.cli import app  # noqa: E402
from aespec.ops.modules import RBM  # noqa: E402
from aespec.train.ais import exact_log_partition, log_partition  # noqa: E402

RUN_SPEC = """\
model tiny_rbm "a small RBM on 8x8 digits"
data digits
input vector(64)
encoder {
}
bottleneck {
    rbm(16, visible=VISIBLE)
}
decoder mirror
loss LOSS
train {
    epochs 2
    batch 64
    optimizer sgd(lr=0.05, momentum=0.5)
}
"""


def _tiny(visible: str, scale: float, seed: int = 1) -> RBM:
    """8 visible and 4 hidden units, weights of sd `scale`: strongly coupled, far from the
    base model."""
    torch.manual_seed(seed)
    rbm = RBM(8, 4, visible, 1, False, 10)
    with torch.no_grad():
        rbm.weight.normal_(0, scale)
        rbm.hidden_bias.normal_(0, 1)
        rbm.visible_bias.normal_(0, 1)
    return rbm


def _energy(rbm: RBM, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    w, c, b = (p.detach().double() for p in (rbm.weight, rbm.hidden_bias, rbm.visible_bias))
    visible = 0.5 * (v - b).square().sum(-1) if rbm.gaussian else -(v * b).sum(-1)
    return visible - (h * c).sum(-1) - ((h @ w) * v).sum(-1)


def _states(n: int) -> torch.Tensor:
    return ((torch.arange(2 ** n).unsqueeze(1) >> torch.arange(n)) & 1).double()


def test_the_exact_bernoulli_partition_is_the_sum_over_every_joint_state():
    rbm = _tiny("bernoulli", 1.5)
    v, h = _states(8), _states(4)
    energies = _energy(rbm, v[:, None, :], h[None, :, :])  # (256, 16)
    assert exact_log_partition(rbm) == pytest.approx(torch.logsumexp(-energies.flatten(), 0)
                                                     .item(), abs=1e-9)


def test_the_exact_gaussian_partition_is_the_integral_over_v():
    """One visible unit: the closed form against the integral on a fine grid."""
    torch.manual_seed(0)
    rbm = RBM(1, 3, "gaussian", 1, False, 10)
    with torch.no_grad():
        rbm.weight.normal_(0, 1)
        rbm.hidden_bias.normal_(0, 1)
        rbm.visible_bias.fill_(0.3)
    grid = torch.linspace(-30, 30, 200_001, dtype=torch.float64)
    energies = _energy(rbm, grid[:, None, None], _states(3)[None, :, :])  # (G, 8)
    density = torch.exp(torch.logsumexp(-energies, 1))
    integral = torch.trapezoid(density, grid).log().item()
    assert exact_log_partition(rbm) == pytest.approx(integral, abs=1e-6)


@pytest.mark.parametrize(("visible", "scale"), [("bernoulli", 2.0), ("gaussian", 0.6)])
def test_ais_finds_the_exact_log_partition(visible, scale):
    """Seeds 0-5 of 200 chains of 2,000 steps land within 0.016 of log Z (18.8 and 14.0
    here; the standard error about 0.006); the base model has made-up data means."""
    rbm = _tiny(visible, scale)
    exact = exact_log_partition(rbm)
    mean = torch.rand(8, generator=torch.Generator().manual_seed(3))
    for seed in range(3):
        found = log_partition(rbm, mean, chains=200, betas=2000, seed=seed)
        assert found.log_z == pytest.approx(exact, abs=0.05)
        assert 0 < found.se < 0.05
    again = log_partition(rbm, mean, chains=200, betas=2000, seed=2)
    assert again == found  # a seed gives the same figure


def _run(tmp_path: Path, visible: str, loss: str) -> Path:
    runner = CliRunner()
    (tmp_path / "rbm.ae").write_text(RUN_SPEC.replace("VISIBLE", visible).replace("LOSS", loss))
    result = runner.invoke(app, ["run", str(tmp_path / "rbm.ae"), "--out",
                                 str(tmp_path / "r"), "-q"])
    assert result.exit_code == 0, result.output
    return tmp_path / "r"


@pytest.mark.parametrize(("visible", "loss"), [("bernoulli", "bce"), ("gaussian", "mse")])
def test_eval_nll_of_an_rbm_is_free_energy_plus_ais_log_z(tmp_path, visible, loss):
    import aespec

    run = _run(tmp_path, visible, loss)
    result = CliRunner().invoke(app, ["eval", str(run), "--json", "--nll", "50",
                                      "--betas", "1000"])
    assert result.exit_code == 0, result.output
    nll = json.loads(result.output)["nll"]
    assert nll["method"] == "ais" and nll["draws"] == 50 and nll["betas"] == 1000
    loaded = aespec.train.load_run(run)
    rbm = loaded.model.net.bottleneck1
    x = loaded.data(None).test.x.flatten(1)
    with torch.no_grad():
        free = rbm.free_energy(x).double().mean().item()
    assert nll["nats"] == pytest.approx(free + nll["log_z"], abs=1e-4)
    assert math.isfinite(nll["nats"]) and nll["se"] > 0 and nll["log_z_se"] < 0.05
    text = CliRunner().invoke(app, ["eval", str(run), "--nll", "20", "--betas", "200"])
    assert "log Z by AIS with K=20 chains of 200 steps (seed 0)" in text.output
