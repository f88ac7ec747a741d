"""report.json's numbers as HTML: each report item's numbers beside its figure.

    >>> item_numbers("baseline", {"components": 8, "clean": {...}})   # the PCA table

Every item report.json holds is shown: an item with a shape this module knows (the PCA
baseline, sample quality) as its own table, any other as a table of its numbers and
words, nested keys joined by dots (`clean.model.mse`), so a number a new item writes
shows on the page without a line here.  A run folder may come from anyone: every value
is escaped text (`markup`), numbers through `records.fmt`, and a table is cut at MAX_ROWS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aespec.report.markup import Html, html, join, shorten
from aespec.report.records import fmt, number

MAX_ROWS = 60  # rows of one item's table
MAX_LIST = 16  # values of a list shown in one cell
MAX_DEPTH = 4  # nested keys followed
HIDDEN = ("file",)  # shown as the figure itself


def leaves(value: Any, prefix: str = "", depth: int = 0) -> list[tuple[str, Any]]:
    """(dotted key, value) for every number, word or short list in `value`."""
    if isinstance(value, dict) and depth < MAX_DEPTH:
        out: list[tuple[str, Any]] = []
        for k, v in value.items():
            if depth == 0 and k in HIDDEN:
                continue
            out += leaves(v, f"{prefix}.{k}" if prefix else str(k), depth + 1)
        return out
    return [(prefix, value)]


def cell(value: Any) -> Html:
    """One value for a table: a number, `none`, a list (its first MAX_LIST), or text."""
    if value is None:
        return Html("none")
    if isinstance(value, bool):
        return html("{}", str(value).lower())
    if isinstance(value, list):
        shown = join((cell(v) for v in value[:MAX_LIST]), ", ")
        rest = len(value) - MAX_LIST
        return Html(shown + (html(" \u2026 ({} more)", rest) if rest > 0 else ""))
    if isinstance(value, dict):
        return html("{}", shorten(value, 80))
    return fmt(value)


def generic_table(name: str, item: Any) -> Html:
    """Every number and word of an item, one row each, nested keys joined by dots."""
    rows = leaves(item) if isinstance(item, dict) else [("value", item)]
    if not rows:
        return Html("")
    more = len(rows) - MAX_ROWS
    body = join(html('<tr><th class="mono">{}</th><td class="num">{}</td></tr>', shorten(k, 80),
                     cell(v))
                for k, v in rows[:MAX_ROWS])
    tail = html('<p class="caption">{} more values are left out.</p>', more) if more > 0 else ""
    return html('<table class="numbers"><tbody>{}</tbody></table>{}', body, tail)


def ratio(model: Any, reference: Any) -> Html:
    a, b = number(model), number(reference)
    return fmt(a / b) if a is not None and b else Html("")


def pca_table(name: str, base: dict) -> Html:
    """The model beside PCA with as many components as z, per input kind and metric, and
    the model's value over PCA's (below 1: the model does better)."""
    rows = []
    for kind in ("clean", "noisy"):
        scores = base.get(kind)
        if not isinstance(scores, dict) or not isinstance(scores.get("model"), dict):
            continue
        pca = scores["pca"] if isinstance(scores.get("pca"), dict) else {}
        for metric, value in list(scores["model"].items())[:MAX_ROWS]:
            rows.append(html('<tr><td>{}</td><td class="mono">{}</td><td class="num">{}</td>'
                             '<td class="num">{}</td><td class="num">{}</td></tr>', kind,
                             metric, fmt(value), fmt(pca.get(metric)),
                             ratio(value, pca.get(metric))))
    if not rows:
        return generic_table(name, base)
    note = ""
    if number(base.get("components")) is not None and number(base.get("z_values")) is not None \
            and base["components"] < base["z_values"]:
        note = html('<p class="caption">z has {} values; the data allows {} principal '
                    "components.</p>", base["z_values"], base["components"])
    return html('<table id="pca-baseline" class="numbers"><thead><tr>'
                '<th>input</th><th>metric</th><th class="num">model</th>'
                '<th class="num">PCA, {} components</th><th class="num">model / PCA</th>'
                '</tr></thead><tbody>{}</tbody></table><p class="caption">PCA fitted on {} '
                "training examples, scored like the model on the test set; a ratio below 1: "
                "the model does better.</p>{}", cell(base.get("components")), join(rows),
                cell(base.get("fitted_on")), note)


SETS = ("samples", "real_data", "noise", "mean_image")
SET_COLUMNS = ("frechet_distance", "covered", "entropy_bits")


def quality_table(name: str, q: dict) -> Html:
    """Sample quality: the samples beside real data (the floor), noise and the mean
    image (ceilings), then the item's other numbers."""
    sets = [s for s in SETS if isinstance(q.get(s), dict)]
    if not sets:
        return generic_table(name, q)
    rows = join(html('<tr><td>{}</td>{}</tr>', s.replace("_", " "),
                     join(html('<td class="num">{}</td>', cell(q[s].get(c)))
                          for c in SET_COLUMNS)) for s in sets)
    rest = {k: v for k, v in q.items() if k not in sets}
    return html('<table class="numbers"><thead><tr><th>set</th>'
                '<th class="num">Fréchet distance</th><th class="num">classes covered</th>'
                '<th class="num">entropy (bits)</th></tr></thead><tbody>{}</tbody></table>{}',
                rows, generic_table(name, rest))


SHAPES: dict[str, Callable[[str, dict], Html]] = {
    "baseline": pca_table, "sample_quality": quality_table,
}


def item_numbers(name: str, item: Any) -> Html:
    """An item's numbers as HTML: a skipped item's reason, a known shape's own table, or
    the generic table."""
    if isinstance(item, dict) and "skipped" in item:
        return html('<p class="note">skipped: {}</p>', shorten(item["skipped"], 400))
    if isinstance(item, dict) and name in SHAPES:
        return SHAPES[name](name, item)
    return generic_table(name, item)
