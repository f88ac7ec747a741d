"""Layer ops (section 4 of the language): dense, conv and deconv, norms and dropout, each
with its shape, parameter, mirror, torch and emit rules.

Also what the other op modules share: `PosInt`, `count`, `spatial_dims`, `torch_function`
and `dense_inverse`.  Shape ops (pooling, upsample, crop, flatten, reshape) are in
`aespec.ops.shapes`, activations in `aespec.ops.activations`, joins (skip connections) in
`aespec.ops.joins`, stochastic latents in `aespec.ops.latents`.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from aespec.ops.emitting import Op, Written, lit, options
from aespec.ops.registry import Args, OpDef, Shape, ShapeProblem, _unbounded, register

PosInt = Field(gt=0)


def spatial_dims(s: Shape, op: str) -> Shape:
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


def _emit_dense(op: Op) -> Written:
    a = op.args
    if op.tied_to:  # the encoder layer's weight, transposed; only the bias is new
        bias = f"self.{op.nid}_bias"
        call = f"F.linear({op.x}, self.{op.tied_to}.weight.t(){', ' + bias if a.bias else ''})"
        layers = ((f"{op.nid}_bias", f"nn.Parameter(torch.zeros({a.units}))  # -> ({a.units},)"
                   f" with the tied weight {op.tied_to}.weight.t()"),) if a.bias else ()
        renamed = ((f"net.{op.nid}.weight", None),) + (
            ((f"net.{op.nid}.bias", f"{op.nid}_bias"),) if a.bias else ())
        return Written((f"{op.out} = {call}",), layers, (f"{op.tied_to}.weight",), renamed)
    flat = ".flatten(1)" if len(op.in_shape) > 1 else ""
    no_bias = options(bias=None if a.bias else False)
    init = f"nn.Linear({math.prod(op.in_shape)}, {a.units}{no_bias})"
    return Written((f"{op.out} = {op.m}({op.x}{flat})",), ((op.nid, init),),
                   (f"{op.nid}.weight",))


register(OpDef(
    "dense", "layer", "fully connected; flattens its input first if it is not a vector "
    "(`nn.Linear`)", DenseArgs, shape=lambda a, s: (a.units,), params=_dense_params,
    range=_unbounded, inverse=dense_inverse, signature="dense(units, bias=true)",
    params_doc="`in*units (+units)`", build=_build_dense,
    tied_params=lambda a: a.units if a.bias else 0, emit=_emit_dense,
    aliases=("linear",)))

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
    return (a.channels, *(conv_out(n, a) for n in spatial_dims(s, "conv")))


def _deconv_shape(a: ConvArgs, s: Shape) -> Shape:
    return (a.channels, *(deconv_out(n, a) for n in spatial_dims(s, "deconv")))


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


def _emit_conv(op: Op) -> Written:
    a, dims = op.args, len(op.in_shape) - 1
    pads = [conv_padding(n, a) for n in op.in_shape[1:]]
    symmetric = all(lo == hi for lo, hi in pads)
    los = tuple(lo for lo, _ in pads)
    padding = None if not symmetric or not any(los) else (
        los[0] if len(set(los)) == 1 else los)
    init = (f"nn.Conv{dims}d({op.in_shape[0]}, {a.channels}, {a.k}"
            f"{options(stride=a.stride if a.stride != 1 else None, padding=padding)}"
            f"{options(bias=None if a.bias else False)})")
    x = op.x
    if not symmetric:  # `same` with an odd total: the extra zero after (as TensorFlow)
        f_pad = tuple(p for pair in reversed(pads) for p in pair)  # F.pad: last dim first
        x = f"F.pad({op.x}, {lit(f_pad)})"
    return Written((f"{op.out} = {op.m}({x})",), ((op.nid, init),), (f"{op.nid}.weight",))


def _emit_deconv(op: Op) -> Written:
    a, dims = op.args, len(op.in_shape) - 1
    if a.pad == "same":
        padding, extra = deconv_padding(a)
    else:
        padding, extra = (0 if a.pad == "valid" else int(a.pad)), a.output_padding
    init = (f"nn.ConvTranspose{dims}d({op.in_shape[0]}, {a.channels}, {a.k}"
            f"{options(stride=a.stride if a.stride != 1 else None, padding=padding or None)}"
            f"{options(output_padding=extra or None, bias=None if a.bias else False)})")
    return Written((f"{op.out} = {op.m}({op.x})",), ((op.nid, init),), (f"{op.nid}.weight",))


_CONV_DOC = "1-D conv on `sequence`, 2-D on `image` (`nn.Conv1d/2d`); output size " \
    "`ceil(in/stride)` for `pad=same`, `floor((in-k)/stride)+1` for `valid`, " \
    "`floor((in+2p-k)/stride)+1` for an int `p`"
register(OpDef("conv", "layer", _CONV_DOC, ConvArgs, shape=_conv_shape, params=_conv_params,
               range=_unbounded, inverse=_conv_inverse,
               signature="conv(channels, k=3, stride=1, pad=same, bias=true)",
               params_doc="`in_ch*channels*k^d (+channels)`", build=_build_conv, style="conv",
               channels_last=True, emit=_emit_conv, aliases=("conv2d", "conv1d")))
register(OpDef("deconv", "layer", "transposed conv; with `pad=same` output size is "
               "`in*stride` (`nn.ConvTranspose1d/2d`)", DeconvArgs, shape=_deconv_shape,
               params=_conv_params, range=_unbounded, inverse=_deconv_inverse,
               params_doc="as `conv`", build=_build_deconv, style="conv",
               channels_last=True, emit=_emit_deconv,
               aliases=("conv2d_transpose", "convtranspose2d", "conv_transpose"),
               signature="deconv(channels, k=3, stride=2, pad=same, bias=true, output_padding=0)"))

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


def _eps(a: NormArgs) -> str:
    return "" if a.eps == 1e-5 else f", eps={lit(a.eps)}"


def _emit_batchnorm(op: Op) -> Written:
    dims = 2 if len(op.in_shape) == 3 else 1
    init = f"nn.BatchNorm{dims}d({op.in_shape[0]}{_eps(op.args)})"
    return Written((f"{op.out} = {op.m}({op.x})",), ((op.nid, init),))


def _emit_layernorm(op: Op) -> Written:
    """LayerNorm on vectors; elsewhere GroupNorm(1, C) (statistics over the whole example,
    a scale and shift per channel) in plain ops, as aespec builds it (`ExampleNorm`)."""
    c = op.in_shape[0]
    if len(op.in_shape) == 1:
        return Written((f"{op.out} = {op.m}({op.x})",),
                       ((op.nid, f"nn.LayerNorm({c}{_eps(op.args)})"),))
    return Written((f"{op.out} = {op.m}({op.x})",),
                   ((op.nid, f"ExampleNorm(1, {c}{_eps(op.args)})"),), helpers=("example_norm",))


def _emit_dropout(op: Op) -> Written:
    return Written((f"{op.out} = {op.m}({op.x})",), ((op.nid, f"nn.Dropout({lit(op.args.p)})"),))


register(OpDef("batchnorm", "layer", "batch norm per channel (`nn.BatchNorm1d/2d`)",
               NormArgs, params=lambda a, s: 2 * s[0], range=_unbounded,
               signature="batchnorm", params_doc="`2*C`", build=_build_batchnorm,
               style="norm", emit=_emit_batchnorm, aliases=("batch_norm", "batchnorm2d")))
register(OpDef("layernorm", "layer", "layer norm over all of an example's values with a "
               "per-channel (per-feature on vectors) scale and shift", NormArgs,
               params=lambda a, s: 2 * s[0], range=_unbounded, signature="layernorm",
               params_doc="`2*C`", build=_build_layernorm, style="norm",
               emit=_emit_layernorm, aliases=("layer_norm",)))
register(OpDef("dropout", "layer", "dropout, active in training only", DropoutArgs,
               range=lambda a, r: (min(r[0] / (1 - a.p), 0), max(r[1] / (1 - a.p), 0)),
               signature="dropout(p)", build=_build_dropout, style="norm",
               regularizes=True, emit=_emit_dropout))

# ---------------------------------------------------------------- k-sparse


class KSparseArgs(Args):
    k: int = PosInt
    # at evaluation the alpha*k largest are kept (Makhzani and Frey use alpha > 1 when the
    # code feeds a classifier; 1 keeps the code as sparse as it was trained)
    alpha: float = Field(1.0, ge=1)


def eval_k(a: KSparseArgs, s: Shape) -> int:
    """How many values `ksparse` keeps in evaluation: alpha*k rounded down, at most all."""
    return min(count(s), math.floor(a.alpha * a.k))


def _ksparse_shape(a: KSparseArgs, s: Shape) -> Shape:
    if a.k > count(s):
        raise ShapeProblem(f"ksparse({a.k}) keeps {a.k} values, but its input {s} has "
                           f"only {count(s)}", f"use k <= {count(s)}, or a wider layer "
                           "before it")
    return s


def _build_ksparse(a: KSparseArgs, s_in: Shape, s_out: Shape):
    from aespec.ops.modules import KSparse

    return KSparse(a.k, eval_k(a, s_in))


def _emit_ksparse(op: Op) -> Written:
    k, at_eval = op.args.k, eval_k(op.args, op.in_shape)
    how = str(k) if at_eval == k else f"{k} if self.training else {at_eval}"
    return Written((f"{op.out} = ksparse({op.x}, {how})",), helpers=("ksparse",))


register(OpDef("ksparse", "layer", "keeps each example's `k` largest values and sets the "
               "others to 0 (Makhzani and Frey's k-sparse autoencoder); gradients reach the "
               "kept values only; in evaluation it keeps the `alpha*k` largest (at most all)",
               KSparseArgs, shape=_ksparse_shape,
               range=lambda a, r: (min(r[0], 0.0), max(r[1], 0.0)),
               signature="ksparse(k, alpha=1.0)", build=_build_ksparse, style="norm",
               regularizes=True, emit=_emit_ksparse, aliases=("topk", "k_sparse")))
