"""The parse stage: source text -> syntax tree (`SpecTree`); syntax errors are E1xx.

`parse_source` parses a whole spec, `parse_fragment` a `--set` or `--data` value; the tree's
types are in `aespec.parse.tree`. Nothing is resolved here: `dens(32)` parses as well as
`dense(32)`.
"""

import aespec.parse._lark  # noqa: F401  (first: lark without interegular)
from aespec.parse.syntax import MAX_SOURCE, grammar_text, parse_fragment, parse_source, read_spec
from aespec.parse.tree import SpecTree

__all__ = ["MAX_SOURCE", "SpecTree", "grammar_text", "parse_fragment", "parse_source",
           "read_spec"]
