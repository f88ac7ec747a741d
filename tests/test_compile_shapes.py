"""Every spec compiles to a module whose real tensors have the inferred shapes.

For each valid conformance case, each spec in `specs/` and the edge cases below (every op
and variant of the language), a random batch of 2 runs in training and in evaluation mode;
each IR node's real output shape must equal its `out_shape`, and the parameter count the
checker's.
"""

from __future__ import annotations

import hashlib
import math
import pathlib

import pytest
import torch

import aespec
from aespec.graph.frontend import check_source
from aespec.ops import REGISTRY

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "conformance" / "valid"  # beside the checkout, as in CI


def _spec_files() -> list[pathlib.Path]:
    """Valid conformance cases (the project's copy and the shared one) and specs/*.ae,
    each distinct file once."""
    dirs = [ROOT / "tests" / "conformance" / "valid", SHARED, ROOT / "specs",
            ROOT / "tests" / "conformance_extra" / "valid"]
    files, seen = [], set()
    for d in dirs:
        for f in sorted(d.glob("*.ae")) if d.is_dir() else []:
            digest = hashlib.sha256(f.read_bytes()).hexdigest()
            if digest not in seen:
                seen.add(digest)
                files.append(f)
    return files


# Every layer op and variant: asymmetric `same` padding (even k, stride 3), int and valid
# padding, deconv of every padding, pooling strides, linear upsampling of sequences,
# layernorm on images, vectors and sequences, joins, all activations, every noise op,
# L latent draws read by a skip join, tied mirrors of a flattened image, center crops (the
# op and cropped skips) and global pooling.
EDGE_CASES = {
    # center crops with an odd leftover (it comes off the end), a cropped add skip on a
    # sequence, a cropped concat skip on an image, global pooling of both
    "crop_and_global_pool_sequence": """
input sequence(3, 30)
encoder {
    a = conv(4, k=3, pad=valid) relu
    conv(4, k=3, pad=valid)
    add(a, crop=true)
    crop(21)
    globalavgpool
}
bottleneck {
    dense(4)
}
decoder {
    dense(90)
    reshape(3, 30)
}
loss mse
""",
    "crop_and_global_pool_image": """
input image(2, 15, 12)
encoder {
    s = conv(3, pad=valid) relu
    conv(5, k=4, pad=valid)
    concat(s, crop=true)
    crop(7)
    globalmaxpool
}
bottleneck {
    dense(6)
}
decoder {
    dense(360)
    reshape(2, 15, 12)
}
loss mse
""",
    "every_layer_image": """
input image(3, 13, 11)
noise occlude(4) gaussian(std=0.1) mask(0.2) salt_pepper(0.1) clip(0, 1)
encoder {
    a = conv(8, k=4) layernorm leaky_relu(slope=0.2)
    conv(8, k=3, stride=2) batchnorm elu
    conv(6, k=2, stride=3, pad=1) gelu
    conv(6, k=1, pad=valid) softplus tanh identity
    avgpool(2, stride=1)
    dropout(0.1)
}
bottleneck {
    dense(12) layernorm
}
decoder {
    dense(143) relu
    reshape(1, 13, 11)
    conv(8, k=3)
    add(a)
    concat(a)
    conv(3, k=5) sigmoid
}
loss mae(reduce=sum) + 0.5 * huber(delta=0.5) + 0.1 * bce
regularize l1(1e-4) on a
regularize activity_l1(1e-3) on encoder
""",
    # layernorm on a sequence (GroupNorm(1, C)) under the contractive penalty's batched
    # gradients: the fused kernel's backward once failed there
    "contractive_through_layernorm": """
input sequence(2, 12)
encoder {
    conv(4) layernorm
}
bottleneck {
    dense(4)
}
decoder {
    dense(24)
    reshape(2, 12)
}
regularize contractive(0.1)
""",
    "deconv_sequence": """
input sequence(2, 20)
encoder {
    conv(4, k=3, stride=2) relu
    maxpool(2, stride=1)
    conv(4, k=4) relu
    conv(4, k=2, pad=valid)
    flatten
}
bottleneck {
    dense(6) sigmoid
}
decoder {
    dense(20) relu
    reshape(4, 5)
    deconv(4, k=4) relu
    upsample(2, mode=bilinear)
    deconv(2, k=3, stride=1, pad=1)
    upsample(1, mode=linear)
    deconv(2, k=1, stride=1, pad=valid)
    maxpool(2, stride=2)
    upsample(2)
    deconv(2, k=5, stride=2, pad=same)
    avgpool(2)
    layernorm
    batchnorm
}
loss mse
regularize kl_sparsity(rho=0.1, weight=1e-2)
regularize contractive(1e-3)
""",
    "vae_samples_skip": """
input image(1, 8, 8)
encoder {
    e = conv(4, k=3) relu
    maxpool(2)
}
bottleneck {
    gaussian(5, beta=0.5, samples=3) tanh
}
decoder {
    dense(64) relu
    reshape(1, 8, 8)
    concat(e)
    conv(1, k=3) sigmoid identity
}
loss bce + mse(reduce=mean)
regularize activity_l1(1e-2) on decoder
regularize l2(1e-3) on bottleneck
""",
    "tied_image_mirror": """
input image(1, 6, 6)
noise gaussian(std=0.2)
encoder {
    conv(2, k=3, stride=2) relu
    dense(10) tanh
}
bottleneck {
    dense(4)
}
decoder mirror(tied=true, output=sigmoid)
loss bce(reduce=sum)
regularize l2(1e-3) on decoder
""",
    "vae_mirror_conv": """
input image(1, 8, 8)
encoder {
    conv(4, k=3, stride=2) relu
    maxpool(2)
}
bottleneck {
    gaussian(3, samples=2)
}
decoder mirror
loss mse
regularize contractive(1e-2)
""",
    "vector_norms": """
input vector(10)
encoder {
    dense(8) batchnorm relu
    dense(6, bias=false) layernorm dropout(0.5)
}
bottleneck {
    dense(3)
}
decoder mirror(output=identity)
loss huber
""",
}


def _edge_spec(name: str):
    result = check_source(EDGE_CASES[name], f"{name}.ae")
    assert result.ok, [d.render() for d in result.diagnostics]
    return result.spec


def _cases():
    return ([pytest.param(lambda f=f: aespec.load(f), id=f.parent.name + "/" + f.name)
             for f in _spec_files()] +
            [pytest.param(lambda n=n: _edge_spec(n), id="edge/" + n) for n in EDGE_CASES])


@pytest.mark.parametrize("load", _cases())
def test_real_shapes_and_params_match_the_checker(load) -> None:
    torch.manual_seed(0)
    spec = load()
    graph = aespec.graph_of(spec)
    model = aespec.build(spec)
    assert sum(p.numel() for p in model.parameters()) == graph.graph["params"]
    x = torch.rand(2, *graph.graph["input"])
    y = torch.rand(2, *graph.graph["output"])  # the input itself, unless the data has a y=
    if "y" in graph.nodes:  # a conditional spec's: one-hot labels
        y = torch.nn.functional.one_hot(torch.arange(2), graph.nodes["y"]["out_shape"][0])
        y = y.float()
    if "xent" in graph.nodes:  # a head's (`head on code`): one-hot labels too
        y = torch.nn.functional.one_hot(torch.arange(2), graph.nodes["xent"]["in_shape"][0])
        y = y.float()
    for training in (True, False):
        model.train(training)
        shapes = model.node_shapes(x)
        wrong = {n: (shapes.get(n), graph.nodes[n]["out_shape"]) for n in graph.graph["order"]
                 if shapes.get(n) != tuple(graph.nodes[n]["out_shape"])}
        assert not wrong, f"training={training}: real vs inferred {wrong}"
        out = model(x, target=y)
        assert out.x_hat.shape[1:] == tuple(graph.graph["output"])
        assert math.isfinite(out.loss.item())
        assert out.z.shape[1:] == tuple(graph.graph["z"])
    model.train()
    out = model(x, target=y)
    # a GAN's loss is D's, on detached samples; G's objective is a term. An adversarial
    # autoencoder's D reads its code outside the objective; a VAE-GAN's D beside the VAE's
    judged = model.discriminator(out.z).sum() if getattr(model, "is_aae", False) else 0
    loss = out.loss + out.terms.get("generator", 0) + judged
    if getattr(model, "is_vae_gan", False):
        loss = loss + model.d_loss(x, out.x_hat)[0]
    loss.backward()
    # a head the top level's loss does not train (its xent on a phase's loss line only)
    phase_only = "xent" not in out.terms
    assert all(p.grad is not None for name, p in model.named_parameters()
               if not (phase_only and name.startswith("head.")))


def test_every_op_has_a_torch_builder() -> None:
    missing = [f"{place}:{name}" for place, table in REGISTRY.items()
               for name, op in table.items() if op.build is None]
    assert not missing


def test_spec_files_are_found() -> None:
    assert len(_spec_files()) >= 13
