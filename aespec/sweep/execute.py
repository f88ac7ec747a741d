"""Running a sweep's points: in local processes (the default) or on a Ray cluster.

Each point is an ordinary `aespec.train` run into its own run directory, in a process
whose torch threads are set so that the points running side by side do not oversubscribe
the cores. A point's results are those of the same run started alone with as many threads.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aespec.errors import AespecError


@dataclass(frozen=True)
class Task:
    """One point to run: plain data, so that it pickles to a process or a Ray worker."""

    index: int
    spec_path: str
    overrides: tuple[str, ...]
    out: str
    data: str | None
    threads: int
    report: bool = True


@dataclass(frozen=True)
class Group:
    """Points trained together as one batched model (aespec/train/batched.py)."""

    tasks: tuple[Task, ...]


Unit = Task | Group


def cores() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def threads_for(jobs: int) -> int:
    """Torch threads per point when `jobs` points run side by side."""
    return max(1, cores() // max(jobs, 1))


def set_threads(threads: int) -> None:
    from aespec.train.device import set_threads as set_torch_threads

    set_torch_threads(threads)


def run_point(task: Task) -> dict[str, Any]:
    """Train one point; what it gave, as plain data (a failure is recorded, not raised)."""
    import time

    set_threads(task.threads)
    from aespec.train import train

    started = time.perf_counter()
    try:
        result = train(task.spec_path, overrides=list(task.overrides), out=task.out,
                       data=task.data, quiet=True, report=task.report)
    except AespecError as error:
        return _failed(task, error, time.perf_counter() - started)
    return _outcome(task, result, time.perf_counter() - started)


def run_group(group: Group) -> list[dict[str, Any]]:
    """Train a group of points together (train/batched.py); each one's outcome."""
    import time

    tasks = group.tasks
    set_threads(tasks[0].threads)
    from aespec.graph import check_file
    from aespec.train.batched import train_batched

    started = time.perf_counter()
    try:
        checked = [check_file(t.spec_path, list(t.overrides)) for t in tasks]
        results = train_batched(checked, [t.out for t in tasks], data=tasks[0].data,
                                report=tasks[0].report)
    except AespecError as error:
        results = [error] * len(tasks)
    wall = time.perf_counter() - started
    return [{**(_failed(t, r, wall) if isinstance(r, AespecError) else _outcome(t, r, wall)),
             "batched": True, "group_size": len(tasks)}
            for t, r in zip(tasks, results, strict=True)]


def run_unit(unit: Unit) -> list[dict[str, Any]]:
    """A point, or a batched group of them: each one's outcome."""
    return run_group(unit) if isinstance(unit, Group) else [run_point(unit)]


def _failed(task: Task, error: AespecError, seconds: float) -> dict[str, Any]:
    d = error.diagnostics[0]
    return {"index": task.index, "status": "failed", "error": f"{d.code}: {d.message}",
            "seconds": seconds, "run_dir": task.out}


def _outcome(task: Task, result: Any, wall: float) -> dict[str, Any]:
    best: dict[str, Any] = next((r for r in result.history if r["epoch"] == result.best_epoch), {})
    last = result.history[-1] if result.history else {}
    return {"index": task.index, "status": result.status, "run_dir": str(result.run_dir),
            "epochs": result.epochs, "best_epoch": result.best_epoch, "test": result.test,
            "val": best.get("val") or {}, "train": last.get("train") or {},
            "params": result.params, "seconds": result.seconds, "wall_seconds": wall}


Done = Callable[[dict[str, Any]], None]


def _threads(unit: Unit) -> int:
    return unit.tasks[0].threads if isinstance(unit, Group) else unit.threads


def run_local(tasks: list[Unit], jobs: int, done: Done) -> None:
    """`jobs` units (points or batched groups) at a time, each in a worker process (this
    process when jobs is 1)."""
    if jobs <= 1 or len(tasks) <= 1:
        for task in tasks:
            for outcome in run_unit(task):
                done(outcome)
        return
    import concurrent.futures as cf
    import multiprocessing

    # spawned, not forked: a fork of a process that has started torch's threads may hang
    threads = _threads(tasks[0])
    with _env(OMP_NUM_THREADS=str(threads)), cf.ProcessPoolExecutor(
            max_workers=min(jobs, len(tasks)), mp_context=multiprocessing.get_context("spawn"),
            initializer=set_threads, initargs=(threads,)) as pool:
        futures = [pool.submit(run_unit, task) for task in tasks]
        for future in cf.as_completed(futures):
            for outcome in future.result():
                done(outcome)


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_ray(tasks: list[Unit], address: str | None, done: Done) -> None:
    """Each point a Ray task asking for its threads' CPUs. A Ray instance this process has
    already started (ray.init) is used as it is; otherwise `address` (a running cluster)
    or a local instance is started for the sweep and stopped after it."""
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise AespecError.of("E615", f"cannot reach a Ray cluster at {address}: {exc}",
                                 hint="start one with `ray start --head`, or leave out "
                                 "--address for a local instance", file="--address") from None
    try:
        remote = ray.remote(num_cpus=_threads(tasks[0]) if tasks else 1)(run_unit)
        pending = [remote.remote(task) for task in tasks]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for outcome in ray.get(ready[0]):
                done(outcome)
    finally:
        if started:
            ray.shutdown()


def import_ray() -> Any:
    """ray, imported only when a sweep asks for it; E615 naming the extra when missing."""
    try:
        import ray
    except ImportError:
        raise AespecError.of("E615", "--executor ray needs Ray, which is not installed",
                             hint="pip install aespec[ray]", file="--executor") from None
    return ray
