"""`aespec fmt`: the canonical layout of a `.ae` spec, comments kept.

The grammar drops comments, so the layout is made from the source's tokens, not from the
syntax tree: the same tokens in the same order (a trailing comma before `)` may go), only
the whitespace between them changed, except that top-level statements are put in the order
of LANGUAGE.md's table (each with the comments above it). The rules:

- four spaces of indentation per open block; one space between the items of a chain,
  around `=` at the top of a line (`let width = 32`, `e1 = conv(16)`) and around `+ - * /`
  (`width * 2`); none inside `( )` next to the brackets, around a keyword argument's `=`
  (`k=3`) or a `:` (`cuda:1`); `, ` between arguments;
- an argument list spread over several lines is joined onto one, unless a comment sits
  inside it or the joined line would be longer than `WIDTH`: then its line breaks stay and
  each continuation line is indented four spaces per open `(`;
- one blank line between groups of statements (model; lets; data, input and noise;
  encoder, bottleneck and decoder; loss and regularizers; train; phases; report); inside a
  group and inside a block, a blank line where the source had one or more; none at a
  block's start or end; one newline at the end of the file;
- a comment on a line of its own is indented as the code around it; a trailing comment
  keeps its column when the code before it still leaves two spaces (so comments aligned
  in a column stay aligned), else it sits two spaces after the code; a comment line that
  continues the trailing comment above it (same column) stays under it.

The result parses to the same syntax tree, and formatting it again changes nothing. In a
Markdown page only the lines inside its closed ```ae blocks change; every other character of
the page (the prose, the fences, other code blocks, a block left open) stays as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from aespec.parse.markdown import _FENCE, _closing, ae_blocks
from aespec.parse.syntax import parse_source

WIDTH = 100  # a joined argument list longer than this keeps its line breaks
INDENT = "    "

# LANGUAGE.md section 3: the order `aespec fmt` prints top-level statements in, and the
# groups that a blank line separates; a statement with another keyword (an error for the
# resolve stage) goes last.
ORDER = ("model", "let", "data", "input", "noise", "condition", "latent", "encoder",
         "bottleneck", "decoder", "discriminator", "head", "loss", "regularize", "train",
         "phase", "report")
GROUPS = (("model",), ("let",), ("data", "input", "noise", "condition", "latent"),
          ("encoder", "bottleneck", "decoder", "discriminator"), ("head",),
          ("loss", "regularize"), ("train",), ("phase",), ("report",))
_GROUP = {key: i for i, keys in enumerate(GROUPS) for key in keys}
_KEYWORDS = {"model", "let", "loss", "regularize", "repeat", "on", "phase"}  # literals

_TOKEN = re.compile(r"""
    (?P<ws>[ \t\f\r]+)
  | (?P<nl>\n)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[(){},=+\-*/:])
  | (?P<other>.)
""", re.X)


@dataclass(frozen=True)
class Token:
    """A token of the source; `column` 0-based, `depth` the `(` open before it."""

    kind: str  # name, number, string, punct, comment, nl, other
    text: str
    line: int  # 1-based
    column: int
    depth: int = 0


def tokenize(source: str) -> list[Token]:
    """Every token of `source` but whitespace, comments and newlines included; never fails
    (a character no token starts with is an `other` token), so editors can use it on text
    that does not parse."""
    tokens: list[Token] = []
    line, line_start, depth = 1, 0, 0
    for m in _TOKEN.finditer(source):
        kind, text = m.lastgroup or "other", m.group()
        if kind == "ws":
            continue
        if text == ")":
            depth = max(depth - 1, 0)
        elif text in ("{", "}"):  # never inside ( ): an editor's unclosed `(` stops here
            depth = 0
        tokens.append(Token(kind, text, line, m.start() - line_start, depth))
        if text == "(":
            depth += 1
        elif kind == "nl":
            line, line_start = line + 1, m.end()
    return tokens


@dataclass
class Segment:
    """One physical line of a logical line: its code tokens and its trailing comment."""

    tokens: list[Token]
    comment: Token | None = None


@dataclass
class Line:
    """A logical line: a statement or block line, its `( )` possibly spanning lines."""

    segments: list[Segment]

    @property
    def first(self) -> Token:
        return next(t for s in self.segments for t in s.tokens)

    @property
    def last(self) -> Token:
        return [t for s in self.segments for t in s.tokens][-1]

    @property
    def opens(self) -> bool:
        return self.last.text == "{"

    @property
    def closes(self) -> bool:
        return self.first.text == "}"


@dataclass
class Comment:
    token: Token
    continues: bool = False  # continues the trailing comment of the line above


@dataclass
class Blank:
    pass


Item = Line | Comment | Blank


def _items(tokens: list[Token]) -> list[Item]:
    """Tokens -> logical lines, whole-line comments and blank lines, in source order."""
    items: list[Item] = []
    segments: list[Segment] = []
    current: list[Token] = []
    comment: Token | None = None
    for tok in tokens + [Token("nl", "\n", 0, 0)]:
        if tok.kind == "comment":
            comment = tok
            continue
        if tok.kind != "nl":
            current.append(tok)
            continue
        if not segments and not current:
            items.append(Comment(comment) if comment else Blank())
        else:
            if current or comment:  # a blank line inside ( ) is dropped
                segments.append(Segment(current, comment))
            if _depth_after(segments) == 0:
                items.append(Line(segments))
                segments = []
        current, comment = [], None
    if segments:
        items.append(Line(segments))
    _mark_continuations(items)
    return items


def _mark_continuations(items: list[Item]) -> None:
    column = None  # the column of the trailing comment just above, if any
    for item in items:
        if isinstance(item, Line):
            last = item.segments[-1].comment
            column = last.column if last else None
        elif isinstance(item, Comment):
            item.continues = column is not None and item.token.column == column
            column = column if item.continues else None
        else:
            column = None


# --- one logical line -> text ---------------------------------------------------------

_SIGN_AFTER = {"(", ",", "=", "+", "-", "*", "/", "{", ":"}


def _unary(prev: Token | None, tok: Token, chain: bool) -> bool:
    """Whether a `-` is a sign: in a chain (no arithmetic at its top), or after an operator,
    a bracket, a comma, `=` or a keyword."""
    if tok.text != "-":
        return False
    if chain and tok.depth == 0:
        return True
    return prev is None or prev.text in _SIGN_AFTER or prev.text in _KEYWORDS


def _gap(prev: Token, tok: Token, prev_unary: bool) -> str:
    """The space between two tokens of one line."""
    if tok.text in (")", ",", ":") or prev.text in ("(", ":") or prev_unary:
        return ""
    if tok.text == "(" and prev.kind == "name" and prev.text not in _KEYWORDS:
        return ""  # a call: `conv(`
    if "=" in (tok.text, prev.text):  # `k=3` inside ( ), `let width = 32` outside
        return "" if max(tok.depth, prev.depth) > 0 else " "
    return " "


def _spaced(tokens: list[Token], chain: bool) -> list[str]:
    """Each token's text with the space that goes before it."""
    out, prev, prev_unary = [], None, False
    for tok in tokens:
        gap = "" if prev is None else _gap(prev, tok, prev_unary)
        out.append(gap + tok.text)
        prev, prev_unary = tok, _unary(prev, tok, chain)
    return out


def code_text(tokens: list[Token]) -> str:
    """Code tokens of one line spaced as `aespec fmt` spaces them (for editors' labels)."""
    return "".join(_spaced(tokens, bool(tokens) and tokens[0].text not in ("let", "repeat",
                                                                           "loss")))


def _is_chain(line: Line) -> bool:
    """Lines whose top level is a chain of ops (no arithmetic): all but let, repeat, loss."""
    return line.first.text not in ("let", "repeat", "loss")


def _drop_trailing_commas(tokens: list[Token]) -> list[Token]:
    return [t for t, nxt in zip(tokens, tokens[1:] + [None], strict=True)
            if not (t.text == "," and nxt is not None and nxt.text == ")")]


def _with_comment(code: str, comment: Token | None) -> tuple[str, int | None]:
    """`code` and its trailing comment, at its own column when two spaces are left."""
    if comment is None:
        return code.rstrip(), None
    code = code.rstrip()
    column = max(comment.column, len(code) + 2)
    return code.ljust(column) + comment.text.rstrip(), column


def render_line(line: Line, depth: int) -> list[tuple[str, int | None]]:
    """A logical line as output lines, each with the column of its trailing comment."""
    indent = INDENT * depth
    chain = _is_chain(line)
    flat = [t for s in line.segments for t in s.tokens]
    joined = indent + "".join(_spaced(_drop_trailing_commas(flat), chain))
    inner_comments = any(s.comment for s in line.segments[:-1])
    if len(line.segments) == 1 or not inner_comments and len(joined) <= WIDTH:
        return [_with_comment(joined, line.segments[-1].comment)]
    texts = iter(_spaced(flat, chain))
    out = []
    for i, seg in enumerate(line.segments):
        code = "".join(next(texts) for _ in seg.tokens).lstrip()
        if i:
            first = seg.tokens[0] if seg.tokens else None
            level = first.depth if first else _depth_after(line.segments[:i])
            code = INDENT * level + code if code else ""
        if code or seg.comment is None:
            out.append(_with_comment(indent + code, seg.comment))
        else:  # a comment line inside the brackets
            level = _depth_after(line.segments[:i])
            out.append((indent + INDENT * level + seg.comment.text.rstrip(), None))
    return out


def _depth_after(segments: list[Segment]) -> int:
    """The `(` left open after these segments."""
    code = [t for s in segments for t in s.tokens]
    return code[-1].depth + (code[-1].text == "(") if code else 0


# --- statements -------------------------------------------------------------------------

@dataclass
class Statement:
    """A top-level statement with the comments above it and its block, in source order."""

    key: str
    blank_before: bool
    leading: list[Item] = field(default_factory=list)
    body: list[Item] = field(default_factory=list)


def _statements(items: list[Item]) -> tuple[list[Item], list[Statement], list[Item]]:
    """Items -> (the comments at the top of the file, the statements, those at its end)."""
    header: list[Item] = []
    i = 0
    while i < len(items) and not isinstance(items[i], Line):
        header.append(items[i])
        i += 1
    statements: list[Statement] = []
    pending: list[Item] = []
    depth = 0
    for item in items[i:]:
        if isinstance(item, Line) and depth == 0 and not item.closes:
            statements.append(_statement(item, pending))
            pending = []
        elif depth > 0 or isinstance(item, Comment) and item.continues and statements:
            statements[-1].body.append(item)
        else:
            pending.append(item)
        if isinstance(item, Line):
            depth += item.opens - item.closes
    return header, statements, pending


def _statement(head: Line, pending: list[Item]) -> Statement:
    blank = bool(pending) and isinstance(pending[0], Blank)
    while pending and isinstance(pending[0], Blank):
        pending = pending[1:]
    return Statement(head.first.text, blank, pending, [head])


def _rank(st: Statement) -> int:
    return ORDER.index(st.key) if st.key in ORDER else len(ORDER)


def _render_items(items: list[Item], depth: int = 0) -> list[str]:
    """Lines, comments and blank lines at `depth`, blocks indented, blank runs collapsed."""
    out: list[str] = []
    column: int | None = None
    blank = opened = False  # a blank line is due; the last line opened a block
    for item in items:
        if isinstance(item, Blank):
            blank = bool(out) and not opened
            continue
        opened = isinstance(item, Line) and item.opens
        if isinstance(item, Line) and item.closes:
            depth, blank = max(depth - 1, 0), False
        if blank:
            out.append("")
        blank = False
        if isinstance(item, Comment):
            text = item.token.text.rstrip()
            if item.continues and column is not None:
                out.append(" " * column + text)
            else:
                out.append(INDENT * depth + text)
                column = None
            continue
        rendered = render_line(item, depth)
        out.extend(text for text, _ in rendered)
        column = rendered[-1][1]
        depth += item.opens
    return out


def _trim(items: list[Item]) -> tuple[bool, list[Item]]:
    """(whether blank lines led, the items without leading and trailing blank lines)."""
    led = bool(items) and isinstance(items[0], Blank)
    while items and isinstance(items[0], Blank):
        items = items[1:]
    while items and isinstance(items[-1], Blank):
        items = items[:-1]
    return led, items


def layout(source: str) -> str:
    """The canonical layout of `source`, which must parse (see the module's docstring)."""
    header, statements, footer = _statements(_items(tokenize(source)))
    _, header_body = _trim(header)
    out = _render_items(header_body)
    if header_body and statements and isinstance(header[-1], Blank):
        out.append("")
    prev: Statement | None = None
    for st in sorted(statements, key=_rank):
        if prev is not None and (st.blank_before or _GROUP.get(st.key, -1)
                                 != _GROUP.get(prev.key, -1)):
            out.append("")
        out.extend(_render_items(st.leading + st.body))
        prev = st
    footer_blank, footer_body = _trim(footer)
    if footer_body:
        if out and footer_blank:
            out.append("")
        out.extend(_render_items(footer_body))
    return "\n".join(out) + "\n" if out else ""


def format_source(source: str, path: str | None = None) -> str:
    """The canonical layout of a spec; raises `AespecError` (E1xx) on a syntax error, since
    only text that parses has a layout to give."""
    parse_source(source, path)
    return layout(source)


def format_markdown(text: str, path: str | None = None) -> str:
    """A Markdown page with each closed ```ae block in the canonical layout and every other
    character as it was; E1xx, at the page's own line and column, for a block that does not
    parse (then nothing is formatted)."""
    blocks = ae_blocks(text)
    for block in blocks:
        parse_source(block.source, path)  # the page's lines: a diagnostic points into it
    lines = text.split("\n")
    for block in reversed(blocks):  # from the end: earlier blocks' line numbers stay true
        start = block.line - 1  # the block's first line; the fence is the line before
        fence = _FENCE.match(lines[start - 1].rstrip("\r"))
        assert fence is not None  # ae_blocks found the block by this fence
        end = _closing(lines, start, fence.group(2))
        if end < len(lines):  # a block left open runs to the end of the page: kept as is
            lines[start:end] = _block_lines(lines[start:end], fence.group(1),
                                            "\r" if lines[start - 1].endswith("\r") else "")
    return "\n".join(lines)


def _block_lines(body: list[str], indent: str, eol: str) -> list[str]:
    """A block's lines in the layout, indented as its fence is, ending as its fence does."""
    formatted = layout("\n".join(line.rstrip("\r") for line in body))
    return [(indent + line if line else "") + eol for line in formatted.split("\n")[:-1]]
