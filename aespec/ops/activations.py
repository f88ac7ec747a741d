"""Activation ops (section 4 of the language): elementwise, no parameters, shape kept.

Each one's range rule gives the interval its output lies in; `decoder mirror` carries an
activation to the inverse of the op it follows.
"""

from __future__ import annotations

import math

from pydantic import Field

from aespec.ops.emitting import Rule, call
from aespec.ops.layers import torch_function
from aespec.ops.registry import UNBOUNDED, Args, NoArgs, OpDef, Range, Shape, register


class LeakyArgs(Args):
    slope: float = Field(0.01, ge=0)


class EluArgs(Args):
    alpha: float = Field(1.0, gt=0)


def _functional(name: str, **fields: str):
    """Builder of `NAME(x, key=args.field, ...)`, a torch function."""

    def build(a: Args, s_in: Shape, s_out: Shape):
        fn, kwargs = torch_function(name), {key: getattr(a, f) for key, f in fields.items()}
        return lambda x: fn(x, **kwargs)

    return build


def _activation(name: str, doc: str, out: Range, emit: Rule, args: type[Args] = NoArgs,
                signature: str | None = None, build=None, logits: bool = False) -> None:
    register(OpDef(name, "activation", doc, args, range=lambda a, r: out,
                   signature=signature or name, build=build or _functional(name),
                   logits=logits, emit=emit))


# each one's emit rule writes the function its builder finds (`torch_function`)
_activation("relu", "max(x, 0)", (0.0, math.inf), call("torch.relu"))
_activation("leaky_relu", "x if x > 0 else slope*x", UNBOUNDED,
            call("F.leaky_relu", negative_slope="slope"), LeakyArgs,
            "leaky_relu(slope=0.01)", _functional("leaky_relu", negative_slope="slope"))
_activation("sigmoid", "1 / (1 + exp(-x)), in (0, 1)", (0.0, 1.0), call("torch.sigmoid"),
            logits=True)
_activation("tanh", "in (-1, 1)", (-1.0, 1.0), call("torch.tanh"))
_activation("gelu", "x * Phi(x)", (-0.17, math.inf), call("F.gelu"))
_activation("elu", "x if x > 0 else alpha*(exp(x)-1)", (-1.0, math.inf),
            call("F.elu", alpha="alpha"), EluArgs, "elu(alpha=1.0)",
            _functional("elu", alpha="alpha"))
_activation("softplus", "log(1 + exp(x)), in (0, inf)", (0.0, math.inf), call("F.softplus"))
# returns its input: emit writes nothing for it (`noop`), the compiled graph adds nothing
register(OpDef("identity", "activation", "no-op", signature="identity",
               build=lambda a, s_in, s_out: lambda x: x, noop=True))

# The activation that `decoder mirror` ends with when the spec names none: one whose
# output lies in [0, 1] where a loss term needs that (bce), else none at all.
UNIT_OUTPUT, NO_OUTPUT = "sigmoid", "identity"


def default_output(unit: bool) -> str:
    """The mirror's last activation by default."""
    return UNIT_OUTPUT if unit else NO_OUTPUT
