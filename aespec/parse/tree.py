"""The syntax tree: frozen dataclasses with spans, what `aespec.parse.syntax` parses into.

Plain data, no lark: the resolve stage (`aespec.resolve`) reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from aespec.errors import Span


@dataclass(frozen=True)
class Num:
    value: int | float
    span: Span


@dataclass(frozen=True)
class Str:
    value: str
    span: Span


@dataclass(frozen=True)
class Name:
    """A bare name: a `let` constant, `true`/`false`, or a symbol such as `same`."""

    value: str
    span: Span


@dataclass(frozen=True)
class BinOp:
    op: str  # one of + - * /
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class Neg:
    operand: Expr
    span: Span


@dataclass(frozen=True)
class TupleExpr:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class Arg:
    key: str | None  # None for a positional argument
    value: Expr
    span: Span


@dataclass(frozen=True)
class Op:
    """`name` or `name(args)`; `name_span` covers just the name."""

    name: str
    args: tuple[Arg, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True)
class Call:
    """`name(args)` written as a value: a weight's schedule, `beta=warmup(epochs=10)`."""

    name: str
    args: tuple[Arg, ...]
    span: Span
    name_span: Span


Expr = Union[Num, Str, Name, BinOp, Neg, TupleExpr, Call]

Item = Union[Op, Num, Str]  # a chain item; bare values appear in train/report lines


@dataclass(frozen=True)
class ChainLine:
    items: tuple[Item, ...]
    span: Span
    label: str | None = None  # `NAME = chain`
    label_span: Span | None = None


@dataclass(frozen=True)
class RepeatLine:
    count: Expr
    body: tuple[BlockLine, ...]
    span: Span


BlockLine = Union[ChainLine, RepeatLine]


@dataclass(frozen=True)
class ModelStmt:
    name: str
    doc: str | None
    span: Span


@dataclass(frozen=True)
class LetStmt:
    name: str
    value: Expr
    span: Span
    name_span: Span


@dataclass(frozen=True)
class LossTerm:
    weight: Expr | None
    op: Op
    span: Span


@dataclass(frozen=True)
class LossStmt:
    terms: tuple[LossTerm, ...]
    span: Span


@dataclass(frozen=True)
class RegularizeStmt:
    op: Op
    target: str | None
    target_span: Span | None
    span: Span


@dataclass(frozen=True)
class BlockStmt:
    keyword: str
    lines: tuple[BlockLine, ...]
    span: Span
    keyword_span: Span
    target: str | None = None  # `discriminator on code { ... }`: what the block reads
    target_span: Span | None = None


@dataclass(frozen=True)
class LineStmt:
    keyword: str
    chain: ChainLine
    span: Span
    keyword_span: Span
    keyword_args: tuple[Arg, ...] = ()  # `dense(4)` written as a statement: always an error


@dataclass(frozen=True)
class PhaseStmt:
    """`phase NAME { ... }`: statements (noise, loss, train keys as lines) that hold for the
    phase's epochs; `statements` are parsed as top-level ones are."""

    name: str
    statements: tuple[Statement, ...]
    span: Span
    name_span: Span


Statement = Union[ModelStmt, LetStmt, LossStmt, RegularizeStmt, BlockStmt, LineStmt,
                  PhaseStmt]


@dataclass(frozen=True)
class SpecTree:
    statements: tuple[Statement, ...]
    source: str
    path: str | None

