"""A supervised head's statements: `head [on NAME] { ... }` and the `xent` loss term."""

from __future__ import annotations

from aespec.model.spec import HeadSpec, XentSpec
from aespec.ops import Args
from aespec.parse.tree import BlockStmt, LossStmt
from aespec.resolve.resolver import Resolver
from aespec.resolve.values import bind_args

XENT = "xent"  # the loss term of a head: cross-entropy of its logits on the data's labels


class _XentArgs(Args):
    """`xent` takes no arguments: its weight is written before it (`0.5 * xent`)."""


def do_head(r: Resolver, stmt: BlockStmt) -> None:
    """`head on NAME { ... }`: the head's layers, resolved as an encoder's, and what it
    reads (the code by default); the graph stage checks the name and the shapes."""
    layers = r.block(stmt.lines, "head")
    r.fields["head"] = HeadSpec(on=stmt.target or "code", layers=layers,
                                span=stmt.keyword_span, on_span=stmt.target_span)


def xent_term(r: Resolver, stmt: LossStmt, terms: list) -> list:
    """The `xent` term of a loss line, resolved into `r.fields["xent"]`; the line's other
    terms handed back."""
    xent, rest = split_xent(r, terms)
    if xent is not None:
        r.fields["xent"] = xent
        r.fields["loss_span"] = stmt.span
    return rest


def split_xent(r: Resolver, terms: list) -> tuple[XentSpec | None, list]:
    """A loss line's terms (the top level's or a phase's) -> its `xent` term, resolved (None
    where it has none or it is refused), and its other terms."""
    found = [t for t in terms if t.op.name == XENT]
    rest = [t for t in terms if t.op.name != XENT]
    if not found:
        return None, rest
    term = found[0]
    if len(found) > 1:
        r.bag.add("E203", "a loss line has one xent term", found[1].op.span,
                  "remove the second")
    weight = r.fixed_weight(term, XENT)
    if bind_args(term.op, _XentArgs, r.scope, r.bag, XENT) is None:
        return None, rest  # an argument it does not take: reported
    return XentSpec(weight=weight, span=term.op.span), rest
