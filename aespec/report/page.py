"""A run's page, `report.html`: one self-contained HTML file built from plain data.

    >>> html = run_page(RunPage(name="tiny", run_dir="runs/tiny", status="finished", ...))

`RunPage` holds what the page shows (the train stage reads it from a run directory:
`aespec.train.pages.read_run_page`); this module only writes HTML. Everything is inline:
the figures as `data:` URIs, the curves as SVG, the styles in one `<style>`; no script, no
font, nothing fetched. Large type and figures that scale to the width, for a projector.

A run folder may come from anyone, so every value from it is text on the page: the HTML
is written with `aespec.report.markup`, which escapes each value unless this package made
it, and a value that should be a number but is not is shown as (short) text.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from typing import Any

from aespec.errors import Diagnostic
from aespec.report import game
from aespec.report.charts import COLOURS, Series, line_chart
from aespec.report.markup import Html, html, join, shorten
from aespec.report.numbers import item_numbers
from aespec.report.records import epochs_of, fmt, part, values_of
from aespec.report.references import OWN_SECTION, references_html
from aespec.report.runfiles import MAX_FIGURE, PNG_MAGIC


@dataclass(frozen=True)
class RunPage:
    """What a run's page shows, as plain data (no torch, no file handles)."""

    name: str
    run_dir: str
    status: str
    doc: str | None = None
    error: str | None = None  # a failed run's message
    history: list[dict[str, Any]] = field(default_factory=list)  # metrics.jsonl's records
    best_epoch: int | None = None
    epochs: int | None = None  # the epochs the spec asked for
    test: dict[str, float] = field(default_factory=dict)
    figures: list[tuple[str, bytes]] = field(default_factory=list)  # (report/NAME.png, PNG)
    diagram_svg: str | None = None
    diagram_note: str = ""  # why there is no diagram, when there is none
    objective: str = ""
    source: str = ""
    spec_file: str = ""
    settings: dict[str, Any] = field(default_factory=dict)  # the train keys, resolved
    report_items: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    info: list[tuple[str, str]] = field(default_factory=list)  # (label, value): device, times
    notes: list[Diagnostic] = field(default_factory=list)  # what was left out, and why (E621)
    # run.json's references, a denoiser's clean-input test and the run's warnings (W444..)
    references: dict[str, Any] = field(default_factory=dict)
    test_clean: dict[str, float] = field(default_factory=dict)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)  # report.json: item -> its numbers


STYLE = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
html { font-size: 18px; }
body { margin: 0; font: 1rem/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1b1b1b; background: #fafafa; }
main { max-width: 1500px; margin: 0 auto; padding: 1.2rem clamp(0.8rem, 3vw, 2.5rem) 3rem; }
h1 { font-size: 2.1rem; margin: 0.2rem 0 0.3rem; }
h2 { font-size: 1.5rem; margin: 2.2rem 0 0.8rem; border-bottom: 2px solid #ddd;
  padding-bottom: 0.2rem; }
h3 { font-size: 1.15rem; margin: 1rem 0 0.4rem; }
.doc { font-size: 1.2rem; color: #444; margin: 0 0 0.6rem; }
.where { color: #555; font-size: 0.95rem; word-break: break-all; }
.status { display: inline-block; padding: 0.1rem 0.7rem; border-radius: 0.4rem; color: #fff;
  font-weight: 600; font-size: 1.1rem; vertical-align: middle; margin-left: 0.6rem; }
.unknown { background: #6e7781; } .finished { background: #1a7f37; }
.early_stopped { background: #0969da; }
.interrupted, .running { background: #9a6700; } .failed, .diverged { background: #cf222e; }
.error { background: #ffebe9; border-left: 6px solid #cf222e; padding: 0.6rem 1rem; }
table { border-collapse: collapse; font-size: 1rem; margin: 0.4rem 0; }
th, td { padding: 0.35rem 0.9rem; border-bottom: 1px solid #ddd; text-align: left;
  vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.caption { color: #555; font-size: 0.95rem; }
.grid { display: grid; gap: 1.2rem;
  grid-template-columns: repeat(auto-fit, minmax(min(100%, 560px), 1fr)); }
.card { background: #fff; border: 1px solid #e2e2e2; border-radius: 0.5rem; padding: 0.6rem; }
svg.chart, img.figure { display: block; width: 100%; height: auto; }
figure { margin: 0 0 1.4rem; }
figcaption { color: #555; font-size: 0.95rem; margin-top: 0.3rem; }
code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.objective { font-size: 1.25rem; background: #fff; border: 1px solid #e2e2e2;
  padding: 0.6rem 1rem; border-radius: 0.5rem; overflow-x: auto; }
.source pre { font-size: 1rem; line-height: 1.4; margin: 0; padding: 0.8rem 1rem;
  overflow-x: auto; border-radius: 0.5rem; border: 1px solid #e2e2e2; }
.diff pre { font-size: 0.95rem; background: #fff; padding: 0.8rem 1rem; overflow-x: auto;
  border: 1px solid #e2e2e2; border-radius: 0.5rem; }
.add { background: #dafbe1; display: block; } .del { background: #ffebe9; display: block; }
.hunk { color: #6e7781; display: block; }
.note { background: #fff8c5; border-left: 6px solid #d4a72c; padding: 0.5rem 1rem; }
@media (min-width: 1700px) { html { font-size: 22px; } main { max-width: 1800px; } }
@media (max-width: 700px) { html { font-size: 16px; } }
.item { display: grid; gap: 0 1.2rem; align-items: start;
  grid-template-columns: minmax(0, 2fr) minmax(0, 1fr); }
.item h3 { grid-column: 1 / -1; }
.item > div { overflow-x: auto; }
@media (max-width: 1100px) { .item { grid-template-columns: minmax(0, 1fr); } }
table.numbers th { font-weight: 500; }
table.numbers td { overflow-wrap: anywhere; }
.cols { display: grid; gap: 1.5rem;
  grid-template-columns: repeat(auto-fit, minmax(min(100%, 420px), 1fr)); }
"""

STATUSES = ("finished", "early_stopped", "interrupted", "running", "failed", "diverged")
MAX_TERMS = 40  # loss terms shown: a run logs a handful; a crafted file may name thousands
MAX_ITEMS = 64  # report.json items shown: a report block has a dozen at most


def document(title: str, body: Html) -> Html:
    """A whole HTML page around `body`, with the shared style sheet."""
    return html('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                "<title>{}</title><style>{}</style></head><body><main>{}</main></body>"
                "</html>\n", title, Html(STYLE), body)


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def status_badge(status: Any) -> Html:
    """The status as a coloured badge; one aespec does not write is shown grey."""
    said = str(status)
    return html('<span class="status {}">{}</span>', said if said in STATUSES else "unknown",
                said.replace("_", " "))


def run_page(page: RunPage) -> Html:
    """The whole `report.html` of one run."""
    body = [_header(page), _metrics(page),
            references_html(page.references, page.test_clean, page.warnings), _curves(page),
            _figures(page), _diagram(page), _objective(page), _source(page), _settings(page)]
    return document(f"{page.name}: aespec run", join(body))


def _header(page: RunPage) -> Html:
    doc = html('<p class="doc">{}</p>', page.doc) if page.doc else ""
    error = html('<p class="error">{}</p>', page.error) if page.error else ""
    return html('<header><h1>{}{}</h1>{}<p class="where">{}</p>{}</header>', page.name,
                status_badge(page.status), doc, page.run_dir, error)


def terms_of(history: list[dict[str, Any]], test: dict[str, Any]) -> list[str]:
    """Every loss term the run logged, in the order logged (`loss`, their sum, first)."""
    seen = dict.fromkeys(str(k) for r in history for name in ("train", "val")
                         for k in part(r, name))
    seen.update(dict.fromkeys(str(k) for k in test))
    return sorted(seen, key=lambda t: t != "loss")


def shown_terms(terms: list[str]) -> tuple[list[str], str]:
    """The first MAX_TERMS terms, and a sentence on the rest ("" when none is left out)."""
    rest = len(terms) - MAX_TERMS
    return terms[:MAX_TERMS], (f" {rest} more terms are left out." if rest > 0 else "")


def best_epoch(page: RunPage) -> int | None:
    """The best epoch, where run.json gives a whole number for it."""
    best = page.best_epoch
    return best if isinstance(best, int) and not isinstance(best, bool) else None


def best_record(page: RunPage) -> dict[str, Any] | None:
    """The best epoch's record, else the last one."""
    best = best_epoch(page)
    found = [r for r in page.history if best is not None and r.get("epoch") == best]
    return found[0] if found else (page.history[-1] if page.history else None)


def _metrics(page: RunPage) -> Html:
    record = best_record(page)
    if record is None and not page.test:
        return Html("<h2>Metrics</h2><p>No epoch finished, so there are no metrics.</p>")
    if game.is_gan(page.history):
        return html("<h2>Metrics</h2>{}", game.metrics(page.history, best_epoch(page),
                                                         page.epochs))
    record = record or {}
    terms, more = shown_terms(terms_of(page.history, page.test))
    rows = join(html('<tr><td class="mono">{}</td><td class="num">{}</td>'
                     '<td class="num">{}</td><td class="num">{}</td></tr>', t,
                     fmt(part(record, "train").get(t)), fmt(part(record, "val").get(t)),
                     fmt(page.test.get(t))) for t in terms)
    done, best = len(page.history), best_epoch(page)
    of = f" of {page.epochs}" if page.epochs else ""
    which = f"epoch {shorten(record.get('epoch'), 20)}" if record else ""
    said = (f"best epoch {best} ({done}{of} epochs run)" if best else f"{done}{of} epochs run")
    return html('<h2>Metrics</h2><table><thead><tr><th>term</th><th class="num">train</th>'
                '<th class="num">validation</th><th class="num">{}</th></tr></thead>'
                '<tbody>{}</tbody></table><p class="caption">{}; train and validation at {}, '
                "test with the best weights{}.{}</p>",
                "test, corrupted input" if page.test_clean else "test", rows, said, which,
                "" if page.test else " (no test result: the run did not finish)", more)


def curve_charts(history: list[dict[str, Any]], best: int | None) -> list[Html]:
    """One SVG chart per term: the training loss (dashed) and the validation loss; a GAN's
    game as game.charts draws it."""
    if game.is_gan(history):
        return game.charts(history, best)
    charts = []
    epochs = epochs_of(history)
    for term in shown_terms(terms_of(history, {}))[0]:
        series = []
        for name, label, colour, dashed in (("train", "train", COLOURS[0], True),
                                            ("val", "validation", COLOURS[1], False)):
            ys = values_of(history, name, term)
            if any(math.isfinite(y) for y in ys):
                series.append(Series(label, epochs, ys, colour, dashed))
        chart = line_chart(term, series, marker=best, boundaries=phase_starts(history))
        if chart:
            charts.append(chart)
    return charts + _training_charts(history, epochs, best)


def _training_charts(history: list[dict[str, Any]], epochs: list[float], best: int | None
                     ) -> list[Html]:
    """A panel per scheduled weight (its mean over each epoch's steps) and one of the
    gradients' norm (before clipping: each epoch's mean and max), where the run logged them."""
    weights = dict.fromkeys(str(k) for r in history for k in part(r, "weights"))
    charts = [line_chart(f"weight of {term}", [Series(
        "weight (epoch mean)", epochs, values_of(history, "weights", term), COLOURS[2])],
        marker=best) for term in weights]
    if any(part(r, "grad_norm") for r in history):
        charts.append(line_chart("gradient norm (before clipping)", [
            Series("mean", epochs, values_of(history, "grad_norm", "mean"), COLOURS[3]),
            Series("max", epochs, values_of(history, "grad_norm", "max"), COLOURS[5], True)],
            marker=best))
    return [c for c in charts if c]


def phase_starts(history: list[dict[str, Any]]) -> tuple[tuple[float, str], ...]:
    """(x, name) where each phase after the first begins: halfway between its first epoch
    and the epoch before (records without `phase`: none)."""
    out, before = [], None
    for record in history:
        name = record.get("phase")
        epoch = record.get("epoch")
        if isinstance(name, str) and before is not None and name != before and \
                isinstance(epoch, (int, float)):
            out.append((epoch - 0.5, name))
        before = name if isinstance(name, str) else before
    return tuple(out)


def _curves(page: RunPage) -> Html:
    charts = curve_charts(page.history, best_epoch(page))
    if not charts:
        return Html("")
    cards = join(html('<div class="card">{}</div>', c) for c in charts)
    if game.is_gan(page.history):
        return html('<h2>Training curves</h2><p class="caption">{}</p><div class="grid">{}'
                    "</div>", game.curves_caption(page.history), cards)
    title = "Loss and accuracy curves" if "accuracy" in terms_of(page.history, {}) else \
        "Loss curves"  # a head's accuracy has a chart of its own
    return html('<h2>{}</h2><div class="grid">{}</div>', title, cards)


def usable_png(png: Any) -> str | None:
    """Why `png` cannot be shown as a figure, or None: PNG bytes no larger than MAX_FIGURE."""
    if not isinstance(png, bytes) or not png.startswith(PNG_MAGIC):
        return "it is not a PNG image"
    return f"it is larger than {MAX_FIGURE // 2**20} MiB" if len(png) > MAX_FIGURE else None


def _figure(name: str, png: bytes) -> Html:
    return html('<figure class="card"><img class="figure" alt="{}" src="{}">'
                "<figcaption>{}</figcaption></figure>", name, data_uri(png, "image/png"), name)


def _figures(page: RunPage) -> Html:
    """Each report.json item with its figure and its numbers (`numbers.item_numbers`),
    then any figure no item names; notes on what was left out first."""
    notes = [d.message for d in page.notes]
    shown: dict[str, bytes] = {}
    for name, png in page.figures:
        why = usable_png(png)
        if why:
            notes.append(f"{name} is left out: {why}.")
        else:
            shown[name] = png
    sections = []
    items = [(k, v) for k, v in page.report.items() if k not in OWN_SECTION]
    for i, (key, item) in enumerate(items[:MAX_ITEMS]):
        file = item.get("file") if isinstance(item, dict) else None
        drawn = shown.pop(file, None) if isinstance(file, str) else None
        figure = _figure(str(file), drawn) if drawn else Html("")
        sections.append(html('<div class="{}" id="item-{}"><h3>{}</h3>{}<div>{}</div>'
                             "</div>", "item" if drawn else "item-plain", i, key, figure,
                             item_numbers(key, item)))
    sections += [_figure(name, png) for name, png in shown.items()]
    if not sections and not notes:
        return Html("")
    return html("<h2>Report</h2>{}{}", join(html('<p class="note">{}</p>', n) for n in notes),
                join(sections))


def diagram_html(svg: str | None, note: str) -> Html:
    """The architecture as an <img> of its SVG (so it scales, and its ids stay its own)."""
    if not svg:
        return html('<p class="note">{}</p>', note or "no diagram")
    return html('<img class="diagram" alt="architecture diagram" style="display: block; '
                'margin: 0 auto; max-width: 100%; max-height: 85vh" src="{}">',
                data_uri(svg.encode("utf-8"), "image/svg+xml"))


def _diagram(page: RunPage) -> Html:
    return html("<h2>Architecture</h2>{}", diagram_html(page.diagram_svg, page.diagram_note))


def _objective(page: RunPage) -> Html:
    if not page.objective:
        return Html("")
    return html('<h2>Objective</h2><div class="objective mono">{}</div>', page.objective)


def highlight(source: str) -> Html:
    """The spec's source with aespec's Pygments lexer, styles inline (Pygments escapes the
    text of every token)."""
    from pygments import highlight as pyg_highlight
    from pygments.formatters import HtmlFormatter

    from aespec.ops.lexer import AespecLexer

    return Html(pyg_highlight(source, AespecLexer(),
                              HtmlFormatter(noclasses=True, style="default", linenos="inline")))


def _source(page: RunPage) -> Html:
    if not page.source:
        return Html("")
    return html('<h2>Spec <span class="caption mono">{}</span></h2><div class="source">{}'
                "</div>", page.spec_file, highlight(page.source))


def kv_table(rows: list[tuple[Any, Any]]) -> Html:
    body = join(html('<tr><th>{}</th><td class="mono">{}</td></tr>', k, v) for k, v in rows)
    return html("<table><tbody>{}</tbody></table>", body)


def setting_text(value: Any) -> str:
    """A resolved train setting as a spec writes it: `adam(lr=0.001)`, `none`, `true`."""
    if isinstance(value, dict) and "name" in value:
        args = value.get("args")
        said = ", ".join(f"{k}={setting_text(v)}" for k, v in
                         (args.items() if isinstance(args, dict) else ()))
        return f"{value['name']}({said})" if said else str(value["name"])
    if isinstance(value, dict):
        return ", ".join(f"{k}={setting_text(v)}" for k, v in value.items())
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def _settings(page: RunPage) -> Html:
    """The train keys, this run's overrides and report items, and the run's facts
    (device, times, versions), side by side where the width allows."""
    rows = [(k, setting_text(v)) for k, v in page.settings.items()]
    extra = [("--set", "  ".join(str(o) for o in page.overrides) or "none")]
    if page.report_items:
        extra.append(("report", ", ".join(str(i) for i in page.report_items)))
    facts = html("<div><h3>run</h3>{}</div>", kv_table(page.info)) if page.info else ""
    return html('<h2>Settings and run</h2><div class="cols"><div><h3>train</h3>{}</div>'
                "<div><h3>this run</h3>{}</div>{}</div>", kv_table(rows), kv_table(extra),
                facts)


CARD_FIGURES = ("report/reconstructions.png", "report/samples.png")  # on a notebook's card


def card_figures(page: RunPage) -> Html:
    """The run's reconstructions and samples (the report's figures of them, when it drew
    them), side by side on a notebook's card: what the model does, beside its numbers."""
    shown = [(name, png) for name, png in page.figures
             if name in CARD_FIGURES and usable_png(png) is None]
    return join(html('<figure style="flex: 1 1 300px; max-width: 560px; margin: 0">'
                     '<img alt="{}" style="max-width: 100%" src="{}">'
                     '<figcaption style="color: #555">{}</figcaption></figure>', name,
                     data_uri(png, "image/png"), name.removeprefix("report/")[:-4])
                for name, png in sorted(shown, key=lambda f: CARD_FIGURES.index(f[0])))


# the card's own look: a notebook shows it without the page's style sheet; scoped to it
CARD_STYLE = Html(
    "<style>.aespec-card th, .aespec-card td { text-align: left; padding: 2px 8px }"
    " .aespec-card .num { text-align: right; font-variant-numeric: tabular-nums }"
    " .aespec-card .caption { color: #555; font-size: 0.9em }"
    " .aespec-card .note.warning { background: #fff4e5; border-left: 4px solid #e08a00;"
    " padding: 6px 10px; color: #222 }"
    " .aespec-card h2 { font-size: 1.1em; margin: 10px 0 4px }"
    " .aespec-card h3 { font-size: 1em; margin: 8px 0 4px }</style>")


def summary_html(page: RunPage) -> Html:
    """A short card for a notebook (`_repr_html_`): the metrics, the model beside the mean
    image and PCA with the run's warnings (W444-W446), the reconstructions and samples, the
    curves, the diagram."""
    charts = curve_charts(page.history, best_epoch(page))
    curves = join(html('<div style="flex: 1 1 340px; max-width: 520px">{}</div>', c)
                  for c in charts[:4])
    metrics = Html(_metrics(page).replace("<h2>Metrics</h2>", "", 1))  # our own heading
    refs = references_html(page.references, page.test_clean, page.warnings)
    return html('<div class="aespec-card" style="font-family: system-ui, sans-serif">{}'
                '<div style="font-size: 1.3em; font-weight: 600">{} '
                '<span style="font-weight: 400">({}, {})</span></div>{}{}'
                '<div style="display: flex; flex-wrap: wrap; gap: 12px">{}</div>'
                '<div style="display: flex; flex-wrap: wrap; gap: 12px">{}</div>'
                "<details><summary>architecture</summary>"
                '<div style="max-width: 700px">{}</div></details></div>', CARD_STYLE,
                page.name, str(page.status).replace("_", " "), page.run_dir, metrics, refs,
                card_figures(page), curves, diagram_html(page.diagram_svg, page.diagram_note))


def spec_html(spec: Any) -> Html:
    """A notebook's view of a Spec: what it is (shapes, size, objective), its diagram and
    its source. The graph is built here (the Spec itself is plain data)."""
    from aespec.draw.dot import GraphvizMissingError, RenderError, to_svg
    from aespec.graph import check_spec
    from aespec.graph.summary import objective_text

    result = check_spec(spec)
    g = result.ir
    if g is None or not result.ok:
        return html("<pre>{}</pre>", repr(spec))
    try:
        svg, note = to_svg(g, spec), ""
    except (GraphvizMissingError, RenderError, OSError) as exc:
        svg, note = None, f"No diagram: {exc}"
    rows = [("input", f"{spec.input.kind} {tuple(spec.input.shape)}"),
            ("code z", str(tuple(g.z)) if g.z else ""),
            ("parameters", f"{g.params:,}"), ("objective", objective_text(g)),
            ("file", spec.path or "")]
    table = join(html('<tr><th style="text-align: left; padding-right: 1em">{}</th>'
                      '<td style="text-align: left; font-family: monospace">{}</td></tr>', k, v)
                 for k, v in rows if v)
    doc = html("<div>{}</div>", spec.doc) if spec.doc else ""
    source = (html("<details><summary>source</summary>{}</details>", highlight(spec.source))
              if spec.source else "")
    return html('<div style="font-family: system-ui, sans-serif"><div style="font-size: 1.3em; '
                'font-weight: 600">{}</div>{}<table>{}</table>'
                '<div style="max-width: 700px">{}</div>{}</div>', spec.name, doc, table,
                diagram_html(svg, note), source)
