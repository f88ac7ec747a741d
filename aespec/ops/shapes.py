"""Shape ops (section 4 of the language): pooling, upsample, crop and global pooling,
flatten and reshape.  None has parameters; each entry carries its shape rule, mirror rule,
torch builder and emit rule.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, Optional

from pydantic import Field

from aespec.ops.emitting import Op, Rule, Written, assign, crop_index, lit
from aespec.ops.layers import PosInt, count, spatial_dims, torch_function
from aespec.ops.registry import Args, OpDef, Shape, ShapeProblem, fmt_value, register

# ---------------------------------------------------------------- pooling, upsampling


class PoolArgs(Args):
    k: int = PosInt
    stride: Optional[int] = Field(None, gt=0)


def _pool_shape(a: PoolArgs, s: Shape) -> Shape:
    stride = a.stride or a.k
    spatial = spatial_dims(s, "pooling")
    if min(spatial) < a.k:
        size = "x".join(map(str, spatial))
        raise ShapeProblem(f"pool size {a.k} is larger than the input {size}",
                           "pool less, downsample less before this op, or remove it", "E302")
    return (s[0], *((n - a.k) // stride + 1 for n in spatial))


def _pool_inverse(a: PoolArgs, s_in: Shape, s_out: Shape) -> list[tuple[str, dict]]:
    return [("upsample", {"factor": a.stride or a.k})]


def _pool_builder(kind: str):
    def build(a: PoolArgs, s_in: Shape, s_out: Shape):
        pool, stride = torch_function(f"{kind}_pool{len(s_in) - 1}d"), a.stride or a.k
        return lambda x: pool(x, a.k, stride)

    return build


def _emit_pool(kind: str) -> Rule:
    def rule(op: Op) -> Written:
        a, dims = op.args, len(op.in_shape) - 1
        stride = "" if a.stride in (None, a.k) else f", stride={a.stride}"
        return assign(op, f"F.{kind}_pool{dims}d({op.x}, {a.k}{stride})")

    return rule


_POOL_ALIASES = {"maxpool": ("maxpool2d", "max_pool", "maxpooling2d"), "avgpool": ("avgpool2d",)}
for _name, _torch in (("maxpool", "MaxPool"), ("avgpool", "AvgPool")):
    register(OpDef(_name, "shape", f"pooling (`nn.{_torch}1d/2d`); `H -> floor(H/k)` for "
                   "the default stride", PoolArgs, shape=_pool_shape, inverse=_pool_inverse,
                   signature=f"{_name}(k, stride=k)", build=_pool_builder(_name[:3]),
                   emit=_emit_pool(_name[:3]), aliases=_POOL_ALIASES[_name]))


class UpsampleArgs(Args):
    factor: int = PosInt
    mode: Literal["nearest", "bilinear", "linear"] = "nearest"


def _upsample_shape(a: UpsampleArgs, s: Shape) -> Shape:
    return (s[0], *(n * a.factor for n in spatial_dims(s, "upsample")))


def _upsample_inverse(a: UpsampleArgs, s_in: Shape, s_out: Shape) -> list[tuple[str, dict]]:
    return [("avgpool", {"k": a.factor})]


def _build_upsample(a: UpsampleArgs, s_in: Shape, s_out: Shape):
    """F.interpolate; `bilinear` and `linear` both mean linear along each spatial dim."""
    from torch.nn.functional import interpolate  # noqa: TID251

    if a.mode == "nearest":
        return lambda x: interpolate(x, scale_factor=float(a.factor), mode="nearest")
    mode = "linear" if len(s_in) == 2 else "bilinear"
    return lambda x: interpolate(x, scale_factor=float(a.factor), mode=mode,
                                 align_corners=False)


def _emit_upsample(op: Op) -> Written:
    a = op.args
    scale = f"scale_factor={lit(float(a.factor))}"
    if a.mode == "nearest":
        return assign(op, f'F.interpolate({op.x}, {scale}, mode="nearest")')
    mode = "linear" if len(op.in_shape) == 2 else "bilinear"
    return assign(op, f'F.interpolate({op.x}, {scale}, mode="{mode}", align_corners=False)')


register(OpDef("upsample", "shape", "`nearest`, or `bilinear` (`linear` on sequences) "
               "interpolation (`nn.Upsample`)", UpsampleArgs, shape=_upsample_shape,
               inverse=_upsample_inverse, signature="upsample(factor, mode=nearest)",
               build=_build_upsample, emit=_emit_upsample, aliases=("upsampling2d",)))

# ---------------------------------------------------------------- crop, global pooling


class CropArgs(Args):
    sizes: tuple[Annotated[int, PosInt], ...] = Field(min_length=1)  # (h, w), or one size


def fits_inside(inner: Shape, outer: Shape) -> bool:
    """Are `inner`'s sizes no larger than `outer`'s, dimension by dimension?"""
    return len(inner) == len(outer) and all(i <= o for i, o in zip(inner, outer, strict=True))


def center_slices(outer: Shape, inner: Shape) -> tuple[slice, ...]:
    """The spatial slices of a center crop of `outer` to `inner`; an odd row or column
    left over comes off the end (as `pad=same` puts its odd zero after)."""
    return tuple(slice((o - i) // 2, (o - i) // 2 + i) for o, i in zip(outer, inner, strict=True))


def _crop_shape(a: CropArgs, s: Shape) -> Shape:
    spatial = spatial_dims(s, "crop")
    if len(a.sizes) > len(spatial):
        raise ShapeProblem(f"crop{fmt_value(a.sizes)} gives {len(a.sizes)} sizes, but {s} "
                           f"has {len(spatial)} spatial dimension{'s' if len(spatial) > 1 else ''}",
                           "crop(length) on a sequence, crop(size) or crop(h, w) on an image")
    sizes = a.sizes * len(spatial) if len(a.sizes) == 1 else a.sizes
    if not fits_inside(sizes, spatial):
        raise ShapeProblem(f"crop{fmt_value(a.sizes)} is larger than its input {s}",
                           "a crop can only shrink: crop to at most the input's size")
    return (s[0], *sizes)


def _build_crop(a: CropArgs, s_in: Shape, s_out: Shape):
    index = (..., *center_slices(s_in[1:], s_out[1:]))
    return lambda x: x[index]


register(OpDef("crop", "shape", "center crop of the spatial sizes to `h x w` (`crop(size)`: "
               "a square, or a sequence's length); an odd row or column left over comes off "
               "the end. To crop a skip connection to the decoder's size, write "
               "`concat(NAME, crop=true)`", CropArgs, varargs="sizes", shape=_crop_shape,
               label=lambda a: ", ".join(map(str, a.sizes)), signature="crop(h, w), crop(size)",
               build=_build_crop, emit=lambda op: assign(op, op.x + crop_index(
                   center_slices(op.in_shape[1:], op.out_shape[1:]))),
               mirror_refusal="a crop drops values that no op brings back",
               aliases=("cropping2d", "cropping1d", "centercrop")))


def _global_shape(a: Args, s: Shape) -> Shape:
    spatial_dims(s, "global pooling")
    return (s[0],)


def _global_doc(reduce: str, module: str) -> str:
    return (f"the {reduce} over every spatial position of each channel: `(C, H, W)` or "
            f"`(C, L)` -> `(C,)` (`nn.{module}2d(1)`, flattened)")


_GLOBAL_NO_MIRROR = "global pooling keeps one value per channel"
register(OpDef("globalavgpool", "shape", _global_doc("mean", "AdaptiveAvgPool"),
               shape=_global_shape, signature="globalavgpool",
               build=lambda a, s_in, s_out: lambda x: x.flatten(2).mean(2),
               emit=lambda op: assign(op, f"{op.x}.flatten(2).mean(2)"),
               mirror_refusal=_GLOBAL_NO_MIRROR,
               aliases=("globalaveragepooling2d", "globalaveragepooling1d",
                        "adaptiveavgpool2d")))
register(OpDef("globalmaxpool", "shape", _global_doc("maximum", "AdaptiveMaxPool"),
               shape=_global_shape, signature="globalmaxpool",
               build=lambda a, s_in, s_out: lambda x: x.flatten(2).amax(2),
               emit=lambda op: assign(op, f"{op.x}.flatten(2).amax(2)"),
               mirror_refusal=_GLOBAL_NO_MIRROR,
               aliases=("globalmaxpooling2d", "globalmaxpooling1d", "adaptivemaxpool2d")))

# ---------------------------------------------------------------- flatten, reshape


class ReshapeArgs(Args):
    dims: tuple[int, ...] = Field(min_length=1)


def _reshape_shape(a: ReshapeArgs, s: Shape) -> Shape:
    if any(d <= 0 for d in a.dims):
        raise ShapeProblem(f"reshape sizes must be positive, got {a.dims}", code="E303")
    if math.prod(a.dims) != count(s):
        raise ShapeProblem(
            f"reshape{fmt_value(a.dims)} holds {math.prod(a.dims)} values but its input {s} "
            f"holds {count(s)}", f"choose sizes whose product is {count(s)}", "E303")
    return tuple(a.dims)


def _emit_reshape(op: Op) -> Written:
    return assign(op, f"{op.x}.reshape(-1, {', '.join(map(str, op.args.dims))})")


register(OpDef("flatten", "shape", "flattens to a vector", shape=lambda a, s: (count(s),),
               inverse=lambda a, s_in, s_out: [("reshape", {"dims": s_in})],
               signature="flatten", build=lambda a, s_in, s_out: lambda x: x.flatten(1),
               emit=lambda op: assign(op, f"{op.x}.flatten(1)")))
register(OpDef("reshape", "shape", "changes shape; the element count must match",
               ReshapeArgs, varargs="dims", shape=_reshape_shape,
               inverse=lambda a, s_in, s_out: [("reshape", {"dims": s_in})],
               label=lambda a: ", ".join(map(str, a.dims)), signature="reshape(d1, d2, ...)",
               build=lambda a, s_in, s_out: lambda x: x.reshape(-1, *a.dims),
               emit=_emit_reshape))
