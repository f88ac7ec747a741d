"""Specs inside Markdown: ```ae blocks found, checked at the page's own lines and columns,
picked with --block by number or model name; check, draw and run take a .md file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from frontend import spec
from typer.testing import CliRunner

from aespec.cli import app
from aespec.errors import AespecError
from aespec.graph.frontend import check_blocks, check_file
from aespec.parse.markdown import ae_blocks

GOOD = "model tiny\ndata digits\n" + spec(decoder="dense(64) sigmoid")
BAD = spec(decoder="dense(65) sigmoid")  # E301 on its decoder line
PAGE = f"""# Notes

Prose with `inline code` and a fence of another language:

```python
print("not a spec")
```

```ae
{GOOD}```

~~~~ae
{BAD}~~~~
"""


def run(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def page(tmp_path) -> Path:
    path = tmp_path / "notes.md"
    path.write_text(PAGE, encoding="utf-8")
    return path


def test_ae_blocks_are_found_with_their_lines_and_names():
    blocks = ae_blocks(PAGE)
    assert [(b.index, b.name) for b in blocks] == [(1, "tiny"), (2, None)]
    lines = PAGE.split("\n")
    assert lines[blocks[0].line - 1] == "model tiny" and lines[blocks[0].line - 2] == "```ae"
    # every line outside the block is blank, so lines and columns are the page's
    assert [ln for ln in blocks[1].source.split("\n") if ln] == BAD.rstrip("\n").split("\n")
    assert len(blocks[1].source.split("\n")) == len(lines)


@pytest.mark.parametrize("text, count", [
    ("```ae\ninput vector(3)\n", 1),  # left open: runs to the end of the page
    ("```aespec\nx\n```\n", 1), ("````ae\n```\nstill inside\n````\n", 1),
    ("    ```ae\nindented four spaces is a code block, not a fence\n", 0),
])
def test_fences_follow_commonmark(text, count):
    assert len(ae_blocks(text)) == count


def test_check_gives_one_result_per_block_at_the_pages_lines(page):
    good, bad = check_blocks(page)
    assert good.ok and good.spec.name == "tiny" and good.label == f"{page}#1"
    [d] = [d for d in bad.diagnostics if d.code != "W440"]  # W440: it has no data line
    line = PAGE.split("\n").index("    dense(65) sigmoid") + 1
    assert (d.code, d.file, d.span.line, d.span.column) == ("E301", str(page), line, 5)
    assert "\n        dense(65) sigmoid\n        ^^^^^^^^^^^^^^^^^\n" in d.render(bad.source)


def test_check_command_on_a_page(page):
    result = run("check", page)
    assert result.exit_code == 1
    assert f"{page}#1 (line " in result.stdout and "tiny" in result.stdout
    assert f"{page}:" in result.stderr and "error[E301]" in result.stderr
    payloads = [json.loads(line) for line in run("check", "--json", page).stdout.splitlines()]
    assert [(p["block"]["index"], p["block"]["name"], p["ok"]) for p in payloads] == [
        (1, "tiny", True), (2, None, False)]
    assert run("check", page, "--block", "tiny").exit_code == 0
    assert run("check", page, "--block", "2").exit_code == 1


def test_one_spec_commands_need_one_block_and_list_them(page, tmp_path, monkeypatch):
    result = run("draw", page, "-o", tmp_path / "x.dot")
    assert result.exit_code == 1
    assert "error[E214]" in result.stderr and "#1 tiny (line" in result.stderr
    assert "--block" in result.stderr
    result = run("draw", page, "--block", "tiny", "-o", tmp_path / "x.dot")
    assert result.exit_code == 0 and "digraph" in (tmp_path / "x.dot").read_text()
    assert "error[E216]" in run("draw", page, "--block", "3").stderr
    monkeypatch.chdir(tmp_path)
    assert run("draw", page, "--block", "2", "--format", "dot").exit_code == 1  # E301
    assert run("draw", page, "--block", "1", "--format", "dot").exit_code == 0
    assert (tmp_path / "tiny.dot").is_file()  # named after the block's model


def test_a_page_without_blocks_and_block_on_an_ae_file(tmp_path):
    (tmp_path / "empty.md").write_text("# nothing\n```text\ninput vector(3)\n```\n")
    assert [d.code for d in check_file(tmp_path / "empty.md").diagnostics] == ["E215"]
    assert [d.code for d in check_blocks(tmp_path / "empty.md")[0].diagnostics] == ["E215"]
    (tmp_path / "a.ae").write_text(GOOD)
    assert [d.code for d in check_file(tmp_path / "a.ae", block=1).diagnostics] == ["E216"]


@pytest.mark.slow
def test_run_fast_dev_run_on_a_block(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("run", page, "--block", "1", "--fast-dev-run")
    assert result.exit_code == 0, result.output
    assert "fast-dev-run ok" in result.stdout and not (tmp_path / "runs").exists()


def test_emit_takes_a_block(page):
    result = run("emit", page, "--block", "tiny")
    assert result.exit_code == 0 and "class Tiny(nn.Module)" in result.stdout
    assert "error[E214]" in run("emit", page).stderr


def test_regression_forty_thousand_tiny_blocks_took_memory_of_lines_times_blocks(tmp_path):
    """Each block kept the whole page's text with the others blanked: 40,000 blocks of a
    120,000-line page asked for some 10 GB. Blocks now keep their own lines (the page's
    text is built when a block is checked), and a page past MAX_BLOCKS is E004 at the
    first block too many, naming the file."""
    import time
    import tracemalloc

    from aespec.parse.markdown import MAX_BLOCKS

    text = "```ae\nx\n```\n" * 40_000
    started = time.monotonic()
    tracemalloc.start()
    with pytest.raises(AespecError) as caught:
        ae_blocks(text, "notes.md")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert time.monotonic() - started < 5 and peak < 20 << 20
    [d] = caught.value.diagnostics
    assert (d.code, d.file, d.span.line) == ("E004", "notes.md", 3 * MAX_BLOCKS + 1)  # its fence
    path = tmp_path / "notes.md"
    path.write_text(text, encoding="utf-8")
    result = run("check", path)
    assert result.exit_code == 1 and f"{path}:{3 * MAX_BLOCKS + 1}:1: error[E004]" in \
        result.stderr, result.output
    tracemalloc.start()
    blocks = ae_blocks("\n" * 100_000 + "```ae\nx\n```\n" * MAX_BLOCKS)  # a long page, at the cap
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(blocks) == MAX_BLOCKS and peak < 5 << 20  # not 100 copies of the page
    assert blocks[-1].source.count("\n") == 100_000 + 3 * MAX_BLOCKS


@pytest.mark.parametrize("value, code", [("1" * 5000, 2), ("x" * 101, 2), ("²", 1),
                                         ("1234567", 1), ("0", 1)])
def test_regression_a_5000_digit_block_number_raised_out_of_int(page, value, code):
    """`--block 111...1` (5,000 digits) reached int(), which raises past 4,300 digits, and
    `--block ²` passed isdigit() into int(): a traceback. Now a value longer than any
    number or name is a usage error (exit 2), and any other that names no block is E216."""
    result = run("check", page, "--block", value)
    assert result.exit_code == code and "Traceback" not in result.output, result.output
    assert ("--block" in result.stderr) if code == 2 else ("error[E216]" in result.stderr)
    assert len(result.stderr) < 2000
