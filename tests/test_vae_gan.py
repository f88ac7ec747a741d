"""A VAE-GAN (Larsen et al., 2016): an autoencoder whose `discriminator { ... }` (no `on
code`) judges examples, x against the decoder's reconstructions and decoded draws of the
prior. The language and its refusals, the IR and the counts, the alternating steps, exact
resume, the stack (check, draw, run, emit's refusal, fmt), and, on Fashion-MNIST, what it
is for: samples nearer the data and sharper than those of the same VAE without D."""

from __future__ import annotations

import functools
import json
import pathlib
import re
import tempfile

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import aespec
from aespec.cli import app
from aespec.errors import AespecError
from aespec.graph import check_source
from aespec.train import loop
from aespec.train.rundir import load_checkpoint
from tests.test_train import InterruptAt, losses

runner = CliRunner()
ROOT = pathlib.Path(__file__).resolve().parent.parent
FASHION = pathlib.Path("/usr/share/datasets/fashion-mnist")

VAE_GAN = """\
model tiny_vae_gan
data digits
input vector(64)
encoder {{
    dense(32) relu
}}
bottleneck {{
    {code}
}}
decoder {{
    dense(32) relu
    dense(64) sigmoid
}}
discriminator {{
    dense(16) leaky_relu(0.2)
    dense(1)
}}
loss {loss}
train {{
    epochs {epochs}
    batch 64
    seed 0
{train}
}}
{report}
"""


def source(code="gaussian(8)", loss="bce(reduce=sum) + 2 * adversarial(nonsaturating)",
           epochs=2, train="", report=""):
    return VAE_GAN.format(code=code, loss=loss, epochs=epochs, train=train, report=report)


def write(tmp_path, name="vg", **kw):
    path = tmp_path / f"{name}.ae"
    path.write_text(source(**kw))
    return path


def errors(text):
    return [(d.code, d.span.line if d.span else None, d.message)
            for d in check_source(text, "vg.ae").diagnostics if d.code.startswith("E")]


@pytest.fixture
def every_step(monkeypatch):
    monkeypatch.setattr(loop, "REPORT_SECONDS", 0.0)
    monkeypatch.setattr(loop, "CHECKPOINT_SECONDS", 0.0)


# ---------------------------------------------------------------- language and graph


def test_the_graph_holds_the_discriminator_of_examples_and_the_counts_are_torchs():
    result = check_source(source(), "vg.ae")
    assert result.ok, result.diagnostics
    g = result.ir
    assert g.is_vae_gan and result.spec.is_vae_gan and not result.spec.is_aae
    first = next(n for n in g.order if g.nodes[n].block == "discriminator")
    assert "input" in g.predecessors(first)
    fake = [(u, v) for (u, v), e in g.edges.items() if e.fake]
    assert fake == [(g.outputs["decoder"], first)]
    assert g.nodes["adversarial"].weight == 2.0
    # counted by hand: 2080 + 528 + 288 + 2112 autoencoder; 1040 + 17 discriminator
    assert g.networks == {"autoencoder": 5008, "discriminator": 1057}
    model = aespec.build(result.spec)
    assert sum(p.numel() for p in model.parameters()) == g.params == 6065
    assert sum(p.numel() for p in model.discriminator.parameters()) == 1057


def test_check_prints_the_discriminator_and_the_vae_gan_objective(tmp_path):
    result = runner.invoke(app, ["check", str(write(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "discriminator" in result.output and "6,065 (autoencoder 5,008, discriminator " \
        "1,057)" in result.output
    objective = next(line for line in result.output.splitlines() if "objective" in line)
    assert "KL(q(z|x)" in objective and "2.0·E[−log σ(D(x̃))]" in objective
    assert "D: min E[−log σ(D(x)) − log(1 − σ(D(x̃)))]" in objective
    assert "reconstructions x̂ and the decoded draws of N(0, I)" in objective


def test_without_an_adversarial_term_the_game_is_nonsaturating_with_weight_one():
    spec = check_source(source(loss="bce(reduce=sum)"), "vg.ae").spec
    assert spec.adversarial.kind == "nonsaturating" and spec.adversarial.weight == 1.0
    assert [t.call.op for t in spec.loss] == ["bce"]


@pytest.mark.parametrize(("kw", "line", "said"), [
    ({"code": "dense(8)"}, 14, "needs a stochastic latent"),
    ({"loss": "adversarial(nonsaturating)"}, 18, "needs a reconstruction term"),
    ({"train": "    pretrain layerwise(epochs=1)"}, 23, "pretraining"),
    ({"train": "    early_stop(patience=2)"}, 23, "sample_quality"),
])
def test_what_does_not_make_a_vae_gan_is_e217(kw, line, said):
    found = errors(source(**kw))
    assert [(c, n) for c, n, _ in found] == [("E217", line)], found
    assert said in found[0][2]


def test_early_stopping_with_sample_quality_checks():
    text = source(train="    early_stop(patience=2)", report="report {\n    sample_quality\n}")
    assert not errors(text)


def test_the_discriminator_must_end_in_one_logit_e317():
    text = source().replace("    dense(1)\n}\nloss", "    dense(2)\n}\nloss")
    assert [c for c, _, _ in errors(text)] == ["E317"]


# ---------------------------------------------------------------- training


def test_each_step_trains_both_networks_with_their_own_optimizers(tmp_path):
    spec = write(tmp_path, train="    discriminator_optimizer sgd(lr=0.01)\n"
                                 "    discriminator_steps 2")
    before = aespec.build(aespec.load(spec))
    result = aespec.train(spec, out=tmp_path / "run", quiet=True)
    terms = result.history[-1]["train"]
    assert list(terms) == ["loss", "bce", "kl", "adversarial", "discriminator", "d_real",
                           "d_recon", "d_sample"]
    assert all(np.isfinite(v) for v in terms.values())
    assert 0 < terms["d_recon"] < 1 and 0 < terms["d_sample"] < 1
    assert set(result.test) == {"loss", "bce", "kl"}  # the VAE's objective
    assert set(result.history[-1]["val"]) == {"loss", "bce", "kl"}
    for part in ("net", "discriminator"):
        old = torch.cat([p.flatten() for p in getattr(before, part).parameters()])
        new = torch.cat([p.flatten() for p in getattr(result.model, part).parameters()])
        assert not torch.equal(old, new), part
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    d = state["optimizer_d"]["param_groups"][0]
    assert d["lr"] == 0.01 and len(d["params"]) == 4  # D's two weights and two biases
    assert len(state["optimizer"]["param_groups"][0]["params"]) == 8  # the VAE's
    assert result.best_epoch == 2  # without sample_quality the last epoch is best


@pytest.mark.parametrize("stop_at", [(2, 5), (1, 1)], ids=["mid-epoch", "first-step"])
def test_resume_continues_to_the_uninterrupted_result(tmp_path, every_step, stop_at):
    spec = write(tmp_path, epochs=3, train="    schedule cosine",
                 loss="bce(reduce=sum) + adversarial(wasserstein, gradient_penalty=10)",
                 report="report {\n    sample_quality(n=200)\n}")
    whole = aespec.train(spec, out=tmp_path / "whole", quiet=True)
    stopped = aespec.train(spec, out=tmp_path / "cut", progress=InterruptAt(*stop_at))
    assert stopped.status == "interrupted"
    resumed = aespec.train(resume=tmp_path / "cut", quiet=True)
    assert resumed.status == "finished"
    assert losses(resumed.history) == losses(whole.history)
    for a, b in zip(resumed.model.state_dict().values(), whole.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
    fds = [r["val"]["frechet_distance"] for r in whole.history]
    assert whole.best_epoch == 1 + int(np.argmin(fds))  # the samples pick the best epoch
    report = json.loads((tmp_path / "cut" / "report.json").read_text())
    assert report["sample_strip"]["epochs"] == [1, 2, 3]
    assert "frechet_distance" in report["sample_quality"]["samples"]


def test_cli_run_names_the_game_and_fast_dev_run_works(tmp_path):
    spec = write(tmp_path, epochs=1, report="report {\n    samples(n=16)\n}")
    result = runner.invoke(app, ["run", str(spec), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "the game at epoch 1: discriminator loss" in result.output
    for said in ("D(x)", "D(x̂)", "D(Dec(z))", "decoder's adversarial term"):
        assert said in result.output, said
    from aespec.train.progress import epoch_line

    line = epoch_line(json.loads((tmp_path / "r" / "metrics.jsonl").read_text()), 1)
    assert re.search(r"val [\d.]+  D [\d.]+  D\(x\) [\d.]+  D\(x̂\) [\d.]+  D\(Dec\(z\)\)",
                     line), line
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["samples"]["n"] == 16 and report["sample_strip"]["epochs"] == [1]
    fast = runner.invoke(app, ["run", str(spec), "--fast-dev-run"])
    assert fast.exit_code == 0 and "fast-dev-run ok" in fast.output, fast.output


def test_a_sweep_refuses_batching(tmp_path):
    spec = write(tmp_path)
    result = runner.invoke(app, ["sweep", str(spec), "--set", "train.seed=0,1", "--out",
                                 str(tmp_path / "s"), "--batched", "on"])
    assert result.exit_code != 0 and "a discriminator trains two networks in turn" in \
        result.output, result.output


# ---------------------------------------------------------------- draw, emit, fmt


def test_draw_shows_the_discriminator_reading_x_and_the_fakes():
    from aespec.draw.dot import to_dot

    checked = check_source(source(), "vg.ae")
    dot = to_dot(checked.ir, checked.spec)
    assert '"input" -> "discriminator' in dot
    assert re.search(r'"decoder\d+" -> "discriminator\d+" \[label=" ?x̃ = x̂, Dec\(z ~ N\(0, '
                     r'I\)\)', dot), dot
    assert '"adversarial"' in dot and "D(x), D(x̃)" in dot


def test_emit_refuses_a_vae_gan_with_e316():
    from aespec.emit.source import emit_source

    checked = check_source(source(), "vg.ae")
    with pytest.raises(AespecError) as info:
        emit_source(checked.ir, checked.spec)
    assert info.value.diagnostics[0].code == "E316"
    assert "VAE-GAN" in info.value.diagnostics[0].message


def test_the_library_spec_checks_and_fmt_is_idempotent_on_it():
    from aespec.parse.fmt import format_source

    text = (ROOT / "specs" / "vae_gan.ae").read_text(encoding="utf-8")
    assert format_source(text) == text
    result = aespec.check(ROOT / "specs" / "vae_gan.ae")
    assert not result.diagnostics and result.spec.is_vae_gan
    assert result.spec.adversarial.weight == 20


# ---------------------------------------------------------------- what it is for


def twin(text: str) -> str:
    """The same VAE without its discriminator, its adversarial term and D's optimizer."""
    text = re.sub(r"discriminator \{.*?\n\}\n", "", text, flags=re.S)
    text = re.sub(r" \+ \w+ \* adversarial\(\w+\)", "", text)
    return re.sub(r"\n *discriminator_optimizer [^\n]*", "", text)


def test_the_twin_is_the_same_vae():
    text = (ROOT / "specs" / "vae_gan.ae").read_text(encoding="utf-8")
    vae, vae_gan = (check_source(t, "s.ae") for t in (twin(text), text))
    assert vae.ok and not vae.spec.discriminator and vae.spec.adversarial is None
    assert vae.ir.params == vae_gan.ir.networks["autoencoder"]
    assert vae.spec.train == vae_gan.spec.train.model_copy(
        update={"discriminator_optimizer": None})


def sharpness(x: np.ndarray) -> float:
    """Mean gradient magnitude of images (N, 1, 28, 28): blur lowers it."""
    x = x.reshape(-1, 28, 28).astype(np.float64)
    gx, gy = np.diff(x, axis=2)[:, :-1, :], np.diff(x, axis=1)[:, :, :-1]
    return float(np.sqrt(gx ** 2 + gy ** 2).mean())


# runs/bench, seeds 0-2 of these settings (limit=6000, 8 epochs; FD in the classifier of
# the whole training set): VAE-GAN FD 72, 67, 65 against the twin's 128, 97, 102;
# sharpness 0.067, 0.069, 0.073 against 0.046, 0.049, 0.050 (the data's 0.136);
# reconstruction MSE 0.029, 0.028, 0.030 against 0.029, 0.026, 0.028 (mean image 0.086)
PURPOSE = ("fashion_mnist(limit=6000)", 8)


@functools.cache
def purpose_runs() -> dict:
    """specs/vae_gan.ae and its twin, shortened alike, last epochs (no sample_quality:
    equal epochs), measured on the test split: samples' FD, sharpness, reconstruction."""
    from aespec.report import quality

    torch.set_num_threads(1)
    data, epochs = PURPOSE
    text = (ROOT / "specs" / "vae_gan.ae").read_text(encoding="utf-8")
    text = text.replace("    sample_quality ", "    # sample_quality ")
    out, found = pathlib.Path(tempfile.mkdtemp(prefix="vae-gan-")), {}
    for name, spec in (("vae_gan", text), ("vae", twin(text))):
        (out / f"{name}.ae").write_text(spec)
        result = aespec.train(out / f"{name}.ae", epochs=epochs, data=data, quiet=True,
                              out=out / name, report=False)
        ds = aespec.train.load_run(result.run_dir).dataset()
        x = np.asarray(ds.x_test[:2000], np.float32)
        clf = quality.reference_classifier(ds.description, ds.x_train, ds.labels_train,
                                           ds.x_test, ds.labels_test)
        model = result.model.cpu().eval()
        with torch.no_grad():
            drawn = model.sample(2000, generator=torch.Generator().manual_seed(0)).numpy()
            rec = model.decode(model.encode(torch.from_numpy(x))).numpy()
        found[name] = {"fd": quality.frechet_distance(quality.features(clf, x),
                                                      quality.features(clf, drawn)),
                       "sharpness": sharpness(drawn), "data_sharpness": sharpness(x),
                       "mse": float(((rec - x) ** 2).mean()),
                       "mean_mse": float(((x.mean(0) - x) ** 2).mean())}
    return found


@pytest.mark.slow
@pytest.mark.skipif(not FASHION.exists(), reason="Fashion-MNIST is not installed "
                    "(apt-get install dataset-fashion-mnist)")
def test_samples_are_nearer_the_data_and_sharper_than_the_same_vaes():
    found = purpose_runs()
    gan, vae = found["vae_gan"], found["vae"]
    assert gan["fd"] < 0.85 * vae["fd"], found
    real = gan["data_sharpness"]
    assert abs(gan["sharpness"] - real) < abs(vae["sharpness"] - real) - 0.01, found
    assert gan["mse"] < 0.5 * gan["mean_mse"], found  # it still reconstructs each input


def test_a_conditional_vae_gan_reads_the_labels_in_both_networks(tmp_path):
    text = source(epochs=1).replace("input vector(64)\n", "input vector(64)\n"
                                    "condition labels(10)\n").replace(
        "discriminator {\n", "discriminator {\n    concat(y)\n").replace(
        "decoder {\n", "decoder {\n    concat(y)\n")
    (tmp_path / "cvg.ae").write_text(text)
    result = aespec.train(tmp_path / "cvg.ae", out=tmp_path / "run", quiet=True)
    assert result.model.classes == 10
    assert all(np.isfinite(v) for v in result.history[0]["train"].values())
