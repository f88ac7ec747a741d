"""`train { pretrain rbm }`: what it stacks (E325, located), and how it unrolls."""

from __future__ import annotations

import pathlib

import pytest

import aespec

TRAIN = "train {\n    epochs 1\n    pretrain rbm(epochs=1, lr=1e-2)\n}\n"


def _spec(encoder: str = "dense(32) sigmoid", bottleneck: str = "dense(8)",
          decoder: str = "decoder mirror", loss: str = "loss bce", train: str = TRAIN) -> str:
    return (f"data digits\ninput vector(64)\nencoder {{\n    {encoder}\n}}\n"
            f"bottleneck {{\n    {bottleneck}\n}}\n{decoder}\n{loss}\n{train}")


def _errors(tmp_path: pathlib.Path, source: str) -> list:
    path = tmp_path / "dbn.ae"
    path.write_text(source)
    return [d for d in aespec.check(path).diagnostics if d.code == "E325"]


def test_a_stack_of_sigmoid_layers_and_a_linear_code_checks(tmp_path):
    assert _errors(tmp_path, _spec()) == []
    assert _errors(tmp_path, _spec(decoder="decoder mirror(tied=true)")) == []


@pytest.mark.parametrize(("encoder", "bottleneck", "where"), [
    ("dense(32) relu", "dense(8)", (4, 15)),  # relu: no RBM's units
    ("dense(32) sigmoid", "gaussian(8)", (7, 5)),  # a stochastic latent
    ("dense(32, bias=false) sigmoid", "dense(8)", (4, 5)),
    ("dense(32) sigmoid\n    dropout(0.1)", "dense(8)", (5, 5)),
])
def test_layers_that_are_no_rbm_are_located(tmp_path, encoder, bottleneck, where):
    (error,) = _errors(tmp_path, _spec(encoder=encoder, bottleneck=bottleneck))
    assert (error.span.line, error.span.column) == where, error.message


def test_a_conv_layer_is_no_rbm(tmp_path):
    source = ("data digits\ninput image(1, 8, 8)\nencoder {\n    conv(4, k=3) sigmoid\n}\n"
              f"bottleneck {{\n    dense(8)\n}}\ndecoder mirror\nloss bce\n{TRAIN}")
    (error,) = _errors(tmp_path, source)
    assert "conv" in error.message and error.span.line == 4


def test_a_written_decoder_or_a_mismatched_output_is_refused(tmp_path):
    (written,) = _errors(tmp_path, _spec(decoder="decoder {\n    dense(64) sigmoid\n}"))
    assert "decoder mirror" in written.message and written.span.line == 9
    (linear,) = _errors(tmp_path, _spec(loss="loss mse"))
    assert "ends in sigmoid, not identity" in linear.message and linear.span.line == 9
    assert _errors(tmp_path, _spec(loss="loss mse", decoder="decoder mirror(output=sigmoid)")
                   ) == []


def test_the_rbms_unroll_into_the_untied_mirror(tmp_path):
    """With a fine-tuning step too small to move them, the mirror's weights are the
    RBMs' transposed, and each record names its units."""
    import torch

    train = ("train {\n    epochs 1\n    optimizer sgd(lr=1e-12)\n"
             "    pretrain rbm(epochs=2, lr=1e-2)\n}\n")
    path = tmp_path / "dbn.ae"
    path.write_text(_spec(train=train))
    result = aespec.train(path, out=tmp_path / "run", quiet=True, report=False)
    records = result.pretrain
    assert [(r["layer"], r["visible"], r["hidden"]) for r in records] == [
        ("encoder1", "bernoulli", "bernoulli"), ("bottleneck3", "bernoulli", "gaussian")]
    assert all(r["stage"] == "rbm" and r["epochs"] == 2 for r in records)
    net = result.model.net
    layers = dict(result.model.layer_groups())
    mirror = [m for n, m in net.named_modules() if n.startswith("decoder")
              and isinstance(m, torch.nn.Linear)]
    assert len(mirror) == 2
    for dec, enc in zip(mirror, reversed(list(layers.values())), strict=True):
        torch.testing.assert_close(dec.weight, enc.weight.t(), atol=1e-6, rtol=0)
        assert dec.weight is not enc.weight


def test_an_rbm_op_under_pretrain_rbm_is_told_it_is_one_rbm_already(tmp_path):
    source = ("data digits\ninput vector(64)\nencoder {\n}\nbottleneck {\n    rbm(16)\n}\n"
              f"decoder mirror\nloss bce\n{TRAIN}")
    (error,) = _errors(tmp_path, source)
    assert error.span.line == 6 and "remove pretrain" in (error.hint or "")
