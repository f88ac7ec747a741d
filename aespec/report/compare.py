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
from html import escape
from typing import Any

from aespec.report.charts import COLOURS, Series, line_chart
from aespec.report.page import (
    RunPage,
    best_record,
    data_uri,
    diagram_html,
    document,
    fmt,
    setting_text,
    status_badge,
    terms_of,
)


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
    names = [r.run_dir.rstrip("/").rsplit("/", 1)[-1] or r.name for r in runs]
    return [n if names.count(n) == 1 else f"{n} ({i + 1})" for i, n in enumerate(names)]


def source_diff(a: RunPage, b: RunPage, label_a: str, label_b: str) -> str:
    """The unified diff of two runs' spec sources (empty when they are the same)."""
    return "".join(difflib.unified_diff(
        a.source.splitlines(keepends=True), b.source.splitlines(keepends=True),
        fromfile=f"{label_a}/{a.spec_file}", tofile=f"{label_b}/{b.spec_file}"))


def _overrides(page: RunPage) -> dict[str, str]:
    return {t.partition("=")[0].strip(): t.partition("=")[2].strip() for t in page.overrides}


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
        rows.append((key, [f.get(key, "") for f in facts]))
    return [(k, values) for k, values in rows if len(set(values)) > 1]


def _diff_html(text: str) -> str:
    def line(s: str) -> str:
        kind = ("hunk" if s.startswith("@@") else "add" if s.startswith("+")
                and not s.startswith("+++") else "del" if s.startswith("-")
                and not s.startswith("---") else "")
        body = escape(s.rstrip("\n"))
        return f'<span class="{kind}">{body}</span>' if kind else body + "\n"

    return f'<div class="diff"><pre>{"".join(line(s) for s in text.splitlines(True))}</pre></div>'


def _differences(page: ComparePage, labels: list[str]) -> str:
    rows = differing(page.runs)
    head = "".join(f"<th>{escape(lab)}</th>" for lab in labels)
    table = ("<table><thead><tr><th></th>" + head + "</tr></thead><tbody>" + "".join(
        f'<tr><th class="mono">{escape(k)}</th>'
        + "".join(f'<td class="mono">{escape(v)}</td>' for v in values) + "</tr>"
        for k, values in rows) + "</tbody></table>") if rows else \
        "<p>The overrides, settings and data are the same in every run.</p>"
    first = page.runs[0]
    texts = [(label, source_diff(first, run, labels[0], label))
             for run, label in zip(page.runs[1:], labels[1:], strict=True)]
    if not any(text for _, text in texts):
        return (f"<h2>What differs</h2>{table}<p>The spec files are the same in every run: "
                "they differ only as above.</p>")
    diffs = "".join(f"<h3>{escape(labels[0])} &rarr; {escape(label)}</h3>" + (
        _diff_html(text) if text else "<p>The spec files are the same.</p>")
        for label, text in texts)
    return f"<h2>What differs</h2>{table}<h3>The spec sources</h3>{diffs}"


def _metric_rows(page: ComparePage) -> list[tuple[str, list[Any]]]:
    best = [best_record(r) or {} for r in page.runs]
    terms = list(dict.fromkeys(t for r in page.runs for t in terms_of(r.history, r.test)))
    rows: list[tuple[str, list[Any]]] = []
    for term in terms:
        rows.append((f"test {term}", [r.test.get(term) for r in page.runs]))
        rows.append((f"validation {term}", [(b.get("val") or {}).get(term) for b in best]))
        rows.append((f"train {term}", [(b.get("train") or {}).get(term) for b in best]))
    return rows


def _metrics(page: ComparePage, labels: list[str]) -> str:
    head = "".join(f'<th class="num">{escape(lab)}</th>' for lab in labels)
    facts = [("status", [status_badge(r.status) for r in page.runs]),
             ("best epoch", [escape(str(r.best_epoch or "")) for r in page.runs]),
             ("epochs run", [str(len(r.history)) for r in page.runs])]
    body = "".join(f"<tr><th>{k}</th>" + "".join(f'<td class="num">{v}</td>' for v in vs)
                   + "</tr>" for k, vs in facts)
    for key, values in _metric_rows(page):
        numbers = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
        low = min(numbers) if len(numbers) > 1 else None
        cells = "".join(
            f'<td class="num">{"<b>" + fmt(v) + "</b>" if v == low else fmt(v)}</td>'
            for v in values)
        body += f'<tr><th class="mono">{escape(key)}</th>{cells}</tr>'
    return (f"<h2>Metrics</h2><table><thead><tr><th></th>{head}</tr></thead><tbody>{body}"
            "</tbody></table><p class=\"caption\">Train and validation at each run's best "
            "epoch; test with its best weights; the lowest of each row in bold.</p>")


def _curves(page: ComparePage, labels: list[str]) -> str:
    terms = list(dict.fromkeys(t for r in page.runs for t in terms_of(r.history, {})))
    charts = []
    for term in terms:
        series = []
        for i, (run, label) in enumerate(zip(page.runs, labels, strict=True)):
            colour = COLOURS[i % len(COLOURS)]
            xs = [float(r["epoch"]) for r in run.history]
            for part, dashed in (("val", False), ("train", True)):
                ys = [float((r.get(part) or {}).get(term, math.nan)) for r in run.history]
                if any(math.isfinite(y) for y in ys):
                    series.append(Series("" if dashed else label, xs, ys, colour, dashed))
        chart = line_chart(term, series)
        if chart:
            charts.append(f'<div class="card">{chart}</div>')
    if not charts:
        return ""
    return ("<h2>Loss curves</h2><p class=\"caption\">Solid: validation; dashed: training; one "
            f"colour per run.</p><div class=\"grid\">{''.join(charts)}</div>")


def _reconstructions(page: ComparePage) -> str:
    if page.recon_png is None:
        return f'<h2>Reconstructions</h2><p class="note">{escape(page.recon_note)}</p>'
    return (f'<h2>Reconstructions</h2><figure class="card"><img class="figure" '
            f'alt="reconstructions" src="{data_uri(page.recon_png, "image/png")}">'
            f"<figcaption>{escape(page.recon_note)}</figcaption></figure>")


def _diagrams(page: ComparePage, labels: list[str]) -> str:
    cells = "".join(f'<div class="card"><h3>{escape(lab)}</h3>'
                    f"{diagram_html(r.diagram_svg, r.diagram_note)}</div>"
                    for r, lab in zip(page.runs, labels, strict=True))
    return f'<h2>Architectures</h2><div class="grid">{cells}</div>'


def compare_page(page: ComparePage) -> str:
    """The whole `compare.html`."""
    labels = page.labels or labels_of(page.runs)
    listing = "".join(f"<li><b>{escape(lab)}</b>: {escape(r.name)} {status_badge(r.status)} "
                      f'<span class="where">{escape(r.run_dir)}</span></li>'
                      for r, lab in zip(page.runs, labels, strict=True))
    body = [f"<header><h1>{len(page.runs)} runs compared</h1><ul>{listing}</ul></header>",
            _differences(page, labels), _metrics(page, labels), _curves(page, labels),
            _reconstructions(page), _diagrams(page, labels)]
    return document(f"compare: {', '.join(labels)}", "".join(body))


def recon_grid(inputs: Any, rows: list[tuple[str, Any]], value_range: tuple[float, float],
               title: str) -> bytes:
    """The inputs in the top row and each run's reconstructions of them below, one PNG."""
    from aespec.report.figures import draw_examples

    fig = draw_examples([("input", inputs), *rows], title, value_range, ncols=len(inputs))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()
