"""Stochastic latent ops (section 6 of the language): `gaussian`, bottleneck only."""

from __future__ import annotations

import math

from pydantic import Field

from aespec.ops.emitting import Op, Written, lit
from aespec.ops.layers import DenseArgs, PosInt, count, dense_inverse
from aespec.ops.registry import (
    Args,
    OpDef,
    Shape,
    ShapeProblem,
    _unbounded,
    fmt_num,
    register,
)


class GaussianLatentArgs(Args):
    dim: int = PosInt
    beta: float = Field(1.0, ge=0)
    samples: int = Field(1, gt=0)
    # K > 1: the importance-weighted bound of K draws (IWAE) replaces reconstruction + KL
    iw: int = Field(1, gt=0)


def _build_gaussian(a: GaussianLatentArgs, s_in: Shape, s_out: Shape):
    """GaussianLatent: (z, mu, logvar); its `kl` is the closed-form KL to N(0, I)."""
    from aespec.ops.modules import GaussianLatent

    return GaussianLatent(count(s_in), a.dim, a.samples * a.iw)


def _emit_gaussian(op: Op) -> Written:
    """Two heads in one layer, mu and log sigma^2; z by reparameterization in training."""
    a = op.args
    flat = ".flatten(1)" if len(op.in_shape) > 1 else ""
    lines = [f"mu, logvar = {op.m}({op.x}{flat}).chunk(2, dim=1)"
             f"  # ({a.dim},) each: the mean and log variance of q(z|x)",
             "if self.training:  # reparameterization: z = mu + sigma * eps, eps ~ N(0, I)"]
    draws = a.samples * a.iw  # L groups of K
    if draws == 1:
        lines += ["    eps = torch.randn_like(mu)",
                  f"    {op.out} = mu + torch.exp(0.5 * logvar) * eps"]
    else:
        lines += [f"    eps = torch.randn({draws}, *mu.shape, dtype=mu.dtype, "
                  "device=mu.device)",
                  f"    {op.out} = (mu + torch.exp(0.5 * logvar) * eps).flatten(0, 1)"
                  f"  # ({draws}*B, {a.dim}): {draws} draws, draw-major"]
    lines += ["else:", f"    {op.out} = mu  # evaluation: the mean"]
    init = f"nn.Linear({math.prod(op.in_shape)}, 2 * {a.dim})"
    renamed = tuple((f"net.{op.nid}.heads.{p}", f"{op.nid}.{p}") for p in ("weight", "bias"))
    return Written(tuple(lines), ((op.nid, init),), (f"{op.nid}.weight",), renamed)


register(OpDef(
    "gaussian", "latent", "two dense heads give `mu` and `log sigma^2`; `z = mu + sigma * eps` "
    "(reparameterization); adds `beta * KL(q(z|x) || N(0, I))`; `samples=L` averages the "
    "reconstruction over L draws; `iw=K` trains on the importance-weighted bound "
    "`log (1/K) Σₖ p(x|zₖ) p(zₖ) / q(zₖ|x)` instead (IWAE), averaged over the L groups; "
    "`z = mu` at evaluation", GaussianLatentArgs,
    shape=lambda a, s: (a.dim,), params=lambda a, s: 2 * (count(s) * a.dim + a.dim),
    range=_unbounded,
    inverse=lambda a, s_in, s_out: dense_inverse(DenseArgs(units=a.dim), s_in, s_out),
    signature="gaussian(dim, beta=1.0, samples=1, iw=1)",
    params_doc="`2 * (in * dim + dim)`", blocks=("bottleneck",), build=_build_gaussian,
    emit=_emit_gaussian, schedulable=("beta",)))


# ---------------------------------------------------------------- vq (VQ-VAE)


class VQArgs(Args):
    codes: int = PosInt
    dim: int = PosInt
    commitment: float = Field(0.25, ge=0)
    ema: float = Field(0.0, ge=0, lt=1)  # > 0: the codebook by moving averages, this decay


def _vq_shape(a: VQArgs, s: Shape) -> Shape:
    """A vector of `dim` values, or channels = `dim` at every position of a feature map."""
    if s[0] != a.dim:
        what = f"a vector of {s[0]} values" if len(s) == 1 else f"{s[0]} channels"
        fix = "dense" if len(s) == 1 else "conv"
        raise ShapeProblem(f"dim={a.dim} quantizes vectors of {a.dim} values, but the "
                           f"input {s} has {what}",
                           f"end the encoder (or bottleneck) in {fix}({a.dim}), or set "
                           f"dim={s[0]}", "E302")
    return s


def _build_vq(a: VQArgs, s_in: Shape, s_out: Shape):
    """VectorQuantizer: (z_q, codebook + commitment loss)."""
    from aespec.ops.modules import VectorQuantizer

    return VectorQuantizer(a.codes, a.dim, a.commitment, a.ema)


def _emit_vq(op: Op) -> Written:
    """`VectorQuantizer` of portable.py, as the compiled model runs it: (z_q, its term)."""
    a = op.args
    return Written((f"{op.out}, {op.nid}_loss = {op.m}({op.x})  # {lit(op.out_shape)}, and "
                    "the term vq",),
                   ((op.nid, f"VectorQuantizer({a.codes}, {a.dim}, {lit(a.commitment)}"
                     + (f", ema={lit(a.ema)})" if a.ema else ")")),),
                   helpers=("VectorQuantizer",))


register(OpDef(
    "vq", "layer", "nearest of `codes` learned vectors of `dim` values (per position, over "
    "channels, on a feature map); straight-through gradient; adds "
    "`‖sg[z_e] - e‖² + commitment * ‖z_e - sg[e]‖²` (means) as the term `vq`; `ema=0.9`: "
    "the codebook by exponential moving averages of the vectors that chose each entry (no "
    "gradient), the term the commitment alone",
    VQArgs, shape=_vq_shape, params=lambda a, s: a.codes * a.dim, range=_unbounded,
    signature="vq(codes, dim, commitment=0.25, ema=0)",
    params_doc="`codes * dim` (the codebook)",
    blocks=("bottleneck",), build=_build_vq, aux_loss="vq", style="latent", emit=_emit_vq,
    formula_of=lambda a: f"{fmt_num(a.commitment)}·‖z_e − sg[e]‖² (codebook: EMA "
    f"{fmt_num(a.ema)})" if a.ema else
    f"‖sg[z_e] − e‖² + {fmt_num(a.commitment)}·‖z_e − sg[e]‖²",
    regularizes=True,  # a code of log2(codes) bits a position cannot copy the input
    label=lambda a: f"{a.codes} codes × {a.dim}",
    unbatched="its codebook starts from the first batch's outputs and (ema) moves in "
    "place, steps that depend on the data, which the vmapped step cannot take",
    no_prior="vq's codes are discrete, with no prior over them: drawing needs one fitted on "
    "the training codes (the paper's PixelCNN), which aespec does not fit"))
