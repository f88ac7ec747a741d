"""Persistent contrastive divergence through the trainer: the chains live in the rbm's
state (a buffer), so a run stopped mid-epoch or at an epoch's first step and resumed ends
bit for bit where the run that was never stopped ends: the same metrics, the same weights,
the same chains.  (Before the fix a checkpoint's chains did not fit the fresh model's
empty buffer: E604 on resume and on load_run.)"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import aespec  # noqa: E402
from aespec.train import loop  # noqa: E402
from aespec.train.rundir import load_checkpoint  # noqa: E402
from tests.test_train import InterruptAt, losses  # noqa: E402

PCD = """\
data digits
input vector(64)
encoder {
}
bottleneck {
    rbm(24, k=2, persistent=true, steps=5)
}
decoder mirror
loss bce
train {
    epochs 3
    batch 128
    optimizer sgd(lr=0.05, momentum=0.5)
    seed 0
}
"""


@pytest.fixture
def every_step(monkeypatch):
    """Report every step and checkpoint every epoch, so the test can stop anywhere."""
    monkeypatch.setattr(loop, "REPORT_SECONDS", 0.0)
    monkeypatch.setattr(loop, "CHECKPOINT_SECONDS", 0.0)


@pytest.mark.parametrize("stop_at", [(2, 4), (3, 1)], ids=["mid-epoch", "epoch-boundary"])
def test_a_resumed_pcd_run_ends_where_the_whole_run_ends(tmp_path, every_step, stop_at):
    spec = tmp_path / "pcd.ae"
    spec.write_text(PCD)
    whole = aespec.train(spec, out=tmp_path / "whole", quiet=True)
    stopped = aespec.train(spec, out=tmp_path / "cut", progress=InterruptAt(*stop_at))
    assert stopped.status == "interrupted" and stopped.epochs == stop_at[0] - 1
    saved = load_checkpoint(tmp_path / "cut" / "checkpoint.pt")
    chains = [v for k, v in saved["model"].items() if k.endswith(".chains")]
    assert len(chains) == 1 and chains[0].shape == (128, 64)  # the chains are saved
    resumed = aespec.train(resume=tmp_path / "cut", quiet=True)
    assert resumed.status == "finished"
    assert losses(resumed.history) == losses(whole.history)
    ours, theirs = resumed.model.state_dict(), whole.model.state_dict()
    assert list(ours) == list(theirs)
    for name in ours:
        assert torch.equal(ours[name], theirs[name]), name
    assert resumed.test == whole.test
    loaded = aespec.train.load_run(tmp_path / "cut")  # best.pt, chains and all
    assert loaded.model.net.bottleneck1.chains.shape == (128, 64)
