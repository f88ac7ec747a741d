"""GAN specs (issue 21, part 1): the language (`latent`, `discriminator`, `loss
adversarial(...)`, the discriminator's train keys), the check (both networks' shapes and
parameters, E317, W413-W415, E217), the compiled networks, `aespec emit` of one, and
their sweeps. Their training: tests/test_gan_train.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aespec.cli import app
from aespec.codes import CODES
from aespec.graph.frontend import check_source
from aespec.parse.fmt import format_source

ROOT = Path(__file__).resolve().parents[1]
VALID = ROOT / "tests" / "conformance_extra" / "valid"
runner = CliRunner()

GAN = """input vector(64)
latent normal(8)
decoder {
    dense(32) relu
    dense(64) sigmoid
}
discriminator {
    dense(32) leaky_relu(0.2)
    dense(1)
}
loss adversarial(nonsaturating)
"""


def codes(source: str) -> list[str]:
    """The codes of a check, but W440 (no data line): most specs here are only shapes."""
    return [d.code for d in check_source(source, "gan.ae").diagnostics if d.code != "W440"]


def test_both_networks_counted_as_torch_counts_them():
    """The conformance DCGAN built by hand in torch: each network's count is aespec's."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    generator = nn.Sequential(
        nn.Linear(100, 6272), nn.ReLU(), nn.Unflatten(1, (128, 7, 7)),
        nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, stride=2, padding=1), nn.Sigmoid())
    discriminator = nn.Sequential(
        nn.Conv2d(1, 64, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, stride=2, padding=1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(6272, 1))
    fake = generator(torch.randn(2, 100))
    assert fake.shape == (2, 1, 28, 28) and discriminator(fake).shape == (2, 1)
    result = check_source((VALID / "gan_dcgan.ae").read_text(), "gan_dcgan.ae")
    model = result.to_json()["model"]

    def count(m):
        return sum(p.numel() for p in m.parameters())

    assert model["networks"] == {"generator": count(generator),
                                 "discriminator": count(discriminator)}
    assert model["params"] == count(generator) + count(discriminator)
    assert model["z"] == [100] and model["output"] == [1, 28, 28]


def test_the_ir_holds_both_networks_and_the_fake_path():
    g = check_source(GAN).ir
    assert g is not None
    nets = {n: d.network for n, d in g.nodes.items()}
    assert nets["z"] == "generator" and nets["input"] == "discriminator"
    assert {nets[n] for n in g.order if g.nodes[n].block == "decoder"} == {"generator"}
    assert {nets[n] for n in g.order if g.nodes[n].block == "discriminator"} == {
        "discriminator"}
    first = next(n for n in g.order if g.nodes[n].block == "discriminator")
    fake = [(u, v) for (u, v), e in g.edges.items() if e.fake]
    assert fake == [(g.outputs["decoder"], first)]
    assert g.predecessors(first) == ["input", g.outputs["decoder"]]
    assert g.nodes["adversarial"].in_shape == (1,)
    assert g.networks == {"generator": 8*32 + 32 + 32*64 + 64,
                          "discriminator": 64*32 + 32 + 32 + 1}


def test_check_prints_each_network_and_the_game():
    result = runner.invoke(app, ["check", str(VALID / "gan_dcgan.ae")])
    assert result.exit_code == 0, result.output
    assert "discriminator" in result.output
    assert "parameters: 904,578 (generator 765,761, discriminator 138,817)" in result.output
    assert "G: min E[−log σ(D(G(z)))]" in result.output


@pytest.mark.parametrize("kind", ["nonsaturating", "minimax", "wasserstein", "hinge",
                                  "least_squares"])
def test_every_adversarial_loss_checks(kind):
    result = check_source(GAN.replace("nonsaturating", kind))
    assert result.ok and result.spec is not None and result.spec.adversarial is not None
    assert result.spec.adversarial.kind == kind


def test_without_a_loss_line_a_gan_plays_the_nonsaturating_game():
    spec = check_source(GAN.replace("loss adversarial(nonsaturating)\n", "")).spec
    assert spec is not None and spec.adversarial is not None
    assert spec.adversarial.kind == "nonsaturating" and spec.loss == []


@pytest.mark.parametrize(("source", "code"), [
    (GAN.replace("dense(1)\n", "dense(1) sigmoid\n"), "W414"),
    ("data digits\n" + GAN.replace("dense(64) sigmoid", "dense(64) tanh"), "W415"),
    (GAN.replace("input vector(64)", "input image(1, 8, 8)")
     .replace("dense(64) sigmoid", "dense(64) sigmoid\n    reshape(1, 8, 8)")
     .replace("dense(32) leaky_relu(0.2)\n", "conv(8) leaky_relu(0.2)\n    avgpool(2)\n"),
     "W413"),
])
def test_dcgan_guidelines_warn(source, code):
    assert codes(source) == [code]


def test_the_guidelines_are_quiet_on_a_dcgan():
    assert codes((VALID / "gan_dcgan.ae").read_text()) == []
    # a tanh output is right where the data's range is not known to be [0, 1]
    assert codes(GAN.replace("dense(64) sigmoid", "dense(64) tanh")) == []


@pytest.mark.parametrize(("source", "line"), [
    (GAN.replace("loss adversarial(nonsaturating)", "loss mse"), 11),
    (GAN.replace("loss adversarial(nonsaturating)", "loss adversarial + mse"), 11),
    (GAN + "regularize l2(1e-4)\n", 12),
    (GAN + "noise gaussian(0.1)\n", 12),
    (GAN + "report {\n    samples\n    reconstructions\n}\n", 14),
    (GAN.replace("latent normal(8)\n", ""), 6),  # a discriminator without latent
    (GAN.replace("latent normal(8)\ndecoder {\n    dense(32) relu\n    dense(64) sigmoid\n}",
                 "latent normal(8)\ndecoder mirror"), 3),
    ("input vector(64)\nencoder {\n    dense(8)\n}\nbottleneck {\n    dense(4)\n}\n"
     "decoder {\n    dense(64)\n}\ntrain {\n    discriminator_steps 2\n}\n", 12),
])
def test_parts_that_do_not_make_one_model_are_e217(source, line):
    result = check_source(source, "gan.ae")
    assert ("E217", line) in [(d.code, d.span.line) for d in result.diagnostics
                              if d.span is not None], result.diagnostics


def test_a_gan_needs_a_discriminator():
    source = GAN.split("discriminator {")[0] + "loss adversarial(hinge)\n"
    assert [d.code for d in check_source(source).diagnostics] == ["E207"]


def test_a_discriminator_holds_encoder_layers_only():
    result = check_source(GAN.replace("dense(1)\n", "gaussian(4)\n    dense(1)\n"))
    assert [d.code for d in result.diagnostics] == ["E208"]


def test_a_discriminator_cannot_join_a_generator_tensor():
    source = GAN.replace("    dense(32) relu\n", "    h = dense(32) relu\n").replace(
        "dense(32) leaky_relu(0.2)\n", "dense(32) leaky_relu(0.2)\n    add(h)\n")
    assert codes(source) == ["E205"]


def test_an_autoencoder_means_what_it_meant():
    """The new fields stay out of an autoencoder's meaning: its runs keep their identity."""
    spec = check_source(CODES["E301"].example.replace("dense(60)", "dense(64)")).spec
    assert spec is not None and not spec.is_adversarial
    meaning = spec.semantic()
    assert not {"latent", "discriminator", "adversarial"} & set(meaning)
    assert not {"discriminator_optimizer", "discriminator_steps"} & set(meaning["train"])


@pytest.mark.parametrize("path", sorted(VALID.glob("gan_*.ae")), ids=lambda p: p.name)
def test_fmt_is_idempotent_and_keeps_the_meaning(path):
    source = path.read_text()
    once = format_source(source)
    assert format_source(once) == once
    before, after = check_source(source).to_json(), check_source(once).to_json()
    assert before["model"] == after["model"] and before["diagnostics"] == after["diagnostics"]


def test_emit_writes_a_gan(tmp_path):
    """A GAN's file holds both networks (tests/test_emit_gan.py checks what they compute,
    tests/test_emit_conditional.py a conditional autoencoder's file)."""
    spec = tmp_path / "gan.ae"
    spec.write_text(GAN)
    result = runner.invoke(app, ["emit", str(spec)])
    assert result.exit_code == 0, result.output
    assert "class Generator(nn.Module):" in result.output
    assert "class Discriminator(nn.Module):" in result.output


@pytest.mark.parametrize("detail", ["ops", "blocks"])
def test_draw_shows_both_networks_and_the_fake_path(detail, tmp_path):
    out = tmp_path / "gan.dot"
    result = runner.invoke(app, ["draw", str(VALID / "gan_dcgan.ae"), "-o", str(out),
                                 "--detail", detail])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    if detail == "ops":
        assert '"cluster_discriminator"' in text and '"cluster_decoder"' in text
        assert "<B>generator</B> (decoder)" in text
    fake = [line for line in text.splitlines() if "label=\" G(z)" in line]
    assert len(fake) == 1 and "dashed" in fake[0]
    assert '-> "adversarial"' in text and "D: min E[" in text
    assert "(generator 765,761, discriminator 138,817)" in text


def test_build_gives_both_networks_with_the_checked_counts():
    pytest.importorskip("torch")
    import aespec

    spec = check_source(GAN, "gan.ae").spec
    model = aespec.build(spec)
    graph = aespec.graph_of(spec)
    assert sum(p.numel() for p in model.generator.parameters()) == \
        graph.graph["networks"]["generator"]
    assert sum(p.numel() for p in model.discriminator.parameters()) == \
        graph.graph["networks"]["discriminator"]


def test_betas_reach_torch_and_the_emitted_file():
    torch = pytest.importorskip("torch")
    from aespec.ops.optimizers import OPTIMIZERS

    spec = check_source(CODES["E301"].example.replace("dense(60)", "dense(64)")
                        + "train {\n    optimizer adamw(lr=2e-4, betas=(0.5, 0.999))\n}\n"
                        ).spec
    assert spec is not None
    entry = OPTIMIZERS["adamw"]
    kwargs = entry.kwargs(spec.train.optimizer.args)
    opt = getattr(torch.optim, entry.torch_name)([torch.zeros(1, requires_grad=True)],
                                                 **kwargs)
    assert opt.param_groups[0]["betas"] == (0.5, 0.999)
    assert entry.written_kwargs(spec.train.optimizer.args)["betas"] == (0.5, 0.999)
    assert "betas" not in OPTIMIZERS["adam"].written_kwargs(OPTIMIZERS["adam"].args())


def test_betas_out_of_range_are_e203():
    source = GAN + "train {\n    optimizer adam(betas=(0.5, 1.0))\n}\n"
    assert codes(source) == ["E203"]


def test_check_json_names_each_network():
    result = runner.invoke(app, ["check", "--json", str(VALID / "gan_dense.ae")])
    model = json.loads(result.stdout)["model"]
    assert model["networks"] == {"generator": 10432, "discriminator": 8449}


def test_default_betas_stay_out_of_a_runs_meaning():
    """A run made before adam took betas resumes: its recorded optimizer arguments are
    those of today's spec at torch's default betas."""
    plain = CODES["E301"].example.replace("dense(60)", "dense(64)")
    spec = check_source(plain).spec
    assert spec is not None
    assert spec.semantic()["train"]["optimizer"]["args"] == {"lr": 0.001, "weight_decay": 0.0}
    dcgan = check_source(plain + "train {\n    optimizer adam(betas=(0.5, 0.999))\n}\n").spec
    assert dcgan is not None
    assert dcgan.semantic()["train"]["optimizer"]["args"]["betas"] == [0.5, 0.999]


def test_a_discriminator_learning_rate_far_too_high_is_w409():
    source = GAN + "train {\n    discriminator_optimizer adam(lr=5)\n}\n"
    result = check_source(source)
    found = [(d.code, d.span.line) for d in result.diagnostics if d.code != "W440"]
    assert found == [("W409", 13)]


def test_the_editor_completes_the_new_statements():
    from aespec.lsp.complete import complete
    from aespec.lsp.document import analyse

    assert [i.label for i in complete(analyse("input vector(4)\nlatent \n"), 1, 7)] == [
        "normal"]
    assert "adversarial" in [i.label for i in complete(analyse("loss \n"), 0, 5)]
    top = [i.label for i in complete(analyse("\n"), 0, 0)]
    assert "latent" in top and "discriminator" in top


def test_the_adversarial_losses_are_in_the_reference():
    from aespec.cli.reference import render_ops

    text = render_ops()
    assert all(f"| `{kind}` |" in text for kind in ("nonsaturating", "minimax", "wasserstein",
                                                     "hinge", "least_squares"))


QUALITY = "report {\n    sample_quality(n=200)\n}\n"


@pytest.mark.slow
@pytest.mark.parametrize(("report", "metric"), [("", "train.generator"),
                                                (QUALITY, "val.frechet_distance")],
                         ids=["losses", "sample_quality"])
def test_a_sweep_trains_each_gan_point_alone_and_compares_them_by_the_gan_metric(
        tmp_path, report, metric):
    spec = tmp_path / "gan.ae"
    spec.write_text("model tiny_gan\ndata digits\n" + GAN
                    + "train {\n    epochs 1\n    batch 64\n}\n" + report)
    out = tmp_path / "sweep"
    result = runner.invoke(app, ["sweep", str(spec), "--set", "train.seed=0,1", "--jobs", "1",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"note: metric: {metric}," in result.output
    assert ("add `sample_quality`" in result.output) == (metric == "train.generator")
    assert f"[2/2] train.seed=1: {metric} " in result.output and "batched:" not in result.output
    record = json.loads((out / "sweep.json").read_text())
    assert record["metric"] == metric and record["groups"] == []
    part, _, term = metric.partition(".")
    values = [p[part][term] for p in record["points"]]
    assert [p["status"] for p in record["points"]] == ["finished", "finished"]
    assert not any(p["batched"] for p in record["points"])
    assert all(p["test"] == {} for p in record["points"]) and values[0] != values[1]
    table = (out / "sweep.md").read_text()
    assert f"| train.seed | status | {metric} |" in table and "test.loss" not in table
    assert "the discriminator's loss" in table
    assert (out / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    page = (out / "compare.html").read_text()
    assert "generator loss (train.generator)" in page and "reconstructs no example" in page


def test_a_gan_sweep_refuses_batching_and_a_test_metric_before_any_point_runs(tmp_path):
    spec = tmp_path / "gan.ae"
    spec.write_text("model tiny_gan\ndata digits\n" + GAN)
    for extra, said in ((["--batched", "on"], "a discriminator trains two networks in turn"),
                        (["--metric", "test.loss"], "a GAN has no test loss"),
                        (["--metric", "val.frechet_distance"], "sample_quality")):
        result = runner.invoke(app, ["sweep", str(spec), "--set", "train.seed=0,1", "--out",
                                     str(tmp_path / "sweep"), *extra])
        assert result.exit_code == 1 and said in result.output, result.output
        assert not (tmp_path / "sweep").exists()


@pytest.mark.parametrize(("latent", "code"), [
    ("latent gaussian(8)", "E201"), ("latent normal(0)", "E203"),
    ("latent normal(8) relu", "E203"), ("latent normal(8, 2)", "E202")])
def test_a_bad_latent_line_is_located(latent, code):
    result = check_source(GAN.replace("latent normal(8)", latent))
    assert [(d.code, d.span.line) for d in result.diagnostics] == [(code, 2)]
