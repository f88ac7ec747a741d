"""A run's end: the best weights' test loss, the report's figures, run.json's outcome, and
the RunResult handed back (or the E601 error of a run that diverged)."""

from __future__ import annotations

import pathlib
import time
from dataclasses import dataclass, field
from typing import Any

from aespec.data import Dataset
from aespec.errors import AespecError, Diagnostic
from aespec.report.imputation import imputation_scores
from aespec.train.collapse import collapse_warnings
from aespec.train.evaluate import active_units, counting_codes, evaluate
from aespec.train.loop import Diverged, Trainer
from aespec.train.pages import read_run_page
from aespec.train.record import now
from aespec.train.references import (
    Corrupted,
    headline_input,
    is_denoiser,
    noise_text,
    reads_labels,
    start_references,
)
from aespec.train.rundir import RunDir
from aespec.train.setup import Setup


@dataclass(frozen=True)
class RunResult:
    """What a training run gave. `status`: finished, early_stopped or interrupted."""

    run_dir: pathlib.Path
    name: str
    status: str
    epochs: int  # completed epochs
    best_epoch: int | None
    history: list[dict[str, Any]]
    test: dict[str, float]  # mean test loss by term ({} when interrupted)
    params: int
    seconds: float
    device: str
    pretrain: list[dict[str, Any]] = field(default_factory=list)
    model: Any = field(default=None, repr=False, compare=False)  # best weights, eval mode
    report: dict[str, Any] = field(default_factory=dict)  # what `report { }` wrote
    # vq node -> codes, used, usage, perplexity on the test split ({} without vq)
    codebook: dict[str, dict[str, float]] = field(default_factory=dict)
    warnings: list[Diagnostic] = field(default_factory=list)  # found by training (W418, W444..)
    # a stochastic latent's active units on the test split (evaluate.active_units), or {}
    active_units: dict[str, Any] = field(default_factory=dict)
    # a denoiser's test loss from clean inputs ({} for any other model: `test` is from them)
    test_clean: dict[str, float] = field(default_factory=dict)
    # the model beside the mean image and PCA (aespec/train/references.py); {} without
    references: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return run_repr("RunResult", self.name, self.status, self.epochs, self.best_epoch,
                        self.test, self.run_dir)

    def _repr_html_(self) -> str:
        """A notebook's view: the metrics, the curves and the diagram (from the run dir)."""
        from aespec.report.page import summary_html

        return summary_html(read_run_page(self.run_dir))


def run_repr(kind: str, name: str, status: Any, epochs: Any, best: Any, test: Any,
             path: pathlib.Path) -> str:
    """One line for the Python display: name, status, epochs, best epoch, test loss, dir."""
    loss = test.get("loss") if isinstance(test, dict) else None
    shown = f"{loss:.4g}" if isinstance(loss, (int, float)) else None
    return (f"{kind}(name={name!r}, status={status!r}, epochs={epochs}, best_epoch={best}, "
            f"test_loss={shown}, run_dir={str(path)!r})")


def finish_run(setup: Setup, trainer: Trainer, dataset: Dataset, run: RunDir, status: str,
               started: float) -> RunResult:
    """What a run does after its last epoch (a batched one too, train/batched.py): the
    best weights' test loss and the report's figures unless it was interrupted, then
    run.json's outcome; its RunResult."""
    model, c = trainer.model, trainer.c
    test: dict[str, float] = {}
    test_clean: dict[str, float] = {}
    refs: dict[str, Any] | None = None
    codebook: dict[str, dict[str, float]] = {}
    activity: dict[str, Any] = {}
    gan = setup.spec.is_adversarial  # its validation and test losses mean nothing
    if status != "interrupted" and not gan:
        trainer.restore_best()
        # counted once: run.json's `active_units` and `references.active_units` are it
        activity = active_units(model, trainer.data.test) or {}
        test, test_clean, refs = _test(setup, trainer, codebook, activity)
        test.update(imputation_scores(model, dataset))  # missing=nan: held-out entries
    elif status != "interrupted":
        trainer.restore_best()
    warnings = [*dataset.warnings, *dead_codes(setup, codebook),
                *collapse_warnings(setup.spec, refs, c.epoch)]
    model.eval()
    said = {"warnings": [w.to_json() for w in warnings]} if warnings else {}
    figures = _write_report(setup, model, dataset, run, getattr(trainer, "strips", None),
                            {**_headline(test_clean, refs), **said}) \
        if status != "interrupted" else {}
    seconds = time.time() - started
    run.update(status=status, epochs_run=c.epoch, best_epoch=c.best_epoch,
               best_loss=c.best, test=test, seconds=seconds, finished=now(),
               **({"codebook": codebook} if codebook else {}), **said,
               **({"active_units": activity} if activity else {}),
               **_headline(test_clean, refs))
    params = sum(p.numel() for p in model.parameters())
    return RunResult(run.path, setup.spec.name, status, c.epoch, c.best_epoch,
                     list(c.history), test, params, seconds, str(setup.device),
                     list(run.info().get("pretrain") or []), model, figures, codebook,
                     warnings, activity, test_clean, refs or {})


def _test(setup: Setup, trainer: Trainer, codebook: dict[str, Any],
          activity: dict[str, Any]
          ) -> tuple[dict[str, float], dict[str, float], dict[str, Any] | None]:
    """The best weights' test loss by term (a denoiser's from corrupted inputs, with the
    clean-input figures beside it), counting vq codes, and the run's references (with
    `activity`, the active units already counted)."""
    model, data = trainer.model, trainer.data
    denoiser = is_denoiser(model)
    split: Any = Corrupted(data.test, model) if denoiser else data.test
    paired = data.test.y is not None and not reads_labels(model)
    scorer = start_references(model, data.train, split, setup.device, data.description,
                              headline_input(model, paired), noise_text(setup.spec))
    with counting_codes(model) as found:
        test = evaluate(model, split, trainer.autocast,
                        None if scorer is None else scorer.observe)
    codebook.update(found)
    clean = evaluate(model, data.test, trainer.autocast) if denoiser else {}
    return test, clean, None if scorer is None else scorer.finish(test, activity)


def _headline(test_clean: dict[str, float], refs: dict[str, Any] | None) -> dict[str, Any]:
    """run.json's keys beside `test`: what its inputs were, the clean-input figures of a
    denoiser, the references."""
    out: dict[str, Any] = {}
    if refs is not None:
        out["test_input"] = refs["input"]
        out["references"] = refs
    if test_clean:
        out["test_clean"] = test_clean
    return out


# a codebook with more than this share of its codes never chosen on the test split: W418
DEAD_SHARE = 0.1


def dead_codes(setup: Setup, codebook: dict[str, dict[str, float]]) -> list[Diagnostic]:
    """W418 at each vq line whose codebook has many dead codes after training."""
    out = []
    for nid, stats in codebook.items():
        dead = int(stats["codes"] - stats["used"])
        if dead > DEAD_SHARE * stats["codes"]:
            out.append(Diagnostic(
                "W418", f"{dead} of the {int(stats['codes'])} codes of vq are dead: never "
                f"chosen on the test split after training (perplexity "
                f"{stats['perplexity']:.1f})", setup.graph.nodes[nid].span,
                "fewer codes, a smaller commitment, a higher learning rate or more epochs",
                getattr(setup.spec, "path", None)))
    return out


def _write_report(setup: Setup, model: Any, dataset: Dataset, run: RunDir,
                  strips: list[Any] | None, achieved: dict[str, Any]) -> dict[str, Any]:
    """The `report { }` block's figures and evaluations, from the best weights; a GAN's
    sample strip (`strips`), an adversarial autoencoder's codes over its prior and an
    autoencoder's reconstructions with them, report block or not; a fast-dev-run's
    without figures (every number is computed; matplotlib is not imported)."""
    spec = setup.spec
    if not setup.report or not run.writes or not (
            spec.report.items or spec.report.baseline or strips is not None or spec.is_aae
            or dataset.missing is not None or not spec.is_adversarial):
        return {}
    from aespec.report.items import write_report

    return write_report(spec, model, dataset, run.path, device=setup.device,
                        strips=None if strips is None else [t.numpy() for t in strips],
                        achieved=achieved, draws=not setup.fast_dev_run)


def diverged_error(d: Diverged, trainer: Trainer, run: RunDir) -> AespecError:
    """E601 for a loss that became NaN or infinite, saying which checkpoint was kept."""
    kept = (f"the last good checkpoint ({run.checkpoint}, epoch {trainer.saved_epoch}) is kept"
            if trainer.saved_epoch is not None else "no checkpoint had been written yet")
    return AespecError.of(
        "E601", f"the loss became NaN or infinite at {d.where}; training stopped and {kept}",
        hint="lower the learning rate (optimizer adam(lr=...)), use precision fp32, or check the "
        "data for extreme values", file=str(run.path))
