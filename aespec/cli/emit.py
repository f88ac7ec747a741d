"""`aespec emit SPEC [-o model.py] [--set NAME=VALUE]`: the spec as a standalone PyTorch file.

The file does not import aespec: an `nn.Module` named after the spec, `loss_fn`, a data
loader and a training loop (docs/emit.md).  It is printed to stdout without `-o`.  An
invalid spec prints the same diagnostics as `aespec check`; what the emit stage cannot
write is E313.  Never imports torch.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from aespec.cli.app import app
from aespec.cli.common import (
    BlockOption,
    SetOption,
    err,
    fail,
    out,
    overrides,
    print_diagnostics,
)
from aespec.emit import emit_source
from aespec.errors import AespecError
from aespec.graph.checking import check_file


@app.command("emit")
def emit_command(
    spec: Path = typer.Argument(..., metavar="SPEC",
                                help="Spec file (.ae), or a Markdown file with ```ae blocks."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", metavar="FILE",
                                          help="Where to write the .py file; default: "
                                               "stdout."),
    set_: Optional[list[str]] = SetOption,
    block: Optional[str] = BlockOption,
) -> None:
    """Write the spec's model, loss and training loop as plain PyTorch (no aespec needed)."""
    result = check_file(spec, overrides(set_), block)
    print_diagnostics(result.diagnostics, result.source)
    if not result.ok or result.graph is None or result.spec is None:
        raise typer.Exit(1)
    try:
        text = emit_source(result.graph, result.spec, output.name if output else None)
    except AespecError as error:
        raise fail(error, result.source) from None
    if output is None:
        sys.stdout.write(text)  # exactly the text: no console styling or wrapping
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        err.print(f"cannot write {output}: {error.strerror or error}", markup=False)
        raise typer.Exit(1) from None
    out.print(f"wrote {output}", markup=False, highlight=False)
