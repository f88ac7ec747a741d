"""How each registry op is written as PyTorch source: one rule per op, by place and name.

A rule reads an IR node (`Op`) and gives what the emitted file needs: the layers it owns
(`self.<attr> = nn.Conv2d(...)`), its forward lines, its weight tensors (for `l1`/`l2`),
the compiled model's state_dict keys it stores under another name, and the helper functions
it calls.  The forms are those of the registry's torch builders (`aespec.ops`), so the
emitted module computes what the compiled one does; tests/test_emit.py checks it op by op.
An op without a rule here is refused (E313), never guessed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aespec.emit.strings import literal
from aespec.ops.layers import conv_padding, deconv_padding

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


def lit(value: Any) -> str:
    """A Python literal that reads back as the same value (floats by `repr`)."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(map(lit, value)) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def q(text: str) -> str:
    """A string literal in double quotes that reads back as exactly `text`."""
    return literal(text)


def _kw(**options: Any) -> str:
    """`, stride=2, bias=False` of the options that are not None."""
    return "".join(f", {k}={lit(v)}" for k, v in options.items() if v is not None)


def _one(op: Op, expr: str) -> Written:
    return Written((f"{op.out} = {expr}",))


# ---------------------------------------------------------------- layers


def _dense(op: Op) -> Written:
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
    init = f"nn.Linear({math.prod(op.in_shape)}, {a.units}{_kw(bias=None if a.bias else False)})"
    return Written((f"{op.out} = {op.m}({op.x}{flat})",), ((op.nid, init),),
                   (f"{op.nid}.weight",))


def _conv(op: Op) -> Written:
    a, dims = op.args, len(op.in_shape) - 1
    pads = [conv_padding(n, a) for n in op.in_shape[1:]]
    symmetric = all(lo == hi for lo, hi in pads)
    los = tuple(lo for lo, _ in pads)
    padding = None if not symmetric or not any(los) else (
        los[0] if len(set(los)) == 1 else los)
    init = (f"nn.Conv{dims}d({op.in_shape[0]}, {a.channels}, {a.k}"
            f"{_kw(stride=a.stride if a.stride != 1 else None, padding=padding)}"
            f"{_kw(bias=None if a.bias else False)})")
    x = op.x
    if not symmetric:  # `same` with an odd total: the extra zero after (as TensorFlow)
        f_pad = tuple(p for pair in reversed(pads) for p in pair)  # F.pad: last dim first
        x = f"F.pad({op.x}, {lit(f_pad)})"
    return Written((f"{op.out} = {op.m}({x})",), ((op.nid, init),), (f"{op.nid}.weight",))


def _deconv(op: Op) -> Written:
    a, dims = op.args, len(op.in_shape) - 1
    if a.pad == "same":
        padding, extra = deconv_padding(a)
    else:
        padding, extra = (0 if a.pad == "valid" else int(a.pad)), a.output_padding
    init = (f"nn.ConvTranspose{dims}d({op.in_shape[0]}, {a.channels}, {a.k}"
            f"{_kw(stride=a.stride if a.stride != 1 else None, padding=padding or None)}"
            f"{_kw(output_padding=extra or None, bias=None if a.bias else False)})")
    return Written((f"{op.out} = {op.m}({op.x})",), ((op.nid, init),), (f"{op.nid}.weight",))


def _pool(kind: str) -> Rule:
    def rule(op: Op) -> Written:
        a, dims = op.args, len(op.in_shape) - 1
        stride = "" if a.stride in (None, a.k) else f", stride={a.stride}"
        return _one(op, f"F.{kind}_pool{dims}d({op.x}, {a.k}{stride})")

    return rule


def _upsample(op: Op) -> Written:
    a = op.args
    scale = f"scale_factor={lit(float(a.factor))}"
    if a.mode == "nearest":
        return _one(op, f'F.interpolate({op.x}, {scale}, mode="nearest")')
    mode = "linear" if len(op.in_shape) == 2 else "bilinear"
    return _one(op, f'F.interpolate({op.x}, {scale}, mode="{mode}", align_corners=False)')


def _reshape(op: Op) -> Written:
    return _one(op, f"{op.x}.reshape(-1, {', '.join(map(str, op.args.dims))})")


def _eps(a: Any) -> str:
    return "" if a.eps == 1e-5 else f", eps={lit(a.eps)}"


def _batchnorm(op: Op) -> Written:
    dims = 2 if len(op.in_shape) == 3 else 1
    init = f"nn.BatchNorm{dims}d({op.in_shape[0]}{_eps(op.args)})"
    return Written((f"{op.out} = {op.m}({op.x})",), ((op.nid, init),))


def _layernorm(op: Op) -> Written:
    """LayerNorm on vectors; elsewhere GroupNorm(1, C) (statistics over the whole example,
    a scale and shift per channel) in plain ops, as aespec builds it (`ExampleNorm`)."""
    c = op.in_shape[0]
    if len(op.in_shape) == 1:
        return Written((f"{op.out} = {op.m}({op.x})",),
                       ((op.nid, f"nn.LayerNorm({c}{_eps(op.args)})"),))
    return Written((f"{op.out} = {op.m}({op.x})",),
                   ((op.nid, f"ExampleNorm(1, {c}{_eps(op.args)})"),), helpers=("example_norm",))


def _dropout(op: Op) -> Written:
    return Written((f"{op.out} = {op.m}({op.x})",), ((op.nid, f"nn.Dropout({lit(op.args.p)})"),))


def _call(fn: str, **fields: str) -> Rule:
    """`fn(x, value, ...)` with the op's arguments in `fields` (kept only off default)."""

    def rule(op: Op) -> Written:
        extra = "".join(f", {k}={lit(getattr(op.args, f))}" for k, f in fields.items()
                        if getattr(op.args, f) != type(op.args).model_fields[f].default)
        return _one(op, f"{fn}({op.x}{extra})")

    return rule


def _gaussian(op: Op) -> Written:
    """Two heads in one layer, mu and log sigma^2; z by reparameterization in training."""
    a = op.args
    flat = ".flatten(1)" if len(op.in_shape) > 1 else ""
    lines = [f"mu, logvar = {op.m}({op.x}{flat}).chunk(2, dim=1)"
             f"  # ({a.dim},) each: the mean and log variance of q(z|x)",
             "if self.training:  # reparameterization: z = mu + sigma * eps, eps ~ N(0, I)"]
    if a.samples == 1:
        lines += ["    eps = torch.randn_like(mu)",
                  f"    {op.out} = mu + torch.exp(0.5 * logvar) * eps"]
    else:
        lines += [f"    eps = torch.randn({a.samples}, *mu.shape, dtype=mu.dtype, "
                  "device=mu.device)",
                  f"    {op.out} = (mu + torch.exp(0.5 * logvar) * eps).flatten(0, 1)"
                  f"  # ({a.samples}*B, {a.dim}): {a.samples} draws, draw-major"]
    lines += ["else:", f"    {op.out} = mu  # evaluation: the mean"]
    init = f"nn.Linear({math.prod(op.in_shape)}, 2 * {a.dim})"
    renamed = tuple((f"net.{op.nid}.heads.{p}", f"{op.nid}.{p}") for p in ("weight", "bias"))
    return Written(tuple(lines), ((op.nid, init),), (f"{op.nid}.weight",), renamed)


# ---------------------------------------------------------------- noise (x -> x)


def _salt_pepper(op: Op) -> Written:
    p = op.args.p
    return Written(("u = torch.rand_like(x)  # one uniform per value: < p/2 black, < p white",
                    f"{op.out} = torch.where(u < {lit(p)}, (u >= {lit(p / 2)}).type_as({op.x}), "
                    f"{op.x})"))


NOOP = "noop"  # the rule of an op that returns its input (identity): nothing is written

LAYERS: dict[str, Rule | str] = {
    "dense": _dense, "conv": _conv, "deconv": _deconv,
    "maxpool": _pool("max"), "avgpool": _pool("avg"), "upsample": _upsample,
    "flatten": lambda op: _one(op, f"{op.x}.flatten(1)"), "reshape": _reshape,
    "batchnorm": _batchnorm, "layernorm": _layernorm, "dropout": _dropout,
    "relu": _call("torch.relu"), "sigmoid": _call("torch.sigmoid"),
    "tanh": _call("torch.tanh"), "gelu": _call("F.gelu"), "softplus": _call("F.softplus"),
    "elu": _call("F.elu", alpha="alpha"),
    "leaky_relu": _call("F.leaky_relu", negative_slope="slope"),
    "identity": NOOP,
    "concat": lambda op: _one(op, f"torch.cat([{op.x}, {op.other}], 1)"),
    "add": lambda op: _one(op, f"{op.x} + {op.other}"),
    "gaussian": _gaussian,
}

NOISE: dict[str, Rule | str] = {
    "gaussian": lambda op: _one(op, f"{op.x} + torch.randn_like({op.x}) * {lit(op.args.std)}"),
    "mask": lambda op: _one(op, f"{op.x} * (torch.rand_like({op.x}) >= {lit(op.args.p)})"),
    "salt_pepper": _salt_pepper,
    "occlude": lambda op: Written((f"{op.out} = occlude({op.x}, {op.args.size})",),
                                  helpers=("occlude",)),
    "clip": lambda op: _one(op, f"{op.x}.clamp({lit(op.args.lo)}, {lit(op.args.hi)})"),
}


# ---------------------------------------------------------------- losses and regularizers


@dataclass(frozen=True)
class Term:
    """A loss term's expression of `pred` and `target` at a reduction, and the parameters
    it owns: (attribute, constructor, compiled key)."""

    expr: str
    owned: tuple[tuple[str, str, str], ...] = ()
    helpers: tuple[str, ...] = field(default=())


LossRule = Callable[[Any, str, str, str, bool, str, Shape], Term]


def _functional_loss(fn: str, **fields: str) -> LossRule:
    def rule(a: Any, nid: str, pred: str, target: str, logits: bool, reduction: str,
             shape: Shape) -> Term:
        extra = "".join(f", {k}={lit(getattr(a, f))}" for k, f in fields.items())
        return Term(f'F.{fn}({pred}, {target}{extra}, reduction="{reduction}")')

    return rule


def _bce(a: Any, nid: str, pred: str, target: str, logits: bool, reduction: str,
         shape: Shape) -> Term:
    fn = "binary_cross_entropy_with_logits" if logits else "binary_cross_entropy"
    return Term(f'F.{fn}({pred}, {target}, reduction="{reduction}")')


def _gaussian_nll(a: Any, nid: str, pred: str, target: str, logits: bool, reduction: str,
                  shape: Shape) -> Term:
    if a.var != "learned":
        return Term(f'gaussian_nll({pred}, {target}, "{reduction}", var={lit(float(a.var))})',
                    helpers=("gaussian_nll",))
    attr = f"{nid}_log_var"
    owned = ((attr, f"nn.Parameter(torch.zeros{lit(tuple(shape))})",
              f"objective_params.{attr}"),)
    return Term(f'gaussian_nll({pred}, {target}, "{reduction}", log_var=model.{attr}, '
                f"min_var={lit(a.floor)})", owned, ("gaussian_nll",))


LOSSES: dict[str, LossRule] = {
    "mse": _functional_loss("mse_loss"), "mae": _functional_loss("l1_loss"), "bce": _bce,
    "huber": _functional_loss("huber_loss", delta="delta"), "gaussian_nll": _gaussian_nll,
}

# A regularizer rule gives its lines: `h` (an output's variable), or the weights' list
# expression, then the name the term is stored under; the value assigned to `terms[name]`.
RegRule = Callable[[Any, str, str], tuple[list[str], tuple[str, ...]]]


def _weights(square: bool) -> RegRule:
    def rule(a: Any, weights: str, name: str) -> tuple[list[str], tuple[str, ...]]:
        form = "w.square().sum()" if square else "w.abs().sum()"
        return [f"terms[{q(name)}] = {lit(a.weight)} * sum({form} for w in {weights})"], ()

    return rule


def _activity_l1(a: Any, h: str, name: str) -> tuple[list[str], tuple[str, ...]]:
    return [f"terms[{q(name)}] = {lit(a.weight)} * {h}.abs().sum() / {h}.shape[0]"
            "  # batch mean of sum |h|"], ()


def _kl_sparsity(a: Any, h: str, name: str) -> tuple[list[str], tuple[str, ...]]:
    rho, eps = a.rho, 1e-6
    return [f"rho_hat = {h}.flatten(1).mean(0).clamp({lit(eps)}, {lit(1 - eps)})"
            "  # each unit's batch mean",
            f"kl = {lit(rho)} * ({lit(rho)} / rho_hat).log() + {lit(1 - rho)} * "
            f"({lit(1 - rho)} / (1 - rho_hat)).log()",
            f"terms[{q(name)}] = {lit(a.weight)} * kl.sum()"], ()


def _contractive(a: Any, h: str, name: str) -> tuple[list[str], tuple[str, ...]]:
    return [f'terms[{q(name)}] = contractive_penalty({h}, out["x"], {lit(a.weight)})'], (
        "contractive_penalty",)


REGULARIZERS: dict[str, RegRule] = {
    "l2": _weights(True), "l1": _weights(False), "activity_l1": _activity_l1,
    "kl_sparsity": _kl_sparsity, "contractive": _contractive,
}

RULES: dict[str, dict[str, Any]] = {"layer": LAYERS, "noise": NOISE, "loss": LOSSES,
                                    "regularizer": REGULARIZERS}
