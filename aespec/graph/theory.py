"""W4xx warnings: designs that run but that autoencoder theory says will disappoint."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from aespec.errors import DiagnosticBag
from aespec.graph import memory
from aespec.graph.checks import check, fmt_range
from aespec.graph.ir import shortest_path
from aespec.model import Mirror, Spec
from aespec.ops import get_op
from aespec.ops.optimizers import OPTIMIZERS

if TYPE_CHECKING:
    from aespec.graph.ir import IR


@check
def identity_risk(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W401: a code as wide as the input, unconstrained, can copy the input through (not
    with a separate target, y=: there is no identity to learn)."""
    z = g.z
    if z is None or spec.is_adversarial or math.prod(z) < math.prod(spec.input.shape) or (
            spec.data is not None and spec.data.args.get("y")):
        return
    constrained = any(get_op("layer", g.nodes[n].op).regularizes
                      for n in g.order if g.nodes[n].place == "layer")
    if spec.regularizers or spec.noise or g.latent or constrained:
        return
    bag.add("W401", f"the code z {z} has {math.prod(z)} values, at least as many as the input "
            f"{spec.input.shape}, with no regularizer and no noise: it can learn the identity",
            spec.block_spans.get("bottleneck"),
            "narrow the bottleneck, add `noise ...`, or add a sparsity or contractive "
            "regularizer")


@check
def skip_bypasses_bottleneck(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W402: a decoder join that reads the encoder lets information skip the code."""
    for n in g.order:
        d = g.nodes[n]
        if d.block == "decoder" and d.join and g.nodes[d.join].block in (
                "input", "noise", "encoder"):
            bag.add("W402", f"{d.op}({d.args.name}) carries encoder features past the "
                    "bottleneck: the code z alone does not determine the output", d.span,
                    "fine for U-Net style denoising or segmentation; not for a compressed code "
                    "or generation")


@check
def gaussian_with_mean_reduction(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W403: the KL term is summed over z; averaging the reconstruction shrinks it by D."""
    if g.latent is None:
        return
    for term in spec.loss:
        if getattr(term.call.args, "reduce", None) == "mean":
            bag.add("W403", f"{term.call.op}(reduce=mean) with a gaussian latent: the KL term "
                    "(summed over z) will dominate a reconstruction averaged over "
                    f"{math.prod(spec.input.shape)} values, and samples come out blurry",
                    term.call.span, "use reduce=sum (the ELBO), or lower beta")


@check
def l2_and_weight_decay(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W404: l2 plus optimizer weight decay penalizes the weights twice."""
    decay = getattr(spec.train.optimizer.args, "weight_decay", 0.0)
    l2 = [r for r in spec.regularizers
          if get_op("regularizer", r.call.op).is_weight_decay]
    if decay and l2:
        bag.add("W404", f"regularize {l2[0].call.op} and optimizer weight_decay={decay:g} both "
                "shrink the weights: the penalty is counted twice", l2[0].call.span,
                "keep one: drop the l2 line or set weight_decay=0")


@check
def contractive_cost(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W405: the exact Jacobian needs one backward pass per code unit through every layer."""
    for d in g.nodes.values():
        if d.kind != "regularizer" or not d.targets or not get_op(
                "regularizer", d.op).jacobian:
            continue
        target = d.targets[0]
        path = shortest_path(g, "input", target)
        layers = [m for m in path if g.nodes[m].kind in ("layer", "latent")
                  and g.nodes[m].params]
        if len(layers) > 1:
            units = math.prod(g.nodes[target].output_shape())
            bag.add("W405", f"{d.op} over {len(layers)} layers: the exact ‖∂h/∂x‖² costs "
                    f"{units} backward passes per step through all of them", d.span,
                    "apply it to a shallow target (one dense layer), or accept slower training")


@check
def tied_without_dense(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W406: tied=true only ties dense layers."""
    if isinstance(spec.decoder, Mirror) and spec.decoder.tied and not any(
            g.nodes[n].tied_to for n in g.order):
        bag.add("W406", "mirror(tied=true) has no dense layer to tie: nothing is shared",
                spec.decoder.span, "tied weights apply to dense layers only")


@check
def early_stop_without_validation(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W407: early stopping watches validation loss, which split 1 leaves empty."""
    if spec.train.early_stop and spec.train.split >= 1.0:
        bag.add("W407", "early_stop watches the validation loss, but split 1.0 leaves no "
                "validation data", spec.train_spans.get("early_stop"),
                "use split 0.9 or drop early_stop")


@check
def sparse_target_not_sparse(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W408: kl_sparsity with rho >= 0.5 does not ask for sparsity."""
    for r in spec.regularizers:
        field = get_op("regularizer", r.call.op).sparsity_target
        rho = getattr(r.call.args, field) if field else None
        if rho is not None and rho >= 0.5:
            bag.add("W408", f"{r.call.op}({field}={rho:g}) asks units to be active "
                    "half the time or more: that is not sparse", r.call.span,
                    "sparse codes use a small rho, such as 0.05")


@check
def prior_match_on_a_bounded_target(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W421: mmd pulls its target to N(0, I), which no bounded tensor (sigmoid, relu) can
    match: the penalty then fights the activation, and decoded draws of N(0, I) fall where
    no code ever lies."""
    for d in g.nodes.values():
        if d.kind != "regularizer" or not d.targets or not get_op(
                "regularizer", d.op).matches_prior:
            continue
        src = g.nodes[d.targets[0]]
        lo, hi = src.range
        if math.isfinite(lo) or math.isfinite(hi):
            bag.add("W421", f"{d.op} pulls its target to N(0, I), but the target ends in "
                    f"{src.op} (line {src.span.line}), whose values lie in "
                    f"{fmt_range((lo, hi))}: it cannot match a Gaussian", d.span,
                    "end the code with a linear layer (dense(d) with no activation)")


@check
def no_reconstruction(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W412: `loss 0 * mse` leaves nothing asking the output to match the input (a GAN's
    loss has no reconstruction terms: its generator has no input)."""
    if not spec.is_adversarial and all(term.weight == 0 for term in spec.loss):
        shown = " + ".join(f"{term.weight:g} * {term.call.op}" for term in spec.loss)
        bag.add("W412", f"loss {shown}: every reconstruction term weighs 0, so nothing asks "
                "the output to match its target and the model will not learn to reconstruct",
                spec.loss_span, "give a term a weight above 0, such as `loss mse`")


@check
def learning_rate_out_of_range(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W409: adam(lr=1e6) trains on a stuck loss without diverging: say so before (a GAN's
    discriminator's optimizer too)."""
    for key in ("optimizer", "discriminator_optimizer"):
        opt = getattr(spec.train, key)
        if opt is None:
            continue
        limit = OPTIMIZERS[opt.name].max_lr  # above it the first steps throw the weights away
        lr = getattr(opt.args, "lr", None)
        if limit is not None and lr is not None and lr > limit:
            bag.add("W409", f"{opt.name}(lr={lr:g}) is far above the learning rates it trains "
                    f"with (at most {limit:g}): the loss will stick or blow up",
                    spec.train_spans.get(key), "use lr=1e-3 (adam's default) or near it")


@check
def large_training_step(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W410: a step that needs more memory than most machines have (dense(10**9))."""
    if "decoder" not in g.outputs:
        return
    m = memory.estimate(spec, g)
    if m.total > memory.LARGE:
        node = g.nodes[m.largest] if m.largest else None
        bag.add("W410", f"one training step needs at least {memory.describe(m)}; the largest "
                f"part is {memory.largest_text(m, g)}",
                node.span if node else spec.block_spans.get("encoder"),
                "use fewer units or channels, a smaller input or `batch`; `aespec run` "
                "refuses a model the device cannot hold")


def _rbms(g: IR) -> list[str]:
    return [n for n in g.order if g.nodes[n].place == "layer"
            and get_op("layer", g.nodes[n].op).generative]


@check
def rbm_visible_units_fit_the_data(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W422: Bernoulli visible units (and CD's Bernoulli Gibbs samples) on data that is
    not known to lie in [0, 1]; W419: unit-variance Gaussian units on data in [0, 1]."""
    if spec.data is None:
        return
    lo, hi = g.nodes["input"].range
    for n in _rbms(g):
        d = g.nodes[n]
        if d.args.visible == "bernoulli" and (lo < 0 or hi > 1):
            bag.add("W422", f"rbm with Bernoulli visible units on data with values in "
                    f"{fmt_range((lo, hi))}: its units and its Gibbs samples (the negative "
                    "phase of CD) are 0 or 1, so p(v|h) cannot reach the data", d.span,
                    "scale the data to [0, 1], or use visible=gaussian on standardized data")
        elif d.args.visible == "gaussian" and lo >= 0 and hi <= 1:
            bag.add("W419", "rbm with unit-variance Gaussian visible units on data in "
                    f"{fmt_range((lo, hi))}: each Gibbs step adds noise of standard deviation "
                    "1, wider than the data, so the chains and the samples are mostly noise",
                    d.span, "use visible=bernoulli for data in [0, 1], or standardize the data "
                    "to mean 0 and variance 1 for visible=gaussian")
