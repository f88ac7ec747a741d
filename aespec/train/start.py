"""A run from its request: a new one in a fresh directory, or a stopped one resumed in its
own; then its epochs, from the data on the device to `finish_run`."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import pathlib
import time
from typing import Any

from aespec.errors import AespecError
from aespec.graph import check_source
from aespec.train import batches, dist, fastdev
from aespec.train import device as dev
from aespec.train.dbn import pretrain_rbm
from aespec.train.finish import RunResult, diverged_error, finish_run
from aespec.train.loaded import check_recorded_data, recorded_data
from aespec.train.loggers import watch_run
from aespec.train.loop import Diverged, Interrupted, Trainer
from aespec.train.phases import plan_phases
from aespec.train.pretrain import pretrain_layerwise
from aespec.train.progress import Reporter, RunStart
from aespec.train.record import paged, recorded, write_start
from aespec.train.rundir import (
    STATE,
    RunDir,
    check_fresh,
    check_same,
    load_checkpoint,
    new_run_path,
)
from aespec.train.setup import (
    RunRequest,
    Setup,
    check_spec_for_run,
    place_model,
    prepare,
    require_memory,
    run_identity,
    run_notes,
    setup_run,
    train_examples,
)
from aespec.train.stop import StopFlag
from aespec.train.warmstart import warm_start


def start_run(request: RunRequest, reporter: Reporter, ranks: dist.Ranks | None) -> RunResult:
    """A new run, in `request.out` (which must be new or empty) or a new `runs/` folder."""
    if request.spec is None:
        raise TypeError("train() needs a spec, or resume=RUN_DIR")
    fast = request.fast_dev_run
    setup = prepare(request.spec, [*request.overrides, *["train.epochs=1"] * fast],
                    request.data, request.report, fast, ranks)
    setup = dataclasses.replace(setup, init_from=request.init_from)
    out = request.out
    existed = out is not None and pathlib.Path(out).exists()  # the user's: never removed

    def place() -> pathlib.Path:
        path = pathlib.Path(out) if out is not None else new_run_path(setup.spec.name)
        check_fresh(path)
        return path

    run = dist.run_dir_for(ranks, place() if ranks is None else ranks.on_writer(place))
    try:
        return execute(setup, run, None, reporter, time.time(), StopFlag(request.ends_process))
    except BaseException:
        with contextlib.suppress(OSError):
            if run.writes and not existed:
                run.path.rmdir()  # only if the run left nothing in it (refused before it began)
        raise


def resume_run(request: RunRequest, reporter: Reporter,
               ranks: dist.Ranks | None = None) -> RunResult:
    """A stopped run, on in its own directory from its checkpoint, with its overrides and
    the request's after them; refused (E602, E604) for another spec or other data."""
    assert request.resume is not None
    run = dist.run_dir_for(ranks, pathlib.Path(request.resume))
    info = run.info()
    ckpt = load_checkpoint(run.checkpoint, STATE)
    all_overrides = _latest([*info["overrides"], *request.overrides])
    if request.spec is None:
        source, name = run.source()
        checked = check_source(source, info.get("spec_path") or str(run.path / name),
                               all_overrides)
        checked.raise_for_errors()
        base = pathlib.Path(info["base_dir"])
    else:
        checked, base = check_spec_for_run(request.spec, all_overrides)  # idempotent
    assert checked.spec is not None
    check_same(ckpt, checked.spec, run.checkpoint, resume=True)
    _say_when_finished(run, ckpt, checked.spec.train.epochs, reporter)
    choice = _recorded_choice(run, info, base, request.data)
    setup = setup_run(checked, all_overrides, base, choice, request.report, ranks=ranks)
    return execute(setup, run, ckpt, reporter, time.time() - info.get("seconds", 0.0),
                   StopFlag(request.ends_process))


def _say_when_finished(run: RunDir, ckpt: dict[str, Any], epochs: int,
                       reporter: Reporter) -> None:
    """A run resumed with nothing left to train (its epochs done, or stopped early) is
    evaluated and reported again; say so, and how to train it further."""
    counters = ckpt.get("counters") or {}
    done, stopped = counters.get("epoch", 0), counters.get("stopped")
    if counters.get("step") or (done < epochs and not stopped):
        return
    why = (f"early stopping ended it at epoch {done}" if stopped and done < epochs
           else f"it trained all its {epochs} epoch{'s' * (epochs != 1)}")
    reporter.message(f"{run.path}: nothing left to train ({why}); its test figures and "
                     f"report are made again. To train further: aespec run --resume "
                     f"{run.path} --epochs N, with N > {done}")


def _recorded_choice(run: RunDir, info: dict[str, Any], base: pathlib.Path,
                     data: str | None) -> batches.DataChoice:
    """The data the run was trained on (E602 for a `data` that is other)."""
    choice = batches.parse_data(data) if data is not None else recorded_data(run.path, info)
    if data is None:  # as eval: a regular file, never through a link out of the run folder
        check_recorded_data(choice, base, run.path, None)
    if json.loads(json.dumps(choice.to_json())) != info["data"]:  # tuples are lists there
        raise AespecError.of("E602", f"{run.path} was trained on {_data_text(info['data'])}, "
                             f"not {choice.text()}", hint="resume without --data",
                             file=str(run.path))
    return choice


def _latest(overrides: list[str]) -> list[str]:
    """Each overridden key once, at its last value (a resumed run adds to the list)."""
    last = {text.partition("=")[0].strip(): i for i, text in enumerate(overrides)}
    return [text for i, text in enumerate(overrides) if last[text.partition("=")[0].strip()] == i]


def _data_text(d: dict[str, Any]) -> str:
    return batches.DataChoice(d["source"], d["args"]).text()


def execute(setup: Setup, run: RunDir, ckpt: dict[str, Any] | None, reporter: Reporter,
            started: float, flag: StopFlag) -> RunResult:
    """The run itself: its data on the device, its model, its epochs (from `ckpt` when
    resumed), and its end; run.json and report.html say how it ended, however it ends.
    Denormals are flushed from before the data loads (torch's worker threads started from
    here on inherit the flag: device.flushed_denormals) until the run has ended."""
    with dev.flushed_denormals():
        return _execute(setup, run, ckpt, reporter, started, flag)


def _execute(setup: Setup, run: RunDir, ckpt: dict[str, Any] | None, reporter: Reporter,
             started: float, flag: StopFlag) -> RunResult:
    spec, graph, device = setup.spec, setup.graph, setup.device
    dataset = batches.load(spec, setup.data, setup.base_dir)
    if setup.fast_dev_run:
        dataset = fastdev.one_batch(dataset, spec.train.batch)
    # before the model or the data are on the device; at the batch that runs (the data's)
    require_memory(spec, graph, device, train_examples(len(dataset.x_train), spec.train.split))
    data = batches.to_device(dataset, spec.train.split, device,
                             batches.label_classes(spec, graph), spec.head is not None)
    model, notes = place_model(spec, graph, device, setup.precision)
    notes = run_notes(setup, notes)
    with paged(run, (spec, graph)), flag, recorded(run, started), \
            dist.lost_ranks(setup.ranks, run.path):
        trainer = make_trainer(setup, model, data, dataset, run, reporter, flag)
        watch_run(reporter, spec, model, data)  # a TensorBoard logger's pictures, hparams
        if ckpt is not None:
            trainer.load_state_dict(ckpt, run.checkpoint)
            run.rewrite_metrics(trainer.c.history)
            run.update(overrides=setup.overrides, status="running", device=str(device))
        else:
            init = warm_start(model, spec, setup.base_dir, setup.init_from)
            phases = [{"name": p.name, "epochs": p.epochs} for p in spec.phases]
            write_start(setup, run, dataset.description, notes,
                        **({"init": init} if init else {}),
                        **({"phases": phases} if phases else {}))
        params = sum(p.numel() for p in model.parameters())
        reporter.start(RunStart(spec.name, str(run.path), spec.total_epochs,
                                trainer.c.epoch + 1, trainer.steps, len(data.train),
                                len(data.val) if data.val else 0, data.description,
                                str(device), params, tuple(notes)))
        try:
            status = _fit(trainer, setup, reporter, flag, dataset)
        except Diverged as d:
            run.update(status="diverged", seconds=time.time() - started)
            raise diverged_error(d, trainer, run) from None
        finally:
            reporter.close()
        return finish_run(setup, trainer, dataset, run, status, started)


def make_trainer(setup: Setup, model: Any, data: batches.RunData, dataset: Any, run: RunDir,
                 reporter: Reporter, flag: StopFlag) -> Trainer:
    """The run's Trainer: a GAN's alternates its two networks (train/adversarial.py)."""
    spec = setup.spec
    args = (model, setup.train, data, setup.device, run, run_identity(spec), reporter, flag,
            setup.ranks)
    if spec.is_vae_gan:  # train/vaegan.py
        from aespec.train.vaegan import VAEGANTrainer

        return VAEGANTrainer(*args, monitor=_sample_monitor(setup, dataset, data))
    if not spec.is_adversarial and not spec.is_aae:
        return Trainer(*args, phases=plan_phases(spec, setup.graph, model, setup.device,
                                                 setup.fast_dev_run))
    from aespec.train.adversarial import AAETrainer, GANTrainer

    if spec.is_aae:
        return AAETrainer(*args)
    return GANTrainer(*args, monitor=_sample_monitor(setup, dataset, data))


def _sample_monitor(setup: Setup, dataset: Any, data: batches.RunData) -> Any:
    """A GAN's or a VAE-GAN's SampleMonitor (adversarial.py), or None. In a distributed
    run the writer alone builds it (and trains its classifier), and its E315 stops every
    rank."""
    from aespec.train.adversarial import sample_monitor

    if setup.ranks is None:
        return sample_monitor(setup.spec, dataset, data)
    made: list[Any] = []
    setup.ranks.on_writer(lambda: made.append(sample_monitor(setup.spec, dataset, data)))
    return made[0] if made else None


def _probe_pretrained(trainer: Trainer, setup: Setup, dataset: Any) -> dict[str, Any]:
    """run.json's `pretrain_probe`: with `report { probe }`, the linear probe's accuracy on
    the codes right after pretraining, before fine-tuning (report/probe.py)."""
    if "probe" not in setup.spec.report.items or dataset is None or not trainer.run.writes \
            or dataset.labels_train is None or dataset.labels_test is None:
        return {}
    from aespec.report.probe import pretrained_probe

    return {"pretrain_probe": pretrained_probe(trainer.model, dataset, setup.device)}


# `train { pretrain NAME(...) }`: each entry of settings.TRAIN["pretrain"], how it trains
PRETRAINERS = {"layerwise": pretrain_layerwise, "rbm": pretrain_rbm}


def _fit(trainer: Trainer, setup: Setup, reporter: Reporter, flag: StopFlag,
         dataset: Any = None) -> str:
    """Layer-wise pretraining where the spec asks for it (once), then the epochs; the
    status. A Ctrl-C saves the state where a resumed run can go on from."""
    pretrain = setup.spec.train.pretrain
    try:
        if pretrain is not None and not trainer.c.pretrained:
            records = PRETRAINERS[pretrain.name](
                trainer.model, setup.graph, trainer.data.train, setup.spec.train, setup.device,
                reporter, flag)
            if trainer.ranks is not None:  # each rank pretrained alone: rank 0's weights
                trainer.ranks.broadcast_weights(trainer.model)
            trainer.c.pretrained = True
            trainer.run.update(pretrain=records, **_probe_pretrained(trainer, setup, dataset))
            trainer.save(force=True)
        return trainer.fit()
    except Interrupted:
        if trainer.c.pretrained or pretrain is None:
            trainer.save(force=True)
        return "interrupted"
