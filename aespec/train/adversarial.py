"""A GAN's and an adversarial autoencoder's training: alternating steps of two networks,
each with its own optimizer and schedule, in the run loop of `Trainer` (batch order,
Ctrl-C, checkpoints, resume).

One step reads one batch of real examples: `discriminator_steps` updates of D, each on
the batch and as many fresh samples G(z), then one update of G through D's score of the
last samples (keras.io's and PyTorch's DCGAN recipe). Validation loss means nothing for a
GAN; an epoch's figure is the Fréchet distance of its samples (`SampleMonitor`) where the
spec's report asks for `sample_quality`, and otherwise there is none: the last epoch is
best and early stopping is refused at check time. Every epoch also decodes a fixed z: the
rows of the sample strip (report/sample_strip.png).

An adversarial autoencoder (`AAETrainer`) runs in the same loop: an autoencoder's step,
then its discriminator's and its encoder's against N(0, I), and its epochs are judged by
the reconstruction objective, as any autoencoder's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from aespec.train import device as dev
from aespec.train.loop import Trainer
from aespec.train.optim import build_optimizer, build_schedule
from aespec.train.rundir import load_weights

STRIP = 10  # samples in each row of the sample strip, from the same z every epoch
GAME_SEED = 7919  # added to train.seed: the stream of training's z, not the strip's
MONITORED = 2000  # held-out examples an epoch's samples are measured against


@dataclass(frozen=True)
class SampleMonitor:
    """The Fréchet distance of `n` samples to held-out examples, in the reference
    classifier's features (aespec/report/quality.py): what a GAN's epochs are judged by."""

    classifier: Any
    reference: np.ndarray  # the held-out examples' features, (N, FEATURES)
    n: int
    seed: int

    def __call__(self, model: Any) -> float:
        from aespec.report import quality

        p = next(model.parameters())
        gen = torch.Generator(device=p.device).manual_seed(self.seed)
        with torch.no_grad():
            drawn = model.sample(self.n, generator=gen).float().cpu().numpy()
        return quality.frechet_distance(self.reference, quality.features(self.classifier, drawn))


def sample_monitor(spec: Any, dataset: Any, data: Any) -> SampleMonitor | None:
    """The monitor of a spec whose report asks for `sample_quality` (its `n` samples a
    epoch, against the validation split, or the test split without one); None else."""
    args = spec.report.items.get("sample_quality")
    if args is None:
        return None
    from aespec.report import quality

    quality.source_with_classifier(spec.data, dataset)  # E315 for data without classes
    clf = quality.reference_classifier(dataset.description, dataset.x_train,
                                       dataset.labels_train, dataset.x_test,
                                       dataset.labels_test)
    held = data.val.x.float().cpu().numpy() if data.val else np.asarray(dataset.x_test)
    held = held[:MONITORED]
    return SampleMonitor(clf, quality.features(clf, held), args.n, spec.train.seed)


class TwoNetworks(Trainer):
    """`Trainer` of two networks in turn: `opt` (and `schedule`) for the model less its
    discriminator, `opt_d` (and `schedule_d`) for `model.discriminator`.

    In a distributed run the model is not wrapped in DDP: each update averages its
    network's gradients over the ranks (`_update`), and the step's draws (z, the prior's
    codes, the gradient penalty's weights) come from `game_gen`, drawn for the global
    batch on every rank, each taking its rows (`_draws`)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        m, cfg, device = self.model, self.cfg, self.device
        own = [p for name, p in m.named_parameters() if not name.startswith("discriminator.")]
        self.opt = build_optimizer(cfg.optimizer, own, device)
        self.schedule = build_schedule(cfg, self.opt)
        self.opt_d = build_optimizer(cfg.discriminator_optimizer or cfg.optimizer,
                                     m.discriminator.parameters(), device)
        self.schedule_d = build_schedule(cfg, self.opt_d)
        self.scaler_d = dev.grad_scaler(device, cfg.precision)
        # the steps' draws: a stream of their own (in the checkpoint), from which every
        # rank of a distributed run draws the global batch's and takes its rows, the
        # draws one process gives those examples (`_draws`)
        self.game_gen = torch.Generator().manual_seed(cfg.seed + GAME_SEED)
        self.batch_n = 0  # the global batch's size in a distributed run (`shard`)

    def parallel(self, model: Any) -> Any:
        """The model itself, no DDP wrapper: the step averages each network's gradients
        over the ranks before its update (dist.Ranks.average_grads); rank 0's weights to
        start, as DDP's are."""
        self.ranks.broadcast_weights(model)
        return model

    def shard(self, idx: torch.Tensor) -> tuple[torch.Tensor, float]:
        self.batch_n = len(idx)
        return super().shard(idx)

    def _draws(self, n: int, shape: tuple[int, ...], uniform: bool = False) -> torch.Tensor:
        """n draws (N(0, I), or U(0, 1) where `uniform`) of `shape` from `game_gen`, for
        the n examples of this process: in a distributed run, the global batch's draws are
        made on every rank, and this rank's rows taken."""
        rows = slice(None)
        if self.ranks is not None:
            n, rows = self.batch_n, self.ranks.rows(self.batch_n)
        draw = torch.rand if uniform else torch.randn
        return draw((n, *shape), generator=self.game_gen)[rows].to(self.device)

    def _share_buffers(self) -> None:
        """Rank 0's buffers everywhere before a distributed step, as DDP does."""
        if self.ranks is not None:
            self.ranks.broadcast_buffers(self.model)

    def step_schedules(self, metric: float) -> None:
        self.schedule.step(metric)
        self.schedule_d.step(metric)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "optimizer_d": self.opt_d.state_dict(),
                "schedule_d": self.schedule_d.state_dict(),
                "scaler_d": self.scaler_d.state_dict() if self.scaler_d else None,
                "game_rng": self.game_gen.get_state()}

    def load_state_dict(self, ckpt: dict[str, Any], path: Any = "checkpoint.pt") -> None:
        super().load_state_dict(ckpt, path)
        load_weights(self.opt_d, ckpt["optimizer_d"], path)
        load_weights(self.schedule_d, ckpt["schedule_d"], path)
        if self.scaler_d is not None and ckpt.get("scaler_d"):
            self.scaler_d.load_state_dict(ckpt["scaler_d"])
        if ckpt.get("game_rng") is not None:  # older checkpoints drew from the global one
            self.game_gen.set_state(ckpt["game_rng"])


class AAETrainer(TwoNetworks):
    """An adversarial autoencoder's step, in the two phases of Makhzani et al. (2016):
    reconstruction (the autoencoder's objective, by `opt`), then regularization:
    `discriminator_steps` updates of D on draws of N(0, I) ("real") against the batch's
    codes ("fake"), then one step
    of the encoder, by `opt_g`, to make D call its codes draws of the prior (D frozen).
    Validation and early stopping read the reconstruction objective, as an autoencoder's.

    `opt_g` is the spec's optimizer over the same weights as `opt`, with its own state:
    with Adam's shared second moments, the reconstruction's large gradients damp the
    adversarial ones, and on Fashion-MNIST the codes then stray from the prior (MMD 0.16
    against 0.01 for its own state; docs/language.md, "Adversarial autoencoders")."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        m, cfg = self.model, self.cfg
        own = [p for name, p in m.named_parameters() if not name.startswith("discriminator.")]
        self.opt_g = build_optimizer(cfg.optimizer, own, self.device)
        self.schedule_g = build_schedule(cfg, self.opt_g)
        self.scaler_g = dev.grad_scaler(self.device, cfg.precision)

    def _step(self, xb: torch.Tensor, yb: torch.Tensor | None,
              scale: float = 1.0) -> tuple[torch.Tensor, tuple[str, ...]]:
        m = self.model
        labels = yb if m.classes is not None else None
        self._share_buffers()
        with self.autocast():
            out = m(xb) if yb is None else m(xb, target=yb)
        self.opt.zero_grad(set_to_none=True)
        _update(out.loss * scale, self.opt, self.scaler, self.ranks)
        with self.autocast():
            code = m.code(xb, labels).float()  # the reconstruction step's codes, refreshed
        for _ in range(self.cfg.discriminator_steps):
            d_loss, s_real, s_fake = self._step_discriminator(code.detach(), scale)
        m.discriminator.requires_grad_(False)
        try:
            with self.autocast():
                fool = m.rule.g_loss(m.discriminator(code).float()) * m.game_weight
            self.opt_g.zero_grad(set_to_none=True)  # the decoder's grads stay None: unmoved
            _update(fool * scale, self.opt_g, self.scaler_g, self.ranks)
        finally:
            m.discriminator.requires_grad_(True)
        with torch.no_grad():
            probs = m.rule.logit
            real = torch.sigmoid(s_real).mean() if probs else s_real.mean()
            fake = torch.sigmoid(s_fake).mean() if probs else s_fake.mean()
        terms = {**out.terms, "adversarial": fool, "discriminator": d_loss, "d_real": real,
                 "d_fake": fake}
        # `loss` is the autoencoder's objective, as validation measures it; the encoder's
        # adversarial term is a term beside it
        vals = torch.stack([out.loss.detach().float(),
                            *(t.detach().float() for t in terms.values())])
        return vals, tuple(terms)

    def _step_discriminator(self, code: torch.Tensor, scale: float
                            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One update of D: draws of N(0, I) are real, the codes fake. Returns D's loss and
        its scores of both, (B, 1) each. The prior's draws and the penalty's weights come
        from `game_gen` (`_draws`)."""
        m = self.model
        prior = self._draws(len(code), tuple(code.shape[1:])).to(code.dtype)
        with self.autocast():
            s_real, s_fake = m.discriminator(prior).float(), m.discriminator(code).float()
            d_loss = m.rule.d_loss(s_real, s_fake)
            if m.game.gradient_penalty > 0:
                from aespec.compile.gan import gradient_penalty

                e = self._draws(len(code), (), uniform=True)
                d_loss = d_loss + m.game.gradient_penalty * gradient_penalty(
                    m.discriminator, prior, code, e)
        self.opt_d.zero_grad(set_to_none=True)
        _update(d_loss * scale, self.opt_d, self.scaler_d, self.ranks)
        if m.game.clip is not None:
            with torch.no_grad():
                for p in m.discriminator.parameters():
                    p.clamp_(-m.game.clip, m.game.clip)
        return d_loss, s_real, s_fake

    def step_schedules(self, metric: float) -> None:
        super().step_schedules(metric)
        self.schedule_g.step(metric)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "optimizer_g": self.opt_g.state_dict(),
                "schedule_g": self.schedule_g.state_dict(),
                "scaler_g": self.scaler_g.state_dict() if self.scaler_g else None}

    def load_state_dict(self, ckpt: dict[str, Any], path: Any = "checkpoint.pt") -> None:
        super().load_state_dict(ckpt, path)
        load_weights(self.opt_g, ckpt["optimizer_g"], path)
        load_weights(self.schedule_g, ckpt["schedule_g"], path)
        if self.scaler_g is not None and ckpt.get("scaler_g"):
            self.scaler_g.load_state_dict(ckpt["scaler_g"])


class Generating(TwoNetworks):
    """`TwoNetworks` of a model that generates from N(0, I) (a GAN, a VAE-GAN): each epoch
    decodes the same `fixed_z` for the sample strip, and the monitor, where the report
    asks for `sample_quality`, measures the samples' Fréchet distance."""

    def __init__(self, *args: Any, monitor: SampleMonitor | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.monitor = monitor
        self.strips: list[torch.Tensor] = []  # each epoch's samples of `fixed_z`, on the CPU
        gen = torch.Generator().manual_seed(self.cfg.seed)  # training's stream untouched
        self.fixed_z = torch.randn((STRIP, *self.model.info.latent_shape), generator=gen)

    def sample_epoch(self) -> float | None:
        """The epoch's row of the sample strip, and its Fréchet distance where monitored.
        In a distributed run the writer alone draws both (the others have no monitor), and
        every rank decides by its figure."""
        if self.run.writes:
            with torch.no_grad():
                self.strips.append(self.model.decode(self.fixed_z).float().cpu())
        return self._measure() if self.ranks is None else self.ranks.on_writer(self._measure)

    def _measure(self) -> float | None:
        """The monitor's Fréchet distance of the current weights' samples (None: none)."""
        if self.monitor is None:
            return None
        with self._reading():
            return self.monitor(self.model)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "strips": list(self.strips)}

    def load_state_dict(self, ckpt: dict[str, Any], path: Any = "checkpoint.pt") -> None:
        super().load_state_dict(ckpt, path)
        self.strips = [t.float() for t in ckpt.get("strips") or []]


class GANTrainer(Generating):
    """`Trainer` with a GAN's step: `opt` is the generator's, `opt_d` the discriminator's."""

    def _step(self, xb: torch.Tensor, yb: torch.Tensor | None,
              scale: float = 1.0) -> tuple[torch.Tensor, tuple[str, ...]]:
        """k updates of D on the real batch and fresh samples, then one of G (its graph
        kept from the last samples), D's weights frozen meanwhile."""
        m, k = self.model, self.cfg.discriminator_steps
        c = yb if m.classes is not None else None  # a conditional GAN's one-hot labels
        self._share_buffers()
        penalised = m.game.gradient_penalty > 0  # its mixing weights are drawn here too
        for i in range(k):
            z = self._draws(len(xb), m.info.latent_shape)
            e = self._draws(len(xb), (), uniform=True) if penalised else None
            with self.autocast():
                with torch.set_grad_enabled(i == k - 1):  # G's step reads the last samples
                    fake = m.g(z, c)  # of the real batch's labels
                d_loss, terms = m.d_loss(xb, fake.detach(), c, e)
            self.opt_d.zero_grad(set_to_none=True)
            _update(d_loss * scale, self.opt_d, self.scaler_d, self.ranks)
            m.clip_weights()
        m.discriminator.requires_grad_(False)
        try:
            with self.autocast():
                g_loss, _ = m.g_loss(fake, c)
            self.opt.zero_grad(set_to_none=True)
            _update(g_loss * scale, self.opt, self.scaler, self.ranks)
        finally:
            m.discriminator.requires_grad_(True)
        terms["generator"] = g_loss.detach()
        names = tuple(m.term_names)
        vals = torch.stack([d_loss.detach().float(), *(terms[n].float() for n in names)])
        return vals, names

    # ------------------------------------------------------------ epochs

    def validate(self, train: dict[str, float]) -> tuple[dict[str, float] | None,
                                                         float | None]:
        """No validation loss (it means nothing for a GAN): the samples' figure alone."""
        fd = self.sample_epoch()
        return (None, None) if fd is None else ({"frechet_distance": fd}, fd)


def _update(loss: torch.Tensor, opt: Any, scaler: Any, ranks: Any = None) -> None:
    """Backward and one step of `opt`, through the fp16 grad scaler where there is one;
    in a distributed run (`ranks`), with `opt`'s gradients averaged over the ranks."""
    (loss if scaler is None else scaler.scale(loss)).backward()
    if ranks is not None:
        ranks.average_grads([p for group in opt.param_groups for p in group["params"]])
    if scaler is None:
        opt.step()
    else:
        scaler.step(opt)
        scaler.update()
