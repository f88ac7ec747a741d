"""`vq(codes, dim, ema=0.9)`: the VQ-VAE's codebook by exponential moving averages (van
den Oord et al. 2017, appendix A.1) instead of its gradient.  The entries go to the means
of the vectors that choose them, the term is the commitment alone, the emitted module
does the same steps, and specs/vqvae.ae with `ema=0.9` keeps its codebook in use.

Measured on that spec's 6 epochs (510 steps), seeds 0, 1, 2: with ema=0.9, 39 / 37 / 51
of 64 codes used, perplexity 28.8 / 28.2 / 36.7, test mse 0.0101 / 0.0093 / 0.0092 (the
gradient codebook: 64 / 57 / 55, 38.6 / 31.6 / 32.1, 0.0107 / 0.0100 / 0.0110); with
ema=0.99, whose averages reach back about 100 steps and lag the young encoder, 39 / 40 /
31 codes at perplexity 15.6 / 15.0 / 13.3: fewer codes than the gradient's, no collapse.
"""

from __future__ import annotations

import pathlib
import tempfile

import pytest

torch = pytest.importorskip("torch")

import aespec  # noqa: E402
from aespec.emit import emit_source  # noqa: E402
from aespec.emit.module import class_name  # noqa: E402
from aespec.graph.frontend import check_source  # noqa: E402
from aespec.ops.modules import VectorQuantizer  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "vqvae.ae"
FASHION = pathlib.Path("/usr/share/datasets/fashion-mnist")
SMALL = """\
input vector(6)
encoder {
    dense(2)
}
bottleneck {
    vq(4, 2, commitment=0.5, ema=EMA)
}
decoder {
    dense(6)
}
loss mse
"""


def test_the_codebook_goes_to_the_means_of_the_vectors_that_choose_it():
    torch.manual_seed(0)
    vq = VectorQuantizer(4, 2, 0.5, ema=0.9).train()
    centres = torch.tensor([[3.0, 0.0], [0.0, 3.0], [-3.0, 0.0], [0.0, -3.0]])
    batch = (centres.repeat(16, 1) + 0.1 * torch.randn(64, 2)).requires_grad_()
    vq(batch)  # the first batch sets the codebook: a random pick, here replaced by
    with torch.no_grad():  # entries near the clusters, off their means
        vq.codebook.copy_(centres + 0.5)
        vq.sums.copy_(centres + 0.5)
        vq.counts.fill_(1.0)
    for _ in range(200):
        z_q, loss = vq(batch)
    means = batch.detach().reshape(16, 4, 2).mean(0)
    torch.testing.assert_close(vq.codebook.detach(), means, atol=1e-3, rtol=0)
    assert not vq.codebook.requires_grad
    want = 0.5 * (batch.detach() - vq.codebook.detach()[vq.nearest(batch)]).square().mean()
    _, loss = vq(batch)
    torch.testing.assert_close(loss, want, atol=1e-4, rtol=1e-3)  # the commitment alone
    loss.backward()
    assert batch.grad is not None and vq.codebook.grad is None
    before = vq.codebook.detach().clone()
    vq.eval()(batch)
    assert torch.equal(vq.codebook.detach(), before)  # evaluation moves nothing


def test_ema_is_checked_counted_and_emitted_alike():
    assert check_source(SMALL.replace("EMA", "1.0"), "vq.ae").diagnostics  # decay < 1
    result = check_source(SMALL.replace("EMA", "0.9"), "vq.ae")
    assert result.ok and result.ir is not None, result.diagnostics
    assert result.ir.params == 6 * 2 + 2 + 4 * 2 + 2 * 6 + 6  # the codebook still counts
    from aespec.compile import compile_model

    ns: dict = {"__name__": "emitted_vq"}
    exec(compile(emit_source(result.ir, result.spec), "<emitted>", "exec"), ns)
    torch.manual_seed(0)
    compiled = compile_model(result.ir, result.spec)
    emitted = ns[class_name(result.spec.name)]()
    ns["load_aespec_state_dict"](emitted, compiled.state_dict())
    x = torch.rand(32, 6, generator=torch.Generator().manual_seed(1))
    compiled.train()
    emitted.train()
    for step in range(3):
        torch.manual_seed(step)
        want = compiled(x).terms["vq"]
        torch.manual_seed(step)
        got = ns["loss_fn"](emitted, x)[1]["vq"]
        torch.testing.assert_close(got, want)
    node = next(m for m in compiled.modules() if isinstance(m, VectorQuantizer))
    theirs = next(m for m in emitted.modules() if type(m).__name__ == "VectorQuantizer")
    torch.testing.assert_close(theirs.codebook, node.codebook)
    assert {k.removeprefix("net.") for k in compiled.state_dict()} == set(emitted.state_dict())


@pytest.mark.slow
@pytest.mark.skipif(not FASHION.exists(), reason="Fashion-MNIST is not installed")
def test_an_ema_codebook_stays_in_use_on_fashion_mnist():
    torch.set_num_threads(1)
    text = SPEC.read_text()
    assert "vq(64, 16, commitment=0.25)" in text
    out = pathlib.Path(tempfile.mkdtemp(prefix="spec-vq-ema-"))
    (out / "vq.ae").write_text(text.replace("vq(64, 16, commitment=0.25)",
                                            "vq(64, 16, commitment=0.25, ema=0.9)"))
    result = aespec.train(out / "vq.ae", out=out / "run", quiet=True, report=False)
    (stats,) = result.codebook.values()
    assert stats["usage"] >= 0.5, stats  # 37 of 64 or more for seeds 0-2
    assert stats["perplexity"] >= 16, stats  # 28 or more for seeds 0-2; collapse gives ~1
    assert result.test["mse"] < 0.087 / 4, result.test  # the mean image: 0.087


@pytest.mark.parametrize("ema", ["0.9", "0"])
def test_a_vq_is_never_grouped_in_a_batched_sweep(ema):
    """Its codebook starts from the first batch (and, with ema, moves in place): the
    vmapped step raised torch's own RuntimeError on it; now it trains alone, said why."""
    from aespec.sweep import batchable

    source = SMALL.replace("EMA", ema)
    found = batchable.plan([check_source(source, "vq.ae", [f"train.seed={s}"])
                            for s in (0, 1)])
    assert found.groups == () and "vq: its codebook starts" in found.alone[0]
    plain = source.replace("    vq(4, 2, commitment=0.5, ema=EMA)\n".replace("EMA", ema), "")
    again = batchable.plan([check_source(plain, "ae.ae", [f"train.seed={s}"])
                            for s in (0, 1)])
    assert again.alone == {}  # the same net without vq would group
