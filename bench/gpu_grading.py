"""The grading workload of bench/gpu.py: `aespec grade` of a class of hand-ins
(bench/grading.py's class and rubric: checked in this process, smoke-trained for 3 epochs
on the digits in worker processes, graded), one worker a core of the machine; and one good
hand-in's smoke training on the bench's device against the CPU. `aespec grade` trains on
the CPU (aespec/grade/smoke.py): the second figure says whether a GPU would pay there.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def grading(class_size: int, device: str, say: Callable[[str], None]) -> dict[str, Any]:
    from grading import RUBRIC, make_class

    from aespec.grade import grade_class, load_rubric

    jobs = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="gpu-bench-grading-") as tmp:
        root = Path(tmp)
        (root / "class").mkdir()
        (root / "rubric.toml").write_text(RUBRIC)
        make_class(root / "class", class_size)
        rubric = load_rubric(root / "rubric.toml")
        timings: dict[str, float] = {}
        start = time.perf_counter()
        grades = grade_class(rubric, [root / "class"], jobs, timings)
        total = time.perf_counter() - start
    per = sorted(g.figures["train_s"] + g.figures.get("figures_s", 0.0) for g in grades
                 if g.figures.get("train_s") is not None)
    out = {"hand_ins": class_size, "jobs": jobs, "total_s": total,
           "trained": int(timings.get("trained", len(per))), "check_s": timings["check_s"],
           "train_s": timings["train_s"], "per_training_s": per[len(per) // 2] if per else None,
           "smoke": {d: smoke_seconds(d) for d in dict.fromkeys([device, "cpu"])}}
    say(f"grading: {class_size} hand-ins in {total:.1f} s with {jobs} workers; one smoke "
        "training " + ", ".join(f"{s:.2f} s on {d}" for d, s in out["smoke"].items()))
    return out


def smoke_seconds(device: str) -> float:
    """Whole-call seconds of one good hand-in's smoke training (3 epochs on the digits,
    seeded, no report) on `device`, after one untimed call (the device's warm-up)."""
    from grading import spec

    import aespec

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hand_in.ae"
        path.write_text(spec(48, 12))
        seconds = []
        for i in range(2):
            start = time.perf_counter()
            aespec.train(str(path), data="digits", epochs=3, device=device, quiet=True,
                         out=Path(tmp) / f"run{i}", report=False, overrides=["train.seed=0"])
            seconds.append(time.perf_counter() - start)
    return seconds[-1]


def grading_lines(g: dict[str, Any]) -> list[str]:
    smoke = g["smoke"]
    lines = [
        "## Grading: `aespec grade` of a class", "",
        f"{g['hand_ins']} hand-ins (bench/grading.py's mix and rubric: 3 epochs on the "
        f"digits), {g['jobs']} workers (one a core): **{g['total_s']:.1f} s** in all, "
        f"{g['hand_ins'] / g['total_s']:.1f} hand-ins a second; checking them "
        f"{g['check_s']:.1f} s, smoke-training {g['trained']} in the workers "
        f"{g['train_s']:.1f} s (each worker's torch import included)"
        + (f", one training {g['per_training_s']:.2f} s (median)."
           if g["per_training_s"] is not None else "."), ""]
    if len(smoke) > 1:
        device = next(d for d in smoke if d != "cpu")
        verdict = ("faster: a grading box could train on it" if smoke[device] < smoke["cpu"]
                   else "no faster: these models are too small, keep grading on the CPU's "
                   "workers")
        lines += [f"One hand-in's smoke training (whole call): {smoke[device]:.2f} s on "
                  f"{device}, {smoke['cpu']:.2f} s on the CPU (one process): the device is "
                  f"{verdict}.", ""]
    return lines
