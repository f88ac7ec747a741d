"""bench/peers.py and bench/peers_run.py without the peers: the data every peer reads is
aespec's, bit for bit; the denoiser's corrupted test inputs are aespec's; the time to a
target loss, the targets and the page come from the runs' logs as they should."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


peers = _module("peers")
run = _module("peers_run")


def _aespec_split(source: str, args: dict, shape: tuple[int, ...]):
    import torch

    from aespec.data import load_data
    from aespec.train.batches import to_device

    ds = load_data(source, args, shape)
    data = to_device(ds, 0.9, torch.device("cpu"))
    return data.train.x.numpy(), data.val.x.numpy(), data.test.x.numpy()


@pytest.mark.skipif(not FASHION.exists(), reason="needs Debian's dataset-fashion-mnist")
def test_fashion_arrays_are_aespecs_bit_for_bit() -> None:
    got = run.load("fc", 600)
    for mine, theirs in zip((got["train"], got["val"], got["test"]),
                            _aespec_split("fashion_mnist", {"limit": 600}, (784,)), strict=True):
        assert mine.dtype == np.float32 and np.array_equal(mine, theirs)
    assert len(got["val"]) == 60
    assert np.array_equal(got["test_in"], got["test"])  # clean inputs: no noise


def test_digits_and_the_denoisers_test_inputs_are_aespecs() -> None:
    import torch

    import aespec
    from aespec.train.references import NOISE_SEED, corrupt

    got = run.load("conv", None)
    for mine, theirs in zip((got["train"], got["val"], got["test"]),
                            _aespec_split("digits", {"size": 28}, (1, 28, 28)), strict=True):
        assert np.array_equal(mine, theirs)
    model = aespec.build(aespec.load(ROOT / "specs" / "denoising_conv.ae"))
    noisy = corrupt(model, torch.from_numpy(got["test"]), NOISE_SEED * 1_000_003)
    assert len(got["test"]) <= run.EVAL_BATCH  # one slice: seed 0 alone
    assert np.array_equal(got["test_in"], noisy.numpy())
    assert not np.array_equal(got["test_in"], got["test"])


LOG = [{"epoch": 1, "t": 9.0, "val": 0.40}, {"epoch": 2, "t": 11.5, "val": 0.31},
       {"epoch": 3, "t": 14.0, "val": 0.29}]


def test_time_to_target_is_the_first_epoch_end_at_or_below_it() -> None:
    assert peers.time_to_target(LOG, 0.31) == 11.5
    assert peers.time_to_target(LOG, 0.5) == 9.0
    assert peers.time_to_target(LOG, 0.2) is None
    assert peers.epoch_seconds(LOG) == [2.5, 2.5]


def _fake(vals: list[float], wall: float, test: float) -> dict:
    return {"wall": wall, "user": wall * 0.9, "sys": 0.1, "rss_mib": 500.0, "test": test,
            "ready": 1.5,
            "epochs": [{"epoch": i + 1, "t": 2.0 + 2.0 * i, "val": v}
                       for i, v in enumerate(vals)]}


def test_the_target_is_the_loss_every_system_reaches() -> None:
    runs = {"aespec": [_fake([0.4, 0.30], 10, 0.3), _fake([0.4, 0.32], 11, 0.3)],
            "keras": [_fake([0.35, 0.29], 20, 0.29)] * 2}
    assert peers.default_target(runs) == pytest.approx(0.31)  # aespec's median final
    assert peers.targets({"workloads": {"fc": runs}}, ["fc=0.5"]) == {"fc": 0.5}


def test_a_summed_loss_per_pixel() -> None:
    assert peers.per_pixel(784 * 0.3) == pytest.approx(0.3)


def test_the_page_has_medians_ratios_targets_and_units() -> None:
    runs = {"aespec": [_fake([0.4, 0.30], 10, 0.30)] * 3,
            "keras": [_fake([0.35, 0.29], 20, 0.29), _fake([0.36, 0.31], 24, 0.30),
                      _fake([0.5, 0.45], 30, 0.44)],
            "lightning": [], "pythae": []}
    res = {"seconds": 100, "json": "bench/peers.json", "command": "python bench/peers.py",
           "machine": {"cpu": "Test CPU", "cpus": 2, "load_before": "0.1 0.1 0.1",
                       "load_after": "0.2 0.2 0.2", "python": "3.11"},
           "versions": {"torch": "2.13.0", "keras": "3"}, "threads": 2, "epochs": 2,
           "rounds": 3, "limit": None, "workloads": {"fc": runs}, "targets": {"fc": 0.31}}
    page = peers.render(res)
    assert "Test CPU" in page and "`python bench/peers.py`" in page and "keras 3" in page
    assert peers.UNITS["fc"] in page and "time to val 0.3100, s" in page
    aespec_row = next(ln for ln in page.splitlines() if ln.startswith("| aespec |"))
    keras_row = next(ln for ln in page.splitlines() if ln.startswith("| Keras"))
    assert "10.00 (10.00..10.00)" in aespec_row  # wall
    assert "4.00 (4.00..4.00)" in aespec_row  # reached 0.31 at the second epoch's end
    assert "(2 of 3 runs)" in keras_row  # the third never reached it
    assert "2.40 (2.00..3.00)" in keras_row  # wall / aespec's, pair by pair
    seconds = next(ln for ln in page.splitlines() if ln.startswith("| aespec | 1.50"))
    assert seconds == "| aespec | 1.50 | 2.50 | 6.00 | 10.00 |"  # ready, epochs, the rest
    assert "PyTorch Lightning |" not in page.split("## How")[0]  # no runs, no row


def test_the_options() -> None:
    args = peers.parse([])
    assert (args.rounds, args.epochs, args.threads, args.limit) == (3, 3, 2, None)
    assert args.systems == list(peers.SYSTEMS) and args.page == ROOT / "bench" / "PEERS.md"
    quick = peers.parse(["--quick", "--workloads", "fc"])
    assert (quick.rounds, quick.epochs, quick.limit) == (1, 1, peers.QUICK_LIMIT)
    assert quick.workloads == ["fc"] and quick.page.parent.name == "peers-quick"
    assert peers.parse(["--quick", "--epochs", "2"]).epochs == 2
    with pytest.raises(SystemExit):
        peers.parse(["--systems", "aespec,tensorflow"])


@pytest.mark.skipif(not peers.VENV_PYTHON.exists(), reason="needs make peers-venv")
def test_the_peers_venv_has_every_package_and_cpu_torch() -> None:
    found = peers.versions(peers.VENV_PYTHON)
    assert set(peers.PACKAGES) <= set(found)
    assert found["torch"].startswith("2.13.0")
