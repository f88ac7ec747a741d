"""GPU throughput: aespec's training against a hand-written loop fed by a DataLoader, and
the grading workload.

    python bench/gpu.py                 # on a CUDA machine: one call, under 8 minutes
    python bench/gpu.py --quick         # fewer samples and epochs, no torch.compile
    python bench/gpu.py --device cpu --quick --n 256 --out /tmp/x   # a smoke run (tests)

Five models on Fashion-MNIST-shaped data (1x28x28), each at its spec's batch size: the
dense AE (specs/mirror_fc.ae), the conv denoiser (specs/denoising_conv.ae), the FC-VAE
(specs/vae_fc.ae), the DCGAN (specs/dcgan_fashion.ae) and the VAE-GAN (specs/vae_gan.ae).
The data is Fashion-MNIST where its IDX files are found, else random data of that shape
(`synthetic(kind=blobs)`), the same arrays for every contestant.

- *loop*: each model written by hand and trained as its tutorial does (bench/gpu_hand.py):
  a `TensorDataset` on the host, a shuffling `DataLoader`, each batch copied to the
  device, fp32, `torch.optim.Adam` as it comes; the GANs by the PyTorch DCGAN tutorial's
  loop.
- *aespec*: `aespec.train` with its defaults on the device: the whole data set resident
  on it, batches by index (no DataLoader), the fused optimizer; with `train.precision=bf16`
  (autocast), and then with `train.compile=true` too. The specs' `report` blocks are left
  out (a GAN's `sample_quality` would measure its samples every epoch).
- *grading*: `aespec grade` of a class of hand-ins (bench/grading.py's class and rubric:
  checked, smoke-trained on the digits in worker processes, graded), one worker a core;
  and one hand-in's smoke training on the device against the CPU, which says whether a
  GPU would help a grading box (`aespec grade` trains on the CPU).

Samples/s counts the training steps of each epoch after the first (the warm-up, where
compilation happens); the best epoch is quoted. The share of the device's bf16 peak comes
from the FLOPs of one hand-written training step (torch's FlopCounterMode) times aespec's
best samples/s over the peak of a table of known devices.

`--budget S` (420 s by default, from the start of the process) keeps the call under 8
minutes: every model's loop, aespec and bf16 run first, then the grading, then the
torch.compile variants while their estimated time (the eager run's plus a cold start)
fits; a variant left out is shown as such. Progress is printed as it goes; a compact table
at the end, and bench/GPU.md (or --out) is written.
"""

from __future__ import annotations

import argparse
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]  # its helpers; aespec, installed or not
MODELS = {
    "fc": ("specs/mirror_fc.ae", "dense AE"),
    "conv": ("specs/denoising_conv.ae", "conv denoiser"),
    "vae": ("specs/vae_fc.ae", "FC-VAE"),
    "dcgan": ("specs/dcgan_fashion.ae", "DCGAN"),
    "vaegan": ("specs/vae_gan.ae", "VAE-GAN"),
}
FASHION = Path("/usr/share/datasets/fashion-mnist")
# dense bf16 tensor-core peak, TFLOP/s (vendor data sheets, without sparsity)
BF16_PEAK = {"H200": 989.0, "H100": 989.0, "H800": 989.0, "A100": 312.0, "A800": 312.0,
             "L40S": 362.0, "L40": 181.0, "L4": 121.0, "A10": 125.0, "RTX 4090": 165.0,
             "B200": 2250.0, "GH200": 989.0}
GOAL = 2.0
COMPILE_START_S = 90.0  # a cold torch.compile of one of these models, at most (estimate)
STARTED = time.perf_counter()


def elapsed() -> float:
    return time.perf_counter() - STARTED


def say(text: str) -> None:
    print(f"[{elapsed():5.0f} s] {text}", flush=True)


def data_source(n: int) -> str:
    if (FASHION / "train-images-idx3-ubyte.gz").is_file() or (
            FASHION / "train-images-idx3-ubyte").is_file():
        return f"fashion_mnist(limit={n})"
    return f"synthetic(n={n}, kind=\"blobs\")"


def load_arrays(kind: str, source: str):
    """The training arrays aespec would read (x, shaped to the spec's input)."""
    import aespec
    from aespec.data import load_data
    from aespec.train.batches import parse_data

    spec = aespec.load(ROOT / MODELS[kind][0])
    choice = parse_data(source)
    return spec, load_data(choice.source, choice.args, spec.input.shape).x_train


# ---------------------------------------------------------------- aespec


def without_report(kind: str, folder: Path) -> Path:
    """The spec of `kind` less its `report` block, in `folder`: the bench trains, and a
    GAN's `sample_quality` would train a classifier and measure samples every epoch."""
    text = (ROOT / MODELS[kind][0]).read_text(encoding="utf-8")
    path = folder / Path(MODELS[kind][0]).name
    path.write_text(re.sub(r"\nreport \{[^}]*\}", "\n", text), encoding="utf-8")
    return path


def aespec_rates(kind: str, source: str, epochs: int, device: str,
                 extra: list[str]) -> list[float]:
    import aespec

    with tempfile.TemporaryDirectory() as tmp:
        run = aespec.train(str(without_report(kind, Path(tmp))), data=source, epochs=epochs,
                           device=device, quiet=True, out=Path(tmp) / "run", report=False,
                           overrides=extra)
    return [h["samples_per_s"] for h in run.history]


def bf16_peak(name: str) -> float | None:
    for key in sorted(BF16_PEAK, key=len, reverse=True):
        if key.lower() in name.lower():
            return BF16_PEAK[key] * 1e12
    return None


# ---------------------------------------------------------------- the bench


class Budget:
    """What is left of `--budget`: a variant runs where its estimated time fits."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def fits(self, estimate: float) -> bool:
        return elapsed() + estimate <= self.seconds


def timed_rates(errors: dict[str, str], label: str, fn, *args
                ) -> tuple[list[float] | None, float]:
    """fn's rates and the seconds it took; None, with its error in `errors`, where it
    failed: one variant's failure must not cost the call the others' figures."""
    t = time.perf_counter()
    try:
        rates = fn(*args)
    except Exception as exc:  # reported on the page, not raised
        errors[label] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        say(f"{label} failed: {errors[label]}")
        rates = None
    return rates, time.perf_counter() - t


def model_row(args, device, source: str, kind: str, variants: dict[str, list[str]],
              budget: Budget) -> dict:
    """One model's loop and eager aespec variants."""
    from gpu_hand import hand_loop, step_flops

    spec, x = load_arrays(kind, source)
    rates: dict[str, list[float] | None] = {}
    took: dict[str, float] = {}
    errors: dict[str, str] = {}
    rates["loop"], took["loop"] = timed_rates(errors, "loop", hand_loop, kind, x,
                                              spec.train.batch, args.epochs, device)
    for label, extra in variants.items():
        if label != "aespec" and not budget.fits(took.get("aespec", took["loop"]) * 1.5):
            rates[label] = None  # left out: the budget
            continue
        rates[label], took[label] = timed_rates(errors, label, aespec_rates, kind, source,
                                                args.epochs, args.device, extra)
    say(f"{kind}: " + ", ".join(f"{k} {_best(v):,.0f}/s" if v else f"{k} -"
                                for k, v in rates.items()))
    return {"rates": rates, "took": took, "errors": errors, "batch": spec.train.batch,
            "n": len(x), "flops_per_sample": step_flops(kind, x, spec.train.batch, device)}


def compile_row(args, source: str, kind: str, m: dict, budget: Budget) -> None:
    """bf16 + torch.compile where its estimate fits what is left of the budget."""
    label, extra = "aespec bf16 + compile", ["train.precision=bf16", "train.compile=true"]
    estimate = max(m["took"].values()) + COMPILE_START_S
    if not budget.fits(estimate):
        m["rates"][label] = None
        say(f"{kind}: {label} left out (estimated {estimate:.0f} s; the budget)")
        return
    m["rates"][label], m["took"][label] = timed_rates(m["errors"], label, aespec_rates, kind,
                                                      source, args.epochs, args.device, extra)
    if m["rates"][label]:
        say(f"{kind}: {label} {_best(m['rates'][label]):,.0f}/s "
            f"({m['took'][label]:.0f} s with its compilation)")


def _best(rates: list[float] | None) -> float:
    """The best epoch after the first (the warm-up), or the only one."""
    return max(rates[1:] or rates) if rates else 0.0


def measure(args, write) -> dict:
    """Every figure, in the budget's order; `write(res)` after each model and phase, so a
    call stopped from outside still leaves a page of what it measured."""
    import torch

    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        platform.processor() or platform.machine())
    source = data_source(args.n)
    budget = Budget(args.budget)
    res: dict = {"device": name, "device_type": device.type, "data": source,
                 "epochs": args.epochs, "budget": args.budget, "torch": torch.__version__,
                 "models": {}}
    variants = {"aespec": [], "aespec bf16": ["train.precision=bf16"]}
    if device.type != "cuda":  # a smoke run: bf16 autocast is no speed-up on a CPU
        variants = {"aespec": []}
    say(f"{name}: {', '.join(args.models)} on {source}, {args.epochs} epochs each")
    rows: dict = {}
    for kind in args.models:
        rows[kind] = model_row(args, device, source, kind, variants, budget)
        res["models"] = summary(rows)
        write(res)
    if args.grading:
        from gpu_grading import grading

        try:
            res["grading"] = grading(args.class_size, args.device, say)
        except Exception as exc:  # reported on the page
            res["grading_error"] = f"{type(exc).__name__}: {exc}"
            say(f"grading failed: {res['grading_error']}")
        write(res)
    if device.type == "cuda" and not args.no_compile:
        for kind in args.models:
            compile_row(args, source, kind, rows[kind], budget)
            res["models"] = summary(rows)
            write(res)
    return res


def summary(rows: dict) -> dict:
    return {kind: {"samples_per_s": {k: _best(v) if v else None for k, v in m["rates"].items()},
                   "seconds": m["took"], "errors": m["errors"],
                   "flops_per_sample": m["flops_per_sample"], "batch": m["batch"], "n": m["n"]}
            for kind, m in rows.items()}


def render(res: dict, seconds: float) -> str:
    peak = bf16_peak(res["device"]) if res["device_type"] == "cuda" else None
    lines = ["# GPU throughput: aespec against a DataLoader-fed loop", "",
             f"Written by `bench/gpu.py` in {seconds:.0f} s (budget {res['budget']:.0f} s) on "
             f"**{res['device']}** ({res['device_type']}, torch {res['torch']}); data "
             f"`{res['data']}`, {res['epochs']} epochs each, samples/s of the best epoch "
             f"after the first. Goal: aespec at least {GOAL:.0f}x the loop.", ""]
    if res["device_type"] != "cuda":
        lines += ["**No GPU was available when this page was written**: these figures are "
                  "a smoke run on the CPU, kept only to show the script works. On a CUDA "
                  "machine run `python bench/gpu.py` (or `--quick`) and this page is "
                  "rewritten with the device's figures.", ""]
    lines += model_table(res, peak)
    if "grading" in res:
        from gpu_grading import grading_lines

        lines += grading_lines(res["grading"])
    if "grading_error" in res:
        lines += [f"The grading failed: {res['grading_error']}", ""]
    return "\n".join(lines)


def _cell(rates: dict, errors: dict, col: str) -> str:
    if rates.get(col):
        return f"{rates[col]:,.0f}"
    if col in errors:
        return "failed"
    return "left out (budget)" if col in rates else ""


def model_table(res: dict, peak: float | None) -> list[str]:
    cols: list[str] = []
    for m in res["models"].values():
        cols += [c for c in m["samples_per_s"] if c not in cols]
    lines = ["| model | " + " | ".join(cols) + " | best aespec / loop | "
             + ("share of bf16 peak |" if peak else "GFLOP/s |"),
             "|---|" + "---:|" * (len(cols) + 2)]
    failures = []
    for kind, m in res["models"].items():
        rates, errors = m["samples_per_s"], m.get("errors", {})
        best = max(v or 0.0 for k, v in rates.items() if k != "loop")
        achieved = best * m["flops_per_sample"]
        tail = f"{achieved / peak:.2%}" if peak else f"{achieved / 1e9:.1f}"
        ratio = f"**{best / rates['loop']:.2f}x**" if best and rates.get("loop") else "-"
        lines.append(f"| {MODELS[kind][1]} (batch {m['batch']}) | "
                     + " | ".join(_cell(rates, errors, c) for c in cols)
                     + f" | {ratio} | {tail} |")
        failures += [f"- {MODELS[kind][1]}, {label}: {why}" for label, why in errors.items()]
    return lines + ["", *failures, *([""] if failures else []),
        "*loop*: the model written by hand (bench/gpu_hand.py), a TensorDataset + "
        "shuffling DataLoader on the host, each batch copied to the device, fp32, Adam (as "
        "pythae trains; the GANs as the PyTorch DCGAN tutorial does). *aespec*: its "
        "defaults (data resident on the device, index batches, fused Adam); *bf16*: "
        "`--set train.precision=bf16`; *compile*: `--set train.compile=true`. The share of "
        "the peak counts the FLOPs of a hand-written training step (FlopCounterMode: "
        "matrix products and convolutions) at aespec's best rate.", ""]


NO_GPU = """# GPU throughput: aespec against a DataLoader-fed loop

**No GPU was available** where this page was last written (torch {torch}, Python
{python}, no CUDA device), so it holds no figures. `bench/gpu.py` is ready: on a CUDA
machine, `python bench/gpu.py` (one call, under 8 minutes: `--budget`, 420 s by default,
leaves out the torch.compile variants that would not fit; `--quick` for 1 to 2 minutes)
measures, for the dense AE, the conv denoiser, the FC-VAE, the DCGAN and the VAE-GAN on
Fashion-MNIST-shaped data (random data of that shape where the IDX files are absent),
aespec's training (the data resident on the device, batches by index, the fused
optimizer; plus bf16 autocast, plus torch.compile) against each model written by hand and
fed by a DataLoader (the GANs by the PyTorch DCGAN tutorial's loop), and `aespec grade`
of a class of hand-ins; it prints a compact table and rewrites this page with the
device's name, samples/s, aespec's speed-up over the loop (goal: 2x) and the share of the
device's bf16 peak. `tests/test_bench_gpu.py` runs it for a few steps on the CPU, so it
stays working.
"""


def main(argv: list[str] | None = None) -> dict:
    import torch

    global STARTED
    STARTED = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else None,
                        help="cuda (the default where there is one) or cpu, a smoke run")
    parser.add_argument("--quick", action="store_true", help="fewer samples and epochs, "
                        "no torch.compile")
    parser.add_argument("--n", type=int, default=None, help="training examples")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--no-grading", dest="grading", action="store_false")
    parser.add_argument("--class-size", type=int, default=None,
                        help="hand-ins the grading grades [200; --quick 40]")
    parser.add_argument("--budget", type=float, default=420.0, metavar="S",
                        help="seconds the call may take; variants that would not fit are "
                        "left out")
    parser.add_argument("--out", default=str(ROOT / "bench"), help="folder for GPU.md")
    args = parser.parse_args(argv)
    args.n = args.n or (20_000 if args.quick else 60_000)
    args.epochs = args.epochs or (2 if args.quick else 4)
    args.no_compile = args.no_compile or args.quick
    args.class_size = args.class_size or (40 if args.quick else 200)
    if args.device is None:  # nothing to measure: say so, and leave the script ready
        text = NO_GPU.format(python=platform.python_version(), torch=torch.__version__)
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "GPU.md").write_text(text, encoding="utf-8")
        print(text)
        return {}
    Path(args.out).mkdir(parents=True, exist_ok=True)

    def write(res: dict) -> str:
        text = render(res, elapsed())
        (Path(args.out) / "GPU.md").write_text(text + "\n", encoding="utf-8")
        return text

    res = measure(args, write)
    print(write(res))
    return res


if __name__ == "__main__":
    main()
