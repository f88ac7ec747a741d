"""Checks of a GAN's graph: the discriminator's one score (E317), and W413-W417, DCGAN's
guidelines (Radford et al., 2016) where the graph shows them for certain."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from aespec.errors import DiagnosticBag
from aespec.graph.checks import check, fmt_range, line_span
from aespec.model import Spec

if TYPE_CHECKING:
    from aespec.graph.ir import IR

# the pools that downsample in place of a strided conv (a global pool ends a network)
_DOWNSAMPLING_POOLS = ("maxpool", "avgpool")
_CONVOLUTIONS = ("conv", "deconv")
# batchnorm is DCGAN's; layernorm counts too (a WGAN-GP critic's, where batchnorm would
# couple the examples whose gradients the penalty reads)
_NORMS = ("batchnorm", "layernorm")


@check
def discriminator_gives_one_value(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """E317: D scores each example with one number: its output must be (1,)."""
    last = g.outputs.get("discriminator")
    if last is None:
        return
    shape = g.nodes[last].output_shape()
    if shape != (1,):
        hint = "end it with `dense(1)`" if len(shape) == 1 else \
            "end it with `flatten` and `dense(1)`"
        bag.add("E317", f"the discriminator ends in {shape}, not one value per example: "
                "it scores each real or generated example with one logit", line_span(g, last),
                hint)


@check
def pooling_in_discriminator(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W413: DCGAN's discriminator downsamples with strided convolutions, not pools."""
    for n in g.order:
        d = g.nodes[n]
        if d.block == "discriminator" and d.op in _DOWNSAMPLING_POOLS:
            k = d.args.k
            bag.add("W413", f"{d.op}({k}) in the discriminator: DCGAN's guideline is strided "
                    "convolutions instead of pooling, so that it learns its own downsampling",
                    d.span, f"fold it into the conv before it: `conv(..., stride={k})`")


@check
def sigmoid_before_adversarial(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W414: the adversarial loss reads D's raw score; a sigmoid squashes it twice."""
    last = g.outputs.get("discriminator")
    if last is None or spec.adversarial is None:
        return
    d = g.nodes[last]
    lo, hi = d.range
    if d.kind == "activation" and lo >= 0 and hi <= 1:
        kind = spec.adversarial.kind
        bag.add("W414", f"the discriminator ends in {d.op}, but adversarial({kind}) reads its "
                "raw score (a logit): squashed twice, its gradients vanish once it is sure",
                d.span, "end the discriminator with `dense(1)`, no activation after it")


@check
def generator_output_fits_data(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W415: a generator output whose range does not fit the real data's: below 0 on data
    in [0, 1] (tanh), or never below 0 on data scaled to [-1, 1] (sigmoid)."""
    last, real = g.outputs.get("decoder"), g.nodes["input"].range
    if last is None or not spec.is_adversarial or g.nodes[last].kind != "activation":
        return
    d = g.nodes[last]
    if real == (0.0, 1.0) and d.range[0] < 0:
        bag.add("W415", f"the generator ends in {d.op}, with values down to {d.range[0]:g}, "
                "but the data is in [0, 1]: DCGAN's tanh output is for data scaled to "
                "[-1, 1], and here the discriminator can tell fakes by their sign",
                d.span, "end the generator with sigmoid, or scale the data with "
                "`range=(-1, 1)`")
    elif math.isfinite(real[0]) and real[0] < 0 <= d.range[0]:
        bag.add("W415", f"the generator ends in {d.op}, with values in {fmt_range(d.range)}, "
                f"but the data is scaled to {fmt_range(real)}: it never makes the negative "
                "values real examples have, and the discriminator can tell fakes by their sign",
                d.span, "end the generator with tanh, DCGAN's output for data in [-1, 1]")


@check
def unstrided_upsample_in_generator(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W416: DCGAN's generator upsamples with fractionally-strided convolutions."""
    if not spec.is_adversarial:
        return
    for n in g.order:
        d = g.nodes[n]
        if d.block == "decoder" and d.op == "upsample":
            f = d.args.factor
            bag.add("W416", f"upsample({f}) in the generator: DCGAN's guideline is "
                    "fractionally-strided convolutions instead of fixed upsampling, so that "
                    "it learns its own upsampling", d.span,
                    f"replace it and the conv after it by one `deconv(..., k={2 * f}, "
                    f"stride={f})`")


@check
def batchnorm_in_both_networks(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W417: DCGAN batch-normalises the conv layers of both networks but the generator's
    output layer and the discriminator's input layer; one warning per network with none."""
    if not spec.is_adversarial:
        return
    for block, spared in (("decoder", -1), ("discriminator", 0)):
        nodes = [n for n in g.order if g.nodes[n].block == block]
        if any(g.nodes[n].op in _NORMS for n in nodes):
            continue
        layers = [n for n in nodes if g.nodes[n].params]  # spared: the first or last
        owed = [n for n in nodes if g.nodes[n].op in _CONVOLUTIONS and n != layers[spared]]
        if owed:
            network = g.nodes[owed[0]].network
            bag.add("W417", f"the {network} has no batchnorm: DCGAN's guideline is batch "
                    "normalisation in both networks, on every layer but the generator's "
                    "output and the discriminator's input, to keep each layer's inputs "
                    "steady while the other network changes", line_span(g, owed[0]),
                    _batchnorm_hint(g, owed[0], "output" if spared else "input"))


def _batchnorm_hint(g: IR, n: str, spared: str) -> str:
    """Where batchnorm goes on a conv's line: before its activation, as in DCGAN."""
    d = g.nodes[n]
    act = next((g.nodes[m].op for m in g.order[g.order.index(n) + 1:]
                if g.nodes[m].span.line == d.span.line and g.nodes[m].kind == "activation"),
               None)
    where = f"`{d.op}(...) batchnorm {act}`" if act else f"`{d.op}(...) batchnorm`"
    return f"write {where} here, and on the other conv layers but the {spared} layer"
