"""`--set NAME=VALUE` and `--set train.KEY=VALUE`: command-line overrides, applied to the
syntax tree before it is resolved; their own problems are E210."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, TypeGuard

from aespec.errors import AespecError, Diagnostic, DiagnosticBag, Span, did_you_mean
from aespec.model import settings as cfg
from aespec.ops.optimizers import OPTIMIZERS
from aespec.parse.syntax import parse_fragment, parse_source
from aespec.parse.tree import BlockStmt, ChainLine, LossStmt, Op, PhaseStmt, SpecTree


def apply_overrides(tree: SpecTree, lets: dict, overrides: list[str], bag: DiagnosticBag
                    ) -> SpecTree:
    """`--set NAME=VALUE` replaces a let; `--set train.KEY=VALUE` a train line.

    The value's syntax tree keeps its own columns, on a line of its own past the end of any
    file (OVERRIDE_LINE + its index): `locate_overrides` turns a diagnostic there into one
    about `<--set NAME=VALUE>`, at the value's column in that text.
    """
    statements = list(tree.statements)
    for index, text in enumerate(overrides):
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or not key or not value.strip():
            raise AespecError.of("E210", f"--set needs NAME=VALUE, got {text!r}", file="--set")
        start = text.index("=") + 1  # the value's column in `text`, 0-based
        if "." in key:
            statements = _override_setting(statements, key, value, index, start)
        elif key in lets:
            lets[key] = _respan(_parse_set(value, "expr", key, value), index, start)
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


OVERRIDE_LINE = 1_000_000  # past any spec's last line (a spec is at most 64 KiB of text)
DATA_LINE = OVERRIDE_LINE - 1  # the --data value's line (resolve/data.py)


def _respan(node: Any, index: int, shift: int) -> Any:
    """`node` (the syntax tree of a --set value) moved to override `index`'s own line,
    each column moved by `shift`: to where it stands in the `--set` text."""
    if isinstance(node, Span):
        line = OVERRIDE_LINE + index
        return Span(line, node.column + shift, line,
                    node.end_column + shift if node.end_line == node.line else node.column
                    + shift + 1)
    if isinstance(node, tuple):
        return tuple(_respan(n, index, shift) for n in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return dataclasses.replace(node, **{f.name: _respan(getattr(node, f.name), index,
                                                            shift)
                                            for f in dataclasses.fields(node)})
    return node


def locate_overrides(diagnostics: list[Diagnostic], overrides: Sequence[str],
                     data: str | None = None) -> list[Diagnostic]:
    """Diagnostics on an override's line become diagnostics of `<--set TEXT>`, line 1:
    `<--set train.epochs=0>:1:14`, whose source line is the text itself; those on the
    --data value's line, of `<--data TEXT>`."""
    out = []
    for d in diagnostics:
        k = d.span.line - OVERRIDE_LINE if d.span else -2
        if 0 <= k < len(overrides) or (k == -1 and data is not None):
            assert d.span is not None
            span = Span(1, d.span.column, 1, max(d.span.end_column, d.span.column + 1))
            d = Diagnostic(d.code, d.message, span, d.hint,
                           f"<--set {overrides[k]}>" if k >= 0 else f"<--data {data}>")
        out.append(d)
    return out


def _sets(line: Any, key: str) -> TypeGuard[ChainLine]:
    """Whether a block line is the `key ...` line (`optimizer adam(lr=1e-3)`)."""
    return isinstance(line, ChainLine) and isinstance(line.items[0], Op) and \
        line.items[0].name == key


_SPELLINGS = {"learning_rate": "lr"}  # other libraries' names for an optimizer argument


def _optimizer_arg(name: str) -> str | None:
    """`lr` for `lr`, `learning_rate` or `optimizer.lr`: an argument of some optimizer."""
    name = name.removeprefix("optimizer.")
    name = _SPELLINGS.get(name, name)
    return name if any(name in e.args.model_fields for e in OPTIMIZERS.values()) else None


def _optimizer_hint(statements: list, name: str) -> str | None:
    """`--set train.lr=0.01` (Keras' and Lightning's habit): the learning rate is an
    argument of the optimizer; the fix names the spec's own optimizer, or the first one
    that takes the argument (adam has no momentum: its betas play that part)."""
    arg = _optimizer_arg(name)
    if arg is None:
        return None
    optimizer = "adam"  # the default
    for stmt in statements:
        if isinstance(stmt, BlockStmt) and stmt.keyword == "train":
            for ln in stmt.lines:
                if _sets(ln, "optimizer") and len(ln.items) > 1 and isinstance(ln.items[1], Op):
                    optimizer = ln.items[1].name
    entry = OPTIMIZERS.get(optimizer)  # None: a misspelt one, told apart elsewhere
    takes = entry.args.model_fields if entry else set.intersection(
        *(set(e.args.model_fields) for e in OPTIMIZERS.values()))
    if arg not in takes:
        optimizer = next(e.name for e in OPTIMIZERS.values() if arg in e.args.model_fields)
    return (f"{arg} is an argument of the optimizer: --set 'train.optimizer="
            f"{optimizer}({arg}=...)'")


def _override_setting(statements: list, key: str, value: str, index: int, start: int
                      ) -> list:
    block, _, name = key.partition(".")
    if block == "phase":
        return _override_phase(statements, key, value, index, start)
    table = {"train": cfg.TRAIN, "report": cfg.REPORT}.get(block)
    if table is None:
        raise AespecError.of("E210", f"--set {key}: only train.KEY, report.KEY and "
                             "phase.NAME.KEY can be set", file="--set")
    if name not in table:
        hint = (_optimizer_hint(statements, name) if block == "train" else None) or \
            did_you_mean(name, table) or f"keys: {', '.join(table)}"
        raise AespecError.of("E210", f"--set {key}: {block} has no key '{name}'", None, hint,
                             "--set")
    text = f"{name}{value}" if value.lstrip().startswith("(") else f"{name} {value}"
    line = _parse_set(text, "chain", key, value)
    # the value starts at column len(text) - len(value) + 1 of `text`, at start + 1 in --set
    line = _respan(line, index, start - (len(text) - len(value)))
    for i, stmt in enumerate(statements):
        if isinstance(stmt, BlockStmt) and stmt.keyword == block:
            old = [ln for ln in stmt.lines if _sets(ln, name)]
            kept = tuple(ln for ln in stmt.lines if not any(ln is o for o in old))
            statements[i] = BlockStmt(block, kept + (line,), stmt.span, stmt.keyword_span)
            return statements
    return statements + [BlockStmt(block, (line,), line.span, line.span)]


def _override_phase(statements: list, key: str, value: str, index: int, start: int
                    ) -> list:
    """`--set phase.NAME.KEY=VALUE`: the line `KEY VALUE` of phase NAME, in place of its own
    (`phase.clean.epochs=1`, `phase.noisy.loss=bce`, `phase.clean.noise=none`)."""
    from aespec.resolve.phases import PHASE_LINES

    _, _, rest = key.partition(".")
    phase, _, name = rest.partition(".")
    phases = [s for s in statements if isinstance(s, PhaseStmt)]
    target = next((s for s in phases if s.name == phase), None)
    if target is None:
        raise AespecError.of("E210", f"--set {key}: the spec has no phase '{phase}'", None,
                             did_you_mean(phase, [s.name for s in phases])
                             or "--set phase.NAME.KEY=VALUE names a `phase NAME { ... }`",
                             "--set")
    if name not in PHASE_LINES:
        raise AespecError.of("E210", f"--set {key}: a phase has no key '{name}'", None,
                             did_you_mean(name, PHASE_LINES)
                             or f"keys: {', '.join(PHASE_LINES)}", "--set")
    text = f"{name}{value}" if value.lstrip().startswith("(") else f"{name} {value}"
    stmt = _parse_statement(text, key, value)
    stmt = _respan(stmt, index, start - (len(text) - len(value)))
    kept = tuple(s for s in target.statements if _phase_key(s) != name)
    i = statements.index(target)
    statements[i] = dataclasses.replace(target, statements=kept + (stmt,))
    return statements


def _phase_key(stmt: Any) -> str | None:
    return "loss" if isinstance(stmt, LossStmt) else getattr(stmt, "keyword", None)


def _parse_statement(text: str, key: str, value: str) -> Any:
    """The one statement `text` (a phase's line), its syntax errors E210."""
    try:
        tree = parse_source(text, f"--set {key}")
    except AespecError as err:
        d = err.diagnostics[0]
        raise AespecError.of("E210", f"--set {key}={value.strip()}: {d.message}", None, d.hint,
                             "--set") from None
    if len(tree.statements) != 1:
        raise AespecError.of("E210", f"--set {key}={value.strip()}: one value, on one line",
                             file="--set")
    return tree.statements[0]
