"""`aespec decode RUN_DIR CODES -o FILE`: the run's decoder on given codes; its errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from aespec.cli import app

torch = pytest.importorskip("torch")
runner = CliRunner()

PLAIN = """\
model tiny_ae
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
train {
    epochs 1
    batch 256
}
"""

# the decoder joins an encoder tensor: it cannot run from a code alone (E311)
SKIP = """\
model tiny_unet
data digits
input image(1, 8, 8)
encoder {
    e1 = conv(2, k=3) relu
    maxpool(2)
}
bottleneck {
    conv(2, k=3) relu
}
decoder {
    upsample(2)
    concat(e1)
    conv(1, k=3) sigmoid
}
loss bce
train {
    epochs 1
    batch 256
}
"""


def invoke(*args: object):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def train(root: Path, text: str, name: str) -> Path:
    (root / f"{name}.ae").write_text(text)
    result = invoke("run", root / f"{name}.ae", "--out", root / name, "-q", "--no-report")
    assert result.exit_code == 0, result.output
    return root / name


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return train(tmp_path_factory.mktemp("decode"), PLAIN, "plain")


def test_decode_gives_the_reconstructions_of_encoded_codes(run, tmp_path):
    from aespec.train import load_run

    codes, decoded = tmp_path / "codes.npy", tmp_path / "decoded.npy"
    assert invoke("encode", run, "--split", "test", "-o", codes).exit_code == 0
    result = invoke("decode", run, codes, "-o", decoded)
    assert result.exit_code == 0, result.output
    assert f"wrote {decoded}: 360 reconstructions of shape (64,)" in result.output
    x_hat = np.load(decoded)
    assert x_hat.shape == (360, 64) and x_hat.dtype == np.float32
    loaded = load_run(run, device="cpu")
    x = torch.from_numpy(loaded.dataset().x_test)
    with torch.no_grad():
        want = loaded.model.eval()(x).x_hat.numpy()
    assert np.allclose(x_hat, want, atol=1e-5)  # decode(encode(x)) is the reconstruction


def test_output_is_written_at_exactly_the_path_given(run, tmp_path):
    codes = tmp_path / "codes.npy"
    np.save(codes, np.zeros((3, 4), np.float32))
    plain = tmp_path / "decoded"  # no .npy suffix: np.save alone would write decoded.npy
    result = invoke("decode", run, codes, "-o", plain)
    assert result.exit_code == 0 and f"wrote {plain}:" in result.output
    assert plain.is_file() and not (tmp_path / "decoded.npy").exists()
    assert np.load(plain).shape == (3, 64)
    samples = tmp_path / "codes_again"  # encode shares the writer
    assert invoke("encode", run, "--split", "test", "-o", samples).exit_code == 0
    assert samples.is_file() and not (tmp_path / "codes_again.npy").exists()


def error_of(run: Path, codes: Path, out: Path) -> str:
    result = invoke("decode", run, codes, "-o", out)
    assert result.exit_code == 1, result.output
    assert not out.exists()
    return result.output


def test_codes_of_the_wrong_shape_name_both_shapes(run, tmp_path):
    codes, out = tmp_path / "codes.npy", tmp_path / "out.npy"
    np.save(codes, np.zeros((5, 3), np.float32))
    text = error_of(run, codes, out)
    assert "error[E607]" in text and "(5, 3)" in text and "(N, 4)" in text
    np.save(codes, np.zeros(4, np.float32))
    assert "a single code: save it with shape (1, 4)" in error_of(run, codes, out)
    np.save(codes, np.zeros((5, 2, 2), np.float32))
    assert "reshape the codes to (N, 4)" in error_of(run, codes, out)


@pytest.mark.parametrize("kind", ["missing", "text", "npz", "objects", "nan", "empty"])
def test_unusable_code_files_are_e607(run, tmp_path, kind):
    codes, out = tmp_path / "codes.npy", tmp_path / "out.npy"
    if kind == "text":
        codes.write_text("0.1, 0.2, 0.3, 0.4\n")
    elif kind == "npz":
        with open(codes, "wb") as f:
            np.savez(f, z=np.zeros((2, 4)))
    elif kind == "objects":
        np.save(codes, np.array([{"z": 1}, None], dtype=object), allow_pickle=True)
    elif kind == "nan":
        np.save(codes, np.full((2, 4), np.nan))
    elif kind == "empty":
        np.save(codes, np.zeros((0, 4)))
    text = error_of(run, codes, out)
    assert "error[E607]" in text and f"cannot use {codes} as codes" in text, text


def test_an_unwritable_output_is_e606(run, tmp_path):
    codes = tmp_path / "codes.npy"
    np.save(codes, np.zeros((2, 4)))
    result = invoke("decode", run, codes, "-o", tmp_path / "no" / "such" / "x.npy")
    assert result.exit_code == 1 and "error[E606]" in result.output


def test_a_decoder_that_reads_the_encoder_cannot_decode(tmp_path):
    run = train(tmp_path, SKIP, "unet")
    codes, out = tmp_path / "codes.npy", tmp_path / "out.npy"
    np.save(codes, np.zeros((2, 2, 4, 4), np.float32))
    text = error_of(run, codes, out)
    assert "error[E311]" in text and str(run) in text  # the run it came from


def test_regression_a_codes_header_claiming_a_billion_rows_was_allocated(run, tmp_path):
    """An .npy header that claims (10**9, 4) float32 over 16 bytes of data went to np.load,
    which sizes the array from the header. The header is now checked against the file's
    size first, as data files are: E504, naming the file, nothing allocated."""
    from numpy.lib import format as npformat

    codes, out = tmp_path / "codes.npy", tmp_path / "out.npy"
    with open(codes, "wb") as f:
        npformat.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False,
                                            "shape": (10**9, 4)})
        f.write(np.zeros(4, np.float32).tobytes())
    text = error_of(run, codes, out)
    assert "error[E504]" in text and str(codes) in text and "(1000000000, 4)" in text, text


def test_encode_writes_the_labels_beside_the_codes(run, tmp_path):
    codes, labels = tmp_path / "codes.npy", tmp_path / "labels.npy"
    result = invoke("encode", run, "--split", "test", "-o", codes, "--labels", labels)
    assert result.exit_code == 0 and f"wrote {labels}: 360 labels" in result.output
    from aespec.train import load_run

    y = np.load(labels)
    assert y.dtype == np.int64 and np.load(codes).shape == (360, 4)
    assert np.array_equal(y, load_run(run, device="cpu").dataset().labels_test)


def test_resuming_a_finished_run_says_how_to_train_further(run):
    result = invoke("run", "--resume", run, "--no-report")
    assert result.exit_code == 0, result.output
    assert "nothing left to train (it trained all its 1 epoch)" in result.output
    assert f"aespec run --resume {run} --epochs N, with N > 1" in result.output
    assert "resuming at epoch" not in result.output
