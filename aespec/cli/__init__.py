"""`aespec` command line: every module in this package registers its subcommands on `app`."""

from __future__ import annotations

import importlib
import pkgutil

from aespec.cli.app import app

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _mod not in ("app", "common", "docsgen") and not _mod.startswith("_"):
        importlib.import_module(f"aespec.cli.{_mod}")


def main() -> None:
    app()
