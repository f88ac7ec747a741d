"""compare and sweep say only what holds (issue 24): losses of different objectives are
never ranked together (a VAE's summed BCE + KL against a denoiser's mean MSE), two runs
with the same curves both show, and a sweep's seeds are replicates (mean and spread), not
an axis. Built from plain page data and tables: no training."""

from __future__ import annotations

import html
import re

from aespec.report.compare import (
    ComparePage,
    comparable_groups,
    compare_page,
    identical_curves,
)
from aespec.report.page import RunPage
from aespec.sweep.grid import Axis
from aespec.sweep.summary import plot, replicate_groups, replicates_markdown, spread


def _page(name: str, objective: str, losses: list[float], test: float,
          data: str = "digits") -> RunPage:
    history = [{"epoch": i + 1, "train": {"loss": v * 1.1}, "val": {"loss": v}}
               for i, v in enumerate(losses)]
    return RunPage(name=name, run_dir=f"runs/{name}", status="finished", history=history,
                   best_epoch=len(losses), test={"loss": test}, objective=objective,
                   info=[("data", data)])


VAE = "L = Σ BCE(x, x̂) + 1·KL(q(z|x) ‖ N(0, I))"
DENOISER = "L = MSE(x, x̂)"


def test_a_vae_and_a_denoiser_are_not_ranked_together():
    runs = [_page("vae", VAE, [40.0, 30.0, 27.7], 27.5),
            _page("den", DENOISER, [0.5, 0.35, 0.3], 0.31),
            _page("den2", DENOISER, [0.6, 0.4, 0.32], 0.33)]
    assert comparable_groups(runs) == [0, 1, 1]
    text = html.unescape(compare_page(ComparePage(runs)))
    row = re.search(r">test loss</th>(.*?)</tr>", text).group(1)
    assert "<b>27.500</b>" not in row  # the VAE's loss is lowest of nothing
    assert "<b>0.31000</b>" in row and "<b>0.33000</b>" not in row
    assert ">ranked with</th>" in text and "not all comparable" in text
    titles = re.findall(r'<svg class="chart".*?<title>(.*?)</title>', text)
    assert titles == ["loss (A)", "loss (B)"]  # the denoiser is not drawn flat at 0


def test_runs_of_one_objective_are_ranked_as_before():
    runs = [_page("a", DENOISER, [0.5, 0.3], 0.3), _page("b", DENOISER, [0.5, 0.2], 0.25)]
    text = html.unescape(compare_page(ComparePage(runs)))
    assert "<b>0.25000</b>" in text and "ranked with" not in text
    assert re.findall(r'<svg class="chart".*?<title>(.*?)</title>', text) == ["loss"]


def test_the_same_objective_on_other_data_is_not_ranked_with_it():
    runs = [_page("a", DENOISER, [0.5], 0.3, "digits"),
            _page("b", DENOISER, [0.5], 0.2, "fashion_mnist")]
    assert comparable_groups(runs) == [0, 1]


def test_two_runs_with_the_same_seed_both_show():
    runs = [_page("first", DENOISER, [0.5, 0.4, 0.3], 0.3),
            _page("second", DENOISER, [0.5, 0.4, 0.3], 0.3)]
    assert identical_curves(ComparePage(runs), ["first", "second"]) == [("first", "second")]
    text = html.unescape(compare_page(ComparePage(runs)))
    assert "The curves of first and second are identical" in text
    chart = re.search(r'<svg class="chart".*?</svg>', text, re.S).group(0)
    widths = re.findall(r'<polyline[^>]*stroke-width="([\d.]+)"', chart)
    assert len(widths) == 4 and float(widths[0]) > float(widths[2])  # the first drawn wider
    assert '<circle' in chart  # the first run's points are dots, the second's squares
    assert len(re.findall(r'<rect [^>]*fill="none" stroke="#e69f00"', chart)) >= 3


TABLE = [{"point": f"{i:03d}", "z": z, "train.seed": s, "status": "finished",
          "test.loss": 0.1 * int(z) ** -0.5 + 0.001 * int(s)}
         for i, (z, s) in enumerate((z, s) for z in ("2", "8", "32") for s in ("0", "1", "2"))]
AXES = [Axis("z", ("2", "8", "32")), Axis("train.seed", ("0", "1", "2"))]


def test_seeds_are_replicates_in_the_sweep_table():
    groups = replicate_groups(TABLE, AXES, "test.loss")
    assert [g for g, _ in groups] == [{"z": "2"}, {"z": "8"}, {"z": "32"}]
    assert all(len(ys) == 3 for _, ys in groups)
    text = replicates_markdown(TABLE, AXES, "test.loss")
    assert "| z | test.loss mean | sd | min | max | seeds |" in text
    mean, sd = spread(groups[0][1])
    assert mean == sum(groups[0][1]) / 3 and abs(sd - 0.001) < 1e-9
    assert replicates_markdown(TABLE, AXES[:1], "test.loss") == ""  # no seeds swept


def test_the_sweep_figure_has_no_seed_axis(tmp_path):
    import matplotlib.pyplot as plt

    plot(TABLE, AXES, "test.loss", tmp_path / "sweep.png", "tiny: test.loss")
    image = plt.imread(tmp_path / "sweep.png")
    assert image.shape[1] < 700  # one panel (z), not two: seeds are no axis
    plot(TABLE[:3], AXES[1:], "test.loss", tmp_path / "seeds.png", "seeds only")
    assert (tmp_path / "seeds.png").stat().st_size > 5_000
