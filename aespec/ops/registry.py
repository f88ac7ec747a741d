"""The registry itself: `OpDef`, the tables by place, and the lookups every stage uses.

Each op is one `OpDef`: its argument model (pydantic), shape rule, parameter rule, value
range rule, mirror rule, documentation line, drawing style, torch builder and emit rule.  Adding an
op is adding one entry; nothing else in aespec switches on op names.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

from pydantic import BaseModel, ConfigDict

from aespec.ops.emitting import LossRule, PenaltyRule, Rule

Shape = tuple[int, ...]
Range = tuple[float, float]
UNBOUNDED: Range = (-math.inf, math.inf)

Kind = Literal["layer", "activation", "join", "latent", "shape", "noise", "loss", "regularizer"]
Place = Literal["layer", "noise", "loss", "regularizer"]


class Args(BaseModel):
    """Base of every argument model: strict types, no unknown keys, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class NoArgs(Args):
    pass


class ShapeProblem(Exception):
    """Raised by a shape rule; the graph builder turns it into an E3xx diagnostic."""

    def __init__(self, message: str, hint: str | None = None, code: str = "E302"):
        super().__init__(message)
        self.message, self.hint, self.code = message, hint, code


def _same(a: Any, s: Shape) -> Shape:
    return s


def _no_params(a: Any, s: Shape) -> int:
    return 0


def _unbounded(a: Any, r: Range) -> Range:
    return UNBOUNDED


def _keep_range(a: Any, r: Range) -> Range:
    return r


# An inverse is a list of (op name, args dict) that restores the op's input in a mirror.
Inverse = Callable[[Any, Shape, Shape], list[tuple[str, dict]]]


@dataclass(frozen=True)
class OpDef:
    """Everything aespec knows about one op, in one place."""

    name: str
    kind: Kind
    doc: str
    args: type[Args] = NoArgs
    varargs: str | None = None  # field that collects all positional args (reshape)
    shape: Callable[[Any, Shape], Shape] = _same
    params: Callable[[Any, Shape], int] = _no_params
    range: Callable[[Any, Range], Range] = _keep_range
    inverse: Inverse | None = None  # None: the op is skipped by `decoder mirror`
    # why `decoder mirror` cannot invert an op that changes shapes without an inverse
    # (joins, crop, global pooling): E305 names the op and this reason
    mirror_refusal: str | None = None
    label: Callable[[Any], str] | None = None  # key arguments shown in tables and drawings
    signature: str = ""  # as written in docs, e.g. `conv(channels, k=3, stride=1, ...)`
    params_doc: str = "0"
    place: Place = "layer"
    blocks: tuple[str, ...] = ("encoder", "bottleneck", "decoder")
    # torch builder `build(args, in_shape, out_shape)` (a join's also gets `other`, the
    # named tensor's shape); imports torch when called
    build: Callable[..., Any] | None = None
    style: str | None = None  # key into aespec.ops.styles.STYLES; default: the op's kind
    # other libraries' names for the op (Keras, PyTorch): the hint of an unknown name
    # says "aespec calls it `dense`" (not accepted as the op: one spelling per op)
    aliases: tuple[str, ...] = ()
    # `aespec emit`: how the op is written as PyTorch source (aespec.ops.emitting), in the
    # forms its torch builder has: a layer's or noise op's lines from its IR node, a loss's
    # term, a regularizer's penalty lines.  None: emit refuses the op (E313), except a
    # `noop` op, which writes nothing.
    emit: Rule | None = None
    emit_term: LossRule | None = None
    emit_penalty: PenaltyRule | None = None
    # Hooks and flags that other stages read, so that none of them names an op.  A hook
    # left None is one the op does not have; a stage that needs it calls `missing`.
    # joins: the joined shape `(args, current, other) -> shape` and value range
    join_shape: Callable[[Any, Shape, Shape], Shape] | None = None
    join_range: Callable[[Range, Range], Range] | None = None
    # losses, regularizers: the term as the docs write it, and (optional) as the
    # objective writes it, from the args (`Σⱼ KL(0.05 ‖ ρ̂ⱼ)`)
    formula: str = ""
    formula_of: Callable[[Any], str] | None = None
    # losses: the decoder output must lie in [0, 1] (bce)
    needs_unit_output: bool = False
    # losses: `(args, shape) -> {name: (shape, initial value)}`, the parameters the term
    # owns (a learned variance), given the decoder output's shape; `params` counts them
    owned_params: Callable[[Any, Shape], dict[str, tuple[Shape, float]]] | None = None
    # losses: `(args, per_value_weight, values) -> Likelihood | str`, the decoder
    # distribution p(x|z) whose -log the term is (up to a constant), with the term's weight
    # per output value (its weight, divided by `values` under reduce=mean) and the number
    # of output values; a str says why the term is no log-likelihood.  None: it never is
    # (aespec.ops.likelihood; `aespec eval --nll` and `gaussian(dim, iw=K)` read it)
    likelihood: Callable[[Any, float, int], Any] | None = None
    # regularizers: reads the target layers' weights or the target's output
    acts_on: Literal["weights", "activations"] | None = None
    jacobian: bool = False  # regularizers: reads dh/dx (contractive)
    needs_unit_interval: bool = False  # regularizers: its target must lie in (0, 1)
    is_weight_decay: bool = False  # regularizers: the same penalty as optimizer weight decay
    sparsity_target: str | None = None  # regularizers: the argument holding the target
    # regularizers: pulls its target's distribution to N(0, I) (mmd), so that a code it
    # acts on can be sampled by decoding draws of N(0, I)
    matches_prior: bool = False
    regularizes: bool = False  # layers: constrains the code as noise does (dropout)
    # layers: `args -> count`, the parameters of a tied copy in a mirror (dense)
    tied_params: Callable[[Any], int] | None = None
    # activations: its input is the logit of its output, so a loss with a logits form
    # reads that input (sigmoid)
    logits: bool = False
    noop: bool = False  # activations: returns its input (identity)
    # layers: its mirror inverse always shares its weights, `tied` or not (rbm: p(v|h))
    ties_inverse: bool = False
    # layers: the activation that ends a mirror whose first inverse is its (rbm: the mean
    # of its visible units, sigmoid or identity), whatever the loss
    mirror_output: Callable[[Any], str] | None = None
    # layers: its built module draws samples of its own (`generate(n, generator)`) and adds
    # a term to the loss (`term(v)`, v the op's input): an energy model (rbm)
    generative: bool = False
    channels_last: bool = False  # layers: 2-D kernels that run faster channels-last (conv)
    # layers: the op's module returns `(output, loss)`; the loss joins the objective as a
    # term of this name (vq's codebook and commitment terms)
    aux_loss: str | None = None
    # layers: why `sample` and `report { samples }` cannot draw codes of this op (vq: no
    # prior over its codes); None: the op says nothing on it
    no_prior: str | None = None
    # layers: its module's `term(h)` on the op's input h is added to the loss under this
    # name, and its `measures(h)` join the evaluation's numbers (som)
    adds_term: str | None = None
    # layers: a mirror builds it from the op it inverts (`tied=` that op's module), always;
    # never written in a spec (prototype)
    reads_inverted: bool = False
    # layers: `args -> count`, the units of a map the examples are spread over (som: rows *
    # cols): such an op ends the bottleneck alone, is decoded by its mirror, and wants
    # fewer units than training examples (aespec.graph.somchecks)
    map_units: Callable[[Any], int] | None = None
    # layers: its module follows the epochs (`set_progress`: a som's shrinking
    # neighbourhood), which the sequential loop sets and a batched sweep does not
    follows_progress: bool = False
    # layers: why the batched sweep's vmapped step cannot run its module ("" if it can)
    unbatched: str = ""
    # losses' weights, regularizers, latents: the arguments that may be written as a
    # schedule over the epochs (`beta=warmup(epochs=10)`, aespec.ops.anneal)
    schedulable: tuple[str, ...] = ()

    @property
    def shape_changing(self) -> bool:
        return self.inverse is not None


REGISTRY: dict[Place, dict[str, OpDef]] = {"layer": {}, "noise": {}, "loss": {},
                                           "regularizer": {}}


class MissingRule(LookupError):
    """A stage asked an op for a hook it does not have: a bug in aespec, not in a spec."""


def missing(op: OpDef, hook: str) -> NoReturn:
    """Fail where a hook is used, naming the op: `opdef.join_shape or missing(opdef, ...)`."""
    raise MissingRule(f"op {op.name!r} ({op.place}) has no {hook} rule")


def register(op: OpDef) -> OpDef:
    table = REGISTRY[op.place]
    if op.name in table:
        raise ValueError(f"op {op.name!r} registered twice for {op.place}")
    table[op.name] = op
    return op


def lookup(place: str, name: str) -> OpDef | None:
    """The op `name` of a place (layer, noise, loss, regularizer), or None."""
    return REGISTRY[place].get(name)  # type: ignore[index]


def alias_of(place: str, name: str) -> str | None:
    """The op of a place that another library calls `name` (`linear` -> `dense`), or None.
    Case and underscores do not count (`ReLU`, `LeakyReLU`, `BatchNorm2d`), nor PyTorch's
    `Loss` ending on a loss (`MSELoss`, `BCEWithLogitsLoss`)."""
    keys = {_plain(name)}
    if place == "loss" and _plain(name).endswith("loss") and len(_plain(name)) > 4:
        keys.add(_plain(name)[:-4])
    return next((op.name for op in REGISTRY[place].values()  # type: ignore[index]
                 if keys & {_plain(op.name), *map(_plain, op.aliases)}), None)


def _plain(name: str) -> str:
    """`Leaky_ReLU` -> `leakyrelu`: a name as another library's habits may spell it."""
    return name.lower().replace("_", "")


def get_op(place: str, name: str) -> OpDef:
    """The op `name` of a place, known to exist (it came from a validated spec)."""
    return REGISTRY[place][name]  # type: ignore[index]


def names(place: str) -> list[str]:
    return sorted(REGISTRY[place])  # type: ignore[index]


def format_args(a: Args, written_ints: bool = False) -> str:
    """`64, k=5`: required fields by value, others as `key=value` where not the default
    (or, with `written_ints`, where the spec wrote an integer out, as `k=3` in a drawing)."""
    parts = []
    for key, info in type(a).model_fields.items():
        value = getattr(a, key)
        if info.is_required():
            parts.append(fmt_value(value))
        elif value != info.default or (written_ints and key in a.model_fields_set
                                       and type(value) is int):
            parts.append(f"{key}={fmt_value(value)}")
    return ", ".join(parts)


def fmt_value(value: Any) -> str:
    """A value as a spec writes it: `true`, `(2, 2)`, `0.5`, `1e-05`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "(" + ", ".join(fmt_value(v) for v in value) + ")"
    return f"{value:g}" if isinstance(value, float) else str(value)


def fmt_num(v: float) -> str:
    """`1.0`, `4.0`, `0.5`, `1e-05`: integral weights keep one decimal, others `:g`."""
    return f"{v:.1f}" if float(v).is_integer() else f"{v:g}"


def formula_text(op: OpDef, a: Args) -> str:
    """The op's term in the objective, `Σw²` or `Σⱼ KL(0.05 ‖ ρ̂ⱼ)`."""
    return op.formula_of(a) if op.formula_of else op.formula


def op_text(op: OpDef, a: Args) -> str:
    """The op as a user would write it: `conv(64, k=5)`."""
    text = op.label(a) if op.label else format_args(a)
    return f"{op.name}({text})" if text else op.name

