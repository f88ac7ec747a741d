"""Reconstruction losses and regularizers (section 5)."""

from __future__ import annotations

from functools import partial
from typing import Literal, Optional

from pydantic import Field

from aespec.ops.registry import Args, OpDef, fmt_num, register

Reduce = Optional[Literal["mean", "sum"]]


class LossArgs(Args):
    reduce: Reduce = None  # None: `sum` with a stochastic latent, else `mean`


class HuberArgs(Args):
    # delta first, so `huber(0.5)` is delta=0.5 (as a subclass of LossArgs it was `reduce`)
    delta: float = Field(1.0, gt=0)
    reduce: Reduce = None


# A loss builder `build(args, logits)` returns the torch loss function
# `fn(prediction, target, reduction=...)`; the compiler picks the reduction (`reduce`) and
# weights it.  `logits=True` (only for ops with `needs_unit_output`) means the prediction is
# the pre-sigmoid tensor.


def _functional_loss(name: str, **fields: str):
    def build(a: Args, logits: bool = False):
        from torch.nn import functional  # noqa: TID251

        return partial(getattr(functional, name), **{k: getattr(a, f) for k, f in fields.items()})

    return build


def _build_bce(a: LossArgs, logits: bool = False):
    from torch.nn import functional  # noqa: TID251

    return functional.binary_cross_entropy_with_logits if logits else \
        functional.binary_cross_entropy


def _loss(name: str, doc: str, formula: str, args: type[Args] = LossArgs,
          signature: str | None = None, build=None, **extra) -> None:
    register(OpDef(name, "loss", doc, args, place="loss", blocks=("loss",),
                   signature=signature or f"{name}(reduce=mean)", build=build,
                   extra={"formula": formula, **extra}))


_loss("mse", "mean squared error", "MSE(x, x̂)", build=_functional_loss("mse_loss"))
_loss("mae", "mean absolute error", "MAE(x, x̂)", build=_functional_loss("l1_loss"))
_loss("bce", "binary cross-entropy; needs a decoder output in [0, 1] (a decoder ending in "
      "`sigmoid` is compiled to the stable logits form)", "BCE(x, x̂)", build=_build_bce,
      needs_unit_output=True)
_loss("huber", "Huber loss, quadratic below `delta`", "Huber(x, x̂)", HuberArgs,
      "huber(delta=1.0, reduce=mean)", build=_functional_loss("huber_loss", delta="delta"))


class WeightArgs(Args):
    weight: float = Field(ge=0)


class KLSparsityArgs(Args):
    rho: float = Field(gt=0, lt=1)
    weight: float = Field(ge=0)


# A regularizer builder `build(args)` returns its penalty, a scalar tensor of:
#   acts_on == "weights":     the target layers' weight tensors (a list; never biases)
#   acts_on == "activations": h, the target's output (B, ...), and with `jacobian`,
#                             also x, the encoder input h was computed from


def l2_penalty(weights: list, weight: float):
    return weight * sum(w.square().sum() for w in weights)


def l1_penalty(weights: list, weight: float):
    return weight * sum(w.abs().sum() for w in weights)


def activity_l1_penalty(h, weight: float):
    return weight * h.abs().sum() / h.shape[0]  # mean over the batch of sum(|h|)


def kl_sparsity_penalty(h, rho: float, weight: float, eps: float = 1e-6):
    """weight * sum_j KL(rho || rho_hat_j), rho_hat_j the batch mean of unit j."""
    rho_hat = h.flatten(1).mean(0).clamp(eps, 1 - eps)  # clamped only against log(0)
    kl = rho * (rho / rho_hat).log() + (1 - rho) * ((1 - rho) / (1 - rho_hat)).log()
    return weight * kl.sum()


def contractive_penalty(h, x, weight: float, budget: int = 1 << 24):
    """weight * mean over examples of ||dh/dx||_F^2, exactly: one vector-Jacobian product
    per unit of h, batched (vmap) over chunks of at most `budget` gradient values.

    h may hold L draws per example, stacked draw-major (L*B rows): each draw's Jacobian
    counts as its own, so the mean is over the L*B rows.  Summing each unit's output over
    the batch gives every example's own row of dh/dx as long as examples do not interact
    (true of every layer but batchnorm in training).
    """
    import torch  # noqa: TID251

    b, rows = x.shape[0], h.shape[0]
    units = h.numel() // b  # per example: L draws x units
    per_unit = h.reshape(rows // b, b, -1)  # (L, B, k)
    step = max(1, budget // x.numel())
    total = h.new_zeros(())
    for start in range(0, units, step):
        n = min(step, units - start)
        basis = torch.zeros(n, units, dtype=h.dtype, device=h.device)
        basis[:, start:start + n] = torch.eye(n, dtype=h.dtype, device=h.device)
        grads = basis.view(n, rows // b, 1, -1).expand(n, *per_unit.shape)  # (n, L, B, k)
        (jac,) = torch.autograd.grad(per_unit, x, grads, create_graph=True,
                                     is_grads_batched=True)  # (n, B, *x)
        total = total + jac.square().sum()
    return weight * total / rows


def _reg(name: str, doc: str, args: type[Args], signature: str, acts_on: str,
         formula: str, build=None, **extra) -> None:
    register(OpDef(name, "regularizer", doc, args, place="regularizer", blocks=("regularize",),
                   signature=signature, build=build,
                   extra={"acts_on": acts_on, "formula": formula, **extra}))


_reg("l2", "`weight * sum(w^2)` over the target's weights (not biases); default target: all "
     "layers", WeightArgs, "l2(weight)", "weights", "Σw²", is_weight_decay=True,
     build=lambda a: partial(l2_penalty, weight=a.weight))
_reg("l1", "`weight * sum(|w|)` over the target's weights; default target: all layers",
     WeightArgs, "l1(weight)", "weights", "Σ|w|",
     build=lambda a: partial(l1_penalty, weight=a.weight))
_reg("activity_l1", "`weight * mean over batch of sum(|h|)` of the target's output; default "
     "target: bottleneck", WeightArgs, "activity_l1(weight)", "activations", "E‖h‖₁",
     build=lambda a: partial(activity_l1_penalty, weight=a.weight))
_reg("kl_sparsity", "`weight * sum_j KL(rho || rho_hat_j)`, `rho_hat_j` the batch mean of unit "
     "j; needs outputs in (0, 1); default target: bottleneck", KLSparsityArgs,
     "kl_sparsity(rho, weight)", "activations", "Σⱼ KL(ρ ‖ ρ̂ⱼ)", needs_unit_interval=True,
     sparsity_target="rho", formula_of=lambda a: f"Σⱼ KL({fmt_num(a.rho)} ‖ ρ̂ⱼ)",
     build=lambda a: partial(kl_sparsity_penalty, rho=a.rho, weight=a.weight))
_reg("contractive", "`weight * mean over batch of ||dh/dx||_F^2`, `h` the target's output; "
     "default target: bottleneck", WeightArgs, "contractive(weight)", "activations",
     "E‖∂h/∂x‖²_F", jacobian=True,
     build=lambda a: partial(contractive_penalty, weight=a.weight))
