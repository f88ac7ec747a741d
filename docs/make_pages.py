"""Writes the reference pages of docs/ (and the VS Code grammar's word lists) from the code,
so they cannot drift from it. A developer's tool: not part of the package.

    python docs/make_pages.py            # rewrite docs/ops.md, docs/errors.md and the grammar
    python docs/make_pages.py --check    # exit 1 if a committed page differs

The tables themselves come from aespec/cli/reference.py, which `aespec ops` and `aespec
explain` print too; tests/test_docs.py fails when a committed page is stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from aespec import data
from aespec.cli.reference import render_errors, render_ops
from aespec.model import STATEMENTS, settings
from aespec.ops import REGISTRY
from aespec.ops.adversarial import ADVERSARIAL
from aespec.resolve.adversarial import CONDITIONS, PRIORS

DOCS = Path(__file__).resolve().parent


GRAMMAR = Path("..") / "editors" / "vscode" / "syntaxes" / "aespec.tmLanguage.json"


def _words(names: Any) -> str:
    """A TextMate alternation, longest word first, so none matches a shorter word's start."""
    return "|".join(sorted(set(names), key=lambda w: (-len(w), w)))


def render_grammar() -> str:
    """The VS Code grammar with its statement, setting, op and data-source words from the
    registries."""
    path = DOCS / GRAMMAR
    grammar = json.loads(path.read_text("utf-8"))
    repo = grammar["repository"]
    ops = {op.name for table in REGISTRY.values() for op in table.values()}
    # `loss adversarial(KIND)`, `latent normal(N)`, `condition labels(N)`
    ops |= {"adversarial", *ADVERSARIAL, *PRIORS, *CONDITIONS}
    repo["op"]["match"] = rf"\b({_words(ops)})\b"
    statements = [s for s in STATEMENTS if s not in ("model", "let")]  # rules of their own
    repo["statement"]["match"] = rf"^\s*({'|'.join(statements)})\b"
    keys = [*settings.TRAIN, *settings.REPORT]
    repo["setting"]["match"] = rf"^\s*({_words(keys)})\b"
    repo["source"]["match"] = rf"\b({_words(data.REGISTRY)})\b"
    return json.dumps(grammar, indent=2, ensure_ascii=False) + "\n"


# paths relative to docs/; the grammar is the editor's, generated all the same
PAGES = {"ops.md": render_ops, "errors.md": render_errors, str(GRAMMAR): render_grammar}


def stale_pages(folder: Path = DOCS) -> list[str]:
    """The generated pages whose committed text differs from what the code generates."""
    return [name for name, render in PAGES.items()
            if not (folder / name).is_file()
            or (folder / name).read_text(encoding="utf-8") != render()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python docs/make_pages.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if a page is stale")
    parser.add_argument("--out", type=Path, default=DOCS, help="the docs folder")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_pages(args.out)
        for name in stale:
            print(f"{args.out / name} is stale: run python docs/make_pages.py", file=sys.stderr)
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, render in PAGES.items():
        (args.out / name).write_text(render(), encoding="utf-8")
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
