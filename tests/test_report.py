"""Tests for aespec.report.items: every item on real (untrained) models built from tiny specs."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import types
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")

import aespec  # noqa: E402
from aespec.data import load_data  # noqa: E402
from aespec.graph import check_source  # noqa: E402
from aespec.model.settings import REPORT  # noqa: E402
from aespec.report.items import ITEMS, fit_pca, pca_reconstruct, write_report  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"

DENSE = """
model dense_tiny
data digits
input vector(64)
encoder {
    dense(16) relu
}
bottleneck {
    dense(4)
}
decoder {
    dense(64) sigmoid
}
loss bce
report {
    reconstructions(n=8)
    latent_scatter
    filters(n=12)
    anomaly(quantile=0.9)
    baseline pca
}
"""

VAE = """
model vae_tiny
data digits
input vector(64)
encoder {
    dense(16) relu
}
bottleneck {
    gaussian(2)
}
decoder mirror
loss bce
report {
    samples(n=10)
    manifold(n=4)
    latent_scatter
}
"""

DENOISER = """
model denoiser_tiny
data digits
input image(1, 8, 8)
noise gaussian(std=0.4) clip(0, 1)
encoder {
    conv(4, k=3) relu
    maxpool(2)
}
bottleneck {
    conv(2, k=3) relu
}
decoder {
    upsample(2)
    conv(1, k=3) sigmoid
}
loss bce
report {
    reconstructions(n=6)
    filters(n=4)
    baseline pca
}
"""

SEQUENCE = """
model sequence_tiny
data synthetic(n=200, kind=sine)
input sequence(1, 24)
encoder {
    conv(4, k=5) relu
}
bottleneck {
    flatten
    dense(2)
}
decoder {
    dense(24)
    reshape(1, 24)
}
loss mse
report {
    reconstructions(n=5)
    filters(n=4)
    manifold(n=3)
    latent_scatter
    anomaly
}
"""

# binary labels (1 = anomaly) and none at all: an npz written by the test
MARKED = """
model marked_tiny
data npz("marked.npz", x="x", labels="labels")
input vector(16)
encoder {
    dense(8) relu
}
bottleneck {
    dense(3)
}
decoder {
    dense(16)
}
loss mse
report {
    latent_scatter
    anomaly
    baseline pca
}
"""


def load(tmp: pathlib.Path, text: str, name: str = "spec"):
    path = tmp / f"{name}.ae"
    path.write_text(text)
    spec = aespec.load(path)
    torch.manual_seed(0)
    model = aespec.build(spec)
    need_unit = any(t.call.op == "bce" for t in spec.loss)
    assert spec.data is not None
    data = load_data(spec.data.source, dict(spec.data.args), spec.input.shape,
                     need_unit_range=need_unit, base_dir=tmp)
    return spec, model, data


def report_of(tmp_path_factory, text: str, name: str, setup=None):
    tmp = tmp_path_factory.mktemp(name)
    if setup:
        setup(tmp)
    spec, model, data = load(tmp, text, name)
    report = write_report(spec, model, data, tmp / "run")
    return spec, model, data, tmp / "run", report


def write_marked(tmp: pathlib.Path, labels: bool = True) -> None:
    """Normal examples near 0.2, anomalies (label 1) near 0.8."""
    rng = np.random.default_rng(3)

    def part(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = (rng.random(n) < 0.2).astype(np.int64)
        x = np.where(y[:, None] == 1, 0.8, 0.2) + rng.normal(0, 0.05, (n, 16))
        return x.astype(np.float32), y

    (x, y), (xt, yt) = part(120), part(60)
    arrays: dict[str, Any] = {"x": x, "x_test": xt}
    if labels:
        arrays |= {"labels": y, "labels_test": yt}
    np.savez(tmp / "marked.npz", **arrays)


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    return report_of(tmp_path_factory, DENSE, "dense")


def assert_png(path: pathlib.Path) -> None:
    """A real PNG with something drawn: the signature, a size, pixels that vary."""
    import matplotlib.image

    data = path.read_bytes()
    assert data[:8] == PNG, path
    assert len(data) > 2_000, path
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels[..., :3].std() > 0.05, f"{path} is nearly blank"


# ---------------------------------------------------------------- the whole report


def test_every_report_key_has_an_item() -> None:
    assert set(ITEMS) == set(REPORT) - {"baseline"}


def test_report_files_and_json(dense) -> None:
    _, _, _, run, report = dense
    assert json.loads((run / "report.json").read_text()) == report
    for key in ("reconstructions", "latent_scatter", "filters", "anomaly"):
        assert report[key]["file"] == f"report/{key}.png"
        assert_png(run / report[key]["file"])
    assert report["examples"] == {"train": 1437, "test": 360}
    summary = (run / "report" / "summary.md").read_text()
    assert "| clean | mse |" in summary and "| clean | bce |" in summary
    assert "![filters](filters.png)" in summary


def test_report_is_deterministic(dense, tmp_path) -> None:
    spec, model, data, run, report = dense
    again = write_report(spec, model, data, tmp_path / "again")
    assert again == report
    for name in ("reconstructions.png", "latent_scatter.png", "anomaly.png"):
        assert (tmp_path / "again" / "report" / name).read_bytes() == \
            (run / "report" / name).read_bytes()


def test_report_leaves_mode_and_random_state_alone(tmp_path) -> None:
    spec, model, data = load(tmp_path, DENOISER)
    model.train()
    state = torch.get_rng_state()
    write_report(spec, model, data, tmp_path / "run")
    assert model.training
    assert torch.equal(torch.get_rng_state(), state)


def test_importing_report_imports_neither_torch_nor_matplotlib() -> None:
    code = ("import aespec.report.items, sys; "
            "print(sorted({'torch', 'matplotlib'} & {m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


# ---------------------------------------------------------------- PCA baseline


def test_fit_pca_by_hand() -> None:
    x = np.array([[3.0, 1.0], [1.0, 2.0], [-1.0, 1.0], [1.0, 0.0]])  # mean (1, 1)
    mean, comps = fit_pca(x, 1)
    assert np.allclose(mean, [1.0, 1.0])
    assert np.allclose(np.abs(comps), [[1.0, 0.0]])  # variance 2 along x, 0.5 along y
    assert np.allclose(pca_reconstruct(x, mean, comps),
                       [[3.0, 1.0], [1.0, 1.0], [-1.0, 1.0], [1.0, 1.0]])


@pytest.mark.parametrize("shape", [(40, 6), (5, 12)], ids=["tall", "wide"])
def test_fit_pca_matches_svd(shape) -> None:
    x = np.random.default_rng(0).normal(size=shape) @ np.diag(np.arange(1, shape[1] + 1))
    mean, comps = fit_pca(x, 3)
    _, _, vt = np.linalg.svd(x - x.mean(0), full_matrices=False)
    assert comps.shape == (3, shape[1])
    assert np.allclose(comps @ comps.T, np.eye(3), atol=1e-8)
    projector = vt[:3].T @ vt[:3]
    assert np.allclose(comps.T @ comps, projector, atol=1e-8)


def test_fit_pca_caps_components_at_the_data() -> None:
    x = np.random.default_rng(0).normal(size=(4, 10))  # rank 3 once centred
    assert fit_pca(x, 8)[1].shape == (3, 10)
    assert fit_pca(x.T, 50)[1].shape == (4, 4)


def test_baseline_numbers(dense) -> None:
    _, model, data, _, report = dense
    base = report["baseline"]
    assert base["components"] == base["z_values"] == 4
    x_tr = data.x_train.reshape(len(data.x_train), -1).astype(np.float64)
    centred = x_tr - x_tr.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    x_te = data.x_test.reshape(len(data.x_test), -1).astype(np.float64)
    pca = (x_te - x_tr.mean(0)) @ vt[:4].T @ vt[:4] + x_tr.mean(0)
    assert base["clean"]["pca"]["mse"] == pytest.approx(np.mean((pca - x_te) ** 2), rel=1e-6)
    p = np.clip(pca, 1e-7, 1 - 1e-7)
    bce = -np.mean(x_te * np.log(p) + (1 - x_te) * np.log(1 - p))
    assert base["clean"]["pca"]["bce"] == pytest.approx(bce, rel=1e-6)
    with torch.no_grad():
        x_hat = model.eval()(torch.from_numpy(data.x_test)).x_hat.double().numpy()
    assert base["clean"]["model"]["mse"] == pytest.approx(np.mean((x_hat - x_te) ** 2),
                                                          rel=1e-5)
    assert "noisy" not in base


# ---------------------------------------------------------------- items


def test_anomaly_threshold_is_the_training_quantile(dense) -> None:
    _, model, data, _, report = dense
    with torch.no_grad():
        train = model.recon_error(torch.from_numpy(data.x_train)).double().numpy()
        test = model.recon_error(torch.from_numpy(data.x_test)).double().numpy()
    item = report["anomaly"]
    assert item["threshold"] == pytest.approx(np.quantile(train, 0.9), rel=1e-6)
    assert item["share_above"] == pytest.approx(np.mean(test > item["threshold"]))
    assert item["roc_auc"] is None and "classes" in item["roc_auc_reason"]


def test_anomaly_roc_auc_with_binary_labels(tmp_path_factory) -> None:
    from sklearn.metrics import roc_auc_score

    _, model, data, run, report = report_of(tmp_path_factory, MARKED, "marked", write_marked)
    with torch.no_grad():
        test = model.recon_error(torch.from_numpy(data.x_test)).double().numpy()
    assert report["anomaly"]["roc_auc"] == pytest.approx(
        roc_auc_score(data.labels_test, test))
    assert report["anomaly"]["roc_auc_reason"] is None
    assert_png(run / "report" / "anomaly.png")


def test_no_labels(tmp_path_factory) -> None:
    unlabelled = MARKED.replace(', labels="labels"', "")
    _, _, _, run, report = report_of(tmp_path_factory, unlabelled, "unlabelled",
                                     lambda tmp: write_marked(tmp, labels=False))
    scatter = report["latent_scatter"]
    assert scatter["coloured_by_label"] is False
    assert scatter["dims"] == 3 and 0 < scatter["explained_variance"] <= 1
    assert report["anomaly"]["roc_auc"] is None
    assert report["anomaly"]["roc_auc_reason"] == "the data has no labels"
    assert_png(run / "report" / "latent_scatter.png")


def test_latent_scatter_above_two_dims(dense) -> None:
    item = dense[4]["latent_scatter"]
    assert item["dims"] == 4 and item["coloured_by_label"]
    assert 0 < item["explained_variance"] <= 1


def test_filters_of_a_dense_layer(dense) -> None:
    item = dense[4]["filters"]
    assert {k: item[k] for k in ("file", "layer", "op", "tensor", "n", "over")} == {
        "file": "report/filters.png", "layer": "encoder1", "op": "dense", "tensor": None,
        "n": 12, "over": "input"}
    w = dense[1].net.get_submodule("encoder1").weight.detach()[:12].double().numpy()
    assert item["max_abs"] == pytest.approx(np.abs(w).max())


def test_samples_and_manifold(tmp_path) -> None:
    spec, model, data = load(tmp_path, VAE)
    decoded = []
    decode = model.decode

    def spy(z):
        decoded.append(tuple(z.shape))
        return decode(z)

    model.decode = spy
    report = write_report(spec, model, data, tmp_path / "run")
    assert sum(shape[0] for shape in decoded) == 4 * 4
    assert all(shape[1:] == (2,) for shape in decoded)
    manifold = report["manifold"]
    assert manifold["grid"] == "prior"
    assert manifold["z_range"][0] == pytest.approx([-1.6448536, 1.6448536])
    assert report["samples"]["n"] == 10
    assert report["latent_scatter"]["explained_variance"] is None
    for key in ("samples", "manifold", "latent_scatter"):
        assert_png(tmp_path / "run" / report[key]["file"])


def test_denoiser_shows_seeded_noisy_inputs(tmp_path, monkeypatch) -> None:
    import aespec.report.items as report_module

    spec, model, data = load(tmp_path, DENOISER)
    drawn = []
    draw = report_module._draw_examples

    def spy(bands, *args, **kwargs):
        drawn.append(bands)
        return draw(bands, *args, **kwargs)

    monkeypatch.setattr(report_module, "_draw_examples", spy)
    report = write_report(spec, model, data, tmp_path / "run")
    write_report(spec, model, data, tmp_path / "again")
    grids = [bands for bands in drawn if bands[0][0] == "corrupted input"]  # one a report
    assert [name for name, _ in grids[0]] == ["corrupted input", "reconstruction", "target"]
    noisy, _, target = (x for _, x in grids[0])
    assert noisy.shape == target.shape == (6, 1, 8, 8)
    assert not np.allclose(noisy, target) and noisy.min() >= 0 and noisy.max() <= 1
    assert np.array_equal(noisy, grids[1][0][1])  # the same noise every time
    assert report["reconstructions"]["noisy_input"] is True
    assert report["filters"]["layer"].startswith("encoder")  # the conv, not a noise op
    assert set(report["baseline"]) >= {"clean", "noisy"}
    assert_png(tmp_path / "run" / "report" / "reconstructions.png")


def test_sequences_are_drawn_as_lines(tmp_path_factory) -> None:
    _, _, _, run, report = report_of(tmp_path_factory, SEQUENCE, "sequence")
    assert report["manifold"]["grid"] == "codes"  # no gaussian latent: the codes' range
    for key in ("reconstructions", "filters", "manifold", "latent_scatter", "anomaly"):
        assert_png(run / report[key]["file"])


# ---------------------------------------------------------------- filters(layer=NAME)

NAMED = """
model named_tiny
data digits
input vector(64)
encoder {
    e1 = dense(16) relu
    h = dense(8) relu
}
bottleneck {
    dense(2)
}
decoder {
    dense(64) sigmoid
}
report {
    filters(n=5, layer=LAYER)
}
"""


def spy_on(monkeypatch, name: str) -> list:
    """Calls of aespec.report.items.NAME: (args, the figure it returned)."""
    import aespec.report.items as report_module

    calls: list = []
    real = getattr(report_module, name)

    def spy(*args, **kwargs):
        fig = real(*args, **kwargs)
        calls.append((args, fig))
        return fig

    monkeypatch.setattr(report_module, name, spy)
    return calls


def colour_scale(fig) -> tuple[float, float]:
    """The limits of the figure's image, after checking that a colour bar shows them."""
    image = fig.axes[0].images[0]
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "weight"  # the colour bar
    return image.get_clim()


@pytest.mark.parametrize("layer, node, over", [("e1", "encoder1", "input"),
                                               ("h", "encoder3", "own input")])
def test_filters_of_a_named_layer(tmp_path, monkeypatch, layer, node, over) -> None:
    calls = spy_on(monkeypatch, "draw_filters")
    spec, model, data = load(tmp_path, NAMED.replace("LAYER", layer))
    item = write_report(spec, model, data, tmp_path / "run")["filters"]
    assert (item["layer"], item["op"], item["tensor"], item["over"]) == (node, "dense", layer,
                                                                           over)
    (w, title, rows, _), fig = calls[0]
    weight = model.net.get_submodule(node).weight.detach().double().numpy()[:5]
    if over == "input":  # each unit's weights over the input's 64 values
        assert not rows and w.shape == (5, 64) and "over the input" in title
    else:  # one row per unit over the 16 values of e1
        assert rows and w.shape == (5, 16) and "own input (16 values)" in title
    assert np.array_equal(w.reshape(5, -1), weight)  # the weights themselves, not rescaled
    assert f"{node} (dense, tensor {layer})" in title
    m = np.quantile(np.abs(weight), 0.995)  # robust: a few outliers saturate
    assert colour_scale(fig) == pytest.approx((-m, m))  # symmetric about 0, all filters
    assert_png(tmp_path / "run" / "report" / "filters.png")


def test_filters_of_a_conv_layer_keep_its_kernels(tmp_path, monkeypatch) -> None:
    calls = spy_on(monkeypatch, "draw_filters")
    spec, model, data = load(tmp_path, DENOISER)
    item = write_report(spec, model, data, tmp_path / "run")["filters"]
    (w, title, rows, _), fig = calls[0]
    assert item["op"] == "conv" and item["over"] == "input" and not rows
    assert w.shape == (4, 1, 3, 3) and "4 of 4 kernels" in title
    low, high = colour_scale(fig)
    assert low == -high == pytest.approx(-np.quantile(np.abs(w), 0.995))


@pytest.mark.parametrize("layer, message", [
    ("e3", "filters(layer=e3): no tensor is named 'e3'"),
    ("act", "the line of 'act' (line 8) holds no layer with weights"),
])
def test_filters_layer_is_checked(layer, message) -> None:
    text = NAMED.replace("LAYER", layer).replace("h = dense(8) relu", "h = dense(8)\n"
                                                                        "    act = relu")
    result = check_source(text)
    (d,) = [d for d in result.diagnostics if d.code == "E308"]
    assert message in d.message
    assert d.span.line == text.splitlines().index(f"    filters(n=5, layer={layer})") + 1
    if layer == "e3":
        assert "e1" in (d.hint or "")  # did you mean e1, or the tensors there are


def test_a_named_layer_passes_the_check() -> None:
    result = check_source(NAMED.replace("LAYER", "h"))
    assert not [d for d in result.diagnostics if d.code == "E308"]


# ---------------------------------------------------------------- class names, ticks, scores


def test_latent_scatter_names_the_classes(tmp_path, monkeypatch) -> None:
    import dataclasses

    calls = spy_on(monkeypatch, "scatter")
    spec, model, data = load(tmp_path, VAE)
    names = tuple(f"class {k}" for k in range(10))
    named = types.SimpleNamespace(**{f.name: getattr(data, f.name)
                                     for f in dataclasses.fields(data)} | {"class_names": names})
    report = write_report(spec, model, named, tmp_path / "run")
    (_, fig), = calls
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == [f"class {k} ({k})" for k in range(10)]
    assert report["latent_scatter"]["class_names"] is True
    assert_png(tmp_path / "run" / "report" / "latent_scatter.png")


def test_label_names_only_name_labels_they_fit() -> None:
    from aespec.report.labels import label_names

    ten = tuple("abcdefghij")
    assert label_names(np.array([0, 3, 9]), ten) == ten
    assert label_names(np.array([0, 3, 10]), ten) is None  # a label past the names
    assert label_names(np.array([0, 1, 1]), ten) is None  # anomaly marks, class names
    assert label_names(np.array([0, 1]), ("normal", "anomaly")) == ("normal", "anomaly")
    assert label_names(np.array([0.5, 1.0]), ten) is None
    assert label_names(None, ten) is None and label_names(np.array([1]), None) is None


@pytest.mark.parametrize("n", [4, 5, 15])
def test_manifold_ticks_are_symmetric_with_0_in_the_middle(tmp_path, monkeypatch, n) -> None:
    calls = spy_on(monkeypatch, "_draw_examples")
    spec, model, data = load(tmp_path, VAE.replace("manifold(n=4)", f"manifold(n={n})"))
    write_report(spec, model, data, tmp_path / "run")
    (_, fig), = [c for c in calls if c[0][1].startswith("Decoder over")]
    ax = fig.axes[0]
    for ticks, labels, size in ((ax.get_xticks(), ax.get_xticklabels(), ax.images[0]
                                 .get_array().shape[1]), (ax.get_yticks(), ax.get_yticklabels(),
                                                          ax.images[0].get_array().shape[0])):
        texts = [t.get_text() for t in labels]
        assert texts == ["-1.64", "0", "1.64"] or texts == ["1.64", "0", "-1.64"], texts
        assert ticks[1] == pytest.approx(size / 2)  # 0 sits in the middle of the grid
        assert ticks[0] + ticks[2] == pytest.approx(size)  # the ends mirror each other


def test_axis_ticks_of_a_code_range() -> None:
    from aespec.report.figures import axis_ticks, tick_label

    assert [label for _, label in axis_ticks(np.linspace(-1.0, 3.0, 5), 5)] == \
        ["-1.00", "0", "3.00"]  # 0 at its own place, a quarter of the way
    assert [label for _, label in axis_ticks(np.linspace(0.5, 2.5, 5), 5)] == \
        ["0.50", "1.50", "2.50"]  # no 0 in the grid: the middle
    assert tick_label(-1e-17) == "0" and tick_label(-0.0) == "0"


def test_anomaly_scores_are_written_per_example(dense) -> None:
    import csv

    _, _, data, run, report = dense
    item = report["anomaly"]
    assert item["scores"] == "report/anomaly_scores.csv"
    with open(run / item["scores"]) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["index", "score", "label", "flagged"]
    assert [int(r["index"]) for r in rows] == list(range(len(data.x_test)))
    assert [int(r["label"]) for r in rows] == data.labels_test.tolist()
    scores = np.array([float(r["score"]) for r in rows])
    flagged = np.array([int(r["flagged"]) for r in rows])
    assert np.array_equal(flagged, (scores > item["threshold"]).astype(int))
    assert flagged.mean() == pytest.approx(item["share_above"])
    assert "[anomaly_scores.csv](anomaly_scores.csv)" in (run / "report" / "summary.md").read_text()


def test_anomaly_scores_without_labels(tmp_path_factory) -> None:
    unlabelled = MARKED.replace(', labels="labels"', "")
    _, _, _, run, _ = report_of(tmp_path_factory, unlabelled, "unlabelled_scores",
                                lambda tmp: write_marked(tmp, labels=False))
    lines = (run / "report" / "anomaly_scores.csv").read_text().splitlines()
    assert lines[0] == "index,score,flagged" and len(lines) == 61
