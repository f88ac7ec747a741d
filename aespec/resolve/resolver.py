"""The resolver's state and its op-level work: ops, chains, blocks, `repeat`, labels, values.

The statement handlers (`aespec.resolve.statements`) call it; it reports into a `DiagnosticBag`.
"""

from __future__ import annotations

from typing import Any

from aespec.errors import DiagnosticBag, Span, did_you_mean
from aespec.model.spec import LAYER_BLOCKS, STATEMENTS, OpCall
from aespec.ops import alias_of, lookup, names
from aespec.parse.tree import ChainLine, Num, Op, RepeatLine, SpecTree, Str
from aespec.resolve.values import ExprError, Scope, bind_args, evaluate

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
        args = bind_args(op, opdef.args, self.scope, self.bag, op.name, opdef.varargs)
        return OpCall(op=op.name, args=args, span=op.span) if args is not None else None

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

    def value(self, expr) -> Any:
        try:
            return evaluate(expr, self.scope, symbols=False)
        except ExprError as err:
            self.bag.add(err.code, err.message, err.span, err.hint)
            return None


def _other_name(name: str, place: str) -> str | None:
    """`binary_crossentropy` -> "aespec calls it `bce`"; None for a name it does not know."""
    ours = alias_of(place, name)
    if ours is None:
        return None
    listed = f" (the {place} ops: {', '.join(names(place))})" if place == "loss" else ""  # type: ignore[arg-type]
    return f"aespec calls it `{ours}`{listed}"


def _item_text(item) -> str:
    return repr(item.value) if isinstance(item, (Num, Str)) else getattr(item, "name", "?")
