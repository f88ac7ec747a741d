"""A VAE-GAN's training (Larsen et al., 2016): alternating steps of the VAE and of its
discriminator of examples, in the run loop of `Trainer` (batch order, Ctrl-C,
checkpoints and resume: both optimizers and both random streams are in the state).

One step reads one batch x. The VAE's step: its objective (reconstruction and KL) plus
the weighted adversarial term of the fakes x̃, the batch's reconstructions x̂ and as many
decoded draws of N(0, I), D's weights frozen. Then `discriminator_steps` updates of D on
x against the same fakes, detached: D learns to tell the data from both. Validation and
the test read the VAE's objective; an epoch's figure is the Fréchet distance of its
samples where the report asks for `sample_quality` (else the last epoch is best, as a
GAN's), and every epoch decodes a fixed z for the sample strip.

Every draw of the step comes from the trainer's `game_gen` (adversarial.py's
`TwoNetworks._draws`): the reparameterization's eps (set into the model's gaussian
latents for the step), the prior's z and the gradient penalty's weights. A distributed run
draws them for the global batch on every rank and keeps its rows, so that its ranks train
what one process trains; rank 0 alone decodes the strip and measures the samples.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from aespec.ops.modules import GaussianLatent
from aespec.train.adversarial import Generating, _update


class VAEGANTrainer(Generating):
    """`Trainer` of a VAE-GAN: `opt` is the VAE's (encoder and decoder), `opt_d` D's."""

    def _step(self, xb: torch.Tensor, yb: torch.Tensor | None,
              scale: float = 1.0) -> tuple[torch.Tensor, tuple[str, ...]]:
        m = self.model
        labels = yb if m.classes is not None else None  # a conditional model's one-hot y
        real = yb if yb is not None and labels is None else xb  # the clean target
        self._share_buffers()
        m.discriminator.requires_grad_(False)
        try:
            with self.autocast(), self._latent_draws():
                out = m(xb) if yb is None else m(xb, target=yb)
                z = self._draws(len(xb), tuple(m.info.latent_shape))
                drawn = m.prior_samples(len(xb), labels, z)
                fakes = torch.cat([out.x_hat, drawn])
                fake_labels = None if labels is None else torch.cat(  # L draws: L*B rows
                    [labels.repeat(len(out.x_hat) // len(labels), 1), labels])
                fool = m.g_loss(fakes, fake_labels)
            self.opt.zero_grad(set_to_none=True)
            _update((out.loss + fool) * scale, self.opt, self.scaler, self.ranks)
        finally:
            m.discriminator.requires_grad_(True)
        fakes = fakes.detach()
        per_example = len(fakes) // len(xb)  # L reconstructions and one prior sample
        for _ in range(self.cfg.discriminator_steps):
            e = None
            if m.game.gradient_penalty > 0:  # (B, L+1) -> the fakes' draw-major order
                e = self._draws(len(xb), (per_example,), uniform=True).T.reshape(-1)
            with self.autocast():
                d_loss, scores = m.d_loss(real, fakes, labels, fake_labels, len(out.x_hat), e)
            self.opt_d.zero_grad(set_to_none=True)
            _update(d_loss * scale, self.opt_d, self.scaler_d, self.ranks)
            m.clip_weights()
        # `loss` is the VAE's objective, as validation measures it; the decoder's
        # adversarial term and D's objective are terms beside it
        terms = {**out.terms, "adversarial": fool, "discriminator": d_loss, **scores}
        vals = torch.stack([out.loss.detach().float(),
                            *(t.detach().float() for t in terms.values())])
        return vals, tuple(terms)

    @contextlib.contextmanager
    def _latent_draws(self) -> Iterator[None]:
        """The model's gaussian latents draw eps from `game_gen` for the step: (L, B, dim),
        each example's L draws a row of the global batch's (B, L, dim)."""
        latents = [mod for mod in self.model.modules() if isinstance(mod, GaussianLatent)]

        def eps(samples: int, n: int, dim: int) -> torch.Tensor:
            return self._draws(n, (samples, dim)).transpose(0, 1)

        for mod in latents:
            mod.draw = eps
        try:
            yield
        finally:
            for mod in latents:
                mod.draw = None

    # ------------------------------------------------------------ epochs

    def validate(self, train: dict[str, float]) -> tuple[dict[str, float] | None,
                                                         float | None]:
        """The VAE's validation terms; the epoch's row of the sample strip; the Fréchet
        distance of its samples where monitored, which then picks the best epoch."""
        val, _ = super().validate(train)
        fd = self.sample_epoch()
        if fd is None:
            return val, None
        return {**(val or {}), "frechet_distance": fd}, fd

