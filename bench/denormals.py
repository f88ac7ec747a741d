"""Epoch times of the FC-VAE with denormals flushed (aespec's default) and not, in turn.

One process, the two kinds alternating (flushed, kept, flushed, kept, ...), so a loaded
machine's drift falls on both alike; each run the same spec, seed and data. Prints each
epoch's training seconds and validation loss, and the ratio of the mean epoch times.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python bench/denormals.py --pairs 2 --epochs 4
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile

import aespec
from aespec.train import device as dev

FLUSHED = dev.flushed_denormals


def one(flush: bool, a: argparse.Namespace) -> dict:
    dev.flushed_denormals = FLUSHED if flush else contextlib.nullcontext  # type: ignore
    out = tempfile.mkdtemp(prefix="denormals-") + "/run"
    r = aespec.train(a.spec, data=a.data, out=out, quiet=True, report=False,
                     overrides=[f"train.epochs={a.epochs}", f"train.seed={a.seed}"])
    return {"flush": flush, "train_seconds": [round(h["train_seconds"], 2) for h in r.history],
            "val_loss": [round(h["val"]["loss"], 3) for h in r.history], "test": r.test["loss"]}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--spec", default="specs/vae_fc.ae")
    p.add_argument("--data", default=None)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--pairs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="bench/denormals.json")
    a = p.parse_args()
    rows = []
    for _ in range(a.pairs):
        for flush in (True, False):
            rows.append(one(flush, a))
            print(json.dumps(rows[-1]), flush=True)
    mean = {f: statistics.mean(s for r in rows if r["flush"] is f for s in r["train_seconds"])
            for f in (True, False)}
    last = {f: statistics.mean(r["train_seconds"][-1] for r in rows if r["flush"] is f)
            for f in (True, False)}
    summary = {"mean_epoch_s": mean, "last_epoch_s": last,
               "kept_over_flushed": round(mean[False] / mean[True], 3)}
    print(json.dumps(summary))
    with open(a.out, "w") as f:
        json.dump({"args": vars(a), "rows": rows, "summary": summary}, f, indent=1)


if __name__ == "__main__":
    main()
