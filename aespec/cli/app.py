"""The typer app; each subcommand lives in its own module of aespec.cli."""

from __future__ import annotations

import typer

app = typer.Typer(name="aespec", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Check, draw, compile and train autoencoders written as .ae specs.")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"aespec {version('aespec')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Check, draw, compile and train autoencoders written as .ae specs."""
