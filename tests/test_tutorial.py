"""The tutorial and the grading page cannot rot: every spec they show is a file under
docs/examples/, each file checks (or fails as the page says), the outputs shown for
`aespec check` are what it prints, and `aespec grade` prints and writes what
docs/grading.md shows."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aespec.cli import app
from aespec.graph.frontend import check_blocks, check_file
from aespec.parse.markdown import ae_blocks

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
SPECS = sorted(EXAMPLES.rglob("*.ae"))
FAILING = {"broken.ae", "broken_shapes.ae", "cleo.ae"}  # mistakes, on purpose


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def _transcripts(page: str) -> list[tuple[list[str], str]]:
    """The ```text blocks of a page that start with `$ aespec check`: args and output."""
    text = (DOCS / page).read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"```text\n(.*?)```", text, re.S):
        first, _, rest = block.partition("\n")
        if first.startswith("$ aespec check "):
            found.append((shlex.split(first)[3:], rest))
    return found


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_example_spec_checks_or_fails_as_documented(path):
    result = check_file(path)
    assert result.ok == (path.name not in FAILING), [d.render(result.source)
                                                     for d in result.diagnostics]


def test_every_spec_on_the_tutorial_is_an_example_file():
    page = (DOCS / "tutorial.md").read_text(encoding="utf-8")
    files = {p.read_text(encoding="utf-8") for p in SPECS}
    blocks = ae_blocks(page)
    assert len(blocks) == 3
    for block in blocks:
        text = "\n".join(ln for ln in block.source.split("\n")[block.line - 1:]).rstrip("\n")
        assert text + "\n" in files, f"tutorial.md line {block.line}: not a file of examples/"
    # `aespec check docs/tutorial.md` checks them in place, the mistakes failing
    assert [r.ok for r in check_blocks(DOCS / "tutorial.md")] == [True, False, True]


@pytest.mark.parametrize("args, shown", _transcripts("tutorial.md"),
                         ids=lambda v: v[-1] if isinstance(v, list) else "")
def test_check_outputs_shown_in_the_tutorial_are_real(args, shown, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = run("check", *args)
    assert result.output == shown


def test_the_tutorial_shows_both_check_transcripts_and_the_fixes_exist():
    shown = [args[-1] for args, _ in _transcripts("tutorial.md")]
    assert shown == ["docs/examples/tutorial/first.ae", "docs/examples/tutorial/broken.ae",
                     "docs/examples/tutorial/broken_shapes.ae"]


@pytest.mark.slow
def test_the_tutorials_denoiser_fast_dev_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("run", str(EXAMPLES / "tutorial" / "denoiser.ae"), "--fast-dev-run")
    assert result.exit_code == 0, result.output
    assert "report: reconstructions, baseline" in result.stdout
    assert result.stdout.rstrip().endswith("fast-dev-run ok") and not list(tmp_path.iterdir())


# ---------------------------------------------------------------- docs/grading.md


def _autograder():
    spec = importlib.util.spec_from_file_location("autograder", EXAMPLES / "autograder.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["autograder"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


BRIEF = ["--max-params", "10000", "--max-code", "16", "--require", "noise",
         "--max-test-mse", "0.065"]


def test_the_json_shown_in_grading_md_is_real(monkeypatch):
    monkeypatch.chdir(ROOT)
    page = (DOCS / "grading.md").read_text(encoding="utf-8")
    shown = json.loads(re.search(r"```json\n(.*?)```", page, re.S).group(1))
    result = run("check", "--json", "--schema", "1", "docs/examples/grading/bad_submission.ae")
    assert json.loads(result.stdout) == shown


def _autograder():
    spec = importlib.util.spec_from_file_location("autograder", EXAMPLES / "autograder.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fenced(page: str, info: str) -> list[str]:
    return re.findall(rf"^(`{{3,}}){info}\n(.*?)^\1$", page, re.M | re.S)


def test_the_old_autograder_runs_aespec_grade(tmp_path, monkeypatch):
    """A rubric of the static criteria only: nothing is trained."""
    monkeypatch.chdir(ROOT)
    rubric = tmp_path / "r.toml"
    rubric.write_text("[criteria.checks]\npoints = 1\n[criteria.code]\npoints = 1\nmax = 16\n")
    book = tmp_path / "book.csv"
    assert _autograder().main([str(rubric), "docs/examples/grading/bad_submission.ae",
                               "docs/examples/grading/good_submission.ae", "-q",
                               "-o", str(book)]) == 0
    lines = book.read_text().splitlines()
    assert lines[0] == "student,handin,block,checks,code,total,out_of,notes"
    assert lines[1].startswith("bad_submission,docs/examples/grading/bad_submission.ae,"
                               "denoiser (bad_submission.ae),1,0,1,2,code: a code of 64 values")
    assert lines[2].startswith("good_submission,") and lines[2].endswith(",1,1,2,2,")
    assert _autograder().main([str(tmp_path / "none.toml"), "x.ae"]) == 2


@pytest.mark.slow
def test_the_grading_outputs_shown_in_grading_md_are_real(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    page = (DOCS / "grading.md").read_text(encoding="utf-8")
    [(_, shown)] = [b for b in _fenced(page, "text") if b[1].startswith("$ aespec grade")]
    command, _, printed = shown.partition("\n")
    args = shlex.split(command)[2:]
    book, fb = tmp_path / "gradebook.csv", tmp_path / "feedback"
    args = [str(tmp_path / "gradebook.jsonl") if a == "gradebook.jsonl" else
            str(fb) if a == "feedback" else a for a in args]
    result = run(*args, "-o", str(book))
    assert result.exit_code == 0, result.output
    got = re.sub(r"in [\d.]+ s: .*", "", result.output)
    assert got == re.sub(r"in [\d.]+ s: .*", "", printed)
    [(_, csv_shown)] = _fenced(page, "csv")
    assert book.read_text() .replace("\r\n", "\n") == csv_shown
    feedback = [text for _, text in _fenced(page, "markdown")]
    assert feedback == [(fb / "cleo.md").read_text(), (fb / "dan.md").read_text()]
    rubric = [text for _, text in _fenced(page, "toml")]
    assert rubric == [(EXAMPLES / "grading" / "rubric.toml").read_text()]


@pytest.mark.parametrize("page", ["tutorial.md", "grading.md"])
def test_relative_links_of_the_pages_resolve(page):
    text = (DOCS / page).read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text)
    assert targets
    for target in targets:
        assert (DOCS / target).exists(), f"{page} links to missing {target}"


# ---------------------------------------------------------------- docs/language.md


def test_the_first_spec_of_language_md_is_the_readmes():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    readme_spec = re.search(r"## A spec\n\n```\n(.*?)```", readme, re.S).group(1)
    first = ae_blocks((DOCS / "language.md").read_text(encoding="utf-8"))[0]
    body = first.source.split("\n")[first.line - 1:]
    assert "\n".join(ln for ln in body if not ln.startswith("#")).strip() == readme_spec.strip()


def test_the_json_shown_in_language_md_is_real(monkeypatch):
    monkeypatch.chdir(ROOT)
    page = (DOCS / "language.md").read_text(encoding="utf-8")
    shown = json.loads(re.search(r"```json\n(.*?)```", page, re.S).group(1))
    result = run("check", "--json", "--schema", "1", shown["file"])
    assert json.loads(result.stdout) == shown
    assert [d["code"] for d in shown["diagnostics"]] == ["W401"]
