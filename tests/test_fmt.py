"""`aespec fmt`: the canonical layout keeps every token and comment, builds the same IR, and
formatting twice changes nothing; `--check` and syntax errors leave files untouched.

The properties run over the shipped specs and conformance cases with random whitespace,
line breaks, comments and statement orders, and over strings drawn from the grammar.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark
from pydantic import BaseModel
from typer.testing import CliRunner

from aespec.cli import app
from aespec.errors import AespecError, Span
from aespec.graph.frontend import check_source
from aespec.model.spec import STATEMENTS
from aespec.parse import parse_source
from aespec.parse.fmt import ORDER, format_source, tokenize
from aespec.parse.syntax import grammar_text

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.ae"))
VALID = sorted((ROOT / "tests" / "conformance" / "valid").glob("*.ae"))
EXTRA = sorted((ROOT / "tests" / "conformance_extra" / "valid").glob("*.ae"))
ALL = SPECS + VALID + EXTRA
FEW = settings(max_examples=20, deadline=None, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def plain(obj):
    """A spec, graph attribute or syntax node as plain data, spans and source text left out."""
    if isinstance(obj, Span):
        return "span"
    if isinstance(obj, BaseModel):
        return {k: plain(getattr(obj, k)) for k in type(obj).model_fields
                if "span" not in k and k not in ("source", "path")}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return (type(obj).__name__,) + tuple(
            plain(getattr(obj, f.name)) for f in dataclasses.fields(obj) if "span" not in f.name)
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    return obj


def ir(source: str) -> tuple:
    """What a spec means: its Spec, its graph (nodes, edges, summary) and diagnostic codes."""
    r = check_source(source)
    return plain(r.spec), plain(r.ir), sorted(d.code for d in r.diagnostics)


def comments(source: str) -> list[str]:
    return sorted(t.text.rstrip() for t in tokenize(source) if t.kind == "comment")


def by_keyword(source: str) -> dict[str, list]:
    """The syntax tree's statements (no spans), grouped by keyword, in order in each group."""
    out: dict[str, list] = {}
    for s in parse_source(source).statements:
        key = getattr(s, "keyword", None) or type(s).__name__.removesuffix("Stmt").lower()
        out.setdefault(key, []).append(plain(s))
    return out


def test_order_is_the_language_table():
    assert ORDER == STATEMENTS


@pytest.mark.parametrize("path", SPECS + VALID, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_valid_spec_keeps_its_ir_and_comments(path):
    source = path.read_text(encoding="utf-8")
    formatted = format_source(source)
    assert format_source(formatted) == formatted
    assert ir(formatted) == ir(source)
    assert comments(formatted) == comments(source)


def test_shipped_specs_are_formatted():
    assert [p.name for p in SPECS if format_source(p.read_text(encoding="utf-8"))
            != p.read_text(encoding="utf-8")] == []


def test_layout_rules():
    source = ('let  w=  (8+4)*2 # width\ninput   vector( 64 , )\nmodel m\n'
              'encoder{\n\n\n  e1=dense(w,bias = false)   relu\n\n\n  repeat 2 {\n'
              'dense( -w / -2 )\n}\n\n}\nbottleneck {\n dense(8)\n}\ndecoder { \n'
              '  concat( e1 )\n    dense(64)  sigmoid\n}\nloss 0.5*mse+bce\n'
              'train {\n  device cuda : 1\n}\n')
    assert format_source(source) == (
        "model m\n\nlet w = (8 + 4) * 2  # width\n\ninput vector(64)\n\nencoder {\n"
        "    e1 = dense(w, bias=false) relu\n\n    repeat 2 {\n        dense(-w / -2)\n    }\n"
        "}\nbottleneck {\n    dense(8)\n}\ndecoder {\n    concat(e1)\n    dense(64) sigmoid\n"
        "}\n\nloss 0.5 * mse + bce\n\ntrain {\n    device cuda:1\n}\n")


def test_comments_keep_their_column_and_stay_with_their_statement():
    source = ("# header\n\nencoder {\n    dense(8)          # aligned\n"
              "    relu              # here\n}\n# about the model\nmodel m\n"
              "decoder mirror                  # a note that\n"
              "                                # goes on\n# the end\n")
    assert format_source(source) == (
        "# header\n\n# about the model\nmodel m\n\nencoder {\n    dense(8)          # aligned\n"
        "    relu              # here\n}\ndecoder mirror                  # a note that\n"
        "                                # goes on\n# the end\n")


def test_a_commented_argument_list_keeps_its_lines():
    source = "input image(1,   # channels\n  28, 28\n     )\n"
    assert format_source(source) == "input image(1,   # channels\n    28, 28\n)\n"
    assert format_source("input image(\n  1, 28,\n  28,\n)\n") == "input image(1, 28, 28)\n"


def test_a_syntax_error_raises_its_diagnostic():
    with pytest.raises(AespecError) as err:
        format_source("encoder {\n    dense(16 relu\n}\n")
    assert err.value.diagnostics[0].code == "E101"


# --- properties ---------------------------------------------------------------------------

def _perturb(source: str, rng: random.Random, keep_comments: bool, add_comments: bool) -> str:
    """The same tokens with random spaces, tabs, indentation, line breaks inside ( ) and
    blank lines where there was one, optionally with comments added or removed."""
    out, prev, line_start = [], None, True
    for tok in tokenize(source):
        if tok.kind == "comment":
            if keep_comments:
                out.append(" " * rng.randint(1, 3) + tok.text)
            continue
        if tok.kind == "nl":
            if add_comments and rng.random() < 0.2 and tok.depth == 0:
                out.append("  # note " + str(rng.randint(0, 9)))
            if prev is not None and prev.kind == "nl":
                out.append("\n" * rng.randint(0, 2))  # a blank run of another length
            out.append("\n")
            if add_comments and rng.random() < 0.1 and tok.depth == 0:
                out.append(rng.choice(["", "    ", "\t"]) + "# a whole line\n")
            prev, line_start = tok, True
            continue
        if line_start:
            out.append(rng.choice(["", " ", "  ", "\t", "        "]))
        elif prev is not None:
            words = {"name", "number", "string"}
            least = 1 if prev.kind in words and tok.kind in words else 0
            gap = rng.choice([" " * rng.randint(least, 3), "\t" if least else ""])
            if tok.depth > 0 and prev.text in ("(", ",") and rng.random() < 0.3:
                gap = "\n" + " " * rng.randint(0, 8)
            out.append(gap)
        out.append(tok.text)
        prev, line_start = tok, False
    return "".join(out)


def _no_comments(source: str) -> str:
    return _perturb(source, random.Random(0), keep_comments=False, add_comments=False)


SOURCES = st.sampled_from(ALL).map(lambda p: p.read_text(encoding="utf-8"))


@FEW
@given(SOURCES, st.randoms(use_true_random=False))
def test_layout_depends_on_the_tokens_only(source, rng):
    """Without comments, any spacing of the same tokens formats to the same text."""
    clean = format_source(_no_comments(source))
    messy = _perturb(source, rng, keep_comments=False, add_comments=False)
    assert format_source(messy) == clean


@FEW
@given(SOURCES, st.randoms(use_true_random=False))
def test_comments_are_kept_and_the_ir_is_the_same(source, rng):
    messy = _perturb(source, rng, keep_comments=True, add_comments=True)
    formatted = format_source(messy)
    assert format_source(formatted) == formatted
    assert comments(formatted) == comments(messy)
    assert ir(formatted) == ir(source)


def _statements(source: str) -> list[str]:
    """The top-level statements' texts, each with its leading comments."""
    chunks, current, depth, parens = [], [], 0, 0
    for line in source.splitlines(keepends=True):
        current.append(line)
        stripped = line.split("#")[0].strip()  # no spec here has a '#' inside a string
        depth += stripped.endswith("{") - (stripped == "}")
        parens += stripped.count("(") - stripped.count(")")
        if stripped and depth == 0 and parens == 0:
            chunks.append("".join(current))
            current = []
    return chunks


@FEW
@given(SOURCES, st.randoms(use_true_random=False))
def test_statements_are_put_in_the_language_order(source, rng):
    chunks = _statements(source)
    keys = [_key(c) for c in chunks]
    lanes: dict[str, list[str]] = {}
    for key, chunk in zip(keys, chunks, strict=True):
        lanes.setdefault(key, []).append(chunk)
    shuffled = []  # a random merge: each keyword's statements keep their order
    pools = [list(v) for v in lanes.values()]
    while pools:
        pool = rng.choice(pools)
        shuffled.append(pool.pop(0))
        pools = [p for p in pools if p]
    formatted = format_source("".join(shuffled))
    order = [_key(c) for c in _statements(formatted)]
    assert order == sorted(order, key=lambda k: ORDER.index(k) if k in ORDER else 99)
    assert ir(formatted) == ir(source)
    assert by_keyword(formatted) == by_keyword(source)


def _key(chunk: str) -> str:
    code = [line for line in chunk.splitlines() if line.split("#")[0].strip()]
    return code[0].split()[0] if code else ""


GRAMMAR = Lark(grammar_text(), parser="lalr", lexer="basic")
WORDS = ["width", "relu", "conv", "dense", "encoder", "train", "mirror", "same", "k", "x"]
TOKENS = {"NAME": st.sampled_from(WORDS).map(" {} ".format),
          "NUMBER": st.sampled_from(["0", "2", "0.5", "1e-3", ".5"]).map(" {} ".format),
          "COMMENT": st.just(" ")}


@settings(FEW, max_examples=10)
@given(from_lark(GRAMMAR, explicit=TOKENS))
def test_any_text_that_parses_formats_to_the_same_tree(text):
    try:
        before = by_keyword(text)
    except AespecError:  # the grammar's strings may still fail our depth limit or lexer
        return
    formatted = format_source(text)
    assert by_keyword(formatted) == before
    assert format_source(formatted) == formatted


# --- the command ------------------------------------------------------------------------

def test_fmt_command_rewrites_checks_and_leaves_broken_files(tmp_path):
    messy = tmp_path / "messy.ae"
    messy.write_text("input   vector(4)\n", encoding="utf-8")
    broken = tmp_path / "broken.ae"
    broken.write_text("input vector(4\n", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["fmt", "--check", str(messy)])
    assert result.exit_code == 1 and "would reformat" in result.output
    assert messy.read_text(encoding="utf-8") == "input   vector(4)\n"
    result = runner.invoke(app, ["fmt", str(messy), str(broken)])
    assert result.exit_code == 1 and "E10" in result.output
    assert messy.read_text(encoding="utf-8") == "input vector(4)\n"
    assert broken.read_text(encoding="utf-8") == "input vector(4\n"
    assert runner.invoke(app, ["fmt", "--check", str(messy)]).exit_code == 0


def test_fmt_dash_reads_stdin_and_writes_stdout():
    runner = CliRunner()
    result = runner.invoke(app, ["fmt", "-"], input="model   m\ninput vector( 4 )\n")
    assert result.exit_code == 0 and result.stdout == "model m\n\ninput vector(4)\n"
    assert runner.invoke(app, ["fmt", "--check", "-"], input="input vector(4)\n").exit_code == 0
    assert runner.invoke(app, ["fmt", "-"], input="input vector(4\n").exit_code == 1
