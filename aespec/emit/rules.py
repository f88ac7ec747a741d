"""Where the emit stage finds each op's PyTorch form: on the op itself.

Every op of the registry carries its emit rules beside its torch builder (`OpDef.emit` for a
layer or noise op, `emit_term` for a loss, `emit_penalty` for a regularizer; the records they
read and give are in `aespec.ops.emitting`), so the emitted module computes what the compiled
one does; tests/test_emit.py checks it op by op.  This module looks a rule up and keeps what
the writers share.  An op without a rule is refused (E313), never guessed.
"""

from __future__ import annotations

from aespec.emit.strings import literal
from aespec.ops import OpDef
from aespec.ops.emitting import LossRule, Op, PenaltyRule, Rule, Term, Written, lit

__all__ = ["NOOP", "LossRule", "Op", "PenaltyRule", "Rule", "Term", "Written", "layer_rule",
           "lit", "q"]

NOOP = "noop"  # the rule of an op that returns its input (identity): nothing is written


def q(text: str) -> str:
    """A string literal in double quotes that reads back as exactly `text`."""
    return literal(text)


def layer_rule(op: OpDef) -> Rule | str | None:
    """The rule of a layer or noise op: its `emit`, NOOP for a `noop` op, else None."""
    return NOOP if op.noop else op.emit
