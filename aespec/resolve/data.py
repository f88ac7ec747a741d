"""`--data SOURCE`: the command line's `data` statement, resolved as the spec's own is.

`aespec check --data`, `run --data` and `sweep --data` put it in place of the spec's `data`
line before the graph is built, so its problems are the front end's (E201 for an unknown
source, E2xx for its arguments, at their columns in `<--data TEXT>`) and the checks that
read the data (the input's range, W4xx) see what the run will read.
"""

from __future__ import annotations

from aespec import data as sources
from aespec.errors import AespecError, DiagnosticBag, Span
from aespec.model import DataSpec
from aespec.parse.syntax import ChainLine, Op, parse_fragment
from aespec.resolve.overrides import DATA_LINE
from aespec.resolve.values import Scope, bind_args


def parse_data(text: str) -> DataSpec:
    """`SOURCE[(args)]` as the `data` statement would take it; AespecError for a bad one,
    its diagnostics in the value's own text (`<--data digits(size=0)>:1:8`)."""
    where = f"<--data {text}>"
    line = parse_fragment(text, "chain", where)
    assert isinstance(line, ChainLine)
    if len(line.items) != 1 or not isinstance(line.items[0], Op):
        raise AespecError.of("E203", f"--data takes one source such as digits(size=28), "
                             f"got {text!r}", file="--data")
    op = line.items[0]
    entry = sources.REGISTRY.get(op.name)
    if entry is None:
        sources.validate_args(op.name, {}, file="--data")  # raises E201 with a hint
        raise AssertionError("unreachable")
    bag = DiagnosticBag(file=where)
    args = bind_args(op, entry.args, Scope({}), bag, op.name)
    bag.raise_if_errors()
    assert args is not None
    return DataSpec(source=op.name, args=args.model_dump(exclude_unset=True), span=op.span,
                    file=where)


def data_statement(text: str) -> DataSpec:
    """`parse_data(text)` as the spec's `data` statement: its span on DATA_LINE, past the
    file's end, where `locate_overrides` finds the diagnostics the checks put there."""
    d = parse_data(text)
    return d.model_copy(update={"span": Span(DATA_LINE, d.span.column, DATA_LINE,
                                             d.span.end_column)})


def data_where(d: DataSpec, path: str | None) -> tuple[Span, str | None]:
    """Where the data statement `d` was written: its span and file (`<--data TEXT>`, at
    line 1 of the value, for the command line's)."""
    if d.file is None:
        return d.span, path
    return Span(1, d.span.column, 1, d.span.end_column), d.file
