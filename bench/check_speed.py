"""Whole-process wall time of `aespec check` and `aespec check --json` on every spec in
specs/, against `python -c "import torch"` on the same machine.

    python bench/check_speed.py [--runs 5]

Writes bench/check_speed.md and prints it. The goal: every check under 0.5 s, several
times faster than anything that imports torch. "cold" runs with an empty parser cache
(the first check after installing or after a grammar change); the other columns with the
cache filled, as every later check runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AESPEC = Path(sys.executable).with_name("aespec")
GOAL = 0.5


def wall(cmd: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                   cwd=ROOT, check=False)
    return time.perf_counter() - start


def median_wall(cmd: list[str], runs: int, env: dict | None = None) -> float:
    return statistics.median(wall(cmd, env) for _ in range(runs))


def cold_env(folder: str) -> dict:
    return {**os.environ, "AESPEC_CACHE_DIR": folder}


PACKAGES = ("networkx", "pydantic", "lark", "interegular", "typer", "rich")


def import_breakdown() -> list[tuple[str, float]]:
    """Cumulative import time (s) of the third-party packages a check loads."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c",
                           "import aespec.cli, aespec.graph.checking"], capture_output=True,
                          text=True, cwd=ROOT)
    found: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s*(\S+)$", line)
        if m and m.group(2) in PACKAGES:
            found.setdefault(m.group(2), int(m.group(1)) / 1e6)
    return sorted(found.items(), key=lambda r: -r[1])


def in_process_phases(spec: Path) -> dict[str, float]:
    code = (
        "import time; t0 = time.perf_counter()\n"
        "import aespec.cli, aespec.graph.checking as c, aespec.parse.syntax as s\n"
        "t1 = time.perf_counter(); s._parser(); t2 = time.perf_counter()\n"
        f"c.check_file({str(spec)!r}); t3 = time.perf_counter()\n"
        "print(t1 - t0, t2 - t1, t3 - t2)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.split()
    return dict(zip(("imports", "parser tables (cached)", "check"), map(float, out),
                    strict=True))


def measure(runs: int) -> str:
    specs = sorted((ROOT / "specs").glob("*.ae"))
    wall([str(AESPEC), "check", str(specs[0])])  # fill the parser cache and the OS's caches
    torch = median_wall([sys.executable, "-c", "import torch"], runs)
    rows, worst = [], 0.0
    for spec in specs:
        text = median_wall([str(AESPEC), "check", str(spec)], runs)
        js = median_wall([str(AESPEC), "check", "--json", str(spec)], runs)
        with tempfile.TemporaryDirectory() as empty:
            cold = wall([str(AESPEC), "check", "--json", str(spec)], cold_env(empty))
        worst = max(worst, text, js)
        rows.append(f"| `{spec.name}` | {text:.3f} | {js:.3f} | {cold:.3f} |")
    phases = in_process_phases(specs[0])
    load = os.getloadavg()[1]  # other work on the machine slows every column alike
    verdict = "meets" if worst < GOAL else "misses"
    lines = [
        "# `aespec check` speed",
        "",
        f"Whole-process wall time in seconds, median of {runs} runs per spec, measured by "
        "`bench/check_speed.py` on "
        f"{platform.machine()} with {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, {platform.system()}, load average {load:.1f} during "
        "the runs. *cold*: one run with an empty parser cache (`AESPEC_CACHE_DIR` set to a "
        "new folder).",
        "",
        "| spec | `check` | `check --json` | cold `--json` |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        f"`python -c \"import torch\"` alone: **{torch:.3f} s** (median of {runs}).",
        "",
        f"Slowest warm check: **{worst:.3f} s**, which {verdict} the {GOAL} s goal and is "
        f"{torch / worst:.1f}x faster than importing torch.",
        "",
        f"Where one check's time goes (in process, `{specs[0].name}`): "
        + ", ".join(f"{k} {v:.3f} s" for k, v in phases.items())
        + "; the rest is starting Python. Imports of the libraries it needs (cumulative, "
        "`-X importtime`; `interegular` is there only where the dev extras are installed): "
        + ", ".join(f"`{name}` {t:.3f} s" for name, t in import_breakdown()) + ".",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    report = measure(args.runs)
    (ROOT / "bench" / "check_speed.md").write_text(report, encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
