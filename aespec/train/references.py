"""What a reconstruction run is measured against: the mean image and PCA.

    >>> refs = references(model, data, headline)   # run.json's "references"

Two predictors that learn nothing a student needs to be told about: the training targets'
mean image, the same for every example, and PCA with as many components as the code has
values, fitted on the training split. Each is scored on the test split by the model's own
reconstruction terms (`Recon.per_example_of`: the same loss, reduction and weight as the
run's test figure), from the same inputs as the model's headline figure (a denoiser's
corrupted ones), and the model's figure is given over each as a ratio. The fit (the mean
and the components) is computed once per data set and code size and cached in aespec's
cache folder (`aespec.data.files.cache_folder`), keyed by the training split's
fingerprint and k; scoring it takes one pass over the test split.

The same pass measures what the collapse warnings read (aespec/train/collapse.py): the
spread of the reconstructions across test examples against the targets', and, for a model
with a gaussian latent, how many latent units are active (Burda et al., 2016: the
variance over x of E[z|x] above 0.01).

A denoiser's headline figure is its error from corrupted test inputs against the clean
targets (`corrupted`): the spec's noise drawn from a fixed seed for each batch, so every
run and `aespec eval` see the same noisy test set.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from aespec.data.files import cache_folder, write_cache
from aespec.train.evaluate import EVAL_BATCH

MAX_FIT = 20_000  # training examples PCA is fitted on (a seeded choice beyond it)
ACTIVE = 0.01  # a latent unit is active when Var_x(E[z|x]) exceeds it (Burda et al.)
NOISE_SEED = 0  # the test set's corruption: the same for every run and every eval
LOGIT_EPS = 1e-6  # a baseline's prediction as logits, for a bce term that reads logits
OVERSAMPLE, POWER_ITERATIONS = 8, 4  # torch.pca_lowrank: q = k + 8, niter = 4
CACHE_VERSION = 1


# ---------------------------------------------------------------- the headline's inputs


@dataclass(frozen=True)
class Corrupted:
    """A test split whose inputs carry the model's noise (`model.corrupt`), drawn for batch
    i of `slices(size)` from seed `seed * 1_000_003 + i` in a forked random state (the
    training's random stream is untouched); the targets are the clean inputs (or the
    data's own targets, `y=`). It answers what `evaluate` asks of a split."""

    split: Any
    model: Any
    seed: int = NOISE_SEED

    def __len__(self) -> int:
        return len(self.split)

    def slices(self, size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for i, (xb, yb) in enumerate(self.split.slices(size)):
            yield corrupt(self.model, xb, self.seed * 1_000_003 + i), xb if yb is None else yb


def corrupt(model: Any, x: torch.Tensor, seed: int) -> torch.Tensor:
    """The model's noise on `x`, drawn from `seed` (on x's device) in a forked state."""
    devices = [x.device.index or 0] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)
        out: torch.Tensor = model.corrupt(x)
        return out


def is_denoiser(model: Any) -> bool:
    """A model trained on corrupted inputs, whose headline figure is then from corrupted
    test inputs (a conditional model's target slot holds its labels: it is scored clean)."""
    return getattr(model, "noise", None) is not None and getattr(model, "classes", None) is None


def headline_input(model: Any, paired: bool) -> str:
    """What the headline test figure reads: `corrupted` (a denoiser), `paired` (data with
    its own targets, `y=`: the inputs are what the data gives), or `clean`."""
    return "corrupted" if is_denoiser(model) else "paired" if paired else "clean"


INPUT_NOTES = {
    "corrupted": "corrupted test inputs (the spec's noise, seeded) against the clean targets",
    "paired": "the data's own test inputs against its targets (y=): inputs that are "
              "already corrupted are scored as the data gives them",
    "clean": "clean test inputs against themselves",
}


# ---------------------------------------------------------------- the fit, cached


@dataclass(frozen=True)
class Fit:
    """The mean of the training targets (D,) and k principal components (k, D) of them."""

    mean: torch.Tensor
    comps: torch.Tensor
    fitted_on: int
    cached: bool


def fit_baselines(train: Any, k: int, device: torch.device, description: str = "") -> Fit:
    """The mean image and PCA with k components of the training targets, from the cache
    where a run on the same training split has fitted them."""
    targets = _targets(train)
    key = _key(targets, k, description)
    found = _read(key)
    if found is not None:
        return Fit(found[0].to(device), found[1].to(device), found[2], True)
    flat = targets.flatten(1).float()
    if len(flat) > MAX_FIT:
        pick = np.sort(np.random.default_rng(0).choice(len(flat), MAX_FIT, replace=False))
        flat = flat[torch.from_numpy(pick).to(flat.device)]
    mean = flat.mean(0)
    comps = _components(flat - mean, k)
    _write(key, mean, comps, len(flat))
    return Fit(mean.to(device), comps.to(device), len(flat), False)


def _targets(split: Any) -> torch.Tensor:
    y = split.y
    return split.x if y is None else y


def _components(centred: torch.Tensor, k: int) -> torch.Tensor:
    """(k', D): the top principal directions by randomized SVD (torch.pca_lowrank, seeded);
    k' = min(k, N - 1, D)."""
    n, d = centred.shape
    k = max(0, min(k, n - 1, d))
    if k == 0:
        return centred.new_zeros((0, d))
    q = min(k + OVERSAMPLE, n, d)
    devices = [centred.device.index or 0] if centred.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(0)
        _, _, v = torch.pca_lowrank(centred, q=q, center=False, niter=POWER_ITERATIONS)
    return v[:, :k].T.contiguous()


def _key(targets: torch.Tensor, k: int, description: str) -> str:
    """The training split's fingerprint and k: its shape, sums, a few rows' bytes."""
    rows = targets[torch.linspace(0, len(targets) - 1, min(64, len(targets))).long()]
    flat = targets.flatten(1).double()
    facts = {"v": CACHE_VERSION, "k": k, "shape": list(targets.shape), "data": description,
             "sum": float(flat.sum()), "sq": float((flat ** 2).sum()), "fit": MAX_FIT,
             "q": OVERSAMPLE, "niter": POWER_ITERATIONS}
    h = hashlib.sha256(json.dumps(facts, sort_keys=True).encode())
    h.update(rows.float().cpu().numpy().tobytes())
    return h.hexdigest()[:32]


def _path(key: str) -> Any:
    folder = cache_folder()
    return None if folder is None else folder / "references" / f"{key}.npz"


def _read(key: str) -> tuple[torch.Tensor, torch.Tensor, int] | None:
    path = _path(key)
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            return (torch.from_numpy(f["mean"]), torch.from_numpy(f["comps"]),
                    int(f["fitted_on"]))
    except (OSError, ValueError, KeyError):
        return None  # a damaged cache file is fitted again


def _write(key: str, mean: torch.Tensor, comps: torch.Tensor, n: int) -> None:
    path = _path(key)
    if path is None:
        return
    buf = io.BytesIO()
    np.savez(buf, mean=mean.float().cpu().numpy(), comps=comps.float().cpu().numpy(),
             fitted_on=np.int64(n))
    write_cache(path, lambda fh: fh.write(buf.getvalue()))


# ---------------------------------------------------------------- scoring


@dataclass
class _Sums:
    """Running sums over the test split: errors, and the moments of the spreads."""

    model: float = 0.0
    mean_image: float = 0.0
    pca: float = 0.0
    n: int = 0
    moments: dict[str, list[torch.Tensor]] | None = None

    def moment(self, name: str, v: torch.Tensor) -> None:
        v = v.flatten(1).double()
        s, sq = v.sum(0), (v ** 2).sum(0)
        self.moments = self.moments or {}
        if name in self.moments:
            self.moments[name][0] += s
            self.moments[name][1] += sq
        else:
            self.moments[name] = [s, sq]

    def spread(self, name: str) -> float:
        """Mean over values of the standard deviation across examples."""
        assert self.moments is not None
        s, sq = self.moments[name]
        var = (sq / self.n - (s / self.n) ** 2).clamp_min(0) * self.n / max(self.n - 1, 1)
        return float(var.sqrt().mean())


def baseline_error(model: Any, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B,) error of predictions `pred` (data space, target's shape) by the model's own
    reconstruction terms, each as weighted and reduced as in its loss."""
    total = None
    for term in model.objective.recon:
        p = pred
        if term.pred == model.slots.logits:  # a bce term on logits: the same prediction
            p = torch.logit(p.clamp(LOGIT_EPS, 1 - LOGIT_EPS))
        e = term.per_example_of(p, target)
        total = e if total is None else total + e
    assert total is not None
    return total


def references(model: Any, test: Any, train: Any, device: torch.device,
               description: str = "", kind: str = "clean") -> dict[str, Any] | None:
    """The model against the mean image and PCA on `test` (a split or `Corrupted`), with
    the spreads and active units; None for a model that reconstructs nothing (a GAN)."""
    if not reconstructs(model):
        return None
    started = time.perf_counter()
    k = int(np.prod(model.info.z_shape))
    fit = fit_baselines(train, k, device, description)
    pca_ok = tuple(_targets(train).shape[1:]) == tuple(model.info.input_shape)
    sums = _score(model, test, fit, pca_ok)
    out = _figures(sums, fit, k, pca_ok, kind)
    units = active_units(model, test)
    if units is not None:
        out["active_units"] = units
    out["seconds"] = time.perf_counter() - started
    return out


def reconstructs(model: Any) -> bool:
    """A compiled autoencoder with a reconstruction term (a GAN has none)."""
    objective = getattr(model, "objective", None)
    return bool(objective is not None and objective.recon and hasattr(model, "slots"))


def _score(model: Any, test: Any, fit: Fit, pca_ok: bool) -> _Sums:
    sums = _Sums()
    model.eval()
    with torch.no_grad():
        for xb, yb in test.slices(EVAL_BATCH):
            labels = yb if model.classes is not None else None
            target = xb if (yb is None or labels is not None) else yb
            outs = model.net(xb) if labels is None else model.net(xb, labels.to(xb.dtype))
            sums.model += float(model.objective.per_example(outs, target).sum())
            x_hat = outs[model.slots.x_hat].float()
            mean = fit.mean.view(1, *target.shape[1:]).expand_as(target)
            sums.mean_image += float(baseline_error(model, mean, target).sum())
            if pca_ok:
                flat = xb.flatten(1).float() - fit.mean
                pred = (flat @ fit.comps.T @ fit.comps + fit.mean).view_as(target)
                sums.pca += float(baseline_error(model, pred, target).sum())
            sums.n += len(xb)
            sums.moment("reconstructions", x_hat)
            sums.moment("targets", target)
    return sums


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def _figures(sums: _Sums, fit: Fit, k: int, pca_ok: bool, kind: str) -> dict[str, Any]:
    n = max(sums.n, 1)
    model, mean = sums.model / n, sums.mean_image / n
    out: dict[str, Any] = {"input": kind, "model": model, "mean_image": mean,
                           "model_over_mean_image": _ratio(model, mean)}
    if pca_ok:
        pca = sums.pca / n
        out |= {"pca": pca, "pca_components": len(fit.comps), "z_values": k,
                "model_over_pca": _ratio(model, pca)}
    else:
        out["pca_skipped"] = "the targets' shape differs from the inputs'"
    spread, data = sums.spread("reconstructions"), sums.spread("targets")
    out |= {"spread": {"reconstructions": spread, "targets": data,
                       "ratio": _ratio(spread, data)},
            "fitted_on": fit.fitted_on, "cached": fit.cached, "examples": sums.n}
    return out


def active_units(model: Any, test: Any) -> dict[str, Any] | None:
    """How many units of the first gaussian latent vary with the input: Var_x(mu(x)) over
    the test split above ACTIVE; None for a model without one."""
    if not getattr(getattr(model, "slots", None), "latents", None):
        return None
    s = sq = None
    n = 0
    with torch.no_grad():
        for xb, yb in test.slices(EVAL_BATCH):
            labels = yb if model.classes is not None else None
            mu = model.posterior(xb, labels)[0].flatten(1).double()
            s = mu.sum(0) if s is None else s + mu.sum(0)
            sq = (mu ** 2).sum(0) if sq is None else sq + (mu ** 2).sum(0)
            n += len(xb)
    if s is None or sq is None or n < 2:
        return None
    var = (sq / n - (s / n) ** 2) * n / (n - 1)
    return {"active": int((var > ACTIVE).sum()), "units": len(var), "threshold": ACTIVE,
            "variance": [round(float(v), 6) for v in var[:64]]}
