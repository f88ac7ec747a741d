"""The RBM's samples beside the VAE's: specs/rbm.ae and specs/vae_samples.ae (the shipped
dense Bernoulli VAE on the same 8x8 digits) trained as shipped, three seeds.  Each model's
1,000 samples are measured against the test digits in the reference classifier's features
(the report's `sample_quality`), and each model's test NLL in nats is estimated: the RBM's
as F(v) + log Z with log Z by annealed importance sampling, the VAE's by importance
sampling from q(z|x); and a Gaussian-visible RBM's AIS NLL on standardized digits.
Writes docs/img/rbm_vae_samples.png (seed 0's samples beside real
test digits), bench/RBM_VAE_RESULTS.json and the section of docs/results.md.

    PYTHONPATH=. .venv/bin/python bench/rbm_vae.py [--chains 100] [--betas 10000] [--k 5000]
    PYTHONPATH=. .venv/bin/python bench/rbm_vae.py --page     # only rewrite the section
"""

from __future__ import annotations

import argparse
import json
import pathlib
import tempfile
import time

import numpy as np
import torch
from results_page import replace_section

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = {"rbm": ROOT / "specs" / "rbm.ae", "vae": ROOT / "specs" / "vae_samples.ae"}
# (spec, epochs or None as shipped, a change to its text): the RBM as shipped trains 15
# epochs, the VAE 100, so the RBM also runs 100 epochs, by CD-1 and by PCD-1
MODELS = {"rbm": ("rbm", None, None), "rbm100": ("rbm", 100, None),
          "pcd100": ("rbm", 100, ("k=1)", "k=1, persistent=true)")),
          "vae": ("vae", None, None)}
NAMES = {"rbm": "rbm.ae (CD-1)", "rbm100": "rbm.ae (CD-1), 100 epochs",
         "pcd100": "rbm.ae with persistent=true (PCD-1), 100 epochs", "vae": "vae_samples.ae"}
SEEDS = (0, 1, 2)
SAMPLES = 1000  # measured by sample_quality
SHOWN = 64  # in the figure
OUT = ROOT / "bench" / "RBM_VAE_RESULTS.json"
FIGURE = ROOT / "docs" / "img" / "rbm_vae_samples.png"
HEADING = "\n## Samples: the RBM beside a VAE on the same digits"


def _source(name: str) -> str:
    """The spec as shipped (with its change), its report asking for
    `sample_quality(n=1000)`."""
    spec, _, change = MODELS[name]
    text = SPECS[spec].read_text()
    if change is not None:
        assert change[0] in text
        text = text.replace(change[0], change[1])
    lines = [s for s in text.splitlines() if not s.strip().startswith("sample_quality")]
    at = next(i for i, s in enumerate(lines) if s.strip().startswith("samples("))
    lines.insert(at + 1, f"    sample_quality(n={SAMPLES})")
    return "\n".join(lines) + "\n"


def _nll(name: str, run, args: argparse.Namespace) -> dict:
    from aespec.train.ais import ais_nll
    from aespec.train.evaluate import importance_nll

    data = run.data(None)
    if MODELS[name][0] == "rbm":
        found = ais_nll(run.model, data.test, data.train.x, args.chains, 0, args.betas)
        return {"nats": found.mean, "se": found.se, "method": f"AIS, {args.chains} chains "
                f"of {args.betas} steps", "log_z": found.partition.log_z,
                "log_z_se": found.partition.se}
    found = importance_nll(run.model, data.test, args.k, 0)
    return {"nats": found.mean, "se": found.se, "method": f"importance sampling, K = {args.k}"}


def run_one(name: str, seed: int, args: argparse.Namespace) -> tuple[dict, np.ndarray]:
    """One model, one seed: its sample quality, NLL, reconstruction error and seconds, and
    SHOWN samples for the figure."""
    import aespec

    out = pathlib.Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    (out / f"{name}.ae").write_text(_source(name))
    start = time.perf_counter()
    epochs = MODELS[name][1]
    result = aespec.train(out / f"{name}.ae", overrides=[f"train.seed={seed}"],
                          epochs=epochs, out=out / "run", quiet=True)
    seconds = time.perf_counter() - start
    report = json.loads((out / "run" / "report.json").read_text())["sample_quality"]
    run = aespec.train.load_run(out / "run")
    row = {"model": name, "seed": seed, "seconds": round(seconds, 1),
           "epochs": run.spec.train.epochs, "test": result.test,
           "nll": _nll(name, run, args), "classifier_accuracy": report["classifier_accuracy"],
           **{k: {m: report[k][m] for m in ("frechet_distance", "covered", "entropy_bits")}
              for k in ("samples", "real_data", "noise", "mean_image")}}
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        shown = run.model.eval().sample(SHOWN, generator=gen).double().cpu().numpy()
    print(json.dumps({k: row[k] for k in ("model", "seed", "seconds", "samples", "nll")}),
          flush=True)
    return row, shown


def gaussian_rbm(args: argparse.Namespace) -> dict:
    """rbm.ae with Gaussian visible units (unit variance) on the digits standardized pixel
    by pixel (the training split's mean and sd, sd floored at 0.1), 30 epochs at lr 0.01:
    its AIS test NLL beside two Gaussians on the same values, N(mean, I) (the rbm without
    weights: its AIS base model) and N(mean, diag(var)) fitted to the training split."""
    import math

    import aespec
    from aespec.data import load_data
    from aespec.train.ais import ais_nll

    data = load_data("digits", {}, (64,))
    x_train, x_test = (np.asarray(a, np.float64) for a in (data.x_train, data.x_test))
    mean, sd = x_train.mean(0), np.maximum(x_train.std(0), 0.1)
    out = pathlib.Path(tempfile.mkdtemp(prefix="bench-grbm-"))
    np.savez(out / "std.npz", x_train=((x_train - mean) / sd).astype(np.float32),
             x_test=((x_test - mean) / sd).astype(np.float32))
    text = _source("rbm")
    for old, new in (("data digits ", 'data npz("std.npz", x="x_train") '),
                     ("visible=bernoulli", "visible=gaussian"), ("loss bce", "loss mse"),
                     ("lr=0.05", "lr=0.01"), ("epochs 15", "epochs 30"),
                     (f"    sample_quality(n={SAMPLES})\n", "")):
        assert old in text, old
        text = text.replace(old, new)
    (out / "grbm.ae").write_text(text)
    aespec.train(out / "grbm.ae", out=out / "run", quiet=True, report=False)
    run = aespec.train.load_run(out / "run")
    ds = run.data(None)
    found = ais_nll(run.model, ds.test, ds.train.x, args.chains, 0, args.betas)
    xt, xs = ds.test.x.double().flatten(1), ds.train.x.double().flatten(1)
    mu, var = xs.mean(0), xs.var(0).clamp_min(1e-3)
    unit = (0.5 * (xt - mu).square().sum(1)).mean().item() + 32 * math.log(2 * math.pi)
    diag = (0.5 * ((xt - mu).square() / var).sum(1)).mean().item() + \
        0.5 * float((2 * math.pi * var).log().sum())
    row = {"nats": found.mean, "se": found.se, "log_z": found.partition.log_z,
           "unit_gaussian": unit, "diagonal_gaussian": diag}
    print(json.dumps({"gaussian rbm": row}), flush=True)
    return row


def _grid(x: np.ndarray, cols: int = 8) -> np.ndarray:
    """(N, 64) as one picture of 8x8 cells, a line of NaN between them."""
    n, side = len(x), int(round(x.shape[1] ** 0.5))
    rows = -(-n // cols)
    canvas = np.full((rows * (side + 1) + 1, cols * (side + 1) + 1), np.nan)
    for i, cell in enumerate(x.reshape(n, side, side)):
        r, c = divmod(i, cols)
        canvas[1 + r * (side + 1):1 + r * (side + 1) + side,
               1 + c * (side + 1):1 + c * (side + 1) + side] = cell
    return canvas


def draw(panels: list[tuple[str, np.ndarray]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.8))
    cmap = plt.get_cmap("gray").copy()
    cmap.set_bad("white")
    for ax, (title, x) in zip(axes, panels, strict=True):
        ax.imshow(np.ma.masked_invalid(_grid(x)), cmap=cmap, vmin=0, vmax=1,
                  interpolation="nearest")
        ax.set_title(title, fontsize=11)
        ax.axis("off")
    fig.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=110)
    plt.close(fig)


def _mean_sd(values: list[float], digits: int = 1) -> str:
    a = np.asarray(values, float)
    return f"{a.mean():.{digits}f} ± {a.std(ddof=1):.{digits}f}" if len(a) > 1 else \
        f"{a[0]:.{digits}f}"


def section() -> str:
    """The samples section of docs/results.md from the JSON ("" without)."""
    if not OUT.exists():
        return ""
    got = json.loads(OUT.read_text())
    rows = got["runs"]
    by = {m: [r for r in rows if r["model"] == m] for m in MODELS}
    first = rows[0]
    lines = [HEADING, "",
             f"Generated by `bench/rbm_vae.py` ({got['recorded']}); one torch thread on the "
             "shared 2-core machine. `specs/rbm.ae` (64-100 Bernoulli RBM, CD-1) and "
             "`specs/vae_samples.ae` (the dense Bernoulli VAE, 64-128-8) trained as shipped "
             "on the 8x8 digits, and the RBM also for the VAE's 100 epochs, by CD-1 and by "
             "PCD-1 (`persistent=true`), seeds " + ", ".join(str(s) for s in got["seeds"])
             + ". "
             f"Each model's {SAMPLES:,} samples (the RBM's: 1000-step Gibbs chains from "
             "noise, the mean-field p(v|h) of their last state; the VAE's: decoded "
             "z ~ N(0, I)) against the 360 test digits in the reference classifier's "
             f"features (right on {first['classifier_accuracy']:.1%} of them; FID's method, "
             "not Inception: compare within this table). NLL: -log p(x) on the test digits "
             f"in nats, the RBM's F(v) + log Z, log Z by {by['rbm'][0]['nll']['method']}"
             f" (`aespec eval --nll 100`), the VAE's by {by['vae'][0]['nll']['method']}; all "
             "read the grey levels as Bernoulli pixels (the RBM's p(v) at a grey v is the "
             "same reading), so they compare with each other and not with binarized-digit "
             "figures. Mean ± standard deviation over the seeds; lower is better.", "",
             "| model | epochs | Fréchet distance | classes covered (each seed) | entropy "
             "(bits) | test NLL (nats) | seconds (median) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, rs in by.items():
        lines.append(
            f"| {NAMES[name]} | {rs[0]['epochs']} | "
            f"{_mean_sd([r['samples']['frechet_distance'] for r in rs])} | "
            + ", ".join(str(r["samples"]["covered"]) for r in rs) + " of 10 | "
            f"{np.mean([r['samples']['entropy_bits'] for r in rs]):.2f} | "
            f"{_mean_sd([r['nll']['nats'] for r in rs], 2)} | "
            f"{np.median([r['seconds'] for r in rs]):.0f} |")
    lines += ["", f"Floor and ceilings of the Fréchet distance: real training digits "
              f"{first['real_data']['frechet_distance']:.1f}, uniform noise "
              f"{first['noise']['frechet_distance']:.0f}, the mean image "
              f"{first['mean_image']['frechet_distance']:.0f}. The RBM's log Z (seed 0): "
              f"{by['rbm'][0]['nll']['log_z']:.3f} ± {by['rbm'][0]['nll']['log_z_se']:.3f}.",
              ""]
    g = got.get("gaussian")
    if g is not None:
        lines += [f"Gaussian visible units: `rbm.ae` with `visible=gaussian` on the digits "
                  "standardized pixel by pixel (the training split's mean and sd, sd "
                  "floored at 0.1), 30 epochs at lr 0.01, seed 0: test NLL by AIS "
                  f"{g['nats']:.2f} ± {g['se']:.2f} nats per digit (a density of the "
                  f"standardized values), against {g['unit_gaussian']:.2f} for N(mean, I), "
                  f"the same model without weights, and {g['diagonal_gaussian']:.2f} for a "
                  "Gaussian with each pixel's own variance: the RBM learns from the data "
                  "(6 nats below its base model), but its unit-variance visible units "
                  "cannot narrow onto the nearly constant border pixels, where a Gaussian "
                  "with their own small variance scores a high density.", ""]
    lines += ["Seed 0's samples: 64 test digits, the RBM as shipped, the RBM by PCD-1 for "
              "100 epochs, the VAE.", "",
              "![64 test digits, 64 RBM samples, 64 PCD RBM samples, 64 VAE samples]"
              "(img/rbm_vae_samples.png)", ""]
    notes = ROOT / "bench" / "rbm_vae_seen.md"  # what was seen in the figure, by a person
    if notes.exists():
        lines += [notes.read_text().strip(), ""]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--chains", type=int, default=100, help="AIS chains of the RBM's log Z")
    p.add_argument("--betas", type=int, default=10_000, help="AIS steps")
    p.add_argument("--k", type=int, default=5000, help="importance samples of the VAE's NLL")
    p.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    p.add_argument("--page", action="store_true", help="only rewrite docs/results.md's section")
    args = p.parse_args()
    if not args.page:
        torch.set_num_threads(1)
        rows, shown = [], {}
        for seed in args.seeds:
            for name in MODELS:
                row, x = run_one(name, seed, args)
                rows.append(row)
                shown.setdefault(name, x)
        from aespec.data import load_data

        test = load_data("digits", {}, (64,)).x_test[:SHOWN]
        draw([("64 test digits", np.asarray(test)),
              ("RBM (rbm.ae, CD-1, 15 epochs)", shown["rbm"]),
              ("RBM (PCD-1, 100 epochs)", shown["pcd100"]),
              ("VAE (vae_samples.ae, 100 epochs)", shown["vae"])])
        gaussian = gaussian_rbm(args)
        OUT.write_text(json.dumps({"runs": rows, "seeds": args.seeds, "gaussian": gaussian,
                                   "recorded": time.strftime("%Y-%m-%d %H:%M")},
                                  indent=1) + "\n")
    replace_section(HEADING, section())


if __name__ == "__main__":
    main()
