"""`--set NAME=VALUE` and `--set train.KEY=VALUE`: command-line overrides, applied to the
syntax tree before it is resolved; their own problems are E210."""

from __future__ import annotations

import dataclasses
from typing import Any

from aespec.errors import AespecError, DiagnosticBag, Span, did_you_mean
from aespec.model import settings as cfg
from aespec.parse.syntax import parse_fragment
from aespec.parse.tree import BlockStmt, ChainLine, Op, SpecTree


def apply_overrides(tree: SpecTree, lets: dict, overrides: list[str], bag: DiagnosticBag
                    ) -> SpecTree:
    """`--set NAME=VALUE` replaces a let; `--set train.KEY=VALUE` a train line.

    A value's problems are reported where it takes effect in the file (the let's value, the
    key's line), not at its column on the command line, which no source line shows.
    """
    statements = list(tree.statements)
    for text in overrides:
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or not key or not value.strip():
            raise AespecError.of("E210", f"--set needs NAME=VALUE, got {text!r}", file="--set")
        if "." in key:
            statements = _override_setting(statements, key, value)
        elif key in lets:
            lets[key] = _respan(_parse_set(value, "expr", key, value), lets[key].span)
        else:
            raise AespecError.of("E210", f"--set {key}: the spec has no let named '{key}'",
                                 None, did_you_mean(key, lets) or "--set train.KEY=VALUE "
                                 "sets a train key", "--set")
    return SpecTree(tuple(statements), tree.source, tree.path)


def _parse_set(text: str, kind: str, key: str, value: str):
    """The syntax tree of `text`, a --set value; its syntax errors are E210 (not in the file)."""
    try:
        return parse_fragment(text, kind, f"--set {key}")
    except AespecError as err:
        d = err.diagnostics[0]
        raise AespecError.of("E210", f"--set {key}={value.strip()}: {d.message}", None, d.hint,
                             "--set") from None


def _respan(node: Any, span: Span) -> Any:
    """`node` (a syntax tree) with every span replaced by `span`."""
    if isinstance(node, Span):
        return span
    if isinstance(node, tuple):
        return tuple(_respan(n, span) for n in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return dataclasses.replace(node, **{f.name: _respan(getattr(node, f.name), span)
                                            for f in dataclasses.fields(node)})
    return node


def _override_setting(statements: list, key: str, value: str) -> list:
    block, _, name = key.partition(".")
    table = {"train": cfg.TRAIN, "report": cfg.REPORT}.get(block)
    if table is None:
        raise AespecError.of("E210", f"--set {key}: only train.KEY and report.KEY can be set",
                             file="--set")
    if name not in table:
        raise AespecError.of("E210", f"--set {key}: {block} has no key '{name}'", None,
                             did_you_mean(name, table) or f"keys: {', '.join(table)}", "--set")
    text = f"{name}{value}" if value.lstrip().startswith("(") else f"{name} {value}"
    line = _parse_set(text, "chain", key, value)
    for i, stmt in enumerate(statements):
        if isinstance(stmt, BlockStmt) and stmt.keyword == block:
            old = [ln for ln in stmt.lines if isinstance(ln, ChainLine)
                   and isinstance(ln.items[0], Op) and ln.items[0].name == name]
            kept = tuple(ln for ln in stmt.lines if not any(ln is o for o in old))
            line = _respan(line, old[0].span if old else stmt.keyword_span)
            statements[i] = BlockStmt(block, kept + (line,), stmt.span, stmt.keyword_span)
            return statements
    line = _respan(line, Span.point(1, 1))  # no such block in the file
    return statements + [BlockStmt(block, (line,), line.span, line.span)]
