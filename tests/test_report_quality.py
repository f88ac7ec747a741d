"""sample_quality: the reference classifier, the Frechet distance and class coverage, and a
briefly trained digits VAE measured against real data, noise and the mean image.

Thresholds were chosen from runs of specs/vae_samples.ae on digits, seeds 0-3: 5 epochs give
an FD of 104-121 and 9-10 classes (real data 5.4, noise 483, mean image 431); one epoch
340-350 and 2 classes.  The margins below hold for any of them.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")

import aespec  # noqa: E402
from aespec.data import load_data  # noqa: E402
from aespec.graph import check_source  # noqa: E402
from aespec.report import quality  # noqa: E402
from aespec.report.figures import short_number  # noqa: E402
from aespec.report.items import write_report  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]

UNLABELLED = """
model vae_npz
data npz("x.npz", x="x")
input vector(16)
encoder {
    dense(8) relu
}
bottleneck {
    gaussian(2)
}
decoder {
    dense(16) sigmoid
}
loss bce
report {
    sample_quality(n=50)
}
"""


@pytest.fixture
def own_cache(tmp_path, monkeypatch) -> pathlib.Path:
    """An empty cache folder, and no classifier kept in this process."""
    monkeypatch.setenv("AESPEC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(quality, "_MEMORY", {})
    return tmp_path / "cache"


def digits():
    return load_data("digits", {}, (64,))


def classifier_of(ds):
    return quality.reference_classifier(ds.description, ds.x_train, ds.labels_train,
                                        ds.x_test, ds.labels_test)


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory) -> dict:
    """specs/vae_samples.ae, 5 epochs, its report with sample_quality."""
    out = tmp_path_factory.mktemp("vae")
    result = aespec.train(ROOT / "specs" / "vae_samples.ae", epochs=5, out=out / "run",
                          quiet=True)
    return json.loads((pathlib.Path(result.run_dir) / "report.json").read_text())


def test_classifier_is_accurate_and_cached(own_cache, monkeypatch) -> None:
    ds = digits()
    clf = classifier_of(ds)
    assert clf.accuracy > 0.85 and clf.classes == 10
    assert len(list((own_cache / "classifiers").glob("*.pt"))) == 1

    def no_training(*args, **kwargs):
        raise AssertionError("the cached classifier was trained again")

    monkeypatch.setattr(quality, "_MEMORY", {})  # only the file can answer now
    monkeypatch.setattr(quality, "train_classifier", no_training)
    again = classifier_of(ds)
    assert again.accuracy == clf.accuracy
    x = ds.x_test[:50]
    assert np.array_equal(quality.features(again, x), quality.features(clf, x))


def test_the_cache_is_keyed_by_data_set_and_version(own_cache, monkeypatch) -> None:
    trained = []

    def untrained(x, *args):
        trained.append(len(x))
        return quality.Classifier(quality._network(x[0].size, 10), 0.5, 10)

    monkeypatch.setattr(quality, "train_classifier", untrained)
    x, labels = np.zeros((4, 64), np.float32), np.arange(4)
    for key, version in (("digits: a", 1), ("digits: a", 1), ("digits: b", 1), ("digits: a", 2)):
        monkeypatch.setattr(quality, "VERSION", version)
        quality._MEMORY.clear()
        quality.reference_classifier(key, x, labels, x, labels)
    assert len(trained) == 3
    assert len(list((own_cache / "classifiers").glob("*.pt"))) == 3


def test_a_damaged_cache_file_is_trained_again(own_cache) -> None:
    ds = digits()
    classifier_of(ds)
    (path,) = (own_cache / "classifiers").glob("*.pt")
    path.write_bytes(b"not a checkpoint")
    quality._MEMORY.clear()
    assert classifier_of(ds).accuracy > 0.85
    assert path.stat().st_size > 1000


def test_frechet_distance_by_hand() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (4000, 3))
    assert quality.frechet_distance(a, a) == pytest.approx(0, abs=1e-9)
    # N(0, I) against N(m, 4 I): |m|^2 + 3 (1 + 4 - 2 * 2) = |m|^2 + 3
    b = rng.normal(0, 1, (4000, 3)) * 2 + np.array([1.0, 2.0, 0.0])
    assert quality.frechet_distance(a, b) == pytest.approx(5 + 3, rel=0.1)
    assert quality.frechet_distance(a, np.zeros((10, 3))) == pytest.approx(3, rel=0.1)


def test_short_number() -> None:
    assert [short_number(v) for v in (5.4321, 107.4, 1170.2, 0.0)] == ["5.43", "107", "1170",
                                                                         "0"]


def test_class_spread() -> None:
    spread = quality.class_spread(np.array([0, 0, 1, 1, 2, 2, 2, 2, 2, 9]), 10, 0.15)
    assert spread["covered"] == 3 and spread["classes"] == 10
    assert spread["shares"][2] == 0.5 and spread["shares"][9] == 0.1
    one = quality.class_spread(np.zeros(20, np.int64), 10, 0.02)
    assert one["covered"] == 1 and str(one["entropy_bits"]) == "0.0"
    even = quality.class_spread(np.arange(40) % 4, 4, 0.02)
    assert even["entropy_bits"] == pytest.approx(2.0)


def test_real_data_is_far_below_the_ceilings(vae_run) -> None:
    q = vae_run["sample_quality"]
    real, noise, mean = q["real_data"], q["noise"], q["mean_image"]
    assert real["frechet_distance"] * 10 < min(noise["frechet_distance"],
                                               mean["frechet_distance"])
    assert real["covered"] == 10 and real["entropy_bits"] > 3.0
    assert mean["covered"] == 1 and mean["entropy_bits"] == 0
    assert noise["covered"] <= 6 or noise["frechet_distance"] > 20 * real["frechet_distance"]
    assert q["classifier_accuracy"] > 0.85
    assert q["entropy_max_bits"] == pytest.approx(np.log2(10))


def test_a_briefly_trained_vae_samples_like_the_data(vae_run) -> None:
    q = vae_run["sample_quality"]
    samples, noise = q["samples"], q["noise"]
    assert samples["frechet_distance"] < 0.5 * noise["frechet_distance"]
    assert samples["frechet_distance"] > q["real_data"]["frechet_distance"]
    assert samples["covered"] >= 6
    assert samples["examples"] == q["n"] == 1000


def test_report_says_what_the_figures_are(vae_run) -> None:
    q = vae_run["sample_quality"]
    assert "not Inception" in q["method"]
    assert q["file"] == "report/sample_quality.png"


def test_summary_reads_fd_beside_floor_and_ceilings(tmp_path, own_cache) -> None:
    path = tmp_path / "vae.ae"
    path.write_text((ROOT / "specs" / "vae_samples.ae").read_text().replace(
        "sample_quality ", "sample_quality(n=200) "))
    spec = aespec.load(path)
    torch.manual_seed(0)
    model = aespec.build(spec)
    report = write_report(spec, model, digits(), tmp_path / "run")
    summary = (tmp_path / "run" / "report" / "summary.md").read_text()
    fd = report["sample_quality"]["samples"]["frechet_distance"]
    assert f"- Frechet distance: {short_number(fd)} (real data " in summary
    assert "uniform noise" in summary and "mean image" in summary and "not Inception" in summary
    assert (tmp_path / "run" / "report" / "sample_quality.png").read_bytes()[:4] == b"\x89PNG"


def test_data_without_labels_is_refused(tmp_path) -> None:
    checked = check_source(UNLABELLED, "vae_npz.ae")
    assert [d.code for d in checked.diagnostics] == ["E315"]
    assert "aespec has none for data npz" in checked.diagnostics[0].message
    assert "use data digits, fashion_mnist, mnist" in checked.diagnostics[0].hint


def test_the_report_skips_mnist_without_labels(tmp_path) -> None:
    """An mnist .npz may leave its labels out; only loading the data tells."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "m.npz", x_train=rng.random((60, 28, 28)), x_test=rng.random((20, 28, 28)))
    path = tmp_path / "vae_mnist.ae"
    path.write_text(UNLABELLED.replace('npz("x.npz", x="x")', 'mnist(path="m.npz")')
                    .replace("vector(16)", "vector(784)").replace("dense(16)", "dense(784)"))
    spec = aespec.load(path)
    model = aespec.build(spec)
    data = load_data("mnist", {"path": "m.npz"}, (784,), base_dir=tmp_path)
    report = write_report(spec, model, data, tmp_path / "run")
    skipped = report["sample_quality"]["skipped"]
    assert "needs a reference classifier" in skipped and "not for mnist without labels" in skipped


def test_normal_classes_are_refused() -> None:
    text = (ROOT / "specs" / "vae_samples.ae").read_text().replace(
        "data digits", "data digits(normal=(0, 1))")
    checked = check_source(text, "vae.ae")
    assert [d.code for d in checked.diagnostics] == ["E315"]
    assert "anomaly marks" in checked.diagnostics[0].message


def test_a_model_that_cannot_sample_is_refused() -> None:
    text = (ROOT / "specs" / "vae_samples.ae").read_text().replace(
        "gaussian(8, samples=4)", "dense(8)")
    checked = check_source(text, "ae.ae")
    assert "E308" in [d.code for d in checked.diagnostics]
    assert any("sample_quality needs a stochastic latent" in d.message
               for d in checked.diagnostics)


def test_an_rbm_can_be_measured_as_it_can_sample() -> None:
    """An rbm draws by Gibbs chains (`samples`), so `sample_quality` measures them too."""
    text = (ROOT / "specs" / "rbm.ae").read_text().replace(
        "    samples(n=64)", "    samples(n=64)\n    sample_quality")
    checked = check_source(text, "rbm.ae")
    assert "sample_quality" in text and checked.ok, checked.diagnostics
