"""Which of Keras 3's defaults gives its lower test loss after 3 epochs (issue 27)?

Each workload is trained by aespec itself for 3 epochs, 3 seeds, under each `--mode`:
  torch          nn.Linear/Conv's own init (kaiming_uniform(a=sqrt(5)), uniform biases)
  glorot         Keras's Dense/Conv2D default: glorot (Xavier) uniform weights, zero biases
  torch_zerob    torch's weights, zero biases (which half of glorot matters)
  glorot_torchb  glorot weights, torch's biases
  *_eps7         the same with Adam's epsilon 1e-7 (Keras's) instead of torch's 1e-8
Each run compiles with `train.init_weights=torch` (torch's init), and the mode then sets the
weights after the seeded compile, with the same global generator, on every
nn.Linear, nn.Conv*d and nn.ConvTranspose*d of the model (the gaussian latent's head too).

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python bench/init_defaults.py --modes torch glorot \
        --seeds 0 1 2 --limit 12000 --out bench/init_defaults.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time

import torch
from torch import nn

import aespec
import aespec.compile
from aespec.ops import optimizers

WORKLOADS = {  # spec, data (None: the spec's own), loss term read
    "dense_ae": ("specs/mirror_fc.ae", "fashion_mnist(limit={limit})"),
    "fc_vae": ("specs/vae_fc.ae", "fashion_mnist(limit={limit})"),
    "conv_denoiser": ("specs/denoising_conv.ae", None),  # its own digits: 36 steps
    "conv_denoiser_fashion": ("specs/denoising_conv.ae", "fashion_mnist(limit={limit})"),
}
LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)


def reinit(model: nn.Module, weights: str, bias: str) -> None:
    for m in model.modules():
        if not isinstance(m, LAYERS) or type(m).__name__ == "TiedLinear":
            continue
        if weights == "glorot":
            nn.init.xavier_uniform_(m.weight)
        elif weights == "torch_fresh":
            m.reset_parameters()
        if m.bias is not None and bias == "zero":
            nn.init.zeros_(m.bias)


def patch(mode: str) -> None:
    base = mode.removesuffix("_eps7")
    weights, bias = {"torch": ("keep", "keep"), "glorot": ("glorot", "zero"),
                     "torch_zerob": ("keep", "zero"),
                     "glorot_torchb": ("glorot", "keep")}[base]
    original = aespec.compile.compile_model.__wrapped__ \
        if hasattr(aespec.compile.compile_model, "__wrapped__") \
        else aespec.compile.compile_model

    def compile_model(*a, **k):  # type: ignore[no-untyped-def]
        model = original(*a, **k)
        with torch.no_grad():
            reinit(model, weights, bias)
        return model

    compile_model.__wrapped__ = original  # type: ignore[attr-defined]
    aespec.compile.compile_model = compile_model  # setup imports it at call time
    eps = 1e-7 if mode.endswith("_eps7") else 1e-8
    adam = optimizers.OPTIMIZERS["adam"]
    plain = getattr(adam.kwargs, "__wrapped__", adam.kwargs)

    def kwargs(a):  # type: ignore[no-untyped-def]
        return {**plain(a), "eps": eps}

    kwargs.__wrapped__ = plain  # type: ignore[attr-defined]
    object.__setattr__(adam, "kwargs", kwargs)


def one(workload: str, mode: str, seed: int, limit: int, epochs: int) -> dict:
    spec, data = WORKLOADS[workload]
    patch(mode)
    t0 = time.perf_counter()
    r = aespec.train(spec, data=None if data is None else data.format(limit=limit),
                     overrides=[f"train.seed={seed}", f"train.epochs={epochs}",
                                "train.init_weights=torch"],  # the modes set their own
                     out=tempfile.mkdtemp(prefix=f"init27-{workload}-{mode}-{seed}-") + "/run",
                     quiet=True,
                     report=False)
    return {"workload": workload, "mode": mode, "seed": seed, "test": r.test,
            "loss": r.test.get("loss", next(iter(r.test.values()))),
            "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--workloads", nargs="+", default=list(WORKLOADS))
    p.add_argument("--modes", nargs="+", default=["torch", "glorot"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--limit", type=int, default=12000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--out", default="bench/init_defaults.json")
    a = p.parse_args()
    rows = []
    for w in a.workloads:
        for seed in a.seeds:
            for mode in a.modes:  # modes alternate within a seed
                row = one(w, mode, seed, a.limit, a.epochs)
                rows.append(row)
                print(json.dumps(row), flush=True)
                with open(a.out, "w") as f:
                    json.dump({"args": vars(a), "rows": rows}, f, indent=1)
    for w in a.workloads:
        for mode in a.modes:
            xs = [r["loss"] for r in rows if r["workload"] == w and r["mode"] == mode]
            sd = statistics.stdev(xs) if len(xs) > 1 else math.nan
            print(f"{w:14s} {mode:18s} mean {statistics.mean(xs):.5f} sd {sd:.5f} "
                  f"min {min(xs):.5f} max {max(xs):.5f}", file=sys.stderr)


if __name__ == "__main__":
    main()
