"""`aespec grade RUBRIC HAND-IN... [-o gradebook.csv] [--jsonl FILE] [--feedback DIR]
[--jobs N]`: grade a class against a rubric (docs/grading.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from aespec.cli.app import app
from aespec.cli.common import err, fail, out


@app.command("grade")
def grade_command(
    rubric_path: Path = typer.Argument(..., metavar="RUBRIC",
                                       help="The rubric: a .toml file, or a Markdown page "
                                            "with a ```toml block holding [criteria]."),
    handins: list[Path] = typer.Argument(..., metavar="HAND-IN...",
                                         help="Hand-ins: a file (.ae, .md) is one student; "
                                              "a folder is a class, each file or folder in "
                                              "it one student."),
    csv_path: Path = typer.Option(Path("gradebook.csv"), "--output", "-o", metavar="CSV",
                                  help="The gradebook: one line a student, fixed columns."),
    jsonl: Optional[Path] = typer.Option(None, "--jsonl", metavar="FILE",
                                         help="Also one JSON object a student, with every "
                                              "criterion's detail and the diagnostics."),
    feedback: Optional[Path] = typer.Option(None, "--feedback", metavar="DIR",
                                            help="One Markdown feedback file a student."),
    jobs: int = typer.Option(0, "--jobs", "-j", metavar="N", min=0,
                             help="Worker processes for the smoke trainings (0: one a "
                                  "core, at most 4)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors."),
) -> None:
    """Grade hand-ins against a rubric: a gradebook (CSV, JSONL) and feedback files."""
    from aespec.errors import AespecError
    from aespec.grade import grade_class, load_rubric
    from aespec.grade.book import write_csv, write_feedback, write_jsonl

    try:
        rubric = load_rubric(rubric_path)
    except AespecError as error:
        raise fail(error, code=2) from None
    missing = [str(p) for p in handins if not p.exists()]
    if missing:
        err.print(f"aespec grade: no such hand-in: {', '.join(missing)}", markup=False)
        raise typer.Exit(2)
    workers = jobs or max(1, min(4, len(os.sched_getaffinity(0))))
    timings: dict[str, float] = {}
    grades = grade_class(rubric, handins, workers, timings)
    write_csv(grades, rubric, csv_path)
    if jsonl is not None:
        write_jsonl(grades, rubric, jsonl)
    if feedback is not None:
        write_feedback(grades, rubric, feedback)
    if quiet:
        return
    for g in grades:
        out.print(f"{g.student:<24} {g.total:g}/{rubric.out_of:g}", markup=False)
    out.print(f"{len(grades)} hand-ins graded ({timings['trained']:.0f} trained) in "
              f"{sum(v for k, v in timings.items() if k.endswith('_s')):.1f} s: {csv_path}"
              + (f", {jsonl}" if jsonl else "") + (f", {feedback}/" if feedback else ""),
              markup=False)
