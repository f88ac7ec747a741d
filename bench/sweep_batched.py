"""Batched sweep points against the same points run one after another, on CPU.

    python bench/sweep_batched.py --case small8 [--rounds 3]   # one case: appends its rounds
    python bench/sweep_batched.py --write                      # bench/SWEEP_BATCHED.md
    python bench/sweep_batched.py --all                        # every case, then the page

Each measurement is one `aespec.sweep.sweep` call, in a fresh process, with `jobs=1`,
`threads=1` and `report=False`: `batched="on"` (the points trained as one vmapped model,
aespec/train/batched.py) against `batched="off"` (each point an ordinary run, in the same
process, one after another). The two alternate within a round. A case's figures are the
medians, with min and max, of the sweep's own wall time (`SweepResult.seconds`: from the
first point's start to the last one's end, torch's import and the front end excluded) over
the rounds. The test losses of the two are compared too. Results accumulate in
bench/sweep_batched.json (one entry per case, replaced when the case is run again).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "sweep_batched.json"
REPORT = ROOT / "bench" / "SWEEP_BATCHED.md"
SEEDS4, SEEDS8 = "train.seed=0,1,2,3", "train.seed=0,1,2,3,4,5,6,7"
LRS4 = "train.optimizer=adam(lr=1e-3),adam(lr=2e-3),adam(lr=3e-3),adam(lr=5e-3)"
# name: (title, spec, sets, data)
CASES = {
    "small4": ("sweep_z.ae (digits, 64-128-16-128-64, batch 64), 4 seeds, 30 epochs",
               "docs/sweep_z.ae", [SEEDS4, "train.epochs=30"], None),
    "small8": ("sweep_z.ae, 8 seeds, 30 epochs", "docs/sweep_z.ae",
               [SEEDS8, "train.epochs=30"], None),
    "small16": ("sweep_z.ae, 16 seeds, 30 epochs", "docs/sweep_z.ae",
                ["train.seed=" + ",".join(map(str, range(16))), "train.epochs=30"], None),
    "small_lr4": ("sweep_z.ae, 4 learning rates, 30 epochs", "docs/sweep_z.ae",
                  [LRS4, "train.epochs=30"], None),
    "small_sgd8": ("sweep_z.ae, 8 seeds, sgd(lr=0.1, momentum=0.9) (per-run optimizers), "
                   "30 epochs", "docs/sweep_z.ae",
                   [SEEDS8, "train.epochs=30", "train.optimizer=sgd(lr=0.1, momentum=0.9)"],
                   None),
    "mid8": ("sweep_z.ae widened to 256 (64-256-16-256-64), 8 seeds, 20 epochs",
             "WIDE256", [SEEDS8, "train.epochs=20"], None),
    "wide8": ("sweep_z.ae widened to 512 (64-512-16-512-64), 8 seeds, 10 epochs",
              "WIDE512", [SEEDS8, "train.epochs=10"], None),
    "big4": ("mirror_fc.ae (784-512-256-32-256-512-784, batch 256), 3000 Fashion-MNIST "
             "images, 4 seeds, 3 epochs", "specs/mirror_fc.ae", [SEEDS4, "train.epochs=3"],
             "fashion_mnist(limit=3000)"),
}

CHILD = """
import json, sys
from aespec.sweep import sweep
spec, sets, data, mode, out = json.loads(sys.argv[1])
r = sweep(spec, sets, jobs=1, threads=1, report=False, batched=mode, data=data, out=out)
print(json.dumps({"seconds": r.seconds, "groups": [list(g) for g in r.groups],
                  "test": [row.get("test.loss") for row in r.rows],
                  "params": r.rows[0]["params"]}))
"""


def _spec(name: str, tmp: Path) -> str:
    if not name.startswith("WIDE"):
        return str(ROOT / name)
    width = name.removeprefix("WIDE")
    text = (ROOT / "docs" / "sweep_z.ae").read_text().replace("dense(128)", f"dense({width})")
    path = tmp / f"sweep_wide{width}.ae"
    path.write_text(text)
    return str(path)


def measure(mode: str, spec: str, sets: list[str], data: str | None, tmp: Path,
            i: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    args = json.dumps([spec, sets, data, mode, str(tmp / f"{mode}{i}")])
    done = subprocess.run([sys.executable, "-c", CHILD, args], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_case(name: str, rounds: int) -> dict:
    title, spec_name, sets, data = CASES[name]
    got: dict[str, list[dict]] = {"on": [], "off": []}
    with tempfile.TemporaryDirectory() as tmp:
        spec = _spec(spec_name, Path(tmp))
        for i in range(rounds):
            for mode in (("on", "off") if i % 2 == 0 else ("off", "on")):
                got[mode].append(measure(mode, spec, sets, data, Path(tmp), i))
                print(name, mode, f"{got[mode][-1]['seconds']:.2f} s", flush=True)
    on = [g["seconds"] for g in got["on"]]
    off = [g["seconds"] for g in got["off"]]
    diffs = [abs(a - b) / abs(b) for a, b in zip(got["on"][0]["test"], got["off"][0]["test"],
                                                  strict=True)]
    return {"title": title, "points": len(got["on"][0]["test"]),
            "params": got["on"][0]["params"], "batched_groups": got["on"][0]["groups"],
            "on": on, "off": off, "speedup": statistics.median(off) / statistics.median(on),
            "max_test_loss_rel_diff": max(diffs), "load": os.getloadavg()[0]}


def write_report(results: dict) -> None:
    lines = ["# Batched sweep points against separate runs (CPU)", "",
             "`python bench/sweep_batched.py --case NAME` then `--write`. Each figure is one "
             "`aespec.sweep.sweep(..., jobs=1, threads=1, report=False)` in a fresh process, "
             "`batched=\"on\"` against `\"off\"` (each point an ordinary run, one after "
             "another, in the same process), alternating; the sweep's own wall seconds, "
             "median [min, max] over the rounds.", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
             f"torch threads 1, Python {platform.python_version()}.", "",
             "| case | points | params x batch | off (s) | on (s) | speed-up | test loss "
             "rel. diff | load |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name in [n for n in CASES if n in results]:
        r = results[name]
        lines.append(f"| {r['title']} | {r['points']} | {r['params'] * _batch(name):,} | "
                     f"{_fmt(r['off'])} | {_fmt(r['on'])} | {r['speedup']:.2f}x | "
                     f"{r['max_test_loss_rel_diff']:.1e} | {r['load']:.1f} |")
    lines += ["", "`test loss rel. diff`: the largest relative difference between a point's "
              "test loss batched and alone (first round). `load`: the 1-minute load average "
              "after the case. The `auto` rule (aespec/sweep/batchable.py: PAYS_POINTS, "
              "PAYS_WORK) is read off this table; docs/sweeps.md discusses it."]
    REPORT.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _batch(name: str) -> int:
    return 256 if CASES[name][1].endswith("mirror_fc.ae") else 64


def _fmt(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} [{min(values):.2f}, {max(values):.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES), action="append", default=[])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--all", action="store_true", help="every case, then the page")
    args = parser.parse_args()
    if args.all:
        args.case, args.write = sorted(CASES), True
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    for name in args.case:
        results[name] = run_case(name, args.rounds)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if args.write or not args.case:
        write_report(results)


if __name__ == "__main__":
    main()
