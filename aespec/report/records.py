"""metrics.jsonl's records read as numbers, for the pages: a record's `train` or `val`
part, one term's values over the epochs, a value for a table.

A run folder may come from anyone: whatever a record holds where a number belongs is NaN
in a curve and short, escaped text in a table.
"""

from __future__ import annotations

import math
from typing import Any

from aespec.report.markup import Html, shorten, text


def number(value: Any) -> float | None:
    """A metric value as a float; None for what is not a number (text, a list, true)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:  # an int past float's range (JSON allows one)
        return math.copysign(math.inf, value)


def fmt(value: Any) -> Html:
    """A number for a table: five significant digits; NaN and infinities as they are;
    anything else (a string where a number belongs) as short, escaped text."""
    x = number(value)
    if x is None:
        return text(shorten(value, 60))
    if not math.isfinite(x) or isinstance(value, float) or abs(value) >= 10**15:
        return text(f"{x:#.5g}" if math.isfinite(x) else str(x))
    return text(f"{value:,}")


def part(record: dict[str, Any], name: str) -> dict[str, Any]:
    """A record's `train` or `val` values; {} where the file holds something else there."""
    values = record.get(name)
    return values if isinstance(values, dict) else {}


def epochs_of(history: list[dict[str, Any]]) -> list[float]:
    """Each record's epoch as a number (NaN where the record's is not one)."""
    return [math.nan if (x := number(r.get("epoch"))) is None else x for r in history]


def values_of(history: list[dict[str, Any]], name: str, term: str) -> list[float]:
    """One term's values over the epochs; NaN where a record has no number for it."""
    return [math.nan if (y := number(part(r, name).get(term))) is None else y
            for r in history]

