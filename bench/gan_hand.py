"""A DCGAN written by hand in PyTorch (keras.io's DCGAN recipe) on Fashion-MNIST, measured
with aespec's sample-quality figures: the baseline a `loss adversarial` spec is held to.

    PYTHONPATH=. .venv/bin/python bench/gan_hand.py --epochs 5
    PYTHONPATH=. .venv/bin/python bench/gan_hand.py --train-examples 10000 --epochs 3 \
        --eval-every 1 --save-samples /tmp/grid.png

The model is tests/conformance_extra/valid/gan_dcgan.ae's, layer for layer (904,578
parameters: generator 765,761, discriminator 138,817; printed at the start):

    G: z ~ N(0, I) of 100 -> dense 6272 relu -> (128, 7, 7) -> deconv 64 k4 s2 p1 batchnorm
       relu -> deconv 1 k4 s2 p1 sigmoid                       (28x28 in [0, 1])
    D: conv 64 k4 s2 p1 leaky_relu(0.2) -> conv 128 k4 s2 p1 batchnorm leaky_relu(0.2)
       -> flatten -> dense 1                                   (a logit)

Training is keras.io's loop: per batch of real images, one D step on the real images and
as many fresh fakes, then one G step on a fresh draw of z; the non-saturating game with BCE
on logits (D: -log s(D(x)) - log(1 - s(D(G(z)))), the mean over the real images plus the
mean over the fakes; G: -log s(D(G(z)))), no label smoothing or noise; Adam(2e-4, betas
(0.5, 0.999)) for both; PyTorch's default initialization; the whole training set as one
tensor, shuffled each epoch and batched by index (no DataLoader). The last incomplete batch
is kept.

D sees the real and the fake images as two batches by default (PyTorch's DCGAN tutorial).
keras.io (examples/generative/dcgan_overriding_train_step.py) concatenates them into one
batch of 2B (--d-batch joint; it also adds 0.05 of label noise), but its discriminator
has no batchnorm; this one has, and with a joint batch D's batchnorm normalises the D step's
fakes with real-and-fake statistics and the G step's with fake-only ones, so G learns to
fool the G-step D alone: both losses fall towards 0 and the samples stay noisy blobs
(6400 examples x 6 epochs, seed 0: FD 263 and 4 classes covered; two batches: FD 51, 10).

The figures are `report { sample_quality }`'s (aespec/report/items.py `_sample_quality`),
with its functions and its seeded choices: the reference classifier of the full
fashion_mnist data (trained once and cached, as aespec does), the 2000 test examples a
report reads, 1000 samples from z drawn by torch.Generator().manual_seed(report seed) in
eval mode; the floor is 1000 of the report's 2000 training examples, the ceilings uniform
noise in [0, 1] and the mean image. The report's seed is aespec's default, 0, whatever the
training seed. --train-examples takes the first N training images (all 60000 by default);
the classifier and the reference stay those of the full data set, so figures compare
across training sizes.

One JSON line at the end: parameters, seconds, per-epoch figures and sample quality.
Seconds are wall-clock, cpu_seconds the process's CPU time (all threads); on a machine
shared with other work both grow (OpenMP's threads spin while they wait), so compare
timings only from a quiet machine. Measured figures: bench/GAN_HAND.md.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional

LATENT = 100


def generator() -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(LATENT, 128 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (128, 7, 7)),
        nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, stride=2, padding=1), nn.Sigmoid())


def discriminator() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 64, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, stride=2, padding=1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(128 * 7 * 7, 1))


def count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


# ---------------------------------------------------------------- the measure


class Quality:
    """aespec's sample_quality for one data set: the classifier, the reference features and
    the floor and ceilings, computed once; `measure(G)` scores a generator."""

    def __init__(self, ds, seed: int, n: int, min_share: float) -> None:
        from aespec.report import quality
        from aespec.report.items import MAX_EXAMPLES, _pick

        self.q, self.n, self.seed, self.min_share = quality, n, seed, min_share
        rng = np.random.default_rng(seed)  # items._context's draws, in its order
        train = _pick(rng, len(ds.x_train), MAX_EXAMPLES)
        test = _pick(rng, len(ds.x_test), MAX_EXAMPLES)
        x_train = np.asarray(ds.x_train[train], np.float32)
        x_test = np.asarray(ds.x_test[test], np.float32)
        t = time.perf_counter()
        self.clf = quality.reference_classifier(ds.description, ds.x_train, ds.labels_train,
                                                ds.x_test, ds.labels_test)
        self.classifier_seconds = time.perf_counter() - t
        self.reference = quality.features(self.clf, x_test)
        self.reference_examples = len(x_test)
        rng = np.random.default_rng(seed)  # items._sample_quality's draws
        lo, hi = (0.0, 1.0)  # value_range() of data in [0, 1]
        sets = {"real_data": x_train[_pick(rng, len(x_train), n)],
                "noise": rng.uniform(lo, hi, (n, *x_test.shape[1:])),
                "mean_image": np.repeat(x_train.mean(0, keepdims=True), n, 0)}
        self.fixed = {key: self.score(x) for key, x in sets.items()}

    def score(self, x: np.ndarray) -> dict:
        q = self.q
        return {"frechet_distance": q.frechet_distance(self.reference, q.features(self.clf, x)),
                "examples": len(x),
                **q.class_spread(q.predict(self.clf, x), self.clf.classes, self.min_share)}

    def draw(self, g: nn.Module, n: int) -> np.ndarray:
        """n samples in eval mode from z drawn as CompiledModel.sample draws it."""
        was = g.training
        g.eval()
        with torch.no_grad():
            z = torch.randn((n, LATENT), generator=torch.Generator().manual_seed(self.seed))
            x = g(z).double().numpy()
        g.train(was)
        return x

    def measure(self, g: nn.Module) -> dict:
        return {"samples": self.score(self.draw(g, self.n)), **self.fixed}

    def header(self) -> dict:
        return {"n": self.n, "min_share": self.min_share,
                "reference_examples": self.reference_examples,
                "classifier_accuracy": self.clf.accuracy,
                "entropy_max_bits": math.log2(self.clf.classes), "method": self.q.NOTE}


# ---------------------------------------------------------------- training


def train(x: torch.Tensor, args, quality: Quality | None, log) -> tuple[nn.Module, dict]:
    torch.manual_seed(args.seed)
    g, d = generator(), discriminator()
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = functional.binary_cross_entropy_with_logits
    epochs, total, cpu_total, steps = [], 0.0, 0.0, 0
    for epoch in range(1, args.epochs + 1):
        t, cpu = time.perf_counter(), time.process_time()
        perm = torch.randperm(len(x))
        sums = torch.zeros(2, dtype=torch.float64)
        batches = 0
        for i in range(0, len(x), args.batch):
            real = x.index_select(0, perm[i:i + args.batch])
            b = len(real)
            # D: the real images and as many fresh fakes
            fake = g(torch.randn(b, LATENT)).detach()
            if args.d_batch == "joint":  # one batch of 2B, as keras.io concatenates them
                logits = d(torch.cat([real, fake])).squeeze(1)
                on_real, on_fake = logits[:b], logits[b:]
            else:  # two batches: D's batchnorm sees fakes alone, as in the G step
                on_real, on_fake = d(real).squeeze(1), d(fake).squeeze(1)
            loss_d = bce(on_real, torch.ones(b)) + bce(on_fake, torch.zeros(b))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            # G: a fresh draw of z, non-saturating
            loss_g = bce(d(g(torch.randn(b, LATENT))).squeeze(1), torch.ones(b))
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            sums += torch.tensor([loss_g.item(), loss_d.item()], dtype=torch.float64)
            batches += 1
        seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
        total += seconds
        cpu_total += cpu
        steps += batches
        row = {"epoch": epoch, "steps": steps, "seconds": round(seconds, 2),
               "cpu_seconds": round(cpu, 2),
               "loss_g": round(float(sums[0]) / batches, 4),
               "loss_d": round(float(sums[1]) / batches, 4)}
        if quality is not None and (epoch % args.eval_every == 0 or epoch == args.epochs):
            s = quality.measure(g)["samples"]
            row |= {"fd": round(s["frechet_distance"], 3), "covered": s["covered"],
                    "entropy_bits": round(s["entropy_bits"], 3)}
        epochs.append(row)
        log(" ".join(f"{k}={v}" for k, v in row.items()))
    return g, {"epochs": epochs, "train_seconds": round(total, 2),
               "train_cpu_seconds": round(cpu_total, 2), "steps": steps}


def save_grid(g: nn.Module, path: str, seed: int) -> None:
    """An 8x8 grid of 64 samples (z from torch.Generator().manual_seed(seed)), eval mode."""
    from PIL import Image

    was = g.training
    g.eval()
    with torch.no_grad():
        z = torch.randn((64, LATENT), generator=torch.Generator().manual_seed(seed))
        x = g(z).squeeze(1).numpy()
    g.train(was)
    pad = 2
    grid = np.ones((8 * (28 + pad) + pad, 8 * (28 + pad) + pad), np.float32)
    for k, img in enumerate(x):
        r, c = divmod(k, 8)
        grid[pad + r * (28 + pad):pad + r * (28 + pad) + 28,
             pad + c * (28 + pad):pad + c * (28 + pad) + 28] = img
    big = Image.fromarray((grid * 255).round().astype(np.uint8), "L")
    big.resize((big.width * 3, big.height * 3), Image.NEAREST).save(path)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--batch", type=int, default=128, help="aespec's default batch is 128")
    p.add_argument("--train-examples", type=int, default=None,
                   help="the first N training images (default all 60000)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--d-batch", choices=("separate", "joint"), default="separate",
                   help="D's step: real and fake images as two batches (default; PyTorch's "
                   "DCGAN tutorial) or one concatenated batch (keras.io)")
    p.add_argument("--eval-every", type=int, default=0, metavar="K",
                   help="also measure the samples every K epochs (not counted as training)")
    p.add_argument("--report-seed", type=int, default=0,
                   help="the report's seed (aespec's default 0)")
    p.add_argument("--n", type=int, default=1000, help="samples measured (sample_quality n)")
    p.add_argument("--save-samples", metavar="PATH", help="write an 8x8 grid of samples (PNG)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    from aespec.data import load_data
    from aespec.model.settings import SampleQuality

    ds = load_data("fashion_mnist", {}, (1, 28, 28), need_unit_range=True)
    x = torch.from_numpy(np.ascontiguousarray(ds.x_train[:args.train_examples], np.float32))
    quality = Quality(ds, args.report_seed, args.n, SampleQuality().min_share)
    log(f"reference classifier: accuracy {quality.clf.accuracy:.4f} "
        f"({quality.classifier_seconds:.1f} s to load or train)")
    params = {"generator": count(generator()), "discriminator": count(discriminator())}
    params["total"] = params["generator"] + params["discriminator"]
    log(f"parameters: {params['total']:,} (generator {params['generator']:,}, "
        f"discriminator {params['discriminator']:,})")
    log(f"training on {len(x)} examples, {args.epochs} epochs, batch {args.batch}, "
        f"{args.threads} threads")
    g, run = train(x, args, quality if args.eval_every else None, log)
    out = {"examples": len(x), "epochs": args.epochs, "batch": args.batch, "seed": args.seed,
           "d_batch": args.d_batch,
           "threads": args.threads, "torch": torch.__version__, "cpu": platform.processor()
           or platform.machine(), "parameters": params, **run,
           "seconds_per_epoch": round(run["train_seconds"] / max(args.epochs, 1), 2),
           "sample_quality": {**quality.header(), **quality.measure(g)}}
    if args.save_samples:
        save_grid(g, args.save_samples, args.report_seed)
        out["samples_png"] = args.save_samples
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
