"""An autograder for autoencoder assignments written as aespec specs (docs/grading.md).

    python docs/examples/autograder.py submission.ae --max-params 20000 --max-code 16 \
        --require noise --max-test-mse 0.03 --epochs 5

Each criterion passes or fails on its own; the script prints one line per criterion (or,
with --json, one JSON object), and exits 0 when every criterion passes, 1 otherwise.

1. The spec checks: `aespec check --json` (the documented, versioned output:
   docs/check-json.schema.json) reports no error. Warnings are listed, not failed.
2. The budget: at most --max-params trainable parameters, a code z of at most
   --max-code values; both read from the same JSON.
3. The techniques the assignment asks for (--require noise, kl, sparsity, contractive,
   conv, mirror): read from the checked spec through aespec's Python API.
4. The training target: a short run (--epochs) on the spec's data (or --data), then the
   mean squared error of the test set's reconstructions must be below --max-test-mse.
   Without --max-test-mse the run is a --fast-dev-run: one batch of every stage, to show
   that the spec trains at all.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aespec


@dataclass
class Criterion:
    name: str
    passed: bool
    detail: str


def _ops(spec: Any) -> list[str]:
    decoder = spec.decoder if isinstance(spec.decoder, list) else []
    return [c.op for c in [*spec.encoder, *spec.bottleneck, *decoder]]


def _regularizers(spec: Any) -> set[str]:
    return {r.call.op for r in spec.regularizers}


# what each required technique means, read from the checked spec (aespec.model.Spec)
TECHNIQUES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "noise": ("a noise line (a denoising autoencoder)", lambda s: bool(s.noise)),
    "kl": ("a KL term: a gaussian latent (VAE) or kl_sparsity",
           lambda s: "gaussian" in _ops(s) or "kl_sparsity" in _regularizers(s)),
    "sparsity": ("a sparsity penalty: kl_sparsity or activity_l1",
                 lambda s: bool({"kl_sparsity", "activity_l1"} & _regularizers(s))),
    "contractive": ("a contractive penalty", lambda s: "contractive" in _regularizers(s)),
    "conv": ("a convolutional encoder", lambda s: "conv" in [c.op for c in s.encoder]),
    "mirror": ("a mirrored decoder", lambda s: not isinstance(s.decoder, list)),
}


def check_json(path: Path) -> dict:
    """`aespec check --json PATH`, run as a grader would run it, parsed."""
    proc = subprocess.run([sys.executable, "-m", "aespec", "check", "--json", "--schema", "1",
                           str(path)],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        raise SystemExit(f"aespec check failed to run: {proc.stderr.strip()}")
    payload = json.loads(proc.stdout.splitlines()[0])
    assert payload["schema_version"] == 1, "this grader reads schema version 1"
    return payload


def static_criteria(payload: dict, args: argparse.Namespace) -> list[Criterion]:
    """Criteria 1 and 2: the spec checks, and it fits the budget."""
    errors = [d for d in payload["diagnostics"] if d["severity"] == "error"]
    warnings = [d["code"] for d in payload["diagnostics"] if d["severity"] == "warning"]
    first = f"{errors[0]['code']} at line {errors[0]['line']}: {errors[0]['message']}" \
        if errors else ""
    found = [Criterion("checks", payload["ok"], first or "no errors" + (
        f" (warnings: {', '.join(warnings)})" if warnings else ""))]
    model = payload.get("model")
    if args.max_params is not None:
        params = model["params"] if model else None
        found.append(Criterion("params", params is not None and params <= args.max_params,
                               f"{params} parameters, at most {args.max_params}"))
    if args.max_code is not None:
        z = math.prod(model["z"]) if model and model["z"] else None
        found.append(Criterion("code", z is not None and z <= args.max_code,
                               f"a code of {z} values, at most {args.max_code}"))
    return found


def technique_criteria(spec: Any, required: list[str]) -> list[Criterion]:
    return [Criterion(f"uses {name}", TECHNIQUES[name][1](spec), TECHNIQUES[name][0])
            for name in required]


def reconstruction_mse(run_dir: Path) -> float:
    """The mean squared error of the run's best weights on its test set (the clean
    target: noise is applied in training only)."""
    loaded = aespec.train.load_run(run_dir)  # eval mode: no noise, z = mu for a VAE
    test = loaded.data().test
    x_hat = loaded.model(test.x).x_hat.detach()
    target = test.x if test.y is None else test.y
    return float(((x_hat - target) ** 2).mean())


def training_criterion(path: Path, args: argparse.Namespace) -> Criterion:
    """Criterion 4: a short run reaches the target (or a fast-dev-run, without one)."""
    with tempfile.TemporaryDirectory(prefix="autograder-") as tmp:
        try:
            if args.max_test_mse is None:
                aespec.train(path, data=args.data, out=Path(tmp) / "run", quiet=True,
                             fast_dev_run=True)
                return Criterion("trains", True, "a fast-dev-run went through every stage")
            result = aespec.train(path, data=args.data, epochs=args.epochs, quiet=True,
                                  out=Path(tmp) / "run", overrides=["train.seed=0"])
            mse = reconstruction_mse(result.run_dir)
        except aespec.AespecError as err:
            return Criterion("trains", False, str(err).splitlines()[0])
    return Criterion("test mse", mse < args.max_test_mse,
                     f"{mse:.4f} after {args.epochs} epochs, below {args.max_test_mse}")


def grade(path: Path, args: argparse.Namespace) -> list[Criterion]:
    payload = check_json(path)
    found = static_criteria(payload, args)
    if not payload["ok"]:
        return found  # nothing more can be read from a spec with errors
    found += technique_criteria(aespec.load(path), args.require)
    if all(c.passed for c in found) and not args.no_train:
        found.append(training_criterion(path, args))
    return found


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("submission", type=Path, help="the student's .ae file (or .md with one "
                   "```ae block)")
    p.add_argument("--max-params", type=int, help="the parameter budget")
    p.add_argument("--max-code", type=int, help="the largest code z, in values")
    p.add_argument("--require", action="append", default=[], choices=sorted(TECHNIQUES),
                   help="a technique the spec must use (repeatable)")
    p.add_argument("--max-test-mse", type=float, help="the test MSE to beat after --epochs")
    p.add_argument("--epochs", type=int, default=3, help="epochs of the short run")
    p.add_argument("--data", help="train on this source instead of the spec's data line")
    p.add_argument("--no-train", action="store_true", help="static criteria only")
    p.add_argument("--json", action="store_true", help="one JSON object")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    found = grade(args.submission, args)
    passed = all(c.passed for c in found)
    if args.json:
        print(json.dumps({"submission": str(args.submission), "passed": passed,
                          "score": sum(c.passed for c in found), "out_of": len(found),
                          "criteria": [asdict(c) for c in found]}))
    else:
        for c in found:
            print(f"{'PASS' if c.passed else 'FAIL'}  {c.name}: {c.detail}")
        print(f"{sum(c.passed for c in found)}/{len(found)} criteria passed")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
