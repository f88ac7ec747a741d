"""A VAE-GAN (Larsen et al., 2016): the compiled VAE (`AEModel`) with a discriminator of
examples, which learns to tell the data from the decoder's reconstructions x̂ and its
decoded draws of the prior, while the decoder learns to fool it.

The game's two objectives live here, the alternating steps in aespec/train/vaegan.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, fx

from aespec.compile.gan import _names as gan_names
from aespec.compile.gan import clip_weights, gradient_penalty
from aespec.compile.lower import Segment
from aespec.compile.model import AEModel
from aespec.ops.adversarial import ADVERSARIAL

if TYPE_CHECKING:
    from aespec.graph.ir import IR


class VAEGANModel(AEModel):
    """`AEModel` whose `discriminator(x)` scores examples, (B, 1) raw scores. `model(x)`
    is the VAE's objective alone (validation and test read it); `g_loss` is the decoder's
    weighted adversarial term, `d_loss` D's objective, both over `fakes`."""

    is_vae_gan = True

    def __init__(self, vae: AEModel, discriminator: fx.GraphModule, game: Any, weight: float,
                 names: dict[str, tuple[str, ...]]):
        super().__init__(vae.net, vae.noise, vae.objective, vae.slots, vae.views, vae.info)
        self.discriminator, self.discriminator_names = discriminator, names
        self.game, self.rule, self.game_weight = game, ADVERSARIAL[game.kind], weight

    @property
    def is_aae(self) -> bool:
        """Not an adversarial autoencoder: its discriminator judges examples, not codes."""
        return False

    def d(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """D's raw score of examples `x`, (B, 1); a conditional model's given `labels`."""
        return self._call(self.discriminator, x, labels)

    def prior_samples(self, n: int, labels: Tensor | None = None,
                      z: Tensor | None = None) -> Tensor:
        """n decoded draws z ~ N(0, I) in the current mode (training: batch statistics and
        dropout, with gradients): the second kind of fake. `z`, (n, *latent_shape): the
        trainer's draws; from the global RNG when None."""
        assert self.info.latent_shape is not None  # a VAE-GAN has a gaussian latent
        p = next(self.parameters())
        z = (torch.randn((n, *self.info.latent_shape), device=p.device, dtype=p.dtype)
             if z is None else z.to(p.device, p.dtype))
        return self._call(self._view("sample"), z, labels)

    def g_loss(self, fakes: Tensor, labels: Tensor | None = None) -> Tensor:
        """The decoder's adversarial term, weighted: the game's generator loss over D's
        scores of the fakes (D's weights frozen by the caller)."""
        loss: Tensor = self.rule.g_loss(self.d(fakes, labels).float()) * self.game_weight
        return loss

    def d_loss(self, real: Tensor, fakes: Tensor, labels: Tensor | None = None,
               fake_labels: Tensor | None = None, recons: int | None = None,
               e: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """D's objective on real examples against detached fakes (the first `recons`
        reconstructions, then prior samples), with D's mean scores of each kind:
        probabilities σ(D) in the log-likelihood games, raw scores in the others. `e`,
        (len(fakes),): the gradient penalty's mixing weights (drawn there when None)."""
        s_real = self.d(real, labels).float()
        s_fake = self.d(fakes, fake_labels).float()
        loss = self.rule.d_loss(s_real, s_fake)
        if self.game.gradient_penalty > 0:  # as many real examples as fakes, repeated
            reps = -(-len(fakes) // len(real))
            mixed_real = real.repeat(reps, *[1] * (real.dim() - 1))[:len(fakes)]
            penalty = gradient_penalty(lambda x: self.d(x, fake_labels), mixed_real, fakes, e)
            loss = loss + self.game.gradient_penalty * penalty
        with torch.no_grad():
            p_real, p_fake = (torch.sigmoid(s_real), torch.sigmoid(s_fake)) \
                if self.rule.logit else (s_real, s_fake)
            k = len(fakes) // 2 if recons is None else recons
            scores = {"d_real": p_real.mean(), "d_recon": p_fake[:k].mean(),
                      "d_sample": p_fake[k:].mean()}
        return loss, scores

    def clip_weights(self) -> None:
        clip_weights(self.discriminator, self.game.clip)

    def node_shapes(self, x: Tensor) -> dict[str, tuple[int, ...]]:
        """Every IR node's real output shape (batch excluded): the VAE's on `x`, then D's
        on `x`; current mode."""
        from aespec.compile.model import record_shapes

        shapes = super().node_shapes(x)
        c = self.labels(len(x), x.device)
        record_shapes(self.discriminator, self.discriminator_names,
                      x if c is None else (x, c), shapes)
        return shapes

    def score(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """D's raw score of each example, (B,), evaluation semantics."""
        with self._evaluating():
            s = self.d(x, labels)
        return s.flatten()


def compile_vae_gan(vae: AEModel, graph: IR, built: dict[str, Any], root: Any,
                    origin: Callable[[str], str] | None) -> VAEGANModel:
    """The VAE-GAN of a complete graph: `vae` with the discriminator's segment, which
    starts from a placeholder `x` where the decoder ended (its first layer reads the
    real input or the decoder's output)."""
    outs = graph.outputs
    dis = Segment(graph, built, outs["decoder"], "x", origin).provide("y") \
        .through(outs["discriminator"])
    discriminator = dis.finish([dis.env[outs["discriminator"]]], root, "Discriminator")
    game = graph.nodes["adversarial"]
    return VAEGANModel(vae, discriminator, game.args, game.weight,
                       gan_names(graph, dis, "discriminator"))
