"""Training throughput: aespec against the same models written by hand in plain PyTorch.

    .venv/bin/python bench/train_throughput.py            # writes bench/RESULTS.md, .json
    .venv/bin/python bench/train_throughput.py --quick    # fewer rounds, no torch.compile

Two models on 28x28 data: the dense autoencoder of specs/mirror_fc.ae and the conv denoiser
of specs/denoising_conv.ae, each at its spec's batch size and optimizer. The data is
scikit-learn's digits resized to 28x28 (runs anywhere); the dense AE reads 8,192
Fashion-MNIST images instead where /usr/share/datasets/fashion-mnist has them. The
hand-written twins are nn.Sequential models and a plain loop with the same batch indexing
(`x.index_select(0, perm[i:i+B])`), noise, loss (BCE on logits) and penalty. Samples/s
counts the training phase of each epoch, after a warm-up epoch. Contestants take turns,
round after round, in one process; each figure is the fastest epoch of all rounds (other
load on the machine only ever slows an epoch down, so the fastest is the best estimate of
the code's own speed), with the median beside it.

The allocator's tuning cannot be undone inside a process, so the bench runs in
subprocesses:

    turns    hand-written, aespec with its speed-ups off (parity) and aespec with each
             speed-up alone take turns in one process, allocator tuned as `aespec run`
             tunes it (untuned, aespec's validation pass between epochs hands memory back
             to the OS that the next epoch faults in again; the hand-written loop has no
             validation to pay for)
    alone    one process per contestant and allocator setting: what `mallopt` does to a
             whole run, first epoch included, and aespec's defaults against a plain
             hand-written loop, each run as a user would run it
    compile  tuned; aespec's defaults with and without `train.compile` (cold start too)
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FASHION = Path("/usr/share/datasets/fashion-mnist")
DIGITS = "digits(size=28)"


def data_for(kind: str) -> str:
    """28x28 data for a model: the dense AE's epochs on 1,293 digits last 60 ms, too short
    to time well, so it reads 8,192 Fashion-MNIST images where Debian's package has them."""
    if kind == "fc" and (FASHION / "train-images-idx3-ubyte.gz").is_file():
        return "fashion_mnist(limit=8192)"
    return DIGITS

MODELS = {
    "fc": {"spec": "specs/mirror_fc.ae", "title": "dense AE (mirror_fc.ae)", "epochs": 5},
    "conv": {"spec": "specs/denoising_conv.ae", "title": "conv denoiser (denoising_conv.ae)",
             "epochs": 3},
}
# contestant -> (what it is, aespec overrides or None for hand-written)
PARITY = ["train.channels_last=false"]
CONTESTANTS = {
    "hand": "hand-written, plain",
    "hand_cl": "hand-written, channels_last",
    "parity": "aespec, speed-ups off",
    "fused": "aespec, + fused optimizer only",
    "cl": "aespec, + channels_last only",
    "aespec": "aespec defaults",
    "compiled": "aespec defaults + train.compile",
}


# ---------------------------------------------------------------- hand-written twins


def hand_model(kind: str):
    from torch import nn

    if kind == "fc":  # sigmoid folded into the loss, as aespec's bce does
        return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                             nn.Linear(256, 32), nn.Linear(32, 256), nn.ReLU(),
                             nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 784))

    def conv(i: int, o: int) -> nn.Conv2d:
        return nn.Conv2d(i, o, 3, padding=1)

    return nn.Sequential(conv(1, 32), nn.ReLU(), nn.MaxPool2d(2), conv(32, 64), nn.ReLU(),
                         nn.MaxPool2d(2), conv(64, 128), nn.ReLU(), conv(128, 64), nn.ReLU(),
                         nn.Upsample(scale_factor=2), conv(64, 32), nn.ReLU(),
                         nn.Upsample(scale_factor=2), conv(32, 1))


def hand_run(kind: str, x, batch: int, epochs: int, channels_last: bool) -> list[float]:
    """Train the hand-written twin; training seconds of each epoch."""
    import torch
    from torch.nn import functional

    torch.manual_seed(0)
    model = hand_model(kind)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    weights = [p for p in model.parameters() if p.dim() > 1]
    gen = torch.Generator().manual_seed(0)
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch):
            xb = x.index_select(0, perm[i:i + batch])
            inp = xb if kind == "fc" else (xb + 0.5 * torch.randn_like(xb)).clamp(0.0, 1.0)
            loss = functional.binary_cross_entropy_with_logits(model(inp), xb)
            if kind == "conv":  # regularize l2(1e-5)
                loss = loss + 1e-5 * sum(w.square().sum() for w in weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        seconds.append(time.perf_counter() - start)
    return seconds


def aespec_run(kind: str, overrides: list[str], epochs: int, fused: bool) -> list[float]:
    import aespec.train
    import aespec.train.optim

    aespec.train.optim.FUSED = fused
    with tempfile.TemporaryDirectory() as tmp:
        result = aespec.train(str(ROOT / MODELS[kind]["spec"]), data=data_for(kind),
                              epochs=epochs, quiet=True, out=Path(tmp) / "run",
                              overrides=overrides)
    return [r["train_seconds"] for r in result.history]


# ---------------------------------------------------------------- one process


def child(job: dict) -> None:
    """Run contestants in turn, `rounds` times; print one JSON object."""
    if job["malloc"]:
        from aespec.train.device import tune_allocator

        assert tune_allocator(), "mallopt failed"
    import numpy as np
    import torch

    import aespec
    from aespec.data import load_data
    from aespec.train.batches import parse_data, to_device

    kind = job["model"]
    spec = aespec.load(ROOT / MODELS[kind]["spec"])
    shape = spec.input.shape
    choice = parse_data(data_for(kind))
    x = to_device(load_data(choice.source, choice.args, shape), spec.train.split,
                  torch.device("cpu")).train.x
    n, batch, epochs = len(x), spec.train.batch, job["epochs"]
    runs = {
        "hand": lambda: hand_run(kind, x, batch, epochs, False),
        "hand_cl": lambda: hand_run(kind, x, batch, epochs, True),
        "parity": lambda: aespec_run(kind, PARITY, epochs, False),
        "fused": lambda: aespec_run(kind, PARITY, epochs, True),
        "cl": lambda: aespec_run(kind, ["train.channels_last=true"], epochs, False),
        "aespec": lambda: aespec_run(kind, [], epochs, True),
        "compiled": lambda: aespec_run(kind, ["train.compile=true"], epochs, True),
    }
    out: dict = {"n": n, "batch": batch, "samples_per_s": {}, "first_epoch_s": {}}
    names = list(job["contestants"])
    for r in range(job["rounds"]):
        for name in names[r % len(names):] + names[:r % len(names)]:  # each leads in turn
            seconds = runs[name]()
            out["samples_per_s"].setdefault(name, []).extend(n / s for s in seconds[1:])
            out["first_epoch_s"].setdefault(name, []).append(seconds[0])
    out["numpy"], out["torch"] = np.__version__, torch.__version__
    print(json.dumps(out))


def spawn(job: dict) -> dict:
    env = {**os.environ, "AESPEC_TUNE_MALLOC": "1" if job["malloc"] else "0",
           "TORCHINDUCTOR_FORCE_DISABLE_CACHES": "1"}  # a true cold start for compile
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(job)], env=env,
                          capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f"bench child failed: {job}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the plan and the report

SETTINGS = {"turns": "in turn, one process, tuned", "alone0": "alone, untuned",
            "alone1": "alone, tuned", "compile": "in turn, tuned"}


def plan(quick: bool, with_compile: bool) -> list[dict]:
    """`turns`: contestants alternate in one process (the ratios); `alone`: one process per
    contestant and allocator setting (what the allocator does to a whole process)."""
    # the dense AE's epochs are short (0.3 s): more rounds steady its figures
    rounds = {"fc": 3 if quick else 6, "conv": 1 if quick else 2}
    jobs = []
    for kind in MODELS:
        cl = ["hand_cl", "cl"] if kind == "conv" else []
        base = {"model": kind, "epochs": MODELS[kind]["epochs"], "rounds": rounds[kind]}
        jobs.append({**base, "setting": "turns", "malloc": True,
                     "contestants": ["hand", "parity", "fused", *cl]})
        for name, malloc in (("hand", 0), ("hand", 1), ("parity", 0), ("parity", 1),
                             ("aespec", 1)):
            jobs.append({**base, "setting": f"alone{malloc}", "malloc": bool(malloc),
                         "contestants": [name]})
        if with_compile:
            jobs.append({**base, "setting": "compile", "malloc": True, "rounds": 1,
                         "epochs": base["epochs"] + 2, "contestants": ["aespec", "compiled"]})
    return jobs


def median(values: list[float]) -> float:
    return statistics.median(values)


def best(res: dict, name: str) -> float:
    return max(res["samples_per_s"][name])


def first(res: dict, name: str) -> float:
    return min(res["first_epoch_s"][name])


def summarize(results: list[dict]) -> dict:
    summary: dict = {}
    for kind in MODELS:
        turns = next(r for r in results if r["model"] == kind and r["setting"] == "turns")

        def alone(name: str, malloc: int, kind: str = kind) -> dict:
            return next(r for r in results if r["model"] == kind and r["contestants"] == [name]
                        and r["setting"] == f"alone{malloc}")

        gain = {"fused optimizer": best(turns, "fused") / best(turns, "parity")}
        if "cl" in turns["samples_per_s"]:
            gain["channels_last"] = best(turns, "cl") / best(turns, "parity")
            gain["channels_last (hand-written)"] = best(turns, "hand_cl") / best(turns, "hand")
        for who, name in (("aespec", "parity"), ("hand-written", "hand")):
            plain, tuned = alone(name, 0), alone(name, 1)
            gain[f"malloc tuning ({who})"] = best(tuned, name) / best(plain, name)
            gain[f"malloc tuning ({who}), first epoch"] = first(plain, name) / first(tuned, name)
        s: dict = {"parity": best(turns, "parity") / best(turns, "hand"),
                   "defaults_vs_plain_hand": best(alone("aespec", 1), "aespec")
                   / best(alone("hand", 0), "hand"),
                   "gain": gain}
        comp = [r for r in results if r["model"] == kind and r["setting"] == "compile"]
        if comp:
            gain["train.compile (steady state)"] = (best(comp[0], "compiled")
                                                    / best(comp[0], "aespec"))
            s["compile_cold_start_s"] = first(comp[0], "compiled") - first(comp[0], "aespec")
        summary[kind] = s
    return summary


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), Python {platform.python_version()}")


def render(results: list[dict], summary: dict, seconds: float) -> str:
    lines = ["# Training throughput", "",
             "Written by `make bench` (`bench/train_throughput.py`); raw figures in "
             "`bench/results.json`.", "",
             f"Machine: {machine()}. Bench time: {seconds:.0f} s.", ""]
    for kind, meta in MODELS.items():
        s = summary[kind]
        n = next(r["n"] for r in results if r["model"] == kind)
        lines += [f"## {meta['title']}", "",
                  f"Data: `{data_for(kind)}`, {n:,} training examples after the validation "
                  f"split; batch {next(r['batch'] for r in results if r['model'] == kind)}.",
                  "",
                  f"- **Parity**, aespec with its speed-ups off / hand-written, in turn in "
                  f"one process: **{s['parity']:.3f}**",
                  f"- **aespec defaults / plain hand-written loop** (each alone in its "
                  f"process, as a user runs them): **{s['defaults_vs_plain_hand']:.2f}x**", "",
                  "| speed-up, measured alone | gain |", "|---|---:|"]
        lines += [f"| {name} | {gain:.2f}x |" for name, gain in s["gain"].items()]
        if "compile_cold_start_s" in s:
            lines.append(f"| train.compile cold start | +{s['compile_cold_start_s']:.1f} s |")
        lines += ["", "| contestant | how timed | samples/s (fastest epoch) | median | "
                      "first epoch (s) |", "|---|---|---:|---:|---:|"]
        for r in results:
            if r["model"] != kind:
                continue
            for name, rates in r["samples_per_s"].items():
                lines.append(f"| {CONTESTANTS[name]} | {SETTINGS[r['setting']]} | "
                             f"{max(rates):,.0f} | {median(rates):,.0f} | "
                             f"{first(r, name):.2f} |")
        lines.append("")
    return "\n".join(lines + NOTES)


NOTES = [
    "## How to read this", "",
    "- *Parity* is the framework's own cost: aespec with its speed-ups off (no fused "
    "optimizer, no channels_last) against the hand-written twin, in turn in one process "
    "with the allocator tuned for both. The goal is 0.95 or more.",
    "- Each speed-up is measured alone against aespec with all of them off; the allocator "
    "tuning compares two processes, one tuned and one not, each timed alone.",
    "- *aespec defaults* is what `aespec run` does: tuned allocator, fused optimizer, "
    "channels_last on conv models on CPU, no `torch.compile`.",
    "- `train.compile` stays off by default: it pays only where its steady-state gain over "
    "a run's length outweighs its cold start, both measured above.",
    "- The machine may be shared: the fastest epoch is the figure least disturbed by other "
    "load; a median far below it means the run was disturbed.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="fewer rounds, no compile")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--out", default=str(ROOT / "bench"), help="folder for the results")
    parser.add_argument("--render", action="store_true",
                        help="rewrite RESULTS.md from results.json, without measuring")
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    out = Path(args.out)
    if args.render:
        saved = json.loads((out / "results.json").read_text())
        results, seconds = saved["results"], saved["seconds"]
    else:
        start = time.perf_counter()
        results = []
        for job in plan(args.quick, not (args.quick or args.no_compile)):
            print(f"{job['model']:>4} {job['setting']:<8} {', '.join(job['contestants'])}",
                  flush=True)
            results.append({**job, **spawn(job)})
        seconds = time.perf_counter() - start
    summary = summarize(results)
    (out / "results.json").write_text(json.dumps(
        {"machine": machine(), "seconds": seconds, "results": results, "summary": summary},
        indent=2) + "\n")
    text = render(results, summary, seconds)
    (out / "RESULTS.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
