"""`aespec new NAME [--template T]`: a commented starter spec, NAME.ae, that checks and trains.

The templates are the files of `aespec/cli/templates/` (`@NAME@` stands for the model
name); each says what the technique is, its objective, and what to try.
"""

from __future__ import annotations

import re
import shlex
from enum import StrEnum
from importlib import resources
from pathlib import Path

import typer

from aespec.cli.app import app
from aespec.cli.common import fail, out
from aespec.emit.strings import comment_text
from aespec.errors import AespecError


def template_names() -> list[str]:
    folder = resources.files("aespec.cli").joinpath("templates")
    return sorted(p.name.removesuffix(".ae") for p in folder.iterdir()
                  if p.name.endswith(".ae"))


Template = StrEnum("Template", {n: n for n in template_names()})  # type: ignore[misc]


def render_template(template: str, name: str) -> str:
    """The text of `template` for a model called `name`."""
    text = resources.files("aespec.cli").joinpath(f"templates/{template}.ae").read_text(
        encoding="utf-8")
    return text.replace("@NAME@", name)


def model_name(path: Path) -> str:
    """A name the `model` statement accepts, from the file's stem: `my-net` -> `my_net`."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", path.stem) or "model"
    return f"m_{name}" if name[0].isdigit() else name


@app.command("new")
def new_command(
    name: str = typer.Argument(..., metavar="NAME",
                               help="The spec to write: NAME.ae (a path may be given)."),
    template: Template = typer.Option("basic", "--template", "-t",  # type: ignore[assignment]
                                      help="The kind of autoencoder to start from."),
) -> None:
    """Write a commented starter spec NAME.ae from a template; never overwrites a file."""
    path = Path(name if name.endswith(".ae") else f"{name}.ae")
    try:
        # "x": created here or refused, even a link to nowhere (no check-then-write race)
        with open(path, "x", encoding="utf-8") as fh:
            fh.write(render_template(template.value, model_name(path)))
    except FileExistsError:
        raise _exists(path) from None
    except OSError as exc:
        raise fail(AespecError.of("E606", f"cannot write {_shown(path)}: "
                                  f"{exc.strerror or exc}",
                                  hint="check that the folder exists and is writable",
                                  file=_shown(path))) from None
    arg = comment_text(shlex.quote(str(path)))  # as a shell would take it back
    out.print(f"wrote {_shown(path)} (template {template.value}). Next:\n"
              f"  aespec check {arg}\n  aespec draw {arg}\n"
              f"  aespec run {arg} --fast-dev-run\n  aespec run {arg}", markup=False)


def _exists(path: Path) -> typer.Exit:
    """A usage error (exit 2): NAME names a file (or folder) that is already there."""
    return fail(AespecError.of("E618", f"{_shown(path)} exists; not overwritten",
                               hint="choose another NAME, or remove the file",
                               file=_shown(path)), code=2)


def _shown(path: Path) -> str:
    """A path for a message: a line break or an undecodable byte in it shown escaped."""
    return comment_text(str(path))
