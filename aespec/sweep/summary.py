"""A sweep's comparison: one row per point (sweep.csv, sweep.md) and the chosen metric
against each swept value (sweep.png)."""

from __future__ import annotations

import csv
import io
import math
import pathlib
from typing import Any

from aespec.errors import AespecError
from aespec.model import Spec
from aespec.sweep.grid import Axis, Point

PARTS = ("test", "val", "train")  # test: best weights; val: best epoch; train: last epoch
TAIL = ("epochs", "best_epoch", "params", "seconds")
DONE = ("finished", "early_stopped")  # the statuses whose points report test results


def default_metric(spec: Spec) -> str:
    """What the points are compared by when no --metric is given: an autoencoder's test
    loss; a GAN's (it has no test loss) samples' Frechet distance at its best epoch where
    its report measures it, else its generator's loss at the last epoch."""
    if not spec.is_adversarial:
        return "test.loss"
    return "val.frechet_distance" if measures_samples(spec) else "train.generator"


def measures_samples(spec: Spec) -> bool:
    """A GAN whose every epoch measures its samples (the report's sample_quality)."""
    return spec.is_adversarial and "sample_quality" in spec.report.items


def metric_note(spec: Spec, metric: str) -> str | None:
    """What a GAN's default metric is, for the person who did not choose it; None for an
    autoencoder's."""
    if not spec.is_adversarial:
        return None
    if metric == "val.frechet_distance":
        return ("metric: val.frechet_distance, the samples' Frechet distance at each point's "
                "best epoch (lower is better; a GAN has no test loss)")
    return ("metric: train.generator, the generator's loss at the last epoch (a GAN has no "
            "test loss); its losses do not measure the samples: add `sample_quality` to the "
            "spec's report block to compare the points by the samples' Frechet distance")


def check_gan_metric(spec: Spec, metric: str) -> None:
    """E614 before anything runs for a GAN metric that no point can report: test.* (a GAN
    has no test loss) and val.* but the samples' Frechet distance where it is measured."""
    part, _, term = metric.partition(".")
    if not spec.is_adversarial or part not in ("test", "val"):
        return
    if part == "val" and term == "frechet_distance" and measures_samples(spec):
        return
    fd = "val.frechet_distance, " if measures_samples(spec) else ""
    why = ("a GAN has no test loss" if part == "test" else
           "its report has no sample_quality, so nothing measures its samples"
           if term == "frechet_distance" else
           "a GAN's one validation value is the samples' Frechet distance, "
           "val.frechet_distance (with sample_quality in its report)")
    raise AespecError.of("E614", f"'{metric}' is not a metric of this GAN: {why}",
                         hint=f"write {fd}train.generator, train.loss (the discriminator's), "
                         "train.d_real or train.d_fake", file="--metric")


def key_columns(spec: Spec) -> tuple[str, ...]:
    """The results sweep.md shows beside the metric: an autoencoder's test loss; a GAN's
    samples' Frechet distance (where measured) and both networks' losses."""
    if not spec.is_adversarial:
        return ("test.loss",)
    losses = ("train.generator", "train.loss")
    return ("val.frechet_distance", *losses) if measures_samples(spec) else losses


def key_note(spec: Spec) -> str:
    """The sentence under a GAN's sweep.md that says what its columns are; "" for an
    autoencoder's (its columns are its loss terms)."""
    if not spec.is_adversarial:
        return ""
    fd = (" val.frechet_distance is the samples' Frechet distance at the best epoch (lower "
          "is better)." if measures_samples(spec) else "")
    return ("train.loss is the discriminator's loss and train.generator the generator's, at "
            f"the last epoch.{fd} A GAN has no test loss.")


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


def to_markdown(table: list[dict[str, Any]], axes: list[Axis], metric: str,
                columns: tuple[str, ...] = ("test.loss",)) -> str:
    """A short table: the swept values, status, the metric, the key `columns` (an
    autoencoder's test loss, a GAN's key_columns), epochs, seconds."""
    shown = list(dict.fromkeys([*(a.key for a in axes), "status", metric, *columns,
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


REPLICATES = ("train.seed",)  # keys whose values are repeats of one point, not an axis


def split_axes(axes: list[Axis]) -> tuple[list[Axis], list[Axis]]:
    """(the axes to plot against, the replicate keys: `train.seed`)."""
    return ([a for a in axes if a.key not in REPLICATES],
            [a for a in axes if a.key in REPLICATES])


def replicate_groups(table: list[dict[str, Any]], axes: list[Axis], metric: str
                     ) -> list[tuple[dict[str, str], list[float]]]:
    """One group per combination of the non-replicate values, in the grid's order: its
    values and the metric of each of its replicates (seeds) that reports it."""
    shown, _ = split_axes(axes)
    values = metric_values(table, metric)
    groups: dict[tuple[str, ...], list[float]] = {}
    for r, y in zip(table, values, strict=True):
        key = tuple(str(r.get(a.key)) for a in shown)
        groups.setdefault(key, [])
        if y is not None and math.isfinite(y):
            groups[key].append(y)
    return [(dict(zip((a.key for a in shown), key, strict=True)), ys)
            for key, ys in groups.items()]


def spread(ys: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value; NaN for none)."""
    if not ys:
        return math.nan, math.nan
    mean = sum(ys) / len(ys)
    sd = math.sqrt(sum((y - mean) ** 2 for y in ys) / (len(ys) - 1)) if len(ys) > 1 else 0.0
    return mean, sd


def replicates_markdown(table: list[dict[str, Any]], axes: list[Axis], metric: str) -> str:
    """The metric over the seeds of each point of the other keys: mean, standard
    deviation, min, max and how many seeds; "" when no replicate key is swept."""
    shown, reps = split_axes(axes)
    if not reps:
        return ""
    head = [*(a.key for a in shown), f"{metric} mean", "sd", "min", "max", "seeds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for values, ys in replicate_groups(table, axes, metric):
        mean, sd = spread(ys)
        cells = [*values.values(), _cell(mean) if ys else "", _cell(sd) if ys else "",
                 _cell(min(ys)) if ys else "", _cell(max(ys)) if ys else "", str(len(ys))]
        lines.append("| " + " | ".join(cells) + " |")
    said = ", ".join(a.key for a in reps)
    return (f"Over the seeds ({said}: replicates of one setting, not an axis); sd is the "
            "sample standard deviation:\n\n" + "\n".join(lines) + "\n\nEach run:\n\n")


def plot(table: list[dict[str, Any]], axes: list[Axis], metric: str,
         path: pathlib.Path, title: str) -> None:
    """One panel per swept key but the seed: the metric of each point (dots) and its mean
    over the other keys' values and the seeds (line), with a band of +-1 standard deviation
    over the seeds where `train.seed` is swept (seeds are replicates, not an axis); a
    log axis for positive numbers spanning 10x or more. A sweep of seeds alone: one panel
    of the seeds' values, their mean and spread."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    values = metric_values(table, metric)
    shown, reps = split_axes(axes)
    panels = shown or [Axis("(all seeds)", ("",))]
    fig = Figure(figsize=(4.2 * len(panels), 3.4), layout="constrained")
    for i, axis in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        _panel(ax, table, values, axis, bool(reps), metric)
    seeds = f" (mean ± sd over {', '.join(a.key for a in reps)})" if reps else ""
    fig.suptitle(title + seeds)
    fig.savefig(path, dpi=110)


def _panel(ax: Any, table: list[dict[str, Any]], values: list[float | None], axis: Axis,
           replicates: bool, metric: str) -> None:
    nums = _numbers(axis.values) if axis.values != ("",) else None
    xs = nums if nums is not None else list(range(len(axis.values)))
    means, sds = [], []
    for x, v in zip(xs, axis.values, strict=True):
        ys = [y for r, y in zip(table, values, strict=True) if y is not None and
              (v == "" or r[axis.key] == v)]
        ax.scatter([x] * len(ys), ys, s=14, alpha=0.6, color="tab:blue")
        mean, sd = spread(ys)
        means.append(mean)
        sds.append(sd)
    ax.plot(xs, means, marker="o", color="tab:blue")
    if replicates:
        lo = [m - s for m, s in zip(means, sds, strict=True)]
        hi = [m + s for m, s in zip(means, sds, strict=True)]
        if len(xs) > 1:
            ax.fill_between(xs, lo, hi, color="tab:blue", alpha=0.15, label="± 1 sd")
        else:
            ax.errorbar(xs, means, yerr=sds, color="tab:blue", capsize=6)
    if nums is not None and min(nums) > 0 and max(nums) >= 10 * min(nums):
        ax.set_xscale("log", base=2 if all(math.log2(n).is_integer() for n in nums) else 10)
        ax.minorticks_off()
    ax.set_xticks(xs, axis.values)
    ax.set_xlabel(axis.key)
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
