"""An adversarial autoencoder's training (issue 21): the two phases with three optimizers
(the autoencoder's, the encoder's adversarial step's, D's), exact resume, the report's
codes over the prior, the CLI's lines and the refusals. Tiny dense AAEs on the 8x8
digits; tests/test_specs_generative.py has the purpose test on Fashion-MNIST."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import aespec
from aespec.cli import app
from aespec.train.rundir import load_checkpoint
from tests.test_train import InterruptAt, losses

runner = CliRunner()

AAE = """\
model tiny_aae
data digits
input vector(64)
encoder {{
    dense(32) relu
}}
bottleneck {{
    dense(2)
}}
decoder {{
    dense(32) relu
    dense(64) sigmoid
}}
discriminator on code {{
    dense(16) leaky_relu(0.2)
    dense(1)
}}
loss bce + {game}
train {{
    epochs {epochs}
    batch 64
    seed 0
{train}
}}
"""


@pytest.fixture
def every_step(monkeypatch):
    """Report every step and checkpoint every epoch, so tests can stop anywhere."""
    from aespec.train import loop

    monkeypatch.setattr(loop, "REPORT_SECONDS", 0.0)
    monkeypatch.setattr(loop, "CHECKPOINT_SECONDS", 0.0)


def write_aae(tmp_path, game="adversarial(nonsaturating)", epochs=1, train=""):
    path = tmp_path / "aae.ae"
    path.write_text(AAE.format(game=game, epochs=epochs, train=train))
    return path


def run(spec, tmp_path, out="run", **kw):
    return aespec.train(spec, out=tmp_path / out, quiet=True, **kw)


@pytest.mark.parametrize("game", ["adversarial(nonsaturating)", "0.5 * adversarial(hinge)",
                                  "adversarial(wasserstein, gradient_penalty=10)"])
def test_every_network_moves_and_the_epoch_logs_the_game(tmp_path, game):
    spec = write_aae(tmp_path, game)
    before = aespec.build(aespec.load(spec))
    result = run(spec, tmp_path)
    assert result.status == "finished" and set(result.test) == {"loss", "bce"}
    terms = result.history[0]["train"]
    assert set(terms) == {"loss", "bce", "adversarial", "discriminator", "d_real", "d_fake"}
    assert all(np.isfinite(v) for v in terms.values())
    assert terms["loss"] == pytest.approx(terms["bce"])  # the autoencoder's objective
    old, new = before.state_dict(), result.model.state_dict()
    for prefix in ("net.", "discriminator."):
        assert any(not torch.equal(old[k], new[k]) for k in old if k.startswith(prefix))


def test_the_encoder_fools_d_with_its_own_optimizer_and_d_takes_k_steps(tmp_path):
    spec = write_aae(tmp_path, train="    optimizer adam(lr=1e-3)\n"
                     "    discriminator_optimizer sgd(lr=0.01)\n    discriminator_steps 2")
    run(spec, tmp_path)
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    steps = -(-1293 // 64)  # digits' training split in batches of 64
    rec, fool = state["optimizer"], state["optimizer_g"]
    assert {int(s["step"]) for s in rec["state"].values()} == {steps}
    # the adversarial step moves the encoder and bottleneck only: 2 weights and 2 biases
    assert {int(s["step"]) for s in fool["state"].values()} == {steps}
    assert len(fool["state"]) == 4 < len(rec["state"])
    assert state["optimizer_d"]["param_groups"][0]["lr"] == 0.01


@pytest.mark.parametrize("stop_at", [(2, 5), (1, 1)], ids=["mid-epoch", "first-step"])
def test_resume_continues_to_the_uninterrupted_result(tmp_path, every_step, stop_at):
    spec = write_aae(tmp_path, epochs=3, train="    schedule cosine")
    whole = run(spec, tmp_path, "whole")
    stopped = aespec.train(spec, out=tmp_path / "cut", progress=InterruptAt(*stop_at))
    assert stopped.status == "interrupted"
    resumed = aespec.train(resume=tmp_path / "cut", quiet=True)
    assert resumed.status == "finished"
    assert losses(resumed.history) == losses(whole.history)
    for a, b in zip(resumed.model.state_dict().values(), whole.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)


def test_the_report_draws_the_codes_over_the_prior_without_a_report_block(tmp_path):
    result = run(write_aae(tmp_path, epochs=2), tmp_path)
    item = json.loads((tmp_path / "run" / "report.json").read_text())["code_prior"]
    assert item["file"] == "report/code_prior.png" and item["dims"] == 2
    assert item["bandwidth"] == pytest.approx(2 ** 0.5) and 0 <= item["mmd"] < 2
    assert (tmp_path / "run" / item["file"]).stat().st_size > 10_000
    assert result.report["code_prior"]["mmd"] == item["mmd"]
    assert "code_prior" in (tmp_path / "run" / "report.html").read_text()


def test_a_larger_code_is_drawn_value_by_value(tmp_path):
    spec = write_aae(tmp_path)
    spec.write_text(spec.read_text().replace("dense(2)\n", "dense(5)\n"))
    run(spec, tmp_path)
    item = json.loads((tmp_path / "run" / "report.json").read_text())["code_prior"]
    assert item["dims"] == 5 and len(item["mean"]) == len(item["std"]) == 5


def test_the_mmd_is_near_zero_for_the_prior_and_grows_with_the_spread():
    from aespec.report.prior import mmd, prior_draws

    prior = prior_draws((1000, 2), 0)
    assert mmd(prior_draws((1000, 2), 1), prior) < 0.01
    assert mmd(4 * prior_draws((1000, 2), 1), prior) > 0.3


def test_cli_run_names_the_game_and_the_codes_distance(tmp_path):
    spec = write_aae(tmp_path)
    result = runner.invoke(app, ["run", str(spec), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "D(prior)" in result.output and "D(z)" in result.output  # the progress line
    assert "encoder's adversarial term" in result.output and "D(code)" in result.output
    assert "test codes against N(0, I): MMD²" in result.output
    fast = runner.invoke(app, ["run", str(spec), "--fast-dev-run"])
    assert fast.exit_code == 0 and "fast-dev-run ok" in fast.output, fast.output
    assert "code_prior" in fast.output



def test_bf16_trains_all_three_steps(tmp_path):
    result = run(write_aae(tmp_path, train="    precision bf16"), tmp_path)
    assert all(np.isfinite(v) for v in result.history[0]["train"].values())
