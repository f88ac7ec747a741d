"""A VAE-GAN's drawing: the autoencoder's U, with the discriminator beside it reading the
input x and, along a dashed edge, the decoder's fakes x̃ (its reconstructions and its
decoded draws of the prior); the game both play under D's score."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aespec.draw.gan import add_game_node
from aespec.draw.labels import fmt_shape
from aespec.ops.adversarial import ADVERSARIAL
from aespec.ops.styles import EDGES

if TYPE_CHECKING:
    from aespec.graph.ir import IR


def fake_flow(shape: tuple[int, ...]) -> dict[str, str]:
    """The decoder's output into D: the fakes, judged beside the real x."""
    return {"label": f"x̃ = x̂, Dec(z ~ N(0, I))  {fmt_shape(shape)}", **EDGES["fake"]}


def add_vae_gan_game(dot: Any, g: IR, owner: dict[str, str]) -> None:
    """The node of the game under D's score: D's objective and the decoder's term."""
    d = g.nodes["adversarial"]
    game = ADVERSARIAL[d.args.kind]
    weight = "" if d.weight == 1 else f"{d.weight:g}·"
    add_game_node(dot, g, owner, [
        f"D: min E[{game.discriminator.replace('G(z)', 'x̃')}]",
        f"decoder: + {weight}E[{game.generator.replace('G(z)', 'x̃')}]"], "D(x), D(x̃)")
