"""Syntax tree -> validated `Spec` (pydantic): names, arguments and statements resolved.

`resolve_spec` reports every E2xx problem it finds into a `DiagnosticBag`; the graph stage
then infers shapes. The work is split by concern: `overrides` (`--set`), `resolver` (ops,
chains, blocks), `statements` (one handler per statement), `settings` (`train`/`report`),
`values` (lets and arguments); the models are `aespec.model`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aespec.errors import DiagnosticBag, Span, is_pseudo_file
from aespec.model.spec import (
    BLOCKS,
    REPEATABLE,
    STATEMENTS,
    AdversarialSpec,
    LossTermSpec,
    OpCall,
    Spec,
)
from aespec.ops import get_op
from aespec.parse.tree import LetStmt, SpecTree
from aespec.resolve.adversarial import check_parts
from aespec.resolve.data import data_statement
from aespec.resolve.overrides import apply_overrides
from aespec.resolve.phases import check_layerwise, finish_phases
from aespec.resolve.resolver import Resolver
from aespec.resolve.statements import dispatch, stmt_keyword
from aespec.resolve.values import ExprError

__all__ = ["resolve_spec"]


def _required(tree: SpecTree) -> tuple[str, ...]:
    """The statements a spec must have: a GAN's generator (with `latent`) has no encoder
    and no bottleneck."""
    gan = any(stmt_keyword(s) == "latent" for s in tree.statements)
    return ("decoder", "input") if gan else (*BLOCKS, "input")


def _check_statement_counts(tree: SpecTree, bag: DiagnosticBag) -> None:
    seen: dict[str, Span] = {}
    for stmt in tree.statements:
        key = stmt_keyword(stmt)
        if key in REPEATABLE or key not in STATEMENTS:
            continue
        if key in seen:
            bag.add("E206", f"{key} is given twice (first at line {seen[key].line})",
                    stmt.span, f"a spec has one {key} statement")
        else:
            seen[key] = stmt.span
    for key in _required(tree):
        if key not in seen:
            bag.add("E207", f"the spec has no {key}", Span.point(1, 1),
                    f"add `{key} {{ ... }}`" if key in BLOCKS else
                    "add `input vector(N)`, `input image(C, H, W)` or `input sequence(C, L)`")


def _collect_lets(tree: SpecTree, bag: DiagnosticBag) -> dict:
    lets: dict = {}
    for stmt in tree.statements:
        if isinstance(stmt, LetStmt):
            if stmt.name in lets:
                bag.add("E206", f"let {stmt.name} is defined twice", stmt.name_span)
            lets[stmt.name] = stmt.value
    return lets


def resolve_spec(tree: SpecTree, overrides: Sequence[str] = (), bag: DiagnosticBag | None = None,
                 data: str | None = None) -> tuple[Spec | None, DiagnosticBag]:
    """Validate a syntax tree; returns the Spec (None when errors stop it) and diagnostics.
    `data`: the command line's --data, in place of the spec's `data` statement."""
    bag = bag or DiagnosticBag(file=tree.path)
    lets = _collect_lets(tree, bag)
    tree = apply_overrides(tree, lets, list(overrides), bag)
    _check_statement_counts(tree, bag)
    r = Resolver(tree, bag, lets)
    for name in lets:  # every let, used or not: its value goes into Spec.lets
        try:
            r.scope.get(name, lets[name].span)
        except ExprError as err:
            bag.add(err.code, err.message, err.span, err.hint)
    for stmt in tree.statements:
        if not isinstance(stmt, LetStmt):
            dispatch(r, stmt)
    r.fields.setdefault("name", Path(tree.path).stem if tree.path and
                        not is_pseudo_file(tree.path) else "model")
    r.fields["block_spans"] = {stmt_keyword(s): s.span for s in tree.statements
                               if stmt_keyword(s) != "phase"}
    check_parts(r, r.fields["block_spans"])
    finish_phases(r)
    check_layerwise(r)
    _default_loss(r)
    if data is not None:
        r.fields["data"] = data_statement(data)
    r.fields["lets"] = {k: v for k, v in r.scope.values.items()}
    if bag.errors or not all(k in r.fields for k in _required(tree)):
        return None, bag
    return Spec(path=tree.path, source=tree.source, overrides=tuple(overrides), **r.fields), bag


def _default_loss(r: Resolver) -> None:
    """Without a loss line: mse for an autoencoder, the nonsaturating game for a GAN, both
    for an adversarial autoencoder (whose loss line may leave out its game)."""
    spans = r.fields["block_spans"]
    if (r.fields.get("discriminator_on") == "code" and "latent" not in spans
            and "adversarial" not in r.fields):
        r.fields["adversarial"] = AdversarialSpec(kind="nonsaturating", span=Span.point(1, 1))
    if "loss" in r.fields or "loss_span" in r.fields or (
            "adversarial" in r.fields and "latent" in spans):
        return
    if "latent" in spans:
        r.fields["adversarial"] = AdversarialSpec(kind="nonsaturating", span=Span.point(1, 1))
    else:
        r.fields["loss"] = [LossTermSpec(weight=1.0, call=OpCall(
            op="mse", args=get_op("loss", "mse").args(), span=Span.point(1, 1)))]


