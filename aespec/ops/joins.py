"""Join ops, the skip connections (section 4 of the language): `concat(NAME)`, `add(NAME)`.

A join combines the current tensor with an earlier, named one; its `extra` hooks give the
joined shape (`join_shape`) and value range (`join_range`).  Joins cannot be mirrored.
"""

from __future__ import annotations

from aespec.ops.registry import Args, OpDef, Shape, ShapeProblem, register


class JoinArgs(Args):
    name: str


def _concat_shape(a: JoinArgs, s: Shape, other: Shape) -> Shape:
    if len(s) != len(other) or s[1:] != other[1:]:
        raise ShapeProblem(
            f"concat({a.name}) joins {s} with {a.name} {other}: all but the channel "
            "dimension must match", _join_hint(s, other), "E304")
    return (s[0] + other[0], *s[1:])


def _add_shape(a: JoinArgs, s: Shape, other: Shape) -> Shape:
    if s != other:
        raise ShapeProblem(f"add({a.name}) needs equal shapes, got {s} and {a.name} {other}",
                           _join_hint(s, other), "E304")
    return s


def _join_hint(s: Shape, other: Shape) -> str | None:
    if len(s) == len(other) and len(s) > 1:
        up = _whole_ratio(other[1:], s[1:])
        if up:
            return f"upsample({up}) before the join would match the sizes"
        down = _whole_ratio(s[1:], other[1:])
        if down:
            return f"the current tensor is {down}x larger: join earlier or pool it"
    return None


def _whole_ratio(big: Shape, small: Shape) -> int | None:
    """The integer r > 1 with big == r * small in every dimension, else None (no floats:
    sizes can be larger than a float holds)."""
    r = big[0] // small[0]
    return r if r > 1 and all(b == r * s for b, s in zip(big, small, strict=True)) else None


def _build_concat(a: JoinArgs, s_in: Shape, s_out: Shape):
    import torch  # noqa: TID251

    return lambda x, other: torch.cat([x, other], 1)


register(OpDef("concat", "join", "joins the current tensor with a named one; channels are "
               "concatenated", JoinArgs, label=lambda a: a.name, signature="concat(NAME)",
               build=_build_concat,
               extra={"join_shape": _concat_shape,
                      "join_range": lambda r, o: (min(r[0], o[0]), max(r[1], o[1]))}))
register(OpDef("add", "join", "adds a named tensor of the same shape", JoinArgs,
               label=lambda a: a.name, signature="add(NAME)",
               build=lambda a, s_in, s_out: lambda x, other: x + other,
               extra={"join_shape": _add_shape,
                      "join_range": lambda r, o: (r[0] + o[0], r[1] + o[1])}))
