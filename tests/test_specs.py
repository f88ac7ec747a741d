"""The teaching library in specs/: every spec checks cleanly and, trained, does what it is for.

Each spec is trained here on its own data, shortened where a full run would not fit CI
(fewer epochs, `limit=` on Fashion-MNIST), and its PURPOSE is asserted with a margin:
reconstructions that vary with the input (not the mean image), a denoiser's output nearer
the clean image than its corrupted input, a KL-sparse code near rho, a contractive code with
a smaller Jacobian than the same net without the penalty, a linear autoencoder on the PCA
subspace, a VAE whose KL stays above a floor, pretraining that changes what fine-tuning
reaches, and the sources' examples at their stated parameter counts. A twin (the same net
without its penalty) is the same spec with the penalty's `let` set to 0 (`--set`).

Specs this file does not know get the generic checks: no errors, no warnings, and a short
run whose reconstructions vary with the input.
"""

from __future__ import annotations

import functools
import math
import pathlib

import pytest

import aespec

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
ALL = sorted(p.stem for p in SPECS.glob("*.ae"))
# the GANs and conditional models, whose purpose tests are tests/test_specs_generative.py:
# they reconstruct nothing (a GAN), or reconstruct given a label (a conditional VAE)
GENERATIVE = {"gan_fc", "dcgan_fashion", "cgan", "wgan_gp", "cvae", "aae", "vae_gan"}
AUTOENCODERS = [name for name in ALL if name not in GENERATIVE]
FASHION = pathlib.Path("/usr/share/datasets/fashion-mnist")

# the warnings a spec means to show; every other spec must check without any
WARNINGS = {
    "overcomplete_fc": {"W401"},  # the point of the spec: an unconstrained overcomplete code
    "conv_fashion": {"W401"},  # the source's 128 x 7 x 7 code is wider than its input
    "inpainting_unet": {"W402"},  # skips past the bottleneck: the point of a U-Net
    "segmentation_unet": {"W402"},
}

# the sources' examples: exact parameter counts (PyTorch's count, from the graph)
PARAMS = {
    "deep_fc_fashion": 1_219_748,  # 784-500-300-150-100-64, mirrored
    "conv_fashion": 185_217,  # the Keras-style conv autoencoder
    "denoising_conv": 185_217,  # the same layers, with gaussian noise
    "mirror_fc": 1_083_696,
    "vae_fc": 1_082_680,  # FC-VAE, 20-dimensional latent
    "denoising_fc": 1_100_112,
    "vqvae": 40_081,  # VQ-VAE: convs 40,081 - 1,024, and a codebook of 64 x 16
}

# shortened runs: epochs (None: the spec's own), a smaller data set where the spec's is
# large, and more steps per epoch (a smaller batch) where an epoch of a conv net is costly
SHORT: dict[str, tuple[int | None, str | None, tuple[str, ...]]] = {
    "undercomplete_fc": (60, None, ()), "linear_pca": (None, None, ()),
    "overcomplete_fc": (30, None, ()), "overcomplete_regularized": (30, None, ()),
    "mirror_tied": (60, None, ()), "sparse_kl": (60, None, ()), "sparse_l1": (30, None, ()),
    "contractive": (12, None, ()), "weight_penalties": (30, None, ()),
    "dropout_fc": (30, None, ()), "denoising_mask": (40, None, ()),
    "denoising_salt_pepper": (40, None, ()), "noise_and_penalties": (60, None, ()),
    "stacked_pretrain": (40, None, ()), "sequence_conv1d": (30, None, ()),
    "strided_batchnorm": (20, None, ()), "inpainting_unet": (2, None, ("train.batch=16",)),
    "segmentation_unet": (8, None, ()), "denoising_conv": (2, None, ("train.batch=16",)),
    "conv_fashion": (1, "fashion_mnist(limit=2000)", ("train.batch=16",)),
    "vae_samples": (40, None, ()), "vae_manifold": (40, None, ()),
    "vae_conv": (6, None, ()), "beta_vae_conv": (6, None, ()),
    "deep_fc_fashion": (4, "fashion_mnist(limit=3000)", ()),
    "denoising_fc": (4, "fashion_mnist(limit=3000)", ()),
    "mirror_fc": (3, "fashion_mnist(limit=3000)", ()),
    "vae_fc": (4, "fashion_mnist(limit=3000)", ()),
    "ksparse": (5, None, ()), "wae": (5, None, ()),  # purpose: test_specs_ksparse_wae.py
    "vqvae": (3, "fashion_mnist(limit=3000)", ()),
    # the 784-1000-500-250-30 stack, its RBMs one epoch each (its purpose: test_specs_dbn.py)
    "dbn_fashion": (4, "fashion_mnist(limit=3000)", ("train.pretrain=rbm(epochs=1, lr=1e-2)",)),
    # phases shortened by --set phase.NAME.KEY (their purpose: test_specs_phases.py)
    "keras_denoiser_two_phase": (None, None, ("phase.clean.epochs=1", "phase.noisy.epochs=2")),
    "stacked_bce": (20, None, ("train.pretrain=layerwise(epochs=5, lr=1e-2, output=sigmoid, "
                               "loss=bce)",)),
    # its purpose: tests/test_specs_heads.py
    "pretrain_finetune": (3, None, ("train.pretrain=rbm(epochs=1, lr=1e-2)",)),
}
DEFAULT_SHORT: tuple[int | None, str | None, tuple[str, ...]] = (None, None, ())  # as shipped


def _needs_fashion(data: str | None, name: str) -> None:
    text = data or (SPECS / f"{name}.ae").read_text()
    if "fashion_mnist" in text and not FASHION.exists():
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")


@functools.cache
def _trained(name: str, overrides: tuple[str, ...] = (), source: str | None = None) -> dict:
    """Train specs/NAME.ae shortened (once per arguments); the model and its test data."""
    import tempfile

    import torch

    epochs, data, short = SHORT.get(name, DEFAULT_SHORT)
    _needs_fashion(data, name)
    out = pathlib.Path(tempfile.mkdtemp(prefix=f"spec-{name}-"))
    path = SPECS / f"{name}.ae"
    if source is not None:  # a twin: the spec's text edited, in the spec's folder's place
        path = out / f"{name}.ae"
        path.write_text(source)
        for item in (SPECS / "data").glob("*"):
            (out / "data").mkdir(exist_ok=True)
            (out / "data" / item.name).symlink_to(item)
    torch.set_num_threads(1)
    result = aespec.train(path, epochs=epochs, data=data, overrides=[*short, *overrides],
                          out=out / "run", quiet=True, report=False)
    run = aespec.train.load_run(result.run_dir)
    d = run.data(data)
    if run.spec.head is not None:  # its y holds the labels the head reads: the target is x
        from dataclasses import replace

        d = replace(d, train=replace(d.train, y=None), test=replace(d.test, y=None))
    return {"result": result, "model": result.model, "data": d, "run": run}


def _test_xy(t: dict, n: int = 512):
    d = t["data"]
    x = d.test.x[:n]
    y = x if d.test.y is None else d.test.y[:n]
    return x, y


def _recon(model, x):
    import torch

    with torch.no_grad():
        return model(x).x_hat


def _mse(a, b) -> float:
    return float(((a - b) ** 2).nanmean())  # a NaN target (missing=nan) is unobserved


def _mean_image_mse(t: dict) -> float:
    d = t["data"]
    target = d.train.x if d.train.y is None else d.train.y
    _, y = _test_xy(t)
    return _mse(target.nanmean(0, keepdim=True), y)


def _spread(a) -> float:
    """Mean over values of the standard deviation across examples (of the observed ones,
    where a NaN marks a missing value)."""
    a = a.flatten(1)
    mean = a.nanmean(0, keepdim=True)
    return float(((a - mean) ** 2).nanmean(0).sqrt().nanmean())


def _pca(t: dict, k: int):
    from aespec.report.pca import fit_pca, pca_reconstruct

    d = t["data"]
    fit = d.train.x.flatten(1).double().numpy()
    mean, comps = fit_pca(fit, k)
    x, _ = _test_xy(t)
    return mean, comps, pca_reconstruct(x.flatten(1).double().numpy(), mean, comps)


# ---------------------------------------------------------------- every spec


def test_the_library_holds_every_kind() -> None:
    expected = {"undercomplete_fc", "overcomplete_fc", "overcomplete_regularized", "linear_pca",
                "mirror_tied", "denoising_conv", "denoising_fc", "denoising_mask",
                "denoising_salt_pepper", "inpainting_unet", "sparse_l1", "sparse_kl",
                "contractive", "weight_penalties", "dropout_fc", "stacked_pretrain",
                "conv_fashion", "strided_batchnorm", "segmentation_unet", "sequence_conv1d",
                "vae_fc", "beta_vae_conv", "vae_samples", "vae_manifold", "vae_conv",
                "deep_fc_fashion", "mirror_fc", "noise_and_penalties", "gan_fc",
                "dcgan_fashion", "cgan", "wgan_gp", "cvae"}
    assert expected <= set(ALL), expected - set(ALL)


@pytest.mark.parametrize("name", ALL)
def test_spec_checks_with_only_the_warnings_it_means(name: str) -> None:
    result = aespec.check(SPECS / f"{name}.ae")
    assert not [d for d in result.diagnostics if d.code.startswith("E")], result.diagnostics
    warnings = {d.code for d in result.diagnostics if d.code.startswith("W")}
    assert warnings == WARNINGS.get(name, set()), (name, warnings)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_sources_examples_have_their_stated_parameter_counts(name: str) -> None:
    result = aespec.check(SPECS / f"{name}.ae")
    assert result.ir is not None
    assert result.ir.params == PARAMS[name]


def test_deep_dense_source_example_has_the_stated_widths() -> None:
    g = aespec.check(SPECS / "deep_fc_fashion.ae").ir
    widths = [g.nodes[n].out_shape[0] for n in g.order if g.nodes[n].op == "dense"]
    assert widths == [500, 300, 150, 100, 64, 100, 150, 300, 500, 784]


def test_source_denoiser_adds_noise_half_and_clips() -> None:
    spec = aespec.load(SPECS / "denoising_fc.ae")
    ops = [(n.op, dict(n.args)) for n in spec.noise]
    assert ops[0][0] == "gaussian" and ops[0][1]["std"] == 0.5
    assert ops[1][0] == "clip"
    assert spec.input.shape == (784,)


def test_fc_vae_source_example_has_a_20_dimensional_latent() -> None:
    g = aespec.check(SPECS / "vae_fc.ae").ir
    assert tuple(g.z) == (20,) and g.latent is not None


@pytest.mark.slow
@pytest.mark.parametrize("name", AUTOENCODERS)
def test_trained_spec_reconstructs_each_input_not_the_mean_image(name: str) -> None:
    """The failure users found: a net that outputs the training mean for every input."""
    t = _trained(name)
    x, y = _test_xy(t)
    if t["model"].noise is not None:  # judged as trained: from the noisy input
        import torch

        torch.manual_seed(0)
        x = t["model"].corrupt(x)
    x_hat = _recon(t["model"], x)
    assert _spread(x_hat) > 0.3 * _spread(y), (name, _spread(x_hat), _spread(y))
    assert _mse(x_hat, y) < 0.8 * _mean_image_mse(t), (name, _mse(x_hat, y))


# ---------------------------------------------------------------- linear and undercomplete


@pytest.mark.slow
def test_linear_autoencoder_matches_pca_and_spans_its_subspace() -> None:
    import numpy as np
    import torch
    from scipy.linalg import subspace_angles

    t = _trained("linear_pca")
    model = t["model"]
    x, _ = _test_xy(t)
    k = math.prod(model.info.z_shape)
    _, comps, pca_hat = _pca(t, k)
    pca_mse = float(np.mean((pca_hat - x.flatten(1).double().numpy()) ** 2))
    assert _mse(_recon(model, x), x) < 1.05 * pca_mse
    with torch.no_grad():  # the decoder's columns: decode(e_i) - decode(0)
        eye = torch.eye(k)
        cols = (model.decode(eye) - model.decode(torch.zeros(1, k))).flatten(1)
    # principal angles between the decoder's column space and the top-k PCA subspace
    angles = np.degrees(subspace_angles(cols.double().numpy().T, comps.T))
    assert angles.max() < 10, angles


@pytest.mark.slow
@pytest.mark.parametrize("name", ["undercomplete_fc", "mirror_tied"])
def test_nonlinear_undercomplete_autoencoder_beats_pca_at_the_same_k(name: str) -> None:
    import numpy as np

    t = _trained(name)
    x, _ = _test_xy(t)
    _, _, pca_hat = _pca(t, math.prod(t["model"].info.z_shape))
    pca_mse = float(np.mean((pca_hat - x.flatten(1).double().numpy()) ** 2))
    assert _mse(_recon(t["model"], x), x) < pca_mse


# ---------------------------------------------------------------- overcomplete


def _random_input_error(t: dict) -> float:
    import torch

    x, _ = _test_xy(t)
    r = torch.rand(x.shape, generator=torch.Generator().manual_seed(0))
    return _mse(_recon(t["model"], r), r)


@pytest.mark.slow
def test_unregularized_overcomplete_copies_noise_and_the_regularized_one_does_not() -> None:
    copied = _random_input_error(_trained("overcomplete_fc"))
    regularized = _random_input_error(_trained("overcomplete_regularized"))
    assert regularized > 2 * copied, (copied, regularized)


# ---------------------------------------------------------------- denoisers


DENOISERS = ["denoising_mask", "denoising_salt_pepper", "noise_and_penalties",
             "inpainting_unet", "denoising_conv", "denoising_fc"]


@pytest.mark.slow
@pytest.mark.parametrize("name", DENOISERS)
def test_denoiser_output_is_nearer_the_clean_image_than_its_input(name: str) -> None:
    import torch

    t = _trained(name)
    x, _ = _test_xy(t)
    torch.manual_seed(0)
    noisy = t["model"].corrupt(x)
    assert not torch.equal(noisy, x)
    assert _mse(_recon(t["model"], noisy), x) < 0.5 * _mse(noisy, x)


# ---------------------------------------------------------------- sparse, contractive, penalties


def _codes(t: dict):
    import torch

    x, _ = _test_xy(t)
    with torch.no_grad():
        return t["model"].encode(x)


@pytest.mark.slow
def test_kl_sparsity_brings_mean_activation_near_rho_and_far_without_it() -> None:
    rho = 0.05
    sparse = float(_codes(_trained("sparse_kl")).mean())
    free = float(_codes(_trained("sparse_kl", ("weight=0",))).mean())
    assert rho / 2 < sparse < 2 * rho, sparse
    assert free > 4 * rho, free


@pytest.mark.slow
def test_l1_activity_switches_most_code_units_off() -> None:
    def off(t: dict) -> float:
        return float((_codes(t) <= 1e-6).float().mean())

    sparse, free = off(_trained("sparse_l1")), off(_trained("sparse_l1", ("weight=0",)))
    assert sparse > 0.6 and sparse > free + 0.2, (sparse, free)


def _jacobian_norm(t: dict) -> float:
    from torch.func import jacrev, vmap

    x, _ = _test_xy(t, 128)
    model = t["model"]
    jac = vmap(jacrev(lambda v: model.encode(v[None])[0]))(x)
    return float((jac.detach() ** 2).sum((1, 2)).mean())


@pytest.mark.slow
def test_contractive_penalty_lowers_the_encoder_jacobian() -> None:
    with_penalty = _jacobian_norm(_trained("contractive"))
    without = _jacobian_norm(_trained("contractive", ("weight=0",)))
    assert with_penalty < 0.2 * without, (with_penalty, without)


@pytest.mark.slow
def test_weight_penalties_shrink_the_weights_they_target() -> None:
    def norms(t: dict) -> tuple[float, float]:
        net = t["model"].net
        enc = sum(float(p.detach().abs().sum()) for n, p in net.named_parameters()
                  if n.startswith("encoder") and n.endswith("weight"))
        dec = sum(float((p.detach() ** 2).sum()) for n, p in net.named_parameters()
                  if n.startswith("decoder") and n.endswith("weight"))
        return enc, dec

    enc, dec = norms(_trained("weight_penalties"))
    free_enc, free_dec = norms(_trained("weight_penalties", ("l1=0", "l2=0")))
    assert enc < 0.7 * free_enc and dec < 0.7 * free_dec, (enc, free_enc, dec, free_dec)


@pytest.mark.slow
def test_dropout_is_random_in_training_and_off_at_evaluation() -> None:
    import torch

    t = _trained("dropout_fc")
    model = t["model"]
    x, _ = _test_xy(t)
    model.train()
    try:
        with torch.no_grad():
            a, b = model(x).x_hat, model(x).x_hat
    finally:
        model.eval()
    assert not torch.equal(a, b)
    assert torch.equal(_recon(model, x), _recon(model, x))


# ---------------------------------------------------------------- pretraining


@pytest.mark.slow
def test_pretraining_changes_what_fine_tuning_reaches() -> None:
    source = (SPECS / "stacked_pretrain.ae").read_text()
    plain = "\n".join(line for line in source.splitlines()
                      if not line.strip().startswith("pretrain "))
    assert plain != source
    with_pre, without = _trained("stacked_pretrain"), _trained("stacked_pretrain", (), plain)
    assert with_pre["result"].pretrain and not without["result"].pretrain
    x, _ = _test_xy(with_pre)
    mse_with, mse_without = _mse(_recon(with_pre["model"], x), x), _mse(
        _recon(without["model"], x), x)
    assert mse_without > 1.5 * mse_with, (mse_with, mse_without)
    assert _spread(_recon(without["model"], x)) < 0.1 * _spread(x)  # stuck at the mean image


# ---------------------------------------------------------------- paired targets


@pytest.mark.slow
def test_segmenter_beats_thresholding_its_input() -> None:
    t = _trained("segmentation_unet")
    x, y = _test_xy(t)
    assert not (x == y).all()
    model_acc = float(((_recon(t["model"], x) > 0.5) == (y > 0.5)).float().mean())
    threshold_acc = float(((x > 0.4) == (y > 0.5)).float().mean())
    assert model_acc > threshold_acc + 0.05, (model_acc, threshold_acc)


# ---------------------------------------------------------------- VAEs


VAES = {"vae_samples": 2.0, "vae_manifold": 1.0, "vae_conv": 4.0, "beta_vae_conv": 2.0,
        "vae_fc": 4.0}  # KL floor per example, nats: below it the posterior has collapsed


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(VAES))
def test_vae_keeps_its_kl_above_a_floor_and_samples_in_range(name: str) -> None:
    import torch

    t = _trained(name)
    model = t["model"]
    x, y = _test_xy(t)
    with torch.no_grad():
        out = model(x)
        mu, logvar = out.extras["mu"], out.extras["logvar"]
        kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1).mean()
        samples = model.sample(256, generator=torch.Generator().manual_seed(0))
    assert float(kl) > VAES[name], float(kl)
    assert samples.min() >= 0 and samples.max() <= 1
    assert _spread(samples) > 0.2 * _spread(y)  # draws differ: not one blob


@pytest.mark.slow
def test_samples_latent_takes_several_draws() -> None:
    spec = aespec.load(SPECS / "vae_samples.ae")
    assert spec.bottleneck[0].args.samples > 1
