"""Reconstruction losses and regularizers (section 5)."""

from __future__ import annotations

import math
from functools import partial
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import Field, model_validator

from aespec.ops import likelihood
from aespec.ops.emitting import LossRule, PenaltyRule, Term, lit
from aespec.ops.registry import Args, OpDef, Shape, fmt_num, fmt_value, register

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
# the pre-sigmoid tensor.  A loss with parameters of its own (`owned_params`) is also
# passed each of them by name: `fn(prediction, target, reduction=..., log_var=tensor)`.


def _functional_loss(name: str, **fields: str):
    def build(a: Args, logits: bool = False):
        from torch.nn import functional  # noqa: TID251

        return partial(getattr(functional, name), **{k: getattr(a, f) for k, f in fields.items()})

    return build


def _build_bce(a: LossArgs, logits: bool = False):
    from torch.nn import functional  # noqa: TID251

    return functional.binary_cross_entropy_with_logits if logits else \
        functional.binary_cross_entropy


# Emit rules: the term as the emitted loss function writes it (`aespec.ops.emitting`).


def _emit_functional(fn: str, **fields: str) -> LossRule:
    def rule(a: Any, nid: str, pred: str, target: str, logits: bool, reduction: str,
             shape: Shape) -> Term:
        extra = "".join(f", {k}={lit(getattr(a, f))}" for k, f in fields.items())
        return Term(f'F.{fn}({pred}, {target}{extra}, reduction="{reduction}")')

    return rule


def _emit_bce(a: Any, nid: str, pred: str, target: str, logits: bool, reduction: str,
              shape: Shape) -> Term:
    fn = "binary_cross_entropy_with_logits" if logits else "binary_cross_entropy"
    return Term(f'F.{fn}({pred}, {target}, reduction="{reduction}")')


_ALIASES = {"mse": ("mean_squared_error", "l2", "mse_loss"), "mae": ("mean_absolute_error", "l1"),
            "bce": ("binary_crossentropy", "binary_cross_entropy", "bce_loss", "crossentropy",
                    "cross_entropy", "bce_with_logits"),
            "huber": ("smooth_l1",)}


def _loss(name: str, doc: str, formula: str, build, emit: LossRule,
          args: type[Args] = LossArgs, signature: str | None = None,
          needs_unit_output: bool = False, reading: Any = None) -> None:
    register(OpDef(name, "loss", doc, args, place="loss", blocks=("loss",),
                   signature=signature or f"{name}(reduce=mean)", build=build,
                   formula=formula, needs_unit_output=needs_unit_output, emit_term=emit,
                   aliases=_ALIASES.get(name, ()), likelihood=reading))


def _functional(fn: str, **fields: str) -> tuple[Any, LossRule]:
    """The builder and the emit rule of `torch.nn.functional.FN`."""
    return _functional_loss(fn, **fields), _emit_functional(fn, **fields)


_loss("mse", "mean squared error", "MSE(x, x̂)", *_functional("mse_loss"),
      reading=likelihood.gaussian_of_mse)
_loss("mae", "mean absolute error", "MAE(x, x̂)", *_functional("l1_loss"),
      reading=likelihood.laplace_of_mae)
_loss("bce", "binary cross-entropy; needs a decoder output in [0, 1] (a decoder ending in "
      "`sigmoid` is compiled to the stable logits form)", "BCE(x, x̂)", _build_bce, _emit_bce,
      needs_unit_output=True, reading=likelihood.bernoulli)
_loss("huber", "Huber loss, quadratic below `delta`", "Huber(x, x̂)",
      *_functional("huber_loss", delta="delta"), HuberArgs, "huber(delta=1.0, reduce=mean)")


# ---------------------------------------------------------------- gaussian_nll

# A pixel that never changes (the digits' borders) would drive its learned variance to 0
# and the loss to minus infinity; this floor keeps sigma >= 0.03, well below the
# spread of any value that varies.
MIN_VAR = 1e-3


class GaussianNLLArgs(Args):
    """`var=learned`: one learned variance per output value, sigma^2 = exp(log_var) +
    min_var, log_var starting at 0; or a fixed variance `var=0.1`."""

    var: Union[Literal["learned"], Annotated[float, Field(gt=0, allow_inf_nan=False)]] = \
        "learned"
    min_var: Optional[Annotated[float, Field(gt=0, allow_inf_nan=False)]] = None
    reduce: Reduce = None

    @model_validator(mode="after")
    def _floor_of_learned(self) -> GaussianNLLArgs:
        if self.min_var is not None and self.var != "learned":
            raise ValueError("min_var is the floor of a learned variance: write it with "
                             "var=learned, or leave it out")
        return self

    @property
    def floor(self) -> float:
        """The learned variance's floor: the `min_var` written, else MIN_VAR."""
        return MIN_VAR if self.min_var is None else self.min_var


def _build_gaussian_nll(a: GaussianNLLArgs, logits: bool = False):
    """`gaussian_nll` of portable.py (the emitted file's too): var fixed, or learned."""
    from aespec.ops.portable import gaussian_nll

    if a.var == "learned":
        return partial(gaussian_nll, min_var=a.floor)
    return partial(gaussian_nll, var=a.var)


def _gaussian_owned(a: GaussianNLLArgs, shape: Shape) -> dict[str, tuple[Shape, float]]:
    """The parameters the term owns: name -> (shape, initial value)."""
    return {"log_var": (tuple(shape), 0.0)} if a.var == "learned" else {}


def _gaussian_formula(a: GaussianNLLArgs) -> str:
    if a.var != "learned":
        return f"GaussianNLL(x, x̂, σ² = {fmt_value(a.var)})"
    return f"GaussianNLL(x, x̂, σ² ≥ {fmt_value(a.floor)} learned per value)"


def owned_params(op: OpDef, a: Args, shape: Shape) -> dict[str, tuple[Shape, float]]:
    """The parameters a loss term owns (a learned variance), by name: (shape, initial
    value); `shape` is the decoder output's."""
    return op.owned_params(a, shape) if op.owned_params else {}


def _emit_gaussian_nll(a: Any, nid: str, pred: str, target: str, logits: bool,
                       reduction: str, shape: Shape) -> Term:
    if a.var != "learned":
        return Term(f'gaussian_nll({pred}, {target}, "{reduction}", var={lit(float(a.var))})',
                    helpers=("gaussian_nll",))
    attr = f"{nid}_log_var"
    owned = ((attr, f"nn.Parameter(torch.zeros{lit(tuple(shape))})",
              f"objective_params.{attr}"),)
    return Term(f'gaussian_nll({pred}, {target}, "{reduction}", log_var=model.{attr}, '
                f"min_var={lit(a.floor)})", owned, ("gaussian_nll",))


register(OpDef(
    "gaussian_nll", "loss", "Gaussian negative log-likelihood "
    "`0.5 * (log 2π + log σ² + (x - x̂)² / σ²)` per value: the decoder gives the mean x̂; "
    "`var=learned` learns one variance per output value (σ² = exp(s) + `min_var`, s "
    "starting at 0, default floor 0.001), a number fixes it", GaussianNLLArgs,
    place="loss", blocks=("loss",), signature="gaussian_nll(var=learned, min_var=0.001, "
    "reduce=mean)", build=_build_gaussian_nll,
    params=lambda a, s: sum(math.prod(shape) for shape, _ in _gaussian_owned(a, s).values()),
    params_doc="one per output value with `var=learned`, else 0",
    formula="GaussianNLL(x, x̂, σ²)", formula_of=_gaussian_formula,
    owned_params=_gaussian_owned, emit_term=_emit_gaussian_nll, aliases=("gaussian",),
    likelihood=likelihood.gaussian_of_nll))


class WeightArgs(Args):
    weight: float = Field(ge=0)


class MMDArgs(Args):
    weight: float = Field(ge=0)
    kernel: Literal["imq", "rbf"] = "imq"
    scale: float = Field(1.0, gt=0)  # the prior's sigma in the bandwidth C = 2 * d * scale^2


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


def _build_contractive(a: WeightArgs):
    """`contractive_penalty` of portable.py (the emitted file's too): (h, x) -> penalty.

    h may hold L draws per example, stacked draw-major (L*B rows): each draw's Jacobian
    counts as its own, so the mean is over the L*B rows.  Summing each unit's output over
    the batch gives every example's own row of dh/dx as long as examples do not interact
    (true of every layer but batchnorm in training).
    """
    from aespec.ops.portable import contractive_penalty

    return partial(contractive_penalty, weight=a.weight)


# Emit rules: (args, `h` or the weights' list expression, the term's key literal) -> the
# lines that assign `terms[key]`, and the helpers they call.


def _emit_weights(square: bool) -> PenaltyRule:
    def rule(a: Any, weights: str, key: str) -> tuple[list[str], tuple[str, ...]]:
        form = "w.square().sum()" if square else "w.abs().sum()"
        return [f"terms[{key}] = {lit(a.weight)} * sum({form} for w in {weights})"], ()

    return rule


def _emit_activity_l1(a: Any, h: str, key: str) -> tuple[list[str], tuple[str, ...]]:
    return [f"terms[{key}] = {lit(a.weight)} * {h}.abs().sum() / {h}.shape[0]"
            "  # batch mean of sum |h|"], ()


def _emit_kl_sparsity(a: Any, h: str, key: str) -> tuple[list[str], tuple[str, ...]]:
    rho, eps = a.rho, 1e-6  # the eps of kl_sparsity_penalty
    return [f"rho_hat = {h}.flatten(1).mean(0).clamp({lit(eps)}, {lit(1 - eps)})"
            "  # each unit's batch mean",
            f"kl = {lit(rho)} * ({lit(rho)} / rho_hat).log() + {lit(1 - rho)} * "
            f"({lit(1 - rho)} / (1 - rho_hat)).log()",
            f"terms[{key}] = {lit(a.weight)} * kl.sum()"], ()


def _build_mmd(a: MMDArgs):
    """`mmd_penalty` of portable.py (the emitted file's too): h -> penalty, drawing as many
    N(0, I) codes as h has rows (L*B with L latent draws) at each call."""
    from aespec.ops.portable import mmd_penalty

    return partial(mmd_penalty, weight=a.weight, kernel=a.kernel, scale=a.scale)


def _emit_mmd(a: Any, h: str, key: str) -> tuple[list[str], tuple[str, ...]]:
    return [f"terms[{key}] = mmd_penalty({h}, {lit(a.weight)}, \"{a.kernel}\", "
            f"{lit(a.scale)})  # draws N(0, I)"], ("mmd_penalty",)


def _emit_contractive(a: Any, h: str, key: str) -> tuple[list[str], tuple[str, ...]]:
    return [f'terms[{key}] = contractive_penalty({h}, out["x"], {lit(a.weight)})'], (
        "contractive_penalty",)


def _reg(name: str, doc: str, args: type[Args], signature: str,
         acts_on: Literal["weights", "activations"], formula: str, build=None,
         **hooks: Any) -> None:
    register(OpDef(name, "regularizer", doc, args, place="regularizer", blocks=("regularize",),
                   signature=signature, build=build, acts_on=acts_on, formula=formula,
                   schedulable=("weight",), **hooks))


_reg("l2", "`weight * sum(w^2)` over the target's weights (not biases); default target: all "
     "layers", WeightArgs, "l2(weight)", "weights", "Σw²", is_weight_decay=True,
     build=lambda a: partial(l2_penalty, weight=a.weight), emit_penalty=_emit_weights(True))
_reg("l1", "`weight * sum(|w|)` over the target's weights; default target: all layers",
     WeightArgs, "l1(weight)", "weights", "Σ|w|",
     build=lambda a: partial(l1_penalty, weight=a.weight), emit_penalty=_emit_weights(False))
_reg("activity_l1", "`weight * mean over batch of sum(|h|)` of the target's output; default "
     "target: bottleneck", WeightArgs, "activity_l1(weight)", "activations", "E‖h‖₁",
     build=lambda a: partial(activity_l1_penalty, weight=a.weight),
     emit_penalty=_emit_activity_l1)
_reg("kl_sparsity", "`weight * sum_j KL(rho || rho_hat_j)`, `rho_hat_j` the batch mean of unit "
     "j; needs outputs in (0, 1); default target: bottleneck", KLSparsityArgs,
     "kl_sparsity(rho, weight)", "activations", "Σⱼ KL(ρ ‖ ρ̂ⱼ)", needs_unit_interval=True,
     sparsity_target="rho", formula_of=lambda a: f"Σⱼ KL({fmt_num(a.rho)} ‖ ρ̂ⱼ)",
     build=lambda a: partial(kl_sparsity_penalty, rho=a.rho, weight=a.weight),
     emit_penalty=_emit_kl_sparsity)
_reg("contractive", "`weight * mean over batch of ||dh/dx||_F^2`, `h` the target's output; "
     "default target: bottleneck", WeightArgs, "contractive(weight)", "activations",
     "E‖∂h/∂x‖²_F", jacobian=True,
     build=_build_contractive,
     emit_penalty=_emit_contractive)
_reg("mmd", "`weight * MMD^2(h, N(0, I))`, the unbiased estimate between the batch's codes "
     "and as many draws of N(0, I) (Tolstikhin et al.'s WAE-MMD), kernel `imq` "
     "`C / (C + |a - b|^2)` or `rbf` `exp(-|a - b|^2 / C)`, `C = 2 * d * scale^2` for a "
     "d-value code; on the code, `report { samples }` decodes draws of N(0, I); default "
     "target: bottleneck", MMDArgs, "mmd(weight, kernel=imq, scale=1.0)", "activations",
     "MMD²(h, N(0, I))", matches_prior=True,
     formula_of=lambda a: f"MMD²_{a.kernel}(h, N(0, I))", build=_build_mmd,
     emit_penalty=_emit_mmd)
