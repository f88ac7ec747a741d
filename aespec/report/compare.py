"""Several runs side by side, `compare.html`: one self-contained page built from plain data.

    >>> html = compare_page(ComparePage(runs=[page_a, page_b], recon_png=png))

What differs between their specs (a unified diff of the sources; the `--set` overrides,
train settings and data that differ), their metrics in one table, the curves of each term
overlaid, and the reconstructions of the same test examples by each run in one image
(`recon_grid`; the train stage runs the models: `aespec.train.loaded.compare_runs`).
"""

from __future__ import annotations

import difflib
import io
import math
from dataclasses import dataclass, field
from typing import Any

from aespec.report import game
from aespec.report.charts import COLOURS, MARKERS, Series, line_chart
from aespec.report.markup import Html, html, join, shorten
from aespec.report.page import (
    RunPage,
    best_record,
    data_uri,
    diagram_html,
    document,
    setting_text,
    shown_terms,
    status_badge,
    terms_of,
)
from aespec.report.records import epochs_of, fmt, number, part, values_of


@dataclass(frozen=True)
class ComparePage:
    """What the comparison shows: each run's page data, in order, and the reconstructions
    of the same test examples (a PNG: a row of inputs, then a row per run)."""

    runs: list[RunPage]
    recon_png: bytes | None = None
    recon_note: str = ""  # what the image shows, or why there is none
    labels: list[str] = field(default_factory=list)  # short names; default: unique dir names


def labels_of(runs: list[RunPage]) -> list[str]:
    """Each run's directory name; `name (2)` where two directories share one."""
    names = [shorten(r.run_dir.rstrip("/").rsplit("/", 1)[-1] or r.name, 40) for r in runs]
    return [n if names.count(n) == 1 else f"{n} ({i + 1})" for i, n in enumerate(names)]


def source_diff(a: RunPage, b: RunPage, label_a: str, label_b: str) -> str:
    """The unified diff of two runs' spec sources (empty when they are the same)."""
    return "".join(difflib.unified_diff(
        a.source.splitlines(keepends=True), b.source.splitlines(keepends=True),
        fromfile=f"{label_a}/{a.spec_file}", tofile=f"{label_b}/{b.spec_file}"))


def _overrides(page: RunPage) -> dict[str, str]:
    said = [str(t) for t in page.overrides]
    return {t.partition("=")[0].strip(): t.partition("=")[2].strip() for t in said}


def differing(runs: list[RunPage]) -> list[tuple[str, list[str]]]:
    """(key, each run's value) for each `--set` key, train setting and run fact that is not
    the same in every run; `--set` keys first."""
    rows: list[tuple[str, list[str]]] = []
    sets = [_overrides(r) for r in runs]
    for key in dict.fromkeys(k for s in sets for k in s):
        rows.append((f"--set {key}", [s.get(key, "(not set)") for s in sets]))
    for key in dict.fromkeys(k for r in runs for k in r.settings):
        rows.append((f"train.{key}", [setting_text(r.settings.get(key)) for r in runs]))
    facts = [dict(r.info) for r in runs]
    for key in ("data", "device", "parameters", "status"):
        rows.append((key, [str(f.get(key, "")) for f in facts]))
    return [(k, values) for k, values in rows if len(set(values)) > 1]


def _diff_html(text: str) -> Html:
    def line(s: str) -> Html:
        kind = ("hunk" if s.startswith("@@") else "add" if s.startswith("+")
                and not s.startswith("+++") else "del" if s.startswith("-")
                and not s.startswith("---") else "")
        body = s.rstrip("\n")
        return html('<span class="{}">{}</span>', kind, body) if kind else html("{}\n", body)

    return html('<div class="diff"><pre>{}</pre></div>',
                join(line(s) for s in text.splitlines(True)))


def _differences(page: ComparePage, labels: list[str]) -> Html:
    rows = differing(page.runs)
    head = join(html("<th>{}</th>", lab) for lab in labels)
    table = html("<table><thead><tr><th></th>{}</tr></thead><tbody>{}</tbody></table>", head,
                 join(html('<tr><th class="mono">{}</th>{}</tr>', k,
                           join(html('<td class="mono">{}</td>', v) for v in values))
                      for k, values in rows)) if rows else \
        Html("<p>The overrides, settings and data are the same in every run.</p>")
    first = page.runs[0]
    texts = [(label, source_diff(first, run, labels[0], label))
             for run, label in zip(page.runs[1:], labels[1:], strict=True)]
    if not any(text for _, text in texts):
        return html("<h2>What differs</h2>{}<p>The spec files are the same in every run: "
                    "they differ only as above.</p>", table)
    diffs = join(html("<h3>{} &rarr; {}</h3>{}", labels[0], label, _diff_html(text) if text
                      else Html("<p>The spec files are the same.</p>"))
                 for label, text in texts)
    return html("<h2>What differs</h2>{}<h3>The spec sources</h3>{}", table, diffs)


def _metric_rows(page: ComparePage) -> tuple[list[tuple[str, list[Any]]], str]:
    """(row name, each run's value) for each term, and a sentence on terms left out; GANs'
    terms by their names, the values they log only (a GAN has no test loss)."""
    best = [best_record(r) or {} for r in page.runs]
    if _gans(page):
        pairs = list(dict.fromkeys(pt for r in page.runs for pt in game.rows(r.history)))
        shown, more = shown_terms([f"{p}.{t}" for p, t in pairs])
        return [(f"{game.label(t)} ({p}.{t})", [part(b, p).get(t) for b in best])
                for p, t in pairs[:len(shown)]], more
    terms, more = shown_terms(list(dict.fromkeys(t for r in page.runs
                                                 for t in terms_of(r.history, r.test))))
    rows: list[tuple[str, list[Any]]] = []
    for term in terms:
        rows.append((f"test {term}", [r.test.get(term) for r in page.runs]))
        rows.append((f"validation {term}", [part(b, "val").get(term) for b in best]))
        rows.append((f"train {term}", [part(b, "train").get(term) for b in best]))
    return rows, more


AE_WHEN = "Train and validation at each run's best epoch; test with its best weights"
GAN_WHEN = "At each run's best epoch (a GAN has no test loss)"


def comparable_groups(runs: list[RunPage]) -> list[int]:
    """Each run's group: runs with the same objective (its terms, weights and reductions,
    as `objective_text` writes it) and the same data; only their losses are ranked together.
    A VAE's BCE summed over pixels plus KL and a denoiser's mean MSE share no scale."""
    keys = [(r.objective, dict(r.info).get("data", "")) for r in runs]
    order = list(dict.fromkeys(keys))
    return [order.index(k) for k in keys]


def group_name(g: int) -> str:
    return chr(ord("A") + g) if g < 26 else f"G{g + 1}"


def _lowest(values: list[Any], groups: list[int]) -> list[bool]:
    """Whether each value is the lowest of its group (a group with one number ranks none)."""
    xs = [x if (x := number(v)) is not None and math.isfinite(x) else None for v in values]
    bold = [False] * len(xs)
    for g in set(groups):
        members = [k for k, x in enumerate(xs) if groups[k] == g and x is not None]
        if len(members) > 1:
            low = min(xs[k] for k in members)  # type: ignore[type-var]
            for k in members:
                bold[k] = xs[k] == low
    return bold


def _metrics(page: ComparePage, labels: list[str]) -> Html:
    head = join(html('<th class="num">{}</th>', lab) for lab in labels)
    groups = comparable_groups(page.runs)
    split = len(set(groups)) > 1 and not _gans(page)
    facts: list[tuple[str, list[str]]] = [
        ("status", [status_badge(r.status) for r in page.runs]),
        ("best epoch", [shorten(r.best_epoch or "", 20) for r in page.runs]),
        ("epochs run", [str(len(r.history)) for r in page.runs])]
    if split:
        facts.append(("ranked with", [group_name(g) for g in groups]))
    body = [html("<tr><th>{}</th>{}</tr>", k, join(html('<td class="num">{}</td>', v)
                                                   for v in vs)) for k, vs in facts]
    rows, more = _metric_rows(page)
    for key, values in rows:
        bold = _lowest(values, groups if not _gans(page) else [0] * len(values))
        cells = join(html('<td class="num">{}</td>', html("<b>{}</b>", fmt(v)) if b else fmt(v))
                     for v, b in zip(values, bold, strict=True))
        body.append(html('<tr><th class="mono">{}</th>{}</tr>', key, cells))
    said = "the lowest of each row in bold"
    if split:
        said = (f"{NOT_COMPARABLE} Bold: the lowest of each row among the runs ranked with "
                "the same letter")
    return html("<h2>Metrics</h2><table><thead><tr><th></th>{}</tr></thead><tbody>{}"
                '</tbody></table><p class="caption">{}; {}.{}</p>', head, join(body),
                Html(GAN_WHEN if _gans(page) else AE_WHEN), said, more)


NOT_COMPARABLE = ("these runs' losses are not all comparable: runs whose objectives (terms, "
                  "weights, sums or means over values) or data differ are never ranked "
                  "together, and their curves are drawn on charts of their own.")


def _styled(runs: list[tuple[int, RunPage, str]], term: str) -> list[Series]:
    """Each run's validation (solid) and training (dashed) curve of `term`: one colour and
    one marker per run, the first drawn widest, so that runs with the same curve (the same
    seed) all show, each around the ones drawn over it."""
    series = []
    for j, (i, run, label) in enumerate(runs):
        colour, marker = COLOURS[i % len(COLOURS)], MARKERS[i % len(MARKERS)]
        width = 3.0 + 2.5 * (len(runs) - 1 - j)
        xs = epochs_of(run.history)
        for name, dashed in (("val", False), ("train", True)):
            ys = values_of(run.history, name, term)
            if any(math.isfinite(y) for y in ys):
                series.append(Series("" if dashed else label, xs, ys, colour, dashed, marker,
                                     width))
    return series


def identical_curves(page: ComparePage, labels: list[str]) -> list[tuple[str, str]]:
    """Pairs of runs whose logged curves are the same, value for value (the same seed)."""
    curves = [[(r.get("epoch"), part(r, "train"), part(r, "val")) for r in run.history]
              for run in page.runs]
    return [(labels[a], labels[b]) for a in range(len(curves)) for b in range(a + 1, len(curves))
            if curves[a] and curves[a] == curves[b]]


def _curves(page: ComparePage, labels: list[str]) -> Html:
    terms = shown_terms(list(dict.fromkeys(t for r in page.runs
                                           for t in terms_of(r.history, {}))))[0]
    groups = [0] * len(page.runs) if _gans(page) else comparable_groups(page.runs)
    split = len(set(groups)) > 1
    charts = []
    for term in terms:
        for g in sorted(set(groups)):
            runs = [(i, r, lab) for i, (r, lab, h) in enumerate(zip(page.runs, labels, groups,
                                                                   strict=True)) if h == g]
            title = game.label(term) if _gans(page) else term
            chart = line_chart(f"{title} ({group_name(g)})" if split else title,
                               _styled(runs, term))
            if chart:
                charts.append(html('<div class="card">{}</div>', chart))
    if not charts:
        return Html("")
    same = identical_curves(page, labels)
    notes = "".join(f" The curves of {a} and {b} are identical (the same seed and settings): "
                    f"{a}'s, drawn wider, shows around {b}'s." for a, b in same)
    split_note = (" Runs ranked with different letters (A, B, ...) have objectives or data "
                  "that differ: their losses are not on one scale, so each letter has its own "
                  "charts." if split else "")
    return html('<h2>Loss curves</h2><p class="caption">Solid: validation; dashed: training; '
                "one colour and one marker per run; an earlier run drawn wider.{}{}</p>"
                '<div class="grid">{}</div>', split_note, notes, join(charts))


def _gans(page: ComparePage) -> bool:
    """Whether every run compared is a GAN's (their terms are the game's)."""
    return all(game.is_gan(r.history) for r in page.runs)


def _reconstructions(page: ComparePage) -> Html:
    if page.recon_png is None:
        return html('<h2>Reconstructions</h2><p class="note">{}</p>', page.recon_note)
    return html('<h2>Reconstructions</h2><figure class="card"><img class="figure" '
                'alt="reconstructions" src="{}"><figcaption>{}</figcaption></figure>',
                data_uri(page.recon_png, "image/png"), page.recon_note)


def _diagrams(page: ComparePage, labels: list[str]) -> Html:
    cells = join(html('<div class="card"><h3>{}</h3>{}</div>', lab,
                      diagram_html(r.diagram_svg, r.diagram_note))
                 for r, lab in zip(page.runs, labels, strict=True))
    return html('<h2>Architectures</h2><div class="grid">{}</div>', cells)


def _notes(page: ComparePage, labels: list[str]) -> Html:
    """What each run's page left out of its folder (a figure that is a link, ...)."""
    notes = [html('<p class="note">{}: {}</p>', lab, d.message)
             for r, lab in zip(page.runs, labels, strict=True) for d in r.notes]
    return html("<h2>Left out</h2>{}", join(notes)) if notes else Html("")


def compare_page(page: ComparePage) -> Html:
    """The whole `compare.html`."""
    labels = page.labels or labels_of(page.runs)
    listing = join(html('<li><b>{}</b>: {} {} <span class="where">{}</span></li>', lab,
                        r.name, status_badge(r.status), r.run_dir)
                   for r, lab in zip(page.runs, labels, strict=True))
    body = [html("<header><h1>{} runs compared</h1><ul>{}</ul></header>", len(page.runs),
                 listing), _notes(page, labels), _differences(page, labels),
            _metrics(page, labels), _curves(page, labels), _reconstructions(page),
            _diagrams(page, labels)]
    return document(f"compare: {', '.join(labels)}", join(body))


def recon_grid(inputs: Any, rows: list[tuple[str, Any]], value_range: tuple[float, float],
               title: str) -> bytes:
    """The inputs in the top row and each run's reconstructions of them below, one PNG."""
    from aespec.report.figures import draw_examples

    fig = draw_examples([("input", inputs), *rows], title, value_range, ncols=len(inputs))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()
