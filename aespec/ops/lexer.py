"""A Pygments lexer for `.ae` specs: `pygmentize -l aespec FILE`, or ```` ```aespec ```` in docs.

Registered through the `pygments.lexers` entry point (pyproject.toml) under the name
`aespec`. The op names come from the registry, so a new op is highlighted as a builtin
without a change here. It lives in the ops stage, the first that knows the op names;
nothing in aespec imports it (Pygments loads it).
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

from aespec.ops.registry import REGISTRY

# the statement words, `repeat` and `on` of the grammar, and `mirror` (`decoder mirror`)
KEYWORDS = ("model", "let", "data", "input", "noise", "condition", "latent", "encoder",
            "bottleneck", "decoder", "discriminator", "head", "loss", "regularize", "train",
            "report", "repeat", "on", "mirror")
INPUT_KINDS = ("vector", "image", "sequence")
CONSTANTS = ("true", "false")


def op_names() -> list[str]:
    """Every op name in the registry, longest first (so `gaussian_nll` before `gaussian`)."""
    return sorted({name for ops in REGISTRY.values() for name in ops}, key=lambda n: (-len(n), n))


class AespecLexer(RegexLexer):
    """The `.ae` language: keywords, op names (builtins), numbers, strings, comments."""

    name = "aespec"
    aliases = ["aespec", "ae"]
    filenames = ["*.ae"]
    mimetypes = ["text/x-aespec"]

    tokens = {
        "root": [
            (r"[ \t\f\r\n]+", Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r'"([^"\\\n]|\\.)*"', String.Double),
            (r"(model)([ \t]+)([A-Za-z_][A-Za-z0-9_]*)",
             bygroups(Keyword.Declaration, Whitespace, Name.Class)),
            (r"(let)([ \t]+)([A-Za-z_][A-Za-z0-9_]*)",
             bygroups(Keyword.Declaration, Whitespace, Name.Variable)),
            (words(KEYWORDS, prefix=r"\b", suffix=r"\b"), Keyword),
            (words(INPUT_KINDS, prefix=r"\b", suffix=r"\b"), Keyword.Type),
            (words(CONSTANTS, prefix=r"\b", suffix=r"\b"), Keyword.Constant),
            (words(tuple(op_names()), prefix=r"\b", suffix=r"\b"), Name.Builtin),
            (r"[A-Za-z_][A-Za-z0-9_]*", Name),
            (r"(\d+\.\d*|\.\d+)([eE][+-]?\d+)?|\d+[eE][+-]?\d+", Number.Float),
            (r"\d+", Number.Integer),
            (r"[=+\-*/:]", Operator),
            (r"[(){},]", Punctuation),
        ],
    }
