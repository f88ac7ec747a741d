"""Quality: what aespec's models reach, beside the same models written by hand and PCA.

    .venv/bin/python bench/quality.py            # writes docs/results.md and bench/quality.json
    .venv/bin/python bench/quality.py --quick    # tiny data, one seed (a test runs it)

Three specs at a fixed epoch budget on Fashion-MNIST (Debian's dataset-fashion-mnist; the
digits resized to 28x28 where it is missing), three seeds each:

    dense AE      specs/mirror_fc.ae       test reconstruction MSE per value
    conv denoiser specs/denoising_conv.ae  MSE of the denoised test images against the clean
                                           ones, from one fixed draw of the spec's noise
    FC-VAE        specs/vae_fc.ae          negative ELBO per test image (nats; one fixed
                                           draw of z ~ q(z|x)), and MSE at z = mu

Each aespec run trains with `train.split=1.0` (all training images, as the hand-written
loop) and is scored with its last weights. The hand-written twin of each is nn.Sequential
layers, PyTorch's default initialization, Adam at the spec's learning rate and batch, one
shuffled pass per epoch, the same loss (BCE on logits, the ELBO summed over pixels) and
penalty; it reads the very arrays aespec loaded. PCA (scikit-learn, full SVD) keeps as many
components as the code has values (at most 784), fitted on the training images.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
FASHION = Path("/usr/share/datasets/fashion-mnist")
SEEDS = (0, 1, 2)
NOISE_SEED = 1234  # the one draw of the denoiser's test noise and of the VAE's z

MODELS = {
    "dense": {"spec": "specs/mirror_fc.ae", "title": "dense AE (mirror_fc.ae)", "epochs": 10,
              "limit": None, "metric": "test MSE"},
    "denoiser": {"spec": "specs/denoising_conv.ae", "title": "conv denoiser "
                 "(denoising_conv.ae)", "epochs": 5, "limit": 10000,
                 "metric": "denoised MSE vs clean"},
    "vae": {"spec": "specs/vae_fc.ae", "title": "FC-VAE (vae_fc.ae)", "epochs": 10,
            "limit": None, "metric": "negative ELBO (nats)"},
}


def data_text(limit: int | None) -> str:
    if (FASHION / "train-images-idx3-ubyte.gz").is_file() or (
            FASHION / "train-images-idx3-ubyte").is_file():
        return f"fashion_mnist(limit={limit})" if limit else "fashion_mnist"
    return "digits(size=28)"


# ---------------------------------------------------------------- hand-written twins


def hand_model(kind: str):
    """The twin of a spec: the dense AE and the conv denoiser are train_throughput.py's
    (the same hand-written models the speed bench times), the VAE is below."""
    if kind == "vae":
        return HandVAE()
    from train_throughput import hand_model as twin  # bench/ is on the path as a script

    return twin({"dense": "fc", "denoiser": "conv"}[kind])


class HandVAE(nn.Module):
    """784-512-256, mu and log sigma^2 heads of 20, decoder 20-256-512-784 (logits)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256),
                                  nn.ReLU())
        self.mu, self.logvar = nn.Linear(256, 20), nn.Linear(256, 20)
        self.dec = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 512),
                                 nn.ReLU(), nn.Linear(512, 784))

    def forward(self, x):
        h = self.body(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if self.training else mu
        return self.dec(z), mu, logvar


def hand_loss(kind: str, model, xb, weights):
    from torch.nn import functional

    if kind == "vae":
        logits, mu, logvar = model(xb)
        recon = functional.binary_cross_entropy_with_logits(logits, xb, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.square() - logvar.exp())
        return (recon + kl) / len(xb)
    inp = xb if kind == "dense" else (xb + 0.5 * torch.randn_like(xb)).clamp(0.0, 1.0)
    loss = functional.binary_cross_entropy_with_logits(model(inp), xb)
    if kind == "denoiser":  # regularize l2(1e-5)
        loss = loss + 1e-5 * sum(w.square().sum() for w in weights)
    return loss


def hand_train(kind: str, x, seed: int, epochs: int, batch: int):
    """The careful script a user would write: seeded, shuffled, Adam, eval mode at the end."""

    torch.manual_seed(seed)
    model = hand_model(kind)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    weights = [p for p in model.parameters() if p.dim() > 1]
    x = torch.as_tensor(x)
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), batch):
            loss = hand_loss(kind, model, x.index_select(0, perm[i:i + batch]), weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


# ---------------------------------------------------------------- scoring


class Scorer:
    """One model's test predictions, whoever wrote it: `recon(x)` in data space, and for
    the VAE `posterior(x) -> (mu, logvar)` and `decode(z)`."""

    def __init__(self, recon, posterior=None, decode=None):
        self.recon, self.posterior, self.decode = recon, posterior, decode


def aespec_scorer(model) -> Scorer:
    def posterior(x):
        out = model(x)
        return out.extras["mu"], out.extras["logvar"]

    return Scorer(lambda x: model(x).x_hat, posterior, model.decode)


def hand_scorer(kind: str, model) -> Scorer:

    if kind == "vae":
        return Scorer(lambda x: torch.sigmoid(model(x)[0]),
                      lambda x: model(x)[1:], lambda z: torch.sigmoid(model.dec(z)))
    return Scorer(lambda x: torch.sigmoid(model(x)))


def _batched(fn, x, size: int = 1000):

    with torch.no_grad():
        return torch.cat([fn(x[i:i + size]) for i in range(0, len(x), size)])


def score(kind: str, s: Scorer, x_test, noisy) -> dict[str, float]:
    """The metric of `kind` on the test set, and the MSE beside it."""

    x = torch.as_tensor(x_test)
    if kind == "denoiser":
        pred = _batched(s.recon, torch.as_tensor(noisy))
        return {"metric": float((pred - x).square().mean()), "mse": float(
            (pred - x).square().mean())}
    mse = float((_batched(s.recon, x) - x).square().mean())
    if kind == "dense":
        return {"metric": mse, "mse": mse}
    return {"metric": neg_elbo(s, x), "mse": mse}


def neg_elbo(s: Scorer, x) -> float:
    """Mean over test images of BCE(x, decode(z)) summed over pixels + KL(q(z|x) || N(0, I)),
    z one draw from q (the same draw for every model: NOISE_SEED)."""

    total, gen = 0.0, torch.Generator().manual_seed(NOISE_SEED)
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            xb = x[i:i + 1000]
            mu, logvar = s.posterior(xb)
            z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen)
            p = s.decode(z).reshape(len(xb), -1).clamp(1e-7, 1 - 1e-7)
            t = xb.reshape(len(xb), -1)
            recon = -(t * p.log() + (1 - t) * (1 - p).log()).sum()
            kl = -0.5 * torch.sum(1 + logvar - mu.square() - logvar.exp())
            total += float(recon + kl)
    return total / len(x)


def baselines(kind: str, ds, z_values: int, noisy) -> dict[str, float]:
    """PCA with as many components as z has values, and the mean training image."""
    import numpy as np
    from sklearn.decomposition import PCA

    flat = ds.x_train.reshape(len(ds.x_train), -1)
    test = ds.x_test.reshape(len(ds.x_test), -1)
    source = test if noisy is None else noisy.reshape(len(noisy), -1)
    k = min(z_values, *flat.shape)
    pca = PCA(n_components=k, svd_solver="full").fit(flat)
    rebuilt = np.clip(pca.inverse_transform(pca.transform(source)), 0, 1)
    out = {"pca_k": k, "pca_mse": float(np.mean((rebuilt - test) ** 2)),
           "mean_image_mse": float(np.mean((flat.mean(0) - test) ** 2))}
    if noisy is not None:
        out["noisy_input_mse"] = float(np.mean((source - test) ** 2))
    return out


# ---------------------------------------------------------------- one model, all seeds


def run_model(kind: str, seeds: tuple[int, ...], quick: bool) -> dict:
    import numpy as np

    import aespec.train

    m = MODELS[kind]
    limit = 600 if quick else m["limit"]
    epochs = 1 if quick else m["epochs"]
    rows, ds, noisy, z_values = [], None, None, 0
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            aespec.train(str(ROOT / m["spec"]), data=data_text(limit), epochs=epochs,
                         out=Path(tmp) / "run", quiet=True, report=False,
                         overrides=[f"train.seed={seed}", "train.split=1.0"])
            run = aespec.train.load_run(Path(tmp) / "run", which="last", device="cpu")
            a_seconds = time.perf_counter() - start
        if ds is None:
            ds = run.dataset()
            z_values = int(np.prod(run.model.info.z_shape))
            if kind == "denoiser":  # one draw of the spec's own noise for every model
                torch.manual_seed(NOISE_SEED)
                noisy = run.model.corrupt(torch.as_tensor(ds.x_test)).numpy()
        start = time.perf_counter()
        hand = hand_train(kind, ds.x_train, seed, epochs, run.spec.train.batch)
        h_seconds = time.perf_counter() - start
        rows.append({"seed": seed, "aespec": score(kind, aespec_scorer(run.model), ds.x_test,
                                                   noisy),
                     "hand": score(kind, hand_scorer(kind, hand), ds.x_test, noisy),
                     "aespec_seconds": a_seconds, "hand_seconds": h_seconds})
    assert ds is not None
    return {"kind": kind, "title": m["title"], "metric": m["metric"], "epochs": epochs,
            "data": data_text(limit), "train": len(ds.x_train), "test": len(ds.x_test),
            "seeds": rows, **baselines(kind, ds, z_values, noisy)}


def summary(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values),
            "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)}


# ---------------------------------------------------------------- the page


def _cell(s: dict[str, float], digits: int) -> str:
    return f"{s['mean']:.{digits}f} ± {s['sd']:.{digits}f}"


def render(results: list[dict], machine: str) -> str:
    lines = ["# Results: what the shipped specs reach",
             "",
             "Generated by `make bench` (`bench/quality.py`); do not edit by hand. "
             f"{machine}.",
             "",
             "Each model trained from its spec by aespec and, beside it, the same model "
             "written by hand in PyTorch (same data arrays, initialization, optimizer, batch, "
             "loss, epochs); three seeds each, mean ± standard deviation. PCA keeps as many "
             "components as the code has values (at most 784). Lower is better everywhere.",
             "",
             "| model | data, epochs | metric | aespec | hand-written | aespec / hand | "
             "PCA (k) | mean image |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    notes = []
    for r in results:
        digits = 2 if r["kind"] == "vae" else 4
        a = summary([s["aespec"]["metric"] for s in r["seeds"]])
        h = summary([s["hand"]["metric"] for s in r["seeds"]])
        pca = "–" if r["kind"] == "vae" else f"{r['pca_mse']:.4f} ({r['pca_k']})"
        lines.append(f"| {r['title']} | {r['data']}, {r['train']:,} train / {r['test']:,} "
                     f"test, {r['epochs']} epochs | {r['metric']} | {_cell(a, digits)} | "
                     f"{_cell(h, digits)} | {a['mean'] / h['mean']:.3f} | {pca} | "
                     f"{r['mean_image_mse']:.4f} |")
        spread = 2 * max(a["sd"], h["sd"])
        verdict = ("one seed: no spread to compare with" if len(r["seeds"]) < 2 else
                   "within two seed standard deviations of" if abs(a["mean"] - h["mean"])
                   <= spread else "more than two seed standard deviations from")
        notes.append(f"- {r['title']}: aespec is {verdict} the hand-written model "
                     f"({a['mean']:.4g} against {h['mean']:.4g}, 2 sd = {spread:.2g}).")
        if r["kind"] == "denoiser":
            notes.append(f"  The noisy inputs themselves are {r['noisy_input_mse']:.4f} from "
                         f"the clean images; PCA with k={r['pca_k']} keeps the noise.")
        if r["kind"] == "vae":
            mse = summary([s["aespec"]["mse"] for s in r["seeds"]])
            hmse = summary([s["hand"]["mse"] for s in r["seeds"]])
            notes.append(f"  Reconstruction MSE at z = mu: aespec {_cell(mse, 4)}, "
                         f"hand-written {_cell(hmse, 4)}, PCA (k={r['pca_k']}) "
                         f"{r['pca_mse']:.4f}.")
        if r["kind"] == "dense":
            notes.append(f"  PCA with {r['pca_k']} components: {r['pca_mse']:.4f}; the AE is "
                         f"{'below' if a['max'] < r['pca_mse'] else 'not below'} it on every "
                         "seed.")
        seconds = summary([s["aespec_seconds"] for s in r["seeds"]])
        hsec = summary([s["hand_seconds"] for s in r["seeds"]])
        notes.append(f"  Wall time per seed: aespec {seconds['mean']:.1f} s (whole run: data, "
                     f"training, checkpoints), hand-written {hsec['mean']:.1f} s (training).")
    return "\n".join(lines + ["", *notes, ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="600 images, 1 epoch, 1 seed")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results.md")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "quality.json")
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args(argv)
    seeds = SEEDS[:1] if args.quick else SEEDS
    results = []
    for kind in args.models.split(","):
        print(f"{MODELS[kind]['title']}: {len(seeds)} seed(s) ...", flush=True)
        results.append(run_model(kind, seeds, args.quick))

    machine = (f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
               f"{torch.get_num_threads()} threads, {time.strftime('%Y-%m-%d')}")
    # the sections of the other benches, each from its own JSON file (bench/results_page.py)
    from dbn import section as dbn_section
    from gan_results import section as gan_section
    from nll import section as nll_section

    args.out.write_text(render(results, machine) + gan_section() + nll_section()
                        + dbn_section(), encoding="utf-8")
    args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} and {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
