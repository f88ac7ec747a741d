"""The registry itself: `OpDef`, the tables by place, and the lookups every stage uses.

Each op is one `OpDef`: its argument model (pydantic), shape rule, parameter rule, value
range rule, mirror rule, documentation line, drawing style and torch builder.  Adding an
op is adding one entry; nothing else in aespec switches on op names.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Shape = tuple[int, ...]
Range = tuple[float, float]
UNBOUNDED: Range = (-math.inf, math.inf)

Kind = Literal["layer", "activation", "join", "latent", "shape", "noise", "loss", "regularizer"]
Place = Literal["layer", "noise", "loss", "regularizer"]


class Args(BaseModel):
    """Base of every argument model: strict types, no unknown keys, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class NoArgs(Args):
    pass


class ShapeProblem(Exception):
    """Raised by a shape rule; the graph builder turns it into an E3xx diagnostic."""

    def __init__(self, message: str, hint: str | None = None, code: str = "E302"):
        super().__init__(message)
        self.message, self.hint, self.code = message, hint, code


def _same(a: Any, s: Shape) -> Shape:
    return s


def _no_params(a: Any, s: Shape) -> int:
    return 0


def _unbounded(a: Any, r: Range) -> Range:
    return UNBOUNDED


def _keep_range(a: Any, r: Range) -> Range:
    return r


# An inverse is a list of (op name, args dict) that restores the op's input in a mirror.
Inverse = Callable[[Any, Shape, Shape], list[tuple[str, dict]]]


@dataclass(frozen=True)
class OpDef:
    """Everything aespec knows about one op, in one place."""

    name: str
    kind: Kind
    doc: str
    args: type[Args] = NoArgs
    varargs: str | None = None  # field that collects all positional args (reshape)
    shape: Callable[[Any, Shape], Shape] = _same
    params: Callable[[Any, Shape], int] = _no_params
    range: Callable[[Any, Range], Range] = _keep_range
    inverse: Inverse | None = None  # None: the op is skipped by `decoder mirror`
    label: Callable[[Any], str] | None = None  # key arguments shown in tables and drawings
    signature: str = ""  # as written in docs, e.g. `conv(channels, k=3, stride=1, ...)`
    params_doc: str = "0"
    place: Place = "layer"
    blocks: tuple[str, ...] = ("encoder", "bottleneck", "decoder")
    build: Callable[..., Any] | None = None  # torch builder; imports torch when called
    style: str | None = None  # key into aespec.ops.styles.STYLES; default: the op's kind
    # Flags and hooks that other stages read, so that none of them names an op:
    #   join_shape, join_range     joins: the joined shape and value range
    #   formula, formula_of        losses, regularizers: the term as the docs write it,
    #                              and (optional) as the objective writes it, from the args
    #   needs_unit_output          losses: the decoder output must lie in [0, 1] (bce)
    #   owned_params               losses: `(args, shape) -> {name: (shape, initial value)}`,
    #                              the parameters the term owns (a learned variance), given
    #                              the decoder output's shape; its `params` rule counts them
    #   acts_on, jacobian,         regularizers: weights or activations; reads dh/dx;
    #   needs_unit_interval        its target must lie in (0, 1)
    #   is_weight_decay            regularizers: the same penalty as optimizer weight decay
    #   sparsity_target            regularizers: the argument holding the target activation
    #   regularizes                layers: constrains the code as noise does (dropout)
    #   tied_params                layers: parameters of a tied copy in a mirror (dense)
    #   logits                     activations: its input is the logit of its output, so a
    #                              loss with a logits form reads that input (sigmoid)
    #   noop                       activations: returns its input (identity)
    #   channels_last              layers: 2-D kernels that run faster channels-last (conv)
    extra: dict = field(default_factory=dict)

    @property
    def shape_changing(self) -> bool:
        return self.inverse is not None


REGISTRY: dict[Place, dict[str, OpDef]] = {"layer": {}, "noise": {}, "loss": {},
                                           "regularizer": {}}


def register(op: OpDef) -> OpDef:
    table = REGISTRY[op.place]
    if op.name in table:
        raise ValueError(f"op {op.name!r} registered twice for {op.place}")
    table[op.name] = op
    return op


def lookup(place: str, name: str) -> OpDef | None:
    """The op `name` of a place (layer, noise, loss, regularizer), or None."""
    return REGISTRY[place].get(name)  # type: ignore[index]


def get_op(place: str, name: str) -> OpDef:
    """The op `name` of a place, known to exist (it came from a validated spec)."""
    return REGISTRY[place][name]  # type: ignore[index]


def names(place: str) -> list[str]:
    return sorted(REGISTRY[place])  # type: ignore[index]


def format_args(a: Args, written_ints: bool = False) -> str:
    """`64, k=5`: required fields by value, others as `key=value` where not the default
    (or, with `written_ints`, where the spec wrote an integer out, as `k=3` in a drawing)."""
    parts = []
    for key, info in type(a).model_fields.items():
        value = getattr(a, key)
        if info.is_required():
            parts.append(fmt_value(value))
        elif value != info.default or (written_ints and key in a.model_fields_set
                                       and type(value) is int):
            parts.append(f"{key}={fmt_value(value)}")
    return ", ".join(parts)


def fmt_value(value: Any) -> str:
    """A value as a spec writes it: `true`, `(2, 2)`, `0.5`, `1e-05`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "(" + ", ".join(fmt_value(v) for v in value) + ")"
    return f"{value:g}" if isinstance(value, float) else str(value)


def fmt_num(v: float) -> str:
    """`1.0`, `4.0`, `0.5`, `1e-05`: integral weights keep one decimal, others `:g`."""
    return f"{v:.1f}" if float(v).is_integer() else f"{v:g}"


def formula_text(op: OpDef, a: Args) -> str:
    """The op's term in the objective, `Σw²` or `Σⱼ KL(0.05 ‖ ρ̂ⱼ)`."""
    written = op.extra.get("formula_of")
    return written(a) if written else op.extra["formula"]


def op_text(op: OpDef, a: Args) -> str:
    """The op as a user would write it: `conv(64, k=5)`."""
    text = op.label(a) if op.label else format_args(a)
    return f"{op.name}({text})" if text else op.name

