"""The compile stage's interface: generated code, AEOutput, views, tying, export paths."""

from __future__ import annotations

import copy
import io
import pathlib

import pytest
import torch
from torch import nn

import aespec
from aespec.compile import AEModel, AEOutput, compile_model
from aespec.errors import AespecError
from aespec.graph.frontend import check_source, check_spec

VALID = pathlib.Path(__file__).resolve().parent / "conformance" / "valid"
TORCHSCRIPT_WARNING = "ignore:The TorchScript type system:UserWarning"


def build(name: str) -> tuple[AEModel, aespec.resolve.pipeline.Spec]:
    spec = aespec.load(VALID / f"{name}.ae")
    torch.manual_seed(0)
    return aespec.build(spec), spec


def batch(spec, n: int = 4) -> torch.Tensor:
    return torch.rand(n, *spec.input.shape, generator=torch.Generator().manual_seed(1))


# ---------------------------------------------------------------- generated code


def test_generated_code_names_values_by_node_and_reads_like_torch() -> None:
    model, _ = build("unet_skip")
    code = model.net.code
    assert "encoder1 = self.encoder1(x)" in code
    assert "encoder2 = torch.relu(encoder1)" in code
    assert "torch.max_pool2d(encoder2, 2, 2)" in code
    assert "decoder10 = torch.cat([decoder9, encoder5], 1)" in code
    assert "return (decoder18, bottleneck8, decoder17)" in code  # x_hat, z, bce logits


def test_print_readable_cites_each_spec_line() -> None:
    model, _ = build("unet_skip")
    text = model.net.print_readable(print_output=False)
    assert "unet_skip.ae:10 in encoder, code: e2 = conv(32, k=3) relu" in text


def test_spec_build_is_compile_model() -> None:
    model, spec = build("undercomplete_fc")
    assert isinstance(model, AEModel)
    assert isinstance(compile_model(check_spec(spec).ir, spec), AEModel)


def test_a_graph_with_shape_errors_is_refused() -> None:
    result = check_source("input vector(8)\nencoder {\n dense(4)\n reshape(3, 3)\n}\n"
                          "bottleneck {\n dense(2)\n}\ndecoder {\n dense(8)\n}\n", "bad.ae")
    assert not result.ok
    with pytest.raises(AespecError) as err:
        compile_model(result.ir, result.spec)
    assert [d.code for d in err.value.diagnostics] == ["E312", "E303"]  # and the reason


# ---------------------------------------------------------------- AEOutput


def test_output_holds_weighted_terms_under_stable_names() -> None:
    model, spec = build("noise_and_penalties")
    out = model(batch(spec))
    assert isinstance(out, AEOutput)
    names = ["0.5*mse", "0.5*bce", "activity_l1[code]", "l1[encoder]", "l2[decoder]"]
    assert list(out.terms) == model.term_names == names
    assert torch.allclose(out.loss, sum(out.terms.values()))
    assert out.x_hat.shape == (4, 64) and out.z.shape == (4, 24) and out.extras == {}


def test_gaussian_latent_output_has_mu_and_logvar_and_a_kl_term() -> None:
    model, spec = build("beta_vae_conv")
    out = model(batch(spec))
    assert list(out.terms) == ["bce", "4*kl"]
    assert out.extras["mu"].shape == out.extras["logvar"].shape == (4, 16)
    assert out.x_hat.min() >= 0 and out.x_hat.max() <= 1  # data space: after the sigmoid


def test_separate_target() -> None:
    model, spec = build("undercomplete_fc")
    x, y = batch(spec), torch.zeros(4, 64)
    model.eval()
    out = model(x, target=y)
    assert torch.allclose(out.terms["mse"], out.x_hat.square().mean())


# ---------------------------------------------------------------- views


def test_encode_is_mu_and_decode_maps_codes_to_data_space() -> None:
    model, spec = build("vae_fc")
    x = batch(spec)
    model.train()
    z = model.encode(x)
    assert model.training  # the mode is restored
    model.eval()
    assert torch.equal(z, model(x).extras["mu"])
    x_hat = model.decode(z)
    assert x_hat.shape == (4, 784) and torch.allclose(x_hat, model(x).x_hat)


def test_sample_decodes_prior_draws_reproducibly() -> None:
    model, _ = build("vae_fc")
    a = model.sample(5, generator=torch.Generator().manual_seed(3))
    b = model.sample(5, generator=torch.Generator().manual_seed(3))
    assert a.shape == (5, 784) and torch.equal(a, b) and 0 <= a.min() and a.max() <= 1


def test_sample_without_a_stochastic_latent_is_an_aespec_error() -> None:
    model, _ = build("undercomplete_fc")
    with pytest.raises(AespecError) as err:
        model.sample(2)
    assert err.value.diagnostics[0].code == "E308"


def test_decode_refuses_a_decoder_that_reads_encoder_tensors() -> None:
    model, _ = build("unet_skip")
    assert model.encode(torch.rand(2, 1, 28, 28)).shape == (2, 64, 7, 7)
    with pytest.raises(AespecError) as err:
        model.decode(torch.rand(2, 64, 7, 7))
    assert err.value.diagnostics[0].code == "E311" and "concat(e2)" in str(err.value)


def test_recon_error_is_per_example_reconstruction_loss() -> None:
    model, spec = build("noise_and_penalties")
    x = batch(spec)
    errors = model.recon_error(x)
    model.eval()
    out = model(x)
    assert errors.shape == (4,)
    assert torch.allclose(errors.mean(), out.terms["0.5*mse"] + out.terms["0.5*bce"])


def test_layer_groups_are_the_dense_encoder_layers_in_order() -> None:
    model, _ = build("mirror_fc")
    groups = model.layer_groups()
    assert [nid for nid, _ in groups] == ["encoder1", "encoder3", "bottleneck5"]
    assert [(m.in_features, m.out_features) for _, m in groups] == [(784, 512), (512, 256),
                                                                    (256, 32)]
    assert build("denoising_conv")[0].layer_groups() == []


# ---------------------------------------------------------------- weights


def test_tied_decoder_shares_the_encoders_weight_tensors() -> None:
    model, spec = build("mirror_tied")
    ids = {id(m.weight) for _, m in model.net.named_children() if hasattr(m, "weight")}
    assert len(ids) == 3  # six dense layers, three weight tensors
    assert model.net.decoder10.weight is model.net.encoder1.weight
    assert sum(p.numel() for p in model.parameters()) == aespec.graph_of(spec).graph["params"]
    twin = copy.deepcopy(model)
    assert twin.net.decoder10.weight is twin.net.encoder1.weight


def test_state_dict_round_trip_gives_the_same_function() -> None:
    model, spec = build("strided_batchnorm")
    model.train()
    model(batch(spec, 8))  # moves the batchnorm statistics
    fresh = aespec.build(spec)
    fresh.load_state_dict(model.state_dict())
    model.eval(), fresh.eval()
    x = batch(spec)
    assert torch.equal(model(x).x_hat, fresh(x).x_hat)


def test_bce_on_a_sigmoid_decoder_is_computed_from_logits() -> None:
    """sigmoid(200) is 1.0 in float32: the probability form would clamp log(0) to -100."""
    model, _ = build("vae_fc")
    model.eval()
    with torch.no_grad():
        for p in model.net.decoder10.parameters():
            p.zero_()
        model.net.decoder10.bias.fill_(200.0)
    out = model(torch.zeros(2, 784))
    assert torch.equal(out.x_hat, torch.ones(2, 784))
    assert out.terms["bce"].item() == pytest.approx(200.0 * 784)


# ---------------------------------------------------------------- torch integration


@pytest.mark.parametrize("name", ["vae_fc", "noise_and_penalties", "unet_skip"])
def test_torch_compile_captures_one_graph(name: str) -> None:
    """aot_eager traces what inductor compiles, minus the C++ build (see the slow test)."""
    model, spec = build(name)
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    out = compiled(batch(spec))
    out.loss.backward()
    assert isinstance(out, AEOutput) and set(out.terms) == set(model.term_names)


def test_torch_compile_runs_a_jacobian_penalty_eagerly() -> None:
    """Double backward through vmapped gradients cannot be compiled: that part stays eager."""
    model, spec = build("contractive")
    torch._dynamo.reset()
    x = batch(spec)
    out = torch.compile(model, backend="aot_eager")(x)
    out.loss.backward()
    assert torch.allclose(out.loss, model(x).loss)


@pytest.mark.slow
def test_torch_compile_inductor_smoke() -> None:
    model, spec = build("undercomplete_fc")
    torch._dynamo.reset()
    compiled = torch.compile(model)
    x = batch(spec)
    model.eval()
    assert torch.allclose(compiled(x).loss, model(x).loss, atol=1e-6)


@pytest.mark.filterwarnings(TORCHSCRIPT_WARNING)
@pytest.mark.parametrize("name", ["unet_skip", "vae_fc", "mirror_tied", "strided_batchnorm",
                                  "sequence_conv1d"])
def test_generated_network_scripts_with_torchscript(name: str) -> None:
    model, spec = build(name)
    model.eval()
    scripted = torch.jit.script(model.net)
    x = batch(spec)
    assert all(torch.allclose(a, b) for a, b in zip(scripted(x), model.net(x), strict=True))


@pytest.mark.parametrize("name", ["unet_skip", "vae_fc"])
def test_generated_network_exports(name: str) -> None:
    """torch.export is what the ONNX exporter runs first; ONNX itself where installed."""
    model, spec = build(name)
    model.eval()
    x = batch(spec)
    exported = torch.export.export(model.net, (x,))
    assert torch.allclose(exported.module()(x)[0], model.net(x)[0])


@pytest.mark.filterwarnings("ignore::FutureWarning")  # raised inside torch's ONNX exporter
def test_generated_network_exports_to_onnx() -> None:
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    model, spec = build("unet_skip")
    model.eval()
    buffer = io.BytesIO()
    torch.onnx.export(model.net, (batch(spec),), buffer, report=False)
    exported = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(exported)
    assert [o.name for o in exported.graph.output]


@pytest.mark.parametrize("name", ["denoising_conv", "unet_skip", "strided_batchnorm"])
def test_channels_last_gives_the_same_model(name: str) -> None:
    model, spec = build(name)
    model.eval()
    x = batch(spec)
    want = model(x).x_hat
    model.to(memory_format=torch.channels_last)
    got = model(x.contiguous(memory_format=torch.channels_last)).x_hat
    assert torch.allclose(got, want, atol=1e-5)


def test_a_jacobian_penalty_evaluates_under_no_grad() -> None:
    model, spec = build("contractive")
    model.eval()
    with torch.no_grad():
        out = model(batch(spec))
    assert out.terms["contractive[bottleneck]"] > 0 and not out.loss.requires_grad


def test_views_share_the_layers_of_the_network() -> None:
    model, _ = build("vae_fc")
    ours = {id(m) for m in model.net.modules() if isinstance(m, nn.Linear)}
    for view in model.views.values():
        assert {id(m) for m in view.modules() if isinstance(m, nn.Linear)} <= ours
    assert not any(name.startswith("views") for name, _ in model.named_modules())


DRAWS_AND_SKIP = """
input image(1, 8, 8)
encoder {
    e = conv(4, k=3) relu
    maxpool(2)
}
bottleneck {
    gaussian(5, samples=3)
}
decoder {
    dense(64) relu
    reshape(1, 8, 8)
    concat(e)
    conv(1, k=3) sigmoid
}
loss bce
"""


def test_torch_save_round_trip_keeps_function_and_ties() -> None:
    spec = check_source(DRAWS_AND_SKIP, "draws.ae").spec
    for model in (aespec.build(spec), build("mirror_tied")[0]):
        buffer = io.BytesIO()
        torch.save(model, buffer)
        buffer.seek(0)
        twin = torch.load(buffer, weights_only=False)
        x = torch.rand(3, *model.info.input_shape)
        model.eval(), twin.eval()
        assert torch.equal(model(x).loss, twin(x).loss)
    assert twin.net.decoder10.weight is twin.net.encoder1.weight


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["unet_skip", "beta_vae_conv", "contractive"])
def test_cuda_with_channels_last_and_bf16(name: str) -> None:
    model, spec = build(name)
    model.cuda()
    x = batch(spec).cuda()
    if x.dim() == 4:
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(x)
    out.loss.backward()
    assert torch.isfinite(out.loss) and all(p.grad is not None for p in model.parameters())
    if model.info.latent_shape:
        assert model.sample(2, torch.Generator().manual_seed(0)).is_cuda


def test_a_deep_copy_penalizes_its_own_weights() -> None:
    model, spec = build("noise_and_penalties")
    twin = copy.deepcopy(model)
    with torch.no_grad():
        twin.net.encoder4.weight.zero_()
    x = batch(spec)
    assert twin(x).terms["l1[encoder]"] == 0 < model(x).terms["l1[encoder]"]
