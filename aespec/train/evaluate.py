"""Evaluation of a trained model over a split: mean loss by term, errors, codes, draws."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from aespec.train.batches import Split

EVAL_BATCH = 1024  # evaluation holds no gradients, so it takes larger batches


def evaluate(model: Any, split: Split, autocast: Any = contextlib.nullcontext) -> dict[str, float]:
    """`{"loss": ..., TERM: ...}`: each weighted term's mean over the split, in eval mode."""
    model.eval()
    sums: torch.Tensor | None = None
    names: tuple[str, ...] = ()
    with torch.no_grad():  # the model turns autograd back on for a contractive penalty
        for xb, yb in split.slices(EVAL_BATCH):
            with autocast():
                out = model(xb) if yb is None else model(xb, target=yb)
            names = tuple(out.terms)
            vals = torch.stack([out.loss.detach().float(),
                                *(t.detach().float() for t in out.terms.values())]) * len(xb)
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



@contextlib.contextmanager
def counting_codes(model: Any) -> Iterator[dict[str, dict[str, float]]]:
    """Counts the codes each vq node of `model` chooses while the block runs (an
    `evaluate` of the test split); the dict yielded is filled when the block ends: for each
    vq node `codes`, `used` (codes chosen at least once), `usage` (used / codes) and
    `perplexity` (exp of the entropy of the codes' frequencies: `codes` when all are used
    equally, 1 when one code takes all).  Empty without vq."""
    from aespec.ops.modules import VectorQuantizer

    quantizers = {nid: m for nid, m in model.net.named_children()
                  if isinstance(m, VectorQuantizer)}
    counts = {nid: torch.zeros(len(m.codebook), dtype=torch.long) for nid, m in
              quantizers.items()}

    def hook(nid: str) -> Any:
        def count(m: Any, args: tuple[torch.Tensor, ...], out: Any) -> None:
            counts[nid] += torch.bincount(m.indices(args[0]).flatten().cpu(),
                                          minlength=len(counts[nid]))
        return count

    handles = [m.register_forward_hook(hook(nid)) for nid, m in quantizers.items()]
    stats: dict[str, dict[str, float]] = {}
    try:
        yield stats
    finally:
        for h in handles:
            h.remove()
    stats.update({nid: _usage(c) for nid, c in counts.items() if c.sum() > 0})


def _usage(counts: torch.Tensor) -> dict[str, float]:
    p = counts.double() / counts.sum()
    p = p[p > 0]
    used = int((counts > 0).sum())
    return {"codes": len(counts), "used": used, "usage": used / len(counts),
            "perplexity": float((-(p * p.log()).sum()).exp())}
