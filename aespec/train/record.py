"""What a run's folder says of it: run.json's first record and resolved spec at the start,
its outcome however the run ends, and report.html when it ends."""

from __future__ import annotations

import contextlib
import datetime as dt
import pathlib
import platform
import time
from collections.abc import Iterator
from typing import Any

import torch

from aespec.errors import AespecError, is_pseudo_file
from aespec.model import Spec
from aespec.train.pages import write_run_page
from aespec.train.rundir import RunDir, cannot_write
from aespec.train.setup import Setup


def write_start(setup: Setup, run: RunDir, description: str, notes: list[str],
                **extra: Any) -> None:
    """A new run's first files: run.json (what ran, where, on what; `extra` added) and the
    resolved spec."""
    run.write_start(setup.spec, {**_info(setup, description, notes), **extra},
                    _resolved(setup))


def _info(setup: Setup, description: str, notes: list[str]) -> dict[str, Any]:
    spec, graph = setup.spec, setup.graph
    return {"aespec": _version(), "torch": torch.__version__,
            "python": platform.python_version(), "name": spec.name,
            "spec_file": _spec_file(spec),
            "spec_path": str(pathlib.Path(spec.path).resolve()) if spec.path and
            not is_pseudo_file(spec.path) else None,
            "base_dir": str(setup.base_dir), "overrides": setup.overrides,
            "data": setup.data.to_json(), "data_description": description,
            "device": str(setup.device), "precision": setup.precision, "notes": notes,
            "params": graph.params,
            "started": now(), "status": "running", "seconds": 0.0}


def _resolved(setup: Setup) -> dict[str, Any]:
    spec, g = setup.spec, setup.graph
    return {"spec": spec.semantic(), "overrides": setup.overrides, "data": setup.data.to_json(),
            "model": {"input": list(spec.input.shape), "z": list(g.z) if g.z else None,
                      "output": list(g.output) if g.output else None,
                      "params": g.params}}


def _spec_file(spec: Spec) -> str:
    if spec.path and not is_pseudo_file(spec.path):  # not `<string>.ae` for aespec.loads
        return f"{pathlib.Path(spec.path).stem}.ae"
    return f"{spec.name}.ae"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aespec")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def now() -> str:
    """The local time, to the second, with its offset: run.json's `started` and `finished`."""
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def mark_run(run: RunDir, started: float, **fields: Any) -> None:
    """Best effort: on a full disk even run.json may not be writable."""
    try:
        run.update(seconds=time.time() - started, finished=now(), **fields)
    except (OSError, AespecError):
        pass


@contextlib.contextmanager
def recorded(run: RunDir, started: float) -> Iterator[None]:
    """run.json says how a run ended, however it ends: `failed` (with the error) for our
    errors and for a disk that cannot be written (then E606), `interrupted` for a second
    Ctrl-C; never `running` after the process is gone."""
    try:
        yield
    except KeyboardInterrupt:
        mark_run(run, started, status="interrupted")
        raise
    except AespecError as err:
        if err.diagnostics[0].code != "E601":  # a diverged run is marked so already
            mark_run(run, started, status="failed", error=err.diagnostics[0].message)
        raise
    except OSError as exc:
        refused = cannot_write(pathlib.Path(exc.filename or run.path), exc)
        mark_run(run, started, status="failed", error=refused.diagnostics[0].message)
        raise refused from None


@contextlib.contextmanager
def paged(run: RunDir, checked: tuple[Spec, Any]) -> Iterator[None]:
    """report.html when the run ends: finished, stopped, or failed once it had begun (best
    effort then: the run's own error is what counts); not after a second Ctrl-C."""
    if not run.writes:  # a distributed run's other ranks
        yield
        return
    try:
        yield
    except KeyboardInterrupt:
        raise
    except BaseException:
        if not run.refused and (run.path / "run.json").is_file():
            with contextlib.suppress(Exception):
                write_run_page(run.path, checked=checked)
        raise
    write_run_page(run.path, checked=checked)
