"""A sweep's comparison: one row per point (sweep.csv, sweep.md) and the chosen metric
against each swept value (sweep.png)."""

from __future__ import annotations

import csv
import io
import math
import pathlib
from typing import Any

from aespec.errors import AespecError
from aespec.sweep.grid import Axis, Point

PARTS = ("test", "val", "train")  # test: best weights; val: best epoch; train: last epoch
TAIL = ("epochs", "best_epoch", "params", "seconds")
DONE = ("finished", "early_stopped")  # the statuses whose points report test results


def rows(points: list[Point], outcomes: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """One flat row per point: its values, status, `test.loss`, `val.mse`, ..., seconds."""
    table = []
    for p in points:
        got = outcomes.get(p.index, {"status": "not run"})
        row: dict[str, Any] = {"point": p.name, **dict(p.values), "status": got["status"]}
        for part in PARTS:
            row.update({f"{part}.{k}": v for k, v in (got.get(part) or {}).items()})
        row.update({k: got.get(k) for k in TAIL})
        row["run_dir"] = got.get("run_dir")
        row["batched"] = bool(got.get("batched"))  # trained with others, one vmapped model
        table.append(row)
    return table


def metric_values(table: list[dict[str, Any]], metric: str) -> list[float | None]:
    """The metric of each row; E614 when no finished point reports it."""
    values = [r.get(metric) for r in table]
    if all(v is None for v in values) and any(r["status"] in DONE for r in table):
        known = sorted({k for r in table for k in r if k.split(".")[0] in PARTS} | {"seconds"})
        raise AespecError.of("E614", f"no point reports the metric '{metric}'",
                             hint=f"metrics: {', '.join(known)}", file="--metric")
    return [None if v is None else float(v) for v in values]


def _columns(table: list[dict[str, Any]], axes: list[Axis]) -> list[str]:
    keys = dict.fromkeys(["point", *(a.key for a in axes), "status"])
    for part in PARTS:
        keys.update(dict.fromkeys(k for r in table for k in r if k.startswith(part + ".")))
    keys.update(dict.fromkeys([*TAIL, "run_dir"]))
    return list(keys)


def to_csv(table: list[dict[str, Any]], axes: list[Axis]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    cols = _columns(table, axes)
    writer.writerow(cols)
    for r in table:
        writer.writerow(["" if r.get(c) is None else r.get(c) for c in cols])
    return out.getvalue()


def to_markdown(table: list[dict[str, Any]], axes: list[Axis], metric: str) -> str:
    """A short table: the swept values, status, the metric, test loss, epochs, seconds."""
    shown = list(dict.fromkeys([*(a.key for a in axes), "status", metric, "test.loss",
                                "epochs", "seconds"]))
    lines = ["| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    for r in table:
        lines.append("| " + " | ".join(_cell(r.get(c)) for c in shown) + " |")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}" if value >= 100 else f"{value:.4g}"
    return "" if value is None else str(value)


def _numbers(values: tuple[str, ...]) -> list[float] | None:
    try:
        return [float(v) for v in values]
    except ValueError:
        return None


def plot(table: list[dict[str, Any]], axes: list[Axis], metric: str,
         path: pathlib.Path, title: str) -> None:
    """One panel per swept key: the metric of each point (dots) and its mean over the
    other keys' values (line), on a log axis for positive numbers spanning 10x or more."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    values = metric_values(table, metric)
    fig = Figure(figsize=(4.2 * len(axes), 3.4), layout="constrained")
    for i, axis in enumerate(axes):
        ax = fig.add_subplot(1, len(axes), i + 1)
        nums = _numbers(axis.values)
        xs = nums if nums is not None else list(range(len(axis.values)))
        means = []
        for x, v in zip(xs, axis.values, strict=True):
            ys = [y for r, y in zip(table, values, strict=True) if r[axis.key] == v
                  and y is not None]
            ax.scatter([x] * len(ys), ys, s=14, alpha=0.6, color="tab:blue")
            means.append(sum(ys) / len(ys) if ys else math.nan)
        ax.plot(xs, means, marker="o", color="tab:blue")
        if nums is not None and min(nums) > 0 and max(nums) >= 10 * min(nums):
            ax.set_xscale("log", base=2 if all(math.log2(n).is_integer() for n in nums) else 10)
            ax.minorticks_off()
        ax.set_xticks(xs, axis.values)
        ax.set_xlabel(axis.key)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
