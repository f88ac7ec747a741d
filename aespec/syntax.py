"""Source text -> syntax tree: frozen dataclasses with spans, parsed by lark (LALR).

Every syntax problem becomes an `AespecError` with an E1xx diagnostic at the offending
token; nothing lark raises escapes this module.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Union

from lark import Lark, Token, Transformer, Tree, v_args
from lark import __version__ as lark_version
from lark.exceptions import (
    LarkError,
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
)

from aespec.errors import AespecError, Span, source_lines

# ---------------------------------------------------------------- syntax tree


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


Expr = Union[Num, Str, Name, BinOp, Neg, TupleExpr]


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


@dataclass(frozen=True)
class LineStmt:
    keyword: str
    chain: ChainLine
    span: Span
    keyword_span: Span
    keyword_args: tuple[Arg, ...] = ()  # `dense(4)` written as a statement: always an error


Statement = Union[ModelStmt, LetStmt, LossStmt, RegularizeStmt, BlockStmt, LineStmt]


@dataclass(frozen=True)
class SpecTree:
    statements: tuple[Statement, ...]
    source: str
    path: str | None


# ---------------------------------------------------------------- parser


class _ParenPostLex:
    """Drops newlines inside ( ) so that an argument list may span lines."""

    always_accept = ("_NL",)

    def process(self, stream):
        depth = 0
        for tok in stream:
            if tok.type == "LPAR":
                depth += 1
            elif tok.type == "RPAR":
                depth = max(depth - 1, 0)
            elif tok.type == "_NL" and depth:
                continue
            yield tok


def grammar_text() -> str:
    """The grammar: packaged copy inside the wheel, else the repository's grammar/ file."""
    packaged = resources.files("aespec").joinpath("grammar/aespec.lark")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parent.parent / "grammar" / "aespec.lark").read_text(
        encoding="utf-8")


def _cache_file(grammar: str, start: str) -> str | None:
    """Where the built LALR tables of `grammar` are kept between runs, or None.

    Building the tables is most of a cold `aespec check` (about 0.15 s); loading them takes
    a few ms.  They live in the user's cache folder, never beside the package (which may be
    read-only), under a name that changes with the grammar, lark and Python versions;
    `AESPEC_CACHE_DIR=` (empty) turns the cache off.
    """
    folder = os.environ.get("AESPEC_CACHE_DIR")
    if folder is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(base, "aespec")
    if not folder or not os.path.isabs(folder):  # "~" not expanded: no home to cache in
        return None
    key = f"{grammar}{start}{lark_version}{sys.version_info[:2]}".encode()
    path = Path(folder) / f"grammar-{start}-{hashlib.sha256(key).hexdigest()[:16]}.lark"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return str(path)


def _build(start: str) -> Lark:
    """The LALR parser for `start`, its tables loaded from the cache when they are there."""
    grammar = grammar_text()
    options = dict(parser="lalr", start=start, propagate_positions=True,
                   postlex=_ParenPostLex(), maybe_placeholders=True)
    cache = _cache_file(grammar, start)
    if cache is None or os.path.exists(cache):
        return Lark(grammar, cache=cache or False, **options)
    # write under a private name, then rename: a concurrent run never reads half a file
    tmp = f"{cache}.{os.getpid()}.tmp"
    parser = Lark(grammar, cache=tmp, **options)
    try:
        os.replace(tmp, cache)
    except OSError:
        pass
    return parser


@functools.cache
def _parser() -> Lark:
    return _build("start")


def _span(meta_or_tok) -> Span:
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
        return BinOp(op, c[0], c[1], _span(meta))
    return rule


@v_args(meta=True)
class _ToTree(Transformer):
    """lark parse tree -> our frozen dataclasses."""

    def start(self, meta, children):
        return tuple(children)

    def number(self, meta, c):
        return Num(_number(c[0]), _span(c[0]))

    def neg_number(self, meta, c):
        return Num(-_number(c[0]), _span(meta))

    def qualified(self, meta, c):  # `cuda:1`: a symbol, as a bare name would be
        return Op(f"{c[0]}:{c[1]}", (), _span(meta), _span(meta))

    def string(self, meta, c):
        return Str(_unescape(c[0]), _span(c[0]))

    def name(self, meta, c):
        return Name(str(c[0]), _span(c[0]))

    add, sub, mul, div = (_binary(op) for op in "+-*/")

    def neg(self, meta, c):
        return Neg(c[0], _span(meta))

    def tuple(self, meta, c):
        return TupleExpr(tuple(c), _span(meta))

    def kwarg(self, meta, c):
        return Arg(str(c[0]), c[1], _span(meta))

    def args(self, meta, c):
        return tuple(a if isinstance(a, Arg) else Arg(None, a, a.span) for a in c)

    def op(self, meta, c):
        args = c[1] if len(c) > 1 and c[1] is not None else ()
        return Op(str(c[0]), args, _span(meta), _span(c[0]))

    def weight(self, meta, c):
        return c[0]

    def chain(self, meta, c):
        return ChainLine(tuple(c), _span(meta))

    def named_line(self, meta, c):
        chain = c[1]
        return ChainLine(chain.items, _span(meta), str(c[0]), _span(c[0]))

    def repeat_line(self, meta, c):
        return RepeatLine(c[0], c[1], _span(meta))

    def block(self, meta, c):
        return tuple(c)

    def model_stmt(self, meta, c):
        doc = _unescape(c[1]) if c[1] is not None else None
        return ModelStmt(str(c[0]), doc, _span(meta))

    def let_stmt(self, meta, c):
        return LetStmt(str(c[0]), c[1], _span(meta), _span(c[0]))

    def loss_term(self, meta, c):
        weight = c[0] if len(c) == 2 else None
        if isinstance(weight, Token):
            weight = Name(str(weight), _span(weight))
        return LossTerm(weight, c[-1], _span(meta))

    def loss_stmt(self, meta, c):
        return LossStmt(tuple(c), _span(meta))

    def regularize_stmt(self, meta, c):
        target = c[1]
        return RegularizeStmt(c[0], str(target) if target else None,
                              _span(target) if target else None, _span(meta))

    def block_stmt(self, meta, c):
        return BlockStmt(str(c[0]), c[1], _span(meta), _span(c[0]))

    def line_stmt(self, meta, c):
        head, chain = c
        chain = chain or ChainLine((), head.span)
        return LineStmt(head.name, chain, _span(meta), head.name_span, head.args)


_TOKEN_WORDS = {
    "_NL": "end of line", "RPAR": "')'", "LPAR": "'('", "LBRACE": "'{'", "RBRACE": "'}'",
    "COMMA": "','", "EQUAL": "'='", "NAME": "a name", "NUMBER": "a number",
    "STRING": "a string", "PLUS": "'+'", "MINUS": "'-'", "STAR": "'*'", "SLASH": "'/'",
    "$END": "end of file", "_ON": "'on'", "COLON": "':'",
}


def _describe(token_type: str) -> str:
    return _TOKEN_WORDS.get(token_type, repr(token_type.lower()))


def _expected(expected) -> str:
    words = sorted({_describe(t) for t in expected if not t.startswith("__")})
    if len(words) > 6:
        words = words[:6] + ["..."]
    return ", ".join(words)


def _syntax_error(err: UnexpectedInput, source: str, path: str | None) -> AespecError:
    lines = source_lines(source)
    if isinstance(err, UnexpectedCharacters):
        line_text = lines[err.line - 1] if 0 < err.line <= len(lines) else ""
        char = line_text[err.column - 1: err.column] or "?"
        if char == '"':
            return AespecError.of("E102", "unterminated string", Span.point(err.line, err.column,
                                  len(line_text) - err.column + 1),
                                  'close the string with " on the same line', path)
        return AespecError.of("E104", f"unexpected character {char!r}",
                              Span.point(err.line, err.column), None, path)
    if isinstance(err, UnexpectedEOF) or (isinstance(err, UnexpectedToken)
                                          and err.token.type == "$END"):
        return _unclosed_at_end(source, path)
    assert isinstance(err, UnexpectedToken)
    tok = err.token
    opened = _open_brackets(source, tok.line, tok.column)
    parens = [b for b in opened if b[0] == "("]
    if parens and parens[-1][1] < tok.line:
        _, line, col = parens[-1]
        return AespecError.of("E101", "'(' is not closed", Span.point(line, col), "add ')' "
                              f"where the arguments end on line {line}", path)
    braces = [b for b in opened if b[0] == "{"]
    if tok.type == "LBRACE" and braces:
        _, line, _ = braces[-1]
        word = lines[line - 1].split("{")[0].strip()
        return AespecError.of("E101", f"a block opens inside block {word} (line {line}), "
                              "which is not closed", _span(tok),
                              f"add '}}' on a line of its own to end {word}", path)
    if tok.type == "RPAR" and not parens:
        return AespecError.of("E101", "unexpected ')': it closes no '('", _span(tok),
                              "remove it", path)
    found = "end of line" if tok.type == "_NL" else repr(str(tok))
    hint = _syntax_hint(err)
    span = _span(tok) if tok.type != "_NL" else Span.point(tok.line, tok.column)
    return AespecError.of("E101", f"unexpected {found}; expected {_expected(err.expected)}",
                          span, hint, path)


def _open_brackets(source: str, line: int, column: int) -> list[tuple[str, int, int]]:
    """The '(' and '{' still open before (line, column), skipping strings and comments."""
    stack: list[tuple[str, int, int]] = []
    for ln, text in enumerate(source_lines(source)[:line], start=1):
        in_string = False
        for col, ch in enumerate(text, start=1):
            if ln == line and col >= column:
                break
            if in_string:
                in_string = ch != '"' or text[col - 2] == "\\"
            elif ch == '"':
                in_string = True
            elif ch == "#":
                break
            elif ch in "({":
                stack.append((ch, ln, col))
            elif ch in ")}" and stack and stack[-1][0] == "({"[")}".index(ch)]:
                stack.pop()
    return stack


def _unclosed_at_end(source: str, path: str | None) -> AespecError:
    lines = source_lines(source.removesuffix("\n"))
    opened = _open_brackets(source, len(lines) + 1, 1)
    if opened:
        ch, line, col = opened[-1]
        what = "block" if ch == "{" else "'('"
        word = lines[line - 1].split("{")[0].strip() if ch == "{" else ""
        return AespecError.of("E103", f"{what} {word + ' ' if word else ''}opened here is "
                              "never closed", Span.point(line, col),
                              "add '}' on a line of its own after the block" if ch == "{"
                              else "add ')' where the arguments end", path)
    line = max(len(lines), 1)
    return AespecError.of("E103", "unexpected end of file", Span.point(line, 1), None, path)


def _syntax_hint(err: UnexpectedToken) -> str | None:
    expected = set(err.expected)
    if "RPAR" in expected and err.token.type in ("_NL", "NAME", "$END", "RBRACE"):
        return "a ')' is missing before this point"
    if err.token.type == "LBRACE":
        return ("blocks open only at the top level or after `repeat N`:"
                " is a '}' missing above this line?")
    if err.token.type == "RBRACE" and "_NL" in expected:
        return "'}' goes on a line of its own"
    return None


def parse_source(source: str, path: str | None = None) -> SpecTree:
    """Parse `.ae` source text into a `SpecTree`; raises `AespecError` (E1xx) on bad syntax."""
    text = source if source.endswith("\n") else source + "\n"
    try:
        tree: Tree = _parser().parse(text)
        _check_depth(tree, path)
        statements = _ToTree().transform(tree)
    except UnexpectedInput as err:
        raise _syntax_error(err, source, path) from None
    except LarkError as err:  # a lark failure that is not about the input is still ours to report
        raise AespecError.of("E100", f"could not parse: {err}", None, None, path) from None
    return SpecTree(statements, source, path)


MAX_DEPTH = 200  # syntax-tree levels; the transformer and `evaluate` recurse once a level


def _check_depth(tree: Tree, path: str | None) -> None:
    """E105 for nesting deeper than MAX_DEPTH (`- - - ... 1`, a sum of thousands of terms),
    which would otherwise exhaust Python's recursion limit in the later stages."""
    stack = [(tree, 1, tree)]
    while stack:
        node, depth, top = stack.pop()
        if depth > MAX_DEPTH:  # reported at the start of the statement that holds it
            meta = top.meta
            span = None if meta.empty else Span.point(meta.line, meta.column)
            raise AespecError.of("E105", f"the expression is nested more than {MAX_DEPTH} "
                                 "levels deep", span, "split it into `let` constants", path)
        stack.extend((c, depth + 1, c if depth == 1 else top) for c in node.children
                     if isinstance(c, Tree))


@functools.cache
def _expr_parser() -> Lark:
    return _build("expr")


@functools.cache
def _chain_parser() -> Lark:
    return _build("chain")


def parse_fragment(text: str, kind: str, path: str = "--set") -> Expr | ChainLine:
    """Parse a command-line value: `kind` is `expr` (a let value) or `chain` (a train value)."""
    parser = _expr_parser() if kind == "expr" else _chain_parser()
    try:
        tree = parser.parse(text)
        _check_depth(tree, path)
        return _ToTree().transform(tree)
    except UnexpectedInput as err:
        raise _syntax_error(err, text, path) from None
    except LarkError as err:
        raise AespecError.of("E100", f"could not parse {text!r}: {err}", None, None, path) from None
