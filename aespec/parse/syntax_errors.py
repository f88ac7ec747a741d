"""lark's syntax errors -> one E1xx `AespecError`, said in words, at the offending token.

Where a `(` or `{` left open explains the error, the diagnostic points where it opened.
"""

from __future__ import annotations

from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from aespec.errors import AespecError, Span, source_lines
from aespec.parse.transform import span_of

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


def syntax_error(err: UnexpectedInput, source: str, path: str | None) -> AespecError:
    """The E1xx error for what lark raised parsing `source`, at the offending token."""
    if isinstance(err, UnexpectedCharacters):
        return _bad_character(err, source, path)
    if isinstance(err, UnexpectedEOF) or (isinstance(err, UnexpectedToken)
                                          and err.token.type == "$END"):
        return _unclosed_at_end(source, path)
    assert isinstance(err, UnexpectedToken)
    return _unexpected_token(err, source, path)


def _bad_character(err: UnexpectedCharacters, source: str, path: str | None) -> AespecError:
    """E102 for a string left open at the end of its line, else E104."""
    lines = source_lines(source)
    line_text = lines[err.line - 1] if 0 < err.line <= len(lines) else ""
    char = line_text[err.column - 1: err.column] or "?"
    if char == '"':
        return AespecError.of("E102", "unterminated string", Span.point(err.line, err.column,
                              len(line_text) - err.column + 1),
                              'close the string with " on the same line', path)
    return AespecError.of("E104", f"unexpected character {char!r}",
                          Span.point(err.line, err.column), None, path)


def _unexpected_token(err: UnexpectedToken, source: str, path: str | None) -> AespecError:
    """E101, at the '(' or '{' left open when one explains the error, else at the token."""
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
        word = source_lines(source)[line - 1].split("{")[0].strip()
        return AespecError.of("E101", f"a block opens inside block {word} (line {line}), "
                              "which is not closed", span_of(tok),
                              f"add '}}' on a line of its own to end {word}", path)
    if tok.type == "RPAR" and not parens:
        return AespecError.of("E101", "unexpected ')': it closes no '('", span_of(tok),
                              "remove it", path)
    found = "end of line" if tok.type == "_NL" else repr(str(tok))
    hint = _syntax_hint(err)
    span = span_of(tok) if tok.type != "_NL" else Span.point(tok.line, tok.column)
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
