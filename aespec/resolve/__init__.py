"""The resolve stage: syntax tree -> validated `Spec`: names, values, settings, `--set`.

`resolve_spec(tree, overrides)` reports every E2xx problem into a `DiagnosticBag`. The
work is split by concern: `overrides` (`--set`), `resolver` (ops, chains, blocks,
`repeat`), `statements` (one handler per statement), `settings` (`train`/`report` lines),
`values` (lets, expressions, arguments).
"""

from aespec.resolve.pipeline import resolve_spec

__all__ = ["resolve_spec"]
