"""Expressions and argument binding: syntax-tree values -> Python values -> argument models."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from aespec.errors import DiagnosticBag, Span, did_you_mean
from aespec.ops import lookup
from aespec.ops.anneal import KINDS, WeightSchedule
from aespec.parse.syntax import Arg, BinOp, Call, Expr, Name, Neg, Num, Op, Str, TupleExpr


@dataclass(frozen=True)
class Symbol:
    """A bare name that is not a `let` constant: an enum value such as `same`, or a typo."""

    name: str
    span: Span


@dataclass(frozen=True)
class CallValue:
    """`name(args)` as a value, bound where it is used: a weight's schedule (`bind_weight`)."""

    call: Call

    @property
    def span(self) -> Span:
        return self.call.span

    def __str__(self) -> str:
        return f"{self.call.name}(...)"


class ExprError(Exception):
    def __init__(self, code: str, message: str, span: Span, hint: str | None = None):
        super().__init__(message)
        self.code, self.message, self.span, self.hint = code, message, span, hint


MAX_LET_DEPTH = 100
MAX_INT = 2**63 - 1  # the largest size a tensor dimension can have


class Scope:
    """`let` constants, evaluated lazily so a let may use any other, with cycle detection."""

    def __init__(self, exprs: dict[str, Expr]):
        self.exprs = exprs
        self.values: dict[str, Any] = {}
        self._busy: set[str] = set()
        self.failed: dict[str, ExprError] = {}

    def get(self, name: str, span: Span) -> Any:
        if name in self.values:
            return self.values[name]
        if name in self._busy:
            raise ExprError("E212", f"let {name} refers to itself", span)
        if len(self._busy) >= MAX_LET_DEPTH:  # each level costs Python stack frames
            raise ExprError("E212", f"let {name}: constants defined through each other more "
                            f"than {MAX_LET_DEPTH} deep", span, "define fewer steps")
        if name in self.failed:  # reported once, not again at every use
            raise self.failed[name]
        self._busy.add(name)
        try:
            self.values[name] = evaluate(self.exprs[name], self, symbols=False)
        except ExprError as err:
            self.failed[name] = err
            raise
        finally:
            self._busy.discard(name)
        return self.values[name]


def _in_range(v: Any, span: Span) -> Any:
    """A number a spec can use: a finite float, an int that fits in 64 bits."""
    if isinstance(v, float) and not math.isfinite(v):
        raise ExprError("E212", f"the value is not a finite number ({v})", span,
                        "a number this large (or inf - inf) has no use in a spec")
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_INT:
        raise ExprError("E212", f"an integer of {len(str(abs(v)))} digits is out of range",
                        span, "integers must lie within +-(2**63 - 1)")
    return v


def _arith(op: str, a: Any, b: Any, span: Span) -> Any:
    for v in (a, b):
        if isinstance(v, CallValue):
            raise ExprError("E339", f"'{op}' cannot compute with the schedule {v.call.name}(...)",
                            v.span, "a schedule stands alone where a weight is written: give "
                            "it the values itself (`warmup(epochs=10, high=4)`)")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ExprError("E203", f"'{op}' needs numbers, got {_show(v)}", span)
    return _in_range(_apply(op, a, b, span), span)


def _apply(op: str, a: int | float, b: int | float, span: Span) -> int | float:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        raise ExprError("E212", "division by zero", span)
    if isinstance(a, int) and isinstance(b, int) and a % b == 0:
        return a // b  # `/` of two integers that divides exactly stays an integer
    return a / b


def evaluate(e: Expr, scope: Scope, symbols: bool = True) -> Any:
    """The value of an expression; a bare unknown name is a Symbol where `symbols` allows."""
    if isinstance(e, Num):
        return _in_range(e.value, e.span)
    if isinstance(e, Str):
        return e.value
    if isinstance(e, Name):
        if e.value in ("true", "false"):
            return e.value == "true"
        if e.value in scope.exprs:
            return scope.get(e.value, e.span)
        if symbols:
            return Symbol(e.value, e.span)
        raise ExprError("E205", f"undefined name '{e.value}'", e.span,
                        did_you_mean(e.value, scope.exprs))
    if isinstance(e, Call):
        return CallValue(e)
    if isinstance(e, Neg):
        return _arith("-", 0, evaluate(e.operand, scope, False), e.span)
    if isinstance(e, BinOp):
        return _arith(e.op, evaluate(e.left, scope, False), evaluate(e.right, scope, False),
                      e.span)
    assert isinstance(e, TupleExpr)
    return tuple(evaluate(i, scope, symbols) for i in e.items)


def _show(v: Any) -> str:
    if isinstance(v, Symbol):
        return v.name
    if isinstance(v, CallValue):
        return f"{v.call.name}(...)"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    return str(v)


def _plain(v: Any) -> Any:
    if isinstance(v, Symbol):
        return v.name
    if isinstance(v, tuple):
        return tuple(_plain(i) for i in v)
    return v


def bind_args(op: Op, model: type[BaseModel], scope: Scope, bag: DiagnosticBag, what: str,
              varargs: str | None = None, schedulable: tuple[str, ...] = (),
              schedules: dict[str, WeightSchedule] | None = None) -> Any:
    """Map an op's positional and keyword args onto its argument model; report every problem.

    An argument named in `schedulable` may be a schedule (`beta=warmup(epochs=10)`): it is
    bound into `schedules` and the model gets its settled value; a schedule anywhere else
    is E339."""
    fields = list(model.model_fields)
    values: dict[str, Any] = {}
    spans: dict[str, Arg] = {}
    ok, keyword_seen, too_many = True, False, False
    for i, arg in enumerate(op.args):
        key = arg.key
        keyword_seen = keyword_seen or key is not None
        if key is None and keyword_seen:
            bag.add("E202", f"a positional argument of {what} follows a keyword argument",
                    arg.span, "write the positional arguments first, then `key=value`")
            ok = False
            continue
        if key is None:
            if varargs:
                values.setdefault(varargs, [])
                spans.setdefault(varargs, arg)
                try:
                    values[varargs].append(evaluate(arg.value, scope))
                except ExprError as err:
                    bag.add(err.code, err.message, err.span, err.hint)
                    ok = False
                continue
            if i >= len(fields):
                if not too_many:  # once, at the first one too many: not once per argument
                    bag.add("E202", f"{what} takes at most {len(fields)} positional argument"
                            f"{'s' if len(fields) != 1 else ''}", arg.span,
                            f"write it as `{op.name}({', '.join(fields)})`" if fields else
                            f"write `{op.name}` without arguments")
                ok, too_many = False, True
                continue
            key = fields[i]
        if key not in fields:
            bag.add("E202", f"{what} has no argument '{key}'", arg.span,
                    _activation_hint(op, _name_of(arg.value), model) if key in ("activation", "act")
                    else did_you_mean(key, fields) or (f"its arguments: {', '.join(fields)}"
                                                       if fields else "it takes no arguments"))
            ok = False
            continue
        if key in values:
            bag.add("E202", f"argument '{key}' of {what} is given twice", arg.span)
            ok = False
            continue
        try:
            values[key] = evaluate(arg.value, scope)
        except ExprError as err:
            bag.add(err.code, err.message, err.span, err.hint)
            ok = False
            continue
        spans[key] = arg
    if not ok:
        return None
    if varargs and varargs in values:
        values[varargs] = tuple(values[varargs])
    if not _bind_schedules(values, scope, bag, what, schedulable, schedules):
        return None
    return _validate(op, model, values, spans, scope, bag, what)


def _bind_schedules(values: dict[str, Any], scope: Scope, bag: DiagnosticBag, what: str,
                    allowed: tuple[str, ...], schedules: dict[str, WeightSchedule] | None
                    ) -> bool:
    """Each schedule value into `schedules` (its settled value into `values`); False after
    an error."""
    ok = True
    for key, value in list(values.items()):
        if not isinstance(value, CallValue):
            continue
        if key not in allowed or schedules is None:
            where = f"only {', '.join(allowed)} of {what}" if allowed else \
                "a loss term's weight, a regularizer's weight, a latent's beta"
            bag.add("E339", f"the argument {key} of {what} cannot be a schedule",
                    value.span, f"a schedule goes where a weight is written: {where}")
            ok = False
            continue
        found = bind_weight(value, scope, bag)
        if found is None:
            ok = False
            continue
        schedules[key] = found
        values[key] = found.settled
    return ok


def bind_weight(value: CallValue, scope: Scope, bag: DiagnosticBag) -> WeightSchedule | None:
    """`warmup(epochs=10)` as a `WeightSchedule`, its arguments checked (E339 for a name that
    is no schedule, E202-E205 for its arguments)."""
    call = value.call
    kind = KINDS.get(call.name)
    if kind is None:
        bag.add("E339", f"unknown schedule '{call.name}'", call.name_span,
                did_you_mean(call.name, KINDS) or f"the schedules: {', '.join(KINDS)}")
        return None
    op = Op(call.name, call.args, call.span, call.name_span)
    args = bind_args(op, kind.args, scope, bag, f"the schedule {call.name}", kind.varargs)
    return None if args is None else WeightSchedule(call.name, args, call.span)


def _validate(op: Op, model: type[BaseModel], values: dict[str, Any], spans: dict[str, Arg],
              scope: Scope, bag: DiagnosticBag, what: str) -> Any:
    try:
        return model(**{k: _plain(v) for k, v in values.items()})
    except ValidationError as err:
        invalid: dict[str | None, list[Any]] = {}
        for e in err.errors():
            key = str(e["loc"][0]) if e["loc"] else None
            value = values.get(key) if key else None
            if e["type"] == "missing":
                bag.add("E204", f"{what} needs argument '{key}'", op.span,
                        f"write `{op.name}({', '.join(_required(model))})`")
            elif isinstance(value, Symbol) and _numeric(model, key) and _activation_hint(
                    op, value.name, model):
                # `dense(relu)`, `conv(16, 3, relu)`: an activation where a number goes
                bag.add("E203", f"the argument {key} of {what} is a number, not the "
                        f"activation {value.name}", value.span,
                        _activation_hint(op, value.name, model))
            elif isinstance(value, Symbol) and value.name not in scope.exprs and _numeric(
                    model, key):
                bag.add("E205", f"undefined name '{value.name}'", value.span,
                        did_you_mean(value.name, scope.exprs))
            else:
                invalid.setdefault(key, []).append(e)
        for key, errors in invalid.items():
            _report_invalid(op, key, errors, values, spans, bag, what, model)
        return None


def _report_invalid(op: Op, key: str | None, errors: list[Any], values: dict[str, Any],
                    spans: dict[str, Arg], bag: DiagnosticBag, what: str,
                    model: type[BaseModel] | None = None) -> None:
    """One E203 per argument, however many branches of a union (`pad`) rejected it."""
    value = values.get(key) if key else None
    arg = spans.get(key) if key else None
    msgs = dict.fromkeys(e["msg"].replace("Input should be", "should be").replace(
        "Value error, ", "") for e in errors)
    hint = next((h for h in (_choices_hint(value, e) for e in errors) if h), None)
    first, *rest = msgs
    said = " or ".join([first, *(m.removeprefix("should be ") for m in rest)])
    if isinstance(value, Symbol) and _activation_hint(op, value.name, model):
        # `dense(32, relu)`: the Keras habit; the argument in that place is not an activation
        wanted = said.replace("a valid boolean", "true or false")
        bag.add("E203", f"the argument {key} of {what} {wanted}, not the activation "
                f"{value.name}", arg.span if arg else op.span,
                _activation_hint(op, value.name, model))
        return
    bag.add("E203", f"invalid {key or 'arguments'} for {what}"
            + (f": {_show(value)}" if key else "") + f" ({said})",
            arg.span if arg else op.span, hint)


def _name_of(expr: Any) -> str | None:
    return expr.value if isinstance(expr, Name) else None


def _activation_hint(op: Op, name: str | None, model: type[BaseModel] | None = None
                     ) -> str | None:
    """For an activation given as an argument: in aespec it follows the layer. Required
    arguments the other ones leave out are named in the fix: `dense(units) relu`."""
    act = lookup("layer", name) if name else None
    if act is None or act.kind != "activation":
        return None
    kept_args = [a for a in op.args if _name_of(a.value) != name]
    kept = [_arg_text(a) for a in kept_args]
    if model is not None:
        fields = list(model.model_fields)
        given = {a.key for a in kept_args if a.key} | set(fields[:sum(
            a.key is None for a in kept_args)])
        kept += [f for f in _required(model) if f not in given]
    text = ", ".join(kept)
    return (f"an activation follows the layer it acts on: write `{op.name}"
            f"{f'({text})' if text else ''} {name}`")


def _arg_text(a: Arg) -> str:
    value = a.value.value if isinstance(a.value, (Num, Name)) else "..."
    return f"{a.key}={value}" if a.key else str(value)


def _required(model: type[BaseModel]) -> list[str]:
    return [k for k, f in model.model_fields.items() if f.is_required()]


def _numeric(model: type[BaseModel], key: str | None) -> bool:
    ann = str(model.model_fields[key].annotation) if key in model.model_fields else ""
    return ("int" in ann or "float" in ann) and "Literal" not in ann


def _choices_hint(value: Any, error: dict) -> str | None:
    expected = (error.get("ctx") or {}).get("expected")
    if isinstance(value, Symbol) and expected:
        choices = [c.strip(" '") for c in expected.replace(" or ", ",").split(",")]
        return did_you_mean(value.name, [c for c in choices if c])
    return None
