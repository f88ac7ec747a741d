"""fp32 against bf16 autocast for every shipped spec that `precision auto` moves to bf16.

    python bench/precision_specs.py [--epochs 2] [--jobs 2] [--seed 0]

`train.precision auto` (the default) is bf16 autocast on a CPU with a bf16 matrix engine
for dense, conv and variational autoencoders (aespec/train/device.py). For each spec in
specs/ that it moves, this trains the spec as shipped (its data, its batch, its optimizer)
for `--epochs` epochs twice, `--set train.precision=fp32` and `=bf16`, one torch thread
each, `--jobs` runs side by side, and sets their test losses beside each other with the
training samples/s of the last epoch. Writes bench/PRECISION_SPECS.md and
bench/precision_specs.json.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def moved_specs(size: bool = True) -> list[str]:
    """The shipped specs `auto` runs in bf16 on a CPU with the engine (size False: every
    spec of a kind it may move, whatever the size of its step)."""
    os.environ["AESPEC_BF16_ENGINE"] = "1"
    import torch

    from aespec.graph import check_file
    from aespec.train import device as dev

    names = []
    for path in sorted((ROOT / "specs").glob("*.ae")):
        result = check_file(path, [])
        if result.spec is None or result.ir is None:
            continue
        moved = dev.resolve_precision(result.spec.train.precision, torch.device("cpu"),
                                      result.ir, result.spec) == "bf16" if size else \
            dev.auto_kind(result.ir, result.spec)
        if moved:
            names.append(path.stem)
    return names


def picks(names: list[str]) -> dict[str, tuple[str, int]]:
    """What `auto` picks for each spec on a CPU with the engine, and its step's MACs."""
    from aespec.graph import check_file
    from aespec.train import device as dev

    moved = set(moved_specs())
    out = {}
    for name in names:
        result = check_file(ROOT / "specs" / f"{name}.ae", [])
        assert result.ir is not None and result.spec is not None
        out[name] = ("bf16" if name in moved else "fp32",
                     dev.step_macs(result.ir) * result.spec.train.batch)
    return out


def _floor() -> int:
    from aespec.train import device as dev

    return dev.AUTO_BF16_MACS


def one(name: str, precision: str, epochs: int, seed: int, tmp: Path) -> dict:
    out = tmp / f"{name}-{precision}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "AESPEC_BF16_ENGINE": "1"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "aespec", "run", f"specs/{name}.ae",
                           "--epochs", str(epochs), "--quiet", "--no-report", "--out",
                           str(out), "--set", f"train.precision={precision}", "--set",
                           f"train.seed={seed}"], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1:] or ["failed"], "wall": wall}
    info = json.loads((out / "run.json").read_text())
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()
               if line.strip()]
    return {"test": info["test"]["loss"], "precision": info.get("precision"), "wall": wall,
            "samples_per_s": history[-1].get("samples_per_s")}


def render(res: dict) -> str:
    lines = [
        "# fp32 against bf16 for the shipped specs `precision auto` may move", "",
        f"Written by `bench/precision_specs.py --epochs {res['epochs']} --seed {res['seed']}` "
        f"in {res['seconds']:.0f} s; raw figures in `bench/precision_specs.json`. Machine: "
        f"{res['cpu']}, load average {res['load'][0]:.1f} to {res['load_after'][0]:.1f} "
        f"(the bench's own {res['jobs']} runs included). Each spec as shipped (its data, "
        f"batch, optimizer), {res['epochs']} epochs, seed {res['seed']}, one torch thread, "
        "once with `--set train.precision=fp32` and once `=bf16` (what `auto` picks on this "
        "CPU). *Change*: bf16's test loss over fp32's, minus 1. Samples/s of the last "
        "epoch, with other runs beside it: a rough guide, not a timing (bench/WHOLE_RUN.md "
        "times the dense AE and the conv denoiser). Every spec of a kind `auto` may move "
        "(dense, conv and variational autoencoders) is here; *auto picks* is its choice on "
        "this CPU, by the size of a training step's matrix work (multiply-accumulates of the "
        "layers' weights times positions times batch; bf16 from "
        f"{res.get('floor', 100_000_000):.0e} up): the specs below it ran slower in bf16.",
        "", "| spec | auto picks | step MACs | fp32 test loss | bf16 test loss | change | "
        "fp32 samples/s | bf16 samples/s | bf16 speed |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    changes = []
    for name, pair in res["specs"].items():
        a, b = pair["fp32"], pair["bf16"]
        if "error" in a or "error" in b:
            lines.append(f"| {name} | {a.get('error', a.get('test'))} | "
                         f"{b.get('error', b.get('test'))} | - | - | - |")
            continue
        change = b["test"] / a["test"] - 1
        changes.append(change)
        picks, macs = res.get("picks", {}).get(name, ("?", 0))
        speed = (b["samples_per_s"] or 0) / (a["samples_per_s"] or 1)
        lines.append(f"| {name} | {picks} | {macs:.2g} | {a['test']:.5g} | {b['test']:.5g} | "
                     f"{change:+.2%} | {a['samples_per_s'] or 0:,.0f} | "
                     f"{b['samples_per_s'] or 0:,.0f} | {speed:.2f}x |")
    if changes:
        lines += ["", f"{len(changes)} specs: the change runs from {min(changes):+.2%} to "
                  f"{max(changes):+.2%}, median {sorted(changes)[len(changes) // 2]:+.2%}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--render", action="store_true")
    args = parser.parse_args()
    page, raw = ROOT / "bench" / "PRECISION_SPECS.md", ROOT / "bench" / "precision_specs.json"
    if args.render:
        res = json.loads(raw.read_text())
        res["picks"], res["floor"] = picks(list(res["specs"])), _floor()
        page.write_text(render(res))
        return
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text(
        ).splitlines() if line.startswith("model name")), "unknown CPU")
    names = args.only or moved_specs(size=False)
    res: dict = {"epochs": args.epochs, "seed": args.seed, "jobs": args.jobs, "cpu": cpu,
                 "load": os.getloadavg(), "specs": {n: {} for n in names}}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder, \
            concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(one, n, p, args.epochs, args.seed, Path(folder)): (n, p)
                   for n in names for p in ("fp32", "bf16")}
        for future in concurrent.futures.as_completed(futures):
            n, p = futures[future]
            res["specs"][n][p] = got = future.result()
            print(f"{n} {p}: {got.get('test', got.get('error'))} ({got['wall']:.0f} s)",
                  flush=True)
    res["seconds"] = time.perf_counter() - start
    res["picks"], res["floor"] = picks(names), _floor()
    res["load_after"] = os.getloadavg()
    raw.write_text(json.dumps(res, indent=1) + "\n")
    page.write_text(render(res))
    print(render(res))


if __name__ == "__main__":
    main()
