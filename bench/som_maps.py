"""The self-organizing map of specs/som.ae (10 x 10 hex grid on the 8x8 digits) trained as
shipped, three seeds: its quantization and topographic errors on the test digits, and seed
0's figures in docs/img/: the U-matrix, the hit map and the prototypes as the report draws
them (som_umatrix.png, som_hits.png, som_prototypes.png), and som_classes.png, the
U-matrix with each unit's most frequent test digit written on it, to see whether the
classes fill regions and where the ridges run.  Writes bench/SOM_RESULTS.json and the SOM
section of docs/results.md.

    PYTHONPATH=. .venv/bin/python bench/som_maps.py
    PYTHONPATH=. .venv/bin/python bench/som_maps.py --page     # only rewrite the section
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import tempfile
import time

import numpy as np
import torch
from results_page import replace_section

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "som.ae"
SEEDS = (0, 1, 2)
IMG = ROOT / "docs" / "img"
OUT = ROOT / "bench" / "SOM_RESULTS.json"
FIGURES = ("som_umatrix.png", "som_hits.png", "som_prototypes.png")
HEADING = "\n## Self-organizing map: the U-matrix, looked at"


def run_seed(seed: int) -> tuple[dict, dict]:
    """One seed: the report's som_maps numbers, the class purity of the units, seconds;
    and what the class figure needs."""
    import aespec
    from aespec.report.somplots import find_map, u_matrix

    out = pathlib.Path(tempfile.mkdtemp(prefix="bench-som-"))
    start = time.perf_counter()
    aespec.train(SPEC, overrides=[f"train.seed={seed}"], out=out / "run", quiet=True)
    seconds = time.perf_counter() - start
    report = json.loads((out / "run" / "report.json").read_text())["som_maps"]
    run = aespec.train.load_run(out / "run")
    ds = run.data(None)
    som = find_map(run.model)
    with torch.no_grad():
        z = run.model.eval().encode(ds.test.x).round().long().numpy()
    units = z[:, 0] * som.cols + z[:, 1]
    labels = _test_labels(run, len(units))
    majority, purity = _majority(units, labels, som.rows * som.cols)
    w = som.weight.detach().double().numpy()
    row = {"seed": seed, "seconds": round(seconds, 1), "purity": purity,
           **{k: report[k] for k in ("quantization_error", "topographic_error", "units_hit",
                                     "mean_neighbour_distance", "mean_pair_distance")}}
    print(json.dumps(row), flush=True)
    return row, {"run": out / "run", "u": u_matrix(w, som.rows, som.cols, som.grid),
                 "majority": majority, "shape": (som.rows, som.cols, som.grid)}


def _test_labels(run, n: int) -> np.ndarray:
    """The test digits' classes, in the test split's order."""
    from aespec.data import load_data

    data = load_data("digits", {}, (1, 8, 8))
    assert len(data.labels_test) == n  # the run's test split is the source's own
    assert np.allclose(np.asarray(data.x_test), run.data(None).test.x.numpy())
    return np.asarray(data.labels_test)


def _majority(units: np.ndarray, labels: np.ndarray, count: int) -> tuple[list, float]:
    """Each unit's most frequent test class (None where no test digit lands), and the
    share of test digits whose unit's majority class is their own (the map as a
    classifier, read on the test digits themselves)."""
    majority: list = []
    right = 0
    for k in range(count):
        here = labels[units == k]
        if len(here):
            values, counts = np.unique(here, return_counts=True)
            majority.append(int(values[counts.argmax()]))
            right += int(counts.max())
        else:
            majority.append(None)
    return majority, right / len(labels)


def draw_classes(u: np.ndarray, majority: list, shape: tuple) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from aespec.ops.grid import unit_positions
    from aespec.report.somplots import _cells

    rows, cols, grid = shape
    fig, ax = plt.subplots(figsize=(6.5, 5.8))
    norm = plt.Normalize(float(u.min()), float(u.max()))
    cmap = plt.get_cmap("bone_r")
    _cells(ax, rows, cols, grid, cmap(norm(u)))
    for k, (x, y) in enumerate(unit_positions(rows, cols, grid)):
        if majority[k] is not None:
            ax.text(x, -y, str(majority[k]), ha="center", va="center", fontsize=10,
                    color="white" if norm(u[k]) > 0.55 else "#b0001e", weight="bold")
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.8,
                 label="mean distance to the neighbours' prototypes")
    ax.set_title("U-matrix with each unit's most frequent test digit\n"
                 "(blank: no test digit lands there)")
    fig.savefig(IMG / "som_classes.png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def _mean_sd(values: list[float], digits: int = 3) -> str:
    a = np.asarray(values, float)
    return f"{a.mean():.{digits}f} ± {a.std(ddof=1):.{digits}f}"


def section() -> str:
    """The SOM section of docs/results.md from the JSON ("" without)."""
    if not OUT.exists():
        return ""
    got = json.loads(OUT.read_text())
    rows = got["runs"]
    lines = [HEADING, "",
             f"Generated by `bench/som_maps.py` ({got['recorded']}); one torch thread on the "
             "shared 2-core machine. `specs/som.ae` as shipped: a 10 x 10 hex grid on the "
             "8x8 digits, 30 epochs, sigma 5 -> 0.5. Errors on the 360 test digits; "
             "quantization error: mean distance to the winner's prototype; topographic "
             "error: share of digits whose two nearest prototypes are not grid "
             "neighbours; class purity: share of test digits whose unit's most frequent "
             "test digit is their own.", "",
             "| seed | quantization error | topographic error | units hit (of 100) | class "
             "purity | neighbour / any-pair prototype distance | seconds |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['quantization_error']:.3f} | "
                     f"{r['topographic_error']:.3f} | {r['units_hit']} | {r['purity']:.3f} | "
                     f"{r['mean_neighbour_distance']:.2f} / {r['mean_pair_distance']:.2f} | "
                     f"{r['seconds']:.0f} |")
    lines += ["", "Mean over the seeds: quantization error "
              f"{_mean_sd([r['quantization_error'] for r in rows])}, topographic error "
              f"{_mean_sd([r['topographic_error'] for r in rows])}.", "",
              "Seed 0's maps: the U-matrix with each unit's most frequent test digit, the "
              "hit map, the prototypes.", "",
              "![U-matrix with classes](img/som_classes.png)", "",
              "![hits](img/som_hits.png) ![prototypes](img/som_prototypes.png)", ""]
    notes = ROOT / "bench" / "som_seen.md"  # what was seen in the figures, by a person
    if notes.exists():
        lines += [notes.read_text().strip(), ""]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    p.add_argument("--page", action="store_true", help="only rewrite docs/results.md's section")
    args = p.parse_args()
    if not args.page:
        torch.set_num_threads(1)
        rows, first = [], None
        for seed in args.seeds:
            row, seen = run_seed(seed)
            rows.append(row)
            first = first or seen
        assert first is not None
        for name in FIGURES:
            shutil.copyfile(first["run"] / "report" / name, IMG / name)
        draw_classes(first["u"], first["majority"], first["shape"])
        OUT.write_text(json.dumps({"runs": rows, "recorded": time.strftime("%Y-%m-%d %H:%M")},
                                  indent=1) + "\n")
    replace_section(HEADING, section())


if __name__ == "__main__":
    main()
