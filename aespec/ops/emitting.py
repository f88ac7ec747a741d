"""The records an op's emit rules read and give: how `aespec emit` writes it as PyTorch.

Each op carries its rules beside its torch builder (`OpDef.emit`, `emit_term`,
`emit_penalty`), so the emitted file computes what the compiled model does; the emit stage
(`aespec.emit`) only walks the graph and calls them.  A layer or noise rule reads an IR node
(`Op`) and gives its share of the file (`Written`): the layers it owns (`self.<attr> =
nn.Conv2d(...)`), its forward lines, its weight tensors (for `l1`/`l2`), the compiled
model's state_dict keys it stores under another name, and the helper functions it calls.
Literals are written so that they read back as the same value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Op:
    """One IR node as a rule reads it, with the names the writer chose: `x` the input's
    variable, `out` the output's, `other` a join's second tensor, `m` the layer attribute."""

    nid: str
    args: Any
    in_shape: Shape
    out_shape: Shape
    tied_to: str | None
    x: str
    out: str
    other: str | None = None
    other_shape: Shape | None = None  # a join's named tensor's shape

    @property
    def m(self) -> str:
        return f"self.{self.nid}"


@dataclass(frozen=True)
class Written:
    """An op's share of the emitted file."""

    lines: tuple[str, ...] = ()  # forward code, one statement per line (may indent itself)
    layers: tuple[tuple[str, str], ...] = ()  # (attribute, constructor)
    weights: tuple[str, ...] = ()  # its weight tensors (2+ dimensions), as `attr.weight`
    renamed: tuple[tuple[str, str | None], ...] = ()  # compiled key -> this file's (None: a
    #   tied weight stored twice by aespec, once here)
    helpers: tuple[str, ...] = ()


Rule = Callable[[Op], Written]


@dataclass(frozen=True)
class Term:
    """A loss term's expression of `pred` and `target` at a reduction, and the parameters
    it owns: (attribute, constructor, compiled key)."""

    expr: str
    owned: tuple[tuple[str, str, str], ...] = ()
    helpers: tuple[str, ...] = field(default=())


# A loss rule: (args, node id, pred, target, logits, reduction, decoder output shape) -> Term
LossRule = Callable[[Any, str, str, str, bool, str, Shape], Term]

# A regularizer rule: (args, `h` (an output's variable) or the weights' list expression,
# the string literal naming its term) -> (its lines, the helpers they call); the last line
# assigns `terms[key]`.
PenaltyRule = Callable[[Any, str, str], tuple[list[str], tuple[str, ...]]]


def lit(value: Any) -> str:
    """A Python literal that reads back as the same value (floats by `repr`)."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(map(lit, value)) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def options(**given: Any) -> str:
    """`, stride=2, bias=False` of the options that are not None."""
    return "".join(f", {k}={lit(v)}" for k, v in given.items() if v is not None)


def assign(op: Op, expr: str) -> Written:
    """The one line `out = expr`."""
    return Written((f"{op.out} = {expr}",))


def call(fn: str, **fields: str) -> Rule:
    """`fn(x, key=value, ...)` with the op's arguments in `fields` (kept only off default)."""

    def rule(op: Op) -> Written:
        extra = "".join(f", {k}={lit(getattr(op.args, f))}" for k, f in fields.items()
                        if getattr(op.args, f) != type(op.args).model_fields[f].default)
        return assign(op, f"{fn}({op.x}{extra})")

    return rule


def crop_index(slices: tuple[slice, ...]) -> str:
    """`[..., 2:26, 2:26]`: the spatial slices of a center crop, as Python indexes."""
    return "[..., " + ", ".join(f"{s.start}:{s.stop}" for s in slices) + "]"
