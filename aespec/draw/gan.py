"""A GAN's drawing: z and the generator (the decoder), the real input x, the generated
samples G(z) into the discriminator along a dashed edge, and the game both play.

`aespec.draw.dot` lays it out and writes it; this module adds the boxes and edges (the
same boxes and labels as an autoencoder's, from `aespec.draw.labels`), where the
autoencoder's U-shaped flow does not apply: both networks run top to bottom.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aespec.draw.condition import add_condition
from aespec.draw.labels import (
    Box,
    Html,
    block_label,
    fmt_shape,
    input_label,
    op_box_label,
    style_key,
)
from aespec.ops.adversarial import ADVERSARIAL
from aespec.ops.styles import BLOCKS, EDGES, STYLES, style_for

if TYPE_CHECKING:
    from aespec.graph.ir import IR
    from aespec.model import Spec


def add_gan(dot: Any, g: IR, spec: Spec, boxes: list[Box], detail: str) -> None:
    """The boxes, the data flow and the game of a GAN's graph, into `dot` (a `_Dot`)."""
    owner = {n: b.id for b in boxes for n in b.members}
    for box in boxes:
        if box.block == "input":
            dot.node(box.id, "", {"label": input_label(g, spec), **STYLES["input"]})
        elif box.block == "latent":
            dot.node(box.id, "", {"label": _noise_label(g), **STYLES["latent"]})
        elif detail == "blocks":
            dot.node(box.id, "", {"label": block_label(g, box, spec), "shape": "box",
                                  **BLOCKS[box.block]})
        else:
            dot.node(box.id, box.block, {"label": op_box_label(g, box),
                                         **style_for(style_key(g.nodes[box.id]))})
    add_condition(dot, g, owner)
    for v in g.order:
        for u in g.predecessors(v):
            if u != "y" and owner[u] != owner[v]:
                dot.edge(owner[u], owner[v], _flow(g, u, v))
    _add_game(dot, g, owner)


def _flow(g: IR, u: str, v: str) -> dict[str, str]:
    e = g.edges[u, v]
    if e.fake:  # the generated samples, judged beside the real ones
        return {"label": f"G(z)  {fmt_shape(e.shape)}", **EDGES["fake"]}
    name = {"input": "x  ", "z": "z  "}.get(u, "")
    return {"label": name + fmt_shape(e.shape), **EDGES["data"]}


def _add_game(dot: Any, g: IR, owner: dict[str, str]) -> None:
    game = ADVERSARIAL[g.nodes["adversarial"].args.kind]
    add_game_node(dot, g, owner, [f"D: min E[{game.discriminator}]",
                                  f"G: min E[{game.generator}]"], "D(x), D(G(z))")


def add_game_node(dot: Any, g: IR, owner: dict[str, str], objectives: list[str],
                  scores: str) -> None:
    """The node `adversarial` after D's score (a GAN's, an adversarial autoencoder's, a
    VAE-GAN's): the game's name over its two `objectives`; the edge into it says which
    `scores` D gives."""
    game = ADVERSARIAL[g.nodes["adversarial"].args.kind]
    label = Html("<BR/>".join([f"<B>adversarial</B> ({game.name})", *objectives]))
    dot.node("adversarial", "", {"label": label, **STYLES["loss"]})
    score = g.outputs.get("discriminator")
    if score is not None:
        shape = fmt_shape(g.nodes[score].out_shape)
        dot.edge(owner[score], "adversarial", {"label": f"{scores}  {shape}",
                                                **EDGES["loss"]})


def _noise_label(g: IR) -> Html:
    return Html(f"<B>z</B> ~ N(0, I) · {fmt_shape(g.nodes['z'].out_shape)}")
