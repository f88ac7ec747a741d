"""Kept for the course scripts that ran the old example autograder: it is now
`aespec grade` (docs/grading.md), and this file only runs it.

    python docs/examples/autograder.py RUBRIC HAND-IN... [-o gradebook.csv]
        [--jsonl FILE] [--feedback DIR] [--jobs N]
"""

from __future__ import annotations

import sys

from aespec.cli import load_commands


def main(argv: list[str] | None = None) -> int:
    """`aespec grade ARGV...`; returns its exit status."""
    args = sys.argv[1:] if argv is None else argv
    try:
        load_commands(["grade"])(["grade", *args], prog_name="aespec",
                                 standalone_mode=True)
    except SystemExit as done:
        return int(done.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
