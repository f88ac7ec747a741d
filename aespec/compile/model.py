"""The compiled autoencoder: generated fx networks for the tensors, a Python objective."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, fx, nn

from aespec.compile.objective import Objective, Slots
from aespec.errors import AespecError, Diagnostic
from aespec.ops.modules import log_importance_weights, tile_draws

Shape = tuple[int, ...]
# portable.py's helpers carry no annotations (an emitted file copies their text)
_tile_draws: Callable[[Tensor, Tensor], Tensor] = tile_draws
_log_weights: Callable[[Tensor, Tensor, Tensor, Tensor], Tensor] = log_importance_weights


@dataclass
class AEOutput:
    """What `model(x)` returns.

    `loss`: the whole objective, a scalar.  `terms`: each weighted term under a stable name
    (`bce`, `0.5*mse`, `kl`, `4*kl`, `l2[decoder]`, `contractive`); they sum to `loss`.
    `x_hat`: the reconstruction in data space (after a final sigmoid).  `z`: the code
    (mu at evaluation).  With `samples=L` in training, `x_hat` and `z` hold the L draws
    stacked draw-major (L*B rows).  `extras`: `mu` and `logvar` of a gaussian latent.
    `measures`: numbers that are no part of the loss, in evaluation only: a som's
    `quantization_error` and `topographic_error` (batch means).
    """

    loss: Tensor
    terms: dict[str, Tensor]
    x_hat: Tensor
    z: Tensor
    extras: dict[str, Tensor] = field(default_factory=dict)
    measures: dict[str, Tensor] = field(default_factory=dict)

    def detach(self) -> AEOutput:
        return AEOutput(self.loss.detach(), {k: v.detach() for k, v in self.terms.items()},
                        self.x_hat.detach(), self.z.detach(),
                        {k: v.detach() for k, v in self.extras.items()},
                        {k: v.detach() for k, v in self.measures.items()})


@dataclass(frozen=True)
class ModelInfo:
    """Plain facts about a compiled model, from the IR."""

    name: str
    input_shape: Shape
    z_shape: Shape
    latent_shape: Shape | None  # where `sample` draws from N(0, I); None: no prior (a
    #   stochastic latent, or a code that mmd matches to N(0, I))
    layer_ids: tuple[str, ...]  # dense encoder layers, for layer-wise pretraining
    noise_names: dict[str, tuple[str, ...]]  # fx value name -> IR ids, noise graph
    net_names: dict[str, tuple[str, ...]]  # fx value name -> IR ids, network graph
    unavailable: dict[str, Diagnostic]  # view -> why the model cannot offer it
    classes: int | None = None  # a conditional model's: it and its views read labels y
    # the decoder distribution p(x|z) the loss reads as (aespec.ops.likelihood), or why none
    likelihood: Any = None
    sampler: str | None = None  # an energy model's node (rbm): samples by Gibbs sampling


class AEModel(nn.Module):
    """An autoencoder compiled from a spec: `model(x)` gives an `AEOutput`.

    `net` is the generated `fx.GraphModule` from the (corrupted) input to every tensor
    the objective reads; `noise` the generated corruption (applied in training only).
    `encode`, `decode` and `sample` run further generated graphs over parts of the same
    layers (views: not submodules, no copies).  `objective_params` holds the parameters
    the loss terms own (`loss1_log_var` of `gaussian_nll(var=learned)`), trained, counted
    and saved with the network's.
    """

    def __init__(self, net: fx.GraphModule, noise: fx.GraphModule | None,
                 objective: Objective, slots: Slots, views: dict[str, fx.GraphModule],
                 info: ModelInfo):
        super().__init__()
        self.net, self.noise = net, noise
        self.objective, self.slots, self.info = objective, slots, info
        self.objective_params = objective.params  # the loss terms' own (a learned variance)
        self.anneal = objective.anneal  # the scheduled weights (compile/anneal.py), or None
        self.views = views  # a plain dict: the layers are registered once, under `net`
        self.head: fx.GraphModule | None = None  # a supervised head (`add_head`)
        self.xent_weight: float | None = None
        self.term_names = list(objective.names)
        first = slots.latents[0] if slots.latents else None
        self._extras = (("mu", first[1]), ("logvar", first[2])) if first else ()

    @property
    def classes(self) -> int | None:
        """A conditional model's number of classes (it reads one-hot labels y); None else."""
        return self.info.classes

    def labels(self, n: int, device: torch.device | None = None) -> Tensor | None:
        """One-hot labels 0, 1, ..., classes - 1, 0, 1, ... for n examples; None without
        classes."""
        return classes_in_turn(self, n, self.classes, device)

    def _call(self, view: fx.GraphModule, v: Tensor, labels: Tensor | None) -> Tensor:
        """A view (or `net`) on `v`, with a conditional model's labels (default: in turn)."""
        if self.classes is None:
            out: Tensor = view(v)
            return out
        if labels is None:
            labels = self.labels(len(v), v.device)
        assert labels is not None
        out = view(v, labels.to(v.device, v.dtype))
        return out

    def add_head(self, head: fx.GraphModule, weight: float | None,
                 names: dict[str, tuple[str, ...]] | None = None) -> None:
        """A supervised head (`head on NAME { ... }`) that reads the net's output
        `slots.head_in`, and the weight of its `xent` term (None: no term); `names`: its
        fx value names -> IR ids, for `node_shapes`."""
        self.head, self.xent_weight = head, weight
        self.head_names = names or {}

    @property
    def reads_labels(self) -> bool:
        """Its `target` is the examples' one-hot labels: a conditional model, or a head's."""
        return self.classes is not None or self.head is not None

    def forward(self, x: Tensor, target: Tensor | None = None) -> AEOutput:
        """The objective on a batch; `target` defaults to the clean `x`; a conditional
        model's, or one with a head, `target` is its one-hot labels (the target is then
        `x` itself)."""
        labels = None
        if self.reads_labels:
            labels = target if target is not None else self.labels(len(x), x.device)
            target = None
        clean = x if target is None else target
        if self.objective.needs_input_grad:
            if torch.compiler.is_compiling():  # (torch.compile is tracing this call)
                return _eager_input_grad()(self, x, clean, labels)
            return self._run_with_input_grad(x, clean, labels)
        return self._run(x, clean, labels)

    def _run(self, x: Tensor, clean: Tensor, labels: Tensor | None = None) -> AEOutput:
        if self.training and self.noise is not None:
            x = self.noise(x)
        if self.objective.needs_input_grad and not x.requires_grad:
            x = x.detach().requires_grad_()  # the penalty differentiates h by x
        # not net(x): skips the hooks machinery, a few us a step
        outs = self.net.forward(x) if labels is None or self.classes is None else \
            self.net.forward(x, labels.to(x.device, x.dtype))
        loss, terms = self.objective(outs, clean, x)
        extras = {key: outs[i] for key, i in self._extras}
        measures = {} if self.training else self.objective.measures(outs)
        if self.head is not None and labels is not None:
            loss = self._head_terms(outs, labels, loss, terms, measures)
        return AEOutput(loss, terms, outs[self.slots.x_hat], outs[self.slots.z], extras,
                        measures)

    def _head_terms(self, outs: tuple[Tensor, ...], labels: Tensor, loss: Tensor,
                    terms: dict[str, Tensor], measures: dict[str, Tensor]) -> Tensor:
        """The head's weighted cross-entropy into `terms` (and `loss`, returned) and its
        accuracy on the batch into `measures` (in training too: the metrics' per epoch)."""
        assert self.slots.head_in is not None  # compile sets it with the head
        logits = self.head_logits(outs[self.slots.head_in]).float()  # (B, classes)
        k = labels.argmax(1)
        if len(logits) != len(k):  # L draws of a latent, stacked draw-major
            k = k.repeat(len(logits) // len(k))
        if self.xent_weight is not None:
            ce = nn.functional.cross_entropy(logits, k)
            name = "xent" if self.xent_weight == 1 else f"{self.xent_weight:g}*xent"
            terms[name] = ce if self.xent_weight == 1 else ce * self.xent_weight
            loss = loss + terms[name]
        measures["accuracy"] = (logits.argmax(1) == k).float().mean()
        return loss

    def head_logits(self, h: Tensor) -> Tensor:
        """The head's logits of the tensor it reads, (B, classes)."""
        assert self.head is not None
        out: Tensor = self.head(h)
        return out

    def classify(self, x: Tensor) -> Tensor:
        """The head's logits of clean `x`, evaluation semantics (z = mu, no dropout)."""
        assert self.slots.head_in is not None
        with self._evaluating():
            outs = self.net.forward(x)
            logits = self.head_logits(outs[self.slots.head_in])
        return logits

    def _run_with_input_grad(self, x: Tensor, clean: Tensor,
                             labels: Tensor | None = None) -> AEOutput:
        """A Jacobian penalty needs autograd even to evaluate (under no_grad the result is
        then detached), and runs eagerly under torch.compile (`_eager_input_grad`)."""
        if torch.is_grad_enabled():
            return self._run(x, clean, labels)
        with torch.enable_grad():
            return self._run(x, clean, labels).detach()

    # ---------------------------------------------------------------- adversarial autoencoder

    def add_code_discriminator(self, discriminator: fx.GraphModule, game: Any,
                               weight: float,
                               names: dict[str, tuple[str, ...]] | None = None) -> None:
        """An adversarial autoencoder's discriminator of codes, its game and the weight of
        the encoder's adversarial term (aespec/train/adversarial.py trains them); `names`:
        its fx value names -> IR ids, for `node_shapes`."""
        from aespec.ops.adversarial import ADVERSARIAL

        self.discriminator = discriminator
        self.discriminator_names = names or {}
        self.game, self.rule, self.game_weight = game, ADVERSARIAL[game.kind], weight

    @property
    def is_aae(self) -> bool:
        """An adversarial autoencoder: a discriminator judges its codes against N(0, I)."""
        return hasattr(self, "discriminator")

    def code(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """The code z of clean `x` in the model's own mode, differentiable (`encode` is
        evaluation's, without grad): what an adversarial autoencoder's discriminator
        judges in training."""
        return self._call(self._view("encode"), x, labels)

    # ---------------------------------------------------------------- parts of the model

    def corrupt(self, x: Tensor) -> Tensor:
        """The spec's noise applied to `x`, in any mode (for reports of denoisers)."""
        return x if self.noise is None else self.noise(x)

    def encode(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """The code z of clean `x`, with evaluation semantics (z = mu, no dropout); a
        conditional model's given one-hot `labels` (default: the classes in turn)."""
        with self._evaluating():
            z = self._call(self._view("encode"), x, labels)
        return z

    def decode(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """The reconstruction in data space of codes z, (B, *z_shape), evaluation semantics;
        a conditional model's of one-hot `labels` (default: the classes in turn)."""
        with self._evaluating():
            x_hat = self._call(self._view("decode"), z, labels)
        return x_hat

    def sample(self, n: int, generator: torch.Generator | None = None,
               labels: Tensor | None = None) -> Tensor:
        """Decoded draws z ~ N(0, I) of the stochastic latent, or of a code that mmd matched
        to N(0, I) (evaluation semantics); a conditional model's of one-hot `labels`
        (default: the classes in turn)."""
        if self.info.sampler is not None:  # an rbm: Gibbs chains, decoded by the mirror
            with self._evaluating():
                sampler: Any = self.net.get_submodule(self.info.sampler)
                h = sampler.generate(n, generator)
            return self.decode(h)
        decode = self._view("sample")
        assert self.info.latent_shape is not None  # the view exists only with a prior
        p = next(self.parameters())
        where = generator.device if generator is not None else p.device  # draw where it lives
        z = torch.randn((n, *self.info.latent_shape), generator=generator, device=where)
        z = z.to(p.device, p.dtype)
        with self._evaluating():
            drawn = self._call(decode, z, labels)
        return drawn

    def recon_error(self, x: Tensor, target: Tensor | None = None) -> Tensor:
        """Each example's reconstruction error by the loss's reconstruction terms, (B,):
        clean input, evaluation semantics (for anomaly scores)."""
        if self.classes is not None:  # the target slot holds a conditional model's labels
            labels = target if target is not None else self.labels(len(x), x.device)
            target = None
            with self._evaluating():
                outs = self.net(x, labels)
        else:
            with self._evaluating():
                outs = self.net(x)
            target = None if self.head is not None else target  # a head's labels
        return self.objective.per_example(outs, x if target is None else target)

    # ---------------------------------------------------------------- likelihood

    def posterior(self, x: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """mu and log sigma^2 of q(z|x), (B, dim) each, evaluation semantics."""
        if not self.slots.latents:
            raise AespecError(self._no_likelihood())
        with self._evaluating():
            outs = self.net(x) if self.classes is None else \
                self.net(x, self._labels_for(x, labels))
        _, mu, logvar = self.slots.latents[0]
        return outs[mu], outs[logvar]

    def log_weights(self, target: Tensor, mu: Tensor, logvar: Tensor, eps: Tensor,
                    labels: Tensor | None = None) -> Tensor:
        """log p(x|z_k) p(z_k) / q(z_k|x) in nats, (K, B), of the draws z_k = mu + sigma *
        eps_k, eps (K, B, dim), of each example's posterior; `target` is the x that
        p(x|z) scores (the data's target where it has one).  Evaluation semantics."""
        reading = self._no_likelihood()
        if isinstance(reading, Diagnostic):
            raise AespecError(reading)
        view = self._view("likelihood")
        z = (mu + torch.exp(0.5 * logvar) * eps).flatten(0, 1)  # (K*B, dim), draw-major
        if self.classes is not None:
            labels = _tile_draws(self._labels_for(target, labels), z)
        with self._evaluating():
            preds: Any = self._call(view, z, labels)
        recon = self.objective.recon[0]
        outs = preds if isinstance(preds, tuple) else (preds,)  # (x_hat[, logits])
        pred = outs[1] if recon.pred == self.slots.logits else outs[0]
        nll = recon.per_example_of(pred, _tile_draws(target, z)) + reading.constant
        return _log_weights(nll.float(), z.float(), mu.float(), logvar.float())

    def _no_likelihood(self) -> Any:
        """The likelihood reading, or the diagnostic that says why the model has none."""
        reading = self.info.likelihood
        if reading is None:  # a model compiled without the reading (a GAN's)
            return Diagnostic("E321", "the model has no likelihood p(x)")
        return reading

    def _labels_for(self, x: Tensor, labels: Tensor | None) -> Tensor:
        found = labels if labels is not None else self.labels(len(x), x.device)
        assert found is not None
        return found.to(x.device, x.dtype)

    # ---------------------------------------------------------------- layer-wise pretraining

    def layer_groups(self) -> list[tuple[str, nn.Module]]:
        """(node id, layer) of each dense layer of encoder and bottleneck, in order."""
        return [(nid, self.net.get_submodule(nid)) for nid in self.info.layer_ids]

    # ---------------------------------------------------------------- inspection

    def node_shapes(self, x: Tensor) -> dict[str, Shape]:
        """Every IR node's real output shape (batch excluded) on input `x`, current mode."""
        shapes: dict[str, Shape] = {"input": tuple(x.shape[1:])}
        if self.noise is not None:
            x = record_shapes(self.noise, self.info.noise_names, x, shapes)
        c = self.labels(len(x), x.device)
        outs: Any = record_shapes(self.net, self.info.net_names, x if c is None else (x, c),
                                  shapes)
        if self.head is not None and self.slots.head_in is not None:  # on one of net's outputs
            record_shapes(self.head, self.head_names, outs[self.slots.head_in], shapes)
        if self.is_aae:  # its discriminator, on the code
            record_shapes(self.discriminator, self.discriminator_names, self.code(x, c), shapes)
        return shapes

    def _view(self, name: str) -> fx.GraphModule:
        if name in self.info.unavailable:
            raise AespecError(self.info.unavailable[name])
        return self.views[name]

    def _evaluating(self) -> Any:
        return evaluating(self)


def classes_in_turn(module: nn.Module, n: int, classes: int | None,
                    device: torch.device | None = None) -> Tensor | None:
    """One-hot labels 0, 1, ..., classes - 1, 0, 1, ... for n examples, on `device` (else
    `module`'s); None without classes: what a conditional model reads by default."""
    if classes is None:
        return None
    where = device if device is not None else next(module.parameters()).device
    k = torch.arange(n, device=where) % classes
    return nn.functional.one_hot(k, classes).float()


@contextmanager
def evaluating(module: nn.Module) -> Iterator[None]:
    """`module` in evaluation mode for the block, its own mode back after it."""
    was = module.training
    module.train(False)
    try:
        yield
    finally:
        module.train(was)


class _ShapeRecorder(fx.Interpreter):
    def __init__(self, gm: fx.GraphModule, names: dict[str, tuple[str, ...]],
                 shapes: dict[str, Shape]):
        super().__init__(gm)
        self.names, self.shapes = names, shapes

    def run_node(self, n: fx.Node) -> Any:
        value = super().run_node(n)
        for nid in self.names.get(n.name, ()):
            self.shapes[nid] = tuple(value.shape[1:])
        return value


def record_shapes(gm: fx.GraphModule, names: dict[str, tuple[str, ...]],
                  x: Tensor | tuple[Tensor, ...], shapes: dict[str, Shape]) -> Tensor:
    """Run `gm` on `x` (its inputs, where it has several), recording each IR node's shape."""
    out: Tensor = _ShapeRecorder(gm, names, shapes).run(*(x if isinstance(x, tuple) else (x,)))
    return out


@functools.cache
def _eager_input_grad() -> Callable[..., AEOutput]:
    """`AEModel._run_with_input_grad` kept out of torch.compile's graphs: its double
    backward through vmap has no compiled form. Made when a compile first traces a model,
    not as a decorator: `torch.compiler.disable` imports torch._dynamo (1.8 s), which a
    run that does not compile should not pay."""
    disable: Callable[..., Any] = torch.compiler.disable  # untyped in torch
    run: Callable[..., AEOutput] = disable(AEModel._run_with_input_grad)
    return run

