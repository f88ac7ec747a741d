"""Whole runs on CPU: `aespec run SPEC` against the script a user would have written.

    python bench/whole_run.py [--rounds 3] [--epochs 3]

The script (`hand_script` below, run as its own process) loads the data, trains, validates
each epoch, tests, saves a checkpoint and, where the spec has a `report` block, draws the
same figure. Each round runs, as whole processes in turn: the script, `aespec run` with
its speed-ups off (no allocator tuning, no fused optimizer, no channels_last; its
optimizer is still built without torch._dynamo's import, which is measured apart, in
pairs) and `aespec run` with its defaults, for the dense AE (specs/mirror_fc.ae on
Fashion-MNIST, batch 256) and the conv denoiser (specs/denoising_conv.ae on digits resized
to 28x28). Each process's wall, user and system seconds and peak memory come from
`os.wait4`; figures are medians with min and max over the rounds, ratios pair by pair. One
more process of each, instrumented, says where its seconds go, and a last one measures the
machine's GEMM ceiling for the dense AE (its matrix products alone, forward and backward,
at batch 256).
Writes bench/WHOLE_RUN.md and bench/whole_run.json.
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

T0 = time.perf_counter()  # the child's clock starts before its imports
ROOT = Path(__file__).resolve().parents[1]
FASHION = Path("/usr/share/datasets/fashion-mnist")
MODELS = {
    "fc": {"spec": "specs/mirror_fc.ae", "title": "dense AE (mirror_fc.ae, Fashion-MNIST)"},
    "conv": {"spec": "specs/denoising_conv.ae",
             "title": "conv denoiser (denoising_conv.ae, digits 28x28)"},
}
OFF = {"AESPEC_TUNE_MALLOC": "0", "AESPEC_FUSED": "0"}  # with train.channels_last=false
PHASES = ("import", "data", "build", "epochs", "test", "checkpoint", "report")


# ---------------------------------------------------------------- the hand-written script


def hand_script(kind: str, epochs: int, out: Path) -> dict[str, float]:
    """What a careful user writes: the phases' seconds, measured as it goes."""
    marks = {"start": T0}
    import gzip  # noqa: F401  (the readers below)

    import numpy as np
    import torch
    from torch import nn
    from torch.nn import functional

    marks["import"] = time.perf_counter()
    x_train, x_test = (_fashion() if kind == "fc" else _digits28())
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x_train))
    n_val = len(x_train) // 10
    x = torch.from_numpy(x_train[np.sort(order[n_val:])])
    x_val = torch.from_numpy(x_train[np.sort(order[:n_val])])
    x_te = torch.from_numpy(x_test)
    if kind == "fc":
        x, x_val, x_te = (t.reshape(len(t), 784) for t in (x, x_val, x_te))
    marks["data"] = time.perf_counter()
    torch.manual_seed(0)
    model = _hand_model(kind, nn)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    weights = [p for p in model.parameters() if p.dim() > 1]
    batch = 256 if kind == "fc" else 128
    marks["build"] = time.perf_counter()

    def noisy(xb):
        return xb if kind == "fc" else (xb + 0.5 * torch.randn_like(xb)).clamp(0.0, 1.0)

    def loss_of(xb):
        loss = functional.binary_cross_entropy_with_logits(model(noisy(xb)), xb)
        if kind == "conv":  # regularize l2(1e-5)
            loss = loss + 1e-5 * sum(w.square().sum() for w in weights)
        return loss

    def mean_loss(data):
        model.eval()
        with torch.no_grad():
            total = sum(functional.binary_cross_entropy_with_logits(
                model(noisy(data[i:i + 1024])), data[i:i + 1024], reduction="sum").item()
                for i in range(0, len(data), 1024))
        model.train()
        return total / data.numel()

    gen = torch.Generator().manual_seed(0)
    best, best_state = float("inf"), None
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch):
            xb = x.index_select(0, perm[i:i + batch])
            opt.zero_grad(set_to_none=True)
            loss_of(xb).backward()
            opt.step()
        val = mean_loss(x_val)
        if val < best:
            best, best_state = val, {k: v.clone() for k, v in model.state_dict().items()}
    marks["epochs"] = time.perf_counter()
    model.load_state_dict(best_state)
    test_loss = mean_loss(x_te)
    marks["test"] = time.perf_counter()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()},
               out / "checkpoint.pt")
    marks["checkpoint"] = time.perf_counter()
    if kind == "conv":  # the spec's report block: reconstructions(n=16)
        _hand_figure(model, x_te[:16], noisy, out / "reconstructions.png")
    marks["report"] = time.perf_counter()
    return {**_phase_seconds(marks), "test_loss": test_loss}


def _fashion():
    """Fashion-MNIST's IDX files as float32 in [0, 1]: (60000, 1, 28, 28), (10000, ...)."""
    import gzip

    import numpy as np

    def read(name):
        with gzip.open(FASHION / f"{name}-images-idx3-ubyte.gz", "rb") as fh:
            return np.frombuffer(fh.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)

    return tuple(read(n).astype(np.float32) / np.float32(255) for n in ("train", "t10k"))


def _digits28():
    """scikit-learn's digits resized to 28x28 (bilinear), the last fifth the test set."""
    import numpy as np
    import torch
    from sklearn.datasets import load_digits
    from torch.nn import functional

    images = torch.from_numpy(load_digits().images[:, None] / 16.0).float()
    x = functional.interpolate(images, size=28, mode="bilinear", align_corners=False).numpy()
    order = np.random.default_rng(0).permutation(len(x))
    n_train = 4 * len(x) // 5
    return x[order[:n_train]], x[order[n_train:]]


def _hand_model(kind: str, nn):
    if kind == "fc":  # sigmoid folded into the loss, as aespec's bce does
        return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                             nn.Linear(256, 32), nn.Linear(32, 256), nn.ReLU(),
                             nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 784))

    def conv(i: int, o: int):
        return nn.Conv2d(i, o, 3, padding=1)

    return nn.Sequential(conv(1, 32), nn.ReLU(), nn.MaxPool2d(2), conv(32, 64), nn.ReLU(),
                         nn.MaxPool2d(2), conv(64, 128), nn.ReLU(), conv(128, 64), nn.ReLU(),
                         nn.Upsample(scale_factor=2), conv(64, 32), nn.ReLU(),
                         nn.Upsample(scale_factor=2), conv(32, 1))


def _hand_figure(model, x, noisy, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    with torch.no_grad():
        inp = noisy(x)
        rec = torch.sigmoid(model(inp))
    fig, axes = plt.subplots(2, len(x), figsize=(len(x), 2.2))
    for i in range(len(x)):
        for row, img in ((0, inp[i]), (1, rec[i])):
            axes[row, i].imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=1)
            axes[row, i].axis("off")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _phase_seconds(marks: dict[str, float]) -> dict[str, float]:
    out, last = {}, marks["start"]
    for name in PHASES:
        if name in marks:
            out[name] = marks[name] - last
            last = marks[name]
    out["inside"] = last - marks["start"]
    return out


# ---------------------------------------------------------------- aespec, instrumented


def aespec_phases(kind: str, epochs: int, out: Path, off: bool, precision: str | None = None
                  ) -> dict[str, float]:
    """`aespec run` through its real entry point, with timers around each phase."""
    marks = {"start": T0}
    import aespec.cli.run  # noqa: F401  (what `aespec run` imports before it starts)
    from aespec.train import batches, finish, loop, start

    marks["import"] = time.perf_counter()
    spent = {name: 0.0 for name in PHASES[1:]}

    def timed(owner, attr: str, phase: str) -> None:
        inner = getattr(owner, attr)

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                spent[phase] += time.perf_counter() - start

        setattr(owner, attr, wrapper)

    timed(batches, "load", "data")
    timed(batches, "to_device", "data")
    timed(start, "place_model", "build")
    timed(loop.Trainer, "fit", "epochs")
    timed(loop.Trainer, "_write", "checkpoint")  # inside fit: taken out of epochs below
    timed(finish, "evaluate", "test")
    timed(finish, "_write_report", "report")
    argv = ["run", str(ROOT / MODELS[kind]["spec"]), "--epochs", str(epochs), "--quiet",
            "--out", str(out / "run"), *(["--set", "train.channels_last=false"] * off),
            *(["--set", f"train.precision={precision}"] * bool(precision))]
    sys.argv = ["aespec", *argv]
    from aespec.cli import main

    try:
        main()
    except SystemExit as stop:
        assert not stop.code, f"aespec run failed: {stop.code}"
    end = time.perf_counter()
    history = [json.loads(line) for line in (out / "run" / "metrics.jsonl").read_text(
        ).splitlines() if line.strip()]
    spent["epochs"] -= spent["checkpoint"]  # the writes at epoch ends, counted apart
    result = {"import": marks["import"] - T0, **spent}
    result["other"] = (end - marks["import"]) - sum(spent.values())  # check, run dir, ...
    result["inside"] = end - T0
    result["samples_per_s"] = [h["samples_per_s"] for h in history]  # training, by epoch
    info = json.loads((out / "run" / "run.json").read_text())
    result["test_loss"] = info["test"]["loss"]
    result["precision"] = info.get("precision", "fp32")
    return result


# ---------------------------------------------------------------- the GEMM ceiling


def gemm_ceiling(batch: int = 256, repeats: int = 30, dtype: str = "fp32") -> dict[str, float]:
    """Samples/s of the dense AE's matrix products alone: forward X W^T, backward dY^T X
    for each of its six layers and dY W for all but the first (autograd computes no
    gradient for the input), best of `repeats` passes. Also the best time of one fused
    Adam step over the model's parameters alone: what an eager step cannot go below is
    the products plus that step. `dtype` bf16: the same products in bf16 (the CPU's matrix
    engine, where it has one), the Adam step still fp32 (autocast keeps fp32 weights)."""
    import torch

    kind = torch.bfloat16 if dtype == "bf16" else torch.float32

    sizes = [(784, 512), (512, 256), (256, 32), (32, 256), (256, 512), (512, 784)]
    mats = [(torch.rand(batch, i, dtype=kind), torch.rand(o, i, dtype=kind),
             torch.rand(batch, o, dtype=kind)) for i, o in sizes]
    flops = sum(2 * batch * i * o * (3 if k else 2) for k, (i, o) in enumerate(sizes))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for k, (x, w, dy) in enumerate(mats):
            torch.mm(x, w.t())
            if k:
                torch.mm(dy, w)
            torch.mm(dy.t(), x)
        best = min(best, time.perf_counter() - start)
    params = [t for i, o in sizes for t in (torch.rand(o, i), torch.rand(o))]
    for p in params:
        p.grad = torch.rand_like(p)
    opt = torch.optim.Adam(params, lr=1e-3, fused=True)
    adam = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        opt.step()
        adam = min(adam, time.perf_counter() - start)
    return {"dtype": dtype, "samples_per_s": batch / best, "gflops": flops / best / 1e9,
            "threads": torch.get_num_threads(), "gemm_ms": best * 1e3, "adam_ms": adam * 1e3,
            "floor_samples_per_s": batch / (best + adam)}


# ---------------------------------------------------------------- the parent


def _popen_wait4(cmd: list[str], env: dict | None, inherit: bool = True) -> dict:
    """One whole process: wall, user and sys seconds and peak RSS (MiB) from os.wait4
    (its output goes to files, so that wait4, not the pipes' reader, reaps it). `env` adds
    to this process's environment, or is the whole of it where `inherit` is False."""
    with tempfile.TemporaryFile() as fout, tempfile.TemporaryFile() as ferr:
        start = time.perf_counter()
        base = os.environ if inherit else {}
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**base, **(env or {})}, stdout=fout,
                                stderr=ferr)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        fout.seek(0)
        ferr.seek(0)
        out, err = fout.read().decode(), ferr.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    return {"wall": wall, "user": usage.ru_utime, "sys": usage.ru_stime,
            "rss_mib": usage.ru_maxrss / 1024, "stdout": out}


def jobs(kind: str, epochs: int, tmp: Path) -> dict[str, tuple[dict, dict]]:
    """The three contestants of a model: (child job, environment)."""
    base = {"kind": kind, "epochs": epochs}
    return {"hand": ({**base, "what": "hand", "out": str(tmp / "hand")}, {}),
            "off": ({**base, "what": "phases", "out": str(tmp / "off"), "off": True,
                     "precision": "fp32"}, OFF),
            "fp32": ({**base, "what": "phases", "out": str(tmp / "fp32"), "off": False,
                      "precision": "fp32"}, {}),
            "aespec": ({**base, "what": "phases", "out": str(tmp / "aespec"), "off": False},
                       {})}


def measure(rounds: int, epochs: int) -> dict:
    """`rounds` rounds, the three contestants in turn in each, every one a whole process that
    also reports where its seconds went (aespec through its own entry point, `aespec run`,
    with timers wrapped around its phases)."""
    import shutil

    results: dict = {"rounds": rounds, "epochs": epochs, "models": {}}
    env = {"OMP_NUM_THREADS": os.environ["OMP_NUM_THREADS"]} if os.environ.get(
        "OMP_NUM_THREADS") else {}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        # as after a first run: the OS's file cache warm, aespec's decoded-IDX cache filled
        subprocess.run([sys.executable, "-c", "from aespec.data import load_data; "
                        "load_data('fashion_mnist', {}, (784,))"], cwd=ROOT, check=True)
        for kind in MODELS:
            runs: dict[str, list[dict]] = {name: [] for name in TITLES}
            for r in range(rounds):
                for name, (job, extra) in jobs(kind, epochs, tmp).items():
                    shutil.rmtree(job["out"], ignore_errors=True)
                    Path(job["out"]).mkdir(parents=True)
                    got = _popen_wait4([sys.executable, __file__, "--child", json.dumps(job)],
                                       {**env, **extra})
                    got["phases"] = json.loads(got.pop("stdout").strip().splitlines()[-1])
                    runs[name].append(got)
                    print(f"{kind} round {r} {name:6s} wall {got['wall']:.2f} s "
                          f"user {got['user']:.2f} sys {got['sys']:.2f} "
                          f"rss {got['rss_mib']:.0f} MiB", flush=True)
            results["models"][kind] = runs
        for dtype in ("fp32", "bf16"):
            got = _popen_wait4([sys.executable, __file__, "--child", json.dumps(
                {"what": "ceiling", "dtype": dtype})], env)
            results["ceiling" if dtype == "fp32" else "ceiling_bf16"] = json.loads(
                got["stdout"].strip().splitlines()[-1])
        results["light"] = light_pairs(rounds, tmp, env)
    return results


def light_pairs(rounds: int, tmp: Path, env: dict) -> list[dict]:
    """`aespec run` of the dense AE for one epoch, with its optimizer built as torch.optim
    builds it (AESPEC_LIGHT_OPTIM=0: torch._dynamo imported at the first step) and as
    aespec builds it, in turn: what not importing torch._dynamo gives alone."""
    import shutil

    pairs = []
    for r in range(rounds):
        pair = {}
        for name, extra in (("torch", {"AESPEC_LIGHT_OPTIM": "0"}), ("light", {})):
            out = tmp / f"light-{name}"
            shutil.rmtree(out, ignore_errors=True)
            pair[name] = _popen_wait4([sys.executable, "-m", "aespec", "run",
                                       MODELS["fc"]["spec"], "--epochs", "1", "--quiet",
                                       "--out", str(out)], {**env, **extra})
            pair[name].pop("stdout")
        print(f"light round {r}: torch.optim {pair['torch']['wall']:.2f} s, "
              f"aespec's {pair['light']['wall']:.2f} s", flush=True)
        pairs.append(pair)
    return pairs


# ---------------------------------------------------------------- the report


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what platform knows: every bench page's."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _engine_text() -> str:
    flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text(
        ).splitlines() if line.startswith("flags")), []) if Path("/proc/cpuinfo").exists() else []
    have = [f for f in ("amx_bf16", "avx512_bf16") if f in flags]
    return "CPU flags " + ", ".join(have) if have else "no bf16 engine flag: emulated"


def _test_losses(runs: list[dict]) -> str:
    """The runs' test losses, median (min to max), with the precision aespec ran in."""
    losses = [r["phases"]["test_loss"] for r in runs if "test_loss" in r.get("phases", {})]
    if not losses:
        return "-"
    precision = runs[0]["phases"].get("precision")
    return _spread(losses, ".4f") + (f" ({precision})" if precision else "")


def _med(values: list[float]) -> float:
    return statistics.median(values)


def _spread(values: list[float], fmt: str = ".2f") -> str:
    return f"{_med(values):{fmt}} ({min(values):{fmt}} to {max(values):{fmt}})"


def render(res: dict, seconds: float) -> str:
    import torch

    lines = ["# Whole runs on CPU: `aespec run` against a hand-written script", "",
             f"Written by `bench/whole_run.py` in {seconds:.0f} s; raw figures in "
             "`bench/whole_run.json`. Machine: "
             f"{cpu_model()}, {os.cpu_count()} CPUs (shared: "
             f"load average {os.getloadavg()[1]:.1f}), torch {torch.__version__}, Python "
             f"{platform.python_version()}. {res['epochs']} epochs, {res['rounds']} rounds; "
             "in each round the script, aespec with its speed-ups off (fp32), aespec's defaults "
             "in fp32 and aespec's defaults as they come (`precision auto`: bf16 autocast "
             "on a CPU with a bf16 matrix engine) run in turn, each a whole process "
             "(start-up, data, training with validation "
             "each epoch, test, checkpoint, report figures, exit). *wall ratio* = the "
             "script's wall time / aespec's, pair by pair (above 1: aespec is faster); *cpu "
             "ratio* the same of user + system seconds, which other load on a shared machine "
             "disturbs less; median (min to max). Before the rounds, one load of the data "
             "fills the OS's file cache and "
             "aespec's cache of decoded IDX arrays, as any earlier run would have (a user's "
             "first run decodes the gzip files once more, about as long as the script's "
             "load).", ""]
    for kind, meta in MODELS.items():
        runs = res["models"][kind]
        lines += [f"## {meta['title']}", "",
                  "| | wall s | user s | sys s | peak RSS MiB | wall ratio (script / this) | "
                  "cpu ratio | RSS / script's | test loss |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, title in TITLES.items():
            rs = runs[name]
            ratio = [h["wall"] / a["wall"] for h, a in zip(runs["hand"], rs, strict=True)]
            mem = [a["rss_mib"] / h["rss_mib"] for h, a in zip(runs["hand"], rs, strict=True)]
            cpu = [(h["user"] + h["sys"]) / (a["user"] + a["sys"])
                   for h, a in zip(runs["hand"], rs, strict=True)]
            lines.append(
                f"| {title} | {_spread([r['wall'] for r in rs])} | "
                f"{_spread([r['user'] for r in rs])} | {_spread([r['sys'] for r in rs])} | "
                f"{_spread([r['rss_mib'] for r in rs], '.0f')} | "
                f"{'-' if name == 'hand' else _spread(ratio)} | "
                f"{'-' if name == 'hand' else _spread(cpu)} | "
                f"{'-' if name == 'hand' else _spread(mem)} | "
                f"{_test_losses(rs)} |")
        lines += ["", "Where the seconds go, median over the rounds (*other*: aespec's check "
                      "of the spec, run directory and metrics files; *start-up and exit*: the "
                      "process's wall time less what it measured inside, from its first "
                      "line):", "",
                  "| phase | " + " | ".join(TITLES.values()) + " |",
                  "|---|" + "---:|" * len(TITLES)]
        for phase in [*PHASES, "other"]:
            cells = [[r["phases"][phase] for r in runs[w] if phase in r["phases"]]
                     for w in TITLES]
            if not any(cells):
                continue
            lines.append(f"| {phase} | " + " | ".join(
                f"{_med(c):.2f}" if c else "-" for c in cells) + " |")
        lines.append("| start-up and exit | " + " | ".join(
            f"{_med([r['wall'] - r['phases']['inside'] for r in runs[w]]):.2f}"
            for w in TITLES) + " |")
        lines.append("| **whole process** | " + " | ".join(
            f"**{_med([r['wall'] for r in runs[w]]):.2f}**" for w in TITLES) + " |")
        lines.append("")
    c = res["ceiling"]
    fc = res["models"]["fc"]
    lines += ["## The dense AE's epochs against the machine's GEMM ceiling", "",
              f"The dense AE's matrix products alone (forward, and both products of backward, "
              f"for its six layers at batch 256; {c['threads']} threads) run at "
              f"{c['gflops']:.1f} GFLOP/s in fp32: a ceiling of **{c['samples_per_s']:,.0f} "
              "samples/s**.", ""]
    b = res.get("ceiling_bf16")
    if b:
        lines += [f"The same products in bf16 (the CPU's matrix engine; "
                  f"{_engine_text()}) run at {b['gflops']:.1f} GFLOP/s, "
                  f"{b['gflops'] / c['gflops']:.2f}x fp32: a ceiling of "
                  f"**{b['samples_per_s']:,.0f} samples/s**, the machine's real limit for "
                  "this model. A run in bf16 autocast is measured against it, a run in fp32 "
                  "against the fp32 one.", ""]
    lines += ["Training samples/s of aespec's epochs (every epoch of every round), median "
              "(min to max):", ""]
    for name in ("aespec", "fp32", "off"):
        if name not in fc:
            continue
        bf16 = fc[name][0]["phases"].get("precision") == "bf16"
        ceiling = b if bf16 and b else c
        rates = [x for r in fc[name] for x in r["phases"]["samples_per_s"]]
        share = [x / ceiling["samples_per_s"] for x in rates]
        lines.append(f"- {TITLES[name]}: {_spread(rates, ',.0f')} samples/s, "
                     f"**{_med(share):.0%}** ({min(share):.0%} to {max(share):.0%}) of the "
                     f"{'bf16' if ceiling is b else 'fp32'} ceiling")
    if "adam_ms" in c:
        lines += ["", f"A step's products take {c['gemm_ms']:.1f} ms at best; one fused Adam "
                  f"step over the model's 1.08 M parameters alone takes {c['adam_ms']:.1f} ms "
                  "at best (it reads and writes every parameter and both moments: memory "
                  f"bound). The two alone allow {c['floor_samples_per_s']:,.0f} samples/s, "
                  f"**{c['floor_samples_per_s'] / c['samples_per_s']:.0%}** of the ceiling, "
                  "before any activation, bias, loss or autograd work.", "",
                  "The ceiling and the epochs above run in different processes, minutes "
                  "apart, on a machine whose speed drifts; `bench/eager_floor.py` "
                  "(`bench/EAGER_FLOOR.md`) times the step against its products in one "
                  "process, in turn, with the script's step and the tightest step written "
                  "by hand (no autograd) beside it."]
    lines.append("")
    if res.get("light"):
        pairs = res["light"]
        ratio = [p["torch"]["wall"] / p["light"]["wall"] for p in pairs]
        saved = [p["torch"]["wall"] - p["light"]["wall"] for p in pairs]
        lines += ["## What not importing torch._dynamo gives", "",
                  "torch.optim's optimizers import torch._dynamo at their first step, about "
                  "1.8 s here; aespec builds the same classes less those wrappers "
                  "(`aespec.train.optim.light`: the same steps and state, bit for bit, tested). "
                  "Both rows above have it. Alone, `aespec run specs/mirror_fc.ae --epochs 1` "
                  f"in turn with `AESPEC_LIGHT_OPTIM=0` (torch.optim as it is) and without, "
                  f"{len(pairs)} pairs: the torch.optim run took **{_spread(ratio)}x** the wall "
                  f"time, {_spread(saved)} s more.", ""]
    return "\n".join(lines + NOTES)


NOTES = [
    "## Notes", "",
    "- The machine is shared: the load average when measured is in the first line; wall "
    "times move with it, so read the cpu ratios and the pairs as well as the seconds.",
    "- What the decoded-IDX cache gives alone (`aespec run specs/mirror_fc.ae --epochs 1`, "
    "3 pairs in turn, cache on against `AESPEC_CACHE_DIR=`): the run without it took 1.17x "
    "the wall time (1.03 to 1.20) and 1.16x the cpu time (1.07 to 1.17), about 1.5 s.",
    "- Before aespec stopped importing torch._dynamo, importing it in a background thread "
    "while the data loaded was tried and measured alone: it gave nothing (1.005x wall, 0.92 "
    "to 1.02).",
    "",
]


TITLES = {"hand": "hand-written script", "off": "aespec, speed-ups off (fp32)",
          "fp32": "aespec defaults, precision fp32", "aespec": "aespec defaults (precision auto)"}


def child(job: dict) -> None:
    if job["what"] == "hand":
        print(json.dumps(hand_script(job["kind"], job["epochs"], Path(job["out"]))))
    elif job["what"] == "phases":
        print(json.dumps(aespec_phases(job["kind"], job["epochs"], Path(job["out"]),
                                       job["off"], job.get("precision"))))
    else:
        print(json.dumps(gemm_ceiling(dtype=job.get("dtype", "fp32"))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--render", action="store_true", help="rewrite the page from the json")
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    if args.render:
        saved = json.loads((ROOT / "bench" / "whole_run.json").read_text())
        res, seconds = saved, saved["seconds"]
    else:
        start = time.perf_counter()
        res = measure(args.rounds, args.epochs)
        seconds = res["seconds"] = time.perf_counter() - start
        (ROOT / "bench" / "whole_run.json").write_text(json.dumps(res, indent=1) + "\n")
    text = render(res, seconds)
    (ROOT / "bench" / "WHOLE_RUN.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
