"""aespec in IPython and Jupyter: the `%%aespec` cell magic.

    %load_ext aespec

    %%aespec tiny
    model tiny
    data digits
    ...

checks the cell's spec: its errors and warnings point at the cell's own lines (the
`%%aespec` line is line 1, as Jupyter numbers them), and the cell's value is the Spec (shown
as its summary, diagram and source); `tiny`, when given, names a variable that receives it.
`%%aespec --run [--epochs N]` trains it too (a bar updated in place while it trains) and
the cell's value is the RunResult, shown as its card. A spec with errors stops the cell as
an error that shows the diagnostics, not a Python traceback.

IPython is an optional dependency: this module imports it only inside its functions, and
`import aespec` does not import this module (IPython does, through
`aespec.load_ipython_extension`, on `%load_ext aespec`).
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

CELL = "<cell>"  # how diagnostics name a cell's spec


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="%%aespec", add_help=False, allow_abbrev=False,
                                description="Check (and with --run train) the cell's spec.")
    p.add_argument("name", nargs="?", help="a variable that receives the Spec")
    p.add_argument("--run", action="store_true", help="train it; the cell shows the run")
    p.add_argument("--epochs", type=int, help="train.epochs for this run")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="an override, as `aespec run --set` (repeatable)")
    p.add_argument("--data", help="a data source in place of the spec's `data` line")
    p.add_argument("--out", help="the run directory (default runs/<name>-<timestamp>)")
    p.add_argument("--device", help="train.device for this run")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--tensorboard", action="store_true",
                   help="also write TensorBoard event files to RUN_DIR/tensorboard/")
    return p


def cell_source(cell: str) -> str:
    """The spec of a cell, numbered as the cell's lines: a blank line takes the place of
    the `%%aespec` line, so a diagnostic's line is the line Jupyter shows."""
    return "\n" + cell


def parse_line(line: str) -> argparse.Namespace:
    """The options of the magic's line; IPython's UsageError (shown without a traceback)
    for ones it does not know."""
    from IPython.core.error import UsageError

    parser = _parser()
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"%%aespec {line}: {exc}") from None
    args, unknown = parser.parse_known_args(words)
    if unknown:
        raise UsageError(f"%%aespec: unknown option {' '.join(unknown)}\n{parser.format_usage()}")
    if args.name is not None and not args.name.isidentifier():
        raise UsageError(f"%%aespec: {args.name!r} is not a Python name\n{parser.format_usage()}")
    return args


def aespec_magic(line: str, cell: str, shell: Any = None) -> Any:
    """The `%%aespec` cell magic: the Spec (or, with --run, the RunResult) of the cell."""
    from aespec.graph import check_source

    args = parse_line(line)
    result = check_source(cell_source(cell), CELL, args.sets, args.data)
    warnings = [d for d in result.diagnostics if d.severity == "warning"]
    result.raise_for_errors()  # shown by AespecError._render_traceback_: the located text
    if warnings:
        print("\n".join(d.render(result.source) for d in warnings))
    if args.name is not None and shell is not None:
        shell.user_ns[args.name] = result.spec
    if not args.run:
        return result.spec
    from aespec.train import train

    return train(result, data=args.data, epochs=args.epochs, device=args.device,
                 out=args.out, quiet=args.quiet, overrides=args.sets,
                 tensorboard=args.tensorboard)


def register(ipython: Any) -> None:
    """Register `%%aespec` with an IPython shell, and the Spec's HTML view."""
    from aespec import _register_ipython

    def magic(line: str, cell: str) -> Any:
        return aespec_magic(line, cell, ipython)

    magic.__doc__ = __doc__ + "\n" + _parser().format_help()
    ipython.register_magic_function(magic, magic_kind="cell", magic_name="aespec")
    _register_ipython()

