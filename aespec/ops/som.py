"""The self-organizing map (Kohonen): `som` in the bottleneck, `prototype` its mirror.

`som(rows, cols)` keeps one prototype per unit of a rows x cols grid; the code z is the
grid position (row, col) of the winner, the unit whose prototype is nearest the input.
It adds the neighbourhood-weighted squared distance to the loss (`som`), whose gaussian
neighbourhood shrinks from `sigma` to `sigma_end` over the epochs.  `decoder mirror` turns
it into `prototype`: the winner's prototype is the reconstruction.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from aespec.ops.emitting import Op, Written, lit
from aespec.ops.layers import PosInt, count
from aespec.ops.registry import Args, OpDef, Shape, _unbounded, register


class SomArgs(Args):
    rows: int = PosInt
    cols: int = PosInt
    grid: Literal["hex", "rect"] = "hex"
    sigma: float | None = Field(None, gt=0)  # None: half the grid's longer side
    sigma_end: float = Field(0.5, gt=0)

    @model_validator(mode="after")
    def _shrinks(self) -> SomArgs:
        if self.rows * self.cols < 2:
            raise ValueError("a map needs two units at least")
        if self.sigma_end > self.start_width():
            raise ValueError(f"sigma_end {self.sigma_end:g} is above sigma "
                             f"{self.start_width():g}: the neighbourhood shrinks")
        return self

    def start_width(self) -> float:
        return self.sigma if self.sigma is not None else max(self.rows, self.cols) / 2


class PrototypeArgs(Args):
    features: int = PosInt
    rows: int = PosInt
    cols: int = PosInt


def _build_som(a: SomArgs, s_in: Shape, s_out: Shape):
    from aespec.ops.kohonen import SelfOrganizingMap

    return SelfOrganizingMap(count(s_in), a.rows, a.cols, a.grid, a.start_width(), a.sigma_end)


def _build_prototype(a: PrototypeArgs, s_in: Shape, s_out: Shape, tied=None):
    from aespec.ops.kohonen import Prototype

    if tied is None:
        raise NotImplementedError("prototype is built from its som (decoder mirror)")
    return Prototype(tied)


def _emit_som(op: Op) -> Written:
    """`SelfOrganizingMap` of portable.py; its term (`som`) the loss function adds."""
    a = op.args
    ctor = f"SelfOrganizingMap({count(op.in_shape)}, {a.rows}, {a.cols}, \"{a.grid}\", " \
        f"{lit(float(a.start_width()))}, {lit(a.sigma_end)})"
    return Written((f"{op.out} = {op.m}({op.x})  # (2,): the winner's (row, col)",),
                   ((op.nid, ctor),), helpers=("SelfOrganizingMap",))


def _emit_prototype(op: Op) -> Written:
    """`Prototype` of portable.py, sharing the map's prototypes."""
    return Written((f"{op.out} = {op.m}({op.x})",), ((op.nid, f"Prototype(self.{op.tied_to})"),),
                   helpers=("Prototype",))


def _som_inverse(a: SomArgs, s_in: Shape, s_out: Shape) -> list[tuple[str, dict]]:
    """The winner's prototype, then a reshape where the map's input was not a vector."""
    back = [("prototype", {"features": count(s_in), "rows": a.rows, "cols": a.cols})]
    return back + ([("reshape", {"dims": s_in})] if len(s_in) > 1 else [])


register(OpDef(
    "som", "layer", "self-organizing map (Kohonen): `rows * cols` prototypes on a `hex` or "
    "`rect` grid; z is the winner's grid position (row, col); adds the neighbourhood-weighted "
    "squared distance (`som`), its width shrinking from `sigma` to `sigma_end` over the "
    "epochs; `decoder mirror` makes the winner's prototype the reconstruction", SomArgs,
    shape=lambda a, s: (2,), params=lambda a, s: a.rows * a.cols * count(s),
    range=lambda a, r: (0.0, float(max(a.rows, a.cols) - 1)), inverse=_som_inverse,
    label=lambda a: f"{a.rows}x{a.cols} {a.grid}",
    signature="som(rows, cols, grid=hex, sigma=max(rows, cols)/2, sigma_end=0.5)",
    params_doc="`rows * cols * in`", blocks=("bottleneck",), build=_build_som, emit=_emit_som,
    style="latent", adds_term="som", map_units=lambda a: a.rows * a.cols,
    follows_progress=True, mirror_output=lambda a: "identity", formula="Σⱼ nⱼ‖h − wⱼ‖² / Σⱼ nⱼ",
    formula_of=lambda a: f"Σⱼ nⱼ‖h − wⱼ‖² / Σⱼ nⱼ, nⱼ = exp(−‖pⱼ − p_win‖² / 2σ²), "
                         f"σ {a.start_width():g} → {a.sigma_end:g}"))

register(OpDef(
    "prototype", "layer", "the prototype of the unit at grid position z (row, col) of a "
    "`som`, read from its codebook without gradient; no activation follows it",
    PrototypeArgs, shape=lambda a, s: (a.features,), range=_unbounded,
    signature="prototype(features, rows, cols)",
    label=lambda a: "winner's prototype",
    params_doc="0 (the som's)", blocks=(), build=_build_prototype, emit=_emit_prototype,
    style="latent",
    tied_params=lambda a: 0, reads_inverted=True))
