"""Tests for aespec.report.items: every item on real (untrained) models built from tiny specs."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")

import aespec  # noqa: E402
from aespec.data import load_data  # noqa: E402
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
