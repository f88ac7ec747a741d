"""`aespec` command line: one module a command, named as the command (`aespec check` is
`aespec/cli/check.py`), each registering itself on the typer app with `@app.command(...)`.

`main()` imports the module of the command its argv names and no other, so `aespec check`
does not pay for the imports of `aespec run`; without a command (`aespec --help`), or with
one it does not know, it imports them all. `from aespec.cli import app` (tests, docs) gives
the app with every command registered.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import TYPE_CHECKING

import aespec.cli.app as _app_module

if TYPE_CHECKING:
    import typer

# importing the submodule `aespec.cli.app` bound it here as `app`; unbind it, so that the
# name `app` reaches `__getattr__` below and means the whole typer app, as it always has
del globals()["app"]

_NOT_COMMANDS = frozenset({"app", "common", "reference"})


def command_names() -> list[str]:
    """The commands: the modules of this package, less the helpers."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__)
                  if m.name not in _NOT_COMMANDS and not m.name.startswith("_"))


def load_commands(names: list[str] | None = None) -> typer.Typer:
    """The typer app with the commands `names` registered (all of them when None)."""
    for name in command_names() if names is None else names:
        importlib.import_module(f"aespec.cli.{name}")
    return _app_module.app


def __getattr__(name: str):
    if name == "app":
        return load_commands()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _command_in(argv: list[str]) -> str | None:
    """The command argv names: its first word that is not an option (the root options,
    --help and --version, take no value)."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in command_names() else None


def main() -> None:
    name = _command_in(sys.argv[1:])
    load_commands(None if name is None else [name])()
