"""A run's page, `report.html`: one self-contained HTML file built from plain data.

    >>> html = run_page(RunPage(name="tiny", run_dir="runs/tiny", status="finished", ...))

`RunPage` holds what the page shows (the train stage reads it from a run directory:
`aespec.train.pages.read_run_page`); this module only writes HTML. Everything is inline:
the figures as `data:` URIs, the curves as SVG, the styles in one `<style>`; no script, no
font, nothing fetched. Large type and figures that scale to the width, for a projector.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from html import escape
from typing import Any

from aespec.report.charts import COLOURS, Series, line_chart


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
.finished { background: #1a7f37; } .early_stopped { background: #0969da; }
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
.cols { display: grid; gap: 1.5rem;
  grid-template-columns: repeat(auto-fit, minmax(min(100%, 420px), 1fr)); }
"""


def fmt(value: Any) -> str:
    """A number for a table: five significant digits; NaN and infinities as they are."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "" if value is None else str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:#.5g}" if isinstance(value, float) else f"{value:,}"


def document(title: str, body: str) -> str:
    """A whole HTML page around `body`, with the shared style sheet."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
            f"<body><main>{body}</main></body></html>\n")


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def status_badge(status: str) -> str:
    return f'<span class="status {escape(status)}">{escape(status.replace("_", " "))}</span>'


def run_page(page: RunPage) -> str:
    """The whole `report.html` of one run."""
    body = [_header(page), _metrics(page), _curves(page), _figures(page), _diagram(page),
            _objective(page), _source(page), _settings(page)]
    return document(f"{page.name}: aespec run", "".join(body))


def _header(page: RunPage) -> str:
    doc = f'<p class="doc">{escape(page.doc)}</p>' if page.doc else ""
    error = f'<p class="error">{escape(page.error)}</p>' if page.error else ""
    return (f"<header><h1>{escape(page.name)}{status_badge(page.status)}</h1>{doc}"
            f'<p class="where">{escape(page.run_dir)}</p>{error}</header>')


def terms_of(history: list[dict[str, Any]], test: dict[str, float]) -> list[str]:
    """Every loss term the run logged, in the order logged (`loss`, their sum, first)."""
    seen = dict.fromkeys(k for r in history for part in ("train", "val")
                         for k in (r.get(part) or {}))
    seen.update(dict.fromkeys(test))
    return sorted(seen, key=lambda t: t != "loss")


def best_record(page: RunPage) -> dict[str, Any] | None:
    """The best epoch's record, else the last one."""
    found = [r for r in page.history if r.get("epoch") == page.best_epoch]
    return found[0] if found else (page.history[-1] if page.history else None)


def _metrics(page: RunPage) -> str:
    record = best_record(page)
    if record is None and not page.test:
        return "<h2>Metrics</h2><p>No epoch finished, so there are no metrics.</p>"
    record = record or {}
    rows = "".join(
        f"<tr><td class=\"mono\">{escape(t)}</td>"
        f"<td class=\"num\">{fmt((record.get('train') or {}).get(t))}</td>"
        f"<td class=\"num\">{fmt((record.get('val') or {}).get(t))}</td>"
        f"<td class=\"num\">{fmt(page.test.get(t))}</td></tr>"
        for t in terms_of(page.history, page.test))
    done = len(page.history)
    of = f" of {page.epochs}" if page.epochs else ""
    which = (f"epoch {record.get('epoch')}" if record else "")
    best = (f"best epoch {page.best_epoch} ({done}{of} epochs run)" if page.best_epoch
            else f"{done}{of} epochs run")
    return (f"<h2>Metrics</h2><table><thead><tr><th>term</th><th class=\"num\">train</th>"
            f"<th class=\"num\">validation</th><th class=\"num\">test</th></tr></thead>"
            f"<tbody>{rows}</tbody></table><p class=\"caption\">{escape(best)}; train and "
            f"validation at {escape(which)}, test with the best weights"
            f"{'' if page.test else ' (no test result: the run did not finish)'}.</p>")


def curve_charts(history: list[dict[str, Any]], best: int | None) -> list[str]:
    """One SVG chart per term: the training loss (dashed) and the validation loss."""
    charts = []
    epochs = [float(r["epoch"]) for r in history]
    for term in terms_of(history, {}):
        series = []
        for part, name, colour, dashed in (("train", "train", COLOURS[0], True),
                                           ("val", "validation", COLOURS[1], False)):
            ys = [_value(r, part, term) for r in history]
            if any(math.isfinite(y) for y in ys):
                series.append(Series(name, epochs, ys, colour, dashed))
        chart = line_chart(term, series, marker=best)
        if chart:
            charts.append(chart)
    return charts


def _value(record: dict[str, Any], part: str, term: str) -> float:
    v = (record.get(part) or {}).get(term)
    return float(v) if isinstance(v, (int, float)) else math.nan


def _curves(page: RunPage) -> str:
    charts = curve_charts(page.history, page.best_epoch)
    if not charts:
        return ""
    cards = "".join(f'<div class="card">{c}</div>' for c in charts)
    return f'<h2>Loss curves</h2><div class="grid">{cards}</div>'


def _figures(page: RunPage) -> str:
    if not page.figures:
        return ""
    items = "".join(
        f'<figure class="card"><img class="figure" alt="{escape(name)}" '
        f'src="{data_uri(png, "image/png")}"><figcaption>{escape(name)}</figcaption></figure>'
        for name, png in page.figures)
    return f"<h2>Report</h2>{items}"


def diagram_html(svg: str | None, note: str) -> str:
    """The architecture as an <img> of its SVG (so it scales, and its ids stay its own)."""
    if not svg:
        return f'<p class="note">{escape(note or "no diagram")}</p>'
    src = data_uri(svg.encode("utf-8"), "image/svg+xml")
    return (f'<img class="diagram" alt="architecture diagram" style="display: block; '
            f'margin: 0 auto; max-width: 100%; max-height: 85vh" src="{src}">')


def _diagram(page: RunPage) -> str:
    return f"<h2>Architecture</h2>{diagram_html(page.diagram_svg, page.diagram_note)}"


def _objective(page: RunPage) -> str:
    if not page.objective:
        return ""
    return f'<h2>Objective</h2><div class="objective mono">{escape(page.objective)}</div>'


def highlight(source: str) -> str:
    """The spec's source with aespec's Pygments lexer, styles inline."""
    from pygments import highlight as pyg_highlight
    from pygments.formatters import HtmlFormatter

    from aespec.ops.lexer import AespecLexer

    return pyg_highlight(source, AespecLexer(), HtmlFormatter(noclasses=True, style="default",
                                                              linenos="inline"))


def _source(page: RunPage) -> str:
    if not page.source:
        return ""
    return (f"<h2>Spec <span class=\"caption mono\">{escape(page.spec_file)}</span></h2>"
            f'<div class="source">{highlight(page.source)}</div>')


def kv_table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f'<tr><th>{escape(k)}</th><td class="mono">{escape(v)}</td></tr>'
                   for k, v in rows)
    return f"<table><tbody>{body}</tbody></table>"


def setting_text(value: Any) -> str:
    """A resolved train setting as a spec writes it: `adam(lr=0.001)`, `none`, `true`."""
    if isinstance(value, dict) and "name" in value:
        args = ", ".join(f"{k}={setting_text(v)}" for k, v in (value.get("args") or {}).items())
        return f"{value['name']}({args})" if args else str(value["name"])
    if isinstance(value, dict):
        return ", ".join(f"{k}={setting_text(v)}" for k, v in value.items())
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def _settings(page: RunPage) -> str:
    """The train keys, this run's overrides and report items, and the run's facts
    (device, times, versions), side by side where the width allows."""
    rows = [(k, setting_text(v)) for k, v in page.settings.items()]
    extra = [("--set", "  ".join(page.overrides) or "none")]
    if page.report_items:
        extra.append(("report", ", ".join(page.report_items)))
    facts = f"<div><h3>run</h3>{kv_table(page.info)}</div>" if page.info else ""
    return (f'<h2>Settings and run</h2><div class="cols"><div><h3>train</h3>{kv_table(rows)}'
            f"</div><div><h3>this run</h3>{kv_table(extra)}</div>{facts}</div>")


def summary_html(page: RunPage) -> str:
    """A short card for a notebook (`_repr_html_`): the metrics, the curves, the diagram."""
    charts = curve_charts(page.history, page.best_epoch)
    curves = "".join(f'<div style="flex: 1 1 340px; max-width: 520px">{c}</div>'
                     for c in charts[:4])
    return (f'<div style="font-family: system-ui, sans-serif">'
            f"<div style=\"font-size: 1.3em; font-weight: 600\">{escape(page.name)} "
            f"<span style=\"font-weight: 400\">({escape(page.status.replace('_', ' '))}, "
            f"{escape(page.run_dir)})</span></div>{_metrics(page).replace('<h2>Metrics</h2>', '')}"
            f'<div style="display: flex; flex-wrap: wrap; gap: 12px">{curves}</div>'
            f'<details><summary>architecture</summary>'
            f'<div style="max-width: 700px">{diagram_html(page.diagram_svg, page.diagram_note)}'
            f"</div></details></div>")


def spec_html(spec: Any) -> str:
    """A notebook's view of a Spec: what it is (shapes, size, objective), its diagram and
    its source. The graph is built here (the Spec itself is plain data)."""
    from aespec.draw.dot import GraphvizMissingError, RenderError, to_svg
    from aespec.graph import check_spec
    from aespec.graph.summary import objective_text

    result = check_spec(spec)
    g = result.graph
    if g is None or not result.ok:
        return f"<pre>{escape(repr(spec))}</pre>"
    try:
        svg, note = to_svg(g, spec), ""
    except (GraphvizMissingError, RenderError, OSError) as exc:
        svg, note = None, f"No diagram: {exc}"
    shape = g.graph
    rows = [("input", f"{spec.input.kind} {tuple(spec.input.shape)}"),
            ("code z", str(tuple(shape["z"])) if shape.get("z") else ""),
            ("parameters", f"{shape['params']:,}"), ("objective", objective_text(g)),
            ("file", spec.path or "")]
    table = "".join(f'<tr><th style="text-align: left; padding-right: 1em">{escape(k)}</th>'
                    f'<td style="text-align: left; font-family: monospace">{escape(v)}</td></tr>'
                    for k, v in rows if v)
    doc = f"<div>{escape(spec.doc)}</div>" if spec.doc else ""
    source = (f"<details><summary>source</summary>{highlight(spec.source)}</details>"
              if spec.source else "")
    return (f'<div style="font-family: system-ui, sans-serif"><div style="font-size: 1.3em; '
            f'font-weight: 600">{escape(spec.name)}</div>{doc}<table>{table}</table>'
            f'<div style="max-width: 700px">{diagram_html(svg, note)}</div>{source}</div>')
