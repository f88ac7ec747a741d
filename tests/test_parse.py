"""The parse stage: source text -> syntax tree, syntax errors (E1xx), the parser cache.

Tests named `test_regression_*` each catch a bug that was found and fixed; the name says
what used to go wrong.
"""

from __future__ import annotations

import pytest
from frontend import check, only, rows, spec

from aespec.errors import AespecError
from aespec.parse.syntax import parse_source

# ---------------------------------------------------------------- parse


def test_a_statement_may_span_lines_inside_parentheses():
    result = check(spec(encoder="dense(32,\n    bias=false) relu"))
    assert result.ok and rows(result, "encoder")[0] == ("dense(32, bias=false)", (32,), 2048)


def test_comments_blank_lines_and_crlf_are_ignored():
    source = spec(before="# a comment\n\n").replace("\n", "\r\n")
    assert check(source).ok


def test_a_syntax_error_points_at_the_token_with_a_hint():
    d = only(check(spec(encoder="dense(16 relu")), "E101")
    assert (d.span.line, d.span.column, d.span.end_column) == (3, 14, 18)
    assert "')'" in d.hint


def test_an_unclosed_block_points_where_it_opened():
    d = only(check("input vector(4)\nencoder {\n    dense(2)\n"), "E103")
    assert (d.span.line, d.span.column) == (2, 9)


def test_an_unterminated_string_is_e102_over_the_rest_of_the_line():
    d = only(check('model m "never closed\n' + spec()), "E102")
    assert (d.span.line, d.span.column, d.span.end_column) == (1, 9, 22)


def test_an_unexpected_character_is_e104_at_its_column():
    d = only(check(spec(encoder="dense(32) relu; dense(2)")), "E104")
    assert (d.span.line, d.span.column) == (3, 19) and "';'" in d.message


def test_strings_unescape_quotes_and_backslashes():
    stmt = parse_source('model m "a \\"quoted\\" C:\\\\dir \\t"\n').statements[0]
    assert stmt.doc == 'a "quoted" C:\\dir \\t'


def test_regression_escaped_backslash_before_n_is_not_a_newline():
    stmt = parse_source('model m "C:\\\\new"\n').statements[0]
    assert stmt.doc == "C:\\new"  # was C:<newline>ew


def test_regression_line_numbers_ignore_form_feeds_and_unicode_line_breaks():
    """The parser counts lines at \\n only; showing the line used to split at \\x0c too."""
    source = "let a = 1 \r\x0c \x0c\n" + spec(encoder="dense(32) relu @")
    d = only(check(source), "E104")
    assert d.span.line == 4 and "'@'" in d.message
    assert "dense(32) relu @" in d.render(source)


@pytest.mark.parametrize("expr", ["-" * 300 + "1", "+".join(["1"] * 400)])
def test_regression_deep_expressions_are_e105_not_a_recursion_error(expr):
    d = only(check(spec(before=f"let a = {expr}")), "E105")
    assert d.span.line == 1


# ---------------------------------------------------------------- the parser's table cache


def test_parser_tables_are_cached_and_a_bad_cache_file_is_ignored(tmp_path, monkeypatch):
    from aespec.parse import syntax

    monkeypatch.setenv("AESPEC_CACHE_DIR", str(tmp_path))
    parser = syntax._build("start")
    (cached,) = tmp_path.glob("grammar-start-*.lark")
    assert parser.parse("input vector(4)\n")
    cached.write_bytes(b"not a cache")  # a torn or foreign file: rebuilt, not an error
    assert syntax._build("start").parse("input vector(4)\n")


def test_parser_works_when_the_cache_folder_cannot_be_made(tmp_path, monkeypatch):
    from aespec.parse import syntax

    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("AESPEC_CACHE_DIR", str(blocker / "cache"))
    assert syntax._cache_file("g", "start") is None
    assert syntax._build("start").parse("input vector(4)\n")
    monkeypatch.setenv("AESPEC_CACHE_DIR", "")  # empty: no cache at all
    assert syntax._cache_file("g", "start") is None


# ---------------------------------------------------------------- size (issue 9)


def test_regression_check_dev_zero_reads_a_bounded_prefix_and_is_e106():
    from aespec.graph.frontend import check_file

    [d] = check_file("/dev/zero").diagnostics
    assert d.code == "E106" and d.file == "/dev/zero"


def test_regression_a_600_kb_line_is_e106_before_it_is_parsed(tmp_path):
    from aespec.parse import MAX_SOURCE

    line = "dense(" + ", ".join(["1"] * 300_000) + ")"
    source = f"input vector(4)\nencoder {{\n {line}\n}}\n"
    assert len(source) > MAX_SOURCE
    [d] = check(source).diagnostics
    assert d.code == "E106"
    with pytest.raises(AespecError) as exc:
        parse_source(source, "t.ae")
    assert exc.value.diagnostics[0].code == "E106"
