"""Reconstruction losses and regularizers (section 5)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from aespec.ops import Args, OpDef, register

Reduce = Optional[Literal["mean", "sum"]]


class LossArgs(Args):
    reduce: Reduce = None  # None: `sum` with a stochastic latent, else `mean`


class HuberArgs(LossArgs):
    delta: float = Field(1.0, gt=0)


def _loss(name: str, doc: str, formula: str, args: type[Args] = LossArgs,
          signature: str | None = None, **extra) -> None:
    register(OpDef(name, "loss", doc, args, place="loss", blocks=("loss",),
                   signature=signature or f"{name}(reduce=mean)",
                   extra={"formula": formula, **extra}))


_loss("mse", "mean squared error", "MSE(x, x̂)")
_loss("mae", "mean absolute error", "MAE(x, x̂)")
_loss("bce", "binary cross-entropy; needs a decoder output in [0, 1] (a decoder ending in "
      "`sigmoid` is compiled to the stable logits form)", "BCE(x, x̂)", needs_unit_output=True)
_loss("huber", "Huber loss, quadratic below `delta`", "Huber(x, x̂)", HuberArgs,
      "huber(delta=1.0, reduce=mean)")


class WeightArgs(Args):
    weight: float = Field(ge=0)


class KLSparsityArgs(Args):
    rho: float = Field(gt=0, lt=1)
    weight: float = Field(ge=0)


def _reg(name: str, doc: str, args: type[Args], signature: str, acts_on: str,
         formula: str, **extra) -> None:
    register(OpDef(name, "regularizer", doc, args, place="regularizer", blocks=("regularize",),
                   signature=signature,
                   extra={"acts_on": acts_on, "formula": formula, **extra}))


_reg("l2", "`weight * sum(w^2)` over the target's weights (not biases); default target: all "
     "layers", WeightArgs, "l2(weight)", "weights", "Σw²")
_reg("l1", "`weight * sum(|w|)` over the target's weights; default target: all layers",
     WeightArgs, "l1(weight)", "weights", "Σ|w|")
_reg("activity_l1", "`weight * mean over batch of sum(|h|)` of the target's output; default "
     "target: bottleneck", WeightArgs, "activity_l1(weight)", "activations", "E‖h‖₁")
_reg("kl_sparsity", "`weight * sum_j KL(rho || rho_hat_j)`, `rho_hat_j` the batch mean of unit "
     "j; needs outputs in (0, 1); default target: bottleneck", KLSparsityArgs,
     "kl_sparsity(rho, weight)", "activations", "Σⱼ KL(ρ ‖ ρ̂ⱼ)", needs_unit_interval=True)
_reg("contractive", "`weight * mean over batch of ||dh/dx||_F^2`, `h` the target's output; "
     "default target: bottleneck", WeightArgs, "contractive(weight)", "activations",
     "E‖∂h/∂x‖²_F", jacobian=True)
