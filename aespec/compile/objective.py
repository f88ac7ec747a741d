"""The objective: reconstruction terms, KL terms and regularizers over the network's outputs.

Every term is a small frozen object `term(outs, target, x) -> scalar tensor`, already
weighted, holding the index of the network output it reads; the computations themselves
come from the registry's builders (`aespec.ops.losses`) and the latent module's `kl`.
Terms are computed in float32 at least, whatever precision the network ran in under
autocast: a KL or an activity sum in bfloat16 keeps three significant digits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from aespec.compile.anneal import Live, ScheduledWeights
from aespec.compile.lower import registered, term_inputs
from aespec.ops import get_op
from aespec.ops.anneal import weight_name
from aespec.ops.losses import owned_params
from aespec.ops.modules import iwae_loss, log_importance_weights, tile_draws
from aespec.ops.portable import observed_only

if TYPE_CHECKING:
    from aespec.graph.ir import IR

Outs = tuple[Tensor, ...]
_HALF = (torch.float16, torch.bfloat16)
# portable.py is copied as text into emitted files, which carry no annotations
_tile_draws: Callable[[Tensor, Tensor], Tensor] = tile_draws
_log_weights: Callable[[Tensor, Tensor, Tensor, Tensor], Tensor] = log_importance_weights
_iwae_loss: Callable[[Tensor, int], Tensor] = iwae_loss
_observed_only: Callable[[Tensor, Tensor, str], Tensor] = observed_only


def _full(t: Tensor) -> Tensor:
    return t.float() if t.dtype in _HALF else t


@dataclass(frozen=True)
class Slots:
    """Where each value sits in the network's output tuple."""

    x_hat: int
    z: int
    logits: int | None  # the pre-sigmoid output, when a bce term reads it
    latents: tuple[tuple[str, int, int], ...]  # (latent node, mu, logvar)
    nodes: dict[str, int]  # regularizer targets by node id
    draws: int | None = None  # the latent's draws z, where `iw=K` weighs them
    aux: tuple[tuple[str, int], ...] = ()  # (term name, index): ops' own loss terms (vq)
    head_in: int | None = None  # the tensor a supervised head reads (`head on NAME`)


@dataclass(frozen=True)
class Recon:
    """A weighted reconstruction term: `reduce=mean` over every value, or `sum` over each
    example's values and mean over the batch.  The target is tiled to L latent draws.
    `loss(pred, target, reduction=...)` is the registry's torch loss function; a term with
    parameters of its own (a learned variance) is also passed each of them by name, read
    from the objective's `params` at each call (`owned`: argument name -> key there).
    `masked` (data with `missing=nan`): a NaN in the target is unobserved, and the term is
    reduced over the observed entries only (`mean` over them, `sum` of them per example)."""

    name: str
    weight: float
    loss: Callable[..., Tensor]
    pred: int
    sum: bool
    owned: tuple[tuple[str, str], ...] = ()
    params: nn.ParameterDict | None = None
    masked: bool = False
    live: Live | None = None  # a scheduled weight, multiplying `weight` (then 1)

    def _pair(self, outs: Outs, target: Tensor) -> tuple[Tensor, Tensor]:
        pred = _full(outs[self.pred])
        if pred.shape[0] != target.shape[0]:
            target = _tile_draws(target, pred)
        return pred, target

    def _loss(self, pred: Tensor, target: Tensor, reduction: str) -> Tensor:
        if self.masked:  # NaN marks an unobserved entry: 0 in its place, then masked out
            observed = ~target.isnan()
            return _observed_only(self._values(pred, target.nan_to_num(), "none"), observed,
                                  reduction)
        return self._values(pred, target, reduction)

    def _values(self, pred: Tensor, target: Tensor, reduction: str) -> Tensor:
        if not self.owned:
            return self.loss(pred, target, reduction=reduction)
        assert self.params is not None
        own = {arg: self.params[key] for arg, key in self.owned}
        return self.loss(pred, target, reduction=reduction, **own)

    def __call__(self, outs: Outs, target: Tensor, x: Tensor) -> Tensor:
        pred, target = self._pair(outs, target)
        if self.sum:  # one fused reduction; the batch mean folded into the weight
            return _scaled(self._loss(pred, target, "sum"), self.weight / pred.shape[0])
        return _scaled(self._loss(pred, target, "mean"), self.weight)

    def per_example(self, outs: Outs, target: Tensor) -> Tensor:
        return self.per_example_of(*self._pair(outs, target))

    def per_example_of(self, pred: Tensor, target: Tensor) -> Tensor:
        """The weighted term of each row of `pred` against the same row of `target`, (N,);
        masked, a row's mean is over its observed entries."""
        e = self._loss(_full(pred), target, "none").flatten(1)
        if self.sum:
            e = self.weight * e.sum(1)
        elif self.masked:
            e = self.weight * e.sum(1) / (~target.isnan()).flatten(1).sum(1).clamp(min=1)
        else:
            e = self.weight * e.mean(1)
        return e if self.live is None else e * self.live()


def _live(term: Any, value: Tensor) -> Tensor:
    live = getattr(term, "live", None)
    return value if live is None else value * live()


def _scaled(value: Tensor, factor: float) -> Tensor:
    return value if factor == 1 else value * factor  # no kernel for a weight of 1


@dataclass(frozen=True)
class KL:
    """beta * KL(q(z|x) || prior), from the latent module's closed form."""

    name: str
    beta: float
    kl: Callable[[Tensor, Tensor], Tensor]
    mu: int
    logvar: int
    live: Live | None = None

    def __call__(self, outs: Outs, target: Tensor, x: Tensor) -> Tensor:
        return _scaled(self.kl(_full(outs[self.mu]), _full(outs[self.logvar])), self.beta)


@dataclass(frozen=True)
class OpLoss:
    """A loss term an op computes itself (`OpDef.aux_loss`: vq's codebook and commitment
    terms), read from the network's outputs as it is."""

    name: str
    index: int

    def __call__(self, outs: Outs, target: Tensor, x: Tensor) -> Tensor:
        return _full(outs[self.index])


@dataclass(frozen=True)
class WeightPenalty:
    """A penalty on weight tensors, read from their modules at each call (so it follows
    `load_state_dict(assign=True)` and anything else that replaces a Parameter)."""

    name: str
    penalty: Callable[[list[Tensor]], Tensor]
    refs: tuple[tuple[nn.Module, str], ...]
    live: Live | None = None

    def __call__(self, outs: Outs, target: Tensor, x: Tensor) -> Tensor:
        if not self.refs:
            return outs[0].new_zeros(())
        return self.penalty([getattr(m, name) for m, name in self.refs])


@dataclass(frozen=True)
class ActivityPenalty:
    """A penalty on one node's output h; a Jacobian penalty also reads the encoder input."""

    name: str
    penalty: Callable[..., Tensor]
    node: int
    jacobian: bool
    live: Live | None = None

    def __call__(self, outs: Outs, target: Tensor, x: Tensor) -> Tensor:
        h = _full(outs[self.node])
        return self.penalty(h, x) if self.jacobian else self.penalty(h)


@dataclass(frozen=True)
class ImportanceWeighted:
    """`gaussian(dim, iw=K)`: minus the importance-weighted bound (Burda et al., 2016),
    -log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x), in place of reconstruction + KL.
    -log p(x|z) is the reconstruction term as the spec weighs it, less its constant
    (aespec.ops.likelihood), so K = 1 has the ELBO's expectation; the draws are stacked
    draw-major, L groups of K (`samples=L` averages L bounds).  At evaluation z = mu, one
    draw: the term is then reconstruction + KL, the figure an ELBO model reports."""

    name: str
    recon: Recon
    kl: Callable[[Tensor, Tensor], Tensor]
    k: int
    z: int
    mu: int
    logvar: int

    def __call__(self, outs: Outs, target: Tensor, x: Tensor) -> Tensor:
        if outs[self.z].shape[0] == target.shape[0]:  # evaluation: z = mu
            return self.recon(outs, target, x) + self.kl(_full(outs[self.mu]),
                                                        _full(outs[self.logvar]))
        nll = self.recon.per_example(outs, target)  # (L*K*B,)
        log_w = _log_weights(nll, _full(outs[self.z]), _full(outs[self.mu]),
                             _full(outs[self.logvar]))
        return _iwae_loss(log_w, self.k)


@dataclass(frozen=True)
class OwnTerm:
    """A term that an op's module adds on its input h (a som's neighbourhood distance, an
    rbm's contrastive divergence); its `measures(h)` are numbers for the metrics, not part
    of the loss (per example or batch means; their means over the batch are taken)."""

    name: str
    module: Any  # the op's module: `term(h)`, `measures(h)`
    node: int

    def __call__(self, outs: Outs, target: Tensor, x: Tensor) -> Tensor:
        term: Tensor = self.module.term(_full(outs[self.node]))
        return term

    def measures(self, outs: Outs) -> dict[str, Tensor]:
        found: dict[str, Tensor] = self.module.measures(_full(outs[self.node]))
        return {k: v.float().mean() for k, v in found.items()}


Term = Recon | KL | ImportanceWeighted | OpLoss | WeightPenalty | ActivityPenalty | OwnTerm


class Objective:
    """The whole loss: the sum of its terms, each also returned under its stable name.

    `params` holds the parameters the terms own (`loss1_log_var`, a learned variance);
    the AEModel registers it, so they are counted, saved and trained with the network's.
    """

    def __init__(self, terms: list[Term], params: nn.ParameterDict | None = None,
                 anneal: ScheduledWeights | None = None):
        self.terms = terms
        self.params = nn.ParameterDict() if params is None else params
        self.anneal = anneal  # the scheduled weights, their terms' names in order
        self.names = [t.name for t in terms]
        self.recon = [t for t in terms if isinstance(t, Recon)] + \
            [t.recon for t in terms if isinstance(t, ImportanceWeighted)]
        self.needs_input_grad = any(getattr(t, "jacobian", False) for t in terms)

    def __call__(self, outs: Outs, target: Tensor, x: Tensor
                 ) -> tuple[Tensor, dict[str, Tensor]]:
        terms = {t.name: _live(t, t(outs, target, x)) for t in self.terms}
        values = list(terms.values())  # empty where a head's xent is the whole loss
        loss = values[0] if values else outs[0].new_zeros((), dtype=torch.float32)
        for value in values[1:]:
            loss = loss + value
        return loss, terms

    def measures(self, outs: Outs) -> dict[str, Tensor]:
        """Numbers the terms' modules measure on a batch (a som's quantization and
        topographic errors), each a batch mean; empty for most models."""
        found: dict[str, Tensor] = {}
        for t in self.terms:
            if isinstance(t, OwnTerm):
                found.update(t.measures(outs))
        return found

    def per_example(self, outs: Outs, target: Tensor) -> Tensor:
        """Weighted sum of the reconstruction terms for each example, (B,)."""
        errors = [t.per_example(outs, target) for t in self.recon]
        return torch.stack(errors).sum(0)


# ---------------------------------------------------------------- from the IR


def build_objective(g: IR, built: dict[str, Any], slots: Slots) -> Objective:
    """The terms of the graph's `loss*` and `reg*` nodes, plus a KL term per latent, the
    terms ops compute themselves (vq) and the term of each op that adds its own on its input
    (a som's, an rbm's)."""
    params = nn.ParameterDict()
    # the schedules in the order the terms below take them: losses, latents, regularizers
    order = [*g.of_kind("loss"), *(nid for nid, _, _ in slots.latents), *g.of_kind("regularizer")]
    anneal = ScheduledWeights([s for n in order for _, s in g.nodes[n].schedules])
    lives = iter(Live(anneal, i) for i in range(len(anneal.schedules)))
    terms: list[Term] = [_recon_term(g, n, slots, params, lives) for n in g.of_kind("loss")]
    for nid, mu, logvar in slots.latents:
        args = g.nodes[nid].args
        if args.iw > 1:  # the checks let through one reconstruction term, a likelihood
            assert slots.draws is not None and len(terms) == 1
            recon = terms[0]
            assert isinstance(recon, Recon)
            terms = [ImportanceWeighted("iwae", recon, built[nid].kl, args.iw, slots.draws, mu,
                                        logvar)]
            continue
        terms.append(_kl_term(g.nodes[nid], built[nid].kl, mu, logvar, lives))
    terms += [OpLoss(name, index) for name, index in slots.aux]
    for nid, source in term_inputs(g):
        name = registered("layer", g.nodes[nid].op)[0].adds_term
        terms.append(OwnTerm(str(name), built[nid], slots.nodes[source]))
    terms += [_regularizer_term(g, n, built, slots, lives) for n in g.of_kind("regularizer")]
    terms = _unique_names(terms)
    anneal.names = [t.name for t in terms if getattr(t, "live", None) is not None]
    return Objective(terms, params, anneal if anneal.schedules else None)


def _kl_term(d: Any, kl: Callable[[Tensor, Tensor], Tensor], mu: int, logvar: int,
             lives: Iterator[Live]) -> KL:
    schedule = dict(d.schedules).get("beta")
    if schedule is None:
        return KL(_weighted("kl", d.args.beta), d.args.beta, kl, mu, logvar)
    return KL(weight_name(schedule.kind, "kl"), 1.0, kl, mu, logvar, next(lives))


def _recon_term(g: IR, nid: str, slots: Slots, params: nn.ParameterDict,
                lives: Iterator[Live]) -> Recon:
    d = g.nodes[nid]
    opdef, build = registered("loss", d.op)
    logits = slots.logits if opdef.needs_unit_output else None
    pred = slots.x_hat if logits is None else logits
    reduce = d.args.reduce or ("sum" if slots.latents else "mean")
    loss = build(d.args, logits is not None)
    owned = []
    for arg, (shape, init) in owned_params(opdef, d.args, d.input_shape()).items():
        params[f"{nid}_{arg}"] = nn.Parameter(torch.full(shape, float(init)))
        owned.append((arg, f"{nid}_{arg}"))
    if d.schedules:  # the weight is a schedule
        return Recon(weight_name(d.schedules[0][1].kind, d.op), 1.0, loss, pred,
                     reduce == "sum", tuple(owned), params if owned else None, g.masked,
                     next(lives))
    return Recon(_weighted(d.op, d.weight), d.weight, loss, pred, reduce == "sum",
                 tuple(owned), params if owned else None, g.masked)


def _regularizer_term(g: IR, nid: str, built: dict[str, Any], slots: Slots,
                      lives: Iterator[Live]) -> WeightPenalty | ActivityPenalty:
    d = g.nodes[nid]
    opdef, build = registered("regularizer", d.op)
    name = f"{d.op}[{d.target}]" if d.target else d.op
    live = next(lives) if d.schedules else None  # then the penalty is built at weight 1
    penalty = build(d.args.model_copy(update={"weight": 1.0}) if live else d.args)
    if opdef.acts_on == "weights":
        return WeightPenalty(name, penalty, weight_refs([built[t] for t in d.targets]), live)
    return ActivityPenalty(name, penalty, slots.nodes[d.targets[0]], opdef.jacobian, live)


def generative_ops(g: IR) -> list[str]:
    """The nodes whose op draws examples itself (an rbm's Gibbs chains): `sample` uses it."""
    return [nid for nid in g.order
            if g.nodes[nid].place == "layer" and get_op("layer", g.nodes[nid].op).generative]


def weight_refs(modules: list[nn.Module]) -> tuple[tuple[nn.Module, str], ...]:
    """(module, name) of every weight of `modules`: parameters with two or more dimensions
    (dense matrices, conv kernels), never biases or normalization scales; each once."""
    refs, seen = [], set()
    for module in modules:
        for m in module.modules():
            for name, p in m.named_parameters(recurse=False):
                if p.ndim >= 2 and id(p) not in seen:
                    seen.add(id(p))
                    refs.append((m, name))
    return tuple(refs)


def _weighted(name: str, weight: float) -> str:
    return name if weight == 1 else f"{weight:g}*{name}"


def _unique_names(terms: list[Term]) -> list[Term]:
    seen: dict[str, int] = {}
    out: list[Term] = []
    for t in terms:
        seen[t.name] = seen.get(t.name, 0) + 1
        out.append(t if seen[t.name] == 1 else replace(t, name=f"{t.name}#{seen[t.name]}"))
    return out
