"""Distributed data-parallel training (aespec/train/dist.py): two gloo processes on
loopback train to the weights one process gives at the same global batch, resume, and
`aespec run --nproc 2` starts them through torch's launcher.

The ranks here are spawned, not forked: a fork copies the test process's threads' locks
(a test before may leave a thread holding one, and the forked ranks then hang, as they did
after tests/test_adversarial.py's sweeps); the launcher test starts the real command once.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import traceback

import numpy as np
import pytest
import torch

import aespec
from aespec.train import dist

SPEC = """\
data npy("digits.npy")
input vector(64)
encoder {{
    dense(24) relu
}}
bottleneck {{
    dense(8)
}}
decoder mirror
loss mse
regularize l2(1e-4)
train {{
    epochs {epochs}
    batch 45
    seed 0
}}
"""


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    """256 digits; batch 45 splits 23/22 over two ranks, and the last batch 3/2."""
    from sklearn.datasets import load_digits

    folder = tmp_path_factory.mktemp("dist")
    x = (load_digits().images[:256] / 16).astype(np.float32).reshape(256, 64)
    np.save(folder / "digits.npy", x)
    path = folder / "tiny.ae"
    path.write_text(SPEC.format(epochs=2))
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, port: int, kwargs: dict) -> None:
    code = 0
    try:
        os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
                          MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        aespec.train(quiet=True, **kwargs)
    except BaseException:  # noqa: BLE001  (reported through the exit status)
        traceback.print_exc()
        code = 1
    os._exit(code)


def two_ranks(**kwargs) -> None:
    """aespec.train(**kwargs) in two spawned gloo ranks on loopback."""
    ctx = multiprocessing.get_context("spawn")  # not fork: a test before may leave threads
    port = _free_port()
    procs = [ctx.Process(target=_rank_main, args=(r, port, kwargs)) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]


def weights(run_dir, name="checkpoint.pt"):
    return torch.load(run_dir / name, weights_only=True)["model"]


def assert_close(a, b, atol=1e-6):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=atol, rtol=0)


def history(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def single(spec):
    return aespec.train(spec, out=spec.parent / "single", quiet=True, report=False)


@pytest.mark.slow
def test_two_ranks_equal_one_process(spec, single):
    out = spec.parent / "ddp"
    two_ranks(spec=spec, out=out, report=False)
    assert_close(weights(out), weights(single.run_dir))
    assert_close(weights(out, "best.pt"), weights(single.run_dir, "best.pt"))
    ddp, one = history(out), single.history
    assert len(ddp) == 2 and len(one) == 2
    for a, b in zip(ddp, one, strict=True):  # the logged terms are the global batch's
        for part in ("train", "val"):
            assert a[part] == pytest.approx(b[part], rel=1e-5)
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "finished" and info["test"] == pytest.approx(single.test, rel=1e-5)
    assert not any(p.name.endswith(".tmp") for p in out.iterdir())


@pytest.mark.slow
def test_launcher_run_then_resumed_two_ranks_equal_uninterrupted(spec, single):
    """`aespec run --nproc 2` (torch.distributed.run) for 1 epoch, then 2 ranks resume it
    to 2 epochs: the weights and epoch-2 metrics of the uninterrupted run."""
    out = spec.parent / "launched"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "aespec", "run", str(spec), "--nproc", "2",
                           "--epochs", "1", "--out", str(out), "--no-report"],
                          capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("parameters on cpu") == 1  # rank 0 alone prints
    assert done.stdout.count("report.html") == 1
    assert len(history(out)) == 1
    two_ranks(spec=None, resume=out, epochs=2, report=False)
    assert_close(weights(out), weights(single.run_dir))
    resumed, one = history(out), single.history
    assert [r["epoch"] for r in resumed] == [1, 2]
    assert resumed[1]["train"] == pytest.approx(one[1]["train"], rel=1e-5)


def test_shards_weigh_the_global_batch():
    ranks = [dist.Ranks(r, 3, r) for r in range(3)]
    idx = torch.arange(10)
    parts = [r.shard(idx) for r in ranks]
    assert torch.equal(torch.cat([p for p, _ in parts]), idx)
    assert sum(scale for _, scale in parts) / 3 == pytest.approx(1.0)
    assert [len(p) for p, _ in parts] == [4, 3, 3]
    tiny = [r.shard(torch.arange(2)) for r in ranks]  # a last batch smaller than the world
    assert [s for _, s in tiny] == [1.5, 1.5, 0.0] and len(tiny[2][0]) == 1


def test_launcher_arguments_pass_multi_node_options_through():
    one = dist.launcher_args(2, ["spec.ae", "--quiet"])
    assert one == ["--nproc-per-node=2", "--standalone", "-m", "aespec", "run", "spec.ae",
                   "--quiet"]
    many = dist.launcher_args(4, ["spec.ae"], nnodes="2", node_rank=1, master_addr="10.0.0.1",
                              master_port=29500)
    assert "--standalone" not in many
    assert many[:5] == ["--nproc-per-node=4", "--nnodes=2", "--node_rank=1".replace("_", "-"),
                        "--master-addr=10.0.0.1", "--master-port=29500"]
    elastic = dist.launcher_args(2, ["s.ae"], nnodes="1:4", rdzv_endpoint="host:29400",
                                 rdzv_backend="c10d", rdzv_id="job7")
    assert "--rdzv-endpoint=host:29400" in elastic and "--rdzv-id=job7" in elastic
    from torch.distributed.run import get_args_parser

    parsed = get_args_parser().parse_args(many)  # torch's own parser takes them
    assert parsed.nnodes == "2" and parsed.node_rank == 1 and parsed.module


PHASED = SPEC.format(epochs=1) + """\
phase first {
    freeze encoder
    optimizer sgd(lr=0.1)
}
phase second {
    loss mae
}
"""


@pytest.mark.slow
def test_two_ranks_train_phases_as_one_process(spec):
    """Phases under DDP: each phase's frozen parts and optimizer, rewrapped at the
    boundary, give the weights one process gives."""
    path = spec.parent / "phased.ae"
    path.write_text(PHASED)
    one = aespec.train(path, out=spec.parent / "phased-one", quiet=True, report=False)
    out = spec.parent / "phased-ddp"
    two_ranks(spec=path, out=out, report=False)
    assert_close(weights(out), weights(one.run_dir))
    assert [r["phase"] for r in history(out)] == ["first", "second"]
    for a, b in zip(history(out), one.history, strict=True):
        assert a["train"] == pytest.approx(b["train"], rel=1e-5)
