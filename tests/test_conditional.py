"""Conditional autoencoders (`condition labels(N)` in an autoencoder, issue 21): the labels
reach the encoder and decoder in training, in its views and in the report; what a
conditional spec cannot have yet is E319. The conditional GAN: tests/test_gan_train.py."""

from __future__ import annotations

import json

import numpy as np
import torch

import aespec
from aespec.graph import check_source

CVAE = """\
model tiny_cvae
data digits
input vector(64)
condition labels(10)
encoder {
    concat(y)
    dense(32) relu
}
bottleneck {
    gaussian(4)
}
decoder {
    concat(y)
    dense(32) relu
    dense(64) sigmoid
}
loss bce(reduce=sum)
train {
    epochs 2
    batch 64
    seed 0
}
report {
    reconstructions(n=6)
    samples(n=20)
    sample_quality(n=200)
    latent_scatter
}
"""


def test_a_cvae_trains_and_its_views_read_the_labels(tmp_path):
    spec = tmp_path / "cvae.ae"
    spec.write_text(CVAE)
    result = aespec.train(spec, out=tmp_path / "run", quiet=True)
    assert result.status == "finished" and np.isfinite(result.test["loss"])
    model = result.model
    assert model.classes == 10
    three, four = (torch.nn.functional.one_hot(torch.tensor([k]), 10).float() for k in (3, 4))
    z = torch.zeros(1, 4)
    assert not torch.equal(model.decode(z, three), model.decode(z, four))
    x = torch.rand(1, 64)
    assert not torch.equal(model.encode(x, three), model.encode(x, four))
    # the labels given to forward are the ones the network reads
    model.eval()
    assert not torch.equal(model(x, target=three).x_hat, model(x, target=four).x_hat)
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["samples"]["rows"] == "classes"
    assert "conditional" in report["sample_quality"]
    assert report["latent_scatter"]["coloured_by_label"]


def test_what_a_condition_does_not_reach_yet_is_e319():
    pretrain = CVAE.replace("    seed 0\n", "    seed 0\n    pretrain layerwise(epochs=1)\n")
    anomaly = CVAE.replace("    latent_scatter\n", "    anomaly\n")
    for source, line in ((pretrain, 22), (anomaly, 27)):
        found = [(d.code, d.span.line) for d in check_source(source).diagnostics
                 if d.code.startswith("E")]
        assert found == [("E319", line)], found


def test_labels_joined_after_l_draws_are_tiled_to_them():
    """A decoder's concat(y) after `gaussian(k, samples=L)` reads each draw's example's own
    labels, as a skip join of an encoder tensor does; it raised ValueError (y is no op of
    the graph's order, so it had no place before the draws)."""
    source = CVAE.replace("gaussian(4)", "gaussian(4, samples=3)")
    result = check_source(source)
    assert result.ok, result.diagnostics
    model = aespec.build(result.spec)
    x = torch.rand(5, 64)
    labels = torch.nn.functional.one_hot(torch.arange(5) % 10, 10).float()
    model.train()
    out = model(x, target=labels)
    assert out.x_hat.shape == (15, 64) and torch.isfinite(out.loss)
    model.eval()  # one draw, z = mu: the labels as they are
    assert model(x, target=labels).x_hat.shape == (5, 64)
    assert model.sample(4).shape == (4, 64)
