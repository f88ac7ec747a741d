"""Layer, activation, shape, join and latent ops (section 4 and 6 of the language)."""

from __future__ import annotations

import math
from typing import Annotated, Literal, Optional, Union

from pydantic import Field

from aespec.ops import (
    UNBOUNDED,
    Args,
    NoArgs,
    OpDef,
    Range,
    Shape,
    ShapeProblem,
    _fmt,
    _unbounded,
    register,
)

PosInt = Field(gt=0)


def _spatial(s: Shape, op: str) -> Shape:
    if len(s) not in (2, 3):
        raise ShapeProblem(f"{op} needs a sequence (C, L) or an image (C, H, W), got {s}",
                           "use dense on vectors, or reshape to (C, L) / (C, H, W) first",
                           "E302")
    return s[1:]


def _count(s: Shape) -> int:
    return math.prod(s)


# Builders (`OpDef.build`) turn an op into torch: `build(args, in_shape, out_shape)` returns
# an `nn.Module` for an op with parameters or state, else a plain function of the tensors
# (traced into the generated code).  They import torch when called, never at import time.


def _torch_function(name: str):
    """torch.NAME where it exists (shorter generated code), else torch.nn.functional.NAME."""
    import torch  # noqa: TID251

    return getattr(torch, name, None) or getattr(torch.nn.functional, name)


def _functional(name: str, **fields: str):
    """Builder of `NAME(x, key=args.field, ...)`, a torch function."""

    def build(a: Args, s_in: Shape, s_out: Shape):
        fn, kwargs = _torch_function(name), {key: getattr(a, f) for key, f in fields.items()}
        return lambda x: fn(x, **kwargs)

    return build


# ---------------------------------------------------------------- dense


class DenseArgs(Args):
    units: int = PosInt
    bias: bool = True


def _dense_params(a: DenseArgs, s: Shape) -> int:
    return _count(s) * a.units + (a.units if a.bias else 0)


def _dense_inverse(a: DenseArgs, s_in: Shape, s_out: Shape) -> list[tuple[str, dict]]:
    back = [("dense", {"units": _count(s_in), "bias": a.bias})]
    return back + ([("reshape", {"dims": s_in})] if len(s_in) > 1 else [])


def _build_dense(a: DenseArgs, s_in: Shape, s_out: Shape, tied=None):
    """nn.Linear; FlatLinear on a non-vector input; TiedLinear in a tied mirror."""
    from torch import nn  # noqa: TID251

    from aespec.compile.modules import FlatLinear, TiedLinear

    if tied is not None:
        return TiedLinear(tied, a.bias)
    layer = nn.Linear if len(s_in) == 1 else FlatLinear
    return layer(_count(s_in), a.units, bias=a.bias)


register(OpDef(
    "dense", "layer", "fully connected; flattens its input first if it is not a vector "
    "(`nn.Linear`)", DenseArgs, shape=lambda a, s: (a.units,), params=_dense_params,
    range=_unbounded, inverse=_dense_inverse, signature="dense(units, bias=true)",
    params_doc="`in*units (+units)`", build=_build_dense))

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
    out = (n - 1) * a.stride - 2 * p + a.k
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
    return [("deconv", {"channels": s_in[0], "k": a.k, "stride": a.stride, "pad": a.pad,
                        "bias": a.bias})]


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

    from aespec.compile.modules import PaddedConv1d, PaddedConv2d

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
        padding, extra = (0 if a.pad == "valid" else int(a.pad)), 0
    return layer(s_in[0], a.channels, a.k, stride=a.stride, padding=padding,
                 output_padding=extra, bias=a.bias)


_CONV_DOC = "1-D conv on `sequence`, 2-D on `image` (`nn.Conv1d/2d`); output size " \
    "`ceil(in/stride)` for `pad=same`, `floor((in-k)/stride)+1` for `valid`, " \
    "`floor((in+2p-k)/stride)+1` for an int `p`"
register(OpDef("conv", "layer", _CONV_DOC, ConvArgs, shape=_conv_shape, params=_conv_params,
               range=_unbounded, inverse=_conv_inverse,
               signature="conv(channels, k=3, stride=1, pad=same, bias=true)",
               params_doc="`in_ch*channels*k^d (+channels)`", build=_build_conv, style="conv"))
register(OpDef("deconv", "layer", "transposed conv; with `pad=same` output size is "
               "`in*stride` (`nn.ConvTranspose1d/2d`)", DeconvArgs, shape=_deconv_shape,
               params=_conv_params, range=_unbounded, inverse=_deconv_inverse,
               params_doc="as `conv`", build=_build_deconv, style="conv",
               signature="deconv(channels, k=3, stride=2, pad=same, bias=true)"))

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
        pool, stride = _torch_function(f"{kind}_pool{len(s_in) - 1}d"), a.stride or a.k
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
    if math.prod(a.dims) != _count(s):
        raise ShapeProblem(
            f"reshape{_fmt(a.dims)} holds {math.prod(a.dims)} values but its input {s} "
            f"holds {_count(s)}", f"choose sizes whose product is {_count(s)}", "E303")
    return tuple(a.dims)


register(OpDef("flatten", "shape", "flattens to a vector", shape=lambda a, s: (_count(s),),
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

    if len(s_in) == 1:
        return nn.LayerNorm(s_in[0], eps=a.eps)
    return nn.GroupNorm(1, s_in[0], eps=a.eps)


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
               signature="dropout(p)", build=_build_dropout, style="norm"))

# ---------------------------------------------------------------- activations


class LeakyArgs(Args):
    slope: float = Field(0.01, ge=0)


class EluArgs(Args):
    alpha: float = Field(1.0, gt=0)


def _activation(name: str, doc: str, out: Range, args: type[Args] = NoArgs,
                signature: str | None = None, build=None) -> None:
    register(OpDef(name, "activation", doc, args, range=lambda a, r: out,
                   signature=signature or name, build=build or _functional(name)))


_activation("relu", "max(x, 0)", (0.0, math.inf))
_activation("leaky_relu", "x if x > 0 else slope*x", UNBOUNDED, LeakyArgs,
            "leaky_relu(slope=0.01)", _functional("leaky_relu", negative_slope="slope"))
_activation("sigmoid", "1 / (1 + exp(-x)), in (0, 1)", (0.0, 1.0))
_activation("tanh", "in (-1, 1)", (-1.0, 1.0))
_activation("gelu", "x * Phi(x)", (-0.17, math.inf))
_activation("elu", "x if x > 0 else alpha*(exp(x)-1)", (-1.0, math.inf), EluArgs,
            "elu(alpha=1.0)", _functional("elu", alpha="alpha"))
_activation("softplus", "log(1 + exp(x)), in (0, inf)", (0.0, math.inf))
register(OpDef("identity", "activation", "no-op", signature="identity",
               build=lambda a, s_in, s_out: lambda x: x))

# ---------------------------------------------------------------- joins


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

# ---------------------------------------------------------------- stochastic latent


class GaussianLatentArgs(Args):
    dim: int = PosInt
    beta: float = Field(1.0, ge=0)
    samples: int = Field(1, gt=0)


def _build_gaussian(a: GaussianLatentArgs, s_in: Shape, s_out: Shape):
    """GaussianLatent: (z, mu, logvar); its `kl` is the closed-form KL to N(0, I)."""
    from aespec.compile.modules import GaussianLatent

    return GaussianLatent(_count(s_in), a.dim, a.samples)


register(OpDef(
    "gaussian", "latent", "two dense heads give `mu` and `log sigma^2`; `z = mu + sigma * eps` "
    "(reparameterization); adds `beta * KL(q(z|x) || N(0, I))`; `samples=L` averages the "
    "reconstruction over L draws; `z = mu` at evaluation", GaussianLatentArgs,
    shape=lambda a, s: (a.dim,), params=lambda a, s: 2 * (_count(s) * a.dim + a.dim),
    range=_unbounded, inverse=lambda a, s_in, s_out: _dense_inverse(DenseArgs(units=a.dim),
                                                                    s_in, s_out),
    signature="gaussian(dim, beta=1.0, samples=1)",
    params_doc="`2 * (in * dim + dim)`", blocks=("bottleneck",), build=_build_gaussian))
