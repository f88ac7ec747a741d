"""Checks of a conditional spec (`condition labels(N)`): data that has N classes of labels
(E318), what the labels cannot reach yet (E319), and a condition that some network reads
(W420)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aespec import data as data_sources
from aespec.errors import DiagnosticBag
from aespec.graph.checks import check
from aespec.model import Spec

if TYPE_CHECKING:
    from aespec.graph.ir import IR


@check
def condition_has_labels(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """E318: the data must give class labels 0 .. N-1 (what the check can know of it:
    the rest is checked when the data is loaded)."""
    cond, data = spec.condition, spec.data
    if cond is None or data is None:
        return
    why = _unlabelled(data.source, data.args, cond.classes)
    if why is not None:
        bag.add("E318", f"condition labels({cond.classes}) needs the data's class labels, "
                f"but {why}", cond.span, "use data with labels: digits, mnist, "
                "fashion_mnist, npz(..., labels=KEY), csv(..., label=NAME), or an images "
                "folder of class sub-folders")


def _unlabelled(source: str, args: dict[str, Any], classes: int) -> str | None:
    """Why `source(args)` cannot condition on `classes` classes; None where it may."""
    entry = data_sources.REGISTRY.get(source)
    if entry is None:
        return None  # an unknown source is E5xx of its own
    if args.get("normal") is not None:
        return "with normal= its test labels mark anomalies, not classes"
    if args.get("y") is not None:
        return "y= gives a target, and a conditional spec's targets are its labels"
    if entry.labels == "never":
        return f"data {source} has none"
    if entry.labels == "named" and args.get(getattr(entry.args, "labels_arg", "labels")) \
            is None:
        key = getattr(entry.args, "labels_arg", "labels")
        return f"{source} names no labels: add {key}=\"...\""
    names = entry.class_names
    if entry.labels == "always" and names is not None and len(names) != classes:
        return f"{source} has {len(names)} classes"
    return None


@check
def condition_is_read(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W420: a condition that no layer joins changes nothing."""
    if spec.condition is None or "y" not in g.nodes or g.successors("y"):
        return
    bag.add("W420", f"condition labels({spec.condition.classes}) is joined nowhere, so no "
            "network reads the labels", spec.condition.span,
            "join it where the labels should enter: `concat(y)` in the decoder (and in the "
            "discriminator or encoder)")


# what a conditional spec cannot have yet, and why
_NOT_CONDITIONAL = {
    "pretrain": "layer-wise pretraining trains the encoder's layers alone, without the labels",
    "anomaly": "anomaly scores read each example's reconstruction error, and the report "
               "does not give a conditional model each example's label there yet",
}


@check
def condition_reaches_everything(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """E319: the parts of a run the labels do not reach yet."""
    if spec.condition is None:
        return
    spans = {"pretrain": spec.train_spans.get("pretrain"),
             "anomaly": spec.report_spans.get("anomaly")}
    for key, why in _NOT_CONDITIONAL.items():
        if spans[key] is not None:
            bag.add("E319", f"a conditional spec has no {key} yet: {why}", spans[key],
                    f"remove {key}, or the condition")
