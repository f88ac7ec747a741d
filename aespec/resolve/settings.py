"""`train { ... }` and `report { ... }` lines, checked against the settings tables
(`aespec.model.settings.TRAIN`, `REPORT`) -> `TrainSpec` / `ReportSpec` and their spans."""

from __future__ import annotations

from typing import Any

from aespec.errors import Span, did_you_mean
from aespec.model import settings as cfg
from aespec.parse.tree import BlockStmt, ChainLine, Num, Op, RepeatLine, Str
from aespec.resolve.resolver import Resolver
from aespec.resolve.values import CallValue, ExprError, Symbol, bind_args


def resolve_settings(r: Resolver, stmt: BlockStmt, table: dict[str, cfg.Setting], block: str
                     ) -> None:
    """Check the lines of the `block` block (train or report) into its spec and spans."""
    values: dict[str, Any] = {}
    spans: dict[str, Span] = {}
    for line in stmt.lines:
        if isinstance(line, ChainLine) and line.label and line.label in table:
            # `epochs = 2`: parsed as a named line; a setting has no '='
            value = " ".join(_text(i) for i in line.items)
            r.bag.add("E203", f"a {block} line is `KEY VALUE`, without '='", line.span,
                      f"write `{line.label} {value}`")
            continue
        if isinstance(line, RepeatLine) or not isinstance(line.items[0], Op):
            r.bag.add("E203", f"a {block} line starts with a key", line.span,
                      f"keys: {', '.join(table)}")
            continue
        key_op = line.items[0]
        setting = table.get(key_op.name)
        if setting is None:
            r.bag.add("E209", f"unknown {block} setting '{key_op.name}'", key_op.name_span,
                      _colon_hint(key_op.name, table, block) or did_you_mean(key_op.name, table)
                      or f"keys: {', '.join(table)}")
            continue
        if key_op.name in values:
            r.bag.add("E206", f"{block} setting '{key_op.name}' is given twice", key_op.span)
            continue
        value = setting_value(r, key_op, line, setting)
        if value is not BAD:
            values[key_op.name] = value
            spans[key_op.name] = line.span
    _store(r, block, values, spans)


def _text(item) -> str:
    if isinstance(item, Str):
        return f'"{item.value}"'
    return str(item.value) if isinstance(item, Num) else item.name + ("(...)" if item.args else "")


def _colon_hint(name: str, table: dict, block: str) -> str | None:
    """`epochs: 2` lexes as one word `epochs:2` (as `cuda:1` does): YAML's habit."""
    key, sep, value = name.partition(":")
    if sep and key in table:
        return f"a {block} line is `KEY VALUE`, without ':': write `{key} {value}`"
    return None


def _store(r: Resolver, block: str, values: dict[str, Any], spans: dict[str, Span]) -> None:
    if block == "train":
        r.fields["train"] = _train_spec(values)
        r.fields["train_spans"] = spans
    else:
        baseline = values.pop("baseline", None)
        r.fields["report"] = cfg.ReportSpec(items=values,
                                          baseline=baseline.name if baseline else None)
        r.fields["report_spans"] = spans


BAD = object()


def setting_value(r: Resolver, key: Op, line: ChainLine, s: cfg.Setting) -> Any:
    rest = line.items[1:]
    if s.kind == "self":
        if len(rest) == 1 and isinstance(rest[0], Op) and rest[0].name == key.name \
                and not key.args:  # `--set train.early_stop=early_stop(patience=3)`
            key, rest = rest[0], ()
        if rest:
            r.bag.add("E203", f"{key.name} takes its arguments in parentheses", rest[0].span,
                      f"write `{key.name}(...)`")
            return BAD
        args = bind_args(key, s.args, r.scope, r.bag, key.name)
        return BAD if args is None else args
    if key.args:
        r.bag.add("E203", f"{key.name} takes a value after it, not arguments", key.span,
                  f"write `{key.name} VALUE`")
        return BAD
    if s.kind == "names":
        return _names(r, key, rest, s)
    if len(rest) != 1:
        r.bag.add("E203", f"{key.name} takes one value", line.span, s.doc)
        return BAD
    return _typed_value(r, key.name, rest[0], s)


def _names(r: Resolver, key: Op, rest, s: cfg.Setting) -> Any:
    """`freeze encoder e1`: one or more bare names, checked against the spec's blocks and
    labels once all are known (resolve/phases.py's check_freeze)."""
    if not rest or not all(isinstance(i, Op) and not i.args for i in rest):
        r.bag.add("E203", f"{key.name} takes one or more names", (rest[0] if rest else key).span,
                  s.doc)
        return BAD
    names = tuple(Symbol(i.name, i.name_span) for i in rest)
    r.fields.setdefault("freeze_names", []).extend(names)
    return names


def _typed_value(r: Resolver, key: str, item, s: cfg.Setting) -> Any:
    if isinstance(item, Op) and s.kind == "op":
        ops = s.ops or {}
        model = ops.get(item.name)
        if model is None:
            r.bag.add("E203", f"unknown {key} '{item.name}'", item.name_span,
                      did_you_mean(item.name, ops) or f"one of: {', '.join(ops)}")
            return BAD
        args = bind_args(item, model, r.scope, r.bag, item.name)
        return BAD if args is None else cfg.OpChoice(name=item.name, args=args)
    value = _plain_value(r, item)
    if value is BAD:
        return BAD
    if isinstance(value, CallValue):  # `let w = warmup(...)` then `epochs w`
        r.bag.add("E339", f"{key} cannot be a schedule", item.span,
                  "a schedule goes where a weight is written: a loss term's weight, a "
                  "regularizer's weight, a latent's beta")
        return BAD
    if isinstance(item, Str) and s.kind == "op" and item.value in (s.ops or {}):
        r.bag.add("E203", f"{key} takes a name, not a string: {_text(item)}", item.span,
                  f"write it without quotes: `{key} {item.value}`")
        return BAD
    if isinstance(value, Symbol) and s.kind in ("int", "float"):
        # A bare name where a number is needed is an undefined `let`, as in an op's
        # arguments (E205, the closest `let` offered).
        r.bag.add("E205", f"undefined name '{value.name}'", item.span,
                  did_you_mean(value.name, r.scope.exprs))
        return BAD
    problem = _check_value(value, s)
    if problem:
        text = value.name if isinstance(value, Symbol) else value
        hint = did_you_mean(str(text), s.choices) if s.choices else None
        r.bag.add("E203", f"invalid {key}: {text} ({problem})", item.span, hint or s.doc)
        return BAD
    return value


def _plain_value(r: Resolver, item) -> Any:
    if isinstance(item, (Num, Str)):
        return item.value
    if item.args:
        r.bag.add("E203", f"unexpected arguments after {item.name}", item.span)
        return BAD
    if item.name in ("true", "false"):
        return item.name == "true"
    if item.name in r.scope.exprs:
        try:
            return r.scope.get(item.name, item.span)
        except ExprError as err:  # a bad let, used by a setting (`batch width`)
            r.bag.add(err.code, err.message, err.span, err.hint)
            return BAD
    return Symbol(item.name, item.span)


def _check_value(value: Any, s: cfg.Setting) -> str | None:
    if s.kind == "symbol":
        name = value.name if isinstance(value, Symbol) else value
        if name in s.choices or (isinstance(name, str) and name.startswith("cuda:")
                                 and name[5:].isdigit() and "cuda" in s.choices):
            return None
        return f"expected one of {', '.join(s.choices)}"
    if s.kind == "bool":
        return None if isinstance(value, bool) else "expected true or false"
    if s.kind == "string":
        return None if isinstance(value, str) else 'expected a string: "runs/NAME"'

    if s.kind == "op":
        return f"expected one of {', '.join(s.ops or ())}"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            s.kind == "int" and not isinstance(value, int)):
        return f"expected {'an integer' if s.kind == 'int' else 'a number'}"
    if s.minimum is not None and value < s.minimum or (
            s.maximum is not None and value > s.maximum) or (s.kind == "float"
                                                             and value == s.minimum):
        return f"expected a value in ({s.minimum:g}, {s.maximum:g}]" if s.maximum is not None \
            else f"expected at least {s.minimum:g}"
    return None


def plain_values(values: dict[str, Any]) -> dict[str, Any]:
    """Checked setting values as the settings models take them: symbols as their names."""
    return {k: (v.name if isinstance(v, Symbol) else
                tuple(i.name for i in v) if isinstance(v, tuple) else v)
            for k, v in values.items()}


def _train_spec(values: dict[str, Any]) -> cfg.TrainSpec:
    return cfg.TrainSpec.model_validate(plain_values(values))
