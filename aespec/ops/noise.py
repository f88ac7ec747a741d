"""Noise ops: corruptions of the encoder's input in training (section 5)."""

from __future__ import annotations

from pydantic import Field, model_validator

from aespec.ops.emitting import Op, Written, assign, lit
from aespec.ops.registry import UNBOUNDED, Args, OpDef, Shape, ShapeProblem, register


class StdArgs(Args):
    std: float = Field(ge=0)


class ProbArgs(Args):
    p: float = Field(ge=0, le=1)


class MaskArgs(Args):
    p: float = Field(ge=0, lt=1)


class OccludeArgs(Args):
    size: int = Field(gt=0)


class ClipArgs(Args):
    lo: float
    hi: float

    @model_validator(mode="after")
    def _ordered(self) -> ClipArgs:
        if self.lo >= self.hi:
            raise ValueError(f"clip needs lo < hi, got lo={self.lo:g}, hi={self.hi:g}")
        return self


def _occlude_shape(a: OccludeArgs, s: Shape) -> Shape:
    if len(s) != 3:
        raise ShapeProblem(f"occlude needs an image input (C, H, W), got {s}",
                           "use mask(p) on vectors and sequences")
    if a.size > min(s[1:]):
        raise ShapeProblem(f"occlude({a.size}) is larger than the image {s[1]}x{s[2]}")
    return s


# Builders return a function of the clean tensor (traced into the generated code), or a
# module; they import torch when called.  The model applies noise in training only.


def _build_gaussian(a: StdArgs, s_in: Shape, s_out: Shape):
    import torch  # noqa: TID251

    return lambda x: x + torch.randn_like(x) * a.std


def _build_mask(a: MaskArgs, s_in: Shape, s_out: Shape):
    import torch  # noqa: TID251

    return lambda x: x * (torch.rand_like(x) >= a.p)  # b ~ Bernoulli(1 - p)


def _build_salt_pepper(a: ProbArgs, s_in: Shape, s_out: Shape):
    """One uniform u per element: u < p/2 gives 0, p/2 <= u < p gives 1, else x."""
    import torch  # noqa: TID251

    def salt_pepper(x):
        u = torch.rand_like(x)
        return torch.where(u < a.p, (u >= a.p / 2).type_as(x), x)

    return salt_pepper


def _build_occlude(a: OccludeArgs, s_in: Shape, s_out: Shape):
    from aespec.ops.modules import Occlude

    return Occlude(a.size)


# Emit rules: the same corruptions written out, `x -> x`.


def _emit_salt_pepper(op: Op) -> Written:
    p = op.args.p
    return Written(("u = torch.rand_like(x)  # one uniform per value: < p/2 black, < p white",
                    f"{op.out} = torch.where(u < {lit(p)}, (u >= {lit(p / 2)}).type_as({op.x}), "
                    f"{op.x})"))


def _noise(name: str, doc: str, args: type[Args], signature: str, **kw) -> None:
    register(OpDef(name, "noise", doc, args, signature=signature, place="noise",
                   blocks=("noise",), **kw))


_noise("gaussian", "`x + N(0, std^2)`", StdArgs, "gaussian(std)",
       range=lambda a, r: UNBOUNDED if a.std else r, build=_build_gaussian,
       emit=lambda op: assign(op, f"{op.x} + torch.randn_like({op.x}) * {lit(op.args.std)}"))
_noise("mask", "each element set to 0 with probability `p` (`x * b`, `b ~ Bernoulli(1-p)`)",
       MaskArgs, "mask(p)", range=lambda a, r: (min(r[0], 0.0), max(r[1], 0.0)),
       build=_build_mask,
       emit=lambda op: assign(op, f"{op.x} * (torch.rand_like({op.x}) >= {lit(op.args.p)})"))
_noise("salt_pepper", "each element set to 0 or 1 (half each) with probability `p`",
       ProbArgs, "salt_pepper(p)", range=lambda a, r: (min(r[0], 0.0), max(r[1], 1.0)),
       build=_build_salt_pepper, emit=_emit_salt_pepper)
_noise("occlude", "one random `size x size` square per image set to 0 (inpainting)",
       OccludeArgs, "occlude(size)", shape=_occlude_shape,
       range=lambda a, r: (min(r[0], 0.0), max(r[1], 0.0)), build=_build_occlude,
       emit=lambda op: Written((f"{op.out} = occlude({op.x}, {op.args.size})",),
                               helpers=("occlude",)))
_noise("clip", "clamp to `[lo, hi]`", ClipArgs, "clip(lo, hi)",
       range=lambda a, r: (max(r[0], a.lo), min(r[1], a.hi)),
       build=lambda a, s_in, s_out: lambda x: x.clamp(a.lo, a.hi),
       emit=lambda op: assign(op, f"{op.x}.clamp({lit(op.args.lo)}, {lit(op.args.hi)})"))
