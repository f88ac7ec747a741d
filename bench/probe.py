"""Linear-probe accuracy of every shipped model with a code (specs/*.ae) on its own data,
against the same probe on PCA codes of as many values and on the raw inputs. Writes
bench/PROBE_RESULTS.json (row by row, so a long run keeps what it finished) and the probe
section of docs/results.md (the other sections are kept).

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python bench/probe.py [--only rbm som ...]
    PYTHONPATH=. .venv/bin/python bench/probe.py --page     # only rewrite the page's section

Each spec trains as shipped, except on Fashion-MNIST, where a spec that reads all 60,000
images reads the first FASHION_LIMIT (training and test) and trains at most
FASHION_EPOCHS epochs: one torch thread on a shared 2-core machine. The probe
(aespec/report/probe.py: logistic regression on standardised features) is fitted on up to
PROBE_EXAMPLES training examples and scored on up to as many test examples, the same ones
for the three features. A conditional model (its codes are given the labels) and data
without class labels (or whose labels mark anomalies) have no probe: listed, not scored.
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
OUT = ROOT / "bench" / "PROBE_RESULTS.json"
HEADING = "\n## Linear probes: every shipped model's codes, PCA codes, raw inputs"
FASHION_LIMIT = 10_000
FASHION_EPOCHS = 5
PROBE_EXAMPLES = 5_000


def why_not(spec) -> str | None:
    """Why a spec has no probe; None where it has one."""
    from aespec.graph.heads import unlabelled

    if spec.condition is not None:
        return "conditional: its codes are given the labels"
    why = unlabelled(spec)
    return None if why is None else f"no class labels: {why}"


def budget(spec) -> tuple[int, str | None]:
    """The epochs and the data a spec trains on here (None: its own data line)."""
    data = spec.data
    if data.source == "fashion_mnist" and "limit" not in data.args:
        args = ", ".join([f"limit={FASHION_LIMIT}", *(f"{k}={v!r}" for k, v in
                                                     data.args.items())])
        return min(spec.train.epochs, FASHION_EPOCHS), f"fashion_mnist({args})"
    return spec.train.epochs, None


def subset(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.arange(n) if n <= PROBE_EXAMPLES else \
        np.sort(rng.choice(n, PROBE_EXAMPLES, replace=False))


def probe_spec(path: pathlib.Path, pixels: dict) -> dict:
    """Train one spec and probe its codes, PCA codes and the raw inputs (cached by data)."""
    import aespec
    from aespec.report.pca import fit_pca
    from aespec.report.probe import code_fn, fit_probe

    spec = aespec.load(path)
    row: dict = {"spec": path.stem, "data": spec.data.source if spec.data else None}
    why = why_not(spec)
    if why is not None:
        return {**row, "skipped": why}
    epochs, data = budget(spec)
    start = time.perf_counter()
    out = pathlib.Path(tempfile.mkdtemp(prefix="bench-probe-"))
    result = aespec.train(path, epochs=epochs, data=data, out=out / "run", quiet=True,
                          report=False)
    ds = aespec.train.load_run(result.run_dir).dataset(None)
    tr, te = subset(len(ds.x_train)), subset(len(ds.x_test), 1)
    x_tr, x_te = (np.asarray(a, np.float32) for a in (ds.x_train[tr], ds.x_test[te]))
    y_tr, y_te = np.asarray(ds.labels_train)[tr], np.asarray(ds.labels_test)[te]
    encode, features = code_fn(result.model.eval(), "cpu")
    c_tr, c_te = encode(x_tr), encode(x_te)
    flat_tr, flat_te = x_tr.reshape(len(x_tr), -1), x_te.reshape(len(x_te), -1)
    mean, comps = fit_pca(flat_tr, c_tr.shape[1])
    key = ds.description
    if key not in pixels:
        pixels[key] = fit_probe(flat_tr, y_tr, flat_te, y_te)
    row.update(data=data or _data_text(spec), epochs=epochs, features=features,
               dims=int(c_tr.shape[1]), model=fit_probe(c_tr, y_tr, c_te, y_te),
               pca=fit_probe((flat_tr - mean) @ comps.T, y_tr, (flat_te - mean) @ comps.T,
                             y_te),
               pixels=pixels[key], inputs=int(flat_tr.shape[1]), train=len(tr), test=len(te),
               seconds=round(time.perf_counter() - start, 1))
    return row


def _data_text(spec) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in spec.data.args.items())
    return f"{spec.data.source}({args})" if args else spec.data.source


# the code column's short names of report/probe.py's `features`
SHORT = {"the code z, evaluation semantics (a VAE's mu)": "z (a VAE's mu)",
         "the rbm's hidden probabilities p(h|v)": "p(h|v)",
         "the winning unit's place on the som's grid": "winner's grid place",
         "the discriminator's penultimate features": "D's penultimate layer"}


def section() -> str:
    """The probe section of docs/results.md from the JSON ("" without)."""
    if not OUT.exists():
        return ""
    got = json.loads(OUT.read_text())
    rows = sorted(got["rows"], key=lambda r: ("skipped" in r, r["spec"]))
    lines = [HEADING, "",
             f"Generated by `bench/probe.py` ({got['recorded']}); one torch thread. Each spec "
             "of `specs/` trains as shipped, except that a Fashion-MNIST spec reading all "
             f"60,000 images reads the first {FASHION_LIMIT:,} (training and test) and trains "
             f"at most {FASHION_EPOCHS} epochs. A linear probe (multinomial logistic "
             "regression on standardised features, `report { probe }`) is fitted on the "
             f"class labels of up to {PROBE_EXAMPLES:,} training examples and scored on up to "
             f"{PROBE_EXAMPLES:,} test examples: the model's frozen codes, PCA codes of as "
             "many values (fitted on the same examples), and the raw inputs. Codes: an "
             "autoencoder's z (a VAE's mu, a vq's quantized code), an RBM's p(h|v), a som's "
             "winner's grid place, a GAN's discriminator's penultimate features (the input "
             "of its last layer). Bold: the best of the three.", "",
             "| spec | data | epochs | code | values | probe on codes | PCA codes | raw inputs |",
             "|---|---|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['spec']} | {r['data']} | | {r['skipped']} | | | | |")
            continue
        best = max(r["model"], r["pca"], r["pixels"])
        cells = [f"**{r[k]:.3f}**" if r[k] == best else f"{r[k]:.3f}"
                 for k in ("model", "pca", "pixels")]
        lines.append(f"| {r['spec']} | {r['data']} | {r['epochs']} | "
                     f"{SHORT.get(r['features'], r['features'])} | "
                     f"{r['dims']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", nargs="*", help="these specs (by stem); the others' rows kept")
    p.add_argument("--page", action="store_true", help="only rewrite docs/results.md's section")
    args = p.parse_args()
    if not args.page:
        torch.set_num_threads(1)
        kept = json.loads(OUT.read_text())["rows"] if OUT.exists() and args.only else []
        rows = [r for r in kept if r["spec"] not in (args.only or [])]
        pixels: dict = {}
        paths = sorted((ROOT / "specs").glob("*.ae"))
        for path in paths:
            if args.only and path.stem not in args.only:
                continue
            try:
                row = probe_spec(path, pixels)
            except Exception as err:  # noqa: BLE001 - one spec's failure is a row, not the end
                row = {"spec": path.stem, "data": "", "skipped": f"failed: {err}"}
            print(json.dumps(row), flush=True)
            rows.append(row)
            OUT.write_text(json.dumps({"rows": rows, "recorded": time.strftime(
                "%Y-%m-%d %H:%M")}, indent=1) + "\n")
    replace_section(HEADING, section())


if __name__ == "__main__":
    main()
