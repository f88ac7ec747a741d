"""Data larger than memory (aespec/data/mmap.py, aespec/train/stream.py): a 160 MiB .npy
trains through a memory map while the process's peak resident memory (VmHWM) grows by less
than 64 MiB (a load would add the file three times over), and a small file gives the same
run mapped or loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import aespec
from aespec.data import load_data
from aespec.errors import AespecError

SPEC = """\
data npy("{file}"{extra})
input vector({width})
encoder {{
    dense(8) relu
}}
bottleneck {{
    dense(4)
}}
decoder {{
    dense({width}) sigmoid
}}
loss mse
train {{
    epochs 1
    batch {batch}
    seed 0
}}
"""

# Run in a fresh process: the machine is told it has 32 MiB free, so the file (5x that,
# 15x with the three copies a load makes) must be mapped, not refused with E508.
CHILD = """\
import json, sys
import aespec, aespec.data.base as base, aespec.data.mmap as mapped

def status():
    with open("/proc/self/status") as fh:
        return {l.split(":")[0]: int(l.split()[1]) * 1024 for l in fh if l.startswith("Vm")}

# a first run on a small file brings in every module and the allocator's working set
aespec.train(sys.argv[3], out=sys.argv[2] + "-warm", quiet=True, report=False)
small = lambda: 32 << 20
base.available_memory = mapped.available_memory = small
before = status()["VmHWM"]
run = aespec.train(sys.argv[1], out=sys.argv[2], quiet=True, report=False)
print(json.dumps({"before": before, "peak": status()["VmHWM"], "status": run.status,
                  "test": run.test}))
"""


@pytest.mark.slow
def test_a_file_five_times_the_memory_trains_with_bounded_resident_memory(tmp_path):
    rows, width = 40960, 1024  # 160 MiB of float32, 4 KiB rows
    path = tmp_path / "big.npy"
    big = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, width))
    rng = np.random.default_rng(0)
    for i in range(0, rows, 8192):
        big[i:i + 8192] = rng.random((8192, width), dtype=np.float32)
    big.flush()
    del big
    size = path.stat().st_size
    spec = tmp_path / "big.ae"
    spec.write_text(SPEC.format(file="big.npy", extra="", width=width, batch=1024))
    np.save(tmp_path / "warm.npy", rng.random((2048, width), dtype=np.float32))
    warm = tmp_path / "warm.ae"
    warm.write_text(SPEC.format(file="warm.npy", extra="", width=width, batch=1024))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(spec), str(tmp_path / "run"),
                           str(warm)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["status"] == "finished" and 0.05 < got["test"]["loss"] < 0.2
    grew = got["peak"] - got["before"]  # what the big file added to the peak
    print(f"peak RSS grew by {grew >> 20} MiB for a {size >> 20} MiB file")
    # a load would add the whole file (160 MiB, three times over while it is split); what a
    # mapped run adds does not grow with the file: 24, 37-40 and 17 MiB were measured for
    # files of 80, 160 and 320 MiB (the allocator's and torch's working set, batch buffers)
    assert grew < 64 << 20, f"peak RSS grew by {grew >> 20} MiB for a {size >> 20} MiB file"
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["data_description"].endswith("read on demand")


@pytest.fixture
def small(tmp_path):
    from sklearn.datasets import load_digits

    x = (load_digits().images[:300] * 15).astype(np.uint8)  # pixels, divided by 255
    np.save(tmp_path / "u8.npy", x)
    np.savez(tmp_path / "u8.npz", x=x, x_test=x[:50])
    np.savez_compressed(tmp_path / "packed.npz", x=x)
    return tmp_path


def test_mapped_and_loaded_runs_are_the_same(small):
    runs = {}
    for mm in ("true", "false"):
        spec = small / f"m_{mm}.ae"
        spec.write_text(SPEC.format(file="u8.npy", extra=f", mmap={mm}", width=64, batch=50))
        runs[mm] = aespec.train(spec, out=small / f"m_{mm}", quiet=True, report=False)
    a, b = (torch.load(r.run_dir / "checkpoint.pt", weights_only=True)["model"]
            for r in runs.values())
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert runs["true"].history[-1]["train"] == runs["false"].history[-1]["train"]


def test_npz_members_stored_uncompressed_are_mapped(small):
    mapped = load_data("npz", {"file": str(small / "u8.npz"), "mmap": True}, (1, 8, 8))
    loaded = load_data("npz", {"file": str(small / "u8.npz")}, (1, 8, 8))
    assert mapped.description.endswith("read on demand")
    assert len(mapped.x_train) == 300 and len(mapped.x_test) == 50
    assert np.array_equal(np.asarray(mapped.x_train), loaded.x_train)
    assert np.array_equal(mapped.x_test[:10], loaded.x_test[:10])
    with pytest.raises(AespecError) as info:
        load_data("npz", {"file": str(small / "packed.npz"), "mmap": True}, (1, 8, 8))
    assert info.value.diagnostics[0].code == "E509" and "np.savez" in info.value.diagnostics[0].hint
