"""`aespec grade RUBRIC HAND-IN...`: grade a class of hand-ins against a rubric
(docs/grading.md), writing a gradebook (CSV, JSONL) with the same columns and total for
every student, and one Markdown feedback file per student.

Hand-ins are checked here, in this process (checking never imports torch); the smoke
trainings run in a small pool of workers (aespec/grade/smoke.py) with a wall-clock and a
memory limit per hand-in. Every hand-in gets a line, whatever is wrong with it.
"""

from __future__ import annotations

from aespec.grade.book import Grade, grade_class, students
from aespec.grade.rubric import CRITERIA, Rubric, load_rubric

__all__ = ["CRITERIA", "Grade", "Rubric", "grade_class", "load_rubric", "students"]
