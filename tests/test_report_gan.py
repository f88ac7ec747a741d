"""A GAN's run on report.html and compare.html (aespec/report/game.py): its terms by their
names, no test column, and the game's charts (both losses on one, D(x) and D(G(z)) on
another, the samples' Frechet distance with the best epoch, the critic's estimate and the
gradient penalty); an autoencoder's page as before. Pages built from crafted records; a
trained GAN's page in a browser: tests/test_report_html.py."""

from __future__ import annotations

import html
import re

from aespec.report import game
from aespec.report.compare import ComparePage, compare_page
from aespec.report.page import RunPage, curve_charts, run_page, summary_html


def gan_history(epochs: int = 3, fd: bool = True, critic: bool = False) -> list[dict]:
    records = []
    for e in range(1, epochs + 1):
        train = {"loss": 1.3 - 0.2 * e, "generator": 0.7 + 0.3 * e, "d_real": 0.5 + 0.05 * e,
                 "d_fake": 0.5 - 0.05 * e}
        if critic:
            train |= {"wasserstein": 0.1 * e, "gradient_penalty": 1.0 / e}
        val = {"frechet_distance": [700.0, 300.0, 450.0][(e - 1) % 3]} if fd else None
        records.append({"epoch": e, "train": train, "val": val, "best": True})
    return records


def gan_page(name: str = "gan", **kw) -> RunPage:
    history = gan_history(**kw)
    best = 2 if kw.get("fd", True) else len(history)
    return RunPage(name="tiny_gan", run_dir=f"runs/{name}", status="finished",
                   history=history, best_epoch=best, epochs=len(history))


def titles(charts) -> list[str]:
    return [html.unescape(re.search(r"<title>(.*?)</title>", c).group(1)) for c in charts]


def legends(chart: str) -> list[str]:
    """The legend's names, left to right (drawn from the right)."""
    return [html.unescape(n) for n in reversed(re.findall(
        r'<text x="[\d.]+" y="50" font-size="17">(.*?)</text>', chart))]


def test_a_gans_curves_pair_the_losses_and_the_scores_and_mark_the_fd_best():
    charts = curve_charts(gan_history(), 2)
    assert titles(charts) == ["generator and discriminator loss", "D(x) and D(G(z))",
                              "Fréchet distance of the samples"]
    assert legends(charts[0]) == ["discriminator", "generator"]
    assert legends(charts[1]) == ["D(x), real", "D(G(z)), generated"]
    assert legends(charts[2]) == []  # one line: the title names it
    assert all(">best</text>" in c for c in charts)  # the epoch the samples' FD picked
    assert all(c.count("<polyline") == n for c, n in zip(charts, (2, 2, 1), strict=True))


def test_a_critics_estimate_and_penalty_are_charted_and_without_fd_nothing_is_best():
    charts = curve_charts(gan_history(fd=False, critic=True), 3)
    assert titles(charts) == ["generator and discriminator loss", "D(x) and D(G(z))",
                              "critic's Wasserstein estimate", "gradient penalty"]
    assert not any(">best</text>" in c for c in charts)  # the last epoch is kept, not picked


def test_a_term_no_chart_holds_still_gets_its_own():
    history = gan_history()
    history[0]["train"]["newterm"] = 1.0
    assert titles(curve_charts(history, 2))[-1] == "newterm"


def test_the_gan_page_names_its_terms_and_has_no_test_column():
    page = html.unescape(run_page(gan_page()))
    metrics = page.split("<h2>Metrics</h2>")[1].split("<h2>")[0]
    for label, key in (("discriminator loss", "train.loss"),
                       ("generator loss", "train.generator"), ("D(x)", "train.d_real"),
                       ("D(G(z))", "train.d_fake"),
                       ("Fréchet distance of the samples", "val.frechet_distance")):
        assert f"<td>{label}</td><td class=\"mono\">{key}</td>" in metrics, label
    assert "<th class=\"num\">epoch 2</th>" in metrics and ">300.00<" in metrics
    assert "test" not in metrics.replace("no test loss", "")
    assert "did not finish" not in page and "chosen by the samples' Fréchet distance" in page
    assert "<h2>Training curves</h2>" in page and "Loss curves" not in page
    assert page.count('<svg class="chart"') == 3
    without = html.unescape(run_page(gan_page(fd=False, critic=True)))
    assert "critic's Wasserstein estimate" in without
    assert "without sample_quality nothing measures the samples" in without
    card = summary_html(gan_page())  # the notebook's: the same table and charts
    assert "<td>generator loss</td>" in card and "<title>D(x) and D(G(z))</title>" in card


def test_an_autoencoders_page_is_as_before():
    history = [{"epoch": e, "train": {"loss": 1.0 / e, "mse": 0.5 / e},
                "val": {"loss": 1.1 / e, "mse": 0.6 / e}} for e in (1, 2)]
    page = RunPage(name="ae", run_dir="runs/ae", status="finished", history=history,
                   best_epoch=2, epochs=2, test={"loss": 0.5, "mse": 0.3})
    assert not game.is_gan(history)
    assert titles(curve_charts(history, 2)) == ["loss", "mse"]
    assert legends(curve_charts(history, 2)[0]) == ["train", "validation"]
    text = run_page(page)
    assert "<h2>Loss curves</h2>" in text and "Training curves" not in text
    assert '<th class="num">test</th>' in text


def test_gan_runs_compare_by_their_terms_without_test_rows_or_reconstructions():
    a, b = gan_page("a"), gan_page("b", critic=True)
    page = html.unescape(compare_page(ComparePage([a, b], None,
                                                  "None: a GAN reconstructs no example.")))
    assert "generator loss (train.generator)" in page
    assert "Fréchet distance of the samples (val.frechet_distance)" in page
    assert ">test loss<" not in page and ">validation loss<" not in page
    assert "a GAN has no test loss" in page and "a GAN reconstructs no example" in page
    assert ">discriminator loss</title>" in page  # each term's chart, by its name
