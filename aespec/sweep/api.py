"""`aespec.sweep.sweep`: a grid of `--set` values -> one run directory per point under one
sweep directory, then the comparison (sweep.json, sweep.csv, sweep.md, sweep.png)."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aespec.errors import AespecError
from aespec.graph import CheckResult, check_file, memory
from aespec.model import Spec
from aespec.sweep import batchable, execute, summary
from aespec.sweep.grid import Axis, Point, grid, parse_axes

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class SweepResult:
    """What a sweep gave: its folder, grid, one row per point, and its timings."""

    sweep_dir: pathlib.Path
    axes: list[Axis]
    points: list[Point]
    rows: list[dict[str, Any]]
    metric: str
    seconds: float  # the sweep's wall time
    jobs: int
    threads: int
    files: dict[str, pathlib.Path] = field(default_factory=dict)
    groups: tuple[tuple[int, ...], ...] = ()  # the points (indices) that trained batched
    alone: dict[int, str] = field(default_factory=dict)  # why a point ran apart (not off)
    interrupted: bool = False  # a Ctrl-C stopped it: the points it did not reach are `not run`
    capped: str | None = None  # why fewer points ran at once than `jobs` asked

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] == "failed"]


def sweep(spec: str | pathlib.Path, sets: list[str], *, jobs: int | None = None,
          executor: str = "local", address: str | None = None, metric: str | None = None,
          out: str | pathlib.Path | None = None, data: str | None = None,
          epochs: int | None = None, report: bool = True, threads: int | None = None,
          batched: str = "auto",
          progress: Callable[[Point, dict[str, Any], int, str], None] | None = None,
          note: Callable[[str], None] | None = None) -> SweepResult:
    """Run every point of the grid that `sets` spans (`["z=2,8,32", "train.seed=0,1"]`).

    Each point is `aespec.train(spec, overrides=...)` into `<out>/<point>/`. `jobs` points
    run at once (default: one per core; at most one per point, per core and per share of
    the free memory, `note` told why when that caps it), each with `threads` torch
    threads (default cores // jobs); `executor="ray"` submits them to Ray (`address`: a
    running cluster, refused (E615) when it takes no connection within 10 s). `batched`:
    points that differ only in values that keep every shape (seeds, optimizer numbers,
    loss weights, ...) train together as one vmapped model: "auto" where that pays
    (batchable.pays), "on" wherever they can (E617 when no two can), "off" never
    (docs/sweeps.md). Problems in the grid or in any point's spec raise
    AespecError before anything runs; a point that fails while training is recorded and
    the others go on. A Ctrl-C stops the point under way (resumable, as a run's) and the
    sweep with it: the result says `interrupted`, the points not reached are `not run`.

    `metric` (what sweep.png plots; default summary.default_metric: `test.loss`, a GAN's
    `val.frechet_distance` or `train.generator`) is passed to `progress` with each point's
    outcome. A GAN's points train one by one as any run's (never batched).
    """
    spec_path = pathlib.Path(spec)
    axes, fixed = parse_axes(list(sets))
    if not axes:
        raise AespecError.of("E613", "nothing to sweep: no --set lists two values or more",
                             hint="write --set z=2,8,32", file="--set")
    if executor not in EXECUTORS:
        raise AespecError.of("E613", f"unknown executor {executor!r}",
                             hint=f"executors: {', '.join(EXECUTORS)}", file="--executor")
    if metric is not None:
        check_metric(metric)
    if batched not in batchable.MODES:
        raise AespecError.of("E613", f"unknown --batched mode {batched!r}",
                             hint=f"modes: {', '.join(batchable.MODES)}", file="--batched")
    if epochs is not None:
        fixed.append(f"train.epochs={epochs}")
    points = grid(axes)
    first, checked = _check_points(spec_path, fixed, points)
    chosen = _metric(first, metric, note)
    the_plan = batchable.choose(checked, batched)
    if executor == "ray":
        execute.import_ray()  # E615 before any folder is made
        execute.probe_ray(address)
    root = _sweep_dir(out, first.name)
    jobs, capped = _jobs(jobs, len(points) - sum(len(g) - 1 for g in the_plan.groups),
                         checked, executor)
    if capped and note is not None:
        note(capped)
    threads = threads or execute.threads_for(jobs)
    tasks = [execute.Task(p.index, str(spec_path.resolve()), (*fixed, *p.overrides),
                          str((root / p.name).resolve()), data, threads, report)
             for p in points]  # absolute: a Ray worker's working folder is its own
    units = _units(tasks, the_plan)
    outcomes: dict[int, dict[str, Any]] = {}
    record = _Record(root, spec_path, axes, fixed, points, chosen, jobs, threads, executor,
                     batched, the_plan, capped)
    record.write(outcomes, 0.0)
    started = time.perf_counter()

    def done(outcome: dict[str, Any]) -> None:
        outcomes[outcome["index"]] = outcome
        record.write(outcomes, time.perf_counter() - started)
        if progress is not None:
            progress(points[outcome["index"]], outcome, len(outcomes), chosen)

    try:
        if executor == "ray":
            execute.run_ray(units, address, done)
        else:
            execute.run_local(units, jobs, done)
        interrupted = False
    except (execute.Interrupted, KeyboardInterrupt):
        interrupted = True
    except AespecError:  # the executor could not start (a Ray cluster gone): none ran
        record.write(outcomes, time.perf_counter() - started, interrupted=False)
        raise
    seconds = time.perf_counter() - started
    record.write(outcomes, seconds, interrupted)
    table = summary.rows(points, outcomes)
    files = _write_comparison(root, table, axes, chosen, first, spec_path.resolve().parent)
    return SweepResult(root, axes, points, table, chosen, seconds, jobs, threads, files,
                       the_plan.groups, the_plan.alone, interrupted, capped)


def _jobs(asked: int | None, units: int, checked: list[CheckResult],
          executor: str) -> tuple[int, str | None]:
    """Points at once, and why fewer than asked (local processes: cores and memory)."""
    if executor != "local":  # Ray places each point on a node with its CPUs free
        return max(1, min(asked or execute.cores(), units)), None
    steps = [memory.estimate(c.spec, c.ir).total for c in checked
             if c.spec is not None and c.ir is not None and "decoder" in c.ir.outputs]
    return execute.cap_jobs(asked, units, max(steps, default=0))


def _units(tasks: list[execute.Task], the_plan: batchable.Plan) -> list[execute.Unit]:
    """Each batched group once (where its first point stands), the other points alone."""
    units: list[execute.Unit] = []
    for task in tasks:
        group = the_plan.group_of(task.index)
        if group is None:
            units.append(task)
        elif group[0] == task.index:
            units.append(execute.Group(tuple(tasks[i] for i in group)))
    return units


def check_metric(metric: str) -> None:
    """`test.loss`, `val.mse`, `train.kl`, ... or `seconds`, `params`, `epochs`; E614."""
    part, _, term = metric.partition(".")
    if not ((part in summary.PARTS and term) or metric in summary.TAIL):
        raise AespecError.of("E614", f"'{metric}' is not a sweep metric",
                             hint="write test.TERM, val.TERM or train.TERM (test.loss, "
                             "val.mse), or seconds, params, epochs", file="--metric")


def _check_points(spec: pathlib.Path, fixed: list[str],
                  points: list[Point]) -> tuple[Spec, list[CheckResult]]:
    """Every point's spec checked (the front end only, no torch); the first point's spec
    and each point's check."""
    checked = []
    for p in points:
        result = check_file(spec, [*fixed, *p.overrides])
        result.raise_for_errors()
        assert result.spec is not None and result.ir is not None
        checked.append(result)
    assert checked and checked[0].spec is not None
    return checked[0].spec, checked


def _metric(spec: Spec, metric: str | None, note: Callable[[str], None] | None) -> str:
    """The metric asked for (E614 for a GAN's that no point can report), else the spec's
    default, said through `note` for a GAN (whose default is not the usual test loss)."""
    if metric is not None:
        summary.check_gan_metric(spec, metric)
        return metric
    chosen = summary.default_metric(spec)
    said = summary.metric_note(spec, chosen)
    if said and note is not None:
        note(said)
    return chosen


def _sweep_dir(out: str | pathlib.Path | None, name: str) -> pathlib.Path:
    from aespec.train.rundir import check_fresh, make_dir, new_run_path

    if out is None:
        return new_run_path(name, pathlib.Path("sweeps"))
    path = pathlib.Path(out)
    check_fresh(path)
    make_dir(path, parents=True)
    return path


@dataclass(frozen=True)
class _Record:
    """sweep.json: the plan, then each point's outcome as it arrives."""

    root: pathlib.Path
    spec: pathlib.Path
    axes: list[Axis]
    fixed: list[str]
    points: list[Point]
    metric: str
    jobs: int
    threads: int
    executor: str
    batched: str = "off"
    plan: batchable.Plan = batchable.Plan((), {})
    capped: str | None = None
    started: str = field(default_factory=lambda: _now())

    def write(self, outcomes: dict[int, dict[str, Any]], seconds: float,
              interrupted: bool | None = None) -> None:
        """`interrupted` None while the sweep runs (points not reached are `pending`);
        once it ended, they are `not run`."""
        from aespec.train.rundir import atomic_write

        missing = "pending" if interrupted is None else "not run"
        info = {"spec": str(self.spec.resolve()), "axes": {a.key: list(a.values)
                                                          for a in self.axes},
                "fixed": self.fixed, "metric": self.metric, "executor": self.executor,
                "jobs": self.jobs, "jobs_capped": self.capped,
                "threads_per_point": self.threads, "interrupted": bool(interrupted),
                "batched": self.batched, "groups": [[self.points[i].name for i in g]
                                                    for g in self.plan.groups],
                "started": self.started, "seconds": seconds,
                "points": [{"name": p.name, "values": dict(p.values),
                            "overrides": p.overrides, "batched": False,
                            **({"alone": self.plan.alone[p.index]} if self.batched != "off"
                               and p.index in self.plan.alone else {}),
                            **outcomes.get(p.index, {"status": missing})}
                           for p in self.points]}
        text = json.dumps(info, indent=2) + "\n"
        atomic_write(self.root / "sweep.json", lambda fh: fh.write(text.encode()))


def _write_comparison(root: pathlib.Path, table: list[dict[str, Any]], axes: list[Axis],
                      metric: str, spec: Spec, spec_dir: pathlib.Path
                      ) -> dict[str, pathlib.Path]:
    files = {"csv": root / "sweep.csv", "md": root / "sweep.md", "png": root / "sweep.png"}
    files["csv"].write_text(summary.to_csv(table, axes), encoding="utf-8")
    keys = f"\n{said}\n" if (said := summary.key_note(spec)) else ""
    files["md"].write_text(f"# {spec.name}: sweep of {', '.join(a.key for a in axes)}\n\n"
                           + summary.replicates_markdown(table, axes, metric)
                           + summary.to_markdown(table, axes, metric, summary.key_columns(spec))
                           + keys, encoding="utf-8")
    if any(r["status"] in summary.DONE for r in table):
        summary.plot(table, axes, metric, files["png"], f"{spec.name}: {metric}")
    else:
        del files["png"]
    page = _compare_page(root, table, spec_dir, spec.is_adversarial)
    if page is not None:
        files["html"] = page
    return files


COMPARE_MAX = 32  # compare.html reconstructs with every run's model: a page for fewer
GAN_RECONSTRUCTIONS = ("None: a GAN's generator draws from noise and reconstructs no "
                       "example; each point's samples are on its own report.html.")


def _compare_page(root: pathlib.Path, table: list[dict[str, Any]], spec_dir: pathlib.Path,
                  gan: bool) -> pathlib.Path | None:
    """compare.html (aespec compare) of the finished points, where there are 2 to
    COMPARE_MAX; None when there are not, or when it cannot be made (the table stands).
    The points' data may lie beside the sweep's spec (`spec_dir`): this sweep ran them.
    A GAN's page has no reconstructions: its generator reads noise, not examples."""
    done = [pathlib.Path(r["run_dir"]) for r in table if r["status"] in summary.DONE]
    if not 2 <= len(done) <= COMPARE_MAX:
        return None
    from aespec.report.compare import ComparePage, compare_page, labels_of
    from aespec.train.loaded import compare_runs
    from aespec.train.pages import read_run_page
    from aespec.train.rundir import atomic_write

    try:
        if gan:
            pages = [read_run_page(p) for p in done]
            page = ComparePage(pages, None, GAN_RECONSTRUCTIONS, labels_of(pages))
        else:
            page = compare_runs(done, n=8, seed=0, device="cpu", inside=[spec_dir])
        html = compare_page(page)
        atomic_write(root / "compare.html", lambda fh: fh.write(html.encode("utf-8")))
    except (AespecError, OSError):
        return None
    return root / "compare.html"


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")
