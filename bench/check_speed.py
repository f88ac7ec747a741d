"""Whole-process time of `aespec check` against `python -c "import torch"`, in turn in one
run, with the import breakdown of a check and the rate of a many-file check.

    python bench/check_speed.py [--runs 7] [--vs REF]

Writes bench/check_speed.md and prints it. The goal: a check at least 4x faster than
importing torch (the ratio, not the seconds, is what holds on a shared machine), every
check under 0.5 s, and `aespec check a.ae b.ae ...` at 150 specs a second or more. Runs are
paired (a check, then torch, then the next check...) so that a change in the machine's load
moves both; each figure is a median with its min and max. The package's bytecode is written
first (`compileall`), as an installed package has it. "cold" runs with an empty parser cache.
`--vs REF` adds a section: the check of each spec paired with the same check by the tree at
the git revision REF (a temporary worktree), so "no slower than before" is one run's figure.
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AESPEC = [sys.executable, "-m", "aespec"]
GOAL = 0.5
RATIO_GOAL = 4.0


def timed(cmd: list[str], env: dict | None = None, cwd: Path = ROOT) -> tuple[float, float]:
    """(wall, cpu) seconds of one run; cpu is user + system of the child, from getrusage.
    `python -m aespec` imports the package of `cwd`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                   cwd=cwd, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def wall(cmd: list[str], env: dict | None = None) -> float:
    return timed(cmd, env)[0]


def median_wall(cmd: list[str], runs: int, env: dict | None = None) -> float:
    return statistics.median(wall(cmd, env) for _ in range(runs))


def spread(values: list[float], fmt: str = ".3f") -> str:
    return (f"{statistics.median(values):{fmt}} ({min(values):{fmt}} to "
            f"{max(values):{fmt}})")


def paired(a: list[str], b: list[str], runs: int) -> dict[str, list[float]]:
    """a and b in turn, `runs` times each: their wall and cpu times and the ratios b/a."""
    out: dict[str, list[float]] = {k: [] for k in ("a_wall", "b_wall", "a_cpu", "b_cpu",
                                                   "wall_ratio", "cpu_ratio")}
    for _ in range(runs):
        (aw, ac), (bw, bc) = timed(a), timed(b)
        for key, value in (("a_wall", aw), ("b_wall", bw), ("a_cpu", ac), ("b_cpu", bc),
                           ("wall_ratio", bw / aw), ("cpu_ratio", bc / max(ac, 1e-9))):
            out[key].append(value)
    return out


def _pair(cmd: list[str], tree: Path, ref_first: bool) -> tuple[float, float]:
    """(cpu now, cpu at REF) of one pair; which goes first alternates from pair to pair, so
    that neither gains from the caches the other warmed."""
    if ref_first:
        old = timed(cmd, cwd=tree)[1]
        return timed(cmd)[1], old
    now = timed(cmd)[1]
    return now, timed(cmd, cwd=tree)[1]


def against(ref: str, specs: list[Path], runs: int) -> list[str]:
    """The page's section on `--vs REF`: each spec's check by this tree and by REF's in
    turn, `runs` pairs each, and the many-files rate of both."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "ref"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), ref], cwd=ROOT,
                       check=True, capture_output=True)
        try:
            compileall.compile_dir(str(tree / "aespec"), quiet=1)
            rows, ratios = [], []
            for spec in specs:
                cmd = [*AESPEC, "check", str(spec)]
                timed(cmd, cwd=tree)  # its parser cache, as this tree's was filled
                pairs = [_pair(cmd, tree, i % 2 == 1) for i in range(runs)]
                spec_ratios = [now / max(old, 1e-9) for now, old in pairs]
                ratios += spec_ratios
                rows.append(f"| `{spec.name}` | {spread([p[0] for p in pairs])} | "
                            f"{spread([p[1] for p in pairs])} | {spread(spec_ratios, '.2f')} |")
            rate_now, rate_ref = many_files_rate(specs, 3), many_files_rate(specs, 3, tree)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT,
                           check=False, capture_output=True)
    return [
        f"## Against the tree at `{ref}`, {runs} pairs in turn per spec",
        "",
        "cpu seconds (user + sys) of `aespec check SPEC`, median (min to max); the ratio is "
        "this tree's over REF's, pair by pair (below 1: faster now); which of a pair runs "
        "first alternates.",
        "",
        "| spec | now | REF | now / REF |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        f"Over every pair: now / REF **{spread(ratios, '.2f')}**. Many files in one process: "
        f"{spread(rate_now, '.0f')} specs a second now, {spread(rate_ref, '.0f')} at REF.",
        "",
    ]


def many_files_rate(specs: list[Path], runs: int, cwd: Path = ROOT) -> list[float]:
    """Specs a second of one `aespec check --json` of every spec, given 8 times over
    (in process, so start-up is left out: the whole process less an empty check's)."""
    files = [str(p) for p in specs] * 8
    rates = []
    for _ in range(runs):
        t_many = timed([*AESPEC, "check", "--json", *files], cwd=cwd)[0]
        t_one = timed([*AESPEC, "check", "--json", files[0]], cwd=cwd)[0]
        rates.append((len(files) - 1) / max(t_many - t_one, 1e-9))
    return rates


def cold_env(folder: str) -> dict:
    return {**os.environ, "AESPEC_CACHE_DIR": folder}


PACKAGES = ("networkx", "pydantic", "lark", "interegular", "typer", "rich", "numpy", "torch")


def import_breakdown(spec: Path) -> tuple[list[tuple[str, float]], float]:
    """Cumulative import time (s), by package, of one `aespec check` (`-X importtime`,
    which slows imports: compare the figures with each other), and the total of all
    imports. A package's figure sums its imports that another module imported (not those
    that it imported itself); aespec is given by stage."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "aespec", "check",
                           str(spec)], capture_output=True, text=True, cwd=ROOT)
    rows = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)$", line)
        if m:
            rows.append((len(m.group(2)), m.group(3), int(m.group(1)) / 1e6))
    found: dict[str, float] = {}
    total, stack = 0.0, []  # stack: the packages of the imports that hold this one
    for depth, name, seconds in reversed(rows):  # importtime prints a parent after its children
        while stack and stack[-1][0] >= depth:
            stack.pop()
        key = ".".join(name.split(".")[:2]) if name.startswith("aespec.") else name.split(".")[0]
        if depth == 1:
            total += seconds
        if (key in PACKAGES or key.startswith("aespec.")) and seconds >= 1e-3:
            if not stack or stack[-1][1] != key:
                found[key] = found.get(key, 0.0) + seconds
        stack.append((depth, key))
    return sorted(found.items(), key=lambda r: -r[1]), total  # (an import refused: < 1 ms)


def in_process_phases(spec: Path) -> dict[str, float]:
    code = (
        "import time; t0 = time.perf_counter()\n"
        "import aespec.cli.check, aespec.graph.frontend as c, aespec.parse.syntax as s\n"
        "t1 = time.perf_counter(); s._parser(); t2 = time.perf_counter()\n"
        f"c.check_file({str(spec)!r}); t3 = time.perf_counter()\n"
        "print(t1 - t0, t2 - t1, t3 - t2)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.split()
    return dict(zip(("imports", "parser tables (cached)", "check"), map(float, out),
                    strict=True))


def measure(runs: int, ref: str | None = None) -> str:
    compileall.compile_dir(str(ROOT / "aespec"), quiet=1)
    specs = sorted((ROOT / "specs").glob("*.ae"))
    wall([*AESPEC, "check", str(specs[0])])  # fill the parser cache and the OS's caches
    torch_cmd = [sys.executable, "-c", "import torch"]
    pair = paired([*AESPEC, "check", str(specs[0])], torch_cmd, runs)
    rows, worst = [], 0.0
    for spec in specs:
        text = median_wall([*AESPEC, "check", str(spec)], 3)
        js = median_wall([*AESPEC, "check", "--json", str(spec)], 3)
        with tempfile.TemporaryDirectory() as empty:
            cold = wall([*AESPEC, "check", "--json", str(spec)], cold_env(empty))
        worst = max(worst, text, js)
        rows.append(f"| `{spec.name}` | {text:.3f} | {js:.3f} | {cold:.3f} |")
    rates = many_files_rate(specs, 3)
    phases = in_process_phases(specs[0])
    packages, total = import_breakdown(specs[0])
    load = os.getloadavg()[1]  # other work on the machine slows every column alike
    ratio = statistics.median(pair["cpu_ratio"])
    verdict = "meets" if ratio >= RATIO_GOAL else "misses"
    lines = [
        "# `aespec check` speed",
        "",
        f"Measured by `bench/check_speed.py` on {platform.machine()} with {os.cpu_count()} "
        f"CPUs, Python {platform.python_version()}, {platform.system()}, load average "
        f"{load:.1f} during the runs (the machine is shared: read the ratios).",
        "",
        f"## Against `python -c \"import torch\"`, {runs} pairs in turn "
        f"(`aespec check {specs[0].name}`)",
        "",
        "median (min to max) | `aespec check` | `import torch` | torch / check",
        "|---|---:|---:|---:|",
        f"| wall s | {spread(pair['a_wall'])} | {spread(pair['b_wall'])} | "
        f"{spread(pair['wall_ratio'], '.2f')} |",
        f"| cpu s (user + sys) | {spread(pair['a_cpu'])} | {spread(pair['b_cpu'])} | "
        f"{spread(pair['cpu_ratio'], '.2f')} |",
        "",
        f"A check is **{ratio:.1f}x** faster than importing torch (median of the paired cpu "
        f"ratios), which {verdict} the {RATIO_GOAL:.0f}x goal.",
        "",
        f"Checking many files in one process (`aespec check --json` of the {len(specs)} "
        f"specs 8 times over, start-up left out): **{spread(rates, '.0f')} specs a second**.",
        "",
        "## Every spec",
        "",
        "Whole-process wall time in seconds, median of 3 runs per spec. *cold*: one run with "
        "an empty parser cache (`AESPEC_CACHE_DIR` set to a new folder).",
        "",
        "| spec | `check` | `check --json` | cold `--json` |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        f"Slowest warm check: **{worst:.3f} s** (goal {GOAL} s).",
        "",
        "## Where a check's time goes",
        "",
        f"In process (`{specs[0].name}`): "
        + ", ".join(f"{k} {v:.3f} s" for k, v in phases.items())
        + "; the rest is starting Python.",
        "",
        f"`python -X importtime -m aespec check {specs[0].name}`, cumulative seconds "
        f"(importtime's own overhead inflates them; all top-level imports: {total:.3f} s). "
        "Third-party packages and aespec's stages, largest first (a stage's figure holds the "
        "packages it was first to import); "
        + ", ".join(f"`{p}`" for p in PACKAGES if p not in dict(packages))
        + " are not imported at all (`tests/test_speed_imports.py` keeps it so):",
        "",
        "| module | cumulative s |",
        "|---|---:|",
        *(f"| `{name}` | {t:.3f} |" for name, t in packages),
        "",
    ]
    if ref is not None:
        lines += against(ref, specs, runs)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--vs", metavar="REF", help="also pair each check with the same "
                        "check by the tree at this git revision")
    args = parser.parse_args()
    report = measure(args.runs, args.vs)
    (ROOT / "bench" / "check_speed.md").write_text(report, encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
