"""Weights written as schedules (`beta=warmup(epochs=10)`), gradient clipping and norms,
and the active units of a stochastic latent: the language, the checks, the compiled
objective, the loop (records, exact resume), emit, sweeps and the editor.

Tiny models on the 8x8 digits: each run well under a few seconds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from test_emit import _batch, _close, _load
from test_train import InterruptAt, losses

import aespec
from aespec.compile import compile_model
from aespec.emit import emit_source
from aespec.emit.module import class_name
from aespec.graph.frontend import check_source
from aespec.graph.summary import objective_text
from aespec.lsp.complete import complete
from aespec.lsp.document import analyse
from aespec.model.settings import ClipNorm, ClipValue, OpChoice
from aespec.ops.anneal import KINDS, WeightSchedule
from aespec.parse.fmt import format_source
from aespec.train import loop
from aespec.train.clip import clip_gradients
from aespec.train.evaluate import active_units
from aespec.train.loop import set_progress

VAE = """\
model v
data digits
input vector(64)
{lets}
encoder {{
    h = dense(32) relu
}}
bottleneck {{
    gaussian(4, beta={beta})
}}
decoder {{
    dense(64) sigmoid
}}
loss {loss}
{extra}
train {{
    epochs {epochs}
    batch 256
    seed 0
{train}
}}
"""


# the line of `gaussian(...)` in VAE
BETA_LINE = VAE.splitlines().index("    gaussian(4, beta={beta})") + 1


def vae(beta="warmup(epochs=2)", loss="bce", extra="", epochs=3, train="", lets="") -> str:
    return VAE.format(beta=beta, loss=loss, extra=extra, epochs=epochs, train=train, lets=lets)


def codes(source: str) -> list[str]:
    return [d.code for d in check_source(source, "s.ae").diagnostics]


def schedule(text: str) -> WeightSchedule:
    result = check_source(vae(beta=text), "s.ae")
    assert result.ok, result.diagnostics
    return dict(result.ir.nodes[result.ir.latent].schedules)["beta"]


# ---------------------------------------------------------------- the values


@pytest.mark.parametrize("text, expected", [
    ("warmup(epochs=4)", [0.0, 0.25, 0.5, 1.0, 1.0]),
    ("warmup(epochs=4, high=2)", [0.0, 0.5, 1.0, 2.0, 2.0]),
    ("linear(1, 0, epochs=2)", [1.0, 0.5, 0.0, 0.0, 0.0]),
    ("cyclical(cycles=2, ratio=0.5)", [0.0, 0.5, 1.0, 0.0, 1.0]),  # two cycles of 4 epochs
    ("step(0, 0.5, 1, every=1)", [0.0, 0.5, 1.0, 1.0, 1.0]),
])
def test_each_schedule_gives_its_weight_at_fractional_epochs(text, expected):
    s = schedule(text)
    assert [s.value_at(t, 8) for t in (0.0, 1.0, 2.0, 4.0, 6.0)] == expected


def test_the_settled_value_is_what_the_schedule_heads_for():
    assert [schedule(t).settled for t in ("warmup(epochs=3, high=4)", "linear(2, 0.5, 3)",
                                          "cyclical(high=3)", "step(0, 1, 2, every=1)")] == \
        [4.0, 0.5, 3.0, 2.0]


def test_every_schedule_is_documented_with_a_signature():
    assert set(KINDS) == {"warmup", "linear", "cyclical", "step"}
    assert all(k.signature.startswith(f"{k.name}(") and k.doc for k in KINDS.values())


# ---------------------------------------------------------------- language and checks


def test_a_schedule_is_written_where_any_weight_is_and_formats_back():
    source = vae(beta="b", lets="let b = warmup(epochs=2)",
                 loss="bce + step(0, 0.5, every=1) * mse",
                 extra="regularize l1(weight=cyclical(cycles=2, high=1e-4)) on h")
    result = check_source(source, "s.ae")
    assert result.ok, result.diagnostics
    assert format_source(format_source(source)) == format_source(source)
    text = objective_text(result.ir)
    assert "warmup(epochs=2)·KL" in text and "step(0, 0.5, every=1)·MSE" in text
    kinds = [s.kind for d in result.ir.nodes.values() for _, s in d.schedules]
    assert sorted(kinds) == ["cyclical", "step", "warmup"]


@pytest.mark.parametrize("source", [
    vae(extra="", beta="1").replace("dense(32) relu", "dense(warmup(epochs=2)) relu"),
    vae(beta="2 * warmup(epochs=2)"),
    vae(beta="warmp(epochs=2)"),
    vae(beta="1", lets="let e = warmup(epochs=2)").replace("epochs 3", "epochs e"),
], ids=["layer-size", "arithmetic", "unknown-name", "train-key"])
def test_e339_a_schedule_where_no_weight_is(source):
    assert "E339" in codes(source)


def test_e339_names_the_closest_schedule_and_where_schedules_go():
    result = check_source(vae(beta="warmp(epochs=2)"), "s.ae")
    d = next(d for d in result.diagnostics if d.code == "E339")
    assert "warmup" in (d.hint or "") and d.span.line == BETA_LINE
    d = next(d for d in check_source(vae(beta="1").replace(
        "dense(32)", "dense(warmup(epochs=2))"), "s.ae").diagnostics if d.code == "E339")
    assert "beta" in (d.hint or "") and d.span.column > 10


@pytest.mark.parametrize("beta, code", [("warmup(epochs=0)", "E203"),
                                        ("cyclical(ratio=2)", "E203"),
                                        ("step(1, every=2)", "E203"),
                                        ("warmup(high=1)", "E204"),
                                        ("linear(1, 0, 2, 3)", "E202")])
def test_bad_schedule_arguments_are_located_errors(beta, code):
    result = check_source(vae(beta=beta), "s.ae")
    found = [d for d in result.diagnostics if d.code == code]
    assert found and found[0].span.line == BETA_LINE


def test_e340_a_schedule_the_training_cannot_follow():
    assert "E340" in codes(vae(beta="warmup(epochs=2), iw=4"))
    assert "E340" not in codes(vae())


def test_w434_a_schedule_that_settles_after_the_run():
    assert "W434" in codes(vae(beta="warmup(epochs=5)", epochs=3))
    assert "W434" not in codes(vae(beta="warmup(epochs=3)", epochs=3))
    assert "W434" not in codes(vae(beta="cyclical(cycles=2)", epochs=3))


def test_w435_a_schedule_that_never_changes():
    assert "W435" in codes(vae(beta="linear(1, 1, epochs=2)"))
    assert "W435" in codes(vae(beta="step(0.5, 0.5, every=1)"))
    assert "W435" not in codes(vae(beta="step(0.5, 1, every=1)"))


AAE = """\
model m
input vector(8)
encoder {
    dense(4) relu
}
bottleneck {
    dense(2)
}
decoder mirror
discriminator on code {
    dense(4) relu
    dense(1)
}
loss mse + adversarial(nonsaturating)
train {
%s
}
"""


def test_e341_clipping_where_the_adversarial_loop_steps():
    assert "E341" in codes(AAE % "    clip norm(1.0)")
    assert "E341" in codes(AAE % "    log grad_norm")
    assert "E341" not in codes(AAE % "    epochs 2")
    assert "E341" not in codes(vae(train="    clip value(0.5)\n    log grad_norm"))


def test_bad_clip_and_log_values_are_e203():
    assert "E203" in codes(vae(train="    clip norm(0)"))
    assert "E203" in codes(vae(train="    clip nrm(1)"))
    assert "E203" in codes(vae(train="    log grad"))


# ---------------------------------------------------------------- the compiled objective


def compiled(source: str):
    result = check_source(source, "s.ae")
    assert result.ok, result.diagnostics
    torch.manual_seed(0)
    return compile_model(result.ir, result.spec), result


def test_training_weighs_by_the_step_evaluation_by_the_settled_value():
    model, _ = compiled(vae(beta="warmup(epochs=2, high=2)", epochs=4))
    x = torch.rand(8, 64)
    model.eval()
    unweighted = model(x).terms["warmup*kl"] / 2  # settled: 2
    model.train()
    set_progress(model, 0, 4, 0, 4)
    torch.manual_seed(1)
    assert float(model(x).terms["warmup*kl"].detach()) == 0.0
    set_progress(model, 0, 4, 2, 4)  # t = 0.5 epochs: a quarter of the way to 2
    assert float(model.anneal.now[0]) == 0.5
    model.eval()
    _close(model(x).terms["warmup*kl"], unweighted * 2, "settled")
    assert "anneal" not in "".join(model.state_dict())  # recomputed, never saved


def test_a_scheduled_regularizer_is_its_penalty_times_the_weight():
    model, _ = compiled(vae(beta="1", extra="regularize l1(weight=warmup(epochs=1, high=0.5))"))
    plain, _ = compiled(vae(beta="1", extra="regularize l1(0.5)"))
    plain.load_state_dict(model.state_dict())
    x = torch.rand(8, 64)
    model.eval()
    plain.eval()
    _close(model(x).terms["l1"], plain(x).terms["l1"], "l1")


# ---------------------------------------------------------------- the loop


@pytest.fixture
def every_step(monkeypatch):
    """Report every step and checkpoint every epoch, so that a test can stop anywhere."""
    monkeypatch.setattr(loop, "REPORT_SECONDS", 0.0)
    monkeypatch.setattr(loop, "CHECKPOINT_SECONDS", 0.0)


def run(source: str, tmp_path: Path, out: str, **kw):
    spec = tmp_path / "s.ae"
    spec.write_text(source)
    return aespec.train(spec, out=tmp_path / out, quiet=True, **kw)


def test_records_hold_each_epochs_mean_weight_and_grad_norms(tmp_path):
    result = run(vae(beta="warmup(epochs=2)", train="    clip norm(0.5)\n    log grad_norm"),
                 tmp_path, "r")
    weights = [r["weights"]["warmup*kl"] for r in result.history]
    assert weights[0] < 0.5 < weights[1] < 1.0 == weights[2]
    norms = [r["grad_norm"] for r in result.history]
    assert all(0 < n["mean"] <= n["max"] and math.isfinite(n["max"]) for n in norms)
    head = (tmp_path / "r" / "metrics.csv").read_text().splitlines()[0]
    assert "weight_warmup*kl" in head and "grad_norm_mean" in head and "grad_norm_max" in head
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    assert info["active_units"]["dims"] == 4 and len(info["active_units"]["variance"]) == 4
    page = (tmp_path / "r" / "report.html").read_text()
    assert "weight of warmup*kl" in page and "gradient norm (before clipping)" in page


def test_no_schedule_no_clip_leaves_the_records_as_they_were(tmp_path):
    result = run(vae(beta="1"), tmp_path, "r")
    assert "weights" not in result.history[0] and "grad_norm" not in result.history[0]


def test_resume_mid_epoch_gives_the_uninterrupted_weights_and_norms(tmp_path, every_step):
    source = vae(beta="cyclical(cycles=2)", epochs=4, loss="bce + warmup(epochs=3) * mse",
                 train="    clip norm(1.0)\n    log grad_norm").replace("batch 256", "batch 64")
    whole = run(source, tmp_path, "whole")
    spec = tmp_path / "s.ae"
    stopped = aespec.train(spec, out=tmp_path / "cut", progress=InterruptAt(2, 3))
    assert stopped.status == "interrupted"
    resumed = aespec.train(resume=tmp_path / "cut", quiet=True)
    assert losses(resumed.history) == losses(whole.history)
    assert [(r["weights"], r["grad_norm"]) for r in resumed.history] == \
        [(r["weights"], r["grad_norm"]) for r in whole.history]
    assert resumed.test == whole.test


def test_clipping_bounds_the_gradients():
    w = torch.nn.Parameter(torch.ones(10))
    (w * 100).sum().backward()

    norm = clip_gradients([w], OpChoice(name="norm", args=ClipNorm(max=1.0)), measure=True)
    assert norm is not None and abs(float(norm) - 100 * 10 ** 0.5) < 1e-3  # before clipping
    assert abs(float(w.grad.norm()) - 1.0) < 1e-5
    w.grad = torch.full((10,), 3.0)
    assert clip_gradients([w], OpChoice(name="value", args=ClipValue(max=0.5)), False) is None
    assert float(w.grad.abs().max()) == 0.5


def test_active_units_count_the_dimensions_whose_mean_moves():
    from aespec.train.batches import Split

    model, _ = compiled(vae(beta="1"))

    x = torch.rand(64, 64)
    with torch.no_grad():  # a head whose mean is constant: that unit is inactive
        heads = model.net.bottleneck3.heads
        heads.weight[0].zero_()
    found = active_units(model, Split(x, None))
    assert found is not None and found["dims"] == 4
    assert found["variance"][0] == 0.0 and found["active"] <= 3


# ---------------------------------------------------------------- emit, sweeps, editor


def test_the_emitted_loss_weighs_as_aespec_at_any_step():
    source = vae(beta="cyclical(cycles=2, high=2)", epochs=6,
                 loss="bce + step(0, 0.5, every=2) * mse",
                 extra="regularize l1(weight=warmup(epochs=3, high=1e-4))\n"
                       "regularize activity_l1(linear(1e-3, 0, epochs=4)) on h",
                 train="    clip norm(1.0)")
    model, result = compiled(source)
    text = emit_source(result.ir, result.spec)
    assert "clip_grad_norm_(model.parameters(), 1.0)" in text
    ns = _load(text, "sched")
    emitted = ns[class_name(result.spec.name)]()
    ns["load_aespec_state_dict"](emitted, model.state_dict())
    x, _ = _batch(result.spec, result.ir)
    for mode in ("eval", "train"):
        getattr(model, mode)()
        getattr(emitted, mode)()
        for epoch, step, steps in ((0, 0, 1), (1, 3, 10), (4, 9, 10), (5, 0, 3)):
            set_progress(model, epoch, 6, step, steps)
            for name, at in ns["SCHEDULES"].items():
                ns["WEIGHTS"][name] = at(epoch + step / steps, 6)
            torch.manual_seed(5)
            want = model(x)
            torch.manual_seed(5)
            loss, terms = ns["loss_fn"](emitted, x)
            assert list(terms) == list(want.terms)
            for name, value in terms.items():
                _close(value, want.terms[name], f"{mode} {name} at {epoch}+{step}/{steps}")
            _close(loss, want.loss, "loss")


def test_a_sweep_runs_scheduled_or_clipped_points_unbatched():
    from aespec.sweep.batchable import blocker

    assert "schedule" in (blocker(check_source(vae(), "s.ae")) or "")
    assert "clip" in (blocker(check_source(vae(beta="1", train="    clip norm(1)"),
                                           "s.ae")) or "")
    assert blocker(check_source(vae(beta="1"), "s.ae")) is None


def test_a_let_schedule_is_swept_by_set(tmp_path):
    source = vae(beta="b", lets="let b = warmup(epochs=2)")
    spec = tmp_path / "s.ae"
    spec.write_text(source)
    fixed = aespec.load(spec, ["b=4"])
    assert fixed.bottleneck[0].args.beta == 4 and not fixed.bottleneck[0].schedules
    other = aespec.load(spec, ["b=cyclical(cycles=2)"])
    assert dict(other.bottleneck[0].schedules)["beta"].kind == "cyclical"


def labels(source: str, line: int, char: int) -> list[str]:
    return [i.label for i in complete(analyse(source), line, char)]


def test_completion_offers_schedules_where_a_weight_goes_and_their_arguments():
    assert labels("bottleneck {\n    gaussian(8, beta=\n}\n", 1, 21)[:4] == list(KINDS)
    assert labels("bottleneck {\n    gaussian(8, beta=warmup(\n}\n", 1, 28) == \
        ["epochs=", "high="]
    assert set(KINDS) <= set(labels("loss bce + \n", 0, 11))
    assert labels("train {\n    clip \n}\n", 1, 9) == ["norm", "value"]
    assert labels("train {\n    log \n}\n", 1, 8) == ["grad_norm"]


@pytest.mark.slow
def test_two_ranks_clip_and_anneal_as_one_process(tmp_path):
    """DDP averages the gradients during backward, so clipping after it clips the global
    batch's gradient: two gloo ranks give one process's weights, weights and norms."""
    import numpy as np
    from sklearn.datasets import load_digits
    from test_dist import SPEC, assert_close, history, two_ranks, weights

    x = (load_digits().images[:256] / 16).astype(np.float32).reshape(256, 64)
    np.save(tmp_path / "digits.npy", x)
    spec = tmp_path / "tiny.ae"
    spec.write_text(SPEC.format(epochs=2).replace("l2(1e-4)", "l2(warmup(epochs=1, high=1e-3))")
                    .replace("    seed 0", "    seed 0\n    clip norm(0.05)\n    log grad_norm"))
    one = aespec.train(spec, out=tmp_path / "one", quiet=True, report=False)
    assert all(r["grad_norm"]["max"] > 0.05 for r in one.history)  # the clip bites
    two_ranks(spec=spec, out=tmp_path / "ddp", report=False)
    assert_close(weights(tmp_path / "ddp"), weights(one.run_dir))
    for a, b in zip(history(tmp_path / "ddp"), one.history, strict=True):
        assert a["weights"] == b["weights"]
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-5)
