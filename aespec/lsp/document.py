"""One open spec as the server knows it: the front end's result and the source's lines.

`analyse` runs `check_source` once a change (its diagnostics, Spec and graph) and the
formatter's tokenizer, which never fails, so names, blocks and definitions are found in a
spec with a syntax error too. Positions here are 0-based lines and code-point columns; the
server converts them to the client's units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aespec.errors import Span, source_lines
from aespec.graph.frontend import CheckResult, check_source
from aespec.parse import MAX_SOURCE
from aespec.parse.fmt import Token, tokenize

LAYER_BLOCKS = ("encoder", "bottleneck", "decoder")


@dataclass
class CodeLine:
    """A logical line's code tokens (no comments, no newlines) and the block it is in."""

    tokens: list[Token]
    block: str | None  # the innermost block's keyword (a `repeat` counts as its block)
    depth: int  # the blocks open around it


@dataclass
class Document:
    source: str
    path: str | None
    result: CheckResult
    tokens: list[Token]
    lines: list[str] = field(default_factory=list)
    code: list[CodeLine] = field(default_factory=list)

    def token_at(self, line: int, char: int) -> Token | None:
        """The code token under (or just before) the cursor."""
        before = None
        for tok in self.tokens:
            if tok.line - 1 != line or tok.kind in ("nl", "comment"):
                continue
            if tok.column <= char < tok.column + len(tok.text):
                return tok
            if char == tok.column + len(tok.text):
                before = tok
        return before

    def definitions(self) -> dict[str, Token]:
        """`let` names and tensor names (`NAME = chain` in a block), at their definition."""
        found: dict[str, Token] = {}
        for cl in self.code:
            toks = cl.tokens
            if len(toks) >= 2 and toks[0].text == "let" and toks[1].kind == "name":
                found.setdefault(toks[1].text, toks[1])
            elif cl.depth and len(toks) >= 2 and toks[0].kind == "name" and toks[1].text == "=":
                found.setdefault(toks[0].text, toks[0])
        return found

    def lets(self) -> dict[str, CodeLine]:
        return {cl.tokens[1].text: cl for cl in self.code
                if len(cl.tokens) >= 2 and cl.tokens[0].text == "let"}

    def line_of(self, tok: Token) -> CodeLine | None:
        return next((cl for cl in self.code if tok in cl.tokens), None)


def code_lines(tokens: list[Token], stack: list[str] | None = None) -> list[CodeLine]:
    """Tokens -> logical lines, each with its enclosing block (tolerates unbalanced text:
    a `}` starts a line even after a `(` left open); `stack`, when given, is left holding
    the blocks still open at the end."""
    out: list[CodeLine] = []
    stack = [] if stack is None else stack
    current: list[Token] = []
    for tok in tokens + [Token("nl", "\n", 0, 0)]:
        if tok.kind == "comment" or tok.kind == "nl" and tok.depth > 0:
            continue
        if tok.text == "}" and current:
            _close_line(current, stack, out)
            current = []
        if tok.kind != "nl":
            current.append(tok)
        elif current:
            _close_line(current, stack, out)
            current = []
    return out


def _close_line(current: list[Token], stack: list[str], out: list[CodeLine]) -> None:
    if current[0].text == "}" and stack:
        stack.pop()
    out.append(CodeLine(current, stack[-1] if stack else None, len(stack)))
    if current[-1].text == "{":
        word = current[0].text
        stack.append(stack[-1] if word == "repeat" and stack else word)


def analyse(source: str, path: str | None = None) -> Document:
    """Check a spec's text and index its tokens; a text longer than a spec may be (E106
    from the check) is not tokenized, so it has nothing to hover or complete."""
    tokens = tokenize(source) if len(source) <= MAX_SOURCE else []
    return Document(source, path, check_source(source, path), tokens, source_lines(source),
                    code_lines(tokens))


def span_contains(span: Span, line: int, char: int) -> bool:
    """Whether a 1-based, end-exclusive `Span` holds the 0-based (line, char)."""
    pos = (line + 1, char + 1)
    return (span.line, span.column) <= pos < (span.end_line, span.end_column) or (
        span.line == span.end_line == pos[0] and span.column == span.end_column == pos[1])


def token_span(tok: Token) -> Span:
    return Span(tok.line, tok.column + 1, tok.line, tok.column + 1 + len(tok.text))
