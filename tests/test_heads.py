"""Supervised heads (`head on NAME { ... }`, `loss ... + xent`) and `report { probe }`
(issue 23): the checks that fire and those that do not, the head compiled and trained on
the data's labels, accuracy in the metrics, the test results, the report's confusion
matrix, and the linear probe of every kind of code."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import aespec
from aespec.graph import check_source
from aespec.graph.summary import objective_text

HEAD = """\
model tiny_head
data digits
input vector(64)
encoder {
    h = dense(32) relu
}
bottleneck {
    dense(8)
}
decoder mirror
head on ON {
    LAYERS
}
loss mse + 0.5 * xent
train {
    epochs 30
    batch 64
    seed 0
}
report {
    probe
}
"""


def _head(on: str = "code", layers: str = "dense(32) relu\n    dense(10)",
          *swaps: tuple[str, str]) -> str:
    text = HEAD.replace("ON", on).replace("LAYERS", layers)
    for old, new in swaps:
        text = text.replace(old, new)
    return text


NPY = ("data digits", 'data npy("x.npy")')
NO_HEAD = ("head on code {\n    dense(32) relu\n    dense(10)\n}\n", "")


def _codes(text: str) -> list[str]:
    return [d.code for d in check_source(text).diagnostics]


def test_a_head_on_the_code_checks_clean_and_shows_its_term() -> None:
    result = check_source(_head())
    assert result.ok and not result.diagnostics
    ir = result.ir
    assert ir.nodes[ir.outputs["head"]].out_shape == (10,)
    assert "0.5·CE(y, head(z))" in objective_text(ir)
    assert "CE(y, head(h))" in objective_text(check_source(_head(on="h")).ir)


@pytest.mark.parametrize(("text", "code"), [
    (HEAD.replace("head on ON {\n    LAYERS\n}\n", ""), "E334"),    # xent without a head
    (_head(on="nowhere"), "E335"),                                  # an unknown tensor
    (_head(layers="dense(7)"), "E336"),                             # digits has 10 classes
    (_head(layers="dense(10)\n    reshape(2, 5)"), "E336"),         # not one logit per class
    (_head("code", "dense(10)", NPY), "E337"),                      # no labels
    (_head("code", "dense(10)", ("data digits", "data digits(normal=(0, 1))")), "E337"),
    (_head(layers=""), "E338"),                                     # no layers
    (_head("code", "dense(10)", (" + 0.5 * xent", "")), "W430"),    # nothing trains it
    (_head(layers="dense(10) sigmoid"), "W431"),                    # xent reads logits
    (_head("code", "dense(32) relu\n    dense(10)", NPY, NO_HEAD, (" + 0.5 * xent", "")),
     "W432"),                                                       # a probe without labels
])
def test_each_head_check_fires(text: str, code: str) -> None:
    assert code in _codes(text)


def test_a_head_in_a_conditional_spec_is_e338() -> None:
    text = _head().replace("input vector(64)", "input vector(64)\ncondition labels(10)") \
        .replace("decoder mirror", "decoder {\n    concat(y)\n    dense(64)\n}")
    assert "E338" in _codes(text)


def test_a_head_on_a_named_tensor_reads_it() -> None:
    assert not _codes(_head(on="h"))
    model = aespec.build(aespec.graph.check_source(_head(on="h")).spec)
    out = model(torch.rand(5, 64), target=torch.eye(10)[:5])
    assert model.head_logits(torch.rand(5, 32)).shape == (5, 10)
    assert set(out.terms) == {"mse", "0.5*xent"} and "accuracy" in out.measures


def test_the_compiled_head_counts_its_parameters() -> None:
    result = check_source(_head())
    model = aespec.build(result.spec)
    assert sum(p.numel() for p in model.parameters()) == result.ir.params


def test_a_head_trains_to_an_accuracy_far_above_chance(tmp_path) -> None:
    """30 epochs on the digits: the head classifies 90 % of the test set (chance: 10 %);
    accuracy is in each epoch's train and val metrics, the test results, run.json, the
    report's confusion matrix and summary, and the probe beside PCA and the pixels."""
    (tmp_path / "h.ae").write_text(_head())
    torch.set_num_threads(1)
    result = aespec.train(tmp_path / "h.ae", out=tmp_path / "run", quiet=True)
    assert result.test["accuracy"] > 0.9
    assert all("accuracy" in r["train"] and "accuracy" in r["val"] for r in result.history)
    assert result.history[-1]["train"]["accuracy"] > result.history[0]["train"]["accuracy"]
    info = json.loads((result.run_dir / "run.json").read_text())
    assert info["test"]["accuracy"] == result.test["accuracy"]
    report = json.loads((result.run_dir / "report.json").read_text())
    head = report["head"]
    assert (result.run_dir / head["file"]).exists() and head["file"] == "report/confusion.png"
    matrix = np.array(head["confusion"])
    assert matrix.shape == (10, 10) and matrix.sum() == head["examples"]
    assert head["accuracy"] == pytest.approx(result.test["accuracy"], abs=1e-6)
    probe = report["probe"]
    assert probe["dims"] == 8 and probe["pca_components"] == 8 and probe["inputs"] == 64
    assert 0.8 < probe["model"] <= 1 and 0.8 < probe["pixels"] <= 1
    summary = (result.run_dir / "report" / "summary.md").read_text()
    assert "Linear probe" in summary and "confusion.png" in summary
    assert "confusion.png" in (result.run_dir / "report.html").read_text()


def test_labels_outside_the_heads_classes_are_e630() -> None:
    from aespec.data.base import Dataset
    from aespec.errors import AespecError
    from aespec.train.batches import one_hot_labels

    x = np.zeros((4, 2), np.float32)
    ds = Dataset(x_train=x, x_test=x, y_train=None, y_test=None,
                 labels_train=np.array([0, 1, 2, 12]), labels_test=np.array([0, 1, 2, 3]),
                 description="d")
    with pytest.raises(AespecError) as err:
        one_hot_labels(ds, 10, head=True)
    assert err.value.diagnostics[0].code == "E630"


@pytest.mark.parametrize("name", ["rbm", "som", "gan_fc"])
def test_the_probe_reads_every_kind_of_code(name: str) -> None:
    """An rbm's p(h|v), a som's grid place, a GAN's discriminator's penultimate features."""
    from aespec.report.probe import code_fn

    spec = aespec.load(f"specs/{name}.ae")
    model = aespec.build(spec).eval()
    encode, what = code_fn(model, "cpu")
    x = np.random.default_rng(0).random((5, *model.info.input_shape), np.float32) \
        if hasattr(model.info, "input_shape") else None
    codes = encode(x)
    assert codes.shape[0] == 5 and codes.ndim == 2 and what
    want = {"rbm": "p(h|v)", "som": "grid", "gan_fc": "penultimate"}[name]
    assert want in what


def test_emit_writes_a_head_and_its_labels() -> None:
    """Once refused (E631); tests/test_emit_heads.py tests the file equal to the model."""
    from aespec.emit import emit_source

    result = check_source(_head())
    text = emit_source(result.ir, result.spec)
    assert "def loss_fn(model, x, labels):" in text and "def classify(self, x):" in text


def test_completion_offers_the_head_its_target_and_the_loss_xent() -> None:
    from aespec.lsp.complete import complete
    from aespec.lsp.document import analyse

    text = "encoder {\n    h = dense(8) relu\n}\nhead \nhead on \nloss mse + \n\n"
    doc = analyse(text)
    assert [i.label for i in complete(doc, 3, 5)] == ["on"]
    assert {"code", "h"} <= {i.label for i in complete(doc, 4, 8)}
    assert "xent" in {i.label for i in complete(doc, 5, 11)}
    assert "head" in {i.label for i in complete(doc, 6, 0)}


def test_fmt_keeps_a_head_between_the_layers_and_the_loss() -> None:
    from aespec.parse.fmt import format_source

    text = "loss mse + xent\nhead on code {\ndense(10)\n}\n" + HEAD.split("head on")[0]
    out = format_source(text)
    assert out.index("decoder mirror") < out.index("head on code {\n    dense(10)\n}") \
        < out.index("loss mse + xent")


def test_a_head_resumes_mid_epoch_to_the_uninterrupted_result(tmp_path, monkeypatch) -> None:
    """Accuracy is in the running sums a checkpoint keeps: a run stopped in the middle of
    an epoch and resumed gives, bit for bit, the uninterrupted run's records."""
    from aespec.train import loop
    from tests.test_train import InterruptAt

    monkeypatch.setattr(loop, "REPORT_SECONDS", 0.0)
    monkeypatch.setattr(loop, "CHECKPOINT_SECONDS", 0.0)
    (tmp_path / "h.ae").write_text(_head().replace("epochs 30", "epochs 3")
                                   .replace("    probe\n", "    reconstructions(n=4)\n"))
    torch.set_num_threads(1)
    whole = aespec.train(tmp_path / "h.ae", out=tmp_path / "whole", quiet=True)
    stopped = aespec.train(tmp_path / "h.ae", out=tmp_path / "cut", progress=InterruptAt(2, 3))
    assert stopped.status == "interrupted"
    resumed = aespec.train(resume=tmp_path / "cut", quiet=True)
    assert [r["train"] for r in resumed.history] == [r["train"] for r in whole.history]
    assert resumed.test == whole.test and "accuracy" in resumed.test


@pytest.mark.slow
def test_two_ranks_train_a_head_as_one_process(tmp_path) -> None:
    """DDP: the head is one more submodule; two gloo ranks give one process's weights
    and records, accuracy included (the shards' accuracy weighed by their sizes)."""
    from tests.test_dist import assert_close, history, two_ranks, weights

    spec = tmp_path / "h.ae"
    spec.write_text(_head().replace("epochs 30", "epochs 2").replace("    probe\n", ""))
    single = aespec.train(spec, out=tmp_path / "single", quiet=True, report=False)
    two_ranks(spec=spec, out=tmp_path / "ddp", report=False)
    assert_close(weights(tmp_path / "ddp"), weights(single.run_dir))
    for a, b in zip(history(tmp_path / "ddp"), single.history, strict=True):
        assert a["train"] == pytest.approx(b["train"], rel=1e-5)
        assert "accuracy" in a["val"]
