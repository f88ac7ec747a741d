"""lark's parse tree -> the syntax tree of `aespec.parse.tree`, every node with its `Span`."""

from __future__ import annotations

import re

from lark import Token, Transformer, v_args

from aespec.errors import Span
from aespec.parse.tree import (
    Arg,
    BinOp,
    BlockStmt,
    Call,
    ChainLine,
    LetStmt,
    LineStmt,
    LossStmt,
    LossTerm,
    ModelStmt,
    Name,
    Neg,
    Num,
    Op,
    PhaseStmt,
    RegularizeStmt,
    RepeatLine,
    Str,
    TupleExpr,
)


def span_of(meta_or_tok) -> Span:
    """The `Span` of a lark token, or of a rule from its `meta` (`propagate_positions`)."""
    if isinstance(meta_or_tok, Token):
        line, col = meta_or_tok.line or 1, meta_or_tok.column or 1
        return Span(line, col, meta_or_tok.end_line or line, meta_or_tok.end_column or col + 1)
    m = meta_or_tok
    return Span(m.line, m.column, m.end_line, m.end_column)


def _number(text: str) -> int | float:
    # past 4300 digits int() refuses; such a number is out of range anyway (inf, E212)
    return int(text) if text.isdigit() and len(text) < 4000 else float(text)


_ESCAPE = re.compile(r"\\(.)")


def _unescape(text: str) -> str:
    """`\\"` -> `"`, `\\\\` -> `\\`, `\\n` -> newline; any other backslash stays as written."""
    return _ESCAPE.sub(lambda m: {"n": "\n", '"': '"', "\\": "\\"}.get(m[1], m[0]), text[1:-1])


def _binary(op: str):
    """A transformer rule building `BinOp(op, ...)`."""
    def rule(self, meta, c):
        return BinOp(op, c[0], c[1], span_of(meta))
    return rule


@v_args(meta=True)
class ToTree(Transformer):
    """lark parse tree -> our frozen dataclasses."""

    def start(self, meta, children):
        return tuple(children)

    def number(self, meta, c):
        return Num(_number(c[0]), span_of(c[0]))

    def neg_number(self, meta, c):
        return Num(-_number(c[0]), span_of(meta))

    def qualified(self, meta, c):  # `cuda:1`: a symbol, as a bare name would be
        return Op(f"{c[0]}:{c[1]}", (), span_of(meta), span_of(meta))

    def string(self, meta, c):
        return Str(_unescape(c[0]), span_of(c[0]))

    def name(self, meta, c):
        return Name(str(c[0]), span_of(c[0]))

    add, sub, mul, div = (_binary(op) for op in "+-*/")

    def neg(self, meta, c):
        return Neg(c[0], span_of(meta))

    def tuple(self, meta, c):
        return TupleExpr(tuple(c), span_of(meta))

    def kwarg(self, meta, c):
        return Arg(str(c[0]), c[1], span_of(meta))

    def args(self, meta, c):
        return tuple(a if isinstance(a, Arg) else Arg(None, a, a.span) for a in c)

    def op(self, meta, c):
        args = c[1] if len(c) > 1 and c[1] is not None else ()
        return Op(str(c[0]), args, span_of(meta), span_of(c[0]))

    def call(self, meta, c):
        args = c[1] if len(c) > 1 and c[1] is not None else ()
        return Call(str(c[0]), args, span_of(meta), span_of(c[0]))

    def weight(self, meta, c):
        return c[0]

    def chain(self, meta, c):
        return ChainLine(tuple(c), span_of(meta))

    def named_line(self, meta, c):
        chain = c[1]
        return ChainLine(chain.items, span_of(meta), str(c[0]), span_of(c[0]))

    def repeat_line(self, meta, c):
        return RepeatLine(c[0], c[1], span_of(meta))

    def block(self, meta, c):
        return tuple(c)

    def model_stmt(self, meta, c):
        doc = _unescape(c[1]) if c[1] is not None else None
        return ModelStmt(str(c[0]), doc, span_of(meta))

    def let_stmt(self, meta, c):
        return LetStmt(str(c[0]), c[1], span_of(meta), span_of(c[0]))

    def loss_term(self, meta, c):
        weight = c[0] if len(c) == 2 else None
        if isinstance(weight, Token):
            weight = Name(str(weight), span_of(weight))
        return LossTerm(weight, c[-1], span_of(meta))

    def loss_stmt(self, meta, c):
        return LossStmt(tuple(c), span_of(meta))

    def regularize_stmt(self, meta, c):
        target = c[1]
        return RegularizeStmt(c[0], str(target) if target else None,
                              span_of(target) if target else None, span_of(meta))

    def block_stmt(self, meta, c):
        name, target, lines = c
        return BlockStmt(str(name), lines, span_of(meta), span_of(name),
                         str(target) if target else None, span_of(target) if target else None)

    def phase_stmt(self, meta, c):
        name, *body = c
        return PhaseStmt(str(name), tuple(body), span_of(meta), span_of(name))

    def line_stmt(self, meta, c):
        head, chain = c
        chain = chain or ChainLine((), head.span)
        return LineStmt(head.name, chain, span_of(meta), head.name_span, head.args)
