"""The parameters of several runs of one model, stacked, and how each step updates them.

Two ways, chosen by the runs' optimizer's entry (`flat`, aespec/ops/optimizers.py):

- `FlatAdam` (adam, adamw: `flat` set): every run's parameters side by side in one flat (runs, N)
  leaf tensor, the model's tensors views of it, and torch's own Adam update
  (`torch.optim.adam.adam`, what torch.optim.Adam and AdamW step with) over it: one call
  for the runs that share a learning rate and weight decay (a seed sweep: one call in
  all), one per value otherwise, fused where a run alone is fused (train/optim.py).
  The update is elementwise, so each run's is its own run's. Each run's moments go back
  into its own torch optimizer at each epoch's end, so its checkpoint is an ordinary
  run's.
- `PerRun` (any optimizer): the runs' own parameters stacked afresh at each step (kept
  differentiable, so each run's own tensors get their gradients) and each run's own
  optimizer stepping them.

Both are rebuilt from the runs' own models at each epoch's start and written back at its
end, so a run that stops early simply leaves the stack.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.adam import adam

from aespec.ops.optimizers import OPTIMIZERS

EPS = 1e-8


class PerRun:
    """Each run's own parameters and optimizer; the stacked tensors made at each step."""

    def __init__(self, trainers: list[Any]):
        self.trainers = trainers
        self.named = [dict(t.model.named_parameters()) for t in trainers]

    def params(self) -> dict[str, torch.Tensor]:
        return {k: torch.stack([p[k] for p in self.named]) for k in self.named[0]}

    def zero_grad(self) -> None:
        for t in self.trainers:
            t.opt.zero_grad(set_to_none=True)

    def step(self) -> None:
        for t in self.trainers:
            t.opt.step()

    def write_back(self) -> None:
        """Nothing to do: the runs' own tensors were updated in place."""


class FlatAdam:
    """Adam (or AdamW) over one flat (runs, N) tensor, each run's lr and weight decay."""

    def __init__(self, trainers: list[Any], decoupled: bool):
        self.trainers, self.decoupled = trainers, decoupled
        first = dict(trainers[0].model.named_parameters())
        self.shapes = {k: p.shape for k, p in first.items()}
        self.sizes = [p.numel() for p in first.values()]
        own = [list(t.model.parameters()) for t in trainers]
        self.flat = torch.stack([_flatten(ps) for ps in own]).requires_grad_()  # (runs, N)
        self.exp_avg, self.exp_avg_sq, self.steps = self._moments(own)
        group = [t.opt.param_groups[0] for t in trainers]
        device = self.flat.device
        self.fused = bool(group[0].get("fused"))
        classes: dict[tuple[float, float, tuple[float, float]], list[int]] = {}
        for i, g in enumerate(group):
            classes.setdefault((g["lr"], g["weight_decay"], tuple(g["betas"])), []).append(i)
        self.classes = list(classes.items())
        # where torch.optim.Adam keeps `step`: on the parameters' device when fused
        where = device if self.fused else torch.device("cpu")
        self.step_t = [torch.tensor(float(self.steps), device=where) for _ in trainers]

    def _moments(self, own: list[list[torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor, int]:
        """The runs' Adam moments (zeros before their first step) and their step count."""
        avg, sq, steps = [], [], set()
        for t, ps in zip(self.trainers, own, strict=True):
            states = [t.opt.state.get(p, {}) for p in ps]
            steps.add(int(states[0]["step"]) if states[0] else 0)
            avg.append(_flatten([s.get("exp_avg", torch.zeros_like(p))
                                 for s, p in zip(states, ps, strict=True)]))
            sq.append(_flatten([s.get("exp_avg_sq", torch.zeros_like(p))
                                for s, p in zip(states, ps, strict=True)]))
        assert len(steps) == 1, "the runs of a batched group step together"
        return torch.stack(avg), torch.stack(sq), steps.pop()

    def params(self) -> dict[str, torch.Tensor]:
        """Each parameter as a (runs, *shape) view of the flat tensor."""
        parts = self.flat.split(self.sizes, dim=1)
        n = len(self.trainers)
        return {k: part.view(n, *shape) for (k, shape), part in
                zip(self.shapes.items(), parts, strict=True)}

    def zero_grad(self) -> None:
        self.flat.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """torch's Adam update, once for each (lr, weight decay, betas) the runs have."""
        self.steps += 1
        g = self.flat.grad
        assert g is not None
        everything = len(self.classes) == 1
        for (lr, wd, (beta1, beta2)), rows in self.classes:
            parts = [(self.flat, g, self.exp_avg, self.exp_avg_sq)] if everything else [
                (self.flat[i], g[i], self.exp_avg[i], self.exp_avg_sq[i]) for i in rows]
            steps = self.step_t[:1] if everything else [self.step_t[i] for i in rows]
            params, grads, avgs, sqs = (list(x) for x in zip(*parts, strict=True))
            adam(params, grads, avgs, sqs, [], steps, fused=self.fused or None,
                 decoupled_weight_decay=self.decoupled, amsgrad=False, beta1=beta1,
                 beta2=beta2, lr=lr, weight_decay=wd, eps=EPS, maximize=False)

    @torch.no_grad()
    def write_back(self) -> None:
        """Each run's row into its own model and its own optimizer's state, as
        torch.optim.Adam keeps it (so its checkpoint resumes as an ordinary run)."""
        for i, t in enumerate(self.trainers):
            t.opt._opt_called = True  # it did step, through us: no warning from its schedule
            ps = list(t.model.parameters())
            for p, w, m, v in zip(ps, *(_unflatten(x[i], ps) for x in
                                        (self.flat, self.exp_avg, self.exp_avg_sq)),
                                  strict=True):
                p.copy_(w)
                t.opt.state[p] = {"step": torch.tensor(float(self.steps),
                                                      device=self.step_t[0].device),
                                  "exp_avg": m.clone(), "exp_avg_sq": v.clone()}


def _flatten(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1) for t in tensors])


def _unflatten(row: torch.Tensor, like: list[torch.Tensor]) -> list[torch.Tensor]:
    return [part.view_as(p) for part, p in
            zip(row.split([p.numel() for p in like]), like, strict=True)]


def stack(trainers: list[Any], optimizer: str) -> FlatAdam | PerRun:
    """The stacked parameters for these runs' epoch: FlatAdam where the optimizer's entry
    says it is Adam's update (adam, adamw), each run's own optimizer otherwise."""
    flat = OPTIMIZERS[optimizer].flat
    if flat is not None:
        return FlatAdam(trainers, decoupled=flat == "decoupled")
    return PerRun(trainers)
