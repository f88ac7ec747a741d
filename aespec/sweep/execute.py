"""Running a sweep's points: in local processes (the default) or on a Ray cluster.

Each point is an ordinary `aespec.train` run into its own run directory, in a process
whose torch threads are set so that the points running side by side do not oversubscribe
the cores. A point's results are those of the same run started alone with as many threads.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
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


STOPPED = ("interrupted", "not run")  # what a Ctrl-C leaves of a point (interrupted())


def _deliver(outcomes: list[dict[str, Any]], done: Done) -> bool:
    """Each outcome to `done`; whether a Ctrl-C stopped a point (its run caught it,
    stopped and saved; the sweep stops with it rather than train the next)."""
    for outcome in outcomes:
        done(outcome)
    return any(o["status"] in STOPPED for o in outcomes)


def _report(outcomes: list[dict[str, Any]], done: Done) -> None:
    """Each outcome to `done`; Interrupted once a point was (_deliver)."""
    if _deliver(outcomes, done):
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


# the pool's wait wakes this often: Python runs a handler in the main thread only, so a
# Ctrl-C that another thread took waits for the main thread to wake
WAKE_SECONDS = 1.0


def _run_pool(tasks: list[Unit], jobs: int, done: Done) -> None:
    """At most `jobs` units submitted at once, so that none is queued to start after a
    Ctrl-C; the workers are out of the terminal's process group, and each Ctrl-C reaches
    each running point once, from here (_Stop: a point stops at its next step and saves).
    After one, no unit is submitted, those under way are reported, and Interrupted."""
    import concurrent.futures as cf
    import multiprocessing

    # spawned, not forked: a fork of a process that has started torch's threads may hang
    context = multiprocessing.get_context("spawn")
    threads, stop = _threads(tasks[0]), _Stop(context.RawValue("b", 0))
    with stop.handling(), _env(OMP_NUM_THREADS=str(threads)), cf.ProcessPoolExecutor(
            max_workers=min(jobs, len(tasks)), mp_context=context,
            initializer=_worker_start, initargs=(threads, stop.flag, os.getpid())) as pool:
        stop.pool = pool
        queue, running = list(tasks), dict[cf.Future, Unit]()
        while running or (queue and not stop.requested):
            while queue and len(running) < jobs and not stop.requested:
                unit = queue.pop(0)
                with _sigint_held():  # a worker this starts inherits the hold
                    running[pool.submit(_in_worker, unit)] = unit
            finished, _ = cf.wait(running, WAKE_SECONDS, return_when=cf.FIRST_COMPLETED)
            for future in finished:
                if _deliver(_outcomes(future, running.pop(future)), done):
                    stop.request()  # a point stopped: the sweep stops with it
    if stop.requested:
        raise Interrupted


class _Stop:
    """The sweep's Ctrl-C while its pool runs, by a SIGINT handler of its own whatever the
    sweep was started with: one started by a script's `command &` inherits SIGINT ignored,
    Python then installs no KeyboardInterrupt, and the Ctrl-C never reached the points
    (their workers take one all the same: they trained on). The handler raises nothing, so
    that no KeyboardInterrupt lands inside the pool's own calls (one in `submit` can leave
    a worker started but unknown to the pool): it sets `flag`, which the workers share,
    then passes the Ctrl-C on to each worker."""

    def __init__(self, flag: Any) -> None:
        self.flag: Any = flag
        self.pool: Any = None  # the pool, once it is made (its workers get the SIGINTs)

    @property
    def requested(self) -> bool:
        return bool(self.flag.value)

    def request(self) -> None:
        """Stop the sweep as a Ctrl-C does, unless one already did."""
        if not self.requested:
            self._handle(signal.SIGINT, None)

    def _handle(self, signum: int, frame: Any) -> None:
        self.flag.value = 1  # before the SIGINTs: a worker that misses one sees the flag
        _interrupt_workers(self.pool)

    @contextlib.contextmanager
    def handling(self) -> Iterator[None]:
        """The handler installed, where this is the main thread (the one Python runs
        handlers in); the sweep's own put back after."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        old = signal.signal(signal.SIGINT, self._handle)
        try:
            yield
        finally:
            for _ in range(2):  # a Ctrl-C while it switches back may surface here as
                with contextlib.suppress(OSError):  # OSError (stop.StopFlag.__exit__):
                    signal.signal(signal.SIGINT, old)  # the pool is done, it is dropped


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """SIGINT blocked in this thread while it may start a worker (and the pool's threads,
    which then never take one in its place): the worker inherits the block, so that a
    Ctrl-C to the terminal's group while it starts waits, and its _worker_start drops it
    (here, the Ctrl-C is handled once the block is lifted)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _outcomes(future: Any, unit: Unit) -> list[dict[str, Any]]:
    """A unit's outcomes from its worker; a Ctrl-C that came before its run took them
    (a KeyboardInterrupt) leaves its points `interrupted` or `not run` (interrupted())."""
    try:
        return future.result()
    except KeyboardInterrupt:
        return [interrupted(t) for t in _tasks(unit)]


# a pool worker's: set by _worker_start
_STOP: Any = None  # the sweep's _Stop.flag: set, a unit that reaches the worker is not run
_BUSY = threading.Lock()  # held while the worker runs a unit


def _worker_start(threads: int, flag: Any, parent: int) -> None:
    """A pool worker: its own process group (the terminal's Ctrl-C is the sweep's to pass
    on); a Ctrl-C ignored while it waits for a point; its torch threads. SIGINT comes in
    blocked (_sigint_held): ignoring it drops one that came to the group meanwhile, then
    it is let through; the parent's watch inherits the block."""
    global _STOP
    _STOP = flag
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(os, "setpgrp"):
        os.setpgrp()
    _watch_parent(parent)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if not flag.value:  # else its unit is not run: no torch to import (seconds)
        set_threads(threads)


def _in_worker(unit: Unit) -> list[dict[str, Any]]:
    """run_unit in a pool worker: a Ctrl-C stops the point (at its next step once it
    trains, at once before), and is ignored again after. A unit that reaches the worker
    once the sweep was stopped is not run: the Ctrl-C passed on to the worker may have
    come while it started, and been dropped."""
    with _BUSY:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:  # the handler before the flag: the sweep sets the flag before it signals
            if _STOP is not None and _STOP.value:
                return [interrupted(t) for t in _tasks(unit)]
            return run_unit(unit)
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


PARENT_SECONDS = 1.0  # how often a pool worker looks for its sweep


def _watch_parent(parent: int) -> None:
    """A thread that stops this worker once the sweep is gone (killed: nothing would pass
    it a Ctrl-C or take its results, and its point would train on): the point under way
    stops at its next step and saves, as on a Ctrl-C, a unit not begun is not run, and the
    worker ends."""
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_SECONDS)
        _STOP.value = 1
        os.kill(os.getpid(), signal.SIGINT)
        with _BUSY:
            os._exit(130)  # the shell's code for a Ctrl-C's end

    threading.Thread(target=watch, name="aespec-sweep-parent", daemon=True).start()


def _interrupt_workers(pool: Any) -> None:
    """One SIGINT to each worker process of `pool` (its running point stops)."""
    for pid in list(getattr(pool, "_processes", None) or {}):  # pid -> process
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGINT)


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
