"""aespec against the frameworks a user would pick instead: Keras 3 (torch backend),
PyTorch Lightning and pythae, whole processes, at equal test loss.

    make peers-venv        # once: bench/.venv-peers, the peers and aespec, torch pinned
    bench/.venv-peers/bin/python bench/peers.py [--rounds 3] [--epochs 3] [--threads 2]
        [--systems aespec,keras,lightning,pythae] [--workloads fc,vae,conv] [--quick]

Three workloads: the dense AE (specs/mirror_fc.ae) and the FC-VAE (specs/vae_fc.ae) on
Fashion-MNIST, and the conv denoiser (specs/denoising_conv.ae) on scikit-learn's digits
resized to 28x28 (the spec's `data digits(size=28)`). Every system trains the spec's
architecture with its loss, Adam at lr 1e-3, its batch, the same epochs, on the same
training and validation split (aespec's) and test set; each is written as its own docs
teach (bench/peers_run.py). In each round, for each workload, the systems run in turn,
each a whole process (start-up, data, training with validation each epoch, test, exit);
wall, user and sys seconds and peak RSS come from os.wait4. Each run logs its validation
loss at every epoch's end with the seconds since its process started, so the page gives
the loss after N epochs and the time to reach a target validation loss (by default the
highest final validation loss of any system: the loss every system reaches).
--quick trains on 2,000 Fashion-MNIST images for one epoch, one round, and writes its
page under runs/peers-quick/ (a smoke test, not figures).
Writes bench/PEERS.md and bench/peers.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from whole_run import _med, _popen_wait4, cpu_model  # noqa: E402  (the house's whole-process measure)

ROOT = Path(__file__).resolve().parents[1]
VENV_PYTHON = ROOT / "bench" / ".venv-peers" / "bin" / "python"
CHILD = ROOT / "bench" / "peers_run.py"
SYSTEMS = {"aespec": "aespec", "aespec_fp32": "aespec, precision fp32",
           "keras": "Keras 3 (torch backend)",
           "lightning": "PyTorch Lightning", "pythae": "pythae"}
WORKLOADS = {
    "fc": "dense AE (mirror_fc.ae, Fashion-MNIST, batch 256)",
    "vae": "FC-VAE (vae_fc.ae, Fashion-MNIST, batch 128)",
    "conv": "conv denoiser (denoising_conv.ae, digits 28x28, batch 128)",
}
# the loss each workload's figures are in: aespec's reduction of the spec's loss
UNITS = {
    "fc": "bce, mean over the 784 pixels and the examples (nats per pixel)",
    "vae": "negative ELBO: bce summed over the 784 pixels plus the KL, mean over the "
           "examples (nats per example), evaluated at z = mu",
    "conv": "bce, mean over the pixels and the examples, plus 1e-5 x the sum of squared "
            "kernel weights; the test set's inputs corrupted by one fixed draw of the "
            "spec's noise (the same tensors for every system), validation on clean inputs",
}
PIXELS = 784
PACKAGES = ("torch", "keras", "lightning", "pythae", "numpy", "scikit-learn", "pydantic",
            "aespec")
QUICK_LIMIT = 2000


# ---------------------------------------------------------------- the numbers


def per_pixel(nats_per_example: float, pixels: int = PIXELS) -> float:
    """A summed loss (nats per example) as nats per pixel, to set beside a mean loss."""
    return nats_per_example / pixels


def time_to_target(epochs: list[dict], target: float) -> float | None:
    """Seconds from the process's start to the first epoch end whose validation loss is at
    or below `target`; None where no epoch reaches it."""
    return next((e["t"] for e in epochs if e["val"] <= target), None)


def final_val(run: dict) -> float:
    return run["epochs"][-1]["val"]


def default_target(runs: dict[str, list[dict]]) -> float:
    """The highest of the systems' median final validation losses: every system's median
    run reaches it, so the time to reach it compares equal quality."""
    return max(_med([final_val(r) for r in rs]) for rs in runs.values() if rs)


def epoch_seconds(epochs: list[dict]) -> list[float]:
    """The seconds between consecutive epoch ends (the first epoch's start is not logged)."""
    return [b["t"] - a["t"] for a, b in zip(epochs, epochs[1:], strict=False)]


def spread(values: list[float], fmt: str = ".2f") -> str:
    if not values:
        return "-"
    return f"{_med(values):{fmt}} ({min(values):{fmt}}..{max(values):{fmt}})"


def loss_fmt(workload: str) -> str:
    return ".2f" if workload == "vae" else ".4f"


# ---------------------------------------------------------------- the page


def workload_table(workload: str, runs: dict[str, list[dict]], target: float) -> list[str]:
    """One table: a row per system, medians (min..max) over the rounds."""
    fmt = loss_fmt(workload)
    base = runs.get("aespec")
    lines = ["| system | wall s | user s | sys s | peak RSS MiB | test loss | final val loss | "
             f"time to val {target:{fmt}}, s | first epoch ends, s | later epochs, s each | "
             "wall / aespec's |", "|---|" + "---:|" * 10]
    for system, rs in runs.items():
        if not rs:
            continue
        reached = [t for r in rs if (t := time_to_target(r["epochs"], target)) is not None]
        hit = spread(reached) + ("" if len(reached) == len(rs) else
                                 f" ({len(reached)} of {len(rs)} runs)")
        later = [s for r in rs for s in epoch_seconds(r["epochs"])]
        ratio = "-" if system == "aespec" or not base else spread(
            [r["wall"] / a["wall"] for r, a in zip(rs, base, strict=False)])
        lines.append(
            f"| {SYSTEMS[system]} | {spread([r['wall'] for r in rs])} | "
            f"{spread([r['user'] for r in rs])} | {spread([r['sys'] for r in rs])} | "
            f"{spread([r['rss_mib'] for r in rs], '.0f')} | "
            f"{spread([r['test'] for r in rs], fmt)} | "
            f"{spread([final_val(r) for r in rs], fmt)} | {hit} | "
            f"{spread([r['epochs'][0]['t'] for r in rs])} | {spread(later)} | {ratio} |")
    return lines


def seconds_table(runs: dict[str, list[dict]]) -> list[str]:
    """Where each system's seconds go, medians: before its training call (imports, data,
    model), its epochs with their validation, and its test and exit."""
    lines = ["| system | start-up, data and model | training with validation | "
             "test and exit | whole process |", "|---|---:|---:|---:|---:|"]
    for system, rs in runs.items():
        if not rs:
            continue
        parts = [[r["ready"] for r in rs], [r["epochs"][-1]["t"] - r["ready"] for r in rs],
                 [r["wall"] - r["epochs"][-1]["t"] for r in rs], [r["wall"] for r in rs]]
        lines.append(f"| {SYSTEMS[system]} | " + " | ".join(
            f"{_med(p):.2f}" for p in parts) + " |")
    return lines


def val_curves(workload: str, runs: dict[str, list[dict]]) -> list[str]:
    """Each system's median validation loss after each epoch."""
    fmt = loss_fmt(workload)
    n = max((len(r["epochs"]) for rs in runs.values() for r in rs), default=0)
    lines = ["| epoch | " + " | ".join(SYSTEMS[s] for s in runs if runs[s]) + " |",
             "|---|" + "---:|" * sum(1 for s in runs if runs[s])]
    for k in range(n):
        cells = [spread([r["epochs"][k]["val"] for r in rs if len(r["epochs"]) > k], fmt)
                 for rs in runs.values() if rs]
        lines.append(f"| {k + 1} | " + " | ".join(cells) + " |")
    return lines


def render(res: dict) -> str:
    m = res["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in res["versions"].items())
    lines = [
        "# aespec against Keras 3, PyTorch Lightning and pythae: whole runs at equal loss", "",
        f"Written by `bench/peers.py` in {res['seconds']:.0f} s; raw figures in "
        f"`{res['json']}`. Command: `{res['command']}`.", "",
        f"Machine: {m['cpu']}, {m['cpus']} CPUs; load average {m['load_before']} before the "
        f"runs, {m['load_after']} after. Python {m['python']}; {versions}; Keras on its "
        f"torch backend. {res['threads']} torch thread(s) per process (OMP_NUM_THREADS, "
        f"MKL_NUM_THREADS); {res['epochs']} epochs; {res['rounds']} round(s)"
        + (f"; --quick: the first {res['limit']} Fashion-MNIST training and test images"
           if res.get("limit") else "") + ".", "",
        "In each round, for each workload, the systems run in turn, each a whole process: "
        "start-up, data, training with validation at each epoch's end, the test loss, exit. "
        "Figures are medians (min..max) over the rounds. *time to val X*: seconds from the "
        "process's start to the end of the first epoch whose validation loss is at or below "
        "X, by default the highest of the systems' median final validation losses (a loss "
        "every system reaches); *wall / aespec's*: pair by pair in a round, above 1 means "
        "aespec is faster. Every system trains on the same 90% of the training images and "
        "validates on the same 10% (aespec's fixed split), and reports its test loss on the "
        "same test set in the same units (below).", ""]
    for workload, runs in res["workloads"].items():
        target = res["targets"][workload]
        lines += [f"## {WORKLOADS[workload]}", "", f"Loss: {UNITS[workload]}.", "",
                  *workload_table(workload, runs, target), "",
                  "Where the seconds go (medians, s; the training call's start is stamped "
                  "in each run):", "", *seconds_table(runs), "",
                  "Validation loss after each epoch:", "", *val_curves(workload, runs), ""]
        if workload == "vae":
            tests = {s: _med([r["test"] for r in rs]) for s, rs in runs.items() if rs}
            lines += ["The same test losses per pixel (/784): " + ", ".join(
                f"{SYSTEMS[s]} {per_pixel(v):.4f}" for s, v in tests.items()) + ".", ""]
        probes = [r.get("probe_s", 0.0) for r in runs.get("pythae", [])]
        if probes and max(probes) > 0:
            lines += [f"pythae's validation in these units is measured by a callback "
                      f"({spread(probes)} s a run, taken out of its epoch times but not out "
                      "of its whole-process seconds).", ""]
    return "\n".join(lines + NOTES)


NOTES = [
    "## How each system is written, and its loss in aespec's units", "",
    "- **aespec**: `aespec run SPEC --epochs N --quiet --no-report` (no figures: no peer "
    "draws any); its metrics are its own (validation and test loss, the best validation "
    "epoch's weights tested). Each epoch's end is time-stamped by wrapping the trainer's "
    "`end_epoch`.",
    "- **Keras 3**: `KERAS_BACKEND=torch`. The dense AE and the denoiser are `Sequential` "
    "models with `compile(Adam(1e-3), 'binary_crossentropy')` and `model.fit(x, x, "
    "validation_data=...)`; Keras's defaults stay (Glorot-uniform kernels, zero biases, "
    "Adam's epsilon 1e-7). Its bce is the mean over the pixels, as aespec's; it clips "
    "probabilities to [1e-7, 1 - 1e-7] (a difference below 1e-6 per pixel here). The "
    "denoiser's noise is `GaussianNoise(0.5)` (training only, as aespec's) and a clip to "
    "[0, 1]; `L2(1e-5)` kernel regularizers add 1e-5 sum w^2, which Keras counts in its loss "
    "and val_loss, as aespec does. The VAE is the keras.io example's structure (Sampling "
    "layer, encoder and decoder models, loss trackers, its own `train_step`), the step in "
    "the form of Keras's guide to customizing fit() on the torch backend; its "
    "reconstruction loss is bce summed over the pixels, the KL summed over z, both "
    "averaged over the batch: aespec's units with no conversion. Its `test_step` decodes "
    "z = mu, as aespec evaluates. Keras tests the last epoch's weights.",
    "- **PyTorch Lightning**: a `LightningModule` (training, validation and test steps, "
    "`configure_optimizers`), `DataLoader`s over `TensorDataset`s, `Trainer(max_epochs=N, "
    "accelerator='cpu')` with its defaults otherwise (its checkpoint each epoch, progress "
    "bar, logger) and `Trainer.fit`, then `Trainer.test`. Losses written in aespec's "
    "reduction (`self.log(..., batch_size=len(x))`, so its epoch means weigh each batch by "
    "its size); the last epoch's weights are tested.",
    "- **pythae**: its `AE` or `VAE` with a custom `BaseEncoder` and `BaseDecoder` of the "
    "spec's layers, `BaseTrainerConfig` (Adam, lr, batch, epochs, seed 0) and "
    "`TrainingPipeline(train_data=..., eval_data=...)`. pythae's AE knows one loss, squared "
    "error summed per example: `loss_function` is overridden with bce (mean over the "
    "values, plus the denoiser's l2 term). Its VAE with `reconstruction_loss='bce'` is "
    "aespec's negative ELBO unit for unit. pythae's own eval loss is a mean of batch means "
    "with z sampled, so a `TrainingCallback` measures the validation loss in aespec's units "
    "(exact mean, z = mu) at each epoch's end, and the test loss is measured the same way "
    "on the weights pythae keeps (its best eval epoch). The denoiser's noise is applied by "
    "the encoder in training mode.",
    "",
    "## Notes", "",
    "- The data are read as a user reads them (numpy from the IDX files; scikit-learn's "
    "digits, resized with aespec's bilinear matrices), split as aespec splits them; "
    "tests/test_bench_peers.py checks that the arrays equal aespec's, bit for bit.",
    "- Every system is seeded 0 (aespec's `seed 0`, `keras.utils.set_random_seed`, "
    "`lightning.seed_everything`, and for pythae `torch.manual_seed` before its model is "
    "built, since its config's seed acts only when training starts), so each run repeats "
    "its losses; but a seed draws different weights and batches in each system, so losses "
    "also differ by a seed's spread, which the rounds do not show.",
    "- Where the seconds go: *start-up, data and model* ends at each system's training "
    "call (aespec's `Trainer.fit`, Keras's `fit`, Lightning's `Trainer.fit`, pythae's "
    "pipeline call, which also prepares its data); *test and exit* is the rest after the "
    "last epoch's end (aespec: its test, checkpoint, references and run.json).",
    "",
]


# ---------------------------------------------------------------- the runs


def machine(when: str, into: dict) -> None:
    into[f"load_{when}"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    if when == "before":
        into["cpu"] = cpu_model()
        into["cpus"] = os.cpu_count()
        into["python"] = platform.python_version()


def versions(python: Path) -> dict[str, str]:
    code = ("import importlib.metadata as m, json, sys; "
            "print(json.dumps({p: m.version(p) for p in sys.argv[1:]}))")
    found = json.loads(subprocess.run([str(python), "-c", code, *PACKAGES], capture_output=True,
                                      text=True, check=True).stdout)
    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip()
    if commit:
        found["aespec"] += f" ({commit})"
    return found


def one_run(python: Path, system: str, workload: str, job: dict, env: dict) -> dict:
    """A whole process: os.wait4's figures with the run's own log (its last line)."""
    got = _popen_wait4([str(python), str(CHILD), system, workload, json.dumps(job)],
                       {**env, "PEERS_T0": repr(time.time())})
    got.update(json.loads(got.pop("stdout").strip().splitlines()[-1]))
    return got


def measure(args: argparse.Namespace, python: Path) -> dict:
    import shutil

    env = {"OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
           "KERAS_BACKEND": "torch"}
    res: dict = {"machine": {}, "rounds": args.rounds, "epochs": args.epochs,
                 "threads": args.threads, "limit": args.limit,
                 "workloads": {w: {s: [] for s in args.systems} for w in args.workloads}}
    machine("before", res["machine"])
    # as after a first run: the OS's file cache warm, aespec's decoded-IDX cache filled
    subprocess.run([str(python), "-c", "from aespec.data import load_data; "
                    "load_data('fashion_mnist', {}, (784,))"], cwd=ROOT, check=True,
                   env={**os.environ, **env})
    with tempfile.TemporaryDirectory() as folder:
        for r in range(args.rounds):
            for workload in args.workloads:
                for system in args.systems:
                    out = Path(folder) / f"{system}-{workload}"
                    shutil.rmtree(out, ignore_errors=True)
                    job = {"epochs": args.epochs, "limit": args.limit, "out": str(out)}
                    got = one_run(python, system, workload, job, env)
                    res["workloads"][workload][system].append(got)
                    print(f"round {r} {workload:4s} {system:9s} wall {got['wall']:6.2f} s "
                          f"rss {got['rss_mib']:5.0f} MiB val {final_val(got):.4f} "
                          f"test {got['test']:.4f}", flush=True)
    machine("after", res["machine"])
    return res


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--systems", default=",".join(SYSTEMS))
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--target", action="append", default=[], metavar="WORKLOAD=LOSS",
                   help="the validation loss to time (default: the worst system's final)")
    p.add_argument("--quick", action="store_true", help="a smoke test on a subset")
    p.add_argument("--python", type=Path, default=VENV_PYTHON, help="the peers' venv")
    p.add_argument("--render", action="store_true", help="rewrite the page from the json")
    p.add_argument("--out", type=Path, help="the folder for PEERS.md and peers.json "
                   "(default: bench/, or runs/peers-quick/ with --quick)")
    args = p.parse_args(argv)
    args.systems = [s for s in args.systems.split(",") if s]
    args.workloads = [w for w in args.workloads.split(",") if w]
    for name, known in ((args.systems, SYSTEMS), (args.workloads, WORKLOADS)):
        unknown = set(name) - set(known)
        if unknown:
            p.error(f"unknown {', '.join(sorted(unknown))}; known: {', '.join(known)}")
    args.limit = QUICK_LIMIT if args.quick else None
    given = " ".join(sys.argv[1:] if argv is None else argv)
    if args.quick and "--rounds" not in given:
        args.rounds = 1
    if args.quick and "--epochs" not in given:
        args.epochs = 1
    folder = args.out or ROOT / ("runs/peers-quick" if args.quick else "bench")
    args.page, args.json = folder / "PEERS.md", folder / "peers.json"
    return args


def targets(res: dict, given: list[str]) -> dict[str, float]:
    chosen = {w: default_target(runs) for w, runs in res["workloads"].items()}
    for item in given:
        name, _, value = item.partition("=")
        chosen[name] = float(value)
    return chosen


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.render:
        res = json.loads(args.json.read_text())
    else:
        if not args.python.exists():
            sys.exit(f"{args.python} not found: make peers-venv creates it")
        start = time.perf_counter()
        res = measure(args, args.python)
        res["seconds"] = time.perf_counter() - start
        res["versions"] = versions(args.python)
        res["command"] = " ".join(shlex.quote(a) for a in [
            os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(str(ROOT))
            else sys.executable, "bench/peers.py", *sys.argv[1:]])
    res["targets"] = targets(res, args.target)
    res["json"] = os.path.relpath(args.json, ROOT)
    args.page.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(res, indent=1) + "\n")
    text = render(res)
    args.page.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
