"""Checks of a map op (`som`): where it sits and how it is decoded (E324), the report item
that draws it (E308), and W423, a grid with more units than training examples.

A map op is one whose OpDef has `map_units`; none of these checks names an op.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aespec import data as data_sources
from aespec.errors import DiagnosticBag, Span
from aespec.graph.checks import check
from aespec.model import Mirror, Spec
from aespec.ops import get_op

if TYPE_CHECKING:
    from aespec.graph.ir import IR


def map_nodes(g: IR) -> list[str]:
    """The nodes of the ops that spread the examples over a map of units (som)."""
    return [n for n in g.order if g.nodes[n].place == "layer"
            and get_op("layer", g.nodes[n].op).map_units is not None]


@check
def som_ends_the_bottleneck(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """E324: a som is the bottleneck's last op, its only map and stochastic latent, and is
    decoded by its mirror (the winner's prototype), with no activation after it."""
    maps = map_nodes(g)
    if not maps:
        return
    first = g.nodes[maps[0]]
    for extra in maps[1:]:
        bag.add("E324", "a model has one som; this is the second", g.nodes[extra].span,
                f"the first is at line {first.span.line}")
    if g.latent is not None:
        bag.add("E324", f"{first.op} cannot share the bottleneck with "
                f"{g.nodes[g.latent].op}: the code is the winner's grid place, not a draw",
                first.span, "leave out the stochastic latent (a som is no VAE)")
    later = [n for n in g.order if g.nodes[n].block == "bottleneck"
             and g.order.index(n) > g.order.index(maps[0]) and n not in maps]
    if later:
        after = g.nodes[later[0]]
        bag.add("E324", f"{first.op} must end the bottleneck: line {after.span.line} puts "
                f"{after.op} after it", first.span, "make the som the bottleneck's last op; "
                "the code z is the winner's (row, col)")
    _som_decoded_by_its_mirror(spec, first.op, first.span, bag)


def _som_decoded_by_its_mirror(spec: Spec, op: str, span: Span, bag: DiagnosticBag) -> None:
    decoder = spec.decoder
    if not isinstance(decoder, Mirror):
        bag.add("E324", f"{op} needs `decoder mirror`: its reconstruction is the winner's "
                "prototype, read from its codebook", spec.block_spans.get("decoder", span),
                "write `decoder mirror`")
    elif decoder.output not in (None, "identity"):
        bag.add("E324", f"decoder mirror(output={decoder.output}) puts {decoder.output} after "
                f"the {op}'s prototype, which is the reconstruction as it is, on the data's "
                "scale", decoder.span, "write `decoder mirror`")


@check
def som_maps_needs_a_som(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """E308: `som_maps` draws a som's grid."""
    if "som_maps" in spec.report.items and not map_nodes(g):
        bag.add("E308", "som_maps needs a som: it draws a self-organizing map's grid",
                spec.report_spans["som_maps"],
                "write `som(rows, cols)` at the end of the bottleneck, or leave som_maps out")


@check
def som_has_examples_for_its_units(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """W423: more units on the grid than training examples leaves units that no example
    ever wins (known where the data's size is known without reading a file)."""
    maps = map_nodes(g)
    if not maps or spec.data is None:
        return
    n = data_sources.natural_count(spec.data.source, spec.data.args)
    d = g.nodes[maps[0]]
    units = get_op("layer", d.op).map_units(d.args)  # type: ignore[misc]
    if n is not None and units > n:
        bag.add("W423", f"{d.op} has {units:,} units but data {spec.data.source} gives "
                f"{n:,} training examples: most units never win, and their prototypes are "
                "only dragged by neighbours", d.span,
                f"use a grid of fewer than {n:,} units (about 5·√n = {round(5 * n ** 0.5):,} "
                "is the usual rule)")
