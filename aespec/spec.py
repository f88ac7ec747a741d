"""Syntax tree -> validated `Spec` (pydantic): names, arguments and statements resolved.

`resolve_spec` reports every E2xx problem it finds into a `DiagnosticBag`; the graph stage
(`aespec.graph`) then infers shapes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from aespec import data as data_sources
from aespec import settings as cfg
from aespec.errors import AespecError, DiagnosticBag, Span, did_you_mean
from aespec.ops import Args, get_op, lookup, names
from aespec.syntax import (
    BlockStmt,
    ChainLine,
    LetStmt,
    LineStmt,
    LossStmt,
    ModelStmt,
    Num,
    Op,
    RegularizeStmt,
    RepeatLine,
    SpecTree,
    Str,
    parse_fragment,
    parse_source,
)
from aespec.values import ExprError, Scope, Symbol, bind_args, evaluate

BLOCKS = ("encoder", "bottleneck", "decoder")
STATEMENTS = ("model", "let", "data", "input", "noise", "encoder", "bottleneck", "decoder",
              "loss", "regularize", "train", "report")
REPEATABLE = ("let", "regularize")
MAX_REPEAT_OPS = 10_000  # what one `repeat` may expand to; more is a typo, not a network


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)


class OpCall(_Frozen):
    """One validated op where it was written: `args` is the op's argument model."""

    op: str
    args: Args
    span: Span
    label: Optional[str] = None  # set on the last op of `NAME = chain`


class InputSpec(_Frozen):
    kind: Literal["vector", "image", "sequence"]
    shape: tuple[int, ...]
    span: Span


class DataSpec(_Frozen):
    source: str
    args: dict[str, Any]
    span: Span


class Mirror(_Frozen):
    output: Optional[str] = None
    tied: bool = False
    span: Span


class LossTermSpec(_Frozen):
    weight: float
    call: OpCall


class RegSpec(_Frozen):
    call: OpCall
    target: Optional[str] = None
    target_span: Optional[Span] = None


class Spec(_Frozen):
    """A whole validated spec: what the graph builder needs, plain data only."""

    name: str
    doc: Optional[str] = None
    path: Optional[str] = None
    source: str = ""
    lets: dict[str, Any] = {}
    data: Optional[DataSpec] = None
    input: InputSpec
    noise: list[OpCall] = []
    encoder: list[OpCall]
    bottleneck: list[OpCall]
    decoder: Union[list[OpCall], Mirror]
    loss: list[LossTermSpec] = Field(min_length=1)
    loss_span: Optional[Span] = None
    regularizers: list[RegSpec] = []
    train: cfg.TrainSpec = cfg.TrainSpec()
    train_spans: dict[str, Span] = {}
    report: cfg.ReportSpec = cfg.ReportSpec()
    report_spans: dict[str, Span] = {}
    block_spans: dict[str, Span] = {}

    def graph(self):
        """The graph IR of this spec (shapes inferred; the spec is already checked)."""
        from aespec.graph import build_graph

        return build_graph(self, DiagnosticBag(file=self.path))

    def build(self):
        """The torch module of this spec (imports torch)."""
        from aespec.compile import compile_model

        return compile_model(self.graph(), self)

    def _repr_svg_(self) -> str:
        """Jupyter shows a loaded spec as its diagram."""
        from aespec.draw import to_svg

        return to_svg(self.graph(), self)


class _Vector(Args):
    n: int = Field(gt=0)


class _Image(Args):
    c: int = Field(gt=0)
    h: int = Field(gt=0)
    w: int = Field(gt=0)


class _Sequence(Args):
    c: int = Field(gt=0)
    length: int = Field(gt=0)


class _MirrorArgs(Args):
    output: Optional[str] = None
    tied: bool = False


INPUTS: dict[str, type[Args]] = {"vector": _Vector, "image": _Image, "sequence": _Sequence}


class _Resolver:
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
        if block not in opdef.blocks:
            where = " or ".join(opdef.blocks)
            self.bag.add("E208", f"{op.name} is not allowed in {block}", op.name_span,
                         f"a {opdef.kind} {op.name} belongs in the {where}")
            return None
        args = bind_args(op, opdef.args, self.scope, self.bag, op.name, opdef.varargs)
        return OpCall(op=op.name, args=args, span=op.span) if args is not None else None

    def _unknown_op(self, op: Op, place: str) -> None:
        hint = did_you_mean(op.name, names(place))  # type: ignore[arg-type]
        for other in ("layer", "noise", "loss", "regularizer"):
            if other != place and lookup(other, op.name):  # type: ignore[arg-type]
                hint = hint or f"{op.name} is a {other} op, not a {place} op"
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
        elif name in BLOCKS:
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


def _item_text(item) -> str:
    return repr(item.value) if isinstance(item, (Num, Str)) else getattr(item, "name", "?")


# ---------------------------------------------------------------- statements


def _stmt_keyword(stmt) -> str:
    return {ModelStmt: "model", LetStmt: "let", LossStmt: "loss",
            RegularizeStmt: "regularize"}.get(type(stmt)) or stmt.keyword


def _single_op(r: _Resolver, stmt: LineStmt) -> Op | None:
    items = stmt.chain.items
    if len(items) != 1 or not isinstance(items[0], Op):
        r.bag.add("E203", f"{stmt.keyword} takes exactly one op", stmt.chain.span)
        return None
    return items[0]


def _do_input(r: _Resolver, stmt: LineStmt) -> None:
    op = _single_op(r, stmt)
    if op is None:
        return
    model = INPUTS.get(op.name)
    if model is None:
        r.bag.add("E201", f"unknown input kind '{op.name}'", op.name_span,
                  did_you_mean(op.name, INPUTS) or "use vector(N), image(C, H, W) or "
                  "sequence(C, L)")
        return
    args = bind_args(op, model, r.scope, r.bag, op.name)
    if args is not None:
        kind: Any = op.name  # one of INPUTS' keys
        r.fields["input"] = InputSpec(kind=kind, shape=tuple(args.model_dump().values()),
                                      span=op.span)


def _do_data(r: _Resolver, stmt: LineStmt) -> None:
    op = _single_op(r, stmt)
    if op is None:
        return
    model = data_sources.SOURCES.get(op.name)
    if model is None:
        r.bag.add("E201", f"unknown data source '{op.name}'", op.name_span,
                  did_you_mean(op.name, data_sources.SOURCES))
        return
    args = bind_args(op, model, r.scope, r.bag, op.name)
    if args is not None:
        r.fields["data"] = DataSpec(source=op.name, args=args.model_dump(exclude_unset=True),
                                    span=op.span)


def _do_noise(r: _Resolver, stmt: LineStmt) -> None:
    r.fields["noise"] = r.chain(stmt.chain, "noise", "noise")


def _do_decoder_line(r: _Resolver, stmt: LineStmt) -> None:
    op = _single_op(r, stmt)
    if op is None:
        return
    if op.name != "mirror":
        r.bag.add("E203", f"decoder takes a block {{ ... }} or `mirror`, got {op.name}",
                  op.name_span, did_you_mean(op.name, ["mirror"]))
        return
    args = bind_args(op, _MirrorArgs, r.scope, r.bag, "mirror")
    if args is None:
        return
    act = lookup("layer", args.output) if args.output else None
    if args.output and (act is None or act.kind != "activation"):
        acts = [n for n in names("layer") if get_op("layer", n).kind == "activation"]
        r.bag.add("E203", f"mirror output must be an activation, got '{args.output}'", op.span,
                  did_you_mean(args.output, acts) or f"one of: {', '.join(acts)}")
        return
    r.fields["decoder"] = Mirror(output=args.output, tied=args.tied, span=stmt.span)


def _do_block(r: _Resolver, stmt: BlockStmt) -> None:
    if stmt.keyword in BLOCKS:
        r.fields[stmt.keyword] = r.block(stmt.lines, stmt.keyword)
    elif stmt.keyword == "train":
        _do_settings(r, stmt, cfg.TRAIN, "train")
    else:
        _do_settings(r, stmt, cfg.REPORT, "report")


def _do_settings(r: _Resolver, stmt: BlockStmt, table: dict[str, cfg.Setting], block: str
                 ) -> None:
    values: dict[str, Any] = {}
    spans: dict[str, Span] = {}
    for line in stmt.lines:
        if isinstance(line, RepeatLine) or not isinstance(line.items[0], Op):
            r.bag.add("E203", f"a {block} line starts with a key", line.span,
                      f"keys: {', '.join(table)}")
            continue
        key_op = line.items[0]
        setting = table.get(key_op.name)
        if setting is None:
            r.bag.add("E209", f"unknown {block} setting '{key_op.name}'", key_op.name_span,
                      did_you_mean(key_op.name, table) or f"keys: {', '.join(table)}")
            continue
        if key_op.name in values:
            r.bag.add("E206", f"{block} setting '{key_op.name}' is given twice", key_op.span)
            continue
        value = _setting_value(r, key_op, line, setting)
        if value is not _BAD:
            values[key_op.name] = value
            spans[key_op.name] = line.span
    if block == "train":
        r.fields["train"] = _train_spec(values)
        r.fields["train_spans"] = spans
    else:
        baseline = values.pop("baseline", None)
        r.fields["report"] = cfg.ReportSpec(items=values,
                                          baseline=baseline.name if baseline else None)
        r.fields["report_spans"] = spans


_BAD = object()


def _setting_value(r: _Resolver, key: Op, line: ChainLine, s: cfg.Setting) -> Any:
    rest = line.items[1:]
    if s.kind == "self":
        if rest:
            r.bag.add("E203", f"{key.name} takes its arguments in parentheses", rest[0].span,
                      f"write `{key.name}(...)`")
            return _BAD
        args = bind_args(key, s.args, r.scope, r.bag, key.name)
        return _BAD if args is None else args
    if key.args:
        r.bag.add("E203", f"{key.name} takes a value after it, not arguments", key.span,
                  f"write `{key.name} VALUE`")
        return _BAD
    if len(rest) != 1:
        r.bag.add("E203", f"{key.name} takes one value", line.span, s.doc)
        return _BAD
    return _typed_value(r, key.name, rest[0], s)


def _typed_value(r: _Resolver, key: str, item, s: cfg.Setting) -> Any:
    if isinstance(item, Op) and s.kind == "op":
        ops = s.ops or {}
        model = ops.get(item.name)
        if model is None:
            r.bag.add("E203", f"unknown {key} '{item.name}'", item.name_span,
                      did_you_mean(item.name, ops) or f"one of: {', '.join(ops)}")
            return _BAD
        args = bind_args(item, model, r.scope, r.bag, item.name)
        return _BAD if args is None else cfg.OpChoice(name=item.name, args=args)
    value = _plain_value(r, item)
    if value is _BAD:
        return _BAD
    problem = _check_value(value, s)
    if problem:
        text = value.name if isinstance(value, Symbol) else value
        hint = did_you_mean(str(text), s.choices) if s.choices else None
        r.bag.add("E203", f"invalid {key}: {text} ({problem})", item.span, hint or s.doc)
        return _BAD
    return value


def _plain_value(r: _Resolver, item) -> Any:
    if isinstance(item, (Num, Str)):
        return item.value
    if item.args:
        r.bag.add("E203", f"unexpected arguments after {item.name}", item.span)
        return _BAD
    if item.name in ("true", "false"):
        return item.name == "true"
    if item.name in r.scope.exprs:
        return r.scope.get(item.name, item.span)
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


def _train_spec(values: dict[str, Any]) -> cfg.TrainSpec:
    plain = {k: (v.name if isinstance(v, Symbol) else v) for k, v in values.items()}
    return cfg.TrainSpec.model_validate(plain)


def _do_loss(r: _Resolver, stmt: LossStmt) -> None:
    terms = []
    for term in stmt.terms:
        weight = 1.0 if term.weight is None else r.value(term.weight)
        if weight is None:
            continue
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            r.bag.add("E203", f"a loss weight must be a number >= 0, got {weight}",
                      term.weight.span if term.weight else term.span)
            continue
        call = r.op(term.op, "loss", "loss")
        if call is not None:
            terms.append(LossTermSpec(weight=float(weight), call=call))
    r.fields["loss"] = terms
    r.fields["loss_span"] = stmt.span


def _do_regularize(r: _Resolver, stmt: RegularizeStmt) -> None:
    call = r.op(stmt.op, "regularizer", "regularize")
    if call is not None:
        r.fields.setdefault("regularizers", []).append(
            RegSpec(call=call, target=stmt.target, target_span=stmt.target_span))


def _do_model(r: _Resolver, stmt: ModelStmt) -> None:
    r.fields["name"], r.fields["doc"] = stmt.name, stmt.doc


_LINE_HANDLERS = {"input": _do_input, "data": _do_data, "noise": _do_noise,
                  "decoder": _do_decoder_line}


def _dispatch(r: _Resolver, stmt) -> None:
    if isinstance(stmt, ModelStmt):
        _do_model(r, stmt)
    elif isinstance(stmt, LossStmt):
        _do_loss(r, stmt)
    elif isinstance(stmt, RegularizeStmt):
        _do_regularize(r, stmt)
    elif isinstance(stmt, BlockStmt):
        if stmt.keyword not in BLOCKS + ("train", "report"):
            r.bag.add("E209", f"'{stmt.keyword}' does not take a block", stmt.keyword_span,
                      _statement_hint(stmt.keyword))
        else:
            _do_block(r, stmt)
    elif isinstance(stmt, LineStmt):
        handler = _LINE_HANDLERS.get(stmt.keyword)
        if stmt.keyword_args and handler is not None:
            r.bag.add("E101", f"{stmt.keyword} takes no arguments itself", stmt.keyword_span,
                      f"write `{stmt.keyword} VALUE`")
        elif lookup("layer", stmt.keyword) or lookup("noise", stmt.keyword):
            r.bag.add("E208", f"{stmt.keyword} is an op: it belongs inside encoder, "
                      "bottleneck or decoder { ... }, or on the noise line", stmt.keyword_span,
                      "put it inside a block")
        elif handler is None:
            hint = (f"{stmt.keyword} takes a block: `{stmt.keyword} {{`"
                    if stmt.keyword in BLOCKS + ("train", "report")
                    else _statement_hint(stmt.keyword))
            r.bag.add("E209", f"unknown statement '{stmt.keyword}'"
                      if stmt.keyword not in STATEMENTS else f"{stmt.keyword} takes a block",
                      stmt.keyword_span, hint)
        else:
            handler(r, stmt)


def _statement_hint(word: str) -> str:
    return did_you_mean(word, STATEMENTS) or f"statements: {', '.join(STATEMENTS)}"


def _check_statement_counts(tree: SpecTree, bag: DiagnosticBag) -> None:
    seen: dict[str, Span] = {}
    for stmt in tree.statements:
        key = _stmt_keyword(stmt)
        if key in REPEATABLE or key not in STATEMENTS:
            continue
        if key in seen:
            bag.add("E206", f"{key} is given twice (first at line {seen[key].line})",
                    stmt.span, f"a spec has one {key} statement")
        else:
            seen[key] = stmt.span
    for key in BLOCKS + ("input",):
        if key not in seen:
            bag.add("E207", f"the spec has no {key}", Span.point(1, 1),
                    f"add `{key} {{ ... }}`" if key in BLOCKS else
                    "add `input vector(N)`, `input image(C, H, W)` or `input sequence(C, L)`")


def _collect_lets(tree: SpecTree, bag: DiagnosticBag) -> dict:
    lets: dict = {}
    for stmt in tree.statements:
        if isinstance(stmt, LetStmt):
            if stmt.name in lets:
                bag.add("E206", f"let {stmt.name} is defined twice", stmt.name_span)
            lets[stmt.name] = stmt.value
    return lets


def _apply_overrides(tree: SpecTree, lets: dict, overrides: list[str], bag: DiagnosticBag
                     ) -> SpecTree:
    """`--set NAME=VALUE` replaces a let; `--set train.KEY=VALUE` a train line.

    A value's problems are reported where it takes effect in the file (the let's value, the
    key's line), not at its column on the command line, which no source line shows.
    """
    statements = list(tree.statements)
    for text in overrides:
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or not key or not value.strip():
            raise AespecError.of("E210", f"--set needs NAME=VALUE, got {text!r}", file="--set")
        if "." in key:
            statements = _override_setting(statements, key, value)
        elif key in lets:
            lets[key] = _respan(_parse_set(value, "expr", key, value), lets[key].span)
        else:
            raise AespecError.of("E210", f"--set {key}: the spec has no let named '{key}'",
                                 None, did_you_mean(key, lets) or "--set train.KEY=VALUE "
                                 "sets a train key", "--set")
    return SpecTree(tuple(statements), tree.source, tree.path)


def _parse_set(text: str, kind: str, key: str, value: str):
    """The syntax tree of `text`, a --set value; its syntax errors are E210 (not in the file)."""
    try:
        return parse_fragment(text, kind, f"--set {key}")
    except AespecError as err:
        d = err.diagnostics[0]
        raise AespecError.of("E210", f"--set {key}={value.strip()}: {d.message}", None, d.hint,
                             "--set") from None


def _respan(node: Any, span: Span) -> Any:
    """`node` (a syntax tree) with every span replaced by `span`."""
    if isinstance(node, Span):
        return span
    if isinstance(node, tuple):
        return tuple(_respan(n, span) for n in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return dataclasses.replace(node, **{f.name: _respan(getattr(node, f.name), span)
                                            for f in dataclasses.fields(node)})
    return node


def _override_setting(statements: list, key: str, value: str) -> list:
    block, _, name = key.partition(".")
    table = {"train": cfg.TRAIN, "report": cfg.REPORT}.get(block)
    if table is None:
        raise AespecError.of("E210", f"--set {key}: only train.KEY and report.KEY can be set",
                             file="--set")
    if name not in table:
        raise AespecError.of("E210", f"--set {key}: {block} has no key '{name}'", None,
                             did_you_mean(name, table) or f"keys: {', '.join(table)}", "--set")
    text = f"{name}{value}" if value.lstrip().startswith("(") else f"{name} {value}"
    line = _parse_set(text, "chain", key, value)
    for i, stmt in enumerate(statements):
        if isinstance(stmt, BlockStmt) and stmt.keyword == block:
            old = [ln for ln in stmt.lines if isinstance(ln, ChainLine)
                   and isinstance(ln.items[0], Op) and ln.items[0].name == name]
            kept = tuple(ln for ln in stmt.lines if not any(ln is o for o in old))
            line = _respan(line, old[0].span if old else stmt.keyword_span)
            statements[i] = BlockStmt(block, kept + (line,), stmt.span, stmt.keyword_span)
            return statements
    line = _respan(line, Span.point(1, 1))  # no such block in the file
    return statements + [BlockStmt(block, (line,), line.span, line.span)]


def resolve_spec(tree: SpecTree, overrides: Sequence[str] = (), bag: DiagnosticBag | None = None
                 ) -> tuple[Spec | None, DiagnosticBag]:
    """Validate a syntax tree; returns the Spec (None when errors stop it) and diagnostics."""
    bag = bag or DiagnosticBag(file=tree.path)
    lets = _collect_lets(tree, bag)
    tree = _apply_overrides(tree, lets, list(overrides), bag)
    _check_statement_counts(tree, bag)
    r = _Resolver(tree, bag, lets)
    for name in lets:  # every let, used or not: its value goes into Spec.lets
        try:
            r.scope.get(name, lets[name].span)
        except ExprError as err:
            bag.add(err.code, err.message, err.span, err.hint)
    for stmt in tree.statements:
        if not isinstance(stmt, LetStmt):
            _dispatch(r, stmt)
    r.fields.setdefault("name", Path(tree.path).stem if tree.path else "model")
    r.fields.setdefault("loss", [LossTermSpec(weight=1.0, call=OpCall(
        op="mse", args=get_op("loss", "mse").args(), span=Span.point(1, 1)))])
    r.fields["lets"] = {k: v for k, v in r.scope.values.items()}
    r.fields["block_spans"] = {_stmt_keyword(s): s.span for s in tree.statements}
    if bag.errors or not all(k in r.fields for k in BLOCKS + ("input",)):
        return None, bag
    return Spec(path=tree.path, source=tree.source, **r.fields), bag


def load_spec(path: str | Path, overrides: Sequence[str] = ()) -> tuple[Spec | None, DiagnosticBag]:
    """Read, parse and resolve a spec file."""
    path = Path(path)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise AespecError.of("E001", f"cannot read {path}: {err}", file=str(path)) from None
    return resolve_spec(parse_source(source, str(path)), overrides)


