"""W44x warnings: specs that check but do not do what their author meant, as a first
spec, or one written with PyTorch's habits, goes wrong (a spec with nothing to train on,
an activation after the sampled code, a VAE without its KL term, a tanh output on data in
[0, 1])."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aespec.errors import DiagnosticBag, Span
from aespec.graph.checks import check, fmt_range, line_span
from aespec.model import Spec

if TYPE_CHECKING:
    from aespec.graph.ir import IR


@check
def nothing_to_train_on(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W440: no `data` line: the spec checks, and `aespec run` stops with E506."""
    if spec.data is not None:
        return
    bag.add("W440", "the spec has no data line: it checks, but `aespec run` has nothing to "
            "train on", Span(1, 1, 1, 2), "add a data line (`data digits`, "
            "`data fashion_mnist`, `data npz(\"file.npz\")`), or run with --data SOURCE")


@check
def activation_after_sampled_code(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W441: `gaussian(8) relu`: the KL term shapes z, the decoder (and every prior draw
    that `sample` decodes) reads the activation of z."""
    if g.latent is None or g.nodes[g.latent].op != "gaussian":
        return
    after = g.order[g.order.index(g.latent) + 1:]
    act = next((n for n in after if g.nodes[n].block == "bottleneck"
                and g.nodes[n].kind == "activation"), None)
    if act is None:
        return
    d, z = g.nodes[act], g.nodes[g.latent]
    bag.add("W441", f"{d.op} after the sampled code (gaussian, line {z.span.line}): the KL "
            f"term pulls z towards N(0, I), but the decoder reads {d.op}(z), so the code "
            "the prior describes is not the one decoded", d.span,
            "end the bottleneck with gaussian(...): put activations in the encoder, "
            "before it")


@check
def vae_without_kl(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W442: `gaussian(dim, beta=0)`: no KL term, so the prior says nothing of the codes."""
    if g.latent is None or g.nodes[g.latent].op != "gaussian":
        return
    z = g.nodes[g.latent]
    if getattr(z.args, "beta", 1.0) == 0 and getattr(z.args, "iw", 1) == 1:
        bag.add("W442", "gaussian with beta=0 drops the KL term: nothing pulls the codes "
                "towards N(0, I), so draws from the prior (`aespec sample`) decode to "
                "nothing like the data; the model is an autoencoder with noisy codes",
                z.span, "use beta > 0 (1 is the VAE's ELBO; a smaller beta trades samples "
                "for sharper reconstructions), or a `dense` code if no sampling is meant")


@check
def tanh_output_on_unit_data(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W443: a decoder ending in tanh (values in [-1, 1]) on data known to lie in [0, 1]:
    half of the output's range is never a target, and a GAN's fakes are told apart by it."""
    last = g.outputs.get("decoder")
    if last is None or spec.data is None or spec.data.args.get("y") or spec.is_adversarial:
        return  # a GAN's generator: W415 says it
    d = g.nodes[last]
    lo, hi = g.nodes["input"].range
    if d.op != "tanh" or not (0 <= lo and hi <= 1):
        return
    bag.add("W443", f"the decoder ends in tanh, with values in [-1, 1], but the data lies in "
            f"{fmt_range((lo, hi))}: the outputs below 0 are never a target",
            line_span(g, last), "end it in sigmoid for data in [0, 1], or scale the data "
            "to [-1, 1] with range=(-1, 1) on the data line (DCGAN's choice)")
