"""The docs cannot rot: generated pages match the code, every diagnostic code the package
can report is catalogued, every catalogue example gives its code, and every whole-spec
example (```ae block) of the hand-written pages checks."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from aespec import codes
from aespec.graph.frontend import check_source

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _make_pages():
    """docs/make_pages.py, the developer's tool that writes the generated pages."""
    spec = importlib.util.spec_from_file_location("make_pages", DOCS / "make_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATED = _make_pages().PAGES
PAGES = ["language.md", "stages.md"]


def _codes_in_the_package() -> set[str]:
    found = set()
    for path in (ROOT / "aespec").rglob("*.py"):
        if path.name != "codes.py":
            found |= set(re.findall(r"""["']([EW]\d{3})["']""", path.read_text()))
    return found


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_page_is_up_to_date(name):
    committed = (DOCS / name).read_text(encoding="utf-8")
    assert committed == GENERATED[name](), (
        f"docs/{name} is stale: run `python docs/make_pages.py` and commit the result")


def test_every_code_the_package_reports_is_catalogued():
    missing = _codes_in_the_package() - set(codes.CODES)
    assert not missing, f"add these to aespec/codes.py: {sorted(missing)}"


def test_every_catalogued_code_is_reported_somewhere():
    assert not set(codes.CODES) - _codes_in_the_package()


@pytest.mark.parametrize("entry", [c for c in codes.CODES.values() if c.example_is_spec],
                         ids=lambda c: c.code)
def test_catalogue_example_gives_its_code(entry):
    result = check_source(entry.example, "example.ae")
    assert entry.code in [d.code for d in result.diagnostics], result.diagnostics
    if entry.severity == "warning":
        assert result.ok, result.diagnostics


def test_catalogue_entries_are_complete():
    for c in codes.CODES.values():
        assert c.code[:2] in codes.SERIES and c.title and c.explanation and c.example, c
        assert c.stage in ("read", "parse", "resolve", "graph", "checks", "compile", "emit",
                           "data", "run"), c


def _ae_blocks(page: str) -> list[tuple[int, str]]:
    text = (DOCS / page).read_text(encoding="utf-8")
    return [(text[: m.start()].count("\n") + 2, m.group(1))
            for m in re.finditer(r"```ae\n(.*?)```", text, re.S)]


@pytest.mark.parametrize("page, line, source", [
    (page, line, src) for page in PAGES for line, src in _ae_blocks(page)],
    ids=lambda v: str(v) if isinstance(v, (int, str)) and len(str(v)) < 20 else "")
def test_whole_spec_examples_of_the_docs_check(page, line, source):
    result = check_source(source, f"docs/{page}:{line}")
    assert result.ok, [d.render(source) for d in result.diagnostics]


@pytest.mark.parametrize("page", PAGES + sorted(GENERATED))
def test_links_between_pages_resolve(page):
    text = (DOCS / page).read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([a-z_]+\.md)(?:#[^)]*)?\)", text):
        assert (DOCS / target).is_file(), f"{page} links to missing {target}"
