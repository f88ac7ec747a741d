"""Checks over the graph IR: errors that need shapes or ranges, and W4xx warnings drawn
from autoencoder theory.  Each check is a small function registered in CHECKS."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from aespec import data as data_sources
from aespec.errors import Diagnostic, DiagnosticBag, Span, did_you_mean
from aespec.model import BLOCKS, Mirror, Spec
from aespec.ops import Range, Shape, fmt_value, get_op, op_text
from aespec.ops.shapes import fits_inside

if TYPE_CHECKING:
    from aespec.graph.ir import IR

Check = Callable[[Spec, "IR", DiagnosticBag], None]
CHECKS: list[Check] = []


def check(fn: Check) -> Check:
    CHECKS.append(fn)
    return fn


def run_checks(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    for fn in CHECKS:
        fn(spec, g, bag)


def line_span(g: IR, node: str) -> Span:
    """The span of every op on the node's line in its block: `conv(1, k=3) sigmoid`."""
    d = g.nodes[node]
    spans = [g.nodes[n].span for n in g.order
             if g.nodes[n].block == d.block and g.nodes[n].span.line == d.span.line]
    out = spans[0]
    for s in spans[1:]:
        out = out.join(s)
    return out


def fmt_range(r: Range) -> str:
    return f"[{r[0]:g}, {r[1]:g}]".replace("inf", "∞")


# ---------------------------------------------------------------- errors


@check
def decoder_output_matches_input(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    last = g.outputs.get("decoder")
    if last is None or (spec.data and spec.data.args.get("y")):
        return  # a separate target's shape is only known when the data is read
    out, want = g.nodes[last].output_shape(), spec.input.shape
    if out != want:
        span = spec.decoder.span if isinstance(spec.decoder, Mirror) else line_span(g, last)
        what = "the generator's (decoder's) output" if spec.is_adversarial else "decoder output"
        bag.add("E301", f"{what} {out} does not match input {want}", span,
                _output_hint(g, out, want))


def _output_hint(g: IR, out: Shape, want: Shape) -> str | None:
    if len(out) != len(want):
        return f"end the decoder with reshape{want}" if math.prod(out) == math.prod(want) \
            else f"the decoder must end with {math.prod(want)} values shaped {want}"
    if len(want) == 1:  # a vector: its one size is a layer's units
        return f"the last layer should have {want[0]} units: `dense({want[0]})`"
    if out[0] != want[0]:
        return f"the last layer should have {want[0]} channels"
    if fits_inside(want[1:], out[1:]):
        return f"end the decoder with crop{fmt_value(want[1:])}, a center crop"
    valid = [n for n in g.order if getattr(g.nodes[n].args, "pad", None) == "valid"]
    if valid:
        return (f"pad=valid at line {g.nodes[valid[0]].span.line} shrinks the size; "
                "use pad=same, or add a crop")
    lossy = _lossy_downsample(g)
    if lossy is not None:
        d = g.nodes[lossy]
        size, left = d.input_shape()[1:], d.output_shape()[1:]
        what = op_text(get_op("layer", d.op), d.args)
        return (f"{what} at line {d.span.line} takes {_size(size)} to {_size(left)}, "
                "dropping what does not divide, so no upsampling gets back to "
                f"{_size(want[1:])}: use input sizes that divide by every stride and "
                "pool, or fewer of them")
    if want[1] > out[1] and want[1] % out[1] == 0:  # integers: sizes may be huge
        return f"upsample by {want[1] // out[1]} more (upsample or deconv stride)"
    return ("the decoder's sizes do not add up to the input's: the table of "
            "`aespec check` shows each op's output")


def _lossy_downsample(g: IR) -> str | None:
    """The first op that shrinks an image or sequence by a factor its size does not divide
    by (a third maxpool(2) on 7x7 gives 3x3): the size the mirror cannot restore."""
    for n in g.order:
        d = g.nodes[n]
        if d.place != "layer" or d.block not in ("encoder", "bottleneck") \
                or d.in_shape is None or d.out_shape is None:
            continue
        before, after = d.input_shape(), d.output_shape()
        if len(before) < 2 or len(after) != len(before):
            continue
        if any(b > a > 0 and b % a for b, a in zip(before[1:], after[1:], strict=True)):
            return n
    return None


def _size(dims: Shape) -> str:
    return "x".join(map(str, dims))


@check
def rbm_reads_the_input(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """E323: an energy model (rbm) is the whole of encoder and bottleneck, decoded by its
    mirror (its own p(v|h))."""
    for n in g.order:
        d = g.nodes[n]
        if d.place != "layer" or not get_op("layer", d.op).generative:
            continue
        others = [m for m in g.order if m != n and g.nodes[m].block in ("encoder", "bottleneck")]
        if others:
            bag.add("E323", f"rbm must read the input: line {g.nodes[others[0]].span.line} "
                    f"puts {g.nodes[others[0]].op} beside it", d.span, "leave the encoder "
                    "block empty and the rbm alone in the bottleneck")
        elif not isinstance(spec.decoder, Mirror):
            bag.add("E323", "rbm needs `decoder mirror`: its reconstruction is its own p(v|h) "
                    "with the same weights", spec.block_spans.get("decoder", d.span),
                    "write `decoder mirror`")


@check
def bce_needs_unit_output(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    last = g.outputs.get("decoder")
    if last is None:
        return
    lo, hi = g.nodes[last].range
    som = next((d.op for d in g.nodes.values() if d.place == "layer"
                and get_op("layer", d.op).map_units), None)
    for term in spec.loss:
        if get_op("loss", term.call.op).needs_unit_output and (lo < 0 or hi > 1) and som:
            bag.add("E306", f"{term.call.op} needs a decoder output in [0, 1], but a {som}'s "
                    "reconstruction is its winner's prototype as it is, which may leave "
                    "[0, 1]; a sigmoid after it would distort it", term.call.span,
                    f"use mse (a {som} trains by its own term: the loss line measures)")
        elif get_op("loss", term.call.op).needs_unit_output and (lo < 0 or hi > 1):
            where = g.nodes[last]
            bag.add("E306", f"{term.call.op} needs a decoder output in [0, 1], but the decoder "
                    f"ends in {where.op} (line {where.span.line}) with values in "
                    f"{fmt_range((lo, hi))}", term.call.span,
                    "end the decoder with sigmoid, or use mse")


@check
def bce_needs_unit_data(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """E320: bce compares with targets in [0, 1]; `range=(-1, 1)` scales the data wider
    (load_data refuses it too, as E503, for a caller that skips the check)."""
    lo, hi = g.nodes["input"].range
    if not (math.isfinite(lo) and math.isfinite(hi)) or (lo >= 0 and hi <= 1):
        return  # unknown until the data is read (then E503), or in [0, 1]
    for term in spec.loss:
        if get_op("loss", term.call.op).needs_unit_output:
            bag.add("E320", f"{term.call.op} needs the data in [0, 1], but the data line's "
                    f"range=({lo:g}, {hi:g}) scales it to {fmt_range((lo, hi))}",
                    term.call.span, "use mse, or leave out range= for data in [0, 1]")


@check
def regularizer_targets_exist(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    labels = g.labels
    for reg in spec.regularizers:
        if reg.target and reg.target not in BLOCKS and reg.target not in labels:
            bag.add("E213", f"regularize {reg.call.op} on '{reg.target}': no block or tensor "
                    "has that name", reg.target_span,
                    did_you_mean(reg.target, [*BLOCKS, *labels]) or
                    "targets: encoder, bottleneck, decoder, or a name from `NAME = ...`")


@check
def kl_sparsity_needs_unit_interval(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    for d in g.nodes.values():
        if d.kind != "regularizer" or not get_op("regularizer",
                                                            d.op).needs_unit_interval:
            continue
        for t in d.targets:
            lo, hi = g.nodes[t].range
            if lo < 0 or hi > 1:
                src = g.nodes[t]
                bag.add("E307", f"{d.op} needs outputs in (0, 1), but its target ends in "
                        f"{src.op} (line {src.span.line}) with values in "
                        f"{fmt_range((lo, hi))}", d.span,
                        "end the target with sigmoid, or use activity_l1")


@check
def report_needs_latent(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    items = spec.report.items
    if spec.is_adversarial:  # a GAN's generator samples z ~ N(0, I) by its nature
        return
    no_prior = _no_prior(g)
    gibbs = any(get_op("layer", g.nodes[n].op).generative for n in g.order
                if g.nodes[n].place == "layer")
    if "samples" in items and g.prior is None and not gibbs:
        bag.add("E308", f"samples needs a prior: {no_prior}" if no_prior else
                "samples needs a stochastic latent or an rbm: draws from the prior need "
                "`gaussian(dim)` or `rbm(hidden)` in the bottleneck, or a code matched to "
                "N(0, I) by `regularize mmd(weight)`", spec.report_spans["samples"],
                "use reconstructions, make the bottleneck gaussian(dim), or add "
                "`regularize mmd(10)` (a Wasserstein autoencoder)")
    if "sample_quality" in items and g.prior is None and not gibbs:
        bag.add("E308", f"sample_quality needs a prior: {no_prior}" if no_prior else
                "sample_quality needs a stochastic latent or an rbm: it measures draws "
                "from the model, which need `gaussian(dim)` or `rbm(hidden)` in the "
                "bottleneck or `regularize mmd(weight)` on the code",
                spec.report_spans["sample_quality"],
                "make the bottleneck gaussian(dim), or add `regularize mmd(10)`")
    z = g.z
    if "manifold" in items and z is not None and math.prod(z) != 2:
        bag.add("E308", f"manifold needs a 2-D latent, but z is {z}",
                spec.report_spans["manifold"], "use a bottleneck of 2 units, or latent_scatter")


def _no_prior(g: IR) -> str | None:
    """Why the codes of a bottleneck op cannot be drawn (vq: no prior over them), or None."""
    reasons = (get_op("layer", d.op).no_prior for d in g.nodes.values() if d.place == "layer")
    return next((r for r in reasons if r), None)


@check
def sample_quality_has_a_classifier(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """`sample_quality` needs a built-in data set with class labels (its classifier's)."""
    data = spec.data
    if "sample_quality" not in spec.report.items or data is None:
        return  # data given at run time is checked by the report item itself
    labelled = [n for n, e in data_sources.REGISTRY.items() if e.classifier]
    if data.source not in labelled or data.args.get("normal") is not None:
        why = "normal= makes its labels anomaly marks" if data.source in labelled else \
            f"aespec has none for data {data.source}"
        bag.add("E315", f"sample_quality needs a reference classifier: {why}",
                spec.report_spans["sample_quality"],
                f"use data {', '.join(labelled)}, or leave sample_quality out")


@check
def filters_layer_exists(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """`filters(layer=NAME)`: NAME labels a line that holds a layer with parameters."""
    args = spec.report.items.get("filters")
    name = getattr(args, "layer", None)
    labels = g.labels
    if name is None or (name not in labels and g.stopped_by):
        return  # shapes stopped short: a later line's label is not known yet
    span = spec.report_spans["filters"]
    if name not in labels:
        bag.add("E308", f"filters(layer={name}): no tensor is named '{name}'", span,
                did_you_mean(name, labels) or (
                    f"tensors: {', '.join(labels)}" if labels else
                    "name a layer's output with `NAME = ...`, or leave layer out (the "
                    "first layer)"))
    elif not weighted_nodes(g, labels[name]):
        line = g.nodes[labels[name]].span.line
        bag.add("E308", f"filters(layer={name}): the line of '{name}' (line {line}) holds no "
                "layer with weights", span, "name the output of a dense or conv line")


def weighted_nodes(g: IR, labelled: str) -> list[str]:
    """The nodes with parameters on a labelled node's line, up to it: the last of them is
    the parametric layer whose output carries the label (`e1 = conv(4) relu`: the conv)."""
    d = g.nodes[labelled]
    order = g.order
    return [n for n in order[:order.index(labelled) + 1] if g.nodes[n].block == d.block
            and g.nodes[n].span.line == d.span.line and g.nodes[n].params]


@check
def data_matches_input(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    if spec.data is None:
        return
    shape = data_sources.natural_shape(spec.data.source, spec.data.args)
    if shape and math.prod(shape) != math.prod(spec.input.shape):
        bag.add("E309", f"data {spec.data.source} gives examples of shape {shape} "
                f"({math.prod(shape)} values), but input is {spec.input.shape} "
                f"({math.prod(spec.input.shape)} values)", spec.data.span,
                f"use `input image{shape}` or `input vector({math.prod(shape)})`")


@check
def one_stochastic_latent(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    latents = g.of_kind("latent")
    for extra in latents[1:]:
        bag.add("E310", "a model has one stochastic latent; this is the second",
                g.nodes[extra].span, f"the first is at line "
                f"{g.nodes[latents[0]].span.line}")


@check
def importance_weighted_bound_reads_a_likelihood(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """E321: `iw=K` weighs draws by p(x|z), so the loss must read as -log p(x|z); E322:
    beta weighs a closed-form KL that the bound does not have."""
    from aespec.graph.likelihood import likelihood_of

    latent = g.nodes[g.latent] if g.latent else None
    if latent is None or latent.args.iw == 1 or "decoder" not in g.outputs:
        return
    k = latent.args.iw
    if latent.args.beta != 1:
        bag.add("E322", f"iw={k} trains on the importance-weighted bound, which has no KL "
                f"term for beta={fmt_value(latent.args.beta)} to weigh", latent.span,
                "leave beta out (1.0), or train the ELBO (iw=1) as a beta-VAE")
    read = likelihood_of(g)
    if isinstance(read, Diagnostic):
        bag.add(read.code, f"iw={k} weighs its draws by p(x|z): {read.message}",
                read.span or latent.span, read.hint)
