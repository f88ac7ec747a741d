"""`aespec fmt FILE... [--check]`: rewrite specs in the canonical layout, comments kept.

The layout's rules are in `aespec.parse.fmt`. A file with a syntax error is reported with
its diagnostic and left as it is; `--check` writes nothing and exits 1 naming the files
that would change; `-` reads a spec on stdin and writes it formatted on stdout.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from aespec.cli.app import app
from aespec.cli.common import err, out, print_diagnostics
from aespec.errors import AespecError
from aespec.parse import read_spec
from aespec.parse.fmt import format_source


def _write(path: Path, text: str) -> None:
    """Replace the file's text through a temporary file beside it: never half written."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.fmt")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise AespecError.of("E606", f"cannot write {path}: {exc.strerror or exc}",
                             file=str(path)) from None


def _format_file(path: Path, check: bool) -> bool:
    """Format one file (or, with `check`, say whether it would change); True when fine."""
    source = ""
    try:
        source = read_spec(path)
        formatted = format_source(source, str(path))
        if formatted == source:
            return True
        if check:
            out.print(f"would reformat {path}", markup=False)
            return False
        _write(path, formatted)
    except AespecError as error:
        print_diagnostics(error.diagnostics, source)
        return False
    out.print(f"reformatted {path}", markup=False)
    return True


def _format_stdin(check: bool) -> bool:
    source = sys.stdin.read()
    try:
        formatted = format_source(source, "<stdin>")
    except AespecError as error:
        print_diagnostics(error.diagnostics, source)
        return False
    if check:
        if formatted != source:
            err.print("would reformat <stdin>", markup=False)
        return formatted == source
    sys.stdout.write(formatted)
    return True


@app.command("fmt")
def fmt_command(
    files: list[Path] = typer.Argument(..., metavar="FILE...",
                                       help="Spec files (.ae); - reads stdin, writes stdout."),
    check: bool = typer.Option(False, "--check",
                               help="Write nothing; exit 1 if a file would change."),
) -> None:
    """Rewrite specs in the canonical layout (comments kept); exit 1 on a syntax error."""
    ok = True
    for path in files:
        ok &= _format_stdin(check) if str(path) == "-" else _format_file(path, check)
    raise typer.Exit(0 if ok else 1)
