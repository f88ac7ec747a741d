"""Phases, freeze, init and layerwise options through the front end: the grammar and
fmt, the resolve stage's codes (each fires, and its neighbour does not), `--set
phase.NAME.KEY`, `check`'s phase sequence (table and JSON), and LSP completions."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from aespec.cli import app
from aespec.graph.frontend import check_source
from aespec.lsp.complete import complete
from aespec.lsp.document import analyse
from aespec.parse import parse_source
from aespec.parse.fmt import format_source

BASE = """\
data digits
input vector(64)
noise gaussian(std=0.2)
encoder {
    e1 = dense(32) relu
}
bottleneck {
    dense(8)
}
decoder mirror
loss mse
train {
    epochs 3
%s
}
%s
"""

PHASES = """\
phase clean {
    epochs 2
    noise none
    loss 0.5 * mse + mae
    freeze encoder
    optimizer sgd(lr=0.1)
}
phase noisy {
    schedule cosine
}
"""


def check(train: str = "", phases: str = PHASES, overrides=()):
    return check_source(BASE % (train, phases), "spec.ae", overrides)


def codes(result) -> list[str]:
    return [d.code for d in result.diagnostics]


def test_phases_resolve_in_file_order_with_the_top_level_for_what_they_leave_out():
    result = check()
    assert result.ok and codes(result) == []
    clean, noisy = result.spec.phases
    assert (clean.name, clean.epochs, clean.noise, clean.freeze) == ("clean", 2, [], ("encoder",))
    assert [t.call.op for t in clean.loss] == ["mse", "mae"] and clean.loss[0].weight == 0.5
    assert clean.optimizer.name == "sgd"
    assert (noisy.epochs, noisy.noise, noisy.loss, noisy.schedule.name) == (3, None, None,
                                                                          "cosine")
    assert result.spec.total_epochs == 5


def test_a_spec_without_phases_means_what_it_meant_before():
    result = check(phases="")
    assert result.spec.phases == [] and "phases" not in result.spec.semantic()
    assert "freeze" not in result.spec.semantic()["train"]


@pytest.mark.parametrize("body, message", [
    ("    batch 32", "cannot set 'batch'"),
    ("    encoder {\n        dense(4)\n    }", "its blocks are the spec's"),
    ("    phase inner {\n        epochs 1\n    }", "phases follow one another"),
    ("    data digits", "cannot set 'data'"),
])
def test_e328_what_a_phase_cannot_hold(body, message):
    result = check(phases=f"phase p {{\n{body}\n}}\n")
    [d] = [d for d in result.diagnostics if d.code == "E328"]
    assert message in d.message and d.span.line == 17


def test_e328_a_phase_name_twice_and_phases_in_a_gan():
    result = check(phases="phase a {\n    epochs 1\n}\nphase a {\n    epochs 1\n}\n")
    assert codes(result) == ["E328"] and "given twice" in result.diagnostics[0].message
    gan = check_source("latent normal(8)\ninput vector(64)\ndecoder {\n    dense(64) sigmoid\n}"
                       "\ndiscriminator {\n    dense(1)\n}\nphase a {\n    epochs 1\n}\n")
    assert "E328" in codes(gan)


def test_e329_an_unknown_freeze_name_offers_the_closest():
    result = check(train="    freeze encodr e2")
    found = [d for d in result.diagnostics if d.code == "E329"]
    assert [d.message for d in found] == ["nothing to freeze is named 'encodr'",
                                          "nothing to freeze is named 'e2'"]
    assert "'encoder'" in found[0].hint and "e1" in found[1].hint
    assert found[0].span.column == 12  # at the name itself
    assert check(train="    freeze e1 bottleneck").ok  # a named layer and a block


def test_w426_every_block_frozen_and_not_for_some():
    result = check(phases="phase p {\n    freeze encoder bottleneck decoder\n}\n")
    assert codes(result) == ["W426"] and result.ok
    assert codes(check(phases="phase p {\n    freeze encoder bottleneck\n}\n")) == []


def test_a_phase_with_its_own_loss_is_checked_against_its_own_graph():
    # bce needs an output in [0, 1] (E306): the phase's loss line is where the problem is
    source = (BASE % ("", "phase p {\n    loss bce\n}\n")).replace(
        "decoder mirror", "decoder mirror(output=identity)")
    result = check_source(source, "spec.ae")
    assert [(d.code, d.span.line) for d in result.diagnostics] == [("E306", 17)]


def test_layerwise_output_and_loss_are_checked():
    def pretrain(args):
        return check(train=f"    pretrain layerwise({args})", phases="")

    assert pretrain("output=sigmoid, loss=bce").ok
    assert pretrain("output=tanh").ok
    bad = pretrain("output=sigmod")
    assert codes(bad) == ["E203"] and "'sigmoid'" in bad.diagnostics[0].hint
    assert "output=sigmoid" in pretrain("loss=bce").diagnostics[0].hint


def test_set_phase_keys_and_their_errors():
    result = check(overrides=["phase.clean.epochs=1", "phase.noisy.noise=none",
                              "phase.noisy.loss=0.5*mae"])
    clean, noisy = result.spec.phases
    assert clean.epochs == 1 and noisy.noise == [] and noisy.loss[0].call.op == "mae"
    for bad, said in (("phase.claen.epochs=1", "'clean'"), ("phase.clean.batch=3", "keys:")):
        [d] = check(overrides=[bad]).diagnostics
        assert d.code == "E210" and said in d.hint
    located = check(overrides=["phase.clean.epochs=0"])
    assert located.diagnostics[0].file == "<--set phase.clean.epochs=0>"


def test_fmt_keeps_phases_in_order_after_train_and_round_trips():
    messy = "phase b{\n  epochs 1\n}\n" + BASE % ("", "") + "phase  a {\n loss 0.5*mse\n}\n"
    out = format_source(messy)
    assert out.index("train {") < out.index("phase b {") < out.index("phase a {")
    assert "    loss 0.5 * mse\n" in out
    assert format_source(out) == out
    names = [s.name for s in parse_source(out).statements if hasattr(s, "statements")]
    assert names == ["b", "a"]


def test_check_prints_the_phase_sequence_and_its_json():
    import pathlib
    import tempfile

    path = pathlib.Path(tempfile.mkdtemp()) / "spec.ae"
    path.write_text(BASE % ("", PHASES))
    text = CliRunner().invoke(app, ["check", str(path)]).output
    assert "phases, in training order" in text and "1-2 (2)" in text and "3-5 (3)" in text
    out = CliRunner().invoke(app, ["check", "--json", str(path)]).output
    phases = json.loads(out)["model"]["phases"]
    assert [(p["name"], p["first_epoch"], p["last_epoch"], p["noise"], p["freeze"])
            for p in phases] == [("clean", 1, 2, "none", ["encoder"]),
                                 ("noisy", 3, 5, "gaussian(0.2)", [])]
    assert phases[0]["objective"].startswith("L = 0.5·MSE") and phases[1]["schedule"] == "cosine"
    no_phases = CliRunner().invoke(app, ["check", "--json", str(path)], input=None)
    assert no_phases.exit_code == 0


def test_lsp_completes_phase_keys_values_and_freeze_names():
    doc = analyse(BASE % ("    freeze ", "phase p {\n    \n    noise \n    optimizer \n}\n"))
    assert {"encoder", "bottleneck", "decoder", "e1"} <= {i.label for i in complete(doc, 13, 11)}
    keys = {i.label for i in complete(doc, 16, 4)}
    assert {"noise", "loss", "epochs", "freeze", "optimizer"} <= keys and "batch" not in keys
    assert {"none", "gaussian"} <= {i.label for i in complete(doc, 17, 10)}
    assert "adam" in {i.label for i in complete(doc, 18, 14)}


def test_lsp_reports_phase_diagnostics():
    doc = analyse(BASE % ("", "phase p {\n    batch 3\n}\n"))
    assert "E328" in [d.code for d in doc.result.diagnostics]


def test_report_curves_mark_where_each_phase_begins():
    from aespec.report.page import curve_charts, phase_starts

    def record(epoch, phase, loss):
        return {"epoch": epoch, "phase": phase, "train": {"loss": loss}, "val": None}

    history = [record(1, "clean", 0.5), record(2, "clean", 0.4), record(3, "noisy", 0.6),
               record(4, "noisy", 0.45)]
    assert phase_starts(history) == ((2.5, "noisy"),)
    [chart] = curve_charts(history, 4)
    assert 'stroke="#999"' in chart and ">noisy</text>" in chart
    plain = [{k: v for k, v in r.items() if k != "phase"} for r in history]
    assert phase_starts(plain) == () and 'stroke="#999"' not in curve_charts(plain, 4)[0]


def test_run_refuses_init_from_with_resume():
    result = CliRunner().invoke(app, ["run", "--resume", "runs/x", "--init-from", "runs/y"])
    assert result.exit_code == 2 and "own checkpoint" in result.output
