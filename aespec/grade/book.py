"""Students, their graded spec, the criteria's results, and the gradebook and feedback."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aespec.errors import AespecError, Diagnostic, Span
from aespec.grade.rubric import Criterion, Rubric
from aespec.graph.frontend import CheckResult, check_block, check_source
from aespec.parse import read_spec
from aespec.parse.markdown import AeBlock, ae_blocks, is_markdown, read_markdown

SPEC_FILES = (".ae", ".md", ".markdown")


@dataclass
class Result:
    name: str
    points: float
    out_of: float
    passed: bool
    detail: str


@dataclass
class Grade:
    """One student's line of the gradebook, and what the feedback file says."""

    student: str
    handin: str
    block: str = ""
    results: list[Result] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    source: str = ""
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(r.points for r in self.results)

    @property
    def out_of(self) -> float:
        return sum(r.out_of for r in self.results)


def students(paths: list[Path]) -> list[tuple[str, list[Path]]]:
    """(student, files) for each hand-in, sorted by student. A FILE argument is one
    student, named by its stem. A FOLDER argument is a class: each file directly inside is
    one student (its stem), each folder inside one student (its name) whose hand-in is
    the .ae and .md files in it, at any depth."""
    found: dict[str, list[Path]] = {}

    def add(name: str, files: list[Path]) -> None:
        key, n = name, 2
        while key in found:  # a.ae and a.md in one class: a, a~2
            key, n = f"{name}~{n}", n + 1
        found[key] = files

    for path in paths:
        if path.is_dir():
            for entry in sorted(path.iterdir()):
                if entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    add(entry.name, _spec_files(entry))
                else:
                    add(entry.stem, [entry])
        else:
            add(path.stem, [path])
    return sorted(found.items())


def _spec_files(folder: Path) -> list[Path]:
    """The .ae and .md files in a student's folder, at any depth, sorted; links to folders
    are not followed (a link to its parent would loop)."""
    found = []
    for top, _, files in os.walk(folder):
        found += [Path(top) / f for f in files if Path(f).suffix in SPEC_FILES]
    return sorted(found)


def _candidates(files: list[Path]) -> tuple[list[tuple[Path, AeBlock | None, str]],
                                            list[Diagnostic]]:
    """Every spec of a hand-in: (file, block or None for a .ae file, its model name)."""
    specs: list[tuple[Path, AeBlock | None, str]] = []
    problems: list[Diagnostic] = []
    for f in files:
        try:
            if is_markdown(f):
                specs += [(f, b, b.name or "") for b in ae_blocks(read_markdown(f), str(f))]
            else:
                source = read_spec(f)
                m = re.search(r"^\s*model\s+(\w+)", source, re.M)
                specs.append((f, None, m.group(1) if m else ""))
        except AespecError as err:
            problems += err.diagnostics
    return specs, problems


def select(files: list[Path], rule: str) -> tuple[CheckResult | None, list[Diagnostic], str]:
    """The hand-in's graded spec, checked, by the rubric's block rule ("only": exactly one,
    else E214; "last"; or a model name, else E216); E215 when it has none."""
    specs, problems = _candidates(files)
    where = ", ".join(str(f) for f in files) or "the folder"
    if not specs:
        if problems:
            return None, problems, ""
        return None, [Diagnostic("E215", f"{where} has no spec (no .ae file, no ```ae block)",
                                 None, "hand in a .ae file, or a Markdown page with the spec "
                                 "in a fenced block: ```ae on the line before it, ``` after",
                                 where)], ""
    if rule == "last":
        chosen = specs[-1]
    elif rule == "only":
        if len(specs) > 1:
            listing = ", ".join(_describe(s) for s in specs)
            return None, [Diagnostic("E214", f"the hand-in has {len(specs)} specs: {listing}",
                                     None, "hand in exactly one spec: delete the starter "
                                     "block, or the ones you tried before", where)], ""
        chosen = specs[0]
    else:
        named = [s for s in specs if s[2] == rule]
        if not named:
            listing = ", ".join(_describe(s) for s in specs)
            return None, [Diagnostic("E216", f"the hand-in has no model {rule!r}: {listing}",
                                     None, f"name the graded model `model {rule}`", where)], ""
        chosen = named[-1]
    path, block, _ = chosen
    if block is not None:
        return check_block(block, path), [], _describe(chosen)
    return check_source(read_spec(path), str(path)), [], _describe(chosen)


def _describe(spec: tuple[Path, AeBlock | None, str]) -> str:
    path, block, name = spec
    at = f"{path.name}" + (f" line {block.line}" if block is not None else "")
    return f"{name or 'unnamed'} ({at})"


def _res(c: Criterion, passed: bool, detail: str) -> Result:
    return Result(c.name, c.points if passed else 0.0, c.points, passed, detail)


def _not_judged(c: Criterion, why: str) -> Result:
    return Result(c.name, 0.0, c.points, False, f"not judged: {why}")


def static_results(rubric: Rubric, result: CheckResult | None, why: str) -> list[Result]:
    """checks, params, code, techniques: from the check alone."""
    out: list[Result] = []
    ok = result is not None and result.ok
    for c in rubric.criteria:
        if c.name == "checks":
            if result is None:
                out.append(_res(c, False, why))
                continue
            errors = [d for d in result.diagnostics if d.severity == "error"]
            warns = sorted({d.code for d in result.diagnostics if d.severity == "warning"})
            if errors:
                d = errors[0]
                line = f" at line {d.span.line}" if d.span else ""
                out.append(_res(c, False, f"{len(errors)} error(s); first {d.code}{line}: "
                                f"{d.message}"))
            elif warns and c.options.get("warnings") is False:
                out.append(_res(c, False, f"warnings are not allowed: {', '.join(warns)}"))
            else:
                out.append(_res(c, True, "no errors" + (f" (warnings: {', '.join(warns)})"
                                                        if warns else "")))
        elif c.name in ("params", "code", "techniques"):
            if not ok or result is None or result.ir is None or result.spec is None:
                out.append(_not_judged(c, why or "the spec has errors"))
                continue
            g, spec = result.ir, result.spec
            if c.name == "params":
                most = c.options["max"]
                out.append(_res(c, g.params <= most,
                                f"{g.params:,} parameters; the budget is {most:,}"))
            elif c.name == "code":
                most = c.options["max"]
                size = math.prod(g.z) if g.z else None
                out.append(_res(c, size is not None and size <= most,
                                f"a code of {size} values; at most {most}" if size else
                                "the spec has no code z"))
            else:
                from aespec.graph.describe import _kind, techniques

                used, kind = techniques(spec, g), _kind(spec, g)
                need = c.options.get("require", [])
                missing = [t for t in need if t not in used]
                want = c.options.get("kind")
                bad_kind = want is not None and kind != want
                parts = [f"uses {', '.join(used) or 'no listed technique'}; kind {kind}"]
                if missing:
                    parts.append(f"missing: {', '.join(missing)}")
                if bad_kind:
                    parts.append(f"the assignment asks for a {want}")
                out.append(_res(c, not missing and not bad_kind, "; ".join(parts)))
    return out


def smoke_results(rubric: Rubric, got: dict[str, Any] | None, why: str) -> list[Result]:
    """trains, test, collapse: from the smoke training's figures (None: not trained)."""
    out: list[Result] = []
    for c in rubric.criteria:
        if c.name not in ("trains", "test", "collapse"):
            continue
        if got is None:
            out.append(_not_judged(c, why))
            continue
        if not got.get("ok"):
            if c.name == "trains":
                out.append(_res(c, False, _failure(got, rubric)))
            else:
                out.append(_not_judged(c, "the smoke training failed"))
            continue
        loss = got.get("test_loss")
        if c.name == "trains":
            finite = isinstance(loss, float) and math.isfinite(loss)
            out.append(_res(c, finite, f"{got['epochs']} epochs, test loss {loss:.4g}"
                            if finite else f"{got['epochs']} epochs, test loss {loss}"))
            continue
        if "test_mse" not in got:
            out.append(_not_judged(c, got.get("figures", "no reconstructions")))
            continue
        mse, mean, pca = got["test_mse"], got["mean_mse"], got["pca_mse"]
        if c.name == "test":
            beats = c.options.get("beats", "mean")
            ratio = float(c.options.get("ratio", 1.0))
            ref = mean if beats == "mean" else pca
            name = "the mean image" if beats == "mean" else f"PCA({got['pca_k']})"
            bar = ratio * ref
            out.append(_res(c, mse <= bar, f"test mse {mse:.4f}; {name} {ref:.4f}; "
                            f"needed at most {ratio:g} x {ref:.4f} = {bar:.4f}"))
        else:
            least = float(c.options.get("spread", 0.1))
            spread, data = got["spread"], got["data_spread"]
            varies = spread >= least * data
            better = mse < mean
            why_not = [] if varies else [f"the outputs barely vary across examples "
                                         f"(spread {spread:.4f}, the data's {data:.4f})"]
            if not better:
                why_not.append(f"no better than the mean image ({mse:.4f} >= {mean:.4f})")
            out.append(_res(c, varies and better, "; ".join(why_not) or
                            f"outputs vary (spread {spread:.4f}, the data's {data:.4f}); "
                            f"test mse {mse:.4f} below the mean image's {mean:.4f}"))
    return out


def _failure(got: dict[str, Any], rubric: Rubric) -> str:
    limit = got.get("limit")
    if limit == "time":
        return _coded("E644", f"the smoke training passed the time limit of "
                              f"{rubric.timeout:g} s and was stopped")
    if limit == "memory":
        return _coded("E645", f"the smoke training used {got.get('rss_mb', 0):.0f} MB, "
                              f"over the limit of {rubric.memory_mb} MB, and was stopped")
    if limit == "refused":
        return got["detail"]
    if limit == "ended":
        return _coded("E646", "the smoke training's process ended without a result")
    if "crash" in got:
        return _coded("E646", f"the smoke training failed inside aespec: {got['crash']}")
    d = got["diagnostics"][0]
    line = f" at line {d['line']}" if d.get("line") else ""
    return f"{d['code']}{line}: {d['message']}"


def _diagnostic(d: dict[str, Any]) -> Diagnostic:
    """A diagnostic back from a worker (`Diagnostic.to_json` with its file)."""
    span = Span(d["line"], d["column"], d["end_line"], d["end_column"]) \
        if d.get("line") is not None else None
    return Diagnostic(d["code"], d["message"], span, d.get("hint"), d.get("file"))


def _coded(code: str, text: str) -> str:
    return f"{code}: {text}"


def _memory_refusal(rubric: Rubric, result: CheckResult) -> str | None:
    from aespec.graph.memory import estimate

    if result.spec is None or result.ir is None or "decoder" not in result.ir.outputs:
        return None
    need = estimate(result.spec, result.ir).to_json()["total"] / 2**20
    if need > rubric.memory_mb:
        return _coded("E645", f"one training step needs about {need:,.0f} MB, over the "
                              f"limit of {rubric.memory_mb} MB: not trained")
    return None


def grade_class(rubric: Rubric, paths: list[Path], jobs: int = 1,
                timings: dict[str, float] | None = None) -> list[Grade]:
    """Grade every student found in `paths`, in student order (see `students`)."""
    from aespec.grade.smoke import Job, Pool

    t0 = time.perf_counter()
    grades: list[Grade] = []
    todo: list[Job] = []
    checked: dict[int, CheckResult] = {}
    for i, (student, files) in enumerate(students(paths)):
        result, problems, label = select(files, rubric.block)
        if result is not None and rubric.data is not None:
            block = result.block
            result = check_source(result.source, result.path, (), rubric.data)
            result.block = block
        grade = Grade(student, ", ".join(str(f) for f in files), label)
        grade.diagnostics = problems if result is None else result.diagnostics
        grade.source = "" if result is None else result.source
        why = problems[0].code + ": " + problems[0].message if problems else ""
        grade.results = static_results(rubric, result, why)
        for r in grade.results[1:] if grade.results and grade.results[0].name == "checks" \
                else []:
            if r.detail == f"not judged: {why}" or r.detail.endswith("the spec has errors"):
                r.detail = ("not judged: no spec was graded (see checks)" if result is None
                            else "not judged: the spec has errors (see checks)")
        grades.append(grade)
        if result is not None and result.ok and rubric.trains:
            refusal = _memory_refusal(rubric, result)
            if refusal:
                grade.figures = {"ok": False, "limit": "refused", "detail": refusal}
                continue
            checked[i] = result
            todo.append(Job(i, result.source, str(result.path), rubric.data,
                            rubric.epochs, rubric.seed, ""))
    t1 = time.perf_counter()
    got: dict[int, dict[str, Any]] = {}
    if todo:
        pool = Pool(max(1, jobs), rubric.timeout, rubric.memory_mb)
        with tempfile.TemporaryDirectory(prefix="aespec-grade-") as scratch:
            todo = [replace(j, out=str(Path(scratch) / f"run{j.key}")) for j in todo]
            try:
                got = dict(pool.run(todo))
            finally:
                pool.close()
    t2 = time.perf_counter()
    for i, grade in enumerate(grades):
        if i in got:
            grade.figures = got[i]
            grade.diagnostics = grade.diagnostics + [
                _diagnostic(d) for d in got[i].get("diagnostics", [])]
        if grade.figures:
            figures: dict[str, Any] | None = grade.figures
            why = ""
        else:
            figures = None
            why = ("no spec was graded (see checks)" if not grade.source else
                   "the spec has errors (see checks)")
        grade.results += smoke_results(rubric, figures, why)
        order = [c.name for c in rubric.criteria]
        grade.results.sort(key=lambda r: order.index(r.name))
    if timings is not None:
        timings.update(check_s=t1 - t0, train_s=t2 - t1,
                       grade_s=time.perf_counter() - t2, trained=len(todo))
    return grades


# --- writing ---------------------------------------------------------------------------


def _fmt(points: float) -> str:
    return f"{points:g}"


def columns(rubric: Rubric) -> list[str]:
    """The gradebook's columns: the same for every student of a rubric."""
    return ["student", "handin", "block", *(c.name for c in rubric.criteria), "total",
            "out_of", "notes"]


def write_csv(grades: list[Grade], rubric: Rubric, path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(columns(rubric))
        for g in grades:
            notes = "; ".join(f"{r.name}: {r.detail}" for r in g.results if not r.passed)
            w.writerow([g.student, g.handin, g.block, *(_fmt(r.points) for r in g.results),
                        _fmt(g.total), _fmt(rubric.out_of), notes])


def _figures_json(figures: dict[str, Any]) -> dict[str, Any]:
    keep = ("epochs", "test_loss", "test_mse", "mean_mse", "pca_mse", "pca_k", "spread",
            "data_spread")
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in figures.items()
            if k in keep}


def write_jsonl(grades: list[Grade], rubric: Rubric, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for g in grades:
            f.write(json.dumps({
                "student": g.student, "handin": g.handin, "block": g.block,
                "total": g.total, "out_of": rubric.out_of,
                "criteria": [{"name": r.name, "points": r.points, "out_of": r.out_of,
                              "passed": r.passed, "detail": r.detail} for r in g.results],
                "diagnostics": [d.to_json() for d in g.diagnostics],
                "figures": _figures_json(g.figures)}, ensure_ascii=False) + "\n")


def feedback(g: Grade, rubric: Rubric) -> str:
    """A student's feedback page: the score, each criterion, each diagnostic with its hint."""
    lines = [f"# Feedback: {_md(g.student)}", "",
             f"Hand-in: {_md(g.handin)}" + (f"; graded spec: {_md(g.block)}" if g.block
                                             else ""), "",
             f"**Score: {_fmt(g.total)} / {_fmt(rubric.out_of)}**", "",
             "| criterion | points | result |", "|---|---|---|"]
    for r in g.results:
        detail = _md(r.detail)
        lines.append(f"| {r.name} | {_fmt(r.points)} / {_fmt(r.out_of)} | "
                     f"{'pass' if r.passed else 'FAIL'}: {detail} |")
    if g.diagnostics:
        lines += ["", "## What the checker found", ""]
        for d in g.diagnostics:
            text = d.render(g.source or None)
            fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)),
                                         default=0))
            lines += [f"{fence}text", text, fence, ""]  # longer than any run inside it
    figs = _figures_json(g.figures)
    if "test_mse" in figs:
        lines += ["", "## Smoke training", "",
                  f"{figs['epochs']} epochs on {rubric.data or 'the spec data'} (seed "
                  f"{rubric.seed}). Test error (mean squared, per value): yours "
                  f"{figs['test_mse']:.4f}; the mean image {figs['mean_mse']:.4f}; PCA with "
                  f"{figs['pca_k']} components {figs['pca_mse']:.4f}. Spread of your "
                  f"outputs across examples {figs['spread']:.4f} (the data's "
                  f"{figs['data_spread']:.4f})."]
    return "\n".join(lines).rstrip() + "\n"


def _md(text: str) -> str:
    """A hand-in's words (its file name, a detail quoting it) as Markdown text: no HTML, no
    table cell ended, no code span or emphasis opened by what a student wrote."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_\[\]|#])", r"\\\1", text)


def write_feedback(grades: list[Grade], rubric: Rubric, folder: Path) -> None:
    """One page per student; two students whose names make the same file name get
    `-2`, `-3` (in student order), so that no page overwrites another."""
    folder.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    for g in grades:
        safe = re.sub(r"[^\w.~-]", "_", g.student).lstrip(".") or "_"
        name, n = safe, 1
        while name.lower() in taken:
            n += 1
            name = f"{safe}-{n}"
        taken.add(name.lower())
        (folder / f"{name}.md").write_text(feedback(g, rubric), encoding="utf-8")
