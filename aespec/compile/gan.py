"""A GAN's graph IR -> `GANModel`: the generator (z -> x) and the discriminator (x -> one
score per example) as two generated fx networks, and the game's two objectives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, fx, nn

from aespec.compile.lower import Segment, build_ops, module_root
from aespec.ops.adversarial import ADVERSARIAL, AdversarialArgs

if TYPE_CHECKING:
    from aespec.graph.ir import IR

Shape = tuple[int, ...]


@dataclass
class GANOutput:
    """The game on one batch: `loss` is the discriminator's objective (with its gradient
    penalty), `terms` its parts and the generator's, `x_hat` the generated samples, `z`
    the draws they came from."""

    loss: Tensor
    terms: dict[str, Tensor]
    x_hat: Tensor
    z: Tensor


@dataclass(frozen=True)
class GANInfo:
    """Plain facts about a compiled GAN, from the IR."""

    name: str
    input_shape: Shape
    latent_shape: Shape  # z's: the generator draws it from N(0, I)
    generator_names: dict[str, tuple[str, ...]]  # fx value name -> IR ids
    discriminator_names: dict[str, tuple[str, ...]]
    classes: int | None = None  # a conditional GAN's: both networks read one-hot labels y


class GANModel(nn.Module):
    """A GAN compiled from a spec. `generator(z)` gives samples in data space,
    `discriminator(x)` one raw score per example (B, 1): a logit, or a critic's value.
    `d_loss` and `g_loss` are the two objectives the alternating steps minimise
    (aespec/train/adversarial.py); `sample` draws as an autoencoder's `sample` does."""

    is_adversarial = True

    def __init__(self, generator: fx.GraphModule, discriminator: fx.GraphModule,
                 game: AdversarialArgs, info: GANInfo):
        super().__init__()
        self.generator, self.discriminator = generator, discriminator
        self.game, self.info = game, info
        self.rule = ADVERSARIAL[game.kind]
        self.term_names = list(self.names())

    def names(self) -> tuple[str, ...]:
        """The terms of a training record after `loss`, D's objective: the generator's
        objective, the mean scores of real and generated examples (as probabilities for the
        log-likelihood games), the critic's estimate of the Wasserstein distance, the
        gradient penalty."""
        return ("generator", "d_real", "d_fake",
                *["wasserstein"] * (self.game.kind == "wasserstein"),
                *["gradient_penalty"] * (self.game.gradient_penalty > 0))

    def draw(self, n: int, device: torch.device | None = None,
             generator: torch.Generator | None = None) -> Tensor:
        """n draws z ~ N(0, I), (n, *latent_shape), from the global RNG or `generator`."""
        where = device if device is not None else next(self.parameters()).device
        if generator is not None:
            return torch.randn((n, *self.info.latent_shape), generator=generator,
                               device=generator.device).to(where)
        return torch.randn((n, *self.info.latent_shape), device=where)

    @property
    def classes(self) -> int | None:
        """A conditional GAN's number of classes (both networks read y); None else."""
        return self.info.classes

    def g(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        """G(z), or G(z, y) with one-hot labels `c` for a conditional GAN."""
        out: Tensor = self.generator(z) if self.classes is None else self.generator(z, c)
        return out

    def d(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """D's raw score of `x`, (B, 1), given the labels `c` for a conditional GAN."""
        out: Tensor = self.discriminator(x) if self.classes is None else \
            self.discriminator(x, c)
        return out

    def labels(self, n: int, device: torch.device | None = None) -> Tensor | None:
        """One-hot labels 0, 1, ..., classes - 1, 0, 1, ... for n draws (None: no classes)."""
        from aespec.compile.model import classes_in_turn

        return classes_in_turn(self, n, self.classes, device)

    def forward(self, x: Tensor, target: Tensor | None = None) -> GANOutput:
        """Both objectives on a batch of real `x` and as many generated samples: what the
        steps compute, in one pass, for tests and a look at an untrained model; `target`:
        a conditional GAN's one-hot labels of `x` (its generated samples take the same)."""
        c = target if self.classes is not None else None
        z = self.draw(len(x), x.device)
        fake = self.g(z, c)
        loss, terms = self.d_loss(x, fake.detach(), c)
        terms["generator"] = self.g_loss(fake, c)[0]
        return GANOutput(loss, {k: terms[k] for k in self.term_names}, fake, z)

    def d_loss(self, real: Tensor, fake: Tensor, c: Tensor | None = None,
               e: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """D's objective on real and (detached) generated examples, with its parts; `e`:
        the gradient penalty's mixing weights, (B,) (drawn here when None)."""
        s_real, s_fake = self.d(real, c).float(), self.d(fake, c).float()
        loss = self.rule.d_loss(s_real, s_fake)
        terms = self._scores(s_real, s_fake)
        if self.game.gradient_penalty > 0:
            gp = self.game.gradient_penalty * self.gradient_penalty(real, fake, c, e)
            loss, terms["gradient_penalty"] = loss + gp, gp.detach()
        return loss, terms

    def g_loss(self, fake: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """G's objective on generated examples (with their graph), and D's scores of them."""
        s_fake = self.d(fake, c).float()
        return self.rule.g_loss(s_fake), s_fake

    def _scores(self, s_real: Tensor, s_fake: Tensor) -> dict[str, Tensor]:
        with torch.no_grad():
            r, f = s_real.mean(), s_fake.mean()
            if self.rule.logit:  # D(x) as the lectures write it: a probability
                r, f = torch.sigmoid(s_real).mean(), torch.sigmoid(s_fake).mean()
            terms = {"d_real": r, "d_fake": f}
            if self.game.kind == "wasserstein":
                terms["wasserstein"] = s_real.mean() - s_fake.mean()
        return terms

    def gradient_penalty(self, real: Tensor, fake: Tensor, c: Tensor | None = None,
                         e: Tensor | None = None) -> Tensor:
        """WGAN-GP's penalty of D on real and generated examples (Gulrajani et al., 2017)."""
        return gradient_penalty(lambda mixed: self.d(mixed, c), real, fake, e)

    def clip_weights(self) -> None:
        clip_weights(self.discriminator, self.game.clip)

    def sample(self, n: int, generator: torch.Generator | None = None,
               labels: Tensor | None = None) -> Tensor:
        """n generated examples from z ~ N(0, I), evaluation semantics (batch norm's
        running statistics); a conditional GAN's of `labels` (one-hot), by default the
        classes in turn (`labels(n)`)."""
        z = self.draw(n, generator=generator)
        return self.decode(z, labels)

    def decode(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """The generator's samples of codes z, (B, *latent_shape), evaluation semantics;
        a conditional GAN's of `labels` (default: the classes in turn)."""
        p = next(self.generator.parameters(), None)
        if p is not None:
            z = z.to(p.device, p.dtype)
        if self.classes is not None and labels is None:
            labels = self.labels(len(z), z.device)
        with self._evaluating():
            out = self.g(z, None if labels is None else labels.to(z.device, z.dtype))
        return out

    def score(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """D's raw score of each example, (B,), evaluation semantics."""
        with self._evaluating():
            s = self.d(x, labels)
        return s.flatten()

    def node_shapes(self, x: Tensor) -> dict[str, Shape]:
        """Every IR node's real output shape (batch excluded): z's draws through the
        generator, `x` through the discriminator; current mode."""
        from aespec.compile.model import record_shapes

        z, c = self.draw(len(x), x.device), self.labels(len(x), x.device)
        shapes: dict[str, Shape] = {"input": tuple(x.shape[1:]), "z": tuple(z.shape[1:])}
        extra = () if c is None else (c,)
        record_shapes(self.generator, self.info.generator_names, (z, *extra), shapes)
        record_shapes(self.discriminator, self.info.discriminator_names, (x, *extra), shapes)
        return shapes

    def _evaluating(self) -> Any:
        from aespec.compile.model import evaluating

        return evaluating(self)


def gradient_penalty(d: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
                     e: Tensor | None = None) -> Tensor:
    """(|grad d(x~)| - 1)^2 averaged over x~ = e real + (1 - e) fake, e ~ U(0, 1) per
    example: WGAN-GP's penalty of a critic `d` (a GAN's, an adversarial autoencoder's).
    `e`, (B,): given by a distributed run (each rank's share of the global batch's draws);
    drawn here from the global generator when None."""
    shape = (len(real),) + (1,) * (real.dim() - 1)
    e = torch.rand(shape, device=real.device) if e is None else e.to(real.device).view(shape)
    mixed = (e * real.detach() + (1 - e) * fake.detach()).requires_grad_(True)
    score = d(mixed).float()
    grad, = torch.autograd.grad(score.sum(), mixed, create_graph=True)
    penalty: Tensor = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
    return penalty


def clip_weights(discriminator: nn.Module, clip: float | None) -> None:
    """WGAN's clipping: every weight of D into [-clip, clip] (after each of its steps)."""
    if clip is not None:
        with torch.no_grad():
            for p in discriminator.parameters():
                p.clamp_(-clip, clip)


def compile_gan(graph: IR, origin: Callable[[str], str] | None,
                scheme: str = "glorot") -> GANModel:
    """The GANModel of a complete GAN graph: the decoder from `z` is the generator; the
    discriminator's segment starts from a placeholder where the generator ended (its
    first layer reads `x`, real or generated); `scheme`: its layers' first weights."""
    built = build_ops(graph, scheme=scheme)
    root, outs = module_root(built), graph.outputs
    gen = Segment(graph, built, "z", "z", origin).provide("y").through(outs["decoder"])
    generator = gen.finish([gen.env[outs["decoder"]]], root, "Generator")
    dis = Segment(graph, built, outs["decoder"], "x", origin).provide("y") \
        .through(outs["discriminator"])
    discriminator = dis.finish([dis.env[outs["discriminator"]]], root, "Discriminator")
    classes = graph.nodes["y"].output_shape()[0] if "y" in graph.nodes else None
    info = GANInfo(graph.name or "model", graph.input, graph.nodes["z"].output_shape(),
                   _names(graph, gen, "generator"), _names(graph, dis, "discriminator"),
                   classes)
    return GANModel(generator, discriminator, graph.nodes["adversarial"].args, info)


def _names(graph: IR, seg: Segment, network: str) -> dict[str, tuple[str, ...]]:
    """fx value name -> the IR ids of `network` computed by it."""
    names: dict[str, tuple[str, ...]] = {}
    for key, node in seg.env.items():
        if key in graph.nodes and graph.nodes[key].network == network and \
                graph.nodes[key].kind != "input":
            names[node.name] = names.get(node.name, ()) + (key,)
    return names


def is_gan(model: Any) -> bool:
    """A compiled GAN (not an autoencoder)."""
    return bool(getattr(model, "is_adversarial", False))
