"""The smoke training of one hand-in, in a worker process (torch imported once per
worker), and the figures it is graded by: the test error of its reconstructions, of the
mean image and of PCA with as many components as the code, and the spread of its outputs
across examples (a collapsed model gives every example the same output).

A small pool (`Pool`) runs these jobs in worker processes; the parent watches each job's
wall clock and its worker's resident memory, kills a worker that passes either limit and
starts a fresh one, so no hand-in can stop the batch.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Job:
    key: int
    source: str
    path: str
    data: str | None
    epochs: int
    seed: int
    out: str  # the run directory (a scratch folder the parent removes)


def reference_errors(x_train: Any, x_test: Any, target: Any, k: int) -> dict[str, float]:
    """The test error (mean squared, per value) of two references: the training set's mean
    image, and PCA fitted on the training set with `k` components (k at least 1)."""
    import numpy as np

    xtr = np.asarray(x_train, dtype=np.float64).reshape(len(x_train), -1)
    xte = np.asarray(x_test, dtype=np.float64).reshape(len(x_test), -1)
    tgt = np.asarray(target, dtype=np.float64).reshape(len(target), -1)
    mean = xtr.mean(axis=0)
    out = {"mean_mse": float(((tgt - mean) ** 2).mean())}
    k = max(1, min(k, xtr.shape[1], len(xtr)))
    _, _, vt = np.linalg.svd(xtr - mean, full_matrices=False)
    basis = vt[:k]
    recon = (xte - mean) @ basis.T @ basis + mean
    out["pca_mse"] = float(((tgt - recon) ** 2).mean())
    out["pca_k"] = k
    return out


def smoke(job: Job) -> dict[str, Any]:
    """Train the job's spec for its epochs (seeded, on the CPU, no report) and measure it.
    Problems in the spec or data come back as diagnostics, never raised."""
    from aespec.errors import AespecError
    from aespec.graph.frontend import check_source
    from aespec.train.api import train

    start = time.perf_counter()
    result = check_source(job.source, job.path, (), job.data)
    try:
        result.raise_for_errors()
        run = train(result, data=job.data, epochs=job.epochs, device="cpu",
                    out=Path(job.out), quiet=True, report=False,
                    overrides=[f"train.seed={job.seed}"])
        trained = time.perf_counter() - start
        out: dict[str, Any] = {"ok": True, "epochs": run.epochs, "status": run.status,
                               "test_loss": run.test.get("loss"), "train_s": trained,
                               # what the run itself found (W418, collapse warnings, ...)
                               "diagnostics": [d.to_json() | {"file": d.file}
                                               for d in run.warnings]}
        assert result.spec is not None and result.ir is not None
        if result.spec.is_adversarial:
            out["figures"] = "a GAN has no reconstructions"
            return out
        try:
            out.update(_figures(run.run_dir, job, math.prod(result.ir.z) if result.ir.z
                                else 1))
        except Exception as exc:  # a model these figures do not fit (conditional, ...)
            out["figures"] = f"the reconstructions could not be measured: {exc}"
        out["figures_s"] = time.perf_counter() - start - trained
        return out
    except AespecError as err:
        return {"ok": False, "diagnostics": [d.to_json() | {"file": d.file}
                                             for d in err.diagnostics],
                "source": result.source}
    except Exception as exc:  # an aespec bug must not stop the batch: graded, explained
        return {"ok": False, "crash": f"{type(exc).__name__}: {exc}"}


def _figures(run_dir: Path, job: Job, code: int) -> dict[str, Any]:
    """The test error of the best weights' reconstructions (eval mode: no noise, z = mu
    for a VAE), against the clean target; the references; the outputs' spread."""
    import numpy as np
    import torch

    from aespec.train.loaded import load_run

    loaded = load_run(run_dir, device="cpu")
    ds = loaded.dataset(job.data)
    torch.manual_seed(job.seed)
    with torch.no_grad():
        x_hat = loaded.model(torch.as_tensor(ds.x_test)).x_hat.numpy()
    target = ds.x_test if ds.y_test is None else ds.y_test
    flat = x_hat.reshape(len(x_hat), -1).astype(np.float64)
    tgt = np.asarray(target, dtype=np.float64).reshape(len(target), -1)
    return {"test_mse": float(((flat - tgt) ** 2).mean()),
            "spread": float(flat.std(axis=0).mean()),
            "data_spread": float(tgt.std(axis=0).mean()),
            **reference_errors(ds.x_train, ds.x_test, target, code)}


def _serve(conn: Connection) -> None:
    """A worker: import torch once, say so, then run jobs until told to stop."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    import aespec.train  # noqa: F401  (the training stack, once)

    conn.send("ready")
    while True:
        job = conn.recv()
        if job is None:
            return
        conn.send((job.key, smoke(job)))


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class _Worker:
    def __init__(self, ctx: Any) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        self.job: Job | None = None
        self.started = 0.0
        self.ready = False

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join()
        self.conn.close()


class Pool:
    """`jobs` workers; `run` yields (key, result) as jobs finish, in any order. A job past
    `timeout` seconds or `memory_mb` of resident memory gets {"ok": False, "limit": ...}
    and its worker is replaced."""

    def __init__(self, jobs: int, timeout: float, memory_mb: int) -> None:
        self.ctx = multiprocessing.get_context("spawn")
        self.size, self.timeout, self.memory_mb = jobs, timeout, memory_mb
        self.workers: list[_Worker] = []
        self.restarts = 0
        self.failed_starts = 0  # workers that ended before they were ready

    def run(self, todo: list[Job]) -> Iterator[tuple[int, dict[str, Any]]]:
        queue = list(reversed(todo))
        if not self.workers:
            self.workers = [_Worker(self.ctx) for _ in range(min(self.size, len(todo)))]
        while queue or any(w.job for w in self.workers):
            for w in self.workers:
                if w.ready and w.job is None and queue:
                    w.job, w.started = queue.pop(), time.monotonic()
                    w.conn.send(w.job)
            ready = wait([w.conn for w in self.workers], timeout=0.1)
            for i, w in enumerate(self.workers):
                if w.conn in ready:
                    try:
                        msg = w.conn.recv()
                    except (EOFError, OSError):  # the worker died (killed by the system)
                        job = w.job
                        if job is None and not w.ready:
                            self.failed_starts += 1
                            if self.failed_starts > 3:  # workers cannot start: no loop
                                for left in [*queue, *(x.job for x in self.workers if x.job)]:
                                    yield left.key, {"ok": False, "limit": "ended"}
                                return
                        self._replace(i)
                        if job is not None:
                            yield job.key, {"ok": False, "limit": "ended"}
                        continue
                    if msg == "ready":
                        w.ready = True
                    else:
                        w.job = None
                        yield msg
                elif w.job is not None:
                    used = time.monotonic() - w.started
                    rss = _rss_mb(w.proc.pid) if w.proc.pid else 0.0
                    limit = ("time" if used > self.timeout else
                             "memory" if rss > self.memory_mb else None)
                    if limit is not None:
                        key = w.job.key
                        self._replace(i)
                        yield key, {"ok": False, "limit": limit, "seconds": used,
                                    "rss_mb": rss}

    def _replace(self, i: int) -> None:
        self.workers[i].kill()
        self.workers[i] = _Worker(self.ctx)
        self.restarts += 1

    def close(self) -> None:
        for w in self.workers:
            try:
                w.conn.send(None)
            except OSError:
                pass
            w.proc.join(timeout=5)
            if w.proc.is_alive():
                w.kill()
        self.workers = []
