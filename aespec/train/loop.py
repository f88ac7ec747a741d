"""The training loop: epochs of indexed batches, validation, schedule, early stopping.

Everything a resumed run needs is in `Trainer.state_dict()`: weights, optimizer, schedule,
scaler, both random generators, the epoch's permutation and running sums when it stopped
mid-epoch, and the history. Loading it and calling `fit` again gives, bit for bit, the
metrics an uninterrupted run gives.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from aespec.errors import AespecError
from aespec.model.settings import TrainSpec
from aespec.train import device as dev
from aespec.train.batches import RunData
from aespec.train.clip import add_norm, clip_gradients, norm_record
from aespec.train.evaluate import all_finite, evaluate
from aespec.train.optim import build_optimizer, build_schedule, current_lr
from aespec.train.phases import Phase
from aespec.train.progress import Reporter
from aespec.train.rundir import RunDir, cannot_write, load_weights, save_checkpoint
from aespec.train.stop import StopFlag

CHECKPOINT_SECONDS = 2.0  # checkpoint.pt at most this often at epoch ends (always at the end)
REPORT_SECONDS = 0.2  # progress reports (each reads the running loss: a device sync)


class Interrupted(Exception):  # noqa: N818  (a signal, not an error)
    """Ctrl-C: the state was saved at a step boundary."""


class Diverged(Exception):  # noqa: N818
    """A loss that is not finite; `where` says where (epoch, step or validation)."""

    def __init__(self, where: str):
        super().__init__(where)
        self.where = where


@dataclass
class Counters:
    """The plain-data part of a run's state."""

    epoch: int = 0  # completed epochs
    step: int = 0  # completed steps of the epoch under way (0 at an epoch boundary)
    best: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0
    stopped: str | None = None  # "early_stopped" once early stopping fires
    pretrained: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    phase: int = 0  # the phase under way (train/phases.py), its optimizer the one saved
    phase_start: int = 0  # the epochs completed when it began


def set_progress(model: Any, epoch: int, epochs: int, step: int = 0, steps: int = 1) -> None:
    """Tell each module that follows the training's progress where step `step` of `steps`
    of epoch `epoch` (from 0) of `epochs` stands: a som's shrinking neighbourhood by the
    epoch (0 first, 1 last), the scheduled weights of the objective (compile/anneal.py) by
    the step, `epoch + step / steps` epochs into the run."""
    share = epoch / max(epochs - 1, 1)
    for module in model.modules():
        if hasattr(module, "set_progress"):
            module.set_progress(share)
        if hasattr(module, "set_time"):
            module.set_time(epoch + step / steps, epochs)


def scheduled_weights(model: Any) -> Any:
    """The model's scheduled weights (compile/anneal.py's ScheduledWeights), or None."""
    return getattr(model, "anneal", None)


class Trainer:
    """One run's training: its model, optimizer, schedule, batch order, counters and
    checkpoints. `fit` runs the epochs; a batched sweep (train/batched.py) runs the steps
    itself and uses `done`, `new_order`, `end_epoch`, `keep_partial_epoch` and `save`."""

    def __init__(self, model: Any, train: TrainSpec, data: RunData, device: torch.device,
                 run: RunDir, identity: dict[str, Any], reporter: Reporter, flag: StopFlag,
                 ranks: Any = None, phases: list[Phase] | None = None):
        # `phases` (train/phases.py): each with its train settings and step model; None:
        # one, the top level's; `cfg` is the run's, over the whole run's epochs
        self.phases = phases or [Phase(None, train, model)]
        total = sum(p.train.epochs for p in self.phases)
        self.model, self.cfg, self.data, self.device = model, train, data, device
        if phases:
            self.cfg = train.model_copy(update={"epochs": total})
        self.ranks = ranks  # a dist.Ranks in a distributed run (docs/distributed.md)
        self.run, self.identity, self.reporter, self.flag = run, identity, reporter, flag
        self.c = Counters()
        self.use_phase(0)
        self.scaler = dev.grad_scaler(device, train.precision)
        self.gen = torch.Generator().manual_seed(train.seed)  # batch order only
        self.perm: torch.Tensor | None = None
        self.sums: torch.Tensor | None = None  # (1 + terms,) running sums of the epoch
        self.log_norm = train.log == "grad_norm"
        self.norms: torch.Tensor | None = None  # the epoch's grad norms' (sum, max, count)
        self.names: tuple[str, ...] = ()
        self.elapsed = 0.0  # training seconds of the epoch under way
        self.best_weights: dict[str, torch.Tensor] | None = None
        self._best_dirty = False
        self._saved_at = -math.inf
        self.saved_epoch: int | None = None  # the epoch checkpoint.pt holds
        self.step_fn: Callable[..., Any] = (torch.compile(self._step) if train.compile
                                            else self._step)

    @property
    def phase(self) -> Phase:
        """The phase under way."""
        return self.phases[self.c.phase]

    def use_phase(self, index: int) -> None:
        """Phase `index`'s model, frozen parts, and a new optimizer and schedule of its own
        over its trainable parameters (as a new `fit` after Keras' `compile`)."""
        phase = self.phases[index]
        phase.enter(self.model)
        self.step_model = phase.model
        self.params = list(phase.model.parameters())  # what clip reads (frozen: no grad)
        self.net = phase.model if self.ranks is None else self.parallel(phase.model)
        # every parameter, the frozen ones too: without a gradient an optimizer leaves a
        # parameter as it is (no step, no weight decay), and its state stays one shape
        self.opt = build_optimizer(phase.train.optimizer, phase.model.parameters(),
                                   self.device, compiled=self.cfg.compile)
        self.schedule = build_schedule(phase.train, self.opt)

    def begin_phase(self, index: int) -> None:
        """The next phase from here: its optimizer, its own best epoch and early stopping."""
        c = self.c
        c.phase, c.phase_start = index, c.epoch
        c.best, c.best_epoch, c.bad_epochs, c.stopped = None, None, 0, None
        self.use_phase(index)

    def _phase_over(self) -> bool:
        c = self.c
        return c.epoch - c.phase_start >= self.phase.train.epochs or c.stopped is not None

    def autocast(self) -> Any:
        """The step's autocast context for `train.precision` (none at fp32)."""
        return dev.autocast(self.device, self.cfg.precision)

    @property
    def steps(self) -> int:
        """Steps in an epoch (the last batch may be short)."""
        return -(-len(self.data.train) // self.cfg.batch)

    @property
    def done(self) -> bool:
        """No epoch left to train: the last one ran, or early stopping fired."""
        return self.c.phase == len(self.phases) - 1 and self._phase_over()

    @property
    def status(self) -> str:
        """How the run ended once `done`: `early_stopped` or `finished`."""
        return self.c.stopped or "finished"

    def parallel(self, model: Any) -> Any:
        """The model as a distributed run's step calls it: under DDP (dist.Ranks.wrap)."""
        return self.ranks.wrap(model, self.device)

    def shard(self, idx: torch.Tensor) -> tuple[torch.Tensor, float]:
        """This rank's part of the global batch `idx`, and its loss scale (dist.Ranks.shard)."""
        part: tuple[torch.Tensor, float] = self.ranks.shard(idx)
        return part

    def new_order(self) -> torch.Tensor:
        """A new epoch's batch order, (n,) on the device, from the run's own generator."""
        self.perm = torch.randperm(len(self.data.train), generator=self.gen).to(self.device)
        return self.perm

    # ------------------------------------------------------------ one step

    def _step(self, xb: torch.Tensor, yb: torch.Tensor | None,
              scale: float = 1.0) -> tuple[torch.Tensor, tuple[str, ...]]:
        """Forward, backward and update; the whole of it is what `train.compile` compiles
        (zero_grad stays outside: dynamo does not trace it). `scale` weighs a rank's shard
        of a distributed batch (dist.Ranks.shard)."""
        with self.autocast():
            out = self.net(xb) if yb is None else self.net(xb, target=yb)
        loss = out.loss if scale == 1.0 else out.loss * scale
        clip = self.cfg.clip
        if not loss.requires_grad:  # every part frozen (W426): the epoch only measures
            norm = torch.zeros((), device=loss.device) if self.log_norm else None
        elif self.scaler is None:
            loss.backward()
            norm = clip_gradients(self.params, clip, self.log_norm)
            self.opt.step()
        else:
            self.scaler.scale(loss).backward()
            if clip is not None or self.log_norm:  # clip and measure the true gradients
                self.scaler.unscale_(self.opt)
            norm = clip_gradients(self.params, clip, self.log_norm)
            self.scaler.step(self.opt)
            self.scaler.update()
        # a head's accuracy is measured in training too (other measures: evaluation only)
        vals = torch.stack([out.loss.detach().float(),
                            *(t.detach().float() for t in out.terms.values()),
                            *(m.detach().float() for m in out.measures.values()),
                            *(() if norm is None else (norm.detach(),))])
        return vals, (*out.terms, *out.measures)

    # ------------------------------------------------------------ epochs

    def fit(self) -> str:
        """Train to the end (or early stop); returns the status. Raises Interrupted/Diverged."""
        while not self.done:
            started = time.perf_counter()
            train = self._train_epoch()
            self.end_epoch(train, started)
        self.save(force=True)
        for p in self.model.parameters():  # the trained model as compiled: nothing frozen
            p.requires_grad_(True)
        return self.status

    def _train_epoch(self) -> dict[str, float]:
        c, split, batch = self.c, self.data.train, self.cfg.batch
        if c.step == 0:
            self.new_order()
            self.sums, self.norms, self.elapsed = None, None, 0.0
            if self.ranks is not None:
                self.ranks.reseed(self.cfg.seed, c.epoch)
        assert self.perm is not None
        set_progress(self.step_model, c.epoch, self.cfg.epochs)
        self.phase.train_mode()
        self.reporter.phase(f"epoch {c.epoch + 1}/{self.cfg.epochs}", self.steps)
        start = last = time.perf_counter()
        first = c.step
        anneal = scheduled_weights(self.step_model)
        for s in range(first, self.steps):
            idx = self.perm[s * batch:(s + 1) * batch]
            if anneal is not None:  # the weights follow the steps (aespec.ops.anneal)
                anneal.set_time(c.epoch + s / self.steps, self.cfg.epochs)
            self.opt.zero_grad(set_to_none=True)
            if self.ranks is None:
                with self._reading():
                    xb, yb = split.batch(idx)
                vals, self.names = self.step_fn(xb, yb)
                stop = self.flag.requested
            else:  # this rank's shard; then the global batch's terms, and a common stop
                part, scale = self.shard(idx)
                with self._reading():
                    xb, yb = split.batch(part)
                vals, self.names = self.step_fn(xb, yb, scale)
                vals, stop = self.ranks.reduce_step(vals, scale / self.ranks.world,
                                                    self.flag.requested)
            if self.log_norm:  # the step's grad norm rides last (the same on every rank)
                self.norms, vals = add_norm(self.norms, vals[-1]), vals[:-1]
            if self.sums is None:
                self.sums = vals * len(idx)
            else:
                self.sums.add_(vals, alpha=len(idx))
            c.step = s + 1
            if stop:
                self.elapsed += time.perf_counter() - start
                if not bool(torch.isfinite(self.sums).all()):  # never save a diverged state
                    raise Diverged(f"epoch {c.epoch + 1}, step {c.step}")
                raise Interrupted
            if (now := time.perf_counter()) - last >= REPORT_SECONDS:
                last = now
                self._report(min(c.step * batch, len(split)), (c.step - first) * batch,
                             now - start)
        assert self.sums is not None
        terms = dict(zip(("loss", *self.names), (self.sums / len(split)).tolist(), strict=True))
        self.elapsed += time.perf_counter() - start
        c.step = 0
        if not all_finite(terms):
            raise Diverged(f"epoch {c.epoch + 1}")
        return terms

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """Data that cannot be read any more (read on demand from files that changed under
        the run: E504, E510) stops the run with its state saved where it can resume."""
        try:
            yield
        except AespecError as err:
            raise self._stopped_reading(err) from None

    def _stopped_reading(self, err: AespecError) -> AespecError:
        """`err` with what was kept: mid-epoch, the state after the last step is saved (as
        a Ctrl-C saves it, so a resumed run goes on bit for bit); at an epoch's start the
        batch order is drawn but not saved, so the last checkpoint stays."""
        c, kept = self.c, ""
        if c.step > 0 and self.sums is not None and bool(torch.isfinite(self.sums).all()):
            with contextlib.suppress(AespecError):  # a full disk: the older checkpoint stays
                self.save(force=True)
                kept = (f"; training stopped after step {c.step} of epoch {c.epoch + 1}, its "
                        f"state saved in {self.run.checkpoint}")
        if not kept:
            kept = (f"; training stopped, the checkpoint of epoch {self.saved_epoch} is kept"
                    if self.saved_epoch is not None else
                    "; training stopped before its first checkpoint")
        first, *rest = err.diagnostics
        return AespecError([replace(first, message=first.message + kept), *rest], err.source)

    def _report(self, seen: int, done: int, seconds: float) -> None:
        assert self.sums is not None
        loss = self.sums[0].item() / seen
        if not math.isfinite(loss):
            raise Diverged(f"epoch {self.c.epoch + 1}, step {self.c.step}")
        self.reporter.step(self.c.step, loss, done / max(seconds, 1e-9))

    def end_epoch(self, train: dict[str, float], started: float,
                  seconds: float | None = None) -> None:
        """An epoch's end, from its mean training terms (`loss` first, then each term):
        validation, the history and metrics files, the schedule, early stopping, and a
        checkpoint when one is due. `started`: the epoch's perf_counter start; `seconds`:
        its training time where its steps ran outside `fit` (train/batched.py). Raises
        Diverged for a validation loss that is not finite."""
        c, early = self.c, self.phase.train.early_stop
        self.names, c.step = tuple(train)[1:], 0
        if seconds is not None:
            self.elapsed = seconds
        val, monitored = self.validate(train)
        anneal = scheduled_weights(self.step_model)
        weights = anneal.epoch_means(c.epoch, self.steps, self.cfg.epochs) if anneal else None
        c.epoch += 1
        improved = monitored is None or c.best is None or \
            monitored < c.best - (early.min_delta if early else 0.0)
        if improved:
            c.best, c.best_epoch, c.bad_epochs = monitored, c.epoch, 0
            self.best_weights = {k: v.detach().clone() for k, v in
                                 self.model.state_dict().items()}
            self._best_dirty = True
        else:
            c.bad_epochs += 1
        record = {"epoch": c.epoch, "train": train, "val": val, "lr": current_lr(self.opt),
                  "train_seconds": self.elapsed,
                  "samples_per_s": len(self.data.train) / max(self.elapsed, 1e-9),
                  "seconds": time.perf_counter() - started, "best": improved,
                  **({"phase": self.phase.name} if self.phase.name is not None else {})}
        if weights is not None:  # the scheduled weights' means over the epoch's steps
            record["weights"] = weights
        if (norms := norm_record(self.norms)) is not None:
            record["grad_norm"] = norms
        self.step_schedules(train["loss"] if monitored is None else monitored)
        c.history.append(record)
        self.run.append_metrics(record)
        self.run.write_metrics_csv(c.history)
        self.reporter.epoch(record, self.cfg.epochs)
        if early is not None and c.bad_epochs >= early.patience:
            c.stopped = "early_stopped"
        if self._phase_over() and c.phase < len(self.phases) - 1:
            self.begin_phase(c.phase + 1)  # before the save: a resume starts it alike
        self.save()

    def validate(self, train: dict[str, float]) -> tuple[dict[str, float] | None,
                                                         float | None]:
        """The epoch's validation terms (None without a validation split) and the figure
        that early stopping and best.pt follow (None: none, the last epoch is best)."""
        with self._reading():
            val = (evaluate(self.step_model, self.data.val, self.autocast) if self.data.val
                   else None)
        if self.ranks is not None:
            val = self.ranks.agree(val)  # rank 0's numbers: every rank decides alike
        if val is not None and not all_finite(val):
            raise Diverged(f"epoch {self.c.epoch + 1} (validation)")
        return val, (val or train)["loss"]

    def step_schedules(self, metric: float) -> None:
        """The learning-rate schedule's epoch step (a plateau schedule reads `metric`)."""
        self.schedule.step(metric)

    def keep_partial_epoch(self, step: int, sums: torch.Tensor, seconds: float) -> None:
        """The epoch under way stopped after `step` steps, with its running sums (1 + terms,)
        over `seconds` of training, as the loop keeps it at a Ctrl-C (train/batched.py's
        steps); saved, so that a resumed run goes on from there, unless the sums are not
        finite (a diverged state is never saved)."""
        self.c.step, self.sums, self.elapsed = step, sums.clone(), seconds
        self.names = tuple(self.step_model.term_names)
        if bool(torch.isfinite(sums).all()):
            self.save(force=True)

    # ------------------------------------------------------------ state

    def save(self, force: bool = False) -> None:
        """best.pt (when it changed), then checkpoint.pt; at most every CHECKPOINT_SECONDS
        unless forced."""
        if not force and time.perf_counter() - self._saved_at < CHECKPOINT_SECONDS:
            return
        with self.flag.critical():  # a second Ctrl-C waits for the files to be whole
            if self._best_dirty and self.best_weights is not None:
                self._write(self.run.best, {**self.identity, "model": self.best_weights,
                                            "epoch": self.c.best_epoch, "loss": self.c.best})
                self._best_dirty = False
            self._write(self.run.checkpoint, self.state_dict())
        self._saved_at = time.perf_counter()
        self.saved_epoch = self.c.epoch

    def _write(self, path: Any, payload: dict[str, Any]) -> None:
        """One checkpoint file; a full or read-only disk is E606, the last one kept."""
        if not self.run.writes:  # a distributed run's other ranks
            return
        try:
            save_checkpoint(path, payload)
        except OSError as exc:
            kept = (f"; the checkpoint of epoch {self.saved_epoch} is kept"
                    if self.saved_epoch is not None else "")
            raise cannot_write(path, exc, kept) from None

    def state_dict(self) -> dict[str, Any]:
        c = self.c
        mid = c.step > 0
        current_is_best = not mid and c.best_epoch == c.epoch
        return {**self.identity, "model": self.model.state_dict(),
                "best_model": None if current_is_best else self.best_weights,
                "optimizer": self.opt.state_dict(), "schedule": self.schedule.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler else None,
                "rng": dev.rng_state(self.device), "batch_rng": self.gen.get_state(),
                "counters": asdict(c), "names": list(self.names), "elapsed": self.elapsed,
                "perm": self.perm.cpu() if mid and self.perm is not None else None,
                "sums": self.sums.cpu() if mid and self.sums is not None else None,
                "norms": self.norms.cpu() if mid and self.norms is not None else None,
                **({"phase_models": {p.name: p.model.state_dict() for p in self.phases
                                     if p.model is not self.model}}
                   if any(p.model is not self.model for p in self.phases) else {})}

    def load_state_dict(self, ckpt: dict[str, Any], path: Any = "checkpoint.pt") -> None:
        """The state of a checkpoint that `load_checkpoint(..., STATE)` read; E604 for one
        whose parts do not fit this model and its optimizer."""
        load_weights(self.model, ckpt["model"], path)
        try:
            self.c = Counters(**ckpt["counters"])
        except TypeError:
            raise AespecError.of("E604", "its counters are not a run's",
                                 file=str(path)) from None
        if not 0 <= self.c.phase < len(self.phases):
            raise AespecError.of("E604", f"it stopped in phase {self.c.phase + 1}, and the "
                                 f"spec has {len(self.phases)}", file=str(path))
        if len(self.phases) > 1:
            self.use_phase(self.c.phase)  # the optimizer saved is that phase's
        for extra in self.phases:  # a phase's own loss parameters (a learned variance)
            if extra.model is not self.model and ckpt.get("phase_models"):
                extra.model.load_state_dict(ckpt["phase_models"][extra.name])
        load_weights(self.opt, ckpt["optimizer"], path)
        load_weights(self.schedule, ckpt["schedule"], path)
        if self.scaler is not None and ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.saved_epoch = self.c.epoch
        self.names, self.elapsed = tuple(ckpt["names"]), ckpt["elapsed"]
        if self.c.step:
            self.perm, self.sums = ckpt["perm"].to(self.device), ckpt["sums"].to(self.device)
            norms = ckpt.get("norms")
            self.norms = None if norms is None else norms.to(self.device)
        best = ckpt["best_model"]
        self.best_weights = ({k: v.to(self.device) for k, v in best.items()} if best is not None
                             else {k: v.detach().clone()
                                   for k, v in self.model.state_dict().items()})
        dev.set_rng_state(ckpt["rng"], self.device)
        self.gen.set_state(ckpt["batch_rng"])

    def restore_best(self) -> None:
        """The best epoch's weights back into the model (the test and the report use them)."""
        if self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)
