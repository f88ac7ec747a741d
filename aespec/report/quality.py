"""Sample quality of a generative model: a small reference classifier per built-in labelled
data set, and the numbers `sample_quality` reports with it.

    >>> net = reference_classifier("digits", x_train, labels, x_test, labels_test)
    >>> fd = frechet_distance(features(net, real), features(net, generated))

The classifier (an MLP over the flattened example, trained with a fixed seed) is trained
once per data set and kept in aespec's cache folder, keyed by the data set's description
and `VERSION`.  The Frechet distance is FID's formula in the space of its penultimate
layer: FID's method with a small domain classifier, not Inception, so its values compare
only within aespec on the same data set.  torch is imported inside functions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from aespec.data.files import cache_folder, write_cache
from aespec.errors import AespecError

VERSION = 1  # bump when the classifier's architecture or training changes
HIDDEN, FEATURES = 256, 64  # the penultimate layer's width is the feature space
BATCH, LR = 128, 1e-3
EPOCHS, MIN_STEPS, MAX_STEPS = 8, 2000, 6000  # digits: 2,000 steps; Fashion-MNIST: 8 epochs
SEED = 0
_MEMORY: dict[str, Any] = {}  # this process's classifiers, for a cache that is turned off

NOTE = ("FID's method with a small classifier trained on this data set, not Inception: "
        "compare the figures only within aespec on the same data set")
# the sets measured against the test examples, as the figure and summary.md name them
SETS = {"samples": "samples", "real_data": "real data (floor)",
        "noise": "uniform noise (ceiling)", "mean_image": "mean image (ceiling)"}


@dataclass(frozen=True)
class Classifier:
    """A trained reference classifier and its held-out accuracy on the data's test split."""

    net: Any  # torch.nn.Sequential: flatten, dense, relu, dense, relu (features), dense
    accuracy: float
    classes: int


def classified_sources() -> tuple[str, ...]:
    """The data sources with a reference classifier (`DataSource.classifier`)."""
    from aespec.data import REGISTRY

    return tuple(name for name, entry in REGISTRY.items() if entry.classifier)


def source_with_classifier(data: Any, ds: Any) -> str:
    """The spec's data source (`spec.data`), where aespec has a reference classifier for it
    and the loaded data `ds` has its labels; E315 else."""
    if data is None:
        why = "data given outside the spec"
    elif data.source not in classified_sources():
        why = data.source
    elif data.args.get("normal") is not None:
        why = f"{data.source} with normal= (its labels mark anomalies)"
    elif ds is None or ds.labels_train is None or ds.labels_test is None:
        why = f"{data.source} without labels"
    else:
        return str(data.source)
    raise AespecError.of("E315", "sample_quality needs a reference classifier, and aespec has "
                         f"one only for labelled built-in data "
                         f"({', '.join(classified_sources())}), not for {why}")


def reference_classifier(key: str, x: np.ndarray, labels: np.ndarray, x_test: np.ndarray,
                         labels_test: np.ndarray) -> Classifier:
    """The classifier of the data set described by `key`: from this process, from the cache
    folder, or trained (deterministically) on `x`, `labels` and then cached."""
    name = hashlib.sha256(f"{VERSION}|{key}".encode()).hexdigest()[:24]
    if name in _MEMORY:
        return _MEMORY[name]
    path = classifier_path(name)
    found = None if path is None else _read(path)
    if found is None:
        found = train_classifier(x, labels, x_test, labels_test)
        if path is not None:
            _write(path, found)
    _MEMORY[name] = found
    return found


def classifier_path(name: str) -> Any:
    """Where a classifier is cached: CACHE/classifiers/NAME.pt; None without a cache."""
    folder = cache_folder()
    return None if folder is None else folder / "classifiers" / f"{name}.pt"


def _network(inputs: int, classes: int) -> Any:
    import torch

    return torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(inputs, HIDDEN), torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, FEATURES), torch.nn.ReLU(), torch.nn.Linear(FEATURES, classes))


def train_classifier(x: np.ndarray, labels: np.ndarray, x_test: np.ndarray,
                     labels_test: np.ndarray) -> Classifier:
    """EPOCHS passes over the data (at least MIN_STEPS, at most MAX_STEPS Adam steps of
    BATCH examples), seeded, in a forked random state, with gradients on (the report runs
    under `torch.no_grad`)."""
    import torch

    classes = int(max(labels.max(), labels_test.max())) + 1
    xt = torch.from_numpy(np.ascontiguousarray(x, np.float32)).flatten(1)
    yt = torch.from_numpy(np.asarray(labels, np.int64))
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(SEED)
        net = _network(xt.shape[1], classes)
        opt = torch.optim.Adam(net.parameters(), lr=LR)
        gen = torch.Generator().manual_seed(SEED)
        steps = min(MAX_STEPS, max(MIN_STEPS, EPOCHS * -(-len(xt) // BATCH)))
        for _ in range(steps):
            idx = torch.randint(len(xt), (min(BATCH, len(xt)),), generator=gen)
            loss = torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    predicted = predict(Classifier(net, 0.0, classes), x_test)
    return Classifier(net, float(np.mean(predicted == labels_test)), classes)


def _read(path: Any) -> Classifier | None:
    """The cached classifier, or None when the file is missing, foreign or damaged."""
    import pickle

    import torch

    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        net = _network(int(saved["inputs"]), int(saved["classes"]))
        net.load_state_dict(saved["state"])
    except (OSError, RuntimeError, KeyError, TypeError, ValueError, EOFError,
            pickle.UnpicklingError):
        return None
    net.eval()
    return Classifier(net, float(saved["accuracy"]), int(saved["classes"]))


def _write(path: Any, found: Classifier) -> None:
    """Into the cache, atomically; a cache that cannot be written is no error."""
    import torch

    saved = {"state": found.net.state_dict(), "accuracy": found.accuracy,
             "classes": found.classes, "inputs": found.net[1].in_features}
    write_cache(path, lambda fh: torch.save(saved, fh))


def _outputs(clf: Classifier, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, FEATURES), logits (N, classes)) as float64, in batches on the CPU."""
    import torch

    feats, logits = [], []
    with torch.no_grad():
        for i in range(0, len(x), 1024):
            h = torch.from_numpy(np.ascontiguousarray(x[i:i + 1024], np.float32))
            f = clf.net[:-1](h)
            feats.append(f.double().numpy())
            logits.append(clf.net[-1](f).double().numpy())
    return np.concatenate(feats), np.concatenate(logits)


def features(clf: Classifier, x: np.ndarray) -> np.ndarray:
    """The penultimate layer's activations, (N, FEATURES)."""
    return _outputs(clf, x)[0]


def predict(clf: Classifier, x: np.ndarray) -> np.ndarray:
    """The predicted class of each example, (N,) int64."""
    return _outputs(clf, x)[1].argmax(1)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^1/2) of two sets of feature vectors.

    tr((S_a S_b)^1/2) is the sum of the square roots of the eigenvalues of the symmetric
    S_a^1/2 S_b S_a^1/2, which has the same spectrum; numpy's `eigh` only, no scipy."""
    mu = a.mean(0) - b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    vals, vecs = np.linalg.eigh(sa)
    root = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    cross = np.linalg.eigvalsh(root @ sb @ root)
    fd = mu @ mu + np.trace(sa) + np.trace(sb) - 2 * np.sqrt(np.clip(cross, 0, None)).sum()
    return float(max(fd, 0.0))


def class_spread(predicted: np.ndarray, classes: int, min_share: float) -> dict[str, Any]:
    """The share of examples given each class, the classes with at least `min_share` of
    them (`covered`), and the entropy of the shares in bits (at most log2(classes))."""
    shares = np.bincount(predicted, minlength=classes)[:classes] / max(len(predicted), 1)
    p = shares[shares > 0]
    return {"covered": int((shares >= min_share).sum()), "classes": classes,
            "entropy_bits": float(-(p * np.log2(p)).sum()) + 0.0,  # never -0.0
            "shares": [round(float(s), 4) for s in shares]}


def class_agreement(predicted: np.ndarray, asked: np.ndarray, classes: int,
                    accuracy: float) -> dict[str, Any]:
    """A conditional model's samples: the share asked for class k that the classifier
    calls k, overall and per class, beside the classifier's own accuracy on real test
    examples (what a perfect generator would reach) and chance (1 / classes)."""
    per = [float(np.mean(predicted[asked == k] == k)) if np.any(asked == k) else None
           for k in range(classes)]
    return {"accuracy": float(np.mean(predicted == asked)), "per_class": per,
            "real_data": accuracy, "chance": 1 / classes}


def summary_lines(q: dict) -> list[str]:
    """`FD 12 (real data 2, noise 180, mean image 95)`, and the same for coverage and entropy."""
    from aespec.report.figures import short_number

    def line(what: str, key: str, fmt: str, tail: str = "") -> str:
        def show(v: float) -> str:
            return short_number(v) if fmt == "fd" else f"{v:{fmt}}"

        others = ", ".join(f"{SETS[k].split(' (')[0]} {show(q[k][key])}"
                           for k in ("real_data", "noise", "mean_image"))
        return f"- {what}: {show(q['samples'][key])}{tail} ({others})"

    classes = q["samples"]["classes"]
    return [f"Sample quality of {q['n']} samples against {q['reference_examples']} test "
            f"examples ({q['method']}; the classifier is right on "
            f"{q['classifier_accuracy']:.1%} of the test split):", "",
            line("Frechet distance", "frechet_distance", "fd"),
            line(f"classes covered (at least {q['min_share']:g} of the examples)", "covered",
                 "d", f" of {classes}"),
            line("entropy of the classes", "entropy_bits", ".2f",
                 f" of {q['entropy_max_bits']:.2f} bits"),
            *_agreement_line(q.get("conditional"))]


def _agreement_line(c: dict | None) -> list[str]:
    if not c:
        return []
    return [f"- samples asked for class k classified as k: {c['accuracy']:.1%} (real data "
            f"{c['real_data']:.1%}, chance {c['chance']:.1%})"]
