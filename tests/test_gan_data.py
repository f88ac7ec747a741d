"""Issue 21's data and guideline checks: `range=(-1, 1)` on the built-in image sets (the
loaded values, the graph's input range, W415 both ways, bce refused as E320/E503, the run's
recorded data, the emitted loader, the report mapping back to [0, 1]), and the DCGAN
guidelines W416 (an upsample in the generator) and W417 (a network without batchnorm)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aespec.data import load_data, validate_args
from aespec.errors import AespecError
from aespec.graph.frontend import check_source

ROOT = Path(__file__).resolve().parents[1]
VALID = ROOT / "tests" / "conformance_extra" / "valid"
FASHION = Path("/usr/share/datasets/fashion-mnist")

# a conv GAN on 8x8 digits that every guideline leaves alone
GAN = """data digits(size=8, range=(-1, 1))
input image(1, 8, 8)
latent normal(8)
decoder {
    dense(128) relu
    reshape(8, 4, 4)
    deconv(8, k=4, stride=2) batchnorm relu
    conv(1, k=3) tanh
}
discriminator {
    conv(8, k=3, stride=2) leaky_relu(0.2)
    conv(16, k=3, stride=2) batchnorm leaky_relu(0.2)
    flatten
    dense(1)
}
loss adversarial(nonsaturating)
"""

AUTOENCODER = """data digits(range=(-1, 1))
input vector(64)
encoder {
    dense(16) relu
}
bottleneck {
    dense(4)
}
decoder {
    dense(64) tanh
}
loss mse
"""


def diagnostics(source: str) -> list[tuple[str, int]]:
    return [(d.code, d.span.line if d.span else 0)
            for d in check_source(source, "gan.ae").diagnostics]


# ---------------------------------------------------------------- the data


def test_digits_with_range_are_the_digits_scaled_to_minus_one_one():
    unit = load_data("digits", {}, (1, 8, 8))
    ranged = load_data("digits", {"range": (-1, 1)}, (1, 8, 8))
    assert ranged.x_train.dtype == np.float32 and ranged.scaled == (-1.0, 1.0)
    assert ranged.x_train.min() == -1 and ranged.x_train.max() == 1
    np.testing.assert_array_equal(ranged.x_train, unit.x_train * 2 - 1)
    np.testing.assert_array_equal(ranged.to_unit(ranged.x_test), unit.x_test)
    np.testing.assert_array_equal(ranged.labels_train, unit.labels_train)
    assert "values in [-1, 1]" in ranged.description
    assert unit.scaled is None and unit.to_unit(unit.x_test) is unit.x_test


def test_range_zero_one_is_the_data_as_read():
    same = load_data("digits", {"range": (0, 1)}, (64,))
    assert same.scaled is None and same.x_train.min() == 0
    assert same.description == load_data("digits", {}, (64,)).description


def test_range_keeps_normal_classes():
    ranged = load_data("digits", {"range": (-1, 1), "normal": 3}, (64,))
    assert ranged.x_train.min() == -1 and set(ranged.labels_test.tolist()) == {0, 1}


@pytest.mark.skipif(not FASHION.is_dir(), reason="Fashion-MNIST's IDX files are not installed")
def test_fashion_mnist_with_range_is_in_minus_one_one():
    ranged = load_data("fashion_mnist", {"range": (-1, 1), "limit": 300}, (1, 28, 28))
    unit = load_data("fashion_mnist", {"limit": 300}, (1, 28, 28))
    assert ranged.x_train.min() == -1 and ranged.x_train.max() == 1
    np.testing.assert_array_equal(ranged.x_test, unit.x_test * 2 - 1)


def test_range_takes_only_the_two_ranges():
    with pytest.raises(AespecError) as err:
        validate_args("mnist", {"range": (0, 2)})
    d = err.value.diagnostics[0]
    assert d.code == "E203" and "takes (0, 1) or (-1, 1)" in d.message and "range=(-1, 1)" in d.hint
    result = check_source(AUTOENCODER.replace("(-1, 1)", "(0, 255)"), "ae.ae")
    assert [(d.code, d.span.line) for d in result.diagnostics] == [("E203", 1)]


def test_range_as_run_json_keeps_it_is_read_back():
    """run.json stores tuples as lists: eval and resume give them back as such."""
    assert validate_args("digits", {"range": [-1.0, 1.0]}).range == (-1.0, 1.0)


def test_bce_on_data_scaled_to_minus_one_one_is_refused():
    source = AUTOENCODER.replace("dense(64) tanh", "dense(64) sigmoid").replace(
        "loss mse", "loss bce")
    result = check_source(source, "ae.ae")
    assert [(d.code, d.span.line) for d in result.diagnostics] == [("E320", 12)]
    assert "range=(-1, 1) scales it to [-1, 1]" in result.diagnostics[0].message
    with pytest.raises(AespecError) as err:  # a caller of load_data that skips the check
        load_data("digits", {"range": (-1, 1)}, (64,), need_unit_range=True)
    assert err.value.diagnostics[0].code == "E503"


def test_the_graph_input_has_the_range_of_the_data():
    def input_range(data: str) -> tuple[float, float]:
        ir = check_source(AUTOENCODER.replace("digits(range=(-1, 1))", data), "ae.ae").ir
        assert ir is not None
        return ir.nodes["input"].range

    assert input_range("digits(range=(-1, 1))") == (-1.0, 1.0)
    assert input_range("digits") == (0.0, 1.0)
    assert input_range("mnist(range=(-1, 1))") == (-1.0, 1.0)
    assert input_range("synthetic") == (0.0, 1.0)
    assert input_range('npy("x.npy")') == (-np.inf, np.inf)


# ---------------------------------------------------------------- W415 both ways


def test_a_tanh_generator_on_data_scaled_to_minus_one_one_is_quiet():
    assert diagnostics(GAN) == []
    assert diagnostics((VALID / "gan_dcgan_tanh.ae").read_text()) == []


def test_a_tanh_generator_on_data_in_zero_one_is_w415():
    source = GAN.replace("digits(size=8, range=(-1, 1))", "digits(size=8)")
    result = check_source(source, "gan.ae")
    assert [(d.code, d.span.line) for d in result.diagnostics] == [("W415", 8)]
    assert "range=(-1, 1)" in result.diagnostics[0].hint


def test_a_sigmoid_generator_on_data_scaled_to_minus_one_one_is_w415():
    result = check_source(GAN.replace("conv(1, k=3) tanh", "conv(1, k=3) sigmoid"), "gan.ae")
    assert [(d.code, d.span.line) for d in result.diagnostics] == [("W415", 8)]
    d = result.diagnostics[0]
    assert "ends in sigmoid, with values in [0, 1], but the data is scaled to [-1, 1]" in \
        d.message and "tanh" in d.hint
    assert d.span.column == 18  # the sigmoid itself


def test_a_sigmoid_generator_is_quiet_where_the_data_range_is_not_known():
    source = GAN.replace("digits(size=8, range=(-1, 1))", 'npy("x.npy")')
    assert diagnostics(source.replace("conv(1, k=3) tanh", "conv(1, k=3) sigmoid")) == []


# ---------------------------------------------------------------- W416, W417


def test_an_upsample_in_the_generator_is_w416():
    source = GAN.replace("deconv(8, k=4, stride=2) batchnorm relu",
                         "upsample(2)\n    conv(8, k=3) batchnorm relu")
    result = check_source(source, "gan.ae")
    assert [(d.code, d.span.line) for d in result.diagnostics] == [("W416", 7)]
    d = result.diagnostics[0]
    assert "fractionally-strided convolutions" in d.message
    assert "`deconv(..., k=4, stride=2)`" in d.hint


def test_an_upsample_in_an_autoencoder_is_no_gan_guideline():
    source = """input image(1, 8, 8)
encoder {
    conv(4, k=3, stride=2) relu
}
bottleneck {
    conv(4, k=3) relu
}
decoder {
    upsample(2)
    conv(1, k=3) sigmoid
}
"""
    assert [c for c, _ in diagnostics(source) if c in ("W416", "W417")] == []


@pytest.mark.parametrize(("without", "network", "line"), [
    ("deconv(8, k=4, stride=2) batchnorm relu", "generator", 7),
    ("conv(16, k=3, stride=2) batchnorm leaky_relu(0.2)", "discriminator", 12),
])
def test_a_network_without_batchnorm_is_w417(without, network, line):
    result = check_source(GAN.replace(without, without.replace(" batchnorm", "")), "gan.ae")
    assert [(d.code, d.span.line) for d in result.diagnostics] == [("W417", line)]
    d = result.diagnostics[0]
    assert d.message.startswith(f"the {network} has no batchnorm: DCGAN's guideline")
    assert "batchnorm " in d.hint and d.span.column == 5  # the whole line


def test_both_networks_without_batchnorm_are_one_w417_each():
    assert diagnostics(GAN.replace(" batchnorm", "")) == [("W417", 7), ("W417", 12)]


def test_batchnorm_is_owed_neither_by_the_output_nor_by_the_input_layer():
    """DCGAN leaves G's output layer and D's input layer without it; a dense GAN has none."""
    source = """data digits(size=8, range=(-1, 1))
input image(1, 8, 8)
latent normal(8)
decoder {
    dense(64) relu
    reshape(1, 8, 8)
    conv(1, k=3) tanh
}
discriminator {
    conv(8, k=3, stride=2) leaky_relu(0.2)
    flatten
    dense(1)
}
"""
    assert diagnostics(source) == []
    assert diagnostics((VALID / "gan_dense.ae").read_text()) == []


def test_layernorm_stands_for_batchnorm():
    """A WGAN critic normalises with layernorm: batchnorm would couple its examples."""
    source = GAN.replace("conv(16, k=3, stride=2) batchnorm leaky_relu(0.2)",
                         "conv(16, k=3, stride=2) layernorm leaky_relu(0.2)")
    assert diagnostics(source) == []


def test_the_issue_dcgan_gets_no_guideline_warning():
    assert diagnostics((VALID / "gan_dcgan.ae").read_text()) == []


# ---------------------------------------------------------------- runs, emit and report


def test_a_run_records_the_range_and_reads_it_back(tmp_path):
    pytest.importorskip("torch")
    import aespec
    from aespec.train import load_run

    (tmp_path / "tiny.ae").write_text(AUTOENCODER + "train {\n    epochs 1\n}\n")
    aespec.train(tmp_path / "tiny.ae", out=tmp_path / "run", quiet=True, epochs=1)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["data"] == {"source": "digits", "args": {"range": [-1.0, 1.0]}}
    dataset = load_run(tmp_path / "run", device="cpu").dataset()
    assert float(dataset.x_test.min()) == -1 and dataset.scaled == (-1.0, 1.0)
    result = aespec.train(resume=tmp_path / "run", epochs=2, quiet=True)
    assert result.status == "finished" and result.epochs == 2


def test_the_emitted_loader_scales_as_aespec_does():
    torch = pytest.importorskip("torch")
    from aespec.emit import emit_source

    result = check_source(AUTOENCODER, "ae.ae")
    text = emit_source(result.ir, result.spec)
    assert "scaled to [-1, 1]" in text and "(x[:limit] * 2 - 1)" in text
    ns: dict = {}
    exec(compile(text, "ae.py", "exec"), ns)  # noqa: S102 - our own emitted file
    got = ns["load_data"]()
    expected = load_data("digits", {"range": (-1, 1)}, (64,))
    assert got.min() == -1 and got.shape == (1797, 64)
    assert torch.equal(torch.sort(got.flatten()).values, torch.sort(torch.from_numpy(
        np.concatenate([expected.x_train, expected.x_test]).ravel())).values)


@pytest.mark.skipif(not FASHION.is_dir(), reason="Fashion-MNIST's IDX files are not installed")
def test_the_emitted_idx_loader_scales_bit_for_bit():
    torch = pytest.importorskip("torch")
    from aespec.emit import emit_source

    source = (ROOT / "specs" / "conv_fashion.ae").read_text()
    lines = ["data fashion_mnist(limit=200, range=(-1, 1))" if line.startswith("data ")
             else line for line in source.splitlines()]
    source = "\n".join(lines).replace("loss bce", "loss mse") + "\n"
    result = check_source(source, "fashion.ae")
    assert result.ok, result.diagnostics
    ns: dict = {}
    exec(compile(emit_source(result.ir, result.spec), "f.py", "exec"), ns)  # noqa: S102
    expected = load_data("fashion_mnist", {"limit": 200, "range": (-1, 1)}, (1, 28, 28))
    assert torch.equal(ns["load_data"](), torch.from_numpy(expected.x_train))


def test_the_report_shows_and_measures_ranged_data_in_zero_one(tmp_path, monkeypatch):
    """Pictures map [-1, 1] onto the grey scale; the reference classifier reads [0, 1]."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    import aespec
    from aespec.report import items, quality

    path = tmp_path / "vae.ae"
    path.write_text(AUTOENCODER.replace("dense(4)", "gaussian(2)") +
                    "report {\n    reconstructions(n=4)\n    sample_quality(n=50)\n}\n")
    spec = aespec.load(path)
    torch.manual_seed(0)
    model = aespec.build(spec)
    data = load_data("digits", {"range": (-1, 1)}, (64,))
    ranges, read = [], []
    draw = items._draw_examples
    monkeypatch.setattr(items, "_draw_examples", lambda bands, title, value_range, **kw: (
        ranges.append(value_range), draw(bands, title, value_range, **kw))[1])
    clf = quality.Classifier(quality._network(64, 10), 0.5, 10)
    monkeypatch.setattr(quality, "reference_classifier",
                        lambda key, x, labels, x_test, labels_test: (read.append(x), clf)[1])
    features = quality._outputs
    monkeypatch.setattr(quality, "_outputs", lambda c, x: (read.append(x), features(c, x))[1])
    report = items.write_report(spec, model, data, tmp_path / "run")
    assert ranges == [(-1.0, 1.0)] and "skipped" not in report["sample_quality"]
    assert len(read) > 5 and all(x.min() >= 0 and x.max() <= 1 for x in read)
    assert min(float(x.min()) for x in read) == 0.0  # the data's 0 pixels, mapped back
