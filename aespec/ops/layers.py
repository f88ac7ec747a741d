"""Layer and shape ops (section 4 of the language): dense, conv and deconv, pooling,
upsample, flatten and reshape, norms and dropout.

Also what the other op modules share: `PosInt`, `count`, `torch_function` and
`dense_inverse`.  Activations are in `aespec.ops.activations`, joins (skip connections) in
`aespec.ops.joins`, stochastic latents in `aespec.ops.latents`.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, Optional, Union

from pydantic import Field, model_validator

from aespec.ops.registry import (
    Args,
    OpDef,
    Shape,
    ShapeProblem,
    _unbounded,
    fmt_value,
    register,
)

PosInt = Field(gt=0)


def _spatial(s: Shape, op: str) -> Shape:
    if len(s) not in (2, 3):
        raise ShapeProblem(f"{op} needs a sequence (C, L) or an image (C, H, W), got {s}",
                           "use dense on vectors, or reshape to (C, L) / (C, H, W) first",
                           "E302")
    return s[1:]


def count(s: Shape) -> int:
    """The number of values in a tensor of shape `s` (one example)."""
    return math.prod(s)


# Builders (`OpDef.build`) turn an op into torch: `build(args, in_shape, out_shape)` returns
# an `nn.Module` for an op with parameters or state, else a plain function of the tensors
# (traced into the generated code).  They import torch when called, never at import time.


def torch_function(name: str):
    """torch.NAME where it exists (shorter generated code), else torch.nn.functional.NAME."""
    import torch  # noqa: TID251

    return getattr(torch, name, None) or getattr(torch.nn.functional, name)


# ---------------------------------------------------------------- dense


class DenseArgs(Args):
    units: int = PosInt
    bias: bool = True


def _dense_params(a: DenseArgs, s: Shape) -> int:
    return count(s) * a.units + (a.units if a.bias else 0)


def dense_inverse(a: DenseArgs, s_in: Shape, s_out: Shape) -> list[tuple[str, dict]]:
    """A dense back to the input's size, then a reshape where the input was not a vector."""
    back = [("dense", {"units": count(s_in), "bias": a.bias})]
    return back + ([("reshape", {"dims": s_in})] if len(s_in) > 1 else [])


def _build_dense(a: DenseArgs, s_in: Shape, s_out: Shape, tied=None):
    """nn.Linear; FlatLinear on a non-vector input; TiedLinear in a tied mirror."""
    from torch import nn  # noqa: TID251

    from aespec.ops.modules import FlatLinear, TiedLinear

    if tied is not None:
        return TiedLinear(tied, a.bias)
    layer = nn.Linear if len(s_in) == 1 else FlatLinear
    return layer(count(s_in), a.units, bias=a.bias)


register(OpDef(
    "dense", "layer", "fully connected; flattens its input first if it is not a vector "
    "(`nn.Linear`)", DenseArgs, shape=lambda a, s: (a.units,), params=_dense_params,
    range=_unbounded, inverse=dense_inverse, signature="dense(units, bias=true)",
    params_doc="`in*units (+units)`", build=_build_dense,
    extra={"tied_params": lambda a: a.units if a.bias else 0}))

# ---------------------------------------------------------------- conv / deconv

Pad = Union[Literal["same", "valid"], Annotated[int, Field(ge=0)]]  # torch has no negative pad


class ConvArgs(Args):
    channels: int = PosInt
    k: int = Field(3, gt=0)
    stride: int = Field(1, gt=0)
    pad: Pad = "same"
    bias: bool = True


class DeconvArgs(ConvArgs):
    stride: int = Field(2, gt=0)
    # extra size on one side (`nn.ConvTranspose2d(output_padding=...)`), so that a deconv
    # can restore a size that a strided conv with `valid` or an int pad rounded down
    output_padding: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _output_padding_fits(self) -> DeconvArgs:
        if self.output_padding and self.pad == "same":
            raise ValueError("output_padding applies to pad=valid or an int pad")
        if self.output_padding >= self.stride:
            raise ValueError(f"output_padding must be smaller than stride ({self.stride})")
        return self


def conv_out(n: int, a: ConvArgs) -> int:
    """Output length of one spatial dim; ShapeProblem when the kernel does not fit."""
    if a.pad == "same":
        return -(-n // a.stride)
    p = 0 if a.pad == "valid" else int(a.pad)
    if n + 2 * p < a.k:
        raise ShapeProblem(f"kernel k={a.k} is larger than the input length {n}"
                           + (f" padded by {p}" if p else ""),
                           "use pad=same, a smaller k, or less downsampling before this op")
    return (n + 2 * p - a.k) // a.stride + 1


def deconv_padding(a: ConvArgs) -> tuple[int, int]:
    """(padding, output_padding) of a ConvTranspose that gives `in*stride` for pad=same."""
    p = max(0, -(-(a.k - a.stride) // 2))
    return p, a.stride - a.k + 2 * p


def deconv_out(n: int, a: ConvArgs) -> int:
    if a.pad == "same":
        p, extra = deconv_padding(a)
        if not 0 <= extra < max(a.stride, 1) and extra != 0:
            raise ShapeProblem(f"deconv with k={a.k} and stride={a.stride} cannot keep "
                               "pad=same exactly", "use an odd k, or pad=valid")
        return n * a.stride
    p = 0 if a.pad == "valid" else int(a.pad)
    out = (n - 1) * a.stride - 2 * p + a.k + getattr(a, "output_padding", 0)
    if out < 1:
        raise ShapeProblem(f"deconv gives an empty output from length {n}")
    return out


def _conv_shape(a: ConvArgs, s: Shape) -> Shape:
    return (a.channels, *(conv_out(n, a) for n in _spatial(s, "conv")))


def _deconv_shape(a: ConvArgs, s: Shape) -> Shape:
    return (a.channels, *(deconv_out(n, a) for n in _spatial(s, "deconv")))


def _conv_params(a: ConvArgs, s: Shape) -> int:
    d = len(s) - 1
    return s[0] * a.channels * a.k ** d + (a.channels if a.bias else 0)


def _conv_inverse(a: ConvArgs, s_in: Shape, s_out: Shape) -> list[tuple[str, dict]]:
    if a.stride == 1 and a.pad == "same":
        return [("conv", {"channels": s_in[0], "k": a.k, "bias": a.bias})]
    back = {"channels": s_in[0], "k": a.k, "stride": a.stride, "pad": a.pad, "bias": a.bias}
    if a.pad != "same":  # give back what the conv's floor division dropped
        p = 0 if a.pad == "valid" else int(a.pad)
        short = {n - ((m - 1) * a.stride - 2 * p + a.k) for n, m in zip(s_in[1:], s_out[1:],
                                                                       strict=True)}
        if len(short) == 1 and 0 < (extra := short.pop()) < a.stride:
            back["output_padding"] = extra
    return [("deconv", back)]


def _deconv_inverse(a: ConvArgs, s_in: Shape, s_out: Shape) -> list[tuple[str, dict]]:
    return [("conv", {"channels": s_in[0], "k": a.k, "stride": a.stride, "bias": a.bias})]


def conv_padding(n: int, a: ConvArgs) -> tuple[int, int]:
    """(before, after) zeros for one spatial dim; `same` puts the odd one after (as TF)."""
    if a.pad != "same":
        p = 0 if a.pad == "valid" else int(a.pad)
        return p, p
    total = max((conv_out(n, a) - 1) * a.stride + a.k - n, 0)
    return total // 2, total - total // 2


def _build_conv(a: ConvArgs, s_in: Shape, s_out: Shape):
    """nn.Conv1d/2d; a Padded one where `same` needs more zeros after than before."""
    from torch import nn  # noqa: TID251

    from aespec.ops.modules import PaddedConv1d, PaddedConv2d

    pads = [conv_padding(n, a) for n in s_in[1:]]
    plain, padded = [(nn.Conv1d, PaddedConv1d), (nn.Conv2d, PaddedConv2d)][len(pads) - 1]
    if all(lo == hi for lo, hi in pads):
        return plain(s_in[0], a.channels, a.k, stride=a.stride, bias=a.bias,
                     padding=tuple(lo for lo, _ in pads))  # type: ignore[arg-type]
    f_pad = tuple(p for pair in reversed(pads) for p in pair)  # F.pad order: last dim first
    return padded(s_in[0], a.channels, a.k, stride=a.stride, bias=a.bias, pad=f_pad)


def _build_deconv(a: ConvArgs, s_in: Shape, s_out: Shape):
    from torch import nn  # noqa: TID251

    layer = [nn.ConvTranspose1d, nn.ConvTranspose2d][len(s_in) - 2]
    if a.pad == "same":
        padding, extra = deconv_padding(a)
    else:
        padding = 0 if a.pad == "valid" else int(a.pad)
        extra = getattr(a, "output_padding", 0)
    return layer(s_in[0], a.channels, a.k, stride=a.stride, padding=padding,
                 output_padding=extra, bias=a.bias)


_CONV_DOC = "1-D conv on `sequence`, 2-D on `image` (`nn.Conv1d/2d`); output size " \
    "`ceil(in/stride)` for `pad=same`, `floor((in-k)/stride)+1` for `valid`, " \
    "`floor((in+2p-k)/stride)+1` for an int `p`"
register(OpDef("conv", "layer", _CONV_DOC, ConvArgs, shape=_conv_shape, params=_conv_params,
               range=_unbounded, inverse=_conv_inverse,
               signature="conv(channels, k=3, stride=1, pad=same, bias=true)",
               params_doc="`in_ch*channels*k^d (+channels)`", build=_build_conv, style="conv",
               extra={"channels_last": True}))
register(OpDef("deconv", "layer", "transposed conv; with `pad=same` output size is "
               "`in*stride` (`nn.ConvTranspose1d/2d`)", DeconvArgs, shape=_deconv_shape,
               params=_conv_params, range=_unbounded, inverse=_deconv_inverse,
               params_doc="as `conv`", build=_build_deconv, style="conv",
               extra={"channels_last": True},
               signature="deconv(channels, k=3, stride=2, pad=same, bias=true, output_padding=0)"))

# ---------------------------------------------------------------- pooling, upsampling


class PoolArgs(Args):
    k: int = PosInt
    stride: Optional[int] = Field(None, gt=0)


def _pool_shape(a: PoolArgs, s: Shape) -> Shape:
    stride = a.stride or a.k
    spatial = _spatial(s, "pooling")
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


for _name, _torch in (("maxpool", "MaxPool"), ("avgpool", "AvgPool")):
    register(OpDef(_name, "shape", f"pooling (`nn.{_torch}1d/2d`); `H -> floor(H/k)` for "
                   "the default stride", PoolArgs, shape=_pool_shape, inverse=_pool_inverse,
                   signature=f"{_name}(k, stride=k)", build=_pool_builder(_name[:3])))


class UpsampleArgs(Args):
    factor: int = PosInt
    mode: Literal["nearest", "bilinear", "linear"] = "nearest"


def _upsample_shape(a: UpsampleArgs, s: Shape) -> Shape:
    return (s[0], *(n * a.factor for n in _spatial(s, "upsample")))


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


register(OpDef("upsample", "shape", "`nearest`, or `bilinear` (`linear` on sequences) "
               "interpolation (`nn.Upsample`)", UpsampleArgs, shape=_upsample_shape,
               inverse=_upsample_inverse, signature="upsample(factor, mode=nearest)",
               build=_build_upsample))

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


register(OpDef("flatten", "shape", "flattens to a vector", shape=lambda a, s: (count(s),),
               inverse=lambda a, s_in, s_out: [("reshape", {"dims": s_in})],
               signature="flatten", build=lambda a, s_in, s_out: lambda x: x.flatten(1)))
register(OpDef("reshape", "shape", "changes shape; the element count must match",
               ReshapeArgs, varargs="dims", shape=_reshape_shape,
               inverse=lambda a, s_in, s_out: [("reshape", {"dims": s_in})],
               label=lambda a: ", ".join(map(str, a.dims)), signature="reshape(d1, d2, ...)",
               build=lambda a, s_in, s_out: lambda x: x.reshape(-1, *a.dims)))

# ---------------------------------------------------------------- normalisation, dropout


class NormArgs(Args):
    eps: float = Field(1e-5, gt=0)


class DropoutArgs(Args):
    p: float = Field(ge=0, lt=1)


def _build_batchnorm(a: NormArgs, s_in: Shape, s_out: Shape):
    from torch import nn  # noqa: TID251

    return (nn.BatchNorm2d if len(s_in) == 3 else nn.BatchNorm1d)(s_in[0], eps=a.eps)


def _build_layernorm(a: NormArgs, s_in: Shape, s_out: Shape):
    """LayerNorm on vectors; GroupNorm(1, C) elsewhere: statistics over the whole example,
    scale and shift per channel (2*C parameters, where nn.LayerNorm would take 2*C*H*W)."""
    from torch import nn  # noqa: TID251

    from aespec.ops.modules import ExampleNorm

    if len(s_in) == 1:
        return nn.LayerNorm(s_in[0], eps=a.eps)
    return ExampleNorm(1, s_in[0], eps=a.eps)


def _build_dropout(a: DropoutArgs, s_in: Shape, s_out: Shape):
    from torch import nn  # noqa: TID251

    return nn.Dropout(a.p)


register(OpDef("batchnorm", "layer", "batch norm per channel (`nn.BatchNorm1d/2d`)",
               NormArgs, params=lambda a, s: 2 * s[0], range=_unbounded,
               signature="batchnorm", params_doc="`2*C`", build=_build_batchnorm,
               style="norm"))
register(OpDef("layernorm", "layer", "layer norm over all of an example's values with a "
               "per-channel (per-feature on vectors) scale and shift", NormArgs,
               params=lambda a, s: 2 * s[0], range=_unbounded, signature="layernorm",
               params_doc="`2*C`", build=_build_layernorm, style="norm"))
register(OpDef("dropout", "layer", "dropout, active in training only", DropoutArgs,
               range=lambda a, r: (min(r[0] / (1 - a.p), 0), max(r[1] / (1 - a.p), 0)),
               signature="dropout(p)", build=_build_dropout, style="norm",
               extra={"regularizes": True}))
