"""Running a sweep's points: in local processes (the default) or on a Ray cluster.

Each point is an ordinary `aespec.train` run into its own run directory, in a process
whose torch threads are set so that the points running side by side do not oversubscribe
the cores. A point's results are those of the same run started alone with as many threads.
"""

from __future__ import annotations

import contextlib
import os
import socket
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


# what a point's process holds before its model and data: Python, torch and aespec
# imported (about 400 MiB resident on CPU with torch 2.x), rounded up
PROCESS_BYTES = 512 << 20


def cap_jobs(asked: int | None, units: int, step_bytes: int) -> tuple[int, str | None]:
    """Points at once: `asked` (default one per core), at most one per unit, per core and
    per share of the free memory that a point's process and training step need; and why
    fewer than asked, when cores or memory capped it."""
    from aespec.data.base import available_memory, fmt_bytes

    n_cores, free = cores(), available_memory()
    want = asked or n_cores
    per_point = PROCESS_BYTES + step_bytes
    by_memory = max(1, free // per_point) if free is not None else want
    jobs = max(1, min(want, units, n_cores, by_memory))
    if jobs >= min(want, units):
        return jobs, None
    why = (f"{n_cores} core{'s' * (n_cores > 1)}" if n_cores <= by_memory else
           f"{fmt_bytes(free or 0)} free memory, at least {fmt_bytes(per_point)} a point")
    return jobs, f"{jobs} point{'s' * (jobs > 1)} at once, not {want}: {why}"


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


def interrupted(task: Task) -> dict[str, Any]:
    """A point a Ctrl-C stopped: `interrupted` when its run began (resume it with
    `aespec run --resume`), `not run` when it had not."""
    began = os.path.isfile(os.path.join(task.out, "run.json"))
    return {"index": task.index, "status": "interrupted" if began else "not run",
            "run_dir": task.out if began else None}


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


class Interrupted(Exception):  # noqa: N818
    """A Ctrl-C stopped the sweep: the points it reached are reported, the rest not run."""


def _tasks(unit: Unit) -> tuple[Task, ...]:
    return unit.tasks if isinstance(unit, Group) else (unit,)


def _report(outcomes: list[dict[str, Any]], done: Done) -> None:
    """Each outcome to `done`; Interrupted once a point was (its run caught the Ctrl-C,
    stopped and saved; the sweep stops with it rather than train the next)."""
    for outcome in outcomes:
        done(outcome)
    if any(o["status"] == "interrupted" for o in outcomes):
        raise Interrupted


def run_local(tasks: list[Unit], jobs: int, done: Done) -> None:
    """`jobs` units (points or batched groups) at a time, each in a worker process (this
    process when jobs is 1). Interrupted after a Ctrl-C, once the points under way have
    stopped and been reported."""
    if jobs <= 1 or len(tasks) <= 1:
        for task in tasks:
            try:
                outcomes = run_unit(task)
            except KeyboardInterrupt:  # a second Ctrl-C, or one between two runs
                _report([interrupted(t) for t in _tasks(task)], done)
                raise Interrupted from None
            _report(outcomes, done)
        return
    _run_pool(tasks, jobs, done)


def _run_pool(tasks: list[Unit], jobs: int, done: Done) -> None:
    """At most `jobs` units submitted at once, so that none is queued to start after a
    Ctrl-C; the workers are out of the terminal's process group, and a Ctrl-C reaches
    each running point once, from here (a point stops at its next step and saves)."""
    import concurrent.futures as cf
    import multiprocessing

    # spawned, not forked: a fork of a process that has started torch's threads may hang
    threads = _threads(tasks[0])
    with _env(OMP_NUM_THREADS=str(threads)), cf.ProcessPoolExecutor(
            max_workers=min(jobs, len(tasks)), mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_start, initargs=(threads,)) as pool:
        queue, running = list(tasks), dict[cf.Future, Unit]()
        try:
            while queue or running:
                while queue and len(running) < jobs:
                    unit = queue.pop(0)
                    running[pool.submit(_in_worker, unit)] = unit
                finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for future in finished:
                    outcomes = future.result()  # a Ctrl-C here: the unit is still running
                    del running[future]
                    _report(outcomes, done)
        except (KeyboardInterrupt, Interrupted):
            _interrupt_workers(pool)
            _wind_down(running, done)
            raise Interrupted from None


def _worker_start(threads: int) -> None:
    """A pool worker: its torch threads; its own process group (the terminal's Ctrl-C is
    the sweep's to pass on); a Ctrl-C ignored while it waits for a point."""
    import signal

    set_threads(threads)
    if hasattr(os, "setpgrp"):
        os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _in_worker(unit: Unit) -> list[dict[str, Any]]:
    """run_unit in a pool worker: a Ctrl-C stops the point (at its next step once it
    trains, at once before), and is ignored again after."""
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return run_unit(unit)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _interrupt_workers(pool: Any) -> None:
    """One SIGINT to each worker process of `pool` (its running point stops)."""
    import signal

    for pid in list(getattr(pool, "_processes", None) or {}):  # pid -> process
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGINT)


def _wind_down(futures: dict[Any, Unit], done: Done) -> None:
    """After a Ctrl-C: the points under way stop at their next step and are reported."""
    for future, unit in futures.items():
        try:
            outcomes = future.result()
        except BaseException:  # noqa: BLE001  (the worker was stopped with the sweep)
            outcomes = [interrupted(t) for t in _tasks(unit)]
        for outcome in outcomes:
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


PROBE_SECONDS = 10.0  # how long --address may take to answer before the sweep is refused


def probe_ray(address: str | None) -> None:
    """E615 within PROBE_SECONDS when `address` (HOST:PORT or ray://HOST:PORT) takes no TCP
    connection: ray.init would retry it for minutes. Only the address named is tried, and
    only when it names a port ("auto" and the like are Ray's to resolve)."""
    target = _host_port(address)
    if target is None:
        return
    try:
        socket.create_connection(target, timeout=PROBE_SECONDS).close()
    except OSError as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise AespecError.of(
            "E615", f"cannot reach a Ray cluster at {address}: {reason} (tried for at most "
            f"{PROBE_SECONDS:g} s)", file="--address", hint="start one with `ray start "
            "--head` there, check the host and port, or leave out --address for a local "
            "instance") from None


def _host_port(address: str | None) -> tuple[str, int] | None:
    """("10.0.0.1", 6379) from `10.0.0.1:6379` or `ray://10.0.0.1:10001`; None without a
    port."""
    if not address:
        return None
    rest = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return None
    return host.strip("[]"), int(port)


def import_ray() -> Any:
    """ray, imported only when a sweep asks for it; E615 naming the extra when missing."""
    try:
        import ray
    except ImportError:
        raise AespecError.of("E615", "--executor ray needs Ray, which is not installed",
                             hint="pip install aespec[ray]", file="--executor") from None
    return ray
