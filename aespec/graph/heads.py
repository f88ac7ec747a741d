"""Checks of a supervised head (`head on NAME { ... }` and `loss ... + xent`): a term and a
head that go together (E334, W430), layers that end in one logit per class (E336, W431),
data with class labels (E337), a model the head can join (E338), and `report { probe }` on
data with labels (W432)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aespec import data as data_sources
from aespec.errors import DiagnosticBag
from aespec.graph.checks import check, line_span
from aespec.model import Spec

if TYPE_CHECKING:
    from aespec.graph.ir import IR

LABELLED = ("use data with class labels: digits, mnist, fashion_mnist, npz(..., labels=KEY), "
            "csv(..., label=NAME), or an images folder of class sub-folders")


def data_classes(spec: Spec) -> int | None:
    """The number of classes the spec's data names, where the source knows it."""
    data = spec.data
    entry = None if data is None else data_sources.REGISTRY.get(data.source)
    names = None if entry is None else entry.class_names
    return None if names is None else len(names)


def unlabelled(spec: Spec) -> str | None:
    """Why the spec's data gives no class labels; None where it may (a file source is
    checked again when loaded)."""
    data = spec.data
    if data is None:
        return None
    entry = data_sources.REGISTRY.get(data.source)
    if entry is None:
        return None  # an unknown source is an error of its own
    args: dict[str, Any] = data.args
    if args.get("normal") is not None:
        return "with normal= its test labels mark anomalies, not classes"
    if args.get("y") is not None:
        return "y= gives the data targets, not class labels"
    if entry.labels == "never":
        return f"data {data.source} has none"
    key = getattr(entry.args, "labels_arg", "labels")
    if entry.labels == "named" and args.get(key) is None:
        return f"{data.source} names no labels: add {key}=\"...\""
    return None


@check
def xent_has_a_head(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """E334: `xent` reads a head's logits; W430: a head no term trains, at the top level or
    in any phase (a phase's own E334 is its own graph's, aespec/graph/frontend.py)."""
    if spec.xent is not None and spec.head is None:
        bag.add("E334", "loss term xent needs a head: it is the cross-entropy of a head's "
                "logits on the data's labels", spec.xent.span,
                "add `head on code { dense(10) }` (one output per class)")
    trained = spec.xent is not None or any(p.xent is not None for p in spec.phases)
    if spec.head is not None and not trained and not spec.is_adversarial:
        bag.add("W430", "the head is trained by no loss term: its weights stay random and "
                "its accuracy is chance", spec.head.span,
                "add `+ xent` (or `+ 0.1 * xent`) to the loss line, or to a phase's")


@check
def head_has_a_model(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """E338: a head joins a plain autoencoder (any latent); not a GAN, an adversarial
    autoencoder, a VAE-GAN or a conditional spec, which train in their own loops."""
    head = spec.head
    if head is None:
        return
    kind = ("a GAN" if spec.is_adversarial else "an adversarial autoencoder" if spec.is_aae
            else "a VAE-GAN" if spec.is_vae_gan else
            "a conditional spec" if spec.condition is not None else None)
    if kind is not None:
        bag.add("E338", f"{kind} takes no head yet: a head trains with an autoencoder's "
                "objective, in its training loop", head.span,
                "remove the head; `report { probe }` scores any model's codes")
    elif not head.layers:
        bag.add("E338", "the head has no layers: it needs at least the layer that gives one "
                "logit per class", head.span, "write `head on code { dense(10) }`")


@check
def head_ends_in_classes(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """E336: the head's output is (classes,): one logit per class of the data's labels."""
    last = g.outputs.get("head")
    if spec.head is None or last is None or not spec.head.layers:
        return
    shape = g.nodes[last].output_shape()
    classes = data_classes(spec)
    want = f"({classes},)" if classes else "(classes,)"
    if len(shape) != 1:
        bag.add("E336", f"the head ends in {shape}, not one logit per class {want}",
                line_span(g, last), "end it with `flatten` and `dense(classes)`")
    elif classes is not None and shape[0] != classes:
        bag.add("E336", f"the head ends in {shape}, but {spec.data.source if spec.data else ''}"
                f" has {classes} classes: one logit per class is {want}", line_span(g, last),
                f"end it with `dense({classes})`")
    elif shape[0] < 2:
        bag.add("E336", f"the head ends in {shape}: a classifier needs one logit per class, "
                "two or more", line_span(g, last), "end it with `dense(classes)`")


@check
def head_reads_logits(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W431: xent reads the head's raw scores (logits) and applies log-softmax itself."""
    last = g.outputs.get("head")
    if spec.head is None or last is None or not spec.head.layers:
        return
    d = g.nodes[last]
    lo, hi = d.range
    if d.kind == "activation" and lo >= 0 and hi <= 1:
        bag.add("W431", f"the head ends in {d.op}, but xent reads logits and takes the "
                "softmax itself: squashed twice, its gradients vanish", d.span,
                "end the head with `dense(classes)`, no activation after it")


@check
def head_data_has_labels(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """E337: a head learns the data's class labels, so the data must have them."""
    if spec.head is None:
        return
    why = unlabelled(spec)
    if why is not None:
        bag.add("E337", f"the head learns the data's class labels, but {why}", spec.head.span,
                LABELLED)


@check
def probe_data_has_labels(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W432: a linear probe scores codes by the labels they predict: none, no probe."""
    span = spec.report_spans.get("probe")
    if span is None:
        return
    why = unlabelled(spec)
    if why is not None:
        bag.add("W432", f"probe fits a classifier of the data's labels on the codes, but "
                f"{why}: the report will skip it", span, LABELLED)
