"""A GAN's run on the pages: its terms as the lectures name them, its metrics at the best
epoch, and its curves as the game is read (docs/report.md).

An epoch's record of a GAN holds D's loss as `loss` and, beside it, `generator`, `d_real`,
`d_fake` and, for some games, `wasserstein` and `gradient_penalty`; its `val` holds the
samples' `frechet_distance` where the report measures them (docs/language.md, section 11).
The charts pair what is read together: both networks' losses, D's two mean scores. Plain
data in, HTML out, as the rest of the page.
"""

from __future__ import annotations

import math
from typing import Any

from aespec.report.charts import COLOURS, Series, line_chart
from aespec.report.markup import Html, html, join, shorten
from aespec.report.records import epochs_of, fmt, part, values_of

# a GAN's terms as the lectures name them (the order of the metrics table; the CLI's too)
TERMS = {"loss": "discriminator loss", "generator": "generator loss", "d_real": "D(x)",
         "d_fake": "D(G(z))", "wasserstein": "critic's Wasserstein estimate",
         "gradient_penalty": "gradient penalty",
         "frechet_distance": "Fréchet distance of the samples"}

# an adversarial autoencoder's game, beside its reconstruction terms: D judges its codes
AAE_TERMS = {"adversarial": "encoder's adversarial term", "discriminator": "discriminator loss",
             "d_real": "D(z ~ N(0, I))", "d_fake": "D(code)"}

# the charts: a title, then each line's (part, term, legend name, colour); a chart whose
# terms the run did not log is left out. D's colour is blue, G's orange (its samples' FD,
# D's score of its samples), the real data's green.
CHARTS: tuple[tuple[str, tuple[tuple[str, str, str, str], ...]], ...] = (
    ("generator and discriminator loss", (("train", "loss", "discriminator", COLOURS[0]),
                                          ("train", "generator", "generator", COLOURS[1]))),
    ("D(x) and D(G(z))", (("train", "d_real", "D(x), real", COLOURS[2]),
                          ("train", "d_fake", "D(G(z)), generated", COLOURS[1]))),
    ("Fréchet distance of the samples", (("val", "frechet_distance", "", COLOURS[1]),)),
    ("critic's Wasserstein estimate", (("train", "wasserstein", "", COLOURS[0]),)),
    ("gradient penalty", (("train", "gradient_penalty", "", COLOURS[0]),)),
)


def is_gan(history: list[dict[str, Any]]) -> bool:
    """Whether these are a GAN's records: they log the generator's loss beside D's."""
    return any("generator" in part(r, "train") for r in history)


def label(term: str) -> str:
    """A GAN's term as the lectures name it; another term as it is."""
    return TERMS.get(term, term)


def rows(history: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(part, term) of every value the records hold, the known terms in TERMS' order."""
    logged = dict.fromkeys((name, str(k)) for r in history for name in ("train", "val")
                           for k in part(r, name))
    order = list(TERMS)
    return sorted(logged, key=lambda pt: (order.index(pt[1]) if pt[1] in order
                                          else len(order), pt[0] != "train"))


def measured(history: list[dict[str, Any]]) -> bool:
    """Whether the epochs measured the samples (the report's sample_quality)."""
    return any(math.isfinite(y) for y in values_of(history, "val", "frechet_distance"))


def charts(history: list[dict[str, Any]], best: int | None) -> list[Html]:
    """The game's charts (CHARTS), then one per term no chart holds; the best epoch marked
    where the samples' Fréchet distance chose it (else the last epoch is best: no mark)."""
    epochs, mark = epochs_of(history), best if measured(history) else None
    out: list[Html] = []
    drawn: set[tuple[str, str]] = set()
    for title, lines in CHARTS:
        series = [Series(name, epochs, values_of(history, p, term), colour)
                  for p, term, name, colour in lines]
        drawn.update((p, term) for p, term, _, _ in lines)
        if chart := line_chart(title, series, marker=mark):
            out.append(chart)
    for p, term in rows(history):
        if (p, term) not in drawn and len(out) < 40:
            if chart := line_chart(term, [Series("", epochs, values_of(history, p, term))],
                                   marker=mark):
                out.append(chart)
    return out


CAPTION = ("Each training value is the epoch's mean over its steps. D(x) and D(G(z)) are "
           "the discriminator's mean scores of real and generated examples: probabilities "
           "σ(D) in the nonsaturating and minimax games, raw scores in the others. ")


def curves_caption(history: list[dict[str, Any]]) -> str:
    """What a GAN's curves show, and what picked the best epoch."""
    if measured(history):
        return CAPTION + ("The Fréchet distance of the samples to the validation split "
                          "(lower is better) picks the best epoch, marked on each chart.")
    return CAPTION + ("Without sample_quality in the report nothing measures the samples: "
                      "the losses of a game do not, and the last epoch is kept.")


def metrics(history: list[dict[str, Any]], best: int | None, epochs: int | None) -> Html:
    """The best epoch's values (the last epoch's without a measure of the samples), one
    row per term with its name in metrics.jsonl (as a sweep's --metric takes it)."""
    found = [r for r in history if best is not None and r.get("epoch") == best]
    record = found[0] if found else history[-1]
    body = join(html('<tr><td>{}</td><td class="mono">{}.{}</td><td class="num">{}</td></tr>',
                     label(term), p, term, fmt(part(record, p).get(term)))
                for p, term in rows(history)[:40])
    which = shorten(record.get("epoch"), 20)
    of = f" of {epochs}" if epochs else ""
    how = ("chosen by the samples' Fréchet distance" if measured(history) else
           "the last: without sample_quality nothing measures the samples")
    return html('<table><thead><tr><th>term</th><th>key</th><th class="num">epoch {}</th>'
                '</tr></thead><tbody>{}</tbody></table><p class="caption">Best epoch {} '
                "({}), {}{} epochs run. A GAN has no test loss: its generator draws from "
                "noise and reconstructs nothing.</p>", which, body, which, how, len(history),
                of)
