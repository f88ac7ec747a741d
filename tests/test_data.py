"""Tests for aespec.data: every source, the reshape rules, the E5xx errors, determinism."""

from __future__ import annotations

import gzip
import pathlib
import struct
import subprocess
import sys

import numpy as np
import pytest

from aespec.data import REGISTRY, Dataset, load_data, natural_shape, validate_args
from aespec.errors import AespecError, Span

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEBIAN_FASHION = pathlib.Path("/usr/share/datasets/fashion-mnist")
SPAN = Span.point(3, 1, 4)


def codes(exc: pytest.ExceptionInfo[AespecError]) -> list[str]:
    return [d.code for d in exc.value.diagnostics]


def text(exc: pytest.ExceptionInfo[AespecError]) -> str:
    return " ".join(f"{d.message} {d.hint or ''}" for d in exc.value.diagnostics)


def write_idx(path: pathlib.Path, array: np.ndarray, gz: bool) -> None:
    """An IDX file: 0, 0, 0x08 (ubyte), ndim, big-endian dims, then the bytes."""
    data = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data += array.astype(np.uint8).tobytes()
    if gz:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def make_idx_dir(folder: pathlib.Path, gz: bool, n_train: int = 30, n_test: int = 10) -> None:
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28))
        images[0, 0, 0] = 255  # so the maximum is known
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images, gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10, gz)


@pytest.fixture(autouse=True)
def no_env_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AESPEC_DATA", raising=False)


# ---------------------------------------------------------------- import boundary


def test_importing_data_does_not_import_numpy_or_sklearn() -> None:
    code = "import aespec.data, sys; print('numpy' in sys.modules, 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True, env={"PYTHONPATH": str(ROOT)})
    assert out.stdout.split() == ["False", "False"]


# ---------------------------------------------------------------- arguments


def test_every_source_has_a_strict_model() -> None:
    assert set(REGISTRY) == {"digits", "fashion_mnist", "mnist", "npz", "npy", "csv",
                            "images", "synthetic"}
    for entry in REGISTRY.values():
        assert entry.args.model_config["extra"] == "forbid"


@pytest.mark.parametrize(("source", "args", "name"), [
    ("digits", {"size": 0}, "size"),
    ("digits", {"size": True}, "size"),
    ("digits", {"sise": 28}, "sise"),
    ("fashion_mnist", {"limit": 0}, "limit"),
    ("synthetic", {"n": 0}, "n"),
    ("synthetic", {"kind": "waves"}, "kind"),
    ("synthetic", {"seed": -1}, "seed"),
    ("npz", {}, "file"),
])
def test_bad_arguments_are_e203_naming_the_argument(source: str, args: dict, name: str) -> None:
    with pytest.raises(AespecError) as exc:
        load_data(source, args, (64,), span=SPAN, file="a.ae")
    assert codes(exc) == ["E203"]
    diag = exc.value.diagnostics[0]
    assert f"'{name}'" in diag.message and diag.span == SPAN and diag.file == "a.ae"


def test_misspelt_argument_gets_a_suggestion() -> None:
    with pytest.raises(AespecError) as exc:
        validate_args("digits", {"sise": 28})
    assert "size" in (exc.value.diagnostics[0].hint or "")


def test_unknown_source_is_e201_with_suggestion() -> None:
    with pytest.raises(AespecError) as exc:
        load_data("digit", {}, (64,))
    assert codes(exc) == ["E201"] and "digits" in text(exc)


def test_natural_shape() -> None:
    assert natural_shape("digits", {}) == (1, 8, 8)
    assert natural_shape("digits", {"size": 28}) == (1, 28, 28)
    assert natural_shape("fashion_mnist", {}) == (1, 28, 28)
    assert natural_shape("mnist", {"limit": 5}) == (1, 28, 28)
    assert natural_shape("npz", {"file": "x.npz"}) is None
    assert natural_shape("synthetic", {}) is None
    assert natural_shape("digits", {"size": -1}) is None
    assert natural_shape("nope", {}) is None


# ---------------------------------------------------------------- digits


def test_digits_default_split_and_range() -> None:
    data = load_data("digits", {}, (1, 8, 8))
    assert isinstance(data, Dataset)
    assert data.x_train.shape == (1437, 1, 8, 8) and data.x_test.shape == (360, 1, 8, 8)
    assert data.x_train.dtype == np.float32
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    assert data.labels_train is not None and data.labels_train.dtype == np.int64
    assert set(np.unique(data.labels_train)) == set(range(10))
    assert data.y_train is None
    assert data.description == "digits: 1437 train / 360 test, 1x8x8, values in [0, 1]"


def test_digits_size_28() -> None:
    data = load_data("digits", {"size": 28}, (1, 28, 28), need_unit_range=True)
    assert data.x_train.shape == (1437, 1, 28, 28) and data.x_test.shape == (360, 1, 28, 28)
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    assert data.description.startswith("digits(size=28): 1437 train / 360 test, 1x28x28")


def test_digits_resize_keeps_a_constant_image_constant() -> None:
    from aespec.data import _interpolation_matrix
    for n_in, n_out in ((8, 28), (8, 5), (8, 8)):
        m = _interpolation_matrix(n_in, n_out)
        np.testing.assert_allclose(m.sum(axis=1), 1.0)
    np.testing.assert_allclose(_interpolation_matrix(8, 8), np.eye(8))


def test_digits_reshape_to_vector_and_is_deterministic() -> None:
    a = load_data("digits", {}, (64,))
    b = load_data("digits", {}, (64,))
    assert a.x_train.shape == (1437, 64)
    assert a.x_train.tobytes() == b.x_train.tobytes()
    assert a.labels_test is not None and b.labels_test is not None
    assert np.array_equal(a.labels_test, b.labels_test)
    a.x_train[0, 0] = 5.0  # a caller's edit must not leak into the next load (cache)
    assert load_data("digits", {}, (64,)).x_train[0, 0] != 5.0


def test_digits_shape_mismatch_is_e502_with_hints() -> None:
    with pytest.raises(AespecError) as exc:
        load_data("digits", {}, (1, 28, 28), span=SPAN)
    assert codes(exc) == ["E502"]
    assert "digits(size=28)" in text(exc) and "input image(1, 8, 8)" in text(exc)
    assert exc.value.diagnostics[0].span == SPAN


# ---------------------------------------------------------------- mnist / fashion_mnist


@pytest.mark.parametrize("gz", [False, True])
def test_idx_files_load_from_path(tmp_path: pathlib.Path, gz: bool) -> None:
    make_idx_dir(tmp_path / "fm", gz)
    data = load_data("fashion_mnist", {"path": "fm"}, (1, 28, 28), base_dir=tmp_path)
    assert data.x_train.shape == (30, 1, 28, 28) and data.x_test.shape == (10, 1, 28, 28)
    assert data.x_train.max() == 1.0 and data.x_train.min() >= 0.0
    assert data.labels_train is not None and list(data.labels_train[:12]) == [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert data.labels_test is not None and len(data.labels_test) == 10


def test_idx_limit_and_vector_input(tmp_path: pathlib.Path) -> None:
    make_idx_dir(tmp_path, gz=True)
    data = load_data("mnist", {"path": str(tmp_path), "limit": 5}, (784,))
    assert data.x_train.shape == (5, 784) and data.x_test.shape == (5, 784)
    assert data.labels_train is not None and list(data.labels_train) == [0, 1, 2, 3, 4]


def test_aespec_data_env_is_searched(tmp_path: pathlib.Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    make_idx_dir(tmp_path / "fashion-mnist", gz=True)
    monkeypatch.setenv("AESPEC_DATA", str(tmp_path))
    assert load_data("fashion_mnist", {}, (1, 28, 28)).x_train.shape == (30, 1, 28, 28)


def test_mnist_npz_file_and_folder(tmp_path: pathlib.Path) -> None:
    rng = np.random.default_rng(0)
    x_test = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "mnist.npz", x_train=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
             y_train=np.arange(20) % 10, x_test=x_test, y_test=np.arange(6))
    by_file = load_data("mnist", {"path": "mnist.npz"}, (1, 28, 28), base_dir=tmp_path)
    by_dir = load_data("mnist", {"path": str(tmp_path)}, (1, 28, 28))
    assert by_file.x_train.shape == (20, 1, 28, 28) and by_file.x_test.shape == (6, 1, 28, 28)
    np.testing.assert_array_equal(by_file.x_train, by_dir.x_train)
    np.testing.assert_allclose(by_file.x_test[:, 0], x_test / np.float32(255))
    assert by_file.labels_test is not None and list(by_file.labels_test) == list(range(6))


def test_missing_mnist_is_e501_listing_places_with_apt_hint(tmp_path: pathlib.Path) -> None:
    with pytest.raises(AespecError) as exc:
        load_data("fashion_mnist", {"path": str(tmp_path / "nowhere")}, (784,))
    diag = exc.value.diagnostics[0]
    assert diag.code == "E501" and str(tmp_path / "nowhere") in diag.message
    assert "apt-get install dataset-fashion-mnist" in (diag.hint or "")
    assert "AESPEC_DATA" in (diag.hint or "")


def test_mnist_search_order_is_listed(tmp_path: pathlib.Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AESPEC_DATA", str(tmp_path))
    with pytest.raises(AespecError) as exc:
        load_data("mnist", {}, (784,))
    message = exc.value.diagnostics[0].message
    assert codes(exc) == ["E501"]
    assert "apt-get install dataset-fashion-mnist" in (exc.value.diagnostics[0].hint or "")
    assert message.index(str(tmp_path)) < message.index("/usr/share/datasets/mnist")


def test_corrupt_idx_is_e504(tmp_path: pathlib.Path) -> None:
    make_idx_dir(tmp_path, gz=False)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x12\x34\x56\x78rubbish")
    with pytest.raises(AespecError) as exc:
        load_data("mnist", {"path": str(tmp_path)}, (784,))
    assert codes(exc) == ["E504"] and "train-images-idx3-ubyte" in text(exc)


def test_truncated_idx_is_e504(tmp_path: pathlib.Path) -> None:
    make_idx_dir(tmp_path, gz=True)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:500]))
    with pytest.raises(AespecError) as exc:
        load_data("mnist", {"path": str(tmp_path)}, (784,))
    assert codes(exc) == ["E504"] and "truncated" in text(exc)


def test_broken_gzip_is_e504(tmp_path: pathlib.Path) -> None:
    make_idx_dir(tmp_path, gz=True)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(AespecError) as exc:
        load_data("mnist", {"path": str(tmp_path)}, (784,))
    assert codes(exc) == ["E504"]


@pytest.mark.skipif(not (DEBIAN_FASHION / "train-images-idx3-ubyte.gz").exists(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_debian_fashion_mnist_files() -> None:
    data = load_data("fashion_mnist", {"limit": 100}, (1, 28, 28), need_unit_range=True)
    assert data.x_train.shape == (100, 1, 28, 28) and data.x_test.shape == (100, 1, 28, 28)
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    assert data.labels_train is not None and set(data.labels_train) <= set(range(10))
    assert data.description.startswith("fashion_mnist(limit=100): 100 train / 100 test")


# ---------------------------------------------------------------- npz / npy / csv


def test_npz_with_paired_target_and_labels_split(tmp_path: pathlib.Path) -> None:
    rng = np.random.default_rng(0)
    clean = rng.random((50, 16)).astype(np.float32)
    np.savez(tmp_path / "pairs.npz", noisy=clean + 0.1, clean=clean, cls=np.arange(50) % 3)
    args = {"file": "pairs.npz", "x": "noisy", "y": "clean", "labels": "cls"}
    data = load_data("npz", args, (1, 4, 4), base_dir=tmp_path)
    assert data.x_train.shape == (40, 1, 4, 4) and data.x_test.shape == (10, 1, 4, 4)
    assert data.y_train is not None and data.y_train.shape == (40, 1, 4, 4)
    # the split keeps x, y and labels aligned, and float data is kept as it is
    np.testing.assert_allclose(data.x_train - data.y_train, np.float32(0.1), atol=1e-6)
    assert data.labels_train is not None
    np.testing.assert_array_equal(data.labels_train % 3, data.labels_train)
    assert "targets 1x4x4" in data.description


def test_npz_own_test_split_and_uint8_scaling(tmp_path: pathlib.Path) -> None:
    x_train = np.full((8, 3, 3), 255, dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x_train=x_train, x_test=np.zeros((2, 3, 3), np.uint8))
    data = load_data("npz", {"file": str(tmp_path / "d.npz"), "x": "x_train"}, (9,))
    assert data.x_train.shape == (8, 9) and data.x_test.shape == (2, 9)
    assert data.x_train.max() == 1.0 and data.x_test.max() == 0.0


def test_npz_missing_key_lists_keys(tmp_path: pathlib.Path) -> None:
    np.savez(tmp_path / "d.npz", x_train=np.zeros((4, 2)), x_test=np.zeros((2, 2)))
    with pytest.raises(AespecError) as exc:
        load_data("npz", {"file": "d.npz"}, (2,), base_dir=tmp_path)
    assert codes(exc) == ["E504"]
    assert "x_train" in exc.value.diagnostics[0].message and 'x="x_train"' in text(exc)


def test_npz_channels_last_images_become_channels_first(tmp_path: pathlib.Path) -> None:
    x = np.random.default_rng(0).random((10, 4, 4, 3)).astype(np.float32)
    np.savez(tmp_path / "rgb.npz", x=x)
    data = load_data("npz", {"file": "rgb.npz"}, (3, 4, 4), base_dir=tmp_path)
    whole = np.concatenate([data.x_train, data.x_test])
    assert whole.shape == (10, 3, 4, 4)
    np.testing.assert_array_equal(np.sort(whole[:, 2].ravel()), np.sort(x[..., 2].ravel()))


def test_npy_with_separate_target_file(tmp_path: pathlib.Path) -> None:
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((10, 28, 28)))
    np.save(tmp_path / "y.npy", np.ones((10, 28, 28)))
    data = load_data("npy", {"file": "x.npy", "y": "y.npy"}, (1, 28, 28), base_dir=tmp_path)
    assert data.x_train.shape == (8, 1, 28, 28) and data.x_test.shape == (2, 1, 28, 28)
    assert data.y_test is not None and data.y_test.shape == (2, 1, 28, 28)
    assert data.y_train is not None and data.y_train.dtype == np.float32
    assert data.labels_train is None


def test_npy_relative_to_cwd_without_base_dir(tmp_path: pathlib.Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    np.save(tmp_path / "x.npy", np.zeros((5, 4)))
    monkeypatch.chdir(tmp_path)
    assert load_data("npy", {"file": "x.npy"}, (4,)).x_train.shape == (4, 4)


def test_fixed_split_is_a_seed_0_permutation_with_the_last_fifth_as_test(
        tmp_path: pathlib.Path) -> None:
    np.save(tmp_path / "x.npy", np.arange(20.0).reshape(10, 2))
    data = load_data("npy", {"file": "x.npy"}, (2,), base_dir=tmp_path)
    order = np.random.default_rng(0).permutation(10)
    np.testing.assert_array_equal(data.x_train[:, 0], 2.0 * order[:8])
    np.testing.assert_array_equal(data.x_test[:, 0], 2.0 * order[8:])


def test_target_count_mismatch_is_e504(tmp_path: pathlib.Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((10, 4)))
    np.save(tmp_path / "y.npy", np.zeros((9, 4)))
    with pytest.raises(AespecError) as exc:
        load_data("npy", {"file": "x.npy", "y": "y.npy"}, (4,), base_dir=tmp_path)
    assert codes(exc) == ["E504"] and "9 targets" in text(exc)


def test_csv_with_label_column(tmp_path: pathlib.Path) -> None:
    rows = ["a,b,cls,c,d"] + [f"{i},{i / 10},{i % 2},0.5,1" for i in range(10)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    data = load_data("csv", {"file": "t.csv", "label": "cls"}, (2, 2), base_dir=tmp_path)
    assert data.x_train.shape == (8, 2, 2) and data.labels_train is not None
    whole = np.concatenate([data.x_train, data.x_test]).reshape(10, 4)
    labels = np.concatenate([data.labels_train, data.labels_test])
    np.testing.assert_array_equal(labels, whole[:, 0].astype(np.int64) % 2)
    assert data.x_train.max() > 1  # user floats are kept as they are


def test_csv_unknown_label_and_bad_value(tmp_path: pathlib.Path) -> None:
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,x\n")
    with pytest.raises(AespecError) as exc:
        load_data("csv", {"file": "t.csv", "label": "lable"}, (1,), base_dir=tmp_path)
    assert codes(exc) == ["E504"] and "a, b" in text(exc)
    with pytest.raises(AespecError) as exc:
        load_data("csv", {"file": "t.csv"}, (2,), base_dir=tmp_path)
    assert codes(exc) == ["E504"] and "t.csv:3" in text(exc)


def test_csv_fractional_or_missing_label_is_e504(tmp_path: pathlib.Path) -> None:
    (tmp_path / "t.csv").write_text("a,cls\n1,0\n2,1.5\n3,nan\n4,1\n")
    with pytest.raises(AespecError) as exc:
        load_data("csv", {"file": "t.csv", "label": "cls"}, (1,), base_dir=tmp_path)
    assert codes(exc) == ["E504"] and "whole numbers" in text(exc)


# ---------------------------------------------------------------- the E5xx errors


def test_missing_file_is_e501(tmp_path: pathlib.Path) -> None:
    for source in ("npz", "npy", "csv"):
        with pytest.raises(AespecError) as exc:
            load_data(source, {"file": "gone.dat"}, (4,), base_dir=tmp_path, span=SPAN)
        assert codes(exc) == ["E501"] and str(tmp_path / "gone.dat") in text(exc)
        assert exc.value.diagnostics[0].span == SPAN


@pytest.mark.parametrize("source", ["npz", "npy"])
def test_corrupt_file_is_e504(tmp_path: pathlib.Path, source: str) -> None:
    (tmp_path / "bad.bin").write_bytes(b"PK\x03\x04 this is no archive")
    with pytest.raises(AespecError) as exc:
        load_data(source, {"file": "bad.bin"}, (4,), base_dir=tmp_path)
    assert codes(exc) == ["E504"] and "bad.bin" in text(exc)


@pytest.mark.parametrize("source", ["npz", "npy"])
def test_text_file_is_e504_not_a_numpy_file(tmp_path: pathlib.Path, source: str) -> None:
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(AespecError) as exc:
        load_data(source, {"file": "notes.txt"}, (4,), base_dir=tmp_path)
    assert codes(exc) == ["E504"] and "not a .npy or .npz file" in text(exc)


def test_pickled_object_array_is_e504(tmp_path: pathlib.Path) -> None:
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(AespecError) as exc:
        load_data("npy", {"file": "obj.npy"}, (1,), base_dir=tmp_path)
    assert codes(exc) == ["E504"]


def test_shape_mismatch_is_e502_naming_file_and_shapes(tmp_path: pathlib.Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((10, 28, 28)))
    with pytest.raises(AespecError) as exc:
        load_data("npy", {"file": "x.npy"}, (1, 32, 32), base_dir=tmp_path)
    message = exc.value.diagnostics[0].message
    assert codes(exc) == ["E502"] and "x.npy" in message
    assert "(28, 28)" in message and "(1, 32, 32)" in message
    assert "input image(1, 28, 28)" in (exc.value.diagnostics[0].hint or "")


def test_values_outside_unit_range_are_e503_for_bce(tmp_path: pathlib.Path) -> None:
    np.save(tmp_path / "x.npy", np.linspace(-2.0, 3.0, 40).reshape(10, 4))
    load_data("npy", {"file": "x.npy"}, (4,), base_dir=tmp_path)  # fine for mse
    with pytest.raises(AespecError) as exc:
        load_data("npy", {"file": "x.npy"}, (4,), base_dir=tmp_path, need_unit_range=True)
    diag = exc.value.diagnostics[0]
    assert diag.code == "E503" and "x.npy" in diag.message
    assert "-2" in diag.message and "3" in diag.message and "mse" in (diag.hint or "")


def test_nan_values_are_e504(tmp_path: pathlib.Path) -> None:
    x = np.zeros((10, 4))
    x[3, 1] = np.nan
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(AespecError) as exc:
        load_data("npy", {"file": "x.npy"}, (4,), base_dir=tmp_path)
    assert codes(exc) == ["E504"] and "NaN" in text(exc)


def test_too_few_examples_is_e505(tmp_path: pathlib.Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 4)))
    with pytest.raises(AespecError) as exc:
        load_data("npy", {"file": "x.npy"}, (4,), base_dir=tmp_path)
    assert codes(exc) == ["E505"]


# ---------------------------------------------------------------- synthetic


@pytest.mark.parametrize("kind", ["blobs", "bars", "sine"])
@pytest.mark.parametrize("shape", [(1, 8, 8), (64,), (1, 40), (10,)])
def test_synthetic_fits_the_input(kind: str, shape: tuple[int, ...]) -> None:
    data = load_data("synthetic", {"n": 50, "kind": kind}, shape, need_unit_range=True)
    assert data.x_train.shape == (40, *shape) and data.x_test.shape == (10, *shape)
    assert data.x_train.dtype == np.float32
    assert data.labels_train is not None and data.labels_train.dtype == np.int64


def test_synthetic_bars_are_binary_bars() -> None:
    data = load_data("synthetic", {"n": 40, "kind": "bars"}, (1, 6, 6))
    assert data.labels_train is not None
    for image, label in zip(data.x_train[:, 0], data.labels_train, strict=True):
        assert set(np.unique(image)) <= {0.0, 1.0} and image.any()
        along = image if label == 0 else image.T  # each row (or column) is all 0 or all 1
        assert all(len(set(line)) == 1 for line in along)


def test_synthetic_is_deterministic_and_seeded() -> None:
    a = load_data("synthetic", {"n": 30, "kind": "sine", "seed": 3}, (1, 20))
    b = load_data("synthetic", {"n": 30, "kind": "sine", "seed": 3}, (1, 20))
    c = load_data("synthetic", {"n": 30, "kind": "sine", "seed": 4}, (1, 20))
    assert a.x_train.tobytes() == b.x_train.tobytes()
    assert a.x_test.tobytes() == b.x_test.tobytes()
    assert a.x_train.tobytes() != c.x_train.tobytes()


# ---------------------------------------------------------------- normal= (anomaly detection)

NOT_SEVEN = (0, 1, 2, 3, 4, 5, 6, 8, 9)


def test_normal_classes_train_on_them_and_mark_the_test_set() -> None:
    every = load_data("digits", {}, (64,))
    data = load_data("digits", {"normal": NOT_SEVEN}, (64,))
    assert every.labels_train is not None and every.labels_test is not None
    # the training data holds no 7: exactly the other classes of the same split
    kept = every.labels_train != 7
    np.testing.assert_array_equal(data.x_train, every.x_train[kept])
    assert data.labels_train is not None and not data.labels_train.any()  # all normal
    # the test set keeps every example; its labels mark the 7s as anomalies
    np.testing.assert_array_equal(data.x_test, every.x_test)
    assert data.labels_test is not None and data.labels_test.dtype == np.int64
    np.testing.assert_array_equal(data.labels_test, (every.labels_test == 7).astype(np.int64))
    assert set(np.unique(data.labels_test).tolist()) == {0, 1}
    assert data.class_names == ("normal", "anomaly")
    n7 = int((every.labels_test == 7).sum())
    assert data.description.endswith(f"test: {360 - n7} normal, {n7} anomalies")


def test_one_normal_class_as_an_int_and_a_run_json_list() -> None:
    one = load_data("digits", {"normal": 3}, (64,))
    assert len(one.x_train) == int((load_data("digits", {}, (64,)).labels_train == 3).sum())
    assert one.labels_test is not None and one.labels_test.mean() > 0.8  # nine classes of ten
    listed = load_data("digits", {"normal": [0, 1]}, (64,))  # as run.json stores a tuple
    assert listed.x_train.tobytes() == load_data("digits", {"normal": (0, 1)},
                                                 (64,)).x_train.tobytes()


def test_class_names() -> None:
    assert load_data("digits", {}, (64,)).class_names == tuple("0123456789")
    assert load_data("synthetic", {"n": 20}, (4,)).class_names is None


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_class_names_and_normal() -> None:
    data = load_data("fashion_mnist", {"limit": 200}, (784,))
    assert data.class_names is not None and data.class_names[0] == "T-shirt/top"
    assert data.class_names[9] == "Ankle boot" and len(data.class_names) == 10
    shoes = load_data("fashion_mnist", {"limit": 200, "normal": (5, 7, 9)}, (784,))
    assert 0 < len(shoes.x_train) < 200 and shoes.labels_test is not None
    assert set(np.unique(shoes.labels_test).tolist()) == {0, 1}


@pytest.mark.parametrize(("args", "words"), [
    ({"normal": 10}, "no class 10"),
    ({"normal": (0, -1)}, "no class -1"),
    ({"normal": tuple(range(10))}, "every class"),
    ({"normal": (1, 1)}, "more than once"),
    ({"normal": ()}, "one class at least"),
    ({"normal": 1.5}, "integer"),
    ({"normal": True}, "integer"),
])
def test_bad_normal_classes_of_digits_are_e203_at_check_time(args: dict, words: str) -> None:
    with pytest.raises(AespecError) as exc:
        validate_args("digits", args, span=SPAN)
    assert codes(exc) == ["E203"] and words in text(exc) and "'normal'" in text(exc)
    assert exc.value.diagnostics[0].span == SPAN


def test_normal_class_errors_say_what_to_do() -> None:
    with pytest.raises(AespecError) as exc:
        validate_args("mnist", {"normal": 12})
    assert "0 to 9" in (exc.value.diagnostics[0].hint or "")
    for source, args, key in (("npz", {"file": "d.npz"}, 'labels="'),
                              ("csv", {"file": "d.csv"}, 'label="')):
        with pytest.raises(AespecError) as exc:
            validate_args(source, {**args, "normal": 1})
        assert codes(exc) == ["E203"] and key in text(exc)  # normal needs the labels named
    with pytest.raises(AespecError) as exc:
        validate_args("npy", {"file": "d.npy", "normal": 1})  # npy has no labels at all
    assert codes(exc) == ["E203"] and "no argument 'normal'" in text(exc)


def test_normal_in_the_spec_is_e203_from_aespec_check() -> None:
    from aespec.graph.frontend import check_source
    spec = ("data digits(normal=(0, 12))\ninput vector(64)\nencoder {\n dense(8)\n}\n"
            "bottleneck {\n dense(4)\n}\ndecoder {\n dense(64)\n}\n")
    result = check_source(spec, "a.ae")
    assert [d.code for d in result.diagnostics if d.severity == "error"] == ["E203"]
    assert "no class 12" in result.diagnostics[0].message
    ok = check_source(spec.replace("(0, 12)", "(0, 1, 2)"), "a.ae")
    assert ok.ok and ok.spec is not None and ok.spec.data.args == {"normal": (0, 1, 2)}


def test_normal_classes_of_a_file_are_checked_when_it_is_read(tmp_path: pathlib.Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((60, 4)), y=np.arange(60) % 3)
    args = {"file": "d.npz", "labels": "y"}
    data = load_data("npz", {**args, "normal": (0, 1)}, (4,), base_dir=tmp_path)
    assert data.labels_test is not None and len(data.x_test) == 12  # the test set keeps all
    assert set(np.unique(data.labels_test).tolist()) == {0, 1} and len(data.x_train) < 48
    for normal, words in ((7, "not in the data: its labels are 0, 1, 2"),
                          ((0, 1, 2), "every class of the data (0, 1, 2) is normal")):
        with pytest.raises(AespecError) as exc:
            load_data("npz", {**args, "normal": normal}, (4,), base_dir=tmp_path)
        assert codes(exc) == ["E507"] and words in text(exc)
        assert exc.value.diagnostics[0].hint


def test_normal_on_csv_labels(tmp_path: pathlib.Path) -> None:
    rows = ["a,b,cls"] + [f"{i},{i / 10},{i % 4}" for i in range(40)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    data = load_data("csv", {"file": "t.csv", "label": "cls", "normal": (0, 1, 2)}, (2,),
                     base_dir=tmp_path)
    train_cls = data.x_train[:, 0].astype(np.int64) % 4  # a = i, cls = i % 4
    assert set(train_cls.tolist()) <= {0, 1, 2}
    assert data.labels_test is not None
    np.testing.assert_array_equal(data.labels_test,
                                  (data.x_test[:, 0].astype(np.int64) % 4 == 3).astype(int))


def test_normal_without_labels_in_the_data_is_e507(tmp_path: pathlib.Path) -> None:
    np.savez(tmp_path / "fashion_mnist.npz", x_train=np.zeros((6, 28, 28), np.uint8),
             x_test=np.zeros((4, 28, 28), np.uint8))  # no y_train / y_test
    with pytest.raises(AespecError) as exc:
        load_data("fashion_mnist", {"path": str(tmp_path / "fashion_mnist.npz"), "normal": 0},
                  (784,))
    assert codes(exc) == ["E507"] and "no class labels" in text(exc)


# ---------------------------------------------------------------- files that lie (issue 9)


def _raises(code: str, source: str, args: dict, shape=(64,)):
    with pytest.raises(AespecError) as exc:
        load_data(source, args, shape)
    assert exc.value.diagnostics[0].code == code, exc.value.diagnostics
    return exc.value.diagnostics[0]


def test_regression_an_idx_header_claiming_4g_by_65535_by_65535_is_refused(tmp_path):
    import gzip
    import struct

    header = struct.pack(">IIII", 0x0803, 0xFFFFFFFF, 65535, 65535)
    for name in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        (tmp_path / name).write_bytes(header + bytes(100))
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress(header + bytes(100)))
    for name in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / name).write_bytes(struct.pack(">II", 0x0801, 5) + bytes(5))
    d = _raises("E504", "fashion_mnist", {"path": str(tmp_path)}, (1, 28, 28))
    assert "header claims" in d.message
    for name in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        (tmp_path / name).unlink()  # now the gzipped ones: their size is not known ahead
    d = _raises("E508", "fashion_mnist", {"path": str(tmp_path)}, (1, 28, 28))
    assert "header claims" in d.message


def test_regression_an_npy_header_claiming_1e11_by_64_is_refused(tmp_path):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 64), }"
    header += " " * (-(len(header) + 11) % 64) + "\n"
    path = tmp_path / "lie.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little")
                     + header.encode() + bytes(256))
    d = _raises("E504", "npy", {"file": str(path)})
    assert "(100000000000, 64)" in d.message


def test_regression_an_npz_that_inflates_far_past_its_size_is_refused(tmp_path):
    import zipfile

    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, z.open("x.npy", "w") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (300 * 4096, 64)})
        for _ in range(300):
            fh.write(bytes(1 << 20))
    assert path.stat().st_size < 2 << 20
    d = _raises("E504", "npz", {"file": str(path)})
    assert "zip bomb" in d.message


def test_regression_a_csv_field_of_200000_characters_is_e504(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("a,b\n1," + "9" * 200_000 + "\n")
    d = _raises("E504", "csv", {"file": str(path)})
    assert "longer than" in d.message


def test_regression_csv_on_any_file_never_prints_its_contents(tmp_path):
    secret = "root:x:0:0:root:/root:/bin/bash"
    path = tmp_path / "passwd"
    path.write_text(secret + "\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n")
    d = _raises("E504", "csv", {"file": str(path), "label": "x"})
    shown = d.message + (d.hint or "")
    assert "/bin/bash" not in shown and "0:0" not in shown and str(path) in d.message


@pytest.mark.parametrize("source, args", [("digits", {"size": 100000}),
                                          ("synthetic", {"n": 10 ** 8})])
def test_regression_data_too_large_to_make_is_e508_before_it_is_made(source, args):
    shape = (1, 100000, 100000) if source == "digits" else (784,)
    d = _raises("E508", source, args, shape)
    assert "free" in d.message


@pytest.mark.parametrize("source, arg", [("npy", "file"), ("npz", "file"), ("csv", "file"),
                                         ("mnist", "path")])
def test_regression_a_data_file_that_is_a_fifo_hung_the_run(tmp_path, source, arg) -> None:
    import os

    fifo = tmp_path / "x.npy"
    os.mkfifo(fifo)
    target = str(fifo) if arg == "file" else str(tmp_path)
    if arg == "path":
        for name in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
            os.mkfifo(tmp_path / name)
    with pytest.raises(AespecError) as exc:  # at once: the FIFO is never opened
        load_data(source, {arg: target}, (64,) if arg == "file" else (1, 28, 28))
    assert exc.value.diagnostics[0].code in ("E501", "E504")
