"""The Pygments lexer for `.ae` (aespec/ops/lexer.py), registered as `aespec` (issue 10)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Error, Keyword, Name, Number, String

from aespec.ops import REGISTRY
from aespec.ops.lexer import AespecLexer

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.ae"))


def tokens(text: str) -> list[tuple[object, str]]:
    return [(t, v) for t, v in AespecLexer().get_tokens(text) if v.strip()]


def test_the_entry_point_registers_the_lexer_by_name_and_file_name():
    assert isinstance(get_lexer_by_name("aespec"), AespecLexer)
    assert isinstance(get_lexer_for_filename("specs/mirror_fc.ae"), AespecLexer)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_spec_lexes_without_an_error_token(path):
    text = path.read_text(encoding="utf-8")
    lexed = list(AespecLexer().get_tokens(text))
    assert [v for t, v in lexed if t is Error] == []
    assert "".join(v for _, v in lexed) == (text if text.endswith("\n") else text + "\n")


def test_keywords_ops_numbers_strings_and_comments_get_their_tokens():
    got = tokens('model m "doc"  # note\nlet w = 1e-3\nencoder {\n    dense(w) relu\n}\n'
                 "decoder mirror(tied=true)\nloss 0.5 * mse\n")
    assert (Keyword.Declaration, "model") in got and (Name.Class, "m") in got
    assert (String.Double, '"doc"') in got and (Comment.Single, "# note") in got
    assert (Number.Float, "1e-3") in got and (Number.Float, "0.5") in got
    for word in ("encoder", "decoder", "mirror", "loss"):
        assert (Keyword, word) in got
    for op in ("dense", "relu", "mse"):
        assert (Name.Builtin, op) in got
    assert (Name, "w") in got and (Keyword.Constant, "true") in got
    assert (Name, "dense2") in tokens("dense2") and (Error, "$") in tokens("$")


def test_every_op_in_the_registry_is_a_builtin():
    for ops in REGISTRY.values():
        for name in ops:
            assert tokens(name) == [(Name.Builtin, name)], name


def test_pygmentize_highlights_a_spec():
    out = subprocess.run([str(Path(sys.executable).with_name("pygmentize")), "-l", "aespec",
                          "-f", "html", str(ROOT / "specs" / "mirror_fc.ae")],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert '<span class="nb">dense</span>' in out and '<span class="k">encoder</span>' in out
