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
    (lambda p: (p / "a.png").write_bytes(b"not a png"), "cannot read the image"),
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
