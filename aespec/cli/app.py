"""The typer app; each subcommand lives in its own module of aespec.cli."""

from __future__ import annotations

import typer
from typer.core import TyperCommand


class _Command(TyperCommand):
    """Usage lines as people write them: `aespec check [OPTIONS] FILE...`, not typer's
    `{FILE...}...`."""

    def collect_usage_pieces(self, ctx):  # type: ignore[no-untyped-def]
        return [_plain_usage(p) for p in super().collect_usage_pieces(ctx)]

    def format_options(self, ctx, formatter):  # type: ignore[no-untyped-def]
        """typer's sections, without the type after a named argument (`FILE... <list[Path]>`
        reads `FILE...`)."""
        args, opts = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                name = record[0].split(" <")[0] if param.metavar else record[0]
                args.append((name, record[1]))
            elif param.param_type_name == "option":
                opts.append(record)
        for title, rows in (("Arguments", args), ("Options", opts)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def _plain_usage(piece: str) -> str:
    if piece.startswith("{") and "}" in piece:  # a required argument
        name, rest = piece[1:piece.index("}")], piece[piece.index("}") + 1:]
        return name if name.endswith("...") else name + rest
    if piece.startswith("[") and piece.endswith("]...") and piece[1:-4].endswith("..."):
        return piece[:-3]
    return piece


class _Typer(typer.Typer):
    def command(self, *args, **kwargs):  # type: ignore[no-untyped-def,override]
        kwargs.setdefault("cls", _Command)
        return super().command(*args, **kwargs)


app = _Typer(name="aespec", no_args_is_help=True, add_completion=True,
             pretty_exceptions_enable=False, rich_markup_mode=None,
             context_settings={"help_option_names": ["-h", "--help"]},
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
