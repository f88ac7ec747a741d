"""A GAN's training (issue 21): alternating steps with two optimizers, every adversarial
game, WGAN's gradient penalty and clipping, exact resume, the sample strip, the sample
quality that picks best.pt, and the refusals. Tiny dense GANs on the 8x8 digits."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import aespec
from aespec.cli import app
from aespec.graph import check_source
from aespec.train import loop
from aespec.train.rundir import load_checkpoint
from tests.test_train import InterruptAt, losses

runner = CliRunner()

GAN = """\
model tiny_gan
data digits
input vector(64)
latent normal(8)
decoder {{
    dense(32) relu
    dense(64) sigmoid
}}
discriminator {{
    dense(32) leaky_relu(0.2)
    dense(1)
}}
loss adversarial({game})
train {{
    epochs {epochs}
    batch 64
    seed 0
{train}
}}
{report}
"""


@pytest.fixture
def every_step(monkeypatch):
    """Report every step and checkpoint every epoch, so tests can stop anywhere."""
    monkeypatch.setattr(loop, "REPORT_SECONDS", 0.0)
    monkeypatch.setattr(loop, "CHECKPOINT_SECONDS", 0.0)


def write_gan(tmp_path, game="nonsaturating", epochs=2, train="", report="", name="gan"):
    path = tmp_path / f"{name}.ae"
    path.write_text(GAN.format(game=game, epochs=epochs, train=train, report=report))
    return path


def run(spec, tmp_path, out="run", **kw):
    return aespec.train(spec, out=tmp_path / out, quiet=True, **kw)


@pytest.mark.parametrize("game", ["nonsaturating", "minimax", "wasserstein", "hinge",
                                  "least_squares", "wasserstein, gradient_penalty=10",
                                  "wasserstein, clip=0.01"])
def test_every_game_trains_both_networks(tmp_path, game):
    spec = write_gan(tmp_path, game, epochs=1)
    before = aespec.build(aespec.load(spec))
    result = run(spec, tmp_path)
    assert result.status == "finished" and result.test == {}
    terms = result.history[0]["train"]
    assert {"loss", "generator", "d_real", "d_fake"} <= set(terms)
    assert all(np.isfinite(v) for v in terms.values())
    assert ("wasserstein" in terms) == game.startswith("wasserstein")
    assert ("gradient_penalty" in terms) == ("gradient_penalty" in game)
    for net in ("generator", "discriminator"):  # both networks moved
        old = torch.cat([p.flatten() for p in getattr(before, net).parameters()])
        new = torch.cat([p.flatten() for p in getattr(result.model, net).parameters()])
        assert not torch.equal(old, new), net
    if "clip" in game:
        assert all(p.abs().max() <= 0.01 + 1e-7 for p in result.model.discriminator.parameters())


def test_each_network_has_its_own_optimizer_and_d_takes_k_steps(tmp_path):
    spec = write_gan(tmp_path, "wasserstein, gradient_penalty=10", epochs=1, train=(
        "    optimizer adam(lr=1e-3, betas=(0.5, 0.9))\n"
        "    discriminator_optimizer sgd(lr=0.01)\n    discriminator_steps 3"))
    run(spec, tmp_path)
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    g, d = state["optimizer"], state["optimizer_d"]
    assert g["param_groups"][0]["lr"] == 1e-3 and g["param_groups"][0]["betas"] == (0.5, 0.9)
    assert d["param_groups"][0]["lr"] == 0.01 and "betas" not in d["param_groups"][0]
    steps = -(-1293 // 64)  # digits' training split in batches of 64
    adam_steps = {int(s["step"]) for s in g["state"].values()}
    assert adam_steps == {steps}  # one generator step per batch


@pytest.mark.parametrize("stop_at", [(2, 5), (1, 1)], ids=["mid-epoch", "first-step"])
def test_resume_continues_to_the_uninterrupted_result(tmp_path, every_step, stop_at):
    spec = write_gan(tmp_path, "wasserstein, gradient_penalty=10", epochs=3,
                     train="    discriminator_steps 2\n    schedule cosine",
                     report="report {\n    sample_quality(n=200)\n}")
    whole = run(spec, tmp_path, "whole")
    stopped = aespec.train(spec, out=tmp_path / "cut", progress=InterruptAt(*stop_at))
    assert stopped.status == "interrupted"
    resumed = aespec.train(resume=tmp_path / "cut", quiet=True)
    assert resumed.status == "finished"
    assert losses(resumed.history) == losses(whole.history)
    strip = json.loads((tmp_path / "cut" / "report.json").read_text())["sample_strip"]
    assert strip["epochs"] == [1, 2, 3]
    for a, b in zip(resumed.model.state_dict().values(), whole.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)


def test_sample_quality_picks_best_pt_and_the_strip_has_a_row_per_epoch(tmp_path):
    spec = write_gan(tmp_path, epochs=3, train="    optimizer adam(lr=1e-3)",
                     report="report {\n    samples(n=16)\n    sample_quality(n=300)\n}")
    result = run(spec, tmp_path)
    fds = [r["val"]["frechet_distance"] for r in result.history]
    assert result.best_epoch == 1 + int(np.argmin(fds))
    assert load_checkpoint(tmp_path / "run" / "best.pt")["epoch"] == result.best_epoch
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["sample_strip"]["epochs"] == [1, 2, 3]
    assert report["sample_strip"]["n"] == 10
    assert (tmp_path / "run" / "report" / "sample_strip.png").stat().st_size > 1000
    assert report["samples"]["n"] == 16
    quality = report["sample_quality"]
    assert quality["samples"]["frechet_distance"] > quality["real_data"]["frechet_distance"]


def test_without_sample_quality_the_last_epoch_is_best(tmp_path):
    result = run(write_gan(tmp_path, epochs=2), tmp_path)
    assert result.best_epoch == 2 and all(r["val"] is None for r in result.history)
    assert all(r["best"] for r in result.history)


def test_a_gan_needs_sample_quality_to_stop_early():
    source = GAN.format(game="nonsaturating", epochs=2, report="",
                        train="    early_stop(patience=2)")
    result = check_source(source, "gan.ae")
    errors = [d for d in result.diagnostics if d.code.startswith("E")]
    assert [(d.code, d.span.line) for d in errors] == [("E217", 18)]
    assert "sample_quality" in errors[0].message
    ok = check_source(source + "report {\n    sample_quality\n}\n", "gan.ae")
    assert ok.ok, ok.diagnostics


def test_bf16_trains_and_the_memory_guard_reads_both_networks(tmp_path):
    result = run(write_gan(tmp_path, epochs=1, train="    precision bf16"), tmp_path)
    assert np.isfinite(result.history[0]["train"]["loss"])
    from aespec.graph import memory

    checked = check_source(GAN.format(game="nonsaturating", epochs=1, train="", report=""))
    need = memory.estimate(checked.spec, checked.ir)
    assert need.total > 4 * checked.ir.params  # weights, grads and two optimizers' moments


def test_cli_run_prints_both_losses_and_the_scores(tmp_path):
    spec = write_gan(tmp_path, epochs=1)
    result = runner.invoke(app, ["run", str(spec), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "D(x)" in result.output and "D(G(z))" in result.output
    assert "generator loss" in result.output and "a GAN has no validation loss" in result.output
    fast = runner.invoke(app, ["run", str(spec), "--fast-dev-run"])
    assert fast.exit_code == 0 and "fast-dev-run ok" in fast.output, fast.output
    assert "generator loss" in fast.output


CGAN = GAN.replace("latent normal(8)", "condition labels(10)\nlatent normal(8)").replace(
    "decoder {{\n", "decoder {{\n    concat(y)\n").replace(
    "discriminator {{\n", "discriminator {{\n    concat(y)\n")


def test_a_conditional_gan_reads_the_labels_in_both_networks(tmp_path):
    spec = tmp_path / "cgan.ae"
    spec.write_text(CGAN.format(game="nonsaturating", epochs=1, train="", report=(
        "report {\n    samples(n=20)\n    sample_quality(n=200)\n}")))
    graph = aespec.graph_of(aespec.load(spec))
    assert graph.nodes["decoder1"]["out_shape"] == (18,)  # z (8) and y (10)
    assert graph.nodes["discriminator6"]["out_shape"] == (74,)
    result = run(spec, tmp_path)
    model = result.model
    assert model.classes == 10
    one = torch.nn.functional.one_hot(torch.tensor([3, 3]), 10).float()
    z = torch.zeros(2, 8)
    assert torch.equal(model.decode(z, one), model.decode(z, one))
    assert not torch.equal(model.decode(z, one), model.decode(z, torch.roll(one, 1, 1)))
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["samples"] == {"file": "report/samples.png", "n": 20, "per_class": 2,
                                 "rows": "classes"}
    agreement = report["sample_quality"]["conditional"]
    assert len(agreement["per_class"]) == 10 and agreement["chance"] == 0.1


def test_a_vector_condition_is_tiled_over_an_image():
    source = CGAN.format(game="nonsaturating", epochs=1, train="", report="").replace(
        "input vector(64)", "input image(1, 8, 8)").replace(
        "dense(64) sigmoid", "dense(64) sigmoid\n    reshape(1, 8, 8)").replace(
        "    concat(y)\n    dense(32) leaky_relu", "    concat(y)\n    flatten\n"
        "    dense(32) leaky_relu")
    result = check_source(source, "cgan.ae")
    assert result.ok, result.diagnostics
    model = aespec.build(result.spec)
    x = torch.rand(3, 1, 8, 8)
    assert model.node_shapes(x)["discriminator7"] == (11, 8, 8)


@pytest.mark.parametrize(("data", "why"), [
    ('npy("x.npy")', "has none"), ("digits(normal=1)", "anomalies"),
    ('npz("x.npz")', "names no labels"), ("fashion_mnist", None)])
def test_a_condition_needs_labels_e318(data, why):
    source = CGAN.format(game="nonsaturating", epochs=1, train="", report="").replace(
        "data digits", f"data {data}")
    found = [d for d in check_source(source, "c.ae").diagnostics if d.code == "E318"]
    if why is None:
        assert not found
    else:
        assert [d.span.line for d in found] == [4] and why in found[0].message
    five = source.replace("labels(10)", "labels(5)")
    if why is None:
        assert [d.code for d in check_source(five).diagnostics if d.code == "E318"]


def test_a_condition_no_layer_joins_is_w420():
    source = GAN.format(game="nonsaturating", epochs=1, train="", report="").replace(
        "latent normal(8)", "condition labels(10)\nlatent normal(8)")
    assert [(d.code, d.span.line) for d in check_source(source).diagnostics] == [("W420", 4)]


def test_compare_of_gan_runs_says_why_it_shows_no_reconstructions(tmp_path):
    from aespec.train.loaded import compare_runs

    spec = write_gan(tmp_path, "wasserstein, gradient_penalty=10", epochs=1)
    for out in ("a", "b"):
        run(spec, tmp_path, out)
    page = compare_runs([tmp_path / "a", tmp_path / "b"])
    assert page.recon_png is None and "GAN" in page.recon_note
