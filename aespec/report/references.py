"""The page's section on what a run achieved: its reconstruction error beside the mean
image's and PCA's (run.json's `references`, aespec/train/references.py), a denoiser's
clean-input test figures, and the warnings of a run that learned nothing (W444-W446).

A run folder may come from anyone: every value is text or a number checked by `fmt`.
"""

from __future__ import annotations

from typing import Any

from aespec.report.markup import Html, html, join, shorten
from aespec.report.records import fmt, number

# report.json's keys this section shows (from run.json): the item list leaves them out
OWN_SECTION = frozenset({"references", "test_input", "test_clean", "warnings"})

INPUTS = {
    "corrupted": "corrupted test inputs (the spec's noise, seeded) against the clean targets",
    "paired": "the data's own test inputs against its targets (y=): inputs that are already "
              "corrupted are scored as the data gives them",
    "clean": "clean test inputs against themselves",
}


def references_html(refs: Any, test_clean: Any, warnings: Any) -> Html:
    """The section, or nothing where run.json has none of it (an older run, a GAN)."""
    parts = [_table(refs) if isinstance(refs, dict) else "",
             _clean(test_clean) if isinstance(test_clean, dict) and test_clean else "",
             _warnings(warnings) if isinstance(warnings, list) and warnings else ""]
    if not any(parts):
        return Html("")
    return html('<div id="references"><h2>Against the mean image and PCA</h2>{}</div>',
                join(parts))


def _row(name: str, value: Any, ratio: Any) -> Html:
    r = number(ratio)
    return html('<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td></tr>', name,
                fmt(value), "" if r is None else f"{r:.2f}")


def _table(refs: dict[str, Any]) -> Html:
    rows = [_row("this model", refs.get("model"), None),
            _row("mean image (the same output for every example)", refs.get("mean_image"),
                 refs.get("model_over_mean_image"))]
    if "pca" in refs:
        rows.append(_row(f"PCA, {shorten(refs.get('pca_components'), 12)} components",
                         refs.get("pca"), refs.get("model_over_pca")))
    spread: dict[str, Any] = refs["spread"] if isinstance(refs.get("spread"), dict) else {}
    units: dict[str, Any] | None = refs["active_units"] \
        if isinstance(refs.get("active_units"), dict) else None
    said = [f"Reconstruction error on the test split by the run's own reconstruction "
            f"terms, from {INPUTS.get(str(refs.get('input')), shorten(refs.get('input'), 40))}."]
    if number(spread.get("ratio")) is not None:
        said.append(f"Spread of the reconstructions across test examples: "
                    f"{_g(spread.get('reconstructions'))}, against "
                    f"{_g(spread.get('targets'))} in the data.")
    if units is not None and number(units.get("active")) is not None:
        said.append(f"Active latent units (Var of E[z|x] > {shorten(units.get('threshold'), 8)}):"
                    f" {shorten(units.get('active'), 8)} of {shorten(units.get('units'), 8)}.")
    return html('<table class="references"><thead><tr><th>predictor</th>'
                '<th class="num">test error</th><th class="num">model / it</th></tr></thead>'
                '<tbody>{}</tbody></table><p class="caption">{}</p>', join(rows),
                " ".join(said))


def _g(value: Any) -> str:
    n = number(value)
    return "?" if n is None else f"{n:.3g}"


def _clean(test_clean: dict[str, Any]) -> Html:
    rows = join(html('<tr><td class="mono">{}</td><td class="num">{}</td></tr>', shorten(k, 60),
                     fmt(v)) for k, v in list(test_clean.items())[:40])
    return html('<h3>The test loss from clean inputs</h3><table class="test-clean"><thead><tr>'
                '<th>term</th><th class="num">test, clean input</th></tr></thead><tbody>{}'
                '</tbody></table><p class="caption">The metrics above score the denoiser from '
                "corrupted test inputs, as it is meant to work; these from the clean ones.</p>",
                rows)


def _warnings(warnings: list[Any]) -> Html:
    items = [w for w in warnings[:20] if isinstance(w, dict)]
    return join(html('<p class="note warning"><b>{} {}</b>: {}{}</p>', "warning",
                     shorten(w.get("code"), 8), code_spans(shorten(w.get("message"), 400)),
                     html(' <span class="caption">hint: {}</span>',
                          code_spans(shorten(w.get("hint"), 400)))
                     if w.get("hint")
                     else "") for w in items)


def code_spans(said: str) -> Html:
    """A diagnostic's text with its `backticked` spec text as <code>, as the terminal
    shows it quoted; an unpaired backtick stays as it is."""
    parts = said.split("`")
    if len(parts) % 2 == 0:  # an odd number of backticks: the last one is text
        parts[-2:] = [parts[-2] + "`" + parts[-1]]
    return join(html("<code>{}</code>", p) if i % 2 else p for i, p in enumerate(parts))
