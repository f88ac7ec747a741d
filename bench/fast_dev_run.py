"""Whole-process time of `aespec run SPEC --fast-dev-run` (the students' loop) against
`python -c "import torch"`, in turn in one run, with `aespec check SPEC` beside them.

    python bench/fast_dev_run.py [--runs 5] [--spec specs/undercomplete_fc.ae] [--vs REF]
                                 [--torch-quiet S]

Writes bench/FAST_DEV_RUN.md and prints it. The goals (issue 27): a fast-dev-run of a small
spec under 3 s on a quiet machine, and a check still at least 4x faster than importing torch.
The machine this runs on is often shared, so every round runs each command once, in turn
(a fast-dev-run, `import torch`, a check, and with `--vs REF` the same fast-dev-run by the
tree at the git revision REF), and the page gives each figure as a median (min to max) over
the rounds, the ratios to `import torch` round by round, and the load average. cpu seconds
(user + sys of the child) move less with the load than wall seconds do: on a quiet machine a
one-thread process's wall time is about its cpu time. The package's bytecode is written
first (`compileall`), as an installed package has it.
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_speed import spread, timed  # noqa: E402  (bench/ is not a package)

ROOT = Path(__file__).resolve().parents[1]
AESPEC = [sys.executable, "-m", "aespec"]
GOAL_S = 3.0
CHECK_RATIO_GOAL = 4.0
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # as the other benches; one step needs no more
# what a fast-dev-run of a small spec needs none of (tests/test_fast_dev_run.py keeps it so)
NOT_NEEDED = ("sklearn", "scipy", "matplotlib", "narwhals", "pandas", "joblib")


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    found = re.search(r"model name\s*:\s*(.+)", text)
    return found.group(1).strip() if found else platform.machine()


def rounds(commands: dict[str, tuple[list[str], Path]], runs: int) -> dict[str, list]:
    """Each command once a round, in a rotating order (none always first), `runs` rounds:
    {name: [(wall, cpu), ...]}, and the 1-minute load average at each round's start."""
    out: dict[str, list] = {name: [] for name in commands}
    out["load"] = []
    names = list(commands)
    for r in range(runs):
        out["load"].append(os.getloadavg()[0])
        for name in names[r % len(names):] + names[:r % len(names)]:
            cmd, cwd = commands[name]
            out[name].append(timed(cmd, ENV, cwd))
        print(f"round {r + 1}/{runs}: " + ", ".join(
            f"{n} {out[n][-1][0]:.2f} s" for n in names), file=sys.stderr, flush=True)
    return out


def import_shares(spec: Path) -> tuple[list[tuple[str, float]], float]:
    """Self import time by top-level package of one fast-dev-run (`-X importtime`, which
    slows imports: read the shares), largest first, and the total."""
    proc = subprocess.run([*AESPEC[:1], "-X", "importtime", *AESPEC[1:], "run", str(spec),
                           "--fast-dev-run"], capture_output=True, text=True,
                          cwd=ROOT, env=ENV)
    found: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)$", line)
        if m:
            key = m.group(2).split(".")[0]
            found[key] = found.get(key, 0.0) + int(m.group(1)) / 1e6
    total = sum(found.values())
    return sorted(found.items(), key=lambda kv: -kv[1]), total


def _row(name: str, pairs: list[tuple[float, float]], torch: list[tuple[float, float]]
         ) -> str:
    walls, cpus = [p[0] for p in pairs], [p[1] for p in pairs]
    ratio = [w / t[0] for w, t in zip(walls, torch, strict=True)]
    return (f"| {name} | {spread(walls, '.2f')} | {spread(cpus, '.2f')} | "
            f"{spread(ratio, '.2f')} |")


def measure(spec: Path, runs: int, ref: str | None, torch_quiet: float | None) -> str:
    compileall.compile_dir(str(ROOT / "aespec"), quiet=1)
    fast = [*AESPEC, "run", str(spec), "--fast-dev-run"]
    commands = {"fast-dev-run": (fast, ROOT),
                "import torch": ([sys.executable, "-c", "import torch"], ROOT),
                "check": ([*AESPEC, "check", str(spec)], ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        if ref is not None:
            tree = Path(tmp) / "ref"
            subprocess.run(["git", "worktree", "add", "--detach", str(tree), ref], cwd=ROOT,
                           check=True, capture_output=True)
            compileall.compile_dir(str(tree / "aespec"), quiet=1)
            commands[f"fast-dev-run at `{ref}`"] = (fast, tree)
            commands[f"check at `{ref}`"] = ([*AESPEC, "check", str(spec)], tree)
        try:
            for cmd, cwd in commands.values():
                timed(cmd, ENV, cwd)  # parser caches, bytecode, the OS's file cache
            found = rounds(commands, runs)
        finally:
            if ref is not None:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT,
                               check=False, capture_output=True)
    shares, total = import_shares(spec)
    return page(spec, runs, ref, found, shares, total, torch_quiet)


def cpu_ratio(torch: list[tuple[float, float]], other: list[tuple[float, float]]) -> float:
    """The median over the rounds of `import torch`'s cpu seconds over the other's."""
    return statistics.median(t[1] / max(o[1], 1e-9) for t, o in zip(torch, other, strict=True))


def page(spec: Path, runs: int, ref: str | None, found: dict[str, list],
         shares: list[tuple[str, float]], total: float, torch_quiet: float | None) -> str:
    torch = found["import torch"]
    fast_wall = statistics.median(p[0] for p in found["fast-dev-run"])
    fast_cpu = statistics.median(p[1] for p in found["fast-dev-run"])
    ratio = statistics.median(f[0] / t[0] for f, t in zip(found["fast-dev-run"], torch,
                                                            strict=True))
    check_ratio = cpu_ratio(torch, found["check"])
    rows = [_row(name, found[name], torch) for name in found if name != "load"]
    absent = [p for p in NOT_NEEDED if p not in dict(shares)]
    lines = [
        "# The students' loop: `aespec run --fast-dev-run`",
        "",
        f"Measured by `python bench/fast_dev_run.py --runs {runs}"
        + (f" --vs {ref}" if ref else "")
        + (f" --torch-quiet {torch_quiet:g}" if torch_quiet else "")
        + f"` on {cpu_model()} ({os.cpu_count()} CPUs), "
        f"Python {platform.python_version()}, OMP_NUM_THREADS=1. Load average (1 minute) at "
        f"the rounds' starts: {spread(found['load'], '.1f')}; the machine is shared, so read "
        "the ratios and the cpu seconds.",
        "",
        f"## {runs} rounds, each command once a round in a rotating order "
        f"(`{spec.relative_to(ROOT)}`)",
        "",
        "median (min to max) | wall s | cpu s (user + sys) | wall / `import torch`'s "
        "of the round |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        f"A fast-dev-run takes **{fast_wall:.2f} s** wall here (median), {fast_cpu:.2f} s of "
        f"cpu (the load inflates both), **{ratio:.2f}x** `import torch`'s time"
        + (f": with `import torch` at {torch_quiet:.2f} s on this machine when it is quiet "
           f"(`--torch-quiet`), about **{ratio * torch_quiet:.1f} s**" if torch_quiet else "")
        + f". The goal is under {GOAL_S:.0f} s on a quiet machine. A check is "
        f"**{check_ratio:.1f}x** faster than importing torch (median of the rounds' cpu "
        f"ratios; goal {CHECK_RATIO_GOAL:.0f}x)"
        + (f"; the check at `{ref}` {cpu_ratio(torch, found[f'check at `{ref}`']):.1f}x"
           if ref else "") + ".",
        "",
        "## Where a fast-dev-run's imports go",
        "",
        f"`python -X importtime -m aespec run {spec.relative_to(ROOT)} --fast-dev-run`, self "
        f"time by top-level package (importtime slows imports; all imports: {total:.2f} s), "
        f"the largest ten. Not imported at all: {', '.join(f'`{p}`' for p in absent)}.",
        "",
        "| package | s | share |",
        "|---|---:|---:|",
        *(f"| `{name}` | {s:.3f} | {s / total:.0%} |" for name, s in shares[:10]),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--spec", type=Path, default=ROOT / "specs" / "undercomplete_fc.ae")
    parser.add_argument("--vs", metavar="REF", help="also run the fast-dev-run of the tree "
                        "at this git revision in each round")
    parser.add_argument("--torch-quiet", type=float, metavar="S",
                        help="`import torch`'s seconds on this machine when quiet (e.g. from "
                        "bench/check_speed.md at a low load): the page turns the ratio into "
                        "a quiet machine's time")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "FAST_DEV_RUN.md")
    args = parser.parse_args()
    report = measure(args.spec.resolve(), args.runs, args.vs, args.torch_quiet)
    args.out.write_text(report, encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
