"""Join ops, the skip connections (section 4 of the language): `concat(NAME)`, `add(NAME)`.

A join combines the current tensor with an earlier, named one; its hooks give the joined
shape (`join_shape`) and value range (`join_range`).  Joins cannot be mirrored.  With
`crop=true` the named tensor is first center-cropped to the current one's spatial size:
the original U-Net's "copy and crop", where valid convolutions leave each encoder map
larger than the decoder map it joins.
"""

from __future__ import annotations

from aespec.ops.emitting import Op, assign, crop_index
from aespec.ops.registry import Args, OpDef, Shape, ShapeProblem, fmt_value, register
from aespec.ops.shapes import center_slices, fits_inside


class JoinArgs(Args):
    name: str
    crop: bool = False  # center-crop the named tensor to the current spatial size first


def _join_text(a: JoinArgs) -> str:
    return a.name + (", crop=true" if a.crop else "")


def _cropped(op: str, a: JoinArgs, s: Shape, other: Shape) -> Shape:
    """The named tensor's shape as the join reads it: center-cropped with `crop=true`."""
    if not a.crop:
        return other
    if not fits_inside(s[1:], other[1:]):
        raise ShapeProblem(
            f"{op}({_join_text(a)}) crops {a.name} {other} to the current tensor {s}, but "
            f"{a.name} is not at least as large in every spatial dimension",
            "crop=true needs a named tensor with as many dimensions and no smaller sizes",
            "E304")
    return (other[0], *s[1:])


def _concat_shape(a: JoinArgs, s: Shape, other: Shape) -> Shape:
    if len(other) == 1 and len(s) > 1 and not a.crop:  # a vector is tiled over the positions
        return (s[0] + other[0], *s[1:])
    seen = _cropped("concat", a, s, other)
    if len(s) != len(seen) or s[1:] != seen[1:]:
        raise ShapeProblem(
            f"concat({a.name}) joins {s} with {a.name} {other}: all but the channel "
            "dimension must match", _join_hint("concat", a.name, s, other), "E304")
    return (s[0] + seen[0], *s[1:])


def _add_shape(a: JoinArgs, s: Shape, other: Shape) -> Shape:
    if s != _cropped("add", a, s, other):
        raise ShapeProblem(f"add({_join_text(a)}) needs equal shapes, got {s} and {a.name} "
                           f"{other}", _join_hint("add", a.name, s, other), "E304")
    return s


def _join_hint(op: str, name: str, s: Shape, other: Shape) -> str | None:
    if len(s) != len(other) or len(s) < 2 or s[1:] == other[1:]:
        return None
    up = _whole_ratio(other[1:], s[1:])
    if up:
        return f"upsample({up}) before the join would match the sizes"
    down = _whole_ratio(s[1:], other[1:])
    if down:
        return f"the current tensor is {down}x larger: join earlier or pool it"
    if fits_inside(s[1:], other[1:]):
        return (f"{op}({name}, crop=true) center-crops {name} to the current size (the "
                "U-Net's copy and crop, for valid convolutions)")
    if fits_inside(other[1:], s[1:]):
        return f"crop{fmt_value(other[1:])} before the join center-crops the current tensor"
    return None


def _whole_ratio(big: Shape, small: Shape) -> int | None:
    """The integer r > 1 with big == r * small in every dimension, else None (no floats:
    sizes can be larger than a float holds)."""
    r = big[0] // small[0]
    return r if r > 1 and all(b == r * s for b, s in zip(big, small, strict=True)) else None


def _other_view(a: JoinArgs, s_in: Shape, other: Shape | None):
    """`other -> other` as the join reads it: the center crop of `crop=true`, else as is."""
    if not a.crop or other is None:
        return lambda t: t
    index = (..., *center_slices(other[1:], s_in[1:]))
    return lambda t: t[index]


def _build_concat(a: JoinArgs, s_in: Shape, s_out: Shape, other: Shape | None = None):
    import torch  # noqa: TID251

    if other is not None and len(other) == 1 and len(s_in) > 1:  # tiled: (B, N, *spatial)
        index = (..., *[None] * (len(s_in) - 1))
        return lambda x, t: torch.cat([x, t[index].expand(-1, -1, *s_in[1:])], 1)
    view = _other_view(a, s_in, other)
    return lambda x, t: torch.cat([x, view(t)], 1)


def _build_add(a: JoinArgs, s_in: Shape, s_out: Shape, other: Shape | None = None):
    view = _other_view(a, s_in, other)
    return lambda x, t: x + view(t)


def _joined(op: Op) -> str:
    """The emitted expression of the named tensor as the join reads it."""
    assert op.other is not None and op.other_shape is not None  # the writer sets both
    if len(op.other_shape) == 1 and len(op.in_shape) > 1:  # a vector tiled over positions
        spatial = ", ".join(str(n) for n in op.in_shape[1:])
        index = ", ".join(["..."] + ["None"] * (len(op.in_shape) - 1))
        return f"{op.other}[{index}].expand(-1, -1, {spatial})"
    if not op.args.crop:
        return op.other
    return op.other + crop_index(center_slices(op.other_shape[1:], op.in_shape[1:]))


_NO_MIRROR = "an encoder that joins tensors has no mirror"

register(OpDef("concat", "join", "joins the current tensor with a named one; channels are "
               "concatenated; `crop=true` first center-crops the named tensor to the current "
               "spatial size (U-Net copy and crop); a vector joined to an image or sequence "
               "is repeated at every position (a condition `y`)", JoinArgs, label=_join_text,
               signature="concat(NAME, crop=false)", build=_build_concat,
               mirror_refusal=_NO_MIRROR, join_shape=_concat_shape,
               emit=lambda op: assign(op, f"torch.cat([{op.x}, {_joined(op)}], 1)"),
               join_range=lambda r, o: (min(r[0], o[0]), max(r[1], o[1]))))
register(OpDef("add", "join", "adds a named tensor of the same shape; `crop=true` first "
               "center-crops it to the current spatial size", JoinArgs,
               label=_join_text, signature="add(NAME, crop=false)", build=_build_add,
               mirror_refusal=_NO_MIRROR, join_shape=_add_shape,
               emit=lambda op: assign(op, f"{op.x} + {_joined(op)}"),
               join_range=lambda r, o: (r[0] + o[0], r[1] + o[1])))
