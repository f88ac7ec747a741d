"""The report stage: a trained model + its data -> the figures and numbers of section 9.

    >>> summary = write_report(spec, model, dataset, run_dir)   # also run_dir/report.json

Each `report` key is one small function in `ITEMS` (`baseline pca`: one in `BASELINES`),
called with a shared `_Ctx` and the key's argument model; it draws its PNG into
`run_dir/report/` (with `aespec.report.figures`) and returns its numbers.  torch and matplotlib
are imported inside functions, so importing this module stays cheap.  See docs/report.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

from aespec.errors import AespecError, plural
from aespec.report import latent
from aespec.report.figures import draw_examples as _draw_examples  # a test watches what items draw
from aespec.report.figures import (
    draw_filters,
    histogram,
    imputation_chart,
    prior_histograms,
    quality_chart,
    scatter,
    tick_manifold,
)
from aespec.report.labels import label_names, roc_auc, write_scores
from aespec.report.pca import fit_pca, pca_reconstruct, principal_axes
from aespec.report.prior import mmd, prior_draws
from aespec.report.somplots import som_maps
from aespec.report.weights import arranged, layer_weights

MAX_EXAMPLES = 2000  # test (and training) examples a report reads: enough for its figures
MAX_PCA_FIT = 10_000  # training examples the PCA baseline is fitted on
BATCH = 512
BCE_EPS = 1e-7
STRIP_ROWS = 12  # epochs the sample strip shows


@dataclass(frozen=True)
class _Ctx:
    """What every item reads: the model (eval mode) and seeded subsets of the data."""

    spec: Any
    model: Any
    x_train: np.ndarray  # (N, *input) float32, at most MAX_EXAMPLES
    y_train: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray | None
    labels_test: np.ndarray | None
    test_index: np.ndarray  # each test example's index in the data's test split
    class_names: tuple[str, ...] | None  # the data's names of its labels, where it has them
    fit: np.ndarray  # the PCA baseline's training examples, at most MAX_PCA_FIT
    fit_y: np.ndarray | None
    run_dir: Path
    device: str
    seed: int
    dataset: Any = None  # the whole data set (sample_quality trains its classifier on it)
    draws: bool = True  # False: every item's numbers, no figure (a fast-dev-run's report)

    def value_range(self) -> tuple[float, float]:
        """(0, 1) for data in [0, 1] (images), the range `range=` scaled them to (a picture
        maps it back onto [0, 1]: Dataset.to_unit), else the test inputs' own range."""
        scaled = getattr(self.dataset, "scaled", None)
        if scaled is not None:
            return scaled
        lo, hi = float(self.x_test.min()), float(self.x_test.max())
        return (0.0, 1.0) if lo >= 0 and hi <= 1 else (lo, max(hi, lo + 1e-6))

    def to_unit(self, x: np.ndarray) -> np.ndarray:
        """Examples as the reference classifier reads them, in [0, 1] (Dataset.to_unit)."""
        to_unit = getattr(self.dataset, "to_unit", None)
        return x if to_unit is None else to_unit(x)

    def save(self, draw: Callable[[], Any], name: str) -> str | None:
        """Write the figure `draw()` makes to report/NAME; its path relative to the run
        directory. None, and nothing drawn, where the report `draws` no figures: drawing
        (matplotlib's import most of all) is most of a small report's time."""
        if not self.draws:
            return None
        draw().savefig(self.run_dir / "report" / name, dpi=120, bbox_inches="tight",
                       metadata={"Software": None})  # no version stamp: same bytes each run
        return f"report/{name}"


def write_report(spec: Any, model: Any, dataset: Any, run_dir: Path, *, device: Any = "cpu",
                 generator_seed: int = 0, strips: list[np.ndarray] | None = None,
                 achieved: dict | None = None, draws: bool = True) -> dict:
    """Draw and compute every item of `spec.report`; returns (and writes to
    `run_dir/report.json`) each item's file and numbers, and writes report/summary.md.

    The model must already be on `device`; it runs in eval mode under `torch.no_grad`
    and gets its own mode back afterwards.  Every random draw (the examples read and shown,
    the noise on a denoiser's inputs, the samples) is seeded by `generator_seed`, and the
    global torch random state is left as it was.  An item the model cannot offer (a view
    it lacks) is recorded as `{"skipped": reason}`: the run it follows still counts.
    `strips`: a GAN's samples of one fixed z after each epoch, drawn as the sample strip.
    An adversarial autoencoder's report also draws its test codes over its prior.
    `achieved`: what the run measured itself by (its `references` against the mean image
    and PCA, a denoiser's `test_clean`, its `warnings`), written into report.json as it is.
    `draws=False` computes every item as usual but draws no figure (each item's `file` is
    None): what a fast-dev-run checks, in a fraction of the time.
    """
    import torch

    ctx = _context(spec, model, dataset, Path(run_dir), str(device), generator_seed, draws)
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            report = {} if strips is None else {"sample_strip": _sample_strip(ctx, strips)}
            if getattr(model, "is_aae", False):
                report["code_prior"] = _code_prior(ctx)
            if getattr(dataset, "missing", None) is not None:  # missing=nan
                report["imputation"] = _imputation(ctx)
            if getattr(model, "head", None) is not None:
                report["head"] = _head_confusion(ctx)
            report.update(_run_items(ctx))
    finally:
        model.train(was)
    report["examples"] = {"train": len(ctx.x_train), "test": len(ctx.x_test)}
    report.update(achieved or {})
    (ctx.run_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (ctx.run_dir / "report" / "summary.md").write_text(_summary(spec.name, report))
    return report


DEFAULT_RECONSTRUCTIONS = 8  # test examples every reconstruction run shows, asked or not


def _run_items(ctx: _Ctx) -> dict:
    """Each item of the report block; and reconstructions of a few test examples for every
    autoencoder whose block does not ask for them (left out where it cannot offer them)."""
    from aespec.model.settings import Count

    jobs = [(name, ITEMS[name], args) for name, args in ctx.spec.report.items.items()]
    default = ("reconstructions" not in ctx.spec.report.items and not ctx.spec.is_adversarial
               and getattr(ctx.dataset, "missing", None) is None)  # imputation draws those
    if default:
        jobs.insert(0, ("reconstructions", _reconstructions, Count(n=DEFAULT_RECONSTRUCTIONS)))
    if ctx.spec.report.baseline:
        jobs.append(("baseline", BASELINES[ctx.spec.report.baseline], None))
    report: dict[str, Any] = {}
    for name, item, args in jobs:
        try:
            report[name] = item(ctx, args)
        except AespecError as err:  # e.g. E308: the model has no such view
            if not (default and name == "reconstructions"):  # not asked for: no note
                report[name] = {"skipped": err.diagnostics[0].message}
    if default and "reconstructions" in report:
        report["reconstructions"]["default"] = True  # drawn though the block did not ask
    return report


def _context(spec: Any, model: Any, ds: Any, run_dir: Path, device: str, seed: int,
             draws: bool = True) -> _Ctx:
    rng = np.random.default_rng(seed)
    train, test, fit = (_pick(rng, len(a), cap) for a, cap in (
        (ds.x_train, MAX_EXAMPLES), (ds.x_test, MAX_EXAMPLES), (ds.x_train, MAX_PCA_FIT)))

    def take(a: np.ndarray | None, idx: np.ndarray) -> Any:  # None stays None
        return None if a is None else np.asarray(a[idx], dtype=np.float32)

    (run_dir / "report").mkdir(parents=True, exist_ok=True)
    labels = None if ds.labels_test is None else np.asarray(ds.labels_test)[test]
    names = getattr(ds, "class_names", None)  # a data set may not name its classes
    return _Ctx(spec, model, take(ds.x_train, train), take(ds.y_train, train),
                take(ds.x_test, test), take(ds.y_test, test), labels, test,
                None if names is None else tuple(str(c) for c in names),
                take(ds.x_train, fit), take(ds.y_train, fit), run_dir, device, seed, ds, draws)


def _pick(rng: np.random.Generator, n: int, cap: int) -> np.ndarray:
    """All indices, or a seeded sample of `cap` of them, in order (data may be sorted)."""
    return np.arange(n) if n <= cap else np.sort(rng.choice(n, cap, replace=False))


# ---------------------------------------------------------------- model calls


def _batched(ctx: _Ctx, fn: Callable, x: np.ndarray, y: np.ndarray | None = None
             ) -> np.ndarray:
    """`fn(x_batch[, y_batch])` over batches of numpy arrays, as one float64 array."""
    import torch

    def tensor(a: np.ndarray) -> Any:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(ctx.device)

    parts = []
    for i in range(0, len(x), BATCH):
        args = [tensor(x[i:i + BATCH])] + ([] if y is None else [tensor(y[i:i + BATCH])])
        parts.append(fn(*args).detach().double().cpu().numpy())
    return np.concatenate(parts)


def _corrupt(ctx: _Ctx, x: np.ndarray) -> np.ndarray:
    """The spec's noise on `x` (`model.corrupt`), seeded, in a forked random state: the
    same noisy inputs on every call, and training's random stream untouched."""
    import torch

    devices = [torch.device(ctx.device).index or 0] if "cuda" in ctx.device else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(ctx.seed)
        return _batched(ctx, ctx.model.corrupt, x)


def _one_hot(ctx: _Ctx, labels: np.ndarray | None) -> np.ndarray | None:
    """A conditional model's one-hot labels of examples (None for any other model)."""
    classes = getattr(ctx.model, "classes", None)
    if classes is None or labels is None:
        return None
    return np.eye(classes, dtype=np.float32)[np.asarray(labels, np.int64)]


def _reconstruct(ctx: _Ctx, x: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """x_hat in data space, eval semantics (no noise, z = mu); a conditional model's given
    the examples' class `labels`."""
    c = _one_hot(ctx, labels)
    if c is not None:
        return _batched(ctx, lambda xb, cb: ctx.model(xb, target=cb).x_hat, x, c)
    return _batched(ctx, lambda xb: ctx.model(xb).x_hat, x)


def _codes(ctx: _Ctx) -> np.ndarray:
    """(N, values) codes of the test inputs (a conditional model's given their labels)."""
    c = _one_hot(ctx, ctx.labels_test)
    codes = _batched(ctx, ctx.model.encode, ctx.x_test) if c is None else \
        _batched(ctx, ctx.model.encode, ctx.x_test, c)
    return codes.reshape(len(ctx.x_test), -1)


# ---------------------------------------------------------------- items


def _reconstructions(ctx: _Ctx, args: Any) -> dict:
    """n test examples (seeded choice): inputs (noisy, for a denoiser) over their
    reconstructions, with the clean target below when it is not the input shown."""
    idx = np.sort(np.random.default_rng(ctx.seed).permutation(len(ctx.x_test))[:args.n])
    x, noisy = ctx.x_test[idx], bool(ctx.spec.noise)
    shown = _corrupt(ctx, x) if noisy else x
    target = ctx.y_test[idx] if ctx.y_test is not None else (x if noisy else None)
    bands = [("corrupted input" if noisy else "input", shown),
             ("reconstruction", _reconstruct(ctx, shown, None if ctx.labels_test is None
                                             else ctx.labels_test[idx]))]
    bands += [] if target is None else [("target", target)]
    title = ("Test inputs with the spec's noise, their reconstructions, the clean targets" if noisy
             else "Test inputs and their reconstructions")
    draw = partial(_draw_examples, bands, title, ctx.value_range())
    return {"file": ctx.save(draw, "reconstructions.png"), "n": len(x), "noisy_input": noisy}


def _samples(ctx: _Ctx, args: Any) -> dict:
    """Decoded draws z ~ N(0, I); the model raises E308 without a stochastic latent."""
    import torch

    gen = torch.Generator(device=ctx.device).manual_seed(ctx.seed)
    classes = getattr(ctx.model, "classes", None)
    if classes is not None:  # a conditional model's: one row per class
        return _class_rows(ctx, gen, classes, max(1, args.n // classes))
    x = ctx.model.sample(args.n, generator=gen).double().cpu().numpy()
    title = f"{args.n} draws z ~ N(0, I), decoded"
    sampler = getattr(getattr(ctx.model, "info", None), "sampler", None)
    if sampler is not None:  # an rbm: Gibbs chains from noise
        steps = ctx.model.net.get_submodule(sampler).steps
        title = f"{args.n} Gibbs chains of {steps} steps from noise, mean-field p(v|h)"
    draw = partial(_draw_examples, [("", x)], title, ctx.value_range())
    return {"file": ctx.save(draw, "samples.png"), "n": args.n}


def _class_rows(ctx: _Ctx, gen: Any, classes: int, per: int) -> dict:
    """`per` samples of each class, one row per class (named as the data names it)."""
    import torch

    k = torch.arange(classes, device=ctx.device).repeat_interleave(per)
    labels = torch.nn.functional.one_hot(k, classes).float()
    x = ctx.model.sample(len(k), generator=gen, labels=labels).double().cpu().numpy()
    names = label_names(np.arange(classes), ctx.class_names) or \
        tuple(str(c) for c in range(classes))
    bands = [(names[c], x[c * per:(c + 1) * per]) for c in range(classes)]
    draw = partial(_draw_examples, bands, f"{per} draws of each class, one row per class",
                   ctx.value_range(), ncols=per)
    return {"file": ctx.save(draw, "samples.png"), "n": len(k), "per_class": per,
            "rows": "classes"}


def _manifold(ctx: _Ctx, args: Any) -> dict:
    """The decoder over an n x n grid of a 2-D code: the prior's 5%..95% quantiles for a
    gaussian latent, else the range of the test codes.  Top row: the largest z[1]."""
    info = ctx.model.info
    if math.prod(info.z_shape) != 2:
        return {"skipped": f"manifold needs a 2-D code; z has "
                           f"{plural(math.prod(info.z_shape), 'value')}"}
    prior = info.latent_shape is not None and tuple(info.latent_shape) == tuple(info.z_shape)
    axes: tuple[np.ndarray, ...]
    if prior:
        axis = np.array([NormalDist().inv_cdf(p) for p in np.linspace(0.05, 0.95, args.n)])
        axis = (axis - axis[::-1]) / 2  # exactly symmetric: an odd grid's middle is z = 0
        axes = (axis, axis)
    else:
        codes = _codes(ctx)
        axes = tuple(np.linspace(codes[:, d].min(), codes[:, d].max(), args.n) for d in (0, 1))
    z0, z1 = np.meshgrid(axes[0], axes[1][::-1])  # (n, n): row 0 holds the largest z[1]
    x = _batched(ctx, ctx.model.decode, np.stack([z0.ravel(), z1.ravel()], 1)
                 .reshape(-1, *info.z_shape))
    how = "prior quantiles 5%-95%" if prior else "range of the test codes"

    def draw() -> Any:
        fig = _draw_examples([("", x)], f"Decoder over a {args.n}x{args.n} grid of z ({how})",
                             ctx.value_range(), ncols=args.n)
        tick_manifold(fig, axes, args.n)
        return fig

    return {"file": ctx.save(draw, "manifold.png"), "n": args.n,
            "grid": "prior" if prior else "codes",
            "z_range": [[float(a[0]), float(a[-1])] for a in axes]}


def _latent_scatter(ctx: _Ctx, args: Any) -> dict:
    """Test codes in 2-D: as they are for one or two values, else their first two
    principal components; coloured by class label where the data has labels."""
    codes = _codes(ctx)
    xy, names, explained = _two_dims(codes)
    classes = label_names(ctx.labels_test, ctx.class_names)
    draw = partial(scatter, xy, ctx.labels_test, names,
                   f"Test codes ({codes.shape[1]} values{', PCA' if explained else ''})", classes)
    return {"file": ctx.save(draw, "latent_scatter.png"), "dims": codes.shape[1],
            "coloured_by_label": ctx.labels_test is not None,
            "class_names": classes is not None, "explained_variance": explained}


def _filters(ctx: _Ctx, args: Any) -> dict:
    """The weights of the first layer with a weight matrix or kernel, or of the layer of
    `layer=NAME`: the first n units over the input's shape (or each kernel), or, for a layer
    that does not read the input, one row per unit over its own input; one colour scale
    symmetric about 0 for all of them."""
    lw = layer_weights(ctx.spec, ctx.model, args.layer)
    w, rows = arranged(lw, args.n, tuple(ctx.model.info.input_shape))
    draw = partial(draw_filters, w, lw.title(len(w), rows), rows, lw.values_label(w))
    return {"file": ctx.save(draw, "filters.png"), "layer": lw.node, "op": lw.op,
            "tensor": lw.tensor, "n": len(w), "over": "own input" if rows else "input",
            "max_abs": float(np.abs(w).max())}


def _anomaly(ctx: _Ctx, args: Any) -> dict:
    """Per-example reconstruction error (`model.recon_error`) as an anomaly score.

    `threshold` is the `quantile` of the TRAINING errors; `share_above` the share of test
    examples above it.  `roc_auc` (error as the score) only where the labels mark
    anomalies: binary 0/1 labels, 1 = anomaly, both in the test set.  Class labels of
    ordinary data (digits 0-9) are not anomaly marks: a model trained on every class has
    no class to call anomalous.  Otherwise `roc_auc` is null and `roc_auc_reason` says why.
    """
    train = _batched(ctx, ctx.model.recon_error, ctx.x_train, ctx.y_train)
    test = _batched(ctx, ctx.model.recon_error, ctx.x_test, ctx.y_test)
    threshold = float(np.quantile(train, args.quantile))
    share = float(np.mean(test > threshold))
    auc, reason = roc_auc(test, ctx.labels_test)
    names = label_names(ctx.labels_test, ctx.class_names) if auc is not None else None
    draw = partial(histogram, train, test, threshold, f"{args.quantile:g} quantile of train",
                   share, None if auc is None else ctx.labels_test,
                   names or ("normal", "anomaly"))
    return {"file": ctx.save(draw, "anomaly.png"), "scores": _write_scores(ctx, test, threshold),
            "quantile": args.quantile,
            "threshold": threshold, "share_above": share,
            "train_error_mean": float(train.mean()), "test_error_mean": float(test.mean()),
            "roc_auc": auc, "roc_auc_reason": reason}


def _write_scores(ctx: _Ctx, scores: np.ndarray, threshold: float) -> str:
    """report/anomaly_scores.csv: each test example the report read; see `write_scores`."""
    write_scores(ctx.run_dir / "report" / "anomaly_scores.csv", ctx.test_index, scores,
                 ctx.labels_test, threshold)
    return "report/anomaly_scores.csv"


def _pca_baseline(ctx: _Ctx, args: Any) -> dict:
    """PCA with as many components as z has values (as many as the data allows), fitted
    on the training targets and scored like the model on the test set: MSE per value, and
    BCE when the loss has a bce term; for a denoiser also from the same noisy inputs."""
    fit = ctx.fit if ctx.fit_y is None or np.isnan(ctx.fit_y).any() else ctx.fit_y  # NaN:
    #   missing=nan, whose filled inputs PCA fits; both are scored on the observed entries
    if fit.shape[1:] != ctx.x_test.shape[1:]:
        return {"skipped": "the targets' shape differs from the inputs': PCA cannot map one "
                "to the other"}
    z_values = math.prod(ctx.model.info.z_shape)
    mean, comps = fit_pca(fit.reshape(len(fit), -1), z_values)
    bce = ctx.spec.needs_unit_output  # the loss has a bce term: score the baseline by it too
    target = ctx.x_test if ctx.y_test is None else ctx.y_test
    inputs = {"clean": ctx.x_test} | ({"noisy": _corrupt(ctx, ctx.x_test)} if ctx.spec.noise
                                      else {})
    scores = {kind: {"model": _metrics(_reconstruct(ctx, x, ctx.labels_test), target, bce),
                     "pca": _metrics(pca_reconstruct(x.reshape(len(x), -1), mean, comps),
                                     target, bce)}
              for kind, x in inputs.items()}
    return {"components": len(comps), "z_values": z_values, "fitted_on": len(fit), **scores}


def _metrics(pred: np.ndarray, target: np.ndarray, bce: bool) -> dict:
    """MSE per value; with `bce` also BCE per value, predictions clipped to [eps, 1-eps];
    over the observed values (a NaN target, missing=nan, is left out)."""
    pred = np.asarray(pred, np.float64).reshape(len(pred), -1)
    target = np.asarray(target, np.float64).reshape(len(target), -1)
    out = {"mse": float(np.nanmean((pred - target) ** 2))}
    if bce:
        p = np.clip(pred, BCE_EPS, 1 - BCE_EPS)
        out["bce"] = float(-np.nanmean(target * np.log(p) + (1 - target) * np.log1p(-p)))
    return out


def _imputation(ctx: _Ctx) -> dict:
    """Held-out test entries imputed by the model and by column and row means (data with
    missing=nan; aespec.report.imputation), over the whole test split, and their figure."""
    from aespec.report.imputation import HOLDOUT_SEED, HOLDOUT_SHARE, NAMES, impute_held_out

    imputed = impute_held_out(ctx.model, ctx.dataset)
    if imputed is None:
        return {"skipped": "no held-out entries: the data has targets of its own (y=), or "
                "its test split observes none"}
    scores = imputed.scores()
    draw = partial(imputation_chart, imputed.truth, imputed.guesses, NAMES,
                   f"Imputation of {len(imputed.truth):,} held-out test entries "
                   f"({HOLDOUT_SHARE:.0%} of the observed, hidden from the model)")
    return {"file": ctx.save(draw, "imputation.png"), "share": HOLDOUT_SHARE,
            "seed": HOLDOUT_SEED, **scores}


def _sample_quality(ctx: _Ctx, args: Any) -> dict:
    """n decoded draws from the prior against the test examples, in the feature space of a
    reference classifier (aespec.report.quality): the Frechet distance, the classes the
    draws are classified as (covered, entropy); and the same for n training examples (the
    floor), uniform noise in the data's range and the mean image repeated (ceilings)."""
    import torch

    from aespec.report import quality

    source = quality.source_with_classifier(ctx.spec.data, ctx.dataset)
    n = args.n
    gen = torch.Generator(device=ctx.device).manual_seed(ctx.seed)
    draws = ctx.model.sample(n, generator=gen).double().cpu().numpy()  # E308: no latent
    clf = quality.reference_classifier(
        ctx.dataset.description, ctx.to_unit(ctx.dataset.x_train), ctx.dataset.labels_train,
        ctx.to_unit(ctx.dataset.x_test), ctx.dataset.labels_test)
    rng = np.random.default_rng(ctx.seed)
    lo, hi = ctx.value_range()
    sets = {"samples": draws, "real_data": ctx.x_train[_pick(rng, len(ctx.x_train), n)],
            "noise": rng.uniform(lo, hi, (n, *ctx.x_test.shape[1:])),
            "mean_image": np.repeat(ctx.x_train.mean(0, keepdims=True), n, 0)}
    sets = {key: ctx.to_unit(x) for key, x in sets.items()}  # the classifier reads [0, 1]
    reference = quality.features(clf, ctx.to_unit(ctx.x_test))
    out = {key: {"frechet_distance": quality.frechet_distance(reference,
                                                              quality.features(clf, x)),
                 "examples": len(x), **quality.class_spread(quality.predict(clf, x),
                                                            clf.classes, args.min_share)}
           for key, x in sets.items()}
    classes = getattr(ctx.model, "classes", None)
    if classes is not None:  # asked for class k (in turn), classified as k
        out["conditional"] = quality.class_agreement(
            quality.predict(clf, draws), np.arange(n) % classes, classes, clf.accuracy)
    draw = partial(quality_chart, out, quality.SETS, f"Sample quality on {source}: {n} samples "
                   f"against {len(ctx.x_test)} test examples\n({quality.NOTE})",
                   ctx.class_names, args.min_share)
    return {"file": ctx.save(draw, "sample_quality.png"), "n": n, "min_share": args.min_share,
            "reference_examples": len(ctx.x_test), "classifier_accuracy": clf.accuracy,
            "entropy_max_bits": math.log2(clf.classes), "method": quality.NOTE, **out}


def _code_maps(ctx: _Ctx) -> tuple[Callable, Callable, bool]:
    """The model's encode and decode over flat codes (N, values), and whether its latent
    is gaussian (a prior N(0, I) over z); E308 from the model where it lacks a view."""
    if getattr(ctx.model, "classes", None) is not None:
        raise AespecError.of("E308", "latent exploration of a conditional model is not "
                             "drawn: its decoder reads a class as well as z")
    info = ctx.model.info
    z_shape = tuple(info.z_shape)

    def encode(x: np.ndarray) -> np.ndarray:
        return _batched(ctx, ctx.model.encode, x).reshape(len(x), -1)

    def decode(z: np.ndarray) -> np.ndarray:
        return _batched(ctx, ctx.model.decode, z.reshape(-1, *z_shape))

    gaussian = info.latent_shape is not None and tuple(info.latent_shape) == z_shape
    return encode, decode, gaussian


def _interpolate(ctx: _Ctx, args: Any) -> dict:
    """`pairs` seeded pairs of test examples: each row the first input, n decodings of
    the path from its code to the second's (linear, or slerp for a gaussian latent), the
    second input; how evenly the pictures change, and the codes' norms along the path."""
    encode, decode, gaussian = _code_maps(ctx)
    path = latent.path_of(args.path, gaussian)
    idx = latent.pairs_of(len(ctx.x_test), args.pairs, ctx.seed)
    if not len(idx):
        return {"skipped": "interpolate needs two test examples"}
    xa, xb = ctx.x_test[idx[:, 0]], ctx.x_test[idx[:, 1]]
    z, x = latent.interpolations(encode, decode, xa, xb, args.n, path)
    bands = [(f"pair {i + 1}", np.concatenate([xa[i:i + 1], x[i], xb[i:i + 1]]))
             for i in range(len(idx))]
    draw = partial(_draw_examples, bands, f"{path} interpolation between test codes (first and "
                   "last columns: the two inputs)", ctx.value_range(), ncols=args.n + 2)
    even = [latent.even_steps(x[i]) for i in range(len(idx))]
    return {"file": ctx.save(draw, "interpolate.png"), "path": path, "n": args.n,
            "pairs": len(idx), "gaussian_latent": gaussian,
            "max_over_mean_step": float(np.mean(even)),
            "code_norm": np.linalg.norm(z, axis=2).mean(0).round(4).tolist(),
            "prior_norm": math.sqrt(z.shape[2]) if gaussian else None}


def _traverse(ctx: _Ctx, args: Any) -> dict:
    """One seeded test example's code with each of the `dims` dimensions the test codes
    spread most over varied alone (prior standard deviations for a gaussian latent, the
    codes' own otherwise): one row per dimension."""
    encode, decode, gaussian = _code_maps(ctx)
    codes = encode(ctx.x_test)
    at = int(np.random.default_rng(ctx.seed).integers(len(ctx.x_test)))
    t = latent.traversal(encode, decode, ctx.x_test[at], codes, args.dims, args.steps,
                         args.range, gaussian)
    bands = [(f"z[{d}]", t["pictures"][i]) for i, d in enumerate(t["dims"])]
    unit = "prior standard deviations" if gaussian else "standard deviations of the test codes"
    draw = partial(_draw_examples, bands, f"One dimension varied at a time, ±{args.range:g} "
                   f"{unit}, from one test example's code", ctx.value_range(), ncols=args.steps)
    change = [float(np.sqrt(np.mean((p[-1] - p[0]) ** 2))) for p in t["pictures"]]
    return {"file": ctx.save(draw, "traverse.png"), "dims": [int(d) for d in t["dims"]],
            "steps": args.steps, "range": args.range, "gaussian_latent": gaussian,
            "code_values": codes.shape[1], "example": int(ctx.test_index[at]),
            "change_end_to_end": [round(c, 5) for c in change]}


def _code_prior(ctx: _Ctx) -> dict:
    """An adversarial autoencoder's test codes over as many draws of its prior N(0, I) (a
    code of two values as it is, a larger one value by value), and the MMD between them:
    how near the discriminator brought them."""
    codes = _codes(ctx)
    prior, dims = prior_draws(codes.shape, ctx.seed), codes.shape[1]
    distance = mmd(codes, prior)
    title = f"Test codes against N(0, I): MMD² {distance:.3g}"
    if dims == 2:
        draw = partial(scatter, codes, ctx.labels_test, ("z[0]", "z[1]"), title,
                       label_names(ctx.labels_test, ctx.class_names), over=prior)
    else:
        draw = partial(prior_histograms, codes, title)
    return {"file": ctx.save(draw, "code_prior.png"), "dims": dims, "mmd": distance,
            "bandwidth": math.sqrt(dims), "mean": codes.mean(0)[:8].tolist(),
            "std": codes.std(0)[:8].tolist()}


def _head_confusion(ctx: _Ctx) -> dict:
    """A head's test accuracy and confusion matrix (report/confusion.png), from its logits
    of the clean test inputs."""
    from aespec.report.probe import confusion, draw_confusion

    if ctx.labels_test is None:
        return {"skipped": "the test split has no class labels"}
    logits = _batched(ctx, ctx.model.classify, ctx.x_test)
    classes = logits.shape[1]
    m = confusion(logits.argmax(1), ctx.labels_test, classes)
    accuracy = float(np.trace(m) / max(m.sum(), 1))
    names = label_names(np.arange(classes), ctx.class_names) or \
        tuple(str(c) for c in range(classes))
    draw = partial(draw_confusion, m, names, f"The head on {len(ctx.x_test)} test examples: "
                   f"accuracy {accuracy:.3f}")
    return {"file": ctx.save(draw, "confusion.png"), "accuracy": accuracy,
            "examples": len(ctx.x_test), "classes": list(names), "confusion": m.tolist()}


def _probe(ctx: _Ctx, args: Any) -> dict:
    """A linear probe's test accuracy on the model's frozen codes, on PCA codes of as many
    values and on the raw inputs (aespec.report.probe)."""
    from aespec.report.probe import code_fn, probe_examples, probe_scores

    ds = ctx.dataset
    if getattr(ctx.model, "classes", None) is not None:
        return {"skipped": "a conditional model's codes are given the labels the probe would "
                "predict"}
    if ds is None or ds.labels_train is None or ds.labels_test is None:
        return {"skipped": "the data has no class labels"}
    encode, what = code_fn(ctx.model, ctx.device)
    return {"features": what, **probe_scores(encode, *probe_examples(ds, ctx.seed))}


def _sample_strip(ctx: _Ctx, strips: list[np.ndarray]) -> dict:
    """One row per epoch (at most STRIP_ROWS, evenly spaced, the last always), each the
    generator's samples of the same z after that epoch: the student watches it learn."""
    rows = np.unique(np.linspace(0, len(strips) - 1, min(len(strips), STRIP_ROWS))
                     .round().astype(int)) if strips else np.array([], int)
    if not len(rows):
        return {"skipped": "no epoch has ended"}
    bands = [(f"epoch {i + 1}", np.asarray(strips[i], np.float64)) for i in rows]
    draw = partial(_draw_examples, bands, "Samples of the same z after each epoch",
                   ctx.value_range(), ncols=len(bands[0][1]))
    return {"file": ctx.save(draw, "sample_strip.png"), "epochs": [int(i) + 1 for i in rows],
            "n": len(bands[0][1])}


ITEMS: dict[str, Callable[[_Ctx, Any], dict]] = {
    "reconstructions": _reconstructions, "samples": _samples,
    "sample_quality": _sample_quality, "manifold": _manifold,
    "latent_scatter": _latent_scatter, "filters": _filters, "anomaly": _anomaly,
    "som_maps": som_maps, "probe": _probe, "interpolate": _interpolate,
    "traverse": _traverse,
}
BASELINES: dict[str, Callable[[_Ctx, Any], dict]] = {"pca": _pca_baseline}


def _two_dims(codes: np.ndarray) -> tuple[np.ndarray, tuple[str, str], float | None]:
    """(N, 2) points, axis names and, for PCA, the share of the variance they keep."""
    if codes.shape[1] <= 2:
        jitter = np.random.default_rng(0).uniform(-0.4, 0.4, (len(codes), 1))
        xy = codes if codes.shape[1] == 2 else np.hstack([codes, jitter])
        return xy, ("z[0]", "z[1]" if codes.shape[1] == 2 else "(jitter)"), None
    centred = codes - codes.mean(0)
    comps, vals = principal_axes(centred, 2)
    share = float(vals.sum() / max((centred ** 2).sum(), 1e-300))
    return centred @ comps.T, ("PC 1", "PC 2"), share


# ---------------------------------------------------------------- summary.md


def _probe_lines(report: dict) -> list[str]:
    """The probe's table and the head's accuracy, where the report has them."""
    lines, probe, head = [], report.get("probe", {}), report.get("head", {})
    if "model" in probe:
        lines += [f"Linear probe (logistic regression) fitted on {probe['train']} training "
                  f"examples, test accuracy on {probe['test']}:", "",
                  "| features | values | test accuracy |", "|---|---|---|",
                  f"| the model's: {probe['features']} | {probe['dims']} | "
                  f"{probe['model']:.4f} |",
                  f"| PCA codes | {probe['pca_components']} | {probe['pca']:.4f} |",
                  f"| raw inputs | {probe['inputs']} | {probe['pixels']:.4f} |", ""]
    if "accuracy" in head:
        lines += [f"Head: test accuracy {head['accuracy']:.4f} on {head['examples']} test "
                  "examples (confusion matrix: [confusion.png](confusion.png))", ""]
    return lines


def _summary(name: str, report: dict) -> str:
    """report/summary.md: the baseline table, the anomaly numbers, the figures."""
    lines, base, anomaly = [f"# Report: {name}", ""], report.get("baseline", {}), \
        report.get("anomaly", {})
    refs = report.get("references") or {}
    if "mean_image" in refs:
        pca = (f", PCA with {refs['pca_components']} components {refs['pca']:.5g} (model / "
               f"PCA {refs['model_over_pca']:.3g})" if refs.get("model_over_pca") else "")
        lines += [f"Test reconstruction error ({refs['input']} input): model "
                  f"{refs['model']:.5g}, mean image {refs['mean_image']:.5g} (model / mean "
                  f"{refs['model_over_mean_image']:.3g}){pca}.", ""]
    lines += [f"- warning {w['code']}: {w['message']}" for w in report.get("warnings", [])]
    if "components" in base:
        lines += [f"| input | metric | model | PCA, {base['components']} components |",
                  "|---|---|---|---|"]
        lines += [f"| {kind} | {m} | {v:.5g} | {base[kind]['pca'][m]:.5g} |"
                  for kind in ("clean", "noisy") if kind in base
                  for m, v in base[kind]["model"].items()]
        if base["components"] < base["z_values"]:
            lines.append(f"\nz has {base['z_values']} values; the data allows "
                         f"{base['components']} principal components.")
        lines.append("")
    if "threshold" in anomaly:
        auc = anomaly["roc_auc"]
        lines += [f"Anomaly threshold ({anomaly['quantile']:g} quantile of the training "
                  f"errors): {anomaly['threshold']:.5g}; test share above it: "
                  f"{anomaly['share_above']:.3f}; ROC AUC: "
                  f"{anomaly['roc_auc_reason'] if auc is None else f'{auc:.3f}'}; "
                  f"each test example's score: [anomaly_scores.csv](anomaly_scores.csv)", ""]
    lines += _probe_lines(report)
    if "samples" in report.get("sample_quality", {}):
        from aespec.report.quality import summary_lines

        lines += [*summary_lines(report["sample_quality"]), ""]
    if "imputation_rmse" in report.get("imputation", {}):
        from aespec.report import imputation

        lines += [*imputation.summary_lines(report["imputation"]), ""]
    for key, item in report.items():
        if isinstance(item, dict) and ("file" in item or "skipped" in item):
            lines.append(f"- {key}: " + (f"skipped: {item['skipped']}" if "skipped" in item
                                         else f"![{key}]({Path(item['file']).name})"
                                         if item["file"] else "not drawn"))
    return "\n".join(lines) + "\n"

