"""Semantics against hand-computed values: noise, losses, regularizers, gaussian latents."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from torch.autograd.functional import jacobian

import aespec
from aespec.compile import AEModel
from aespec.graph.frontend import check_source
from aespec.ops.modules import GaussianLatent


def compile_text(text: str) -> AEModel:
    result = check_source(text, "case.ae")
    assert result.ok, [d.render() for d in result.diagnostics]
    torch.manual_seed(0)
    return aespec.build(result.spec)


def set_params(model: AEModel, weights: float, others: float) -> None:
    """Every weight (2+ dimensions) to `weights`, biases and norm scales to `others`."""
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(weights if p.ndim >= 2 else others)


def small(loss: str, output: str = "", noise: str = "", extra: str = "") -> str:
    return (f"input vector(2)\n{noise}\nencoder {{\n dense(2)\n}}\nbottleneck {{\n dense(1)\n}}\n"
            f"decoder {{\n dense(2) {output}\n}}\nloss {loss}\n{extra}\n")


def fixed_output(model: AEModel, bias: list[float]) -> None:
    """All parameters 0 but the decoder's bias: the decoder outputs `bias` (or its sigmoid)."""
    set_params(model, 0.0, 0.0)
    with torch.no_grad():
        model.net.decoder3.bias.copy_(torch.tensor(bias))


# ---------------------------------------------------------------- noise


def test_noise_applies_in_training_only_and_the_target_stays_clean() -> None:
    model = compile_text(small("mse", noise="noise gaussian(std=10)"))
    x = torch.rand(8, 2)
    model.eval()
    clean = model(x)
    assert torch.equal(clean.x_hat, model(x).x_hat)  # no noise: deterministic
    model.train()
    noisy = model(x)
    assert not torch.allclose(noisy.x_hat, clean.x_hat)  # the encoder saw corrupted input
    assert torch.allclose(noisy.terms["mse"], (noisy.x_hat - x).square().mean())


@pytest.mark.parametrize("shape", ["vector(20000)"])
def test_gaussian_mask_salt_pepper_and_clip(shape: str) -> None:
    def corrupt(noise: str, x: torch.Tensor) -> torch.Tensor:
        model = compile_text(f"input {shape}\nnoise {noise}\nencoder {{\n dense(2)\n}}\n"
                             "bottleneck {\n dense(2)\n}\ndecoder {\n dense(20000)\n}\n")
        return model.corrupt(x)

    ones = torch.ones(1, 20000)
    g = corrupt("gaussian(std=0.5)", ones) - 1
    assert abs(g.mean().item()) < 0.02 and abs(g.std().item() - 0.5) < 0.02
    m = corrupt("mask(0.3)", ones)
    assert abs((m == 0).float().mean().item() - 0.3) < 0.02 and set(m.unique().tolist()) == {0, 1}
    s = corrupt("salt_pepper(0.2)", ones * 0.5)
    assert abs((s == 0).float().mean().item() - 0.1) < 0.01
    assert abs((s == 1).float().mean().item() - 0.1) < 0.01
    assert set(s.unique().tolist()) == {0, 0.5, 1}
    c = corrupt("clip(0, 1)", torch.linspace(-1, 2, 20000)[None])
    assert c.min() == 0 and c.max() == 1


def test_occlude_zeroes_one_square_per_image_in_every_channel() -> None:
    model = compile_text("input image(2, 8, 9)\nnoise occlude(3)\nencoder {\n conv(2)\n}\n"
                         "bottleneck {\n conv(2)\n}\ndecoder {\n conv(2)\n}\n")
    out = model.corrupt(torch.ones(16, 2, 8, 9))
    for image in out:
        assert torch.equal(image[0], image[1])
        rows, cols = (image[0] == 0).nonzero(as_tuple=True)
        assert len(rows) == 9
        assert rows.max() - rows.min() == 2 and cols.max() - cols.min() == 2


# ---------------------------------------------------------------- losses

# x = [[1, 0], [0, 0]] against a decoder output of [0.5, -2] for both examples:
# errors (-0.5, -2) and (0.5, -2).
X = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
HAND = {  # (reduce=mean, reduce=sum): the sum over elements / 4, and / 2 examples
    "mse": (8.5 / 4, 8.5 / 2),  # 0.25 + 4 + 0.25 + 4
    "mae": (5 / 4, 5 / 2),  # 0.5 + 2 + 0.5 + 2
    "huber": (3.25 / 4, 3.25 / 2),  # 0.5*0.5^2 = 0.125 twice; 1*(2 - 0.5) = 1.5 twice
}


@pytest.mark.parametrize("loss", list(HAND))
@pytest.mark.parametrize("reduce", ["mean", "sum"])
def test_reconstruction_losses(loss: str, reduce: str) -> None:
    model = compile_text(small(f"{loss}(reduce={reduce})"))
    fixed_output(model, [0.5, -2.0])
    out = model(X)
    assert out.terms[loss].item() == pytest.approx(HAND[loss][reduce == "sum"])
    per_example = model.recon_error(X)
    assert per_example.tolist() == pytest.approx([HAND[loss][reduce == "sum"]] * 2)


@pytest.mark.parametrize("reduce", ["mean", "sum"])
def test_bce(reduce: str) -> None:
    """Output sigmoid([0, ln 3]) = [0.5, 0.75] against x = [[1, 0], [0, 1]]:
    -ln 0.5 - ln 0.25 - ln 0.5 - ln 0.75 = ln(64/3)."""
    model = compile_text(small(f"bce(reduce={reduce})", "sigmoid"))
    fixed_output(model, [0.0, math.log(3)])
    out = model(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    assert out.terms["bce"].item() == pytest.approx(math.log(64 / 3) / (4 if reduce == "mean"
                                                                      else 2))


def test_weighted_terms_sum_to_the_loss() -> None:
    model = compile_text(small("0.5 * mse + 2 * mae"))
    fixed_output(model, [0.5, -2.0])
    out = model(X)
    assert out.terms["0.5*mse"].item() == pytest.approx(0.5 * 8.5 / 4)
    assert out.terms["2*mae"].item() == pytest.approx(2 * 5 / 4)
    assert out.loss.item() == pytest.approx(0.5 * 8.5 / 4 + 2 * 5 / 4)


# ---------------------------------------------------------------- regularizers


def test_l1_and_l2_read_weights_not_biases_or_norm_scales() -> None:
    model = compile_text("input vector(3)\nencoder {\n dense(2) layernorm relu\n}\n"
                         "bottleneck {\n dense(2)\n}\ndecoder {\n dense(3)\n}\nloss mse\n"
                         "regularize l2(0.1)\nregularize l1(0.01) on decoder\n")
    set_params(model, 0.5, 3.0)
    out = model(torch.rand(4, 3))
    assert out.terms["l2"].item() == pytest.approx(0.1 * 0.25 * (6 + 4 + 6))
    assert out.terms["l1[decoder]"].item() == pytest.approx(0.01 * 0.5 * 6)


def test_l2_on_conv_kernels_and_a_tied_weight_counts_it_once() -> None:
    model = compile_text("input vector(4)\nencoder {\n dense(3)\n}\nbottleneck {\n dense(2)\n}\n"
                         "decoder mirror(tied=true)\nloss mse\nregularize l2(1.0)\n")
    set_params(model, 0.5, 3.0)
    assert model(torch.rand(2, 4)).terms["l2"].item() == pytest.approx(0.25 * (12 + 6))
    model = compile_text("input image(1, 4, 4)\nencoder {\n conv(2, k=3)\n}\n"
                         "bottleneck {\n conv(2, k=1)\n}\ndecoder {\n conv(1, k=3)\n}\nloss mse\n"
                         "regularize l1(1.0) on encoder\n")
    set_params(model, 0.5, 3.0)
    assert model(torch.rand(2, 1, 4, 4)).terms["l1[encoder]"].item() == pytest.approx(0.5 * 18)


def test_activity_l1_is_the_batch_mean_of_each_examples_sum() -> None:
    model = compile_text("input vector(3)\nencoder {\n dense(4) relu\n}\n"
                         "bottleneck {\n code = dense(2)\n}\ndecoder {\n dense(3)\n}\nloss mse\n"
                         "regularize activity_l1(0.1) on code\n")
    x = torch.rand(5, 3)
    out = model(x)
    assert torch.allclose(out.terms["activity_l1[code]"], 0.1 * out.z.abs().sum(1).mean())
    set_params(model, 0.0, 0.0)
    with torch.no_grad():
        model.net.bottleneck3.bias.copy_(torch.tensor([1.0, -2.0]))
    assert model(x).terms["activity_l1[code]"].item() == pytest.approx(0.1 * 3)


def _kl(rho: float, q: float) -> float:
    return rho * math.log(rho / q) + (1 - rho) * math.log((1 - rho) / (1 - q))


def test_kl_sparsity_uses_the_batch_mean_of_each_unit() -> None:
    model = compile_text("input vector(3)\nencoder {\n dense(4) relu\n}\n"
                         "bottleneck {\n dense(2) sigmoid\n}\ndecoder {\n dense(3)\n}\nloss mse\n"
                         "regularize kl_sparsity(rho=0.2, weight=0.5)\n")
    set_params(model, 0.0, 0.0)
    with torch.no_grad():
        model.net.bottleneck3.bias.copy_(torch.tensor([0.0, math.log(3)]))  # h = 0.5, 0.75
    x = torch.rand(6, 3)
    assert model(x).terms["kl_sparsity"].item() == pytest.approx(
        0.5 * (_kl(0.2, 0.5) + _kl(0.2, 0.75)))
    torch.manual_seed(1)
    for p in model.parameters():
        torch.nn.init.normal_(p.data, std=2.0)
    out = model(x)
    rho_hat = out.z.mean(0).tolist()
    batch_mean = 0.5 * sum(_kl(0.2, q) for q in rho_hat)
    per_example = 0.5 * sum(_kl(0.2, q) for row in out.z.tolist() for q in row) / 6
    assert out.terms["kl_sparsity"].item() == pytest.approx(batch_mean)
    assert batch_mean != pytest.approx(per_example)


def test_contractive_matches_the_closed_form_of_one_sigmoid_layer() -> None:
    """h = sigmoid(Wx + b): ||dh/dx||_F^2 = sum_j (h_j (1 - h_j))^2 ||W_j||^2."""
    model = compile_text("input vector(5)\nencoder {\n h = dense(3) sigmoid\n}\n"
                         "bottleneck {\n dense(2)\n}\ndecoder {\n dense(5)\n}\nloss mse\n"
                         "regularize contractive(0.1) on h\n")
    x = torch.randn(7, 5)
    out = model(x)
    w, b = model.net.encoder1.weight, model.net.encoder1.bias
    h = torch.sigmoid(x @ w.T + b)
    closed = 0.1 * ((h * (1 - h)).square() @ w.square().sum(1)).mean()
    assert torch.allclose(out.terms["contractive[h]"], closed)
    (want,) = torch.autograd.grad(closed, w)
    out.terms["contractive[h]"].backward()
    assert torch.allclose(w.grad, want, atol=1e-6)  # the penalty trains the weights


@pytest.mark.parametrize("layers", [
    "input vector(6)\nencoder {\n dense(5) tanh\n}\nbottleneck {\n dense(3) sigmoid\n}",
    "input image(1, 6, 6)\nencoder {\n conv(2, k=3) relu\n maxpool(2)\n}\n"
    "bottleneck {\n dense(3) tanh\n}",
    # layernorm on a sequence is GroupNorm(1, C), whose fused backward once broke the
    # penalty's batched gradients ("size of tensor a (4) must match ... b (12)")
    "input sequence(2, 12)\nencoder {\n conv(4) layernorm\n}\nbottleneck {\n dense(4)\n}",
], ids=["dense", "conv", "layernorm-sequence"])
def test_contractive_matches_autograd_jacobian(layers: str) -> None:
    model = compile_text(f"{layers}\ndecoder mirror\nloss mse\nregularize contractive(0.2)\n")
    x = torch.randn(4, *model.info.input_shape)
    out = model(x)
    norms = [jacobian(lambda v: model.encode(v[None])[0], xb).square().sum() for xb in x]
    assert torch.allclose(out.terms["contractive"], 0.2 * torch.stack(norms).mean())


# ---------------------------------------------------------------- gaussian latent

VAE = ("input vector(6)\nencoder {{\n dense(4) relu\n}}\nbottleneck {{\n {latent}\n}}\n"
       "decoder {{\n dense(6) sigmoid\n}}\nloss bce\n")


def test_reparameterization_and_z_is_mu_at_evaluation() -> None:
    model = compile_text(VAE.format(latent="gaussian(2)"))
    x = torch.rand(5, 6)
    torch.manual_seed(5)
    out = model(x)
    torch.manual_seed(5)
    eps = torch.randn(1, 5, 2)[0]
    mu, logvar = out.extras["mu"], out.extras["logvar"]
    assert torch.allclose(out.z, mu + torch.exp(0.5 * logvar) * eps)
    out.z.sum().backward()
    heads = model.net.bottleneck3.heads.weight.grad  # rows: mu, then logvar
    assert heads[:2].abs().sum() > 0 and heads[2:].abs().sum() > 0
    model.eval()
    out = model(x)
    assert torch.equal(out.z, out.extras["mu"]) and torch.equal(model(x).x_hat, out.x_hat)


def test_kl_closed_form() -> None:
    """mu = (1, 0), sigma^2 = (1, 4): 0.5 (1 + 1 - 1 - 0) + 0.5 (0 + 4 - 1 - ln 4)."""
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(4)]])
    assert GaussianLatent.kl(mu, logvar).item() == pytest.approx(2 - math.log(2))
    mu, logvar = torch.randn(8, 3), torch.randn(8, 3)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    want = torch.distributions.kl_divergence(q, p).sum(1).mean()
    assert torch.allclose(GaussianLatent.kl(mu, logvar), want)


def test_beta_weights_the_kl_and_reduce_defaults_to_sum() -> None:
    model = compile_text(VAE.format(latent="gaussian(2, beta=4)"))
    model.eval()
    x = torch.rand(5, 6)
    out = model(x)
    kl = 0.5 * (out.extras["mu"].square() + out.extras["logvar"].exp() - 1
                - out.extras["logvar"]).sum(1).mean()
    assert torch.allclose(out.terms["4*kl"], 4 * kl)
    bce = F.binary_cross_entropy(out.x_hat, x, reduction="sum") / 5
    assert torch.allclose(out.terms["bce"], bce, atol=1e-5)


def test_samples_average_the_reconstruction_over_draws() -> None:
    model = compile_text(VAE.format(latent="gaussian(2, samples=3)"))
    x = torch.rand(5, 6)
    torch.manual_seed(2)
    out = model(x)
    torch.manual_seed(2)
    eps = torch.randn(3, 5, 2)
    mu, logvar = out.extras["mu"], out.extras["logvar"]
    assert out.x_hat.shape == (15, 6)  # draw-major: rows l*B + b
    assert torch.allclose(out.z, (mu + torch.exp(0.5 * logvar) * eps).flatten(0, 1))
    draws = [F.binary_cross_entropy(out.x_hat[5 * i:5 * i + 5], x, reduction="sum") / 5
             for i in range(3)]
    assert torch.allclose(out.terms["bce"], torch.stack(draws).mean(), atol=1e-5)
    model.eval()
    assert model(x).x_hat.shape == (5, 6)


# ---------------------------------------------------------------- gaussian_nll


def _nll(err: torch.Tensor, var: torch.Tensor | float) -> torch.Tensor:
    """0.5 * (log 2π + log σ² + err² / σ²), by hand."""
    var = torch.as_tensor(var, dtype=err.dtype)
    return 0.5 * (math.log(2 * math.pi) + var.log() + err.square() / var)


@pytest.mark.parametrize("reduce", ["mean", "sum"])
def test_gaussian_nll_fixed_variance(reduce: str) -> None:
    """σ² = 0.25, errors (-0.5, -2) and (0.5, -2): per value 0.5 (log 2π + log 0.25 +
    4 e²)."""
    model = compile_text(small(f"gaussian_nll(var=0.25, reduce={reduce})"))
    fixed_output(model, [0.5, -2.0])
    out = model(X)
    per_value = _nll(torch.tensor([[-0.5, -2.0], [0.5, -2.0]]), 0.25)
    want = per_value.mean() if reduce == "mean" else per_value.sum() / 2
    assert out.terms["gaussian_nll"].item() == pytest.approx(want.item())
    hand = 0.5 * (math.log(2 * math.pi) + math.log(0.25) + 4 * 0.25)  # the error 0.5
    assert per_value[0, 0].item() == pytest.approx(hand)
    assert sum(p.numel() for p in model.parameters()) == 2 * 2 + 2 + 2 * 1 + 1 + 1 * 2 + 2
    assert model.recon_error(X).tolist() == pytest.approx(
        (per_value.mean(1) if reduce == "mean" else per_value.sum(1)).tolist())


def test_gaussian_nll_learned_variance_against_a_hand_computation() -> None:
    """σ² = exp(s) + min_var per value; s starts at 0, so σ² = 1 + min_var."""
    model = compile_text(small("gaussian_nll(var=learned, min_var=0.01)"))
    fixed_output(model, [0.5, -2.0])
    log_var = model.objective_params["loss1_log_var"]
    assert log_var.shape == (2,) and torch.equal(log_var, torch.zeros(2))
    err = torch.tensor([[-0.5, -2.0], [0.5, -2.0]])
    out = model(X)
    assert out.terms["gaussian_nll"].item() == pytest.approx(_nll(err, 1.01).mean().item())
    with torch.no_grad():
        log_var.copy_(torch.tensor([math.log(0.24), math.log(3.99)]))  # σ² = 0.25 and 4
    out = model(X)
    want = _nll(err, torch.tensor([0.25, 4.0])).mean()
    assert out.terms["gaussian_nll"].item() == pytest.approx(want.item(), rel=1e-5)
    # the learned log-variance gets gradients; dL/ds = 0.5 (1 - e²/σ²) σ'/σ² per value, mean
    out.loss.backward()
    assert log_var.grad is not None
    grad = 0.5 * (1 - err.square() / torch.tensor([0.25, 4.0])) * torch.tensor([0.24, 3.99]) \
        / torch.tensor([0.25, 4.0])
    assert log_var.grad.tolist() == pytest.approx((grad.sum(0) / 4).tolist(), rel=1e-4)


def test_gaussian_nll_variance_is_trained_and_counted() -> None:
    """The learned log-variance is a parameter of the model, counted as the graph counts
    it (one per output value), saved in the state dict and moved by the optimizer toward
    the errors' own variance."""
    text = ("input image(1, 4, 4)\nencoder {\n conv(2)\n}\nbottleneck {\n gaussian(3)\n}\n"
            "decoder {\n dense(16)\n reshape(1, 4, 4)\n}\nloss gaussian_nll\n")
    result = check_source(text, "case.ae")
    assert result.ok and result.ir is not None
    model = aespec.build(result.spec)
    assert sum(p.numel() for p in model.parameters()) == result.ir.params
    loss_node = result.ir.nodes["loss1"]
    assert loss_node.params == 16 and loss_node.in_shape == (1, 4, 4)
    assert "objective_params.loss1_log_var" in model.state_dict()
    fixed = check_source(text.replace("gaussian_nll", "gaussian_nll(var=0.5)"), "case.ae")
    assert fixed.ir is not None and fixed.ir.params == \
        result.ir.params - 16
    # train only the variance on a fixed output: σ² = exp(s) + 0.001 falls toward the
    # mean squared error 0.01 of each value
    log_var = model.objective_params["loss1_log_var"]
    opt = torch.optim.Adam([log_var], lr=0.05)
    model.eval()
    x = torch.zeros(64, 1, 4, 4)
    set_params(model, 0.0, 0.0)
    with torch.no_grad():
        model.net.decoder3.bias.fill_(0.1)  # x̂ = 0.1 everywhere: error² = 0.01
    for _ in range(400):
        opt.zero_grad()
        model(x).loss.backward()
        opt.step()
    sigma2 = log_var.detach().exp() + 1e-3
    assert torch.allclose(sigma2, torch.full_like(sigma2, 0.01), rtol=0.05)


def test_gaussian_nll_arguments_and_objective_text() -> None:
    from aespec.graph.summary import objective_text, table_rows
    learned = check_source(small("gaussian_nll"), "case.ae")
    assert learned.ir is not None
    assert "GaussianNLL(x, x̂, σ² ≥ 0.001 learned per value)" in objective_text(learned.ir)
    rows = [r for r in table_rows(learned.ir) if r.block == "loss"]
    assert [(r.op, r.params) for r in rows] == [("gaussian_nll", 2)]
    fixed = check_source(small("gaussian_nll(0.1)"), "case.ae")
    assert fixed.ir is not None
    assert objective_text(fixed.ir) == "L = GaussianNLL(x, x̂, σ² = 0.1)"
    for bad in ("gaussian_nll(var=0)", "gaussian_nll(var=lerned)",
                "gaussian_nll(var=0.1, min_var=0.01)", "gaussian_nll(min_var=-1)"):
        result = check_source(small(bad), "case.ae")
        assert [d.code for d in result.diagnostics if d.severity == "error"] == ["E203"], bad
