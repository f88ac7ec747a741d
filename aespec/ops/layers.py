"""Layer, activation, shape, join and latent ops (section 4 and 6 of the language)."""

from __future__ import annotations

import math
from typing import Literal, Optional, Union

from pydantic import Field

from aespec.ops import (UNBOUNDED, Args, NoArgs, OpDef, Range, Shape, ShapeProblem,
                        _fmt, _unbounded, format_args, register)

PosInt = Field(gt=0)


def _spatial(s: Shape, op: str) -> Shape:
    if len(s) not in (2, 3):
        raise ShapeProblem(f"{op} needs a sequence (C, L) or an image (C, H, W), got {s}",
                           "use dense on vectors, or reshape to (C, L) / (C, H, W) first",
                           "E302")
    return s[1:]


def _count(s: Shape) -> int:
    return math.prod(s)


# ---------------------------------------------------------------- dense


class DenseArgs(Args):
    units: int = PosInt
    bias: bool = True


def _dense_params(a: DenseArgs, s: Shape) -> int:
    return _count(s) * a.units + (a.units if a.bias else 0)


def _dense_inverse(a: DenseArgs, s_in: Shape, s_out: Shape) -> list[tuple[str, dict]]:
    back = [("dense", {"units": _count(s_in), "bias": a.bias})]
    return back + ([("reshape", {"dims": s_in})] if len(s_in) > 1 else [])


register(OpDef(
    "dense", "layer", "fully connected; flattens its input first if it is not a vector "
    "(`nn.Linear`)", DenseArgs, shape=lambda a, s: (a.units,), params=_dense_params,
    range=_unbounded, inverse=_dense_inverse, signature="dense(units, bias=true)",
    params_doc="`in*units (+units)`"))

# ---------------------------------------------------------------- conv / deconv

Pad = Union[Literal["same", "valid"], int]


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


_CONV_DOC = "1-D conv on `sequence`, 2-D on `image` (`nn.Conv1d/2d`); output size " \
    "`ceil(in/stride)` for `pad=same`, `floor((in-k)/stride)+1` for `valid`, " \
    "`floor((in+2p-k)/stride)+1` for an int `p`"
register(OpDef("conv", "layer", _CONV_DOC, ConvArgs, shape=_conv_shape, params=_conv_params,
               range=_unbounded, inverse=_conv_inverse,
               signature="conv(channels, k=3, stride=1, pad=same, bias=true)",
               params_doc="`in_ch*channels*k^d (+channels)`"))
register(OpDef("deconv", "layer", "transposed conv; with `pad=same` output size is "
               "`in*stride` (`nn.ConvTranspose1d/2d`)", DeconvArgs, shape=_deconv_shape,
               params=_conv_params, range=_unbounded, inverse=_deconv_inverse,
               params_doc="as `conv`",
               signature="deconv(channels, k=3, stride=2, pad=same, bias=true)"))

# ---------------------------------------------------------------- pooling, upsampling


class PoolArgs(Args):
    k: int = PosInt
    stride: Optional[int] = Field(None, gt=0)


def _pool_shape(a: PoolArgs, s: Shape) -> Shape:
    stride = a.stride or a.k
    spatial = _spatial(s, "pooling")
    if min(spatial) < a.k:
        raise ShapeProblem(f"pool size {a.k} is larger than the input {'x'.join(map(str, spatial))}",
                           "pool less, downsample less before this op, or remove it", "E302")
    return (s[0], *((n - a.k) // stride + 1 for n in spatial))


def _pool_inverse(a: PoolArgs, s_in: Shape, s_out: Shape) -> list[tuple[str, dict]]:
    return [("upsample", {"factor": a.stride or a.k})]


for _name, _torch in (("maxpool", "MaxPool"), ("avgpool", "AvgPool")):
    register(OpDef(_name, "shape", f"pooling (`nn.{_torch}1d/2d`); `H -> floor(H/k)` for "
                   "the default stride", PoolArgs, shape=_pool_shape, inverse=_pool_inverse,
                   signature=f"{_name}(k, stride=k)"))


class UpsampleArgs(Args):
    factor: int = PosInt
    mode: Literal["nearest", "bilinear", "linear"] = "nearest"


def _upsample_shape(a: UpsampleArgs, s: Shape) -> Shape:
    return (s[0], *(n * a.factor for n in _spatial(s, "upsample")))


def _upsample_inverse(a: UpsampleArgs, s_in: Shape, s_out: Shape) -> list[tuple[str, dict]]:
    return [("avgpool", {"k": a.factor})]


register(OpDef("upsample", "shape", "`nearest`, or `bilinear` (`linear` on sequences) "
               "interpolation (`nn.Upsample`)", UpsampleArgs, shape=_upsample_shape,
               inverse=_upsample_inverse, signature="upsample(factor, mode=nearest)"))

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
               signature="flatten"))
register(OpDef("reshape", "shape", "changes shape; the element count must match",
               ReshapeArgs, varargs="dims", shape=_reshape_shape,
               inverse=lambda a, s_in, s_out: [("reshape", {"dims": s_in})],
               label=lambda a: ", ".join(map(str, a.dims)), signature="reshape(d1, d2, ...)"))

# ---------------------------------------------------------------- normalisation, dropout


class NormArgs(Args):
    eps: float = Field(1e-5, gt=0)


class DropoutArgs(Args):
    p: float = Field(ge=0, lt=1)


register(OpDef("batchnorm", "layer", "batch norm per channel (`nn.BatchNorm1d/2d`)",
               NormArgs, params=lambda a, s: 2 * s[0], range=_unbounded,
               signature="batchnorm", params_doc="`2*C`"))
register(OpDef("layernorm", "layer", "layer norm over all of an example's values with a "
               "per-channel (per-feature on vectors) scale and shift", NormArgs,
               params=lambda a, s: 2 * s[0], range=_unbounded, signature="layernorm",
               params_doc="`2*C`"))
register(OpDef("dropout", "layer", "dropout, active in training only", DropoutArgs,
               range=lambda a, r: (min(r[0] / (1 - a.p), 0), max(r[1] / (1 - a.p), 0)),
               signature="dropout(p)"))

# ---------------------------------------------------------------- activations


class LeakyArgs(Args):
    slope: float = Field(0.01, ge=0)


class EluArgs(Args):
    alpha: float = Field(1.0, gt=0)


def _activation(name: str, doc: str, out: Range, args: type[Args] = NoArgs,
                signature: str | None = None) -> None:
    register(OpDef(name, "activation", doc, args, range=lambda a, r: out,
                   signature=signature or name))


_activation("relu", "max(x, 0)", (0.0, math.inf))
_activation("leaky_relu", "x if x > 0 else slope*x", UNBOUNDED, LeakyArgs,
            "leaky_relu(slope=0.01)")
_activation("sigmoid", "1 / (1 + exp(-x)), in (0, 1)", (0.0, 1.0))
_activation("tanh", "in (-1, 1)", (-1.0, 1.0))
_activation("gelu", "x * Phi(x)", (-0.17, math.inf))
_activation("elu", "x if x > 0 else alpha*(exp(x)-1)", (-1.0, math.inf), EluArgs,
            "elu(alpha=1.0)")
_activation("softplus", "log(1 + exp(x)), in (0, inf)", (0.0, math.inf))
register(OpDef("identity", "activation", "no-op", signature="identity"))

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
        ratio = [o / n for o, n in zip(other[1:], s[1:])]
        if all(r == ratio[0] and r > 1 and r.is_integer() for r in ratio):
            return f"upsample({int(ratio[0])}) before the join would match the sizes"
        if all(r == ratio[0] and r < 1 and (1 / r).is_integer() for r in ratio):
            return f"the current tensor is {int(1 / ratio[0])}x larger: join earlier or pool it"
    return None


register(OpDef("concat", "join", "joins the current tensor with a named one; channels are "
               "concatenated", JoinArgs, label=lambda a: a.name, signature="concat(NAME)",
               extra={"join_shape": _concat_shape,
                      "join_range": lambda r, o: (min(r[0], o[0]), max(r[1], o[1]))}))
register(OpDef("add", "join", "adds a named tensor of the same shape", JoinArgs,
               label=lambda a: a.name, signature="add(NAME)",
               extra={"join_shape": _add_shape,
                      "join_range": lambda r, o: (r[0] + o[0], r[1] + o[1])}))

# ---------------------------------------------------------------- stochastic latent


class GaussianLatentArgs(Args):
    dim: int = PosInt
    beta: float = Field(1.0, ge=0)
    samples: int = Field(1, gt=0)


register(OpDef(
    "gaussian", "latent", "two dense heads give `mu` and `log sigma^2`; `z = mu + sigma * eps` "
    "(reparameterization); adds `beta * KL(q(z|x) || N(0, I))`; `samples=L` averages the "
    "reconstruction over L draws; `z = mu` at evaluation", GaussianLatentArgs,
    shape=lambda a, s: (a.dim,), params=lambda a, s: 2 * (_count(s) * a.dim + a.dim),
    range=_unbounded, inverse=lambda a, s_in, s_out: _dense_inverse(DenseArgs(units=a.dim),
                                                                    s_in, s_out),
    signature="gaussian(dim, beta=1.0, samples=1)",
    params_doc="`2 * (in * dim + dim)`", blocks=("bottleneck",)))
