"""How good a representation is, by the labels it predicts: `report { probe }`'s linear
probe, and a head's confusion matrix.

The probe is multinomial logistic regression (scikit-learn's lbfgs, deterministic) on the
standardised features of up to PROBE_EXAMPLES training examples, scored by its accuracy
on up to as many test examples, for three features of the same examples: the model's codes
(frozen), PCA codes of as many values (fitted on the same training examples), and the raw
inputs. Which codes a model has:

- an autoencoder (any latent): `encode(x)`, the code z with evaluation semantics: a VAE's
  mean mu, a vq's quantized code, an rbm's hidden probabilities p(h|v), a som's winner's
  place on its grid (two values);
- a GAN: the discriminator's penultimate features, the input of its last layer (the one
  that gives its score): a GAN's generator has no encoder.

A conditional model's codes are computed given the labels the probe predicts, so it has no
probe (skipped, saying why).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

PROBE_EXAMPLES = 10_000  # training (and test) examples a probe is fitted on (scored on)
PROBE_C = 1.0  # the inverse L2 strength of the logistic regression, on standardised features
PROBE_ITERATIONS = 1000
ENCODE_BATCH = 512


def fit_probe(train: np.ndarray, labels: np.ndarray, test: np.ndarray,
              test_labels: np.ndarray) -> float:
    """The test accuracy of multinomial logistic regression fitted on (N, D) `train`
    features (standardised by the training mean and spread)."""
    from sklearn.linear_model import LogisticRegression

    train = np.asarray(train, np.float64).reshape(len(train), -1)
    test = np.asarray(test, np.float64).reshape(len(test), -1)
    mean, spread = train.mean(0), train.std(0)
    spread[spread < 1e-8] = 1.0  # a constant feature stays 0
    clf = LogisticRegression(C=PROBE_C, max_iter=PROBE_ITERATIONS)
    clf.fit((train - mean) / spread, labels)
    return float(np.mean(clf.predict((test - mean) / spread) == test_labels))


def probe_examples(ds: Any, seed: int) -> tuple[np.ndarray, ...]:
    """(x_train, labels_train, x_test, labels_test): up to PROBE_EXAMPLES of each split of
    the data set `ds`, a seeded choice kept in order, float32 examples."""
    rng = np.random.default_rng(seed)
    picked = []
    for x, labels in ((ds.x_train, ds.labels_train), (ds.x_test, ds.labels_test)):
        idx = np.arange(len(x)) if len(x) <= PROBE_EXAMPLES else \
            np.sort(rng.choice(len(x), PROBE_EXAMPLES, replace=False))
        picked += [np.asarray(x[idx], np.float32), np.asarray(labels)[idx]]
    return tuple(picked)


def pretrained_probe(model: Any, ds: Any, device: Any, seed: int = 0) -> dict:
    """The probe's test accuracy on the codes of a model just pretrained (before its
    fine-tuning), on the examples `report { probe }` reads: run.json's `pretrain_probe`."""
    was = model.training
    model.eval()
    try:
        encode, what = code_fn(model, device)
        x_train, y_train, x_test, y_test = probe_examples(ds, seed)
        accuracy = fit_probe(encode(x_train), y_train, encode(x_test), y_test)
    finally:
        model.train(was)
    return {"model": accuracy, "features": what, "train": len(x_train), "test": len(x_test)}


def probe_scores(encode: Callable[[np.ndarray], np.ndarray], x_train: np.ndarray,
                 y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> dict:
    """The probe's test accuracy on `encode`'s codes, on PCA codes of as many values and on
    the raw inputs, and what they were fitted on."""
    from aespec.report.pca import fit_pca

    codes_train, codes_test = encode(x_train), encode(x_test)
    dims = math.prod(codes_train.shape[1:])
    flat_train = x_train.reshape(len(x_train), -1).astype(np.float64)
    flat_test = x_test.reshape(len(x_test), -1).astype(np.float64)
    mean, comps = fit_pca(flat_train, dims)
    return {"model": fit_probe(codes_train, y_train, codes_test, y_test),
            "pca": fit_probe((flat_train - mean) @ comps.T, y_train,
                             (flat_test - mean) @ comps.T, y_test),
            "pixels": fit_probe(flat_train, y_train, flat_test, y_test),
            "dims": dims, "pca_components": len(comps), "inputs": flat_train.shape[1],
            "train": len(x_train), "test": len(x_test),
            "chance": float(np.bincount(np.asarray(y_test, np.int64)).max() / len(y_test))}


def code_fn(model: Any, device: Any) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """A function of examples -> (N, D) frozen features of the model, and what they are."""
    import torch

    if hasattr(model, "encode"):
        what = "the code z, evaluation semantics (a VAE's mu)"
        sampler = getattr(getattr(model, "info", None), "sampler", None)
        if sampler is not None:
            what = "the rbm's hidden probabilities p(h|v)"
        if _is_som(model):
            what = "the winning unit's place on the som's grid"
        return _batched(model.encode, device), what
    features = _penultimate(model.discriminator)

    def discriminate(xb: torch.Tensor) -> torch.Tensor:
        with features as found:
            model.discriminator(xb)
        return found[0]

    return _batched(discriminate, device), "the discriminator's penultimate features"


def _is_som(model: Any) -> bool:
    return any(hasattr(m, "adjacent") for m in model.modules())


def _batched(fn: Callable[..., Any], device: Any) -> Callable[[np.ndarray], np.ndarray]:
    import torch

    def run(x: np.ndarray) -> np.ndarray:
        parts = []
        with torch.no_grad():
            for i in range(0, len(x), ENCODE_BATCH):
                xb = torch.from_numpy(np.ascontiguousarray(x[i:i + ENCODE_BATCH],
                                                           dtype=np.float32)).to(device)
                parts.append(fn(xb).detach().double().cpu().numpy().reshape(len(xb), -1))
        return np.concatenate(parts)

    return run


class _Inputs:
    """A context that records what the module `module` is called with (its first input)."""

    def __init__(self, module: Any):
        self.module = module
        self.found: list[Any] = []

    def __enter__(self) -> list[Any]:
        self.found.clear()
        self.handle = self.module.register_forward_pre_hook(
            lambda _, args: self.found.append(args[0].flatten(1)))
        return self.found

    def __exit__(self, *exc: Any) -> None:
        self.handle.remove()


def _penultimate(discriminator: Any) -> _Inputs:
    """The discriminator's last layer with weights: its input is the penultimate features."""
    last = [m for m in discriminator.modules() if any(True for _ in m.parameters(recurse=False))]
    return _Inputs(last[-1])


# ---------------------------------------------------------------- a head's confusion


def confusion(predicted: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """(classes, classes) counts: row the true class, column the predicted one."""
    m = np.zeros((classes, classes), np.int64)
    np.add.at(m, (np.asarray(labels, np.int64), np.asarray(predicted, np.int64)), 1)
    return m


def draw_confusion(m: np.ndarray, names: tuple[str, ...], title: str) -> Any:
    """The confusion matrix as a picture: each row normalised to the true class's share,
    the count written in each cell."""
    from aespec.report.figures import _figure

    k = len(m)
    fig, ax = _figure(1.6 + 0.55 * k, 1.2 + 0.5 * k)
    share = m / np.maximum(m.sum(1, keepdims=True), 1)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=11)
    fig.colorbar(image, ax=ax, label="share of the true class", shrink=0.8)
    return fig
