"""Property tests of the front end: whatever the input, only diagnostics come out.

Strings are drawn from our own grammar (`hypothesis.extra.lark.from_lark`), from random
text and bytes, and from valid specs with random edits; each goes through `check_source`,
`check_file` and the CLI's JSON path. Any exception is a bug; so is a diagnostic without a
code, or one that points past the end of the text.
"""

from __future__ import annotations

import codecs
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark
from typer.testing import CliRunner

from aespec.cli import app
from aespec.errors import source_lines
from aespec.graph.frontend import CheckResult, check_file, check_source
from aespec.model.settings import REPORT, TRAIN
from aespec.ops import REGISTRY
from aespec.parse.syntax import grammar_text

ROOT = Path(__file__).resolve().parents[1]
VALID = sorted((ROOT / "tests" / "conformance" / "valid").glob("*.ae")) + sorted(
    (ROOT / "specs").glob("*.ae"))
CODE = re.compile(r"^[EW]\d{3}$")
FAST = settings(max_examples=200, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
FEW = settings(FAST, max_examples=60)

GRAMMAR = Lark(grammar_text(), parser="lalr", lexer="basic")
KEYWORDS = {"model", "let", "loss", "regularize", "repeat", "on"}  # the grammar's own words
WORDS = sorted(({n for table in REGISTRY.values() for n in table} | set(TRAIN)
                | set(REPORT) | {"data", "input", "noise", "encoder", "bottleneck",
                                   "decoder", "train", "report", "vector", "image", "sequence",
                                   "mirror", "digits", "same", "valid", "true", "false",
                                   "width", "e1", "k", "p", "units", "tied", "output"})
               - KEYWORDS)
# our words and plausible numbers, spaced so that neighbouring tokens never merge; a
# generated comment becomes a space (it would swallow the rest of its line)
OUR_TOKENS = {"NAME": st.sampled_from(WORDS).map(" {} ".format),
              "NUMBER": st.sampled_from(["0", "1", "2", "3", "8", "28", "64", "0.5", "1e-3",
                                         "1e400", "99999999999999999999999"]).map(" {} ".format),
              "COMMENT": st.just(" ")}


def assert_only_diagnostics(result: CheckResult, source: str) -> None:
    """Every diagnostic is well formed: a code, a severity, a span inside the text."""
    lines = source_lines(source)
    for d in result.diagnostics:
        assert CODE.match(d.code), d
        assert d.message, d
        if d.span is not None and not (d.file or "").startswith(("--set", "<--set ")):
            assert 1 <= d.span.line <= len(lines), (d, len(lines))
            assert d.span.column >= 1, d
        d.render(source)
    json.dumps(result.to_json())
    assert result.ok == (not any(d.severity == "error" for d in result.diagnostics))


@FAST
@given(from_lark(GRAMMAR))
def test_strings_of_the_grammar_give_only_diagnostics(source):
    assert_only_diagnostics(check_source(source, "fuzz.ae"), source)


@FAST
@given(from_lark(GRAMMAR, explicit=OUR_TOKENS))
def test_strings_of_the_grammar_with_our_words_parse(source):
    """What the grammar generates, the parser accepts: no syntax error, only later ones."""
    result = check_source(source, "fuzz.ae")
    assert_only_diagnostics(result, source)
    syntax = [d for d in result.diagnostics if d.code.startswith("E1") and d.code != "E105"]
    assert not syntax, (source, syntax)


@FAST
@given(st.text(max_size=300))
def test_random_text_gives_only_diagnostics(source):
    assert_only_diagnostics(check_source(source, "fuzz.ae"), source)


@FAST
@given(st.sampled_from(VALID), st.lists(st.tuples(
    st.floats(0, 1), st.integers(0, 3),
    st.sampled_from(WORDS + ["(", ")", "{", "}", ",", "=", "\n", "#", '"', "-1", "0", "1e400",
                             "repeat 3 {", "on e1", "pad=valid", "stride=3", "mirror(tied=true)",
                             "99999999999999999999999", "k=9", "1/0", "e1 = relu"])),
    max_size=6))
def test_edited_specs_give_only_diagnostics(path, edits):
    """Valid specs with words replaced, inserted, deleted or cut in half."""
    words = path.read_text().split(" ")
    for where, kind, word in edits:
        i = int(where * (len(words) - 1))
        if kind == 0:
            words[i] = word
        elif kind == 1:
            words.insert(i, word)
        elif kind == 2 and len(words) > 1:
            del words[i]
        else:
            words[i] = words[i][: len(words[i]) // 2]
    source = " ".join(words)
    result = check_source(source, "fuzz.ae")
    assert_only_diagnostics(result, source)
    if result.ir is not None:
        from aespec.graph.summary import objective_text, table_rows

        objective_text(result.ir)
        table_rows(result.ir)


def _arg_values(annotation) -> st.SearchStrategy[str]:
    text = str(annotation)
    if "Literal" in text:
        choices = re.findall(r"'([a-z_]+)'", text)
        return st.sampled_from(choices + (["1", "0"] if "int" in text else []))
    if "bool" in text:
        return st.sampled_from(["true", "false"])
    if "tuple" in text:
        return st.lists(st.sampled_from(["1", "2", "4", "7", "16"]), min_size=1,
                        max_size=3).map(", ".join)
    if "str" in text:
        return st.sampled_from(["e1", "e2", "nope"])
    if "int" in text:
        return st.sampled_from(["1", "2", "3", "4", "8", "16"])
    return st.sampled_from(["0", "0.05", "0.5", "1", "2.5"])


@st.composite
def _op(draw, place: str, kinds: tuple[str, ...] = ()) -> str:
    ops = [op for op in REGISTRY[place].values() if not kinds or op.kind in kinds]
    op = draw(st.sampled_from(ops))
    fields = list(op.args.model_fields.items())
    if op.varargs:
        return f"{op.name}({draw(_arg_values(tuple))})"
    args = [f"{k}={draw(_arg_values(f.annotation))}" for k, f in fields
            if f.is_required() or draw(st.booleans())]
    return f"{op.name}({', '.join(args)})" if args else op.name


@st.composite
def _block(draw, labels: set[str]) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        chain = " ".join(draw(st.lists(_op("layer"), min_size=1, max_size=3)))
        label = draw(st.sampled_from(["", "", "e1", "e2"]))
        if label and label not in labels:  # each name once, or E211 is all one would see
            labels.add(label)
            chain = f"{label} = {chain}"
        lines.append(f"    {chain}")
    return "{\n" + "\n".join(lines) + "\n}"


@st.composite
def registry_specs(draw) -> str:
    """Specs whose every line is well formed, built from the registry's ops: they reach the
    graph and checks stages, where the shape rules and the W4xx checks run."""
    shape = draw(st.sampled_from(["vector(16)", "vector(64)", "image(1, 8, 8)",
                                  "image(3, 16, 16)", "sequence(2, 12)"]))
    labels: set[str] = set()
    parts = [f"input {shape}", f"encoder {draw(_block(labels))}",
             f"bottleneck {draw(_block(labels))}"]
    mirror = draw(st.sampled_from(["", "mirror", "mirror(tied=true)", "mirror(output=relu)"]))
    parts.append(f"decoder {mirror}" if mirror else f"decoder {draw(_block(labels))}")
    if draw(st.booleans()):
        parts.append("noise " + " ".join(draw(st.lists(_op("noise"), min_size=1, max_size=2))))
    if draw(st.booleans()):
        parts.append("loss " + " + ".join(draw(st.lists(_op("loss"), min_size=1, max_size=2))))
    for reg in draw(st.lists(_op("regularizer"), max_size=2)):
        parts.append(f"regularize {reg}" + draw(st.sampled_from(
            ["", " on e1", " on bottleneck", " on encoder", " on nope"])))
    if draw(st.booleans()):
        parts.append("report {\n" + "\n".join(draw(st.lists(st.sampled_from(
            ["samples(n=4)", "manifold", "reconstructions", "latent_scatter"]), max_size=2,
            unique=True))) + "\n}")
    return "\n".join(draw(st.permutations(parts))) + "\n"


@FAST
@given(registry_specs())
def test_specs_built_from_the_registry_give_only_diagnostics(source):
    result = check_source(source, "fuzz.ae")
    assert_only_diagnostics(result, source)
    if result.ok:  # a spec that checks reconstructs its input's shape
        model = result.to_json()["model"]
        assert model["output"] == model["input"], source
        assert model["params"] >= 0


@FEW
@given(st.sampled_from(VALID), st.lists(st.sampled_from(
    ["width=16", "width=abc", "width=(1", "width=1/0", "train.epochs=0", "train.epochs=2",
     "train.device=cuda:1", "train.device=cu:da", "train.optimizer=sgd(lr=0.1)", "x",
     "report.samples=(n=3)", "nope=1", "train=3", "train.nope=1", "a.b.c=1", "=", "train.=2"]),
    max_size=3))
def test_overrides_give_only_diagnostics(path, overrides):
    source = path.read_text()
    assert_only_diagnostics(check_source(source, str(path), overrides), source)


@FEW
@given(st.binary(max_size=300))
def test_random_bytes_give_only_diagnostics(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("bytes") / "fuzz.ae"
    path.write_bytes(raw)
    result = check_file(path)
    assert_only_diagnostics(result, result.source)
    if result.source == "" and raw.removeprefix(codecs.BOM_UTF8):
        assert [d.code for d in result.diagnostics] == ["E001"]  # not UTF-8


@settings(FAST, max_examples=40)
@given(st.one_of(from_lark(GRAMMAR, explicit=OUR_TOKENS), st.text(max_size=200)))
def test_cli_json_prints_one_object_and_no_traceback(tmp_path_factory, source):
    path = tmp_path_factory.mktemp("cli") / "fuzz.ae"
    path.write_text(source, encoding="utf-8")
    result = CliRunner().invoke(app, ["check", "--json", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code in (0, 1)
    payload = json.loads(result.stdout)
    assert payload["ok"] == (result.exit_code == 0)


def test_the_grammar_builds_in_strict_mode():
    """No shift/reduce conflict and no terminal collision (lark's strict mode, interegular)."""
    pytest.importorskip("interegular")
    Lark(grammar_text(), parser="lalr", strict=True)
