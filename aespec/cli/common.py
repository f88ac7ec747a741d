"""Helpers shared by the subcommands: consoles, diagnostics output, option types."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Optional

import typer
from rich.console import Console

from aespec.errors import AespecError, Diagnostic

out = Console(highlight=False, soft_wrap=True, emoji=False)  # ":smile:" in a spec stays text
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

DataOption = typer.Option(None, "--data", metavar="SRC",
                          help="Data source instead of the spec's `data` line: digits, "
                               "digits(size=28), fashion_mnist, npz(\"file.npz\"), ...")
SetOption = typer.Option(None, "--set", metavar="NAME=VALUE",
                         help="Override a let or a train key: --set width=16, "
                              "--set train.epochs=2 (repeatable).")


def _block_value(value: Optional[str]) -> Optional[str]:
    """--block's value, refused as a usage error when it is longer than any block number or
    model name (a 5,000-digit number would reach int(), which refuses past 4,300 digits)."""
    from aespec.parse.markdown import MAX_BLOCK_NAME

    if value is not None and len(value.strip()) > MAX_BLOCK_NAME:
        raise typer.BadParameter(f"a block number or model name, not {len(value):,} "
                                 "characters", param_hint="'--block'")
    return value


BlockOption = typer.Option(None, "--block", metavar="N|NAME", callback=_block_value,
                           help="For a Markdown file: the ```ae block to use, by number "
                                "(1-based) or model name.")
QuietOption = typer.Option(False, "--quiet", "-q", help="Print nothing but errors.")


def print_diagnostics(diagnostics: Iterable[Diagnostic], source: str | None,
                      quiet: bool = False) -> None:
    """gcc-style diagnostics on stderr, plain text (no markup) so they can be graded;
    `quiet` leaves the warnings out."""
    for d in diagnostics:
        if quiet and d.severity != "error":
            continue
        style = "bold red" if d.severity == "error" else "yellow"
        text = d.render(source)
        head, _, rest = text.partition("\n")
        err.print(head, style=style, markup=False, highlight=False)
        if rest:
            err.print(rest, markup=False, highlight=False)


def fail(error: AespecError, source: str | None = None, code: int = 1) -> typer.Exit:
    """Print our error and return the Exit to raise: the CLI's one error boundary."""
    print_diagnostics(error.diagnostics, source)
    return typer.Exit(code)


def save_array(path, array) -> None:
    """`np.save` for the commands that write arrays, to exactly `path` (`np.save` given a
    name would add `.npy` to one without it); a path that cannot be written is E606."""
    import numpy as np

    try:
        with open(path, "wb") as f:
            np.save(f, array)
    except OSError as exc:
        raise fail(AespecError.of("E606", f"cannot write {path}: {exc.strerror or exc}",
                                  file=str(path))) from None


def in_run(error: AespecError, run_dir) -> AespecError:
    """A model's diagnostics (no file of their own) name the run they came from."""
    return AespecError([d if d.file else Diagnostic(d.code, d.message, d.span, d.hint,
                                                    str(run_dir)) for d in error.diagnostics])


def overrides(values: Optional[list[str]]) -> list[str]:
    return list(values or [])


def is_terminal() -> bool:
    return sys.stdout.isatty()
