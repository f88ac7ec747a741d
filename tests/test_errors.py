"""Diagnostics: rendering gcc-style with carets, JSON, the order, our one error type.

Tests named `test_regression_*` each catch a bug that was found and fixed; the name says
what used to go wrong.
"""

from __future__ import annotations

import pytest
from frontend import check, codes, only, spec

from aespec.errors import AespecError, Diagnostic, Span
from aespec.parse.syntax import parse_source

# ---------------------------------------------------------------- rendering, errors


def test_render_gives_file_line_column_the_line_and_carets():
    source = spec(encoder="dens(32) relu")
    text = only(check(source), "E201").render(source)
    assert text.splitlines() == ["t.ae:3:5: error[E201]: unknown layer op 'dens'",
                                 "        dens(32) relu", "        ^^^^",
                                 "  hint: did you mean 'dense' or 'deconv'?"]


def test_render_without_a_span_or_source():
    d = Diagnostic("W401", "message", None, None, "f.ae")
    assert d.render("x") == "f.ae: warning[W401]: message"
    far = Diagnostic("E101", "m", Span(9, 1, 9, 2))  # past the text: no line to show
    assert far.render("one line") == "<spec>:9:1: error[E101]: m"


def test_a_span_over_several_lines_underlines_to_the_end_of_the_first():
    text = Diagnostic("E101", "m", Span(1, 3, 2, 2)).render("abcdef\nxy")
    assert text.splitlines()[-1] == "      ^^^^"


def test_to_json_has_the_documented_keys():
    d = only(check(spec(encoder="dens(32)")), "E201").to_json()
    assert list(d) == ["severity", "code", "message", "hint", "line", "column", "end_line",
                       "end_column"]


def test_diagnostics_are_sorted_errors_first_then_by_line():
    result = check(spec(bottleneck="dense(64)", decoder="dense(64)\ndens(2)"))
    assert codes(result) == ["E201"]  # W401 needs shapes, which the error stops
    result = check(spec(bottleneck="dense(64)", decoder="dense(60)"))
    assert codes(result)[0] == "E301" and result.diagnostics[-1].severity == "warning"


def test_parse_source_raises_our_error_type():
    with pytest.raises(AespecError) as exc:
        parse_source("encoder {\n")
    assert exc.value.diagnostics[0].code == "E103"
