"""The lecture's point about latent spaces, measured: an autoencoder and a VAE of the same
size on the 28x28 digits, their decodings along paths between test codes (linear for the
AE, slerp for the VAE) and one dimension varied at a time, side by side. Writes
docs/img/latent_ae_vae.png and the latent exploration section of docs/results.md (the other
sections are kept).

    PYTHONPATH=. .venv/bin/python bench/latent_ae_vae.py [--epochs 40] [--pairs 64]

Both nets are 784-256-16-256-784 dense nets, trained with the same optimizer, epochs and
seed; the VAE's bottleneck is `gaussian(16)` and its loss bce summed over pixels plus the
KL term, the AE's a `dense(16)` code and bce. `max/mean step` is the largest change
between neighbouring pictures along a path over the mean change (1: even; 9: all of it in
one of the 9 steps), over `--pairs` seeded pairs of test examples.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import tempfile

import numpy as np
from results_page import replace_section

import aespec
from aespec.report import latent
from aespec.train import load_run

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIGURE = ROOT / "docs" / "img" / "latent_ae_vae.png"
HEADING = "\n## Latent exploration: an autoencoder's codes against a VAE's"

SPEC = """model {name} "{doc}"
data digits(size=28)
input vector(784)
encoder {{
    dense(256) relu
}}
bottleneck {{
    {code}
}}
decoder {{
    dense(256) relu
    dense(784) sigmoid
}}
loss bce
train {{
    epochs {epochs}
    batch 32
    seed 0
}}
report {{
    interpolate(n=9, pairs=5)
    traverse(dims=5, steps=9, range=3)
}}
"""
MODELS = {"ae": ("dense(16)", "A dense autoencoder, 16 code values"),
          "vae": ("gaussian(16)", "A dense VAE, 16 gaussian code values")}


def _train(name: str, epochs: int, out: pathlib.Path) -> pathlib.Path:
    code, doc = MODELS[name]
    path = out / f"{name}.ae"
    path.write_text(SPEC.format(name=f"latent_{name}", doc=doc, code=code, epochs=epochs))
    aespec.train(path, out=out / name, quiet=True)
    return out / name


def roughness(pictures: np.ndarray) -> float:
    """Mean absolute difference of horizontally and vertically neighbouring pixels."""
    p = np.asarray(pictures, np.float64).reshape(-1, 28, 28)
    return float((np.abs(np.diff(p, axis=1)).mean() + np.abs(np.diff(p, axis=2)).mean()) / 2)


def _steps(run_dir: pathlib.Path, pairs: int) -> dict:
    """max/mean step over `pairs` seeded pairs of test examples, by the API; and how rough
    the traversals' pictures are against the model's own reconstructions of test data."""
    run = load_run(run_dir, device="cpu")
    x = run.data().test.x.cpu().numpy()
    idx = latent.pairs_of(len(x), pairs, 0)
    encode, decode, _ = run._code_maps()
    own = roughness(decode(encode(x)))
    ends = [run.traverse(x[i], x, dims=16, steps=9)["pictures"][:, [0, -1]] for i in idx[:8, 0]]
    found: dict = {"traverse_roughness": roughness(np.concatenate(ends)) / own}
    for path in ("linear", "slerp"):
        even = [latent.even_steps(run.interpolate(x[a], x[b], 9, path)) for a, b in idx]
        found[path] = {"mean": float(np.mean(even)), "median": float(np.median(even)),
                       "share_above_2": float(np.mean(np.array(even) > 2))}
    return found


def _figure(runs: dict[str, pathlib.Path]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(16, 9.5))
    for col, (name, run) in enumerate(runs.items()):
        for row, item in enumerate(("interpolate", "traverse")):
            ax = axes[row][col]
            ax.imshow(plt.imread(run / "report" / f"{item}.png"))
            ax.set_axis_off()
            if row == 0:
                ax.set_title("autoencoder (dense 16-value code)" if name == "ae" else
                             "VAE (gaussian(16))", fontsize=16)
    fig.tight_layout()
    fig.savefig(FIGURE, dpi=90, metadata={"Software": None})


def _rows(ae: dict, vae: dict) -> str:
    rows = []
    for path in ("linear", "slerp"):
        rows.append(f"| {path}: max/mean step, mean | {ae[path]['mean']:.2f} | "
                    f"{vae[path]['mean']:.2f} |")
        rows.append(f"| {path}: share of paths with a step over 2x the mean | "
                    f"{ae[path]['share_above_2']:.0%} | {vae[path]['share_above_2']:.0%} |")
    rows.append("| traversal ends (every dimension at ±3, 8 examples): pixel roughness over "
                f"the model's own reconstructions' | {ae['traverse_roughness']:.2f} | "
                f"{vae['traverse_roughness']:.2f} |")
    return "\n".join(rows)


def _section(results: dict, epochs: int, pairs: int) -> str:
    ae, vae = results["ae"], results["vae"]
    rows = _rows(ae, vae)
    ae_rough, vae_rough = ae["traverse_roughness"], vae["traverse_roughness"]
    return f"""{HEADING}

`bench/latent_ae_vae.py`: a dense autoencoder and a dense VAE of the same size (784-256-16,
{epochs} epochs, the same seed) on the 28x28 digits, each drawn by the report items
`interpolate(n=9, pairs=5)` and `traverse(dims=5, steps=9, range=3)`.

![AE and VAE: interpolation and traversal](img/latent_ae_vae.png)

| path between test codes ({pairs} pairs, 9 steps) | AE | VAE |
|---|---|---|
{rows}

`max/mean step`: the largest change between neighbouring decoded pictures over the mean
change, RMS per pixel (1: the pictures change evenly; 8: all of the change at one step).

What it shows, honestly. At this size (16 code values, 1,300 training images) the lecture's
contrast does **not** show in the interpolations: both models morph one digit into the
other through plausible strokes, and by the even-steps measure the AE's paths are, if
anything, a little more even than the VAE's (neither has a path with a step over twice the
mean). Where the two differ is away from the codes: the AE's traversals, ±3 standard
deviations of its own codes along one dimension, end in speckled, grainy pictures for
several dimensions (z[7], z[1], z[10] in the figure) that are no digit, while the VAE's
stay smooth, blurry digits that change shape (z[6] bends one digit towards a 9): the KL
term keeps the prior's region filled. The pixel roughness of the traversal ends is only a
weak echo of that (AE {ae_rough:.2f}, VAE {vae_rough:.2f} times their own
reconstructions'). A 2-D code, or decoding draws of N(0, I) (`samples`), shows the AE's
holes more plainly than paths between two real codes do.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--pairs", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp)
        runs = {name: _train(name, args.epochs, out) for name in MODELS}
        results = {name: _steps(run, args.pairs) for name, run in runs.items()}
        _figure(runs)
        for name, run in runs.items():
            results[name]["report"] = json.loads((run / "report.json").read_text())
    print(json.dumps({k: {p: v[p] for p in ("linear", "slerp", "traverse_roughness")}
                      for k, v in results.items()}, indent=2))
    replace_section(HEADING, _section(results, args.epochs, args.pairs))


if __name__ == "__main__":
    main()
