"""Evaluation of a trained model over a split: mean loss by term, errors, codes, draws."""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from aespec.train.batches import Split

EVAL_BATCH = 1024  # evaluation holds no gradients, so it takes larger batches


def evaluate(model: Any, split: Split, autocast: Any = contextlib.nullcontext) -> dict[str, float]:
    """`{"loss": ..., TERM: ...}`: each weighted term's mean over the split, in eval mode,
    then each of the model's measures (a som's quantization and topographic errors)."""
    model.eval()
    sums: torch.Tensor | None = None
    names: tuple[str, ...] = ()
    with torch.no_grad():  # the model turns autograd back on for a contractive penalty
        for xb, yb in split.slices(EVAL_BATCH):
            with autocast():
                out = model(xb) if yb is None else model(xb, target=yb)
            names = (*out.terms, *out.measures)
            vals = torch.stack([out.loss.detach().float(),
                                *(t.detach().float() for t in out.terms.values()),
                                *(m.detach().float() for m in out.measures.values())]) * len(xb)
            sums = vals if sums is None else sums + vals
    assert sums is not None
    return dict(zip(("loss", *names), (sums / len(split)).tolist(), strict=True))


def recon_errors(model: Any, split: Split) -> torch.Tensor:
    """(N,) per-example reconstruction error, in eval mode."""
    model.eval()
    with torch.no_grad():
        return torch.cat([model.recon_error(xb, yb).float().cpu()
                          for xb, yb in split.slices(EVAL_BATCH)])


def encode(model: Any, x: torch.Tensor) -> torch.Tensor:
    """(N, *z) codes in eval mode (a stochastic latent gives its mean)."""
    model.eval()
    with torch.no_grad():
        return torch.cat([model.encode(x[i:i + EVAL_BATCH]).float().cpu()
                          for i in range(0, len(x), EVAL_BATCH)])


def decode(model: Any, z: torch.Tensor) -> torch.Tensor:
    """(N, *output) reconstructions of codes z in eval mode; the model raises its own
    diagnostic (E311) when its decoder cannot run from a code alone."""
    model.eval()
    with torch.no_grad():
        return torch.cat([model.decode(z[i:i + EVAL_BATCH]).float().cpu()
                          for i in range(0, len(z), EVAL_BATCH)])


def all_finite(values: dict[str, float]) -> bool:
    return all(v == v and abs(v) != float("inf") for v in values.values())
