"""Gradient clipping (`train { clip norm(max) }`, `clip value(max)`) and the gradients'
total norm that `train { log grad_norm }` adds to the metrics.

Both act on the gradients of a step after its backward pass: under DDP that is after the
gradients' all-reduce (DDP averages them during backward), so every rank clips the same
gradients alike; under the fp16 grad scaler the loop unscales them first, so `max` is in
the units of the true gradients (as Lightning's `gradient_clip_val` is).
"""

from __future__ import annotations

from typing import Any

import torch


def clip_gradients(params: list[torch.Tensor], clip: Any, measure: bool
                   ) -> torch.Tensor | None:
    """Clip the gradients of `params` as `clip` (a `train.clip` OpChoice, or None) says;
    the total L2 norm before clipping (0-d, float32) where `measure`, else None."""
    norm = None
    if clip is not None and clip.name == "norm":
        norm = torch.nn.utils.clip_grad_norm_(params, clip.args.max)
    elif measure:
        grads = [p.grad for p in params if p.grad is not None]
        norm = torch.nn.utils.get_total_norm(grads) if grads else torch.zeros(())
    if clip is not None and clip.name == "value":
        torch.nn.utils.clip_grad_value_(params, clip.args.max)
    return norm.float() if measure and norm is not None else None


def add_norm(stats: torch.Tensor | None, norm: torch.Tensor) -> torch.Tensor:
    """The epoch's running (sum, max, count) of the finite norms, with one more; a
    skipped fp16 step's infinite norm is left out. No device sync."""
    finite = torch.isfinite(norm)
    value = torch.where(finite, norm, torch.zeros_like(norm))
    one = torch.stack([value, value, finite.float()])
    if stats is None:
        return one
    return torch.stack([stats[0] + value, torch.maximum(stats[1], value), stats[2] + one[2]])


def norm_record(stats: torch.Tensor | None) -> dict[str, float] | None:
    """`{"mean": ..., "max": ...}` of an epoch's norms, or None where none was finite."""
    if stats is None:
        return None
    total, top, count = stats.tolist()
    return {"mean": total / count, "max": top} if count else None
