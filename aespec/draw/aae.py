"""An adversarial autoencoder's drawing: the autoencoder's U as `aespec.draw.dot` lays it
out, plus its discriminator's inputs and game: the code z along a dashed edge (the
"fake" it judges), draws of the prior N(0, I) (the "real"), and the adversarial node
with both networks' objectives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aespec.draw.gan import add_game_node
from aespec.draw.labels import Html, fmt_shape
from aespec.ops.adversarial import ADVERSARIAL
from aespec.ops.registry import fmt_num
from aespec.ops.styles import EDGES, STYLES

if TYPE_CHECKING:
    from aespec.graph.ir import IR


def code_edge(shape: Any) -> dict[str, str]:
    """The code's edge into the discriminator: what it learns to call fake."""
    return {"label": f"z  {fmt_shape(shape)}  (fake)", **EDGES["fake"]}


def add_code_game(dot: Any, g: IR, owner: dict[str, str]) -> None:
    """The prior's node into the discriminator's first box, and the game after its score."""
    first = next((n for n in g.order if g.nodes[n].block == "discriminator"), None)
    code = g.outputs.get("bottleneck")
    if first is None or code is None or "adversarial" not in g.nodes:
        return
    shape = fmt_shape(g.nodes[code].out_shape)
    dot.node("prior", "", {"label": Html(f"<B>prior</B> z ~ N(0, I) · {shape}"),
                           **STYLES["latent"]})
    dot.edge("prior", owner[first], {"label": f"z  {shape}  (real)", **EDGES["data"]})
    node = g.nodes["adversarial"]
    game = ADVERSARIAL[node.args.kind]
    weight = "" if node.weight == 1 else f"{fmt_num(node.weight)}·"
    add_game_node(dot, g, owner, [
        f"D: min E[{_of_codes(game.discriminator, real='D(z~N(0, I))')}]",
        f"encoder: min {weight}E[{_of_codes(game.generator)}]"], "D(prior), D(z)")


def _of_codes(formula: str, real: str = "D(x)") -> str:
    """A GAN's formula over the code: G(z), the generated example, is the code z."""
    return formula.replace("D(x)", real).replace("G(z)", "z")
