"""A conditional spec's labels y in the drawing: one box, an edge into each box that
joins them (an autoencoder's and a GAN's drawing alike)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aespec.draw.labels import Html, fmt_shape
from aespec.ops.styles import EDGES, STYLES

if TYPE_CHECKING:
    from aespec.graph.ir import IR


def add_condition(dot: Any, g: IR, owner: dict[str, str]) -> None:
    """The node `y` (one-hot labels) and its edges, into `dot`; nothing without one."""
    if "y" not in g.nodes:
        return
    shape = fmt_shape(g.nodes["y"].out_shape)
    dot.node("y", "", {"label": Html(f"<B>y</B> = one-hot labels · {shape}"),
                       **STYLES["input"]})
    for box in dict.fromkeys(owner[v] for v in g.successors("y")):
        dot.edge("y", box, {"label": f"y  {shape}", **EDGES["skip"]})
