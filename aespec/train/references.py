"""What a reconstruction run is measured against: the mean image and PCA.

    >>> scorer = start_references(model, data.train, device)
    >>> test = evaluate(model, data.test, observe=scorer.observe)
    >>> refs = scorer.finish(test, active_units(model, data.test))  # run.json's "references"

Two predictors that learn nothing a student needs to be told about: the training targets'
mean image, the same for every example, and PCA with as many components as the code has
values, fitted on the training split. Each is scored on the test split by the model's own
reconstruction terms (`Recon.per_example_of`: the same loss, reduction and weight as the
run's test figure), from the same inputs as the model's headline figure (a denoiser's
corrupted ones), and the model's figure is given over each as a ratio. The fit (the mean
and the components) is computed once per data set and code size and cached in aespec's
cache folder (`aespec.data.files.cache_folder`), keyed by the training split's
fingerprint and k, and so are the baselines' figures, keyed by the fit, the test split,
the reconstruction terms and the inputs' noise. The model's own figures are measured in
the pass that computes the test loss: references cost no second pass of the model.

The same pass measures what the collapse warnings read (aespec/train/collapse.py): the
spread of the reconstructions across test examples against the targets'. For a model with
a stochastic latent, `finish` is handed the active units that `evaluate.active_units`
counts once per run (Burda et al., 2016: the variance over x of E[z|x] above 0.01), the
same record as run.json's top-level `active_units`.

A denoiser's headline figure is its error from corrupted test inputs against the clean
targets (`corrupted`): the spec's noise drawn from a fixed seed for each batch, so every
run and `aespec eval` see the same noisy test set.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from aespec.compile.objective import ImportanceWeighted, Recon
from aespec.data.files import cache_folder, write_cache
from aespec.ops import lookup

MAX_FIT = 20_000  # training examples PCA is fitted on (a seeded choice beyond it)
# data read on demand (a memory-mapped file): at most this many values read for the fit,
# so that a file larger than memory keeps a run's resident memory bounded
MAX_STREAMED_VALUES = 2_000_000
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


def reads_labels(model: Any) -> bool:
    """Its target slot holds one-hot labels (a conditional model's, a head's): its
    reconstruction target is then its input."""
    return bool(getattr(model, "reads_labels", getattr(model, "classes", None) is not None))


def is_denoiser(model: Any) -> bool:
    """A model trained on corrupted inputs, whose headline figure is then from corrupted
    test inputs (a model whose target slot holds labels is scored clean)."""
    return getattr(model, "noise", None) is not None and not reads_labels(model)


def headline_input(model: Any, paired: bool) -> str:
    """What the headline test figure reads: `corrupted` (a denoiser), `paired` (data with
    its own targets, `y=`: the inputs are what the data gives), or `clean`."""
    return "corrupted" if is_denoiser(model) else "paired" if paired else "clean"


def noise_text(spec: Any) -> str:
    """The spec's noise ops and their arguments, as text (a cache key's part)."""
    return " ".join(f"{c.op}({c.args!r})" for c in getattr(spec, "noise", []))


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
    key: str = ""


def fit_baselines(train: Any, k: int, device: torch.device, description: str = "",
                  inputs: bool = False) -> Fit:
    """The mean image and PCA with k components of the training targets (at most MAX_FIT
    of them, a seeded choice), from the cache where a run on the same training split has
    fitted them. Data read on demand is read only for the rows chosen. `inputs`: fit the
    inputs (a model whose `y` holds labels)."""
    pick = _chosen_rows(train)
    # the key from the rows a few thousand at a time: a fit found in the cache never holds
    # the chosen rows at once (20,000 Fashion-MNIST images are 63 MB: a run's peak memory)
    key = _key_of(_fingerprint_rows(train, pick, inputs), len(pick), k, description,
                  len(train))
    found = _read(key)
    if found is not None:
        return Fit(found[0].to(device), found[1].to(device), found[2], True, key)
    flat = _targets(train, pick, inputs).flatten(1).float()
    mean = flat.nanmean(0).nan_to_num()  # missing=nan: the observed entries' mean
    comps = _components(_filled(flat, mean) - mean, k)
    _write(key, mean, comps, len(flat))
    return Fit(mean.to(device), comps.to(device), len(flat), False, key)


def _filled(x: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """(N, D) x with its NaNs (unobserved entries, missing=nan) replaced by the mean's."""
    return torch.where(x.isnan(), mean, x) if x.isnan().any() else x


def fit_rows(train: Any) -> int:
    """How many training examples the fit reads: MAX_FIT, fewer for data read on demand
    (MAX_STREAMED_VALUES values, at least 1,000 examples)."""
    if not hasattr(train, "xs"):  # in memory already
        return MAX_FIT
    width = max(1, math.prod(train.xs.shape[1:]))
    return int(max(1000, min(MAX_FIT, MAX_STREAMED_VALUES // width)))


def _chosen_rows(train: Any) -> np.ndarray:
    """The training examples the fit reads: all, or a seeded choice of fit_rows of them."""
    n, most = len(train), fit_rows(train)
    return np.arange(n) if n <= most else \
        np.sort(np.random.default_rng(0).choice(n, most, replace=False))


def _targets(train: Any, pick: np.ndarray, inputs: bool = False) -> torch.Tensor:
    where = train.device if hasattr(train, "xs") else train.x.device  # a StreamSplit's
    x, y = train.batch(torch.from_numpy(pick).to(where))
    found: torch.Tensor = x if y is None or inputs else y
    return found


def _fingerprint_rows(train: Any, pick: np.ndarray, inputs: bool, chunk: int = 4096) -> bytes:
    """`_fingerprint` of the chosen rows' targets (flattened, float32), read `chunk` rows at
    a time: the same bytes, without the rows all held at once."""
    sample = torch.linspace(0, len(pick) - 1, min(16, len(pick))).long().tolist()
    sums, rows, width = [], {}, 0
    for start in range(0, len(pick), chunk):
        t = _targets(train, pick[start:start + chunk], inputs).flatten(1).float()
        width = t.shape[1]
        sums.append(t.sum(1).cpu())
        for i in sample:
            if start <= i < start + len(t):
                rows[i] = t[i - start].cpu()
    kept = torch.stack([rows[i] for i in sample])
    return (repr((len(pick), width)).encode() + torch.cat(sums).numpy().tobytes()
            + kept.numpy().tobytes())


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


def _fingerprint(t: torch.Tensor) -> bytes:
    """A tensor's identity, cheaply: its shape, each row's sum, a few rows' bytes."""
    rows = t[torch.linspace(0, len(t) - 1, min(16, len(t))).long()]
    sums = t.flatten(1).float().sum(1)  # float32: 20 ms for 48,000 images
    return (repr(tuple(t.shape)).encode() + sums.cpu().numpy().tobytes()
            + rows.float().cpu().numpy().tobytes())


def _key_of(fingerprint: bytes, fitted: int, k: int, description: str, n: int) -> str:
    """The fit's cache key: the training examples' fingerprint, k, how it is fitted."""
    facts = {"v": CACHE_VERSION, "k": k, "data": description, "fit": fitted, "n": n,
             "q": OVERSAMPLE, "niter": POWER_ITERATIONS}
    h = hashlib.sha256(json.dumps(facts, sort_keys=True).encode())
    h.update(fingerprint)
    return h.hexdigest()[:32]


def _figures_key(fit_key: str, model: Any, test: Any, kind: str, noise: str) -> str | None:
    """The baselines' figures' cache key: the fit's, the test split's fingerprint, the
    reconstruction terms that score them, the inputs (the noise and its seed); None where
    they cannot be cached (a term with parameters of its own, data read on demand)."""
    base = getattr(test, "split", test)
    if any(t.owned for t in model.objective.recon) or type(base).__name__ != "Split":
        return None
    terms = [(t.name, t.sum, t.pred == model.slots.logits, getattr(t.loss, "__name__", ""))
             for t in model.objective.recon]
    facts = {"fit": fit_key, "terms": terms, "input": kind, "noise": noise,
             "seed": NOISE_SEED}
    h = hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode())
    h.update(_fingerprint(base.x))
    if base.y is not None:
        h.update(_fingerprint(base.y))
    return h.hexdigest()[:32]


def _read_figures(key: str | None) -> dict[str, float] | None:
    folder = cache_folder()
    if key is None or folder is None:
        return None
    try:
        found = json.loads((folder / "references" / f"{key}.json").read_text())
        return found if isinstance(found, dict) else None
    except (OSError, ValueError):
        return None


def _write_figures(key: str | None, figures: dict[str, float]) -> None:
    folder = cache_folder()
    if key is not None and folder is not None:
        text = json.dumps(figures).encode()
        write_cache(folder / "references" / f"{key}.json", lambda fh: fh.write(text))


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


def baseline_error(model: Any, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B,) error of predictions `pred` (data space, target's shape) by the model's own
    reconstruction terms, each as weighted and reduced as in its loss."""
    total: torch.Tensor | None = None
    for term in model.objective.recon:
        p = pred
        if term.pred == model.slots.logits:  # a bce term on logits: the same prediction
            p = torch.logit(p.clamp(LOGIT_EPS, 1 - LOGIT_EPS))
        elif _needs_unit(term):  # bce on probabilities: PCA's may leave [0, 1]
            p = p.clamp(0, 1)
        e: torch.Tensor = term.per_example_of(p, target)
        total = e if total is None else total + e
    assert total is not None
    return total


def _needs_unit(term: Any) -> bool:
    """A term whose loss reads probabilities (bce): its name is `bce`, `0.5*bce`,
    `warmup*bce`."""
    op = lookup("loss", term.name.rsplit("*", 1)[-1])
    return bool(op is not None and op.needs_unit_output)


def reconstructs(model: Any) -> bool:
    """A compiled autoencoder with a reconstruction term (a GAN has none)."""
    objective = getattr(model, "objective", None)
    return bool(objective is not None and objective.recon and hasattr(model, "slots"))


class Moments:
    """Running sums of (B, ...) batches: each value's spread across the examples."""

    def __init__(self) -> None:
        self.s: torch.Tensor | None = None
        self.sq: torch.Tensor | None = None
        self.n = 0

    def add(self, v: torch.Tensor) -> None:
        v = v.flatten(1).double()
        s, sq = v.sum(0), (v ** 2).sum(0)
        self.s = s if self.s is None else self.s + s
        self.sq = sq if self.sq is None else self.sq + sq
        self.n += len(v)

    def variance(self) -> torch.Tensor:
        assert self.s is not None and self.sq is not None
        n = self.n
        return (self.sq / n - (self.s / n) ** 2).clamp_min(0) * n / max(n - 1, 1)

    def spread(self) -> float:
        """Mean over values of the standard deviation across examples."""
        return float(self.variance().sqrt().mean())


class Scorer:
    """The references, measured batch by batch from the outputs `evaluate` computes
    (`observe`), so they cost no second pass of the model; `finish(test)` gives them."""

    def __init__(self, model: Any, fit: Fit, kind: str, pca_ok: bool, started: float,
                 figures_key: str | None = None):
        self.model, self.fit, self.kind, self.started = model, fit, kind, started
        self.k, self.pca_ok = int(np.prod(model.info.z_shape)), pca_ok
        self.figures_key = figures_key
        self.known = _read_figures(figures_key)  # the baselines' figures, from the cache
        # the reconstruction terms as evaluate names them; None: an iwae term holds its
        # reconstruction and KL in one, so the model's error is measured apart
        terms = model.objective.terms
        self.names = None if any(isinstance(t, ImportanceWeighted) for t in terms) \
            else [t.name for t in terms if isinstance(t, Recon)]
        self.own = self.mean_image = self.pca = 0.0
        self.n, self.seconds = 0, 0.0
        self.outputs, self.targets = Moments(), Moments()

    def observe(self, xb: torch.Tensor, yb: torch.Tensor | None, out: Any) -> None:
        t0 = time.perf_counter()
        model = self.model
        target = xb if (yb is None or reads_labels(model)) else yb
        with torch.no_grad():
            if self.names is None:
                self.own += float(model.recon_error(xb, yb).sum())
            if self.known is None:
                self._baselines(xb, target)
            self.outputs.add(out.x_hat.float())
            self.targets.add(_filled(target.flatten(1).float(), self.fit.mean))
        self.n += len(xb)
        self.seconds += time.perf_counter() - t0

    def _baselines(self, xb: torch.Tensor, target: torch.Tensor) -> None:
        model = self.model
        mean = self.fit.mean.view(1, *target.shape[1:]).expand_as(target)
        self.mean_image += float(baseline_error(model, mean, target).sum())
        if self.pca_ok:
            flat = _filled(xb.flatten(1).float(), self.fit.mean) - self.fit.mean
            pred = (flat @ self.fit.comps.T @ self.fit.comps + self.fit.mean)
            self.pca += float(baseline_error(model, pred.view_as(target), target).sum())

    def finish(self, test: dict[str, float], units: dict[str, Any] | None = None
               ) -> dict[str, Any]:
        """The references of the observed pass; `units`: the run's active units
        (`evaluate.active_units`), kept as they are with `units` beside `dims`."""
        n = max(self.n, 1)
        model = sum(test[name] for name in self.names) if self.names is not None \
            else self.own / n
        known = self.known or {"mean_image": self.mean_image / n, "pca": self.pca / n}
        if self.known is None:
            _write_figures(self.figures_key, known)
        mean = known["mean_image"]
        out: dict[str, Any] = {"input": self.kind, "model": model, "mean_image": mean,
                               "model_over_mean_image": _ratio(model, mean)}
        if self.pca_ok:
            pca = known["pca"]
            out |= {"pca": pca, "pca_components": len(self.fit.comps), "z_values": self.k,
                    "model_over_pca": _ratio(model, pca)}
        else:
            out["pca_skipped"] = "the targets' shape differs from the inputs'"
        spread, data = self.outputs.spread(), self.targets.spread()
        out["spread"] = {"reconstructions": spread, "targets": data,
                         "ratio": _ratio(spread, data)}
        if units:
            out["active_units"] = {**units, "units": units["dims"]}
        return out | {"fitted_on": self.fit.fitted_on, "cached": self.known is not None,
                      "examples": self.n, "seconds": self.started + self.seconds}


def start_references(model: Any, train: Any, test: Any, device: torch.device,
                     description: str = "", kind: str = "clean", noise: str = ""
                     ) -> Scorer | None:
    """A Scorer to pass `observe` of to `evaluate` on `test` (the fit and the baselines'
    figures read from the cache, or made and cached; `noise`: the spec's noise as text,
    part of the figures' key); None for a model that reconstructs nothing (a GAN)."""
    if not reconstructs(model):
        return None
    t0 = time.perf_counter()
    labels = reads_labels(model)
    fit = fit_baselines(train, int(np.prod(model.info.z_shape)), device, description, labels)
    target = model.info.input_shape if train.y is None or labels else train.y.shape[1:]
    pca_ok = tuple(target) == tuple(model.info.input_shape)
    key = _figures_key(fit.key, model, test, kind, noise if kind == "corrupted" else "")
    return Scorer(model, fit, kind, pca_ok, time.perf_counter() - t0, key)


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None
