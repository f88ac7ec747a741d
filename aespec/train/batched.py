"""Several runs of one model shape trained together: one vmapped forward and backward.

The runs (a sweep's points that differ only in their seed, optimizer numbers, schedule,
epochs, early stopping or loss weights: `aespec.sweep.batchable`) each keep everything an
ordinary run has: their own seeded model, optimizer, schedule, batch order, validation,
early stopping, checkpoints and run directory, through the ordinary `Trainer`. Only the
training step is shared: each step stacks the live runs' parameters
(`torch.func.stack_module_state`'s layout, kept differentiable so that each run's own
parameters get their gradients), runs the model once under `torch.vmap` over
`functional_call`, and then each run's own optimizer steps. Loss weights that differ
between the runs are applied as factors on the first run's weighted terms.
"""

from __future__ import annotations

import contextlib
import pathlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.func import functional_call

from aespec.errors import AespecError
from aespec.graph import CheckResult
from aespec.train import batches, stacked
from aespec.train import device as dev
from aespec.train.evaluate import all_finite
from aespec.train.finish import RunResult, diverged_error, finish_run
from aespec.train.loop import Diverged, Trainer
from aespec.train.pages import write_run_page
from aespec.train.progress import Reporter
from aespec.train.record import mark_run, write_start
from aespec.train.rundir import RunDir, cannot_write, check_fresh
from aespec.train.setup import (
    Setup,
    place_model,
    prepare,
    require_memory,
    run_identity,
    run_notes,
    train_examples,
)
from aespec.train.stop import StopFlag


@dataclass
class _Run:
    """One of the runs: its setup, run directory and Trainer (the ordinary one)."""

    setup: Setup
    run: RunDir
    trainer: Trainer
    dataset: Any  # aespec.data.Dataset, shared by the runs
    started: float
    error: AespecError | None = None
    interrupted: bool = False

    @property
    def live(self) -> bool:
        return self.error is None and not self.trainer.done


def train_batched(checked: Sequence[CheckResult], outs: Sequence[str | pathlib.Path], *,
                  data: str | None = None, report: bool = True
                  ) -> list[RunResult | AespecError]:
    """Train the runs of `checked` (each with its own overrides) together, each into its
    run directory in `outs`; each one's RunResult, or the AespecError that stopped it.

    The runs must share the model's shapes and the data (`aespec.sweep.batchable` decides
    which may); ValueError when they do not.
    """
    shared: dict[str, Any] = {}  # the data, loaded and put on the device once
    runs: list[_Run] = []
    flag = StopFlag()  # one for the group: its handler is set while the steps run
    with _failing(runs), dev.flushed_denormals():
        for c, o in zip(checked, outs, strict=True):
            runs.append(_begin(c, pathlib.Path(o), data, report, shared, flag))
        _check_alike(runs)
        with flag:
            _Group(runs, flag).fit()
    return [_finish(r) for r in runs]


@contextlib.contextmanager
def _failing(runs: list[_Run]) -> Iterator[None]:
    """What `aespec.train` records when a run fails, for every run of the group that had
    begun: `failed` with the error (a disk that cannot be written: E606), `interrupted`
    for a second Ctrl-C; never `running` after the group is gone."""
    try:
        yield
    except KeyboardInterrupt:
        for r in runs:
            mark_run(r.run, r.started, status="interrupted")
        raise
    except (AespecError, OSError) as exc:
        error = exc if isinstance(exc, AespecError) else cannot_write(_where(exc, runs), exc)
        for r in runs:
            if r.error is None:
                mark_run(r.run, r.started, status="failed", error=error.diagnostics[0].message)
        raise error from None


def _where(exc: OSError, runs: list[_Run]) -> pathlib.Path:
    if exc.filename:
        return pathlib.Path(exc.filename)
    return runs[-1].run.path if runs else pathlib.Path.cwd()


def _begin(checked: CheckResult, out: pathlib.Path, data: str | None, report: bool,
           shared: dict[str, Any], flag: StopFlag) -> _Run:
    """What `aespec.train` does before its first epoch: the setup, the data on the device,
    the seeded model, the Trainer and the run directory's first files."""
    setup = prepare(checked, list(checked.overrides), data, report)
    spec, graph, device = setup.spec, setup.graph, setup.device
    check_fresh(out)
    if not shared:
        shared["dataset"] = batches.load(spec, setup.data, setup.base_dir)
    require_memory(spec, graph, device, train_examples(
        len(shared["dataset"].x_train), spec.train.split))
    if "data" not in shared:
        shared["data"] = batches.to_device(shared["dataset"], spec.train.split, device)
    dataset, split = shared["dataset"], shared["data"]
    model, notes = place_model(spec, graph, device)
    run = RunDir(out)
    trainer = Trainer(model, spec.train, split, device, run, run_identity(spec), Reporter(),
                      flag)
    write_start(setup, run, dataset.description, run_notes(setup, notes), batched=True)
    return _Run(setup, run, trainer, dataset, time.time())


def _check_alike(runs: list[_Run]) -> None:
    first = runs[0].trainer
    for r in runs[1:]:
        t = r.trainer
        same = (len(t.data.train) == len(first.data.train) and t.cfg.batch == first.cfg.batch
                and t.cfg.optimizer.name == first.cfg.optimizer.name
                and [p.shape for p in t.model.parameters()]
                == [p.shape for p in first.model.parameters()]
                and len(t.model.term_names) == len(first.model.term_names))
        if not same:
            raise ValueError("batched runs must share the model's shapes, the data, the "
                             "batch and the optimizer")


class _Group:
    """The runs' training steps, together; their epochs' ends, each on its own."""

    def __init__(self, runs: list[_Run], flag: StopFlag):
        self.runs, self.flag = runs, flag
        first = runs[0].trainer
        self.base = first.model  # the module whose code runs, with each run's tensors
        self.split, self.batch, self.device = first.data.train, first.cfg.batch, first.device
        self.shared_order = len({r.trainer.cfg.seed for r in runs}) == 1
        self.factors = _term_factors([r.trainer.model for r in runs])
        self.optimizer = runs[0].setup.spec.train.optimizer.name
        # each run's own batch (stacked) unless they share one order; the targets alike
        batch_dim = None if self.shared_order else 0
        self.step_fn = torch.vmap(self._one, in_dims=(
            0, 0, 0, batch_dim, None if self.split.y is None else batch_dim),
            randomness="different")

    def _one(self, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor],
             factors: torch.Tensor, x: torch.Tensor, y: torch.Tensor | None
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """One run's loss and terms on its batch, (), (1 + terms,)."""
        out = functional_call(self.base, (params, buffers), (x,),
                              {} if y is None else {"target": y}, strict=True)
        terms = list(out.terms.values())
        if self.factors is not None:  # loss weights that differ: the first run's times f
            terms = [t * factors[i] for i, t in enumerate(terms)]
            loss = terms[0]
            for t in terms[1:]:
                loss = loss + t
        else:
            loss = out.loss
        return loss, torch.stack([loss.detach().float(), *(t.detach().float() for t in terms)])

    def fit(self) -> None:
        """Train every run to its end, or to a Ctrl-C (each run then saved at the step
        boundary, resumable as an ordinary run)."""
        while live := [r for r in self.runs if r.live]:
            started = time.perf_counter()
            sums = self._train_epoch(live)
            if sums is None:
                break
            seconds = time.perf_counter() - started
            for r, s in zip(live, sums, strict=True):
                self._end_epoch(r, s, seconds, started)
        for r in self.runs:
            if r.error is None and not r.interrupted:
                r.trainer.save(force=True)

    def _train_epoch(self, live: list[_Run]) -> torch.Tensor | None:
        """The live runs' epoch, step by step; their mean terms, (runs, 1 + terms); None
        when a Ctrl-C stopped it."""
        trainers = [r.trainer for r in live]
        n, batch = len(self.split), self.batch
        orders = [t.new_order() for t in trainers]
        for t in trainers:
            t.model.train()
        self.base.train()
        held = stacked.stack(trainers, self.optimizer)
        buffers = {k: torch.stack([dict(t.model.named_buffers())[k] for t in trainers])
                   for k, _ in self.base.named_buffers()}
        factors = (self.factors[[self.runs.index(r) for r in live]] if self.factors is not None
                   else torch.ones(len(live), 1)).to(self.device)
        sums: torch.Tensor | None = None
        started = time.perf_counter()
        for s in range(-(-n // batch)):
            held.zero_grad()
            idx = [order[s * batch:(s + 1) * batch] for order in orders]
            x, y = self._batches(idx)
            loss, vals = self.step_fn(held.params(), buffers, factors, x, y)
            loss.sum().backward()  # the runs are independent: each gets its own gradient
            held.step()
            sums = vals * len(idx[0]) if sums is None else sums.add_(vals, alpha=len(idx[0]))
            if self.flag.requested:
                held.write_back()
                self._stop(live, buffers, sums, s + 1, time.perf_counter() - started)
                return None
        held.write_back()
        self._unstack_buffers(trainers, buffers)
        assert sums is not None
        return sums / n

    def _unstack_buffers(self, trainers: list[Trainer], buffers: dict[str, torch.Tensor]
                         ) -> None:
        """Batch-norm statistics, back into each run's own model."""
        for i, t in enumerate(trainers):
            own = dict(t.model.named_buffers())
            for k, b in buffers.items():
                own[k].copy_(b[i])

    def _stop(self, live: list[_Run], buffers: dict[str, torch.Tensor], sums: torch.Tensor,
              step: int, seconds: float) -> None:
        """A Ctrl-C: each live run saved as the ordinary loop saves it mid-epoch."""
        self._unstack_buffers([r.trainer for r in live], buffers)
        for r, s in zip(live, sums, strict=True):
            r.trainer.keep_partial_epoch(step, s, seconds)
            r.interrupted = True

    def _batches(self, idx: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.shared_order:  # one batch order for all: one batch, broadcast by vmap
            return self.split.batch(idx[0])
        parts = [self.split.batch(i) for i in idx]
        ys = [p[1] for p in parts]
        return (torch.stack([p[0] for p in parts]),
                None if ys[0] is None else torch.stack(ys))  # type: ignore[arg-type]

    def _end_epoch(self, r: _Run, sums: torch.Tensor, seconds: float, started: float) -> None:
        t = r.trainer
        terms = dict(zip(("loss", *t.model.term_names), sums.tolist(), strict=True))
        try:
            if not all_finite(terms):
                raise Diverged(f"epoch {t.c.epoch + 1}")
            t.end_epoch(terms, started, seconds)
        except Diverged as d:
            r.run.update(status="diverged", seconds=time.time() - r.started)
            r.error = diverged_error(d, t, r.run)


def _term_factors(models: list[Any]) -> torch.Tensor | None:
    """(runs, terms): each run's weight of each term over the first run's; None when the
    weights are the same for all."""
    weights = [[_weight_of(t) for t in m.objective.terms] for m in models]
    if all(w == weights[0] for w in weights):
        return None
    rows = [[w / w0 for w, w0 in zip(ws, weights[0], strict=True)] for ws in weights]
    return torch.tensor(rows, dtype=torch.float32)


def _weight_of(term: Any) -> float:
    """The scalar a term is weighted by (a loss term's weight, a KL's beta); 1 otherwise."""
    for attr in ("weight", "beta"):
        if isinstance(getattr(term, attr, None), (int, float)):
            return float(getattr(term, attr))
    return 1.0


def _finish(r: _Run) -> RunResult | AespecError:
    """What `aespec.train` does after its last epoch: the best weights' test loss, the
    report, run.json's outcome and report.html."""
    setup, t, run = r.setup, r.trainer, r.run
    checked = (setup.spec, setup.graph)
    if r.error is not None:
        with contextlib.suppress(Exception):
            write_run_page(run.path, checked=checked)
        return r.error
    status = "interrupted" if r.interrupted else t.status
    result = finish_run(setup, t, r.dataset, run, status, r.started)
    write_run_page(run.path, checked=checked)
    return result
