"""Data read on demand that changes under a run (aespec/data/lazy.py): a memory-mapped file
cut short, replaced, rewritten or removed, or a streamed image that vanished, ends the run
with a diagnostic naming the data file (never E606 "cannot write RUN_DIR", never a SIGBUS),
run.json `failed`, and a checkpoint that resumes once the file is back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

import aespec
from aespec.errors import AespecError
from aespec.train import Reporter, loop
from aespec.train.rundir import load_checkpoint

SPEC = """\
data {data}
input {input}
encoder {{
{flatten}    dense(8) relu
}}
bottleneck {{
    dense(4)
}}
decoder {{
    dense(64) sigmoid
{reshape}}}
loss mse
noise mask(0.2)
train {{
    epochs 3
    batch 50
    seed 0
}}
"""


def mapped_spec(tmp_path):
    """A spec reading big.npy (600 x 64 float32) through a memory map."""
    np.save(tmp_path / "big.npy", np.random.default_rng(0).random((600, 64), dtype=np.float32))
    spec = tmp_path / "mapped.ae"
    spec.write_text(SPEC.format(data='npy("big.npy", mmap=true)', input="vector(64)",
                                flatten="", reshape=""))
    return spec, tmp_path / "big.npy"


class ChangeAt(Reporter):
    """Calls `change` from inside the loop after step `step` of epoch `epoch` (step 0: when
    the epoch before it ends), as another process changing the file would."""

    def __init__(self, epoch: int, step: int, change):
        self.at, self.change, self.epoch_no = (epoch, step), change, 0

    def phase(self, text, total):
        if text.startswith("epoch"):
            self.epoch_no += 1

    def step(self, done, loss, samples_per_s):
        if (self.epoch_no, done) == self.at:
            self.change()

    def epoch(self, record, epochs):
        if (record["epoch"] + 1, 0) == self.at:
            self.change()


@pytest.fixture(autouse=True)
def every_step(monkeypatch):
    """Report every step and checkpoint every epoch, so a test can cut anywhere."""
    monkeypatch.setattr(loop, "REPORT_SECONDS", 0.0)
    monkeypatch.setattr(loop, "CHECKPOINT_SECONDS", 0.0)


def losses(history):
    return [(r["epoch"], r["train"], r["val"], r["lr"], r["best"]) for r in history]


def failed_run(spec, run_dir, change_at: ChangeAt) -> AespecError:
    """The run's error, once run.json says `failed` with it."""
    with pytest.raises(AespecError) as got:
        aespec.train(spec, out=run_dir, progress=change_at, report=False)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "failed"
    assert info["error"] == got.value.diagnostics[0].message
    return got.value


@pytest.mark.parametrize(("stop_at", "kept"), [
    ((2, 3), "after step 3 of epoch 2, its state saved in"),
    ((2, 0), "the checkpoint of epoch 1 is kept")], ids=["mid-epoch", "epoch-start"])
def test_regression_a_mapped_data_file_cut_during_a_run_is_e504_naming_it_and_resumes(
        tmp_path, stop_at, kept):
    spec, big = mapped_spec(tmp_path)
    whole = aespec.train(spec, out=tmp_path / "whole", quiet=True, report=False)
    was = big.read_bytes()
    err = failed_run(spec, tmp_path / "cut", ChangeAt(*stop_at, lambda: os.truncate(
        big, len(was) // 3)))
    d = err.diagnostics[0]
    assert d.code == "E504" and "cannot write" not in str(err)  # was E606 naming RUN_DIR
    assert d.message.startswith(f"cannot read {big}: the file shrank from {len(was):,} to")
    assert kept in d.message and "--resume" in (d.hint or "")
    state = load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["counters"]
    assert (state["epoch"] + 1, state["step"]) == stop_at
    big.write_bytes(was)  # the file back as it was: the run goes on where it stopped
    resumed = aespec.train(resume=tmp_path / "cut", quiet=True, report=False)
    assert resumed.status == "finished"
    assert losses(resumed.history) == losses(whole.history) and resumed.test == whole.test


def _replace(big):
    other = big.with_name("other.npy")
    np.save(other, np.random.default_rng(1).random((600, 64), dtype=np.float32))
    os.replace(other, big)  # the same size, another file


def _rewrite(big):
    info = big.stat()
    with open(big, "r+b") as fh:  # the same file and size, other values
        fh.seek(info.st_size // 2)
        fh.write(b"\0" * 256)
    os.utime(big, ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))


@pytest.mark.parametrize(("change", "how"), [
    (_replace, "was replaced by another file"), (_rewrite, "was rewritten"),
    (lambda big: big.unlink(), "was removed")], ids=["replaced", "rewritten", "removed"])
def test_regression_a_mapped_data_file_cut_during_a_run_or_changed_otherwise_is_e504(
        tmp_path, change, how):
    spec, big = mapped_spec(tmp_path)
    err = failed_run(spec, tmp_path / "run", ChangeAt(2, 2, lambda: change(big)))
    assert err.diagnostics[0].code == "E504"
    assert err.diagnostics[0].message.startswith(f"cannot read {big}: the file {how} during")


# In a child process: reading a map past the end of its file is SIGBUS, which would kill
# pytest itself. A Fortran-order array is read through the map (not pread): it is checked
# before it is touched.
CHILD = """\
import os, sys
import numpy as np
from aespec.data import load_data
from aespec.errors import AespecError

for name, order in (("c.npy", "C"), ("f.npy", "F")):
    path = os.path.join(sys.argv[1], name)
    np.save(path, np.asarray(np.random.default_rng(0).random((400, 64)), order=order))
    data = load_data("npy", {"file": path, "mmap": True}, (64,))
    data.x_train.take(np.arange(8))
    os.truncate(path, os.path.getsize(path) // 2)
    try:
        data.x_train.take(np.arange(len(data.x_train)))
    except AespecError as err:
        print(err.diagnostics[0].code, err.diagnostics[0].message)
"""


def test_regression_a_mapped_data_file_cut_during_a_run_never_kills_the_process(tmp_path):
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, f"{done.returncode}: {done.stderr[-2000:]}"  # -7: SIGBUS
    lines = done.stdout.splitlines()
    assert [line.split(" ")[:3] for line in lines] == [
        ["E504", "cannot", "read"], ["E504", "cannot", "read"]]
    assert f"{tmp_path / 'c.npy'}: the file shrank" in lines[0]
    assert f"{tmp_path / 'f.npy'}: the file shrank" in lines[1]


def test_regression_a_mapped_data_file_cut_during_a_run_of_an_npz_names_the_archive(tmp_path):
    x = np.random.default_rng(0).random((600, 64), dtype=np.float32)
    np.savez(tmp_path / "big.npz", x=x, x_test=x[:100])
    spec = tmp_path / "npz.ae"
    spec.write_text(SPEC.format(data='npz("big.npz", mmap=true)', input="vector(64)",
                                flatten="", reshape=""))
    archive = tmp_path / "big.npz"
    err = failed_run(spec, tmp_path / "run", ChangeAt(
        1, 2, lambda: os.truncate(archive, archive.stat().st_size // 2)))
    assert err.diagnostics[0].code == "E504"
    assert err.diagnostics[0].message.startswith(f"cannot read {archive}: the file shrank")


def test_regression_a_mapped_data_file_cut_during_a_run_streamed_image_gone_resumes(tmp_path):
    from PIL import Image

    folder, away = tmp_path / "imgs", tmp_path / "away"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(60):
        pixels = (rng.random((8, 8)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    spec = tmp_path / "images.ae"
    spec.write_text(SPEC.format(data='images("imgs", stream=true)', input="image(1, 8, 8)",
                                flatten="    flatten\n", reshape="    reshape(1, 8, 8)\n"))
    whole = aespec.train(spec, out=tmp_path / "whole", quiet=True, report=False)

    def take_away():  # every image gone, the folder left empty
        shutil.move(folder, away)
        folder.mkdir()

    err = failed_run(spec, tmp_path / "cut", ChangeAt(2, 0, take_away))
    d = err.diagnostics[0]
    assert d.code == "E510" and d.message.startswith(f"cannot read the image {folder}{os.sep}")
    assert "the checkpoint of epoch 1 is kept" in d.message
    folder.rmdir()
    shutil.move(away, folder)
    resumed = aespec.train(resume=tmp_path / "cut", quiet=True, report=False)
    assert resumed.status == "finished"
    assert losses(resumed.history) == losses(whole.history)
    a, b = (torch.load(r.run_dir / "best.pt", weights_only=True)["model"]
            for r in (resumed, whole))
    assert all(torch.equal(a[k], b[k]) for k in a)
