"""Evaluation of a trained model over a split: mean loss by term, errors, codes, draws."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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


ACTIVE_THRESHOLD = 0.01  # Burda et al. (2016): a unit whose mean moves less is inactive


def active_units(model: Any, split: Split) -> dict[str, Any] | None:
    """Burda et al.'s (2016) active units of a stochastic latent over the split: unit u is
    active when Cov_x(E_q[z_u | x]), the variance over the examples of its posterior mean,
    exceeds 0.01; a collapsed unit's q(z_u|x) is the prior for every x. `{"active": n,
    "dims": d, "threshold": 0.01, "variance": [...]}`; None without a stochastic latent."""
    slots = getattr(model, "slots", None)
    if slots is None or not slots.latents or len(split) < 2:
        return None
    model.eval()
    with torch.no_grad():
        mus = torch.cat([model.posterior(xb, yb if model.classes is not None else None)[0]
                         .double().flatten(1).cpu() for xb, yb in split.slices(EVAL_BATCH)])
    variance = mus.var(0)
    return {"active": int((variance > ACTIVE_THRESHOLD).sum()), "dims": len(variance),
            "threshold": ACTIVE_THRESHOLD, "variance": [round(v, 6) for v in variance.tolist()]}


def all_finite(values: dict[str, float]) -> bool:
    return all(v == v and abs(v) != float("inf") for v in values.values())


# ---------------------------------------------------------------- importance-sampled NLL

NLL_ROWS = 8192  # decoder rows per pass: K draws of a few examples, or a chunk of K


@dataclass(frozen=True)
class NLL:
    """-log p(x) estimated with `draws` importance samples from q(z|x), in nats per
    example: `mean` over the split, its standard error `se` over the examples, and each
    example's estimate (`per_example`, on the CPU).  An rbm's (aespec.train.ais) comes
    from `draws` AIS chains instead, its log Z in `partition`."""

    draws: int
    seed: int
    mean: float
    se: float
    per_example: torch.Tensor
    partition: Any = None


def importance_nll(model: Any, split: Split, draws: int, seed: int = 0,
                   progress: Callable[[int, int, float], None] | None = None) -> NLL:
    """-log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x), of each example of the
    split (Burda et al., 2016): K = 1 is the ELBO, and it tightens to -log p(x) as K grows.

    The draws come from a CPU generator seeded with `seed`, in a fixed order, so a seed
    gives the same figure on any device; they are taken `NLL_ROWS` decoder rows at a time
    and combined by a running logsumexp, so K = 5000 fits in memory.  `progress(done,
    total, mean so far)` is called after each batch of examples.
    """
    model.eval()
    per_batch = max(1, NLL_ROWS // draws)
    generator = torch.Generator().manual_seed(seed)
    found: list[torch.Tensor] = []
    with torch.no_grad():
        for xb, yb in split.slices(per_batch):
            found.append(_example_nll(model, xb, yb, draws, generator))
            if progress is not None:
                done = torch.cat(found)
                progress(len(done), len(split), done.mean().item())
    values = torch.cat(found).double()
    se = values.std().item() / len(values) ** 0.5 if len(values) > 1 else 0.0
    return NLL(draws, seed, values.mean().item(), se, values.float())


def _example_nll(model: Any, xb: torch.Tensor, yb: torch.Tensor | None, draws: int,
                 generator: torch.Generator) -> torch.Tensor:
    """(B,) estimates of -log p(x), the K draws taken in chunks of at most NLL_ROWS rows."""
    labels, target = (yb, xb) if model.classes is not None else (None, xb if yb is None else yb)
    if getattr(model, "head", None) is not None:  # its yb holds a head's labels
        target = xb
    mu, logvar = model.posterior(xb, labels)
    chunk = max(1, NLL_ROWS // len(xb))
    parts = []
    for start in range(0, draws, chunk):
        k = min(chunk, draws - start)
        eps = torch.randn((k, *mu.shape), generator=generator).to(mu.device, mu.dtype)
        log_w = model.log_weights(target, mu, logvar, eps, labels)  # (k, B)
        parts.append(torch.logsumexp(log_w.double(), 0))
    total = torch.logsumexp(torch.stack(parts), 0)
    return (math.log(draws) - total).float().cpu()


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
