"""The restricted Boltzmann machine (`rbm`, bottleneck only) and its mean-field visible
layer (`rbm_visible`, which only `decoder mirror` writes).

An RBM is an energy model over visible units v and binary hidden units h,

    E(v, h) = -v.b_v - h.b_h - h.W v              (Bernoulli visible units)
    E(v, h) = |v - b_v|^2 / 2 - h.b_h - h.W v     (Gaussian visible units, unit variance)

with free energy F(v) = -log sum_h exp(-E(v, h)).  In a spec it sits where a code sits:
the bottleneck's `rbm(hidden)` gives z = p(h = 1 | v) (the mean-field code), and
`decoder mirror` gives back p(v | h) with the same W: the mean-field reconstruction.  It
trains by contrastive divergence, the term it adds to the loss (as `gaussian` adds its
KL): mean F(v_data) - mean F(v_k), v_k from k Gibbs steps without gradient; the `loss`
line's reconstruction terms are measured (reported, validated, early-stopped on), never
trained on: the RBM's weights see their gradient through the free energy only.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from aespec.ops.emitting import Op, Written, lit
from aespec.ops.layers import DenseArgs, PosInt, count, dense_inverse
from aespec.ops.registry import Args, OpDef, Shape, _unbounded, register


class RBMArgs(Args):
    hidden: int = PosInt
    visible: Literal["bernoulli", "gaussian"] = "bernoulli"
    k: int = Field(1, gt=0)  # Gibbs steps of the negative phase
    persistent: bool = False  # PCD: the chains carry on from step to step
    steps: int = Field(1000, gt=0)  # Gibbs steps of a sample (`aespec sample`, `samples`)


def _rbm_params(a: RBMArgs, s: Shape) -> int:
    return count(s) * a.hidden + a.hidden + count(s)  # W, hidden bias, visible bias


def _rbm_inverse(a: RBMArgs, s_in: Shape, s_out: Shape) -> list[tuple[str, dict]]:
    """p(v | h) with the RBM's own W and visible bias, then a reshape for images."""
    dense, *reshape = dense_inverse(DenseArgs(units=a.hidden), s_in, s_out)
    return [("rbm_visible", {"units": dense[1]["units"]}), *reshape]


def _build_rbm(a: RBMArgs, s_in: Shape, s_out: Shape):
    from aespec.ops.modules import RBM

    return RBM(count(s_in), a.hidden, a.visible, a.k, a.persistent, a.steps)


def _cd_formula(a: RBMArgs) -> str:
    return f"F̄(v) − F̄(v_{a.k}) ({'PCD' if a.persistent else 'CD'}-{a.k})"


def _emit_rbm(op: Op) -> Written:
    """`RBM` of portable.py; its term (`cd`) the loss function adds."""
    a = op.args
    ctor = f"RBM({count(op.in_shape)}, {a.hidden}, \"{a.visible}\", {a.k}, " \
        f"{lit(a.persistent)}, {a.steps})"
    return Written((f"{op.out} = {op.m}({op.x})  # ({a.hidden},): p(h = 1 | v)",),
                   ((op.nid, ctor),), helpers=("RBM",))


def _emit_visible(op: Op) -> Written:
    """`RBMVisible` of portable.py, with its rbm's W and visible bias."""
    return Written((f"{op.out} = {op.m}({op.x})",),
                   ((op.nid, f"RBMVisible(self.{op.tied_to})"),), helpers=("RBMVisible",))


class VisibleArgs(Args):
    units: int = PosInt


def _build_visible(a: VisibleArgs, s_in: Shape, s_out: Shape, tied=None):
    from aespec.ops.modules import RBMVisible

    return RBMVisible(tied)


register(OpDef(
    "rbm", "layer", "restricted Boltzmann machine: `z = p(h|v) = sigmoid(W v + b_h)`; adds "
    "contrastive divergence `mean F(v) - mean F(v_k)` to the loss (v_k after k Gibbs steps; "
    "`persistent=true`: PCD); `decoder mirror` gives the mean-field `p(v|h)` with the same W; "
    "samples by `steps` Gibbs steps", RBMArgs,
    shape=lambda a, s: (a.hidden,), params=_rbm_params, range=lambda a, r: (0.0, 1.0),
    inverse=_rbm_inverse, ties_inverse=True,
    mirror_output=lambda a: "sigmoid" if a.visible == "bernoulli" else "identity",
    regularizes=True, generative=True, adds_term="cd",
    signature="rbm(hidden, visible=bernoulli, k=1, persistent=false, steps=1000)",
    params_doc="`in*hidden + hidden + in` (W, both biases)", blocks=("bottleneck",),
    build=_build_rbm, emit=_emit_rbm, style="latent", formula="F̄(v) − F̄(v_k)",
    formula_of=_cd_formula))

register(OpDef(
    "rbm_visible", "layer", "the mean-field visible layer of an `rbm`, `W^T h + b_v` with "
    "its weights; the mirror's output activation follows",
    VisibleArgs, shape=lambda a, s: (a.units,), range=_unbounded,
    signature="rbm_visible(units)", params_doc="0 (the rbm's)", blocks=(),
    build=_build_visible, emit=_emit_visible, tied_params=lambda a: 0))
