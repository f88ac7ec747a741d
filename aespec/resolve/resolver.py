"""The resolver's state and its op-level work: ops, chains, blocks, `repeat`, labels, values.

The statement handlers (`aespec.resolve.statements`) call it; it reports into a `DiagnosticBag`.
"""

from __future__ import annotations

from typing import Any

from aespec.errors import DiagnosticBag, Span, did_you_mean
from aespec.model.spec import LAYER_BLOCKS, STATEMENTS, LossTermSpec, OpCall
from aespec.ops import alias_of, fmt_value, lookup, names
from aespec.parse.tree import ChainLine, Num, Op, RepeatLine, SpecTree, Str
from aespec.resolve.values import CallValue, ExprError, Scope, bind_args, bind_weight, evaluate

MAX_REPEAT_OPS = 10_000  # what one `repeat` may expand to; more is a typo, not a network


class Resolver:
    """Walks the statements once, filling `fields` for `Spec` and `bag` with problems."""

    def __init__(self, tree: SpecTree, bag: DiagnosticBag, lets: dict):
        self.tree, self.bag, self.scope = tree, bag, Scope(lets)
        self.fields: dict[str, Any] = {}
        self.labels: dict[str, Span] = {}

    # ---- ops
    def op(self, op: Op, place: str, block: str) -> OpCall | None:
        opdef = lookup(place, op.name)  # type: ignore[arg-type]
        if opdef is None:
            self._unknown_op(op, place)
            return None
        # a discriminator's and a head's layers are those an encoder may hold
        if (block if block not in ("discriminator", "head") else "encoder") \
                not in opdef.blocks:
            where = " or ".join(opdef.blocks)
            hint = f"a {opdef.kind} {op.name} belongs in the {where}" if where else \
                f"{op.name} is not written: `decoder mirror` makes it"
            self.bag.add("E208", f"{op.name} is not allowed in {block}", op.name_span, hint)
            return None
        if self._torch_sizes(op):
            return None
        schedules: dict[str, Any] = {}
        args = bind_args(op, opdef.args, self.scope, self.bag, op.name, opdef.varargs,
                         opdef.schedulable, schedules)
        if args is None:
            return None
        return OpCall(op=op.name, args=args, span=op.span, schedules=tuple(schedules.items()))

    def _torch_sizes(self, op: Op) -> bool:
        """`dense(64, 32)`: PyTorch's `nn.Linear(in, out)` habit, where aespec takes the
        output units only. Reported (E203, with the fix) in place of "invalid bias"."""
        sizes = [a for a in op.args if a.key is None]
        if op.name != "dense" or len(sizes) != 2 or not isinstance(sizes[1].value, Num):
            return False
        units = sizes[1].value.value
        self.bag.add("E203", f"dense takes its output units only, not (in, out): the "
                     f"second value, {fmt_value(units)}, would be its bias", sizes[0].span.join(
                         sizes[1].span),
                     f"write `dense({fmt_value(units)})`: aespec infers the input size "
                     "from the layer before")
        return True

    def _unknown_op(self, op: Op, place: str) -> None:
        hint = _other_name(op.name, place) or did_you_mean(
            op.name, names(place))  # type: ignore[arg-type]
        for other in ("layer", "noise", "loss", "regularizer"):
            if other != place and lookup(other, op.name):  # type: ignore[arg-type]
                hint = hint or f"{op.name} is a {other} op, not a {place} op"
        if hint is None and place in ("loss", "regularizer"):
            hint = f"the {place} ops: {', '.join(names(place))}"  # type: ignore[arg-type]
        self.bag.add("E201", f"unknown {place} op '{op.name}'", op.name_span, hint)

    def chain(self, line: ChainLine, place: str, block: str) -> list[OpCall]:
        calls: list[OpCall] = []
        first = line.items[0] if line.items else None
        if place == "layer" and isinstance(first, Op) and first.name in STATEMENTS:
            self.bag.add("E208", f"{first.name} is a top-level statement, not allowed inside "
                         f"{block}", first.name_span,
                         f"move the `{first.name}` line out of the block")
            return calls
        for item in line.items:
            if not isinstance(item, Op):
                self.bag.add("E203", f"a value is not an op here: {_item_text(item)}",
                             item.span, "a chain is ops applied left to right")
                continue
            call = self.op(item, place, block)
            if call is not None:
                calls.append(call)
        if line.label and calls:
            calls[-1] = calls[-1].model_copy(update={"label": line.label})
        return calls

    def block(self, lines, block: str) -> list[OpCall]:
        calls: list[OpCall] = []
        for line in lines:
            if isinstance(line, RepeatLine):
                calls += self._repeat(line, block)
                continue
            if line.label:
                self._label(line)
            calls += self.chain(line, "layer", block)
        return calls

    def _repeat(self, line: RepeatLine, block: str) -> list[OpCall]:
        """The body resolved once (so its problems are reported once), then copied."""
        count = self.value(line.count)
        if count is None:
            return []  # the count's own problem is reported
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            self.bag.add("E203", f"repeat needs a positive integer, got {count}",
                         line.count.span)
            return []
        body = self.block(line.body, block)
        if len(body) * count > MAX_REPEAT_OPS:
            self.bag.add("E203", f"repeat {count} makes {len(body) * count} ops; at most "
                         f"{MAX_REPEAT_OPS} are allowed", line.count.span)
            return []
        return body * count

    def _label(self, line: ChainLine) -> None:
        name = line.label
        if name in self.labels and self.labels[name] != line.label_span:
            first = self.labels[name]
            self.bag.add("E211", f"name '{name}' is defined twice (first at line {first.line})",
                         line.label_span)
        elif name in LAYER_BLOCKS:
            self.bag.add("E211", f"'{name}' is a block name and cannot name a tensor",
                         line.label_span)
        if name and line.label_span:
            self.labels.setdefault(name, line.label_span)

    def loss_terms(self, terms) -> list[LossTermSpec]:
        """The reconstruction terms of a loss line (an adversarial term taken out)."""
        out = []
        for term in terms:
            weight = 1.0 if term.weight is None else self.value(term.weight)
            if weight is None:
                continue
            schedule = None
            if isinstance(weight, CallValue):  # `warmup(epochs=5) * mse`
                if (schedule := bind_weight(weight, self.scope, self.bag)) is None:
                    continue
                weight = schedule.settled
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
                self.bag.add("E203", f"a loss weight must be a number >= 0, got {weight}",
                             term.weight.span if term.weight else term.span)
                continue
            call = self.op(term.op, "loss", "loss")
            if call is not None:
                out.append(LossTermSpec(weight=float(weight), call=call, schedule=schedule))
        return out

    def fixed_weight(self, term, what: str) -> float:
        """The weight of a loss term that takes no schedule (`xent`'s, `adversarial`'s): 1
        where none is written, or where it is no number >= 0 (reported: E339 for a
        schedule, E203 otherwise; an expression's own error is reported where it is)."""
        weight = 1.0 if term.weight is None else self.value(term.weight)
        if weight is None:
            return 1.0
        if isinstance(weight, CallValue):
            self.bag.add("E339", f"{what}'s weight cannot be a schedule", term.weight.span,
                         "write a number: schedules weigh reconstruction terms, regularizers "
                         "and a latent's beta")
            return 1.0
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            self.bag.add("E203", f"a loss weight must be a number >= 0, got {weight}",
                         term.weight.span if term.weight else term.span)
            return 1.0
        return float(weight)

    def value(self, expr) -> Any:
        try:
            return evaluate(expr, self.scope, symbols=False)
        except ExprError as err:
            self.bag.add(err.code, err.message, err.span, err.hint)
            return None


# names other libraries give to what aespec writes otherwise, and what to write instead
_HABITS = {
    ("layer", "softmax"): "softmax turns scores into class probabilities; an autoencoder's "
                          "output in [0, 1] ends in `sigmoid` (with `loss bce`), else in "
                          "nothing (`identity`)",
    ("layer", "logsoftmax"): "an autoencoder's output in [0, 1] ends in `sigmoid`",
    ("loss", "kl"): "the KL term comes from a stochastic latent: put `gaussian(DIM)` at the "
                    "end of the bottleneck and it adds beta * KL itself; the loss line "
                    "names the reconstruction only (`loss bce`)",
}
_HABITS[("loss", "kld")] = _HABITS[("loss", "kldivergence")] = _HABITS[("loss", "kl")]
_HABITS[("loss", "elbo")] = _HABITS[("loss", "kl")]


def _other_name(name: str, place: str) -> str | None:
    """`binary_crossentropy` -> "aespec calls it `bce`"; `ReLU` -> "`relu`, not `ReLU`";
    a habit of another library with its fix; None for a name it does not know."""
    habit = _HABITS.get((place, name.lower().replace("_", "")))
    if habit is not None:
        return habit
    ours = alias_of(place, name)
    if ours is None:
        return None
    if ours.lower() == name.lower():
        return f"`{ours}`, not `{name}`: aespec's names are lower case"
    listed = f" (the {place} ops: {', '.join(names(place))})" if place == "loss" else ""  # type: ignore[arg-type]
    return f"aespec calls it `{ours}`{listed}"


def _item_text(item) -> str:
    return repr(item.value) if isinstance(item, (Num, Str)) else getattr(item, "name", "?")
