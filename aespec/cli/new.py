"""`aespec new NAME [--template T]`: a commented starter spec, NAME.ae, that checks and trains.

The templates are the files of `aespec/cli/templates/` (`@NAME@` stands for the model
name); each says what the technique is, its objective, and what to try.
"""

from __future__ import annotations

import re
from enum import StrEnum
from importlib import resources
from pathlib import Path

import typer

from aespec.cli.app import app
from aespec.cli.common import err, out


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
    if path.exists():
        err.print(f"aespec new: {path} exists; not overwritten (choose another NAME, or "
                  "remove the file)", markup=False)
        raise typer.Exit(1)
    try:
        with open(path, "x", encoding="utf-8") as fh:
            fh.write(render_template(template.value, model_name(path)))
    except OSError as exc:
        err.print(f"aespec new: cannot write {path}: {exc.strerror or exc}", markup=False)
        raise typer.Exit(1) from None
    out.print(f"wrote {path} (template {template.value}). Next:\n"
              f"  aespec check {path}\n  aespec draw {path}\n"
              f"  aespec run {path} --fast-dev-run\n  aespec run {path}", markup=False)
