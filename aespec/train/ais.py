"""An rbm's log-likelihood by annealed importance sampling (Salakhutdinov and Murray, 2008).

p(v) = exp(-F(v)) / Z: the free energy F is exact, the partition function Z is not (a sum
over 2^(visible + hidden) states).  AIS estimates it by walking K chains from a base
model A, whose Z_A is known, to the RBM B through the distributions

    p_β(v) ∝ exp(-(1 - β) E_A(v)) · sum_h exp(-β E_B(v, h)),   0 = β_0 < ... < β_T = 1

each chain's importance weight the product of p*_{β_t}(v_t) / p*_{β_{t-1}}(v_t), v_t
moved by one Gibbs step that leaves p_{β_t} invariant; Z_B / Z_A is the weights' mean.
The base model has the data's marginals (visible biases fitted to the data's mean, no
weights), so the chains start near the data:

| visible units | base model A | log Z_A |
|---|---|---|
| bernoulli | independent Bernoulli, p_i = the data's mean of v_i | sum_i softplus(a_i) + H log 2 |
| gaussian | N(a, I), a = the data's mean | D/2 log 2π + H log 2 |

(H hidden units, their base factor sum_h 1 = 2^H; D visible units.)  The estimate of log Z
is unbiased in Z, so it tends to fall short of log Z (Jensen): -log p(v) then tends to be
underestimated, more so with few chains or betas.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from aespec.train.batches import Split
from aespec.train.evaluate import EVAL_BATCH, NLL

BETAS = 10_000  # intermediate distributions: Salakhutdinov and Murray use 14,500
MEAN_CLIP = 1e-3  # the base rates are kept inside [clip, 1 - clip]: finite biases


@dataclass(frozen=True)
class PartitionEstimate:
    """log Z from `chains` AIS runs of `betas` steps: `log_z`, and `se`, its standard error
    by the delta method (sd of the weights over their mean, over sqrt(chains))."""

    log_z: float
    se: float
    chains: int
    betas: int


def rbm_of(model: Any) -> Any:
    """The model's rbm module (the node that samples by Gibbs), or None."""
    name = getattr(getattr(model, "info", None), "sampler", None)
    return None if name is None else model.net.get_submodule(name)


def log_partition(rbm: Any, base_mean: torch.Tensor, chains: int, betas: int = BETAS,
                  seed: int = 0) -> PartitionEstimate:
    """AIS estimate of the rbm's log Z from `chains` chains and `betas` steps, linearly
    spaced in β; the base model's visible means are `base_mean` (D,).  Draws from a CPU
    generator seeded with `seed`: a seed gives the same figure on any device."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        w, c, b = (p.detach().double().cpu() for p in
                   (rbm.weight, rbm.hidden_bias, rbm.visible_bias))
        base = _Base(base_mean.detach().double().cpu(), rbm.gaussian, w.shape[0])
        v = base.draw(chains, gen)
        log_w = torch.zeros(chains, dtype=torch.float64)
        grid = torch.linspace(0, 1, betas + 1, dtype=torch.float64).tolist()
        for before, beta in zip(grid[:-1], grid[1:], strict=True):
            log_w += _log_star(v, beta, w, c, b, base) - _log_star(v, before, w, c, b, base)
            v = _gibbs(v, beta, w, c, b, base, gen)
    log_mean = (torch.logsumexp(log_w, 0) - math.log(chains)).item()
    ratio = torch.exp(log_w - log_w.max())
    se = (ratio.std() / ratio.mean()).item() / chains ** 0.5 if chains > 1 else float("inf")
    return PartitionEstimate(base.log_z + log_mean, se, chains, betas)


class _Base:
    """Model A: visible units with the data's means, hidden units without weights."""

    def __init__(self, mean: torch.Tensor, gaussian: bool, hidden: int) -> None:
        self.gaussian = gaussian
        if gaussian:
            self.bias = mean  # N(a, I)
            self.log_z = 0.5 * len(mean) * math.log(2 * math.pi) + hidden * math.log(2)
        else:
            p = mean.clamp(MEAN_CLIP, 1 - MEAN_CLIP)
            self.bias = torch.log(p) - torch.log1p(-p)  # logits a_i
            self.log_z = nn.functional.softplus(self.bias).sum().item() + hidden * math.log(2)

    def draw(self, n: int, gen: torch.Generator) -> torch.Tensor:
        shape = (n, len(self.bias))
        if self.gaussian:
            return self.bias + torch.randn(shape, generator=gen, dtype=torch.float64)
        p = torch.sigmoid(self.bias).expand(shape)
        return torch.bernoulli(p, generator=gen)

    def log_star(self, v: torch.Tensor) -> torch.Tensor:
        """-E_A(v), unnormalized, (n,)."""
        if self.gaussian:
            return -0.5 * (v - self.bias).square().sum(1)
        return v @ self.bias


def _log_star(v: torch.Tensor, beta: float, w: torch.Tensor, c: torch.Tensor,
              b: torch.Tensor, base: _Base) -> torch.Tensor:
    """log p*_β(v) = (1 - β)(-E_A(v)) + log sum_h exp(-β E_B(v, h)), (n,)."""
    hidden = nn.functional.softplus(beta * (v @ w.t() + c)).sum(1)
    visible = -0.5 * (v - b).square().sum(1) if base.gaussian else v @ b
    return (1 - beta) * base.log_star(v) + beta * visible + hidden


def _gibbs(v: torch.Tensor, beta: float, w: torch.Tensor, c: torch.Tensor,
           b: torch.Tensor, base: _Base, gen: torch.Generator) -> torch.Tensor:
    """One step h ~ p_β(h|v), v ~ p_β(v|h): it leaves p_β invariant."""
    h = torch.bernoulli(torch.sigmoid(beta * (v @ w.t() + c)), generator=gen)
    drive = (1 - beta) * base.bias + beta * (h @ w + b)
    if base.gaussian:  # the mixed quadratic keeps unit precision
        return drive + torch.randn(drive.shape, generator=gen, dtype=torch.float64)
    return torch.bernoulli(torch.sigmoid(drive), generator=gen)


def exact_log_partition(rbm: Any) -> float:
    """log Z by enumeration, for tests and tiny models: over the visible states (Bernoulli
    units), or over the hidden states, each one's Gaussian integral in closed form,
    ∫ exp(-|v - b|²/2 + u.v) dv = (2π)^(D/2) exp(u.b + |u|²/2), u = W^T h."""
    w, c, b = (p.detach().double().cpu() for p in
               (rbm.weight, rbm.hidden_bias, rbm.visible_bias))
    hidden, visible = int(w.shape[0]), int(w.shape[1])
    if rbm.gaussian:
        h = _all_states(hidden)
        u = h @ w
        terms = h @ c + u @ b + 0.5 * u.square().sum(1)
        return float(torch.logsumexp(terms, 0)) + 0.5 * visible * math.log(2 * math.pi)
    v = _all_states(visible)
    terms = v @ b + nn.functional.softplus(v @ w.t() + c).sum(1)
    return float(torch.logsumexp(terms, 0))


def _all_states(n: int) -> torch.Tensor:
    """(2^n, n): every binary vector of n units."""
    codes = torch.arange(2 ** n).unsqueeze(1)
    return ((codes >> torch.arange(n)) & 1).double()


def ais_nll(model: Any, split: Split, train_x: torch.Tensor, chains: int, seed: int = 0,
            betas: int = BETAS,
            progress: Callable[[int, int, float], None] | None = None) -> NLL:
    """-log p(v) = F(v) + log Z of each example of the split, log Z by AIS from `chains`
    chains whose base model has the means of the rbm's inputs on `train_x`; v is what the
    rbm reads (the input itself where the encoder only flattens it).  Its `se` adds the
    examples' spread and log Z's."""
    rbm = rbm_of(model)
    assert rbm is not None, "ais_nll needs a model with an rbm"
    base_mean = _visible_of(model, rbm, train_x).double().mean(0)
    z = log_partition(rbm, base_mean, chains, betas, seed)
    found = []
    for xb, _ in split.slices(EVAL_BATCH):
        v = _visible_of(model, rbm, xb)
        with torch.no_grad():
            found.append(rbm.free_energy(v.to(rbm.weight.dtype)).double().cpu() + z.log_z)
        if progress is not None:
            done = torch.cat(found)
            progress(len(done), len(split), done.mean().item())
    values = torch.cat(found)
    spread = values.std().item() / len(values) ** 0.5 if len(values) > 1 else 0.0
    return NLL(chains, seed, values.mean().item(), math.hypot(spread, z.se), values.float(),
               partition=z)


def _visible_of(model: Any, rbm: Any, x: torch.Tensor) -> torch.Tensor:
    """(N, D) the rbm's inputs for examples x: caught by a hook while the model encodes."""
    seen: list[torch.Tensor] = []
    handle = rbm.register_forward_hook(lambda m, args, out: seen.append(args[0].flatten(1)))
    try:
        with torch.no_grad():
            for i in range(0, len(x), EVAL_BATCH):
                model.encode(x[i:i + EVAL_BATCH])
    finally:
        handle.remove()
    return torch.cat(seen).detach()
