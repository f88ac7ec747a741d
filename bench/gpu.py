"""GPU throughput: aespec's training against a hand-written loop fed by a DataLoader.

    python bench/gpu.py                 # on a CUDA machine: about 5 minutes on an H200
    python bench/gpu.py --quick         # fewer samples and epochs, no torch.compile
    python bench/gpu.py --device cpu --quick --n 256 --out /tmp/x   # a smoke run (tests)

Three models on Fashion-MNIST-shaped data (1x28x28): the dense AE (specs/mirror_fc.ae),
the conv denoiser (specs/denoising_conv.ae) and the FC-VAE (specs/vae_fc.ae), each at its
spec's batch size. The data is Fashion-MNIST where its IDX files are found, else random
data of that shape (`synthetic(kind=blobs)`), the same arrays for every contestant.

- *loop*: what pythae's trainer does: a `TensorDataset` on the host, a shuffling
  `DataLoader`, each batch copied to the device, fp32, `torch.optim.Adam` as it comes.
- *aespec*: `aespec.train` with its defaults on the device: the whole data set resident
  on it, batches by index (no DataLoader), the fused optimizer; with `train.precision=bf16`
  (autocast), and then with `train.compile=true` too (where it pays: see the table).

Samples/s counts the training steps of each epoch after the first (the warm-up, where
compilation happens); the best epoch is quoted. The share of the device's bf16 peak comes
from the FLOPs of one training step (torch's FlopCounterMode) times samples/s over the
peak of a table of known devices. Prints a compact table and writes bench/GPU.md (or
--out).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
MODELS = {
    "fc": ("specs/mirror_fc.ae", "dense AE"),
    "conv": ("specs/denoising_conv.ae", "conv denoiser"),
    "vae": ("specs/vae_fc.ae", "FC-VAE"),
}
FASHION = Path("/usr/share/datasets/fashion-mnist")
# dense bf16 tensor-core peak, TFLOP/s (vendor data sheets, without sparsity)
BF16_PEAK = {"H200": 989.0, "H100": 989.0, "H800": 989.0, "A100": 312.0, "A800": 312.0,
             "L40S": 362.0, "L40": 181.0, "L4": 121.0, "A10": 125.0, "RTX 4090": 165.0,
             "B200": 2250.0, "GH200": 989.0}
GOAL = 2.0


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


# ---------------------------------------------------------------- the hand-written loop


class HandVAE:
    """Built lazily (torch imported by the caller): encoder -> (mu, logvar) -> decoder."""

    @staticmethod
    def make():
        import torch
        from torch import nn

        class VAE(nn.Module):
            def __init__(self):
                super().__init__()
                self.enc = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256),
                                         nn.ReLU())
                self.mu, self.logvar = nn.Linear(256, 20), nn.Linear(256, 20)
                self.dec = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 512),
                                         nn.ReLU(), nn.Linear(512, 784))

            def forward(self, x):
                h = self.enc(x)
                mu, logvar = self.mu(h), self.logvar(h)
                z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
                return self.dec(z), mu, logvar

        return VAE()


def hand_loss(kind: str, model, xb, weights):
    import torch
    from torch.nn import functional

    if kind == "vae":
        logits, mu, logvar = model(xb)
        rec = functional.binary_cross_entropy_with_logits(logits, xb, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.square() - logvar.exp())
        return (rec + kl) / len(xb)
    inp = xb if kind == "fc" else (xb + 0.5 * torch.randn_like(xb)).clamp(0.0, 1.0)
    loss = functional.binary_cross_entropy_with_logits(model(inp), xb)
    if kind == "conv":
        loss = loss + 1e-5 * sum(w.square().sum() for w in weights)
    return loss


def hand_model(kind: str):
    if kind == "vae":
        return HandVAE.make()
    from train_throughput import hand_model as twin

    return twin(kind)


def hand_loop(kind: str, x, batch: int, epochs: int, device) -> list[float]:
    """pythae's way: a DataLoader over a host TensorDataset, batches copied to the device."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    data = torch.from_numpy(x.reshape(len(x), -1) if kind != "conv" else x)
    loader = DataLoader(TensorDataset(data), batch_size=batch, shuffle=True,
                        pin_memory=device.type == "cuda")
    model = hand_model(kind).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    weights = [p for p in model.parameters() if p.dim() > 1]
    rates = []
    for _ in range(epochs):
        _sync(device)
        start = time.perf_counter()
        for (xb,) in loader:
            xb = xb.to(device, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            hand_loss(kind, model, xb, weights).backward()
            opt.step()
        _sync(device)
        rates.append(len(data) / (time.perf_counter() - start))
    return rates


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------- aespec


def aespec_rates(kind: str, source: str, epochs: int, device: str,
                 extra: list[str]) -> list[float]:
    import aespec

    with tempfile.TemporaryDirectory() as tmp:
        run = aespec.train(str(ROOT / MODELS[kind][0]), data=source, epochs=epochs,
                           device=device, quiet=True, out=Path(tmp) / "run", report=False,
                           overrides=extra)
    return [h["samples_per_s"] for h in run.history]


def step_flops(kind: str, spec, device) -> float:
    """FLOPs of one training step of the spec's model at its batch size, per sample."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from aespec import build

    model = build(spec).to(device)
    x = torch.rand(spec.train.batch, *spec.input.shape, device=device)
    with FlopCounterMode(display=False) as counter:
        model(x).loss.backward()
    return counter.get_total_flops() / spec.train.batch


def bf16_peak(name: str) -> float | None:
    for key in sorted(BF16_PEAK, key=len, reverse=True):
        if key.lower() in name.lower():
            return BF16_PEAK[key] * 1e12
    return None


# ---------------------------------------------------------------- the bench


def measure(args) -> dict:
    import torch

    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        platform.processor() or platform.machine())
    source = data_source(args.n)
    res: dict = {"device": name, "device_type": device.type, "data": source,
                 "epochs": args.epochs, "models": {}}
    variants = {"aespec": [], "aespec bf16": ["train.precision=bf16"]}
    if device.type != "cuda":  # a smoke run: bf16 autocast is no speed-up on a CPU
        variants = {"aespec": []}
    elif not args.no_compile:
        variants["aespec bf16 + compile"] = ["train.precision=bf16", "train.compile=true"]
    for kind in args.models:
        spec, x = load_arrays(kind, source)
        row = {"loop": hand_loop(kind, x, spec.train.batch, args.epochs, device)}
        for label, extra in variants.items():
            row[label] = aespec_rates(kind, source, args.epochs, args.device, extra)
        row = {k: max(v[1:] or v) for k, v in row.items()}  # the best epoch after the first
        res["models"][kind] = {"samples_per_s": row, "flops_per_sample": step_flops(
            kind, spec, device), "batch": spec.train.batch, "n": len(x)}
        print(f"{kind}: " + ", ".join(f"{k} {v:,.0f}/s" for k, v in row.items()), flush=True)
    return res


def render(res: dict, seconds: float) -> str:
    peak = bf16_peak(res["device"]) if res["device_type"] == "cuda" else None
    lines = ["# GPU throughput: aespec against a DataLoader-fed loop", "",
             f"Written by `bench/gpu.py` in {seconds:.0f} s on **{res['device']}** "
             f"({res['device_type']}); data `{res['data']}`, {res['epochs']} epochs each, "
             "samples/s of the best epoch after the first. Goal: aespec at least "
             f"{GOAL:.0f}x the loop.", ""]
    if res["device_type"] != "cuda":
        lines += ["**No GPU was available when this page was written**: these figures are "
                  "a smoke run on the CPU, kept only to show the script works. On a CUDA "
                  "machine run `python bench/gpu.py` (or `--quick`) and this page is "
                  "rewritten with the device's figures.", ""]
    cols = list(next(iter(res["models"].values()))["samples_per_s"])
    lines += ["| model | " + " | ".join(cols) + " | best aespec / loop | "
              + ("share of bf16 peak |" if peak else "GFLOP/s |"),
              "|---|" + "---:|" * (len(cols) + 2)]
    for kind, m in res["models"].items():
        rates = m["samples_per_s"]
        best = max(v for k, v in rates.items() if k != "loop")
        achieved = best * m["flops_per_sample"]
        tail = f"{achieved / peak:.1%}" if peak else f"{achieved / 1e9:.1f}"
        lines.append(f"| {MODELS[kind][1]} (batch {m['batch']}) | "
                     + " | ".join(f"{rates[c]:,.0f}" for c in cols)
                     + f" | **{best / rates['loop']:.2f}x** | {tail} |")
    lines += ["", "*loop*: TensorDataset + shuffling DataLoader on the host, each batch "
              "copied to the device, fp32, Adam (as pythae trains). *aespec*: its defaults "
              "(data resident on the device, index batches, fused Adam); *bf16*: "
              "`--set train.precision=bf16`; *compile*: `--set train.compile=true`. "
              "The share of the peak counts the FLOPs of a training step "
              "(FlopCounterMode) at the best aespec rate.", ""]
    return "\n".join(lines)


NO_GPU = """# GPU throughput: aespec against a DataLoader-fed loop

**No GPU was available** where this page was last written (torch {torch}, Python
{python}, no CUDA device), so it holds no figures. `bench/gpu.py` is ready: on a CUDA
machine, `python bench/gpu.py` (about 5 minutes on an H200; `--quick` for 1 to 2) measures,
for the dense AE, the conv denoiser and the FC-VAE on Fashion-MNIST-shaped data (random data
of that shape where the IDX files are absent), aespec's training (the data resident on the
device, batches by index, the fused optimizer; plus bf16 autocast, plus torch.compile)
against a loop fed by a DataLoader as pythae trains, prints a compact table and rewrites
this page with the device's name, samples/s, aespec's speed-up over the loop (goal: 2x) and
the share of the device's bf16 peak. `tests/test_bench_gpu.py` runs it for a few steps on
the CPU, so it stays working.
"""


def main(argv: list[str] | None = None) -> dict:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else None,
                        help="cuda (the default where there is one) or cpu, a smoke run")
    parser.add_argument("--quick", action="store_true", help="fewer samples and epochs, "
                        "no torch.compile")
    parser.add_argument("--n", type=int, default=None, help="training examples")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "bench"), help="folder for GPU.md")
    args = parser.parse_args(argv)
    args.n = args.n or (20_000 if args.quick else 60_000)
    args.epochs = args.epochs or (2 if args.quick else 4)
    args.no_compile = args.no_compile or args.quick
    if args.device is None:  # nothing to measure: say so, and leave the script ready
        text = NO_GPU.format(python=platform.python_version(), torch=torch.__version__)
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "GPU.md").write_text(text, encoding="utf-8")
        print(text)
        return {}
    start = time.perf_counter()
    res = measure(args)
    text = render(res, time.perf_counter() - start)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "GPU.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    return res


if __name__ == "__main__":
    main()
