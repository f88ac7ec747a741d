"""`data images("folder")` (aespec/data/images.py): PNG and JPEG files resized to the
input, class labels from sub-folder names, and the streamed path equal to the loaded one."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
import torch
from PIL import Image

import aespec
from aespec.data import load_data
from aespec.errors import AespecError


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """30 digits as 12x12 PNG and JPEG files, in three class folders."""
    from sklearn.datasets import load_digits

    d = load_digits()
    root = tmp_path_factory.mktemp("images") / "digits"
    for k in range(3):
        (root / f"class_{k}").mkdir(parents=True)
    for i in range(30):
        img = Image.fromarray((d.images[i] * 15).astype(np.uint8)).resize((12, 12))
        img.save(root / f"class_{i % 3}" / f"{i:03d}.{'png' if i % 2 else 'jpg'}")
    return root


def load(folder, shape=(1, 8, 8), **args):
    return load_data("images", {"path": str(folder), **args}, shape)


def test_images_are_resized_and_labelled_by_sub_folder(folder):
    ds = load(folder)
    assert ds.x_train.shape == (24, 1, 8, 8) and ds.x_test.shape == (6, 1, 8, 8)
    assert ds.x_train.dtype == np.float32 and 0 <= ds.x_train.min() and ds.x_train.max() <= 1
    assert ds.class_names == ("class_0", "class_1", "class_2")
    assert sorted(set(ds.labels_train) | set(ds.labels_test)) == [0, 1, 2]
    rgb = load(folder, (3, 16, 16), limit=9)  # grayscale to RGB, upsampled, first 9 files
    assert rgb.x_train.shape[1:] == (3, 16, 16) and len(rgb.x_train) + len(rgb.x_test) == 9
    flat = load(folder, (64,))
    assert flat.x_train.shape == (24, 64)


def test_a_folder_without_class_folders_has_no_labels(tmp_path):
    for i in range(4):
        Image.new("L", (5, 7), color=i * 60).save(tmp_path / f"{i}.png")
    ds = load(tmp_path, (1, 4, 4))
    assert ds.labels_train is None and ds.class_names is None


@pytest.mark.parametrize(("make", "says"), [
    (lambda p: None, "holds no images"),
    (lambda p: (p / "a.png").write_bytes(b"\x89PNG\r\n\x1a\nrubbish"), "cannot read the image"),
])
def test_bad_folders_are_e510(tmp_path, make, says):
    (tmp_path / "x.txt").write_text("hi")
    make(tmp_path)
    with pytest.raises(AespecError) as info:
        load(tmp_path)
    assert info.value.diagnostics[0].code == "E510" and says in str(info.value)
    with pytest.raises(AespecError) as info:
        load(tmp_path, (2, 8, 8))
    assert info.value.diagnostics[0].code == "E510"


def test_streamed_images_train_as_the_loaded_ones(folder):
    """stream=true decodes each batch's files; the run is the loaded run, bit for bit."""
    spec = f"""\
data images("{folder}", stream=STREAM)
input image(1, 8, 8)
encoder {{
    conv(4, k=3) relu
    maxpool(2)
}}
bottleneck {{
    conv(4, k=3)
}}
decoder {{
    upsample(2)
    conv(1, k=3) sigmoid
}}
loss bce
train {{
    epochs 2
    batch 8
    seed 0
}}
"""
    runs = {}
    for stream in ("true", "false"):
        path = pathlib.Path(folder).parent / f"s_{stream}.ae"
        path.write_text(spec.replace("STREAM", stream))
        runs[stream] = aespec.train(path, out=path.with_suffix(""), quiet=True, report=False)
    import json

    said = json.loads((runs["true"].run_dir / "run.json").read_text())["data_description"]
    assert said.endswith("read on demand")
    a, b = (torch.load(r.run_dir / "checkpoint.pt", weights_only=True)["model"]
            for r in runs.values())
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert runs["true"].test == runs["false"].test


# ---------------------------------------------------------------- folders from someone else

def _chunk(kind: bytes, body: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width: int, height: int, rows: bytes) -> bytes:
    """A grayscale 8-bit PNG written by hand, so its header may claim what it likes."""
    import struct
    import zlib

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows))
            + _chunk(b"IEND", b""))


GOOD_PNG = _png(4, 4, b"".join(b"\x00" + bytes([0, 80, 160, 240]) for _ in range(4)))


def fails(folder, shape=(1, 8, 8)) -> tuple[str, str]:
    """(code, message) of the one diagnostic loading the folder gives."""
    with pytest.raises(AespecError) as info:
        load(folder, shape)
    (d,) = info.value.diagnostics
    return d.code, d.message


def test_regression_eps_named_png_is_never_handed_to_ghostscript(tmp_path, monkeypatch):
    import subprocess

    from PIL import EpsImagePlugin

    def never(*args, **kwargs):
        raise AssertionError("a file from an image folder reached the EPS decoder")

    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", never)
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", never)
    monkeypatch.setattr(subprocess, "Popen", never)
    (tmp_path / "a.png").write_bytes(GOOD_PNG)
    (tmp_path / "x.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n"
                                     b"newpath 0 0 moveto 8 8 lineto stroke showpage\n")
    code, message = fails(tmp_path)
    assert code == "E511" and "x.png" in message and "not a PNG, JPEG or BMP" in message


@pytest.mark.parametrize("pillow_limit", ["default", None])
def test_regression_decompression_bomb_png_is_refused_before_decoding(tmp_path, monkeypatch,
                                                                      pillow_limit):
    """A 66-byte PNG claiming 50000 x 50000 pixels (2.5 GB): refused from its header, also
    where the process switched Pillow's own limit off, and Pillow's limit left as it was."""
    from PIL import Image, ImageFile

    before = Image.MAX_IMAGE_PIXELS
    if pillow_limit is None:
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)

    def never(self, *args, **kwargs):
        raise AssertionError("the bomb's pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", never)
    bomb = _png(50000, 50000, b"\x00")
    assert len(bomb) < 100
    (tmp_path / "bomb.png").write_bytes(bomb)
    code, message = fails(tmp_path)
    assert code == "E511" and "bomb.png" in message and "pixels" in message
    monkeypatch.undo()
    assert Image.MAX_IMAGE_PIXELS == before


def test_regression_symlink_to_a_file_outside_the_folder_is_not_read(tmp_path):
    outside, folder = tmp_path / "secret.png", tmp_path / "images"
    folder.mkdir()
    outside.write_bytes(GOOD_PNG)
    (folder / "a.png").write_bytes(GOOD_PNG)
    (folder / "b.png").symlink_to(outside)
    code, message = fails(folder)
    assert code == "E512" and "b.png" in message and "secret.png" in message


def test_regression_symlinked_class_folder_outside_is_not_read(tmp_path):
    elsewhere, folder = tmp_path / "elsewhere", tmp_path / "images"
    (folder / "cats").mkdir(parents=True)
    elsewhere.mkdir()
    (elsewhere / "dog.png").write_bytes(GOOD_PNG)
    (folder / "cats" / "c.png").write_bytes(GOOD_PNG)
    (folder / "dogs").symlink_to(elsewhere, target_is_directory=True)
    code, message = fails(folder)
    assert code == "E512" and "dogs" in message


def test_regression_symlink_loop_in_image_folder_ends(tmp_path):
    (tmp_path / "cats").mkdir()
    (tmp_path / "cats" / "c.png").write_bytes(GOOD_PNG)
    (tmp_path / "cats" / "again").symlink_to("..", target_is_directory=True)
    code, message = fails(tmp_path)
    assert code == "E512" and "again" in message


def test_symlinks_to_images_inside_the_folder_are_read(tmp_path):
    (tmp_path / "a.png").write_bytes(GOOD_PNG)
    (tmp_path / "b.png").symlink_to(tmp_path / "a.png")
    (tmp_path / "notes.txt").symlink_to("/etc/hostname")  # not an image: never read
    ds = load(tmp_path, (1, 4, 4))
    assert len(ds.x_train) + len(ds.x_test) == 2


def test_regression_unreadable_image_folder_is_e513(tmp_path, monkeypatch):
    import os

    (tmp_path / "cats").mkdir()
    (tmp_path / "cats" / "c.png").write_bytes(GOOD_PNG)
    real = os.scandir

    def scandir(path):  # chmod 000 does not stop root, so the denial is simulated
        if str(path).endswith("cats"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    code, message = fails(tmp_path)
    assert code == "E513" and "cats" in message and "Permission denied" in message


def test_regression_image_folder_that_is_a_file_is_e513(tmp_path):
    (tmp_path / "photos.zip").write_bytes(b"PK\x03\x04")
    code, message = fails(tmp_path / "photos.zip")
    assert code == "E513" and "photos.zip" in message


DAMAGED = {"truncated": GOOD_PNG[:45],  # in the middle of its pixel data
           "header_only": GOOD_PNG[:33],
           "lying_size": _png(100, 100, b"\x00" * 5)}  # pixels for one row of 4


@pytest.mark.parametrize("name", DAMAGED)
def test_regression_damaged_png_is_e510_naming_the_file(tmp_path, name):
    (tmp_path / f"{name}.png").write_bytes(DAMAGED[name])
    code, message = fails(tmp_path)
    assert code == "E510" and f"{name}.png" in message


def test_regression_too_many_files_in_image_folder_is_e513(tmp_path, monkeypatch):
    from aespec.data import images

    monkeypatch.setattr(images, "MAX_ENTRIES", 5)
    for i in range(8):
        (tmp_path / f"{i}.png").write_bytes(GOOD_PNG)
    code, message = fails(tmp_path)
    assert code == "E513" and "more than 5" in message


def test_regression_deeply_nested_image_folders_are_e513(tmp_path, monkeypatch):
    from aespec.data import images

    monkeypatch.setattr(images, "MAX_DEPTH", 3)
    deep = tmp_path / "cats" / "a" / "b" / "c" / "d"
    deep.mkdir(parents=True)
    (deep / "c.png").write_bytes(GOOD_PNG)
    code, message = fails(tmp_path)
    assert code == "E513" and "deep" in message


def test_regression_image_file_over_the_size_limit_is_e511(tmp_path, monkeypatch):
    from aespec.data import images

    monkeypatch.setattr(images, "MAX_FILE_BYTES", 64)
    (tmp_path / "big.png").write_bytes(GOOD_PNG + b"\x00" * 64)  # trailing bytes: still a PNG
    code, message = fails(tmp_path)
    assert code == "E511" and "big.png" in message


def test_class_folders_are_numbered_in_name_order_whatever_the_listing_order(tmp_path,
                                                                             monkeypatch):
    import os

    for name in ("b", "c", "a"):
        (tmp_path / name).mkdir()
        for i in range(2):
            (tmp_path / name / f"{i}.png").write_bytes(GOOD_PNG)
    real = os.scandir

    class Reversed:  # a listing in reverse name order, as a file system may give
        def __init__(self, path):
            self.listing = real(path)

        def __enter__(self):
            return reversed(sorted(self.listing, key=lambda e: e.name))

        def __exit__(self, *exc):
            self.listing.close()

    monkeypatch.setattr(os, "scandir", Reversed)
    ds = load(tmp_path, (1, 4, 4))
    assert ds.class_names == ("a", "b", "c")
