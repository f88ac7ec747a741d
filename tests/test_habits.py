"""Messages for the habits a PyTorch or Keras user brings (`dense(64, 32)`, `ReLU`,
`MSELoss`, `loss bce + kl`), the shape error that names the op dropping a row, and the
W44x warnings of specs that check but cannot do what their author meant."""

from __future__ import annotations

from pathlib import Path

import pytest
from frontend import check, codes, only, spec
from typer.testing import CliRunner

from aespec.cli import app

DIGITS = "data digits"


def hint_of(source: str, code: str = "E201") -> str:
    d = only(check(source), code)
    assert d.hint is not None
    return d.hint


@pytest.mark.parametrize("written, fix", [
    ("ReLU", "`relu`, not `ReLU`"), ("Sigmoid", "`sigmoid`, not `Sigmoid`"),
    ("LeakyReLU", "`leaky_relu`"), ("BatchNorm2d", "`batchnorm`"), ("Linear", "`dense`"),
])
def test_a_torch_layer_name_is_answered_with_aespecs(written, fix):
    assert fix in hint_of(spec(encoder=f"dense(32) {written}"))


def test_softmax_is_explained_not_taken_for_som():
    hint = hint_of(spec(decoder="dense(64) softmax"))
    assert "sigmoid" in hint and "som" not in hint.replace("softmax", "")


@pytest.mark.parametrize("written, ours", [
    ("MSELoss", "mse"), ("BCELoss", "bce"), ("BCEWithLogitsLoss", "bce"), ("L1Loss", "mae"),
    ("SmoothL1Loss", "huber"), ("HuberLoss", "huber"),
])
def test_a_torch_loss_class_is_answered_with_the_loss_op(written, ours):
    assert f"aespec calls it `{ours}`" in hint_of(spec(after=f"loss {written}"))


@pytest.mark.parametrize("term", ["kl", "KL", "kld", "kl_divergence"])
def test_a_kl_loss_term_points_at_the_gaussian_latent(term):
    hint = hint_of(spec(after=f"loss bce + {term}"))
    assert "gaussian(DIM)" in hint and "bottleneck" in hint


def test_dense_with_in_and_out_sizes_names_the_fix():
    d = only(check(spec(encoder="dense(64, 32) relu")), "E203")
    assert "output units only" in d.message and "bias" in d.message
    assert d.hint is not None and "`dense(32)`" in d.hint
    assert (d.span.line, d.span.column) == (3, 11)  # the two sizes
    assert "E203" not in codes(check(spec(encoder="dense(32, bias=false) relu")))


CNN = """data fashion_mnist
input image(1, 28, 28)
encoder {
    conv(16) relu
    maxpool(2)
    conv(32) relu
    maxpool(2)
    conv(32) relu
    maxpool(2)
}
bottleneck {
    flatten
    dense(16)
}
decoder {
    dense(288) relu
    reshape(32, 3, 3)
    deconv(32) relu
    deconv(16) relu
    deconv(1) sigmoid
}
loss bce
"""


def test_the_shape_error_names_the_pool_that_drops_a_row():
    hint = hint_of(CNN, "E301")
    assert hint.startswith("maxpool(2) at line 9 takes 7x7 to 3x3")


def test_the_shape_error_blames_no_pool_when_none_drops_a_row():
    """Sizes that divide all the way down: the decoder is at fault, not a stride."""
    text = CNN.replace("    conv(32) relu\n    maxpool(2)\n}", "}").replace(
        "reshape(32, 3, 3)", "reshape(32, 7, 7)").replace("dense(288)", "dense(1568)")
    text = text.replace("deconv", "conv")  # 7x7 stays 7x7
    hint = hint_of(text, "E301")
    assert hint == "upsample by 4 more (upsample or deconv stride)"


def test_check_prints_the_shapes_up_to_the_error(tmp_path):
    path = tmp_path / "cnn.ae"
    path.write_text(CNN, encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    assert "shapes up to line 20" in result.stdout
    assert "(32, 3, 3)" in result.stdout and "(1, 24, 24)" in result.stdout
    quiet = CliRunner().invoke(app, ["check", "-q", str(path)])
    assert "shapes up to" not in quiet.stdout


# ------------------------------------------------------------ W44x

WARNINGS = {
    "W440": (spec(after="loss mse"),
             [spec(before=DIGITS, after="loss mse")]),
    "W441": (spec(bottleneck="gaussian(8) relu", before=DIGITS, after="loss bce"),
             [spec(bottleneck="gaussian(8)", before=DIGITS, after="loss bce"),
              spec(encoder="dense(32) relu", bottleneck="dense(8) relu", before=DIGITS,
                   after="loss bce")]),
    "W442": (spec(bottleneck="gaussian(8, beta=0)", before=DIGITS, after="loss bce"),
             [spec(bottleneck="gaussian(8, beta=0.1)", before=DIGITS, after="loss bce")]),
    "W443": (spec(decoder="dense(64) tanh", before=DIGITS, after="loss mse"),
             [spec(decoder="dense(64) sigmoid", before=DIGITS, after="loss mse"),
              spec(decoder="dense(64) tanh", before="data digits(range=(-1, 1))",
                   after="loss mse")]),
}


@pytest.mark.parametrize("code", sorted(WARNINGS))
def test_warning_fires_alone_and_keeps_the_spec_ok(code):
    result = check(WARNINGS[code][0])
    assert [d.code for d in result.diagnostics] == [code] and result.ok
    assert only(result, code).hint


@pytest.mark.parametrize("code, source", [(c, s) for c, (_, quiet) in sorted(WARNINGS.items())
                                          for s in quiet])
def test_warning_does_not_fire(code, source):
    result = check(source)
    assert result.ok and code not in [d.code for d in result.diagnostics], result.diagnostics


def test_data_on_the_command_line_silences_w440():
    assert "W440" not in [d.code for d in check_with_data(spec(after="loss mse"))]


def check_with_data(source: str):
    from aespec.graph.frontend import check_source

    return check_source(source, "t.ae", data="digits").diagnostics


HEAD_SPEC = spec(decoder="mirror", before="data digits",
                 after="head on code {\n    dense(10)\n}\nloss mse + W * xent")


@pytest.mark.parametrize("weight, code", [("warmup(epochs=2)", "E339"), ("-1", "E203")])
def test_xent_and_adversarial_weights_take_no_schedule(weight, code):
    d = only(check(HEAD_SPEC.replace("W", weight)), code)
    assert d.span.line == HEAD_SPEC.count("\n")  # the loss line, the last
    aae = (Path(__file__).resolve().parents[1] / "specs" / "aae.ae").read_text()
    line = next(ln for ln in aae.splitlines() if ln.startswith("loss "))
    scheduled = aae.replace(line, line.replace("adversarial(", f"{weight} * adversarial(", 1))
    assert code in codes(check(scheduled))
