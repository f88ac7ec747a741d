"""lark, loaded without `interegular` until a grammar is built (imported first by the
package, before any module of it imports lark).

lark imports interegular, where it is installed, as it loads (about a tenth of a check's
time), but uses it only to look for terminal collisions while it builds a grammar's tables,
never when it loads them from the cache (`aespec.parse.syntax`). So lark is loaded with the
import of interegular refused, then given a stand-in that imports it on first use: a build
of the tables (a cold cache, lark's `strict=True`) behaves as before, and a check with the
tables cached never loads it.
"""

from __future__ import annotations

import importlib.util
import sys


def load_lark() -> None:
    """Import lark.lexer, leaving interegular to be imported when lark first uses it."""
    if "lark.lexer" in sys.modules or "interegular" in sys.modules:
        return
    if importlib.util.find_spec("interegular") is None:
        return
    sys.modules["interegular"] = None  # type: ignore[assignment]  # `import` raises ImportError
    try:
        import lark.lexer
    finally:
        del sys.modules["interegular"]
    if not hasattr(lark.lexer, "has_interegular"):  # another lark: it may load it itself
        return
    lark.lexer.interegular = _Interegular()  # type: ignore[assignment]
    lark.lexer.has_interegular = True


class _Interegular:
    """Stands in for the module `interegular` in lark.lexer: imports it on first use."""

    def __getattr__(self, name: str):
        import interegular
        import lark.lexer

        lark.lexer.interegular = interegular  # type: ignore[attr-defined]
        return getattr(interegular, name)


load_lark()

