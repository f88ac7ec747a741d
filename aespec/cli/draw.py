"""`aespec draw SPEC [-o FILE] [--format svg|png|pdf|dot] [--rankdir TB|LR] [--detail ops|blocks]`.

The checked graph as a diagram; no forward pass and no torch.  An invalid spec prints the
same diagnostics as `aespec check`.  Without graphviz's `dot`, the DOT text is written
next to the requested file and the command says how to install graphviz.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Optional

import typer

from aespec.cli.app import app
from aespec.cli.common import (
    BlockOption,
    QuietOption,
    SetOption,
    err,
    out,
    overrides,
    print_diagnostics,
)
from aespec.draw.dot import INSTALL_HINT, GraphvizMissingError, write_drawing
from aespec.graph.frontend import check_file


class Format(StrEnum):
    svg = "svg"
    png = "png"
    pdf = "pdf"
    dot = "dot"


class Rankdir(StrEnum):
    TB = "TB"
    LR = "LR"


class Detail(StrEnum):
    ops = "ops"
    blocks = "blocks"


def output_target(spec: Path, output: Optional[Path], fmt: Optional[Format]) -> tuple[Path, str]:
    """The file to write and its format: `-o x.png` gives png; the default is
    `<spec stem>.svg` in the current directory (for a block of a Markdown file, its model
    name or `<stem>-N`)."""
    if output is None:
        name = fmt.value if fmt else "svg"
        return Path(spec.stem + "." + name), name
    suffix = output.suffix.lower().lstrip(".")
    if fmt is not None:
        if suffix in Format.__members__ and suffix != fmt.value:
            raise typer.BadParameter(f"'{output.name}' is not a {fmt.value} file name",
                                     param_hint="'--format'")
        return output, fmt.value
    if suffix not in Format.__members__:
        raise typer.BadParameter(f"cannot tell the format from '{output.name}'; name the file "
                                 "*.svg, *.png, *.pdf or *.dot, or pass --format",
                                 param_hint="'-o' / '--output'")
    return output, suffix


@app.command("draw")
def draw_command(
    spec: Path = typer.Argument(..., metavar="SPEC",
                                help="Spec file (.ae), or a Markdown file with ```ae blocks."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", metavar="FILE",
                                          help="Where to write; the format follows the "
                                               "suffix. Default: <spec stem>.svg here."),
    fmt: Optional[Format] = typer.Option(None, "--format", help="svg, png, pdf or dot."),
    rankdir: Rankdir = typer.Option(Rankdir.TB, "--rankdir",
                                    help="TB: the encoder runs down and the decoder back up "
                                         "beside it; LR: the same U on its side."),
    detail: Detail = typer.Option(Detail.ops, "--detail",
                                  help="ops: a box per layer; blocks: a box per block."),
    set_: Optional[list[str]] = SetOption,
    block: Optional[str] = BlockOption,
    quiet: bool = QuietOption,
) -> None:
    """Draw a spec's architecture: blocks, shapes, parameters and the objective."""
    path, name = output_target(spec, output, fmt)
    result = check_file(spec, overrides(set_), block)
    print_diagnostics(result.diagnostics, result.source, quiet)
    if not result.ok or result.ir is None or result.spec is None:
        raise typer.Exit(1)
    if output is None and result.block is not None:  # a block of a page: named after it
        path = Path(f"{result.block.name or f'{spec.stem}-{result.block.index}'}.{name}")
    try:
        written = write_drawing(result.ir, result.spec, path, name, rankdir.value,
                                detail.value)
    except GraphvizMissingError as missing:
        err.print(f"graphviz's `dot` program was not found, so {path} was not drawn; wrote "
                  f"the DOT text to {missing.dot_path} instead.\nTo render: {INSTALL_HINT}, "
                  f"then rerun this command (or run `dot -T{name} {missing.dot_path} -o "
                  f"{path}`).", markup=False, highlight=False)
        raise typer.Exit(1) from None
    except OSError as error:
        err.print(f"cannot write {path}: {error.strerror or error}", markup=False)
        raise typer.Exit(1) from None
    if not quiet:
        out.print(f"wrote {written}", markup=False, highlight=False)
