"""The short fuzz campaign (`make fuzz` runs the long one): hostile specs, grammar strings,
`--set` values, data files, run directories, Markdown pages, language-server messages, run
folders for the report and compare pages, image folders and emitted code give aespec's own
errors only, and none takes longer than 5 s. And the doors' own checks: each sees the
broken promise it is there to see."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from fuzz_doors import Finding, emit, images, report  # noqa: E402

DOORS = ["spec", "grammar", "set", "data", "run", "markdown", "lsp", "report", "images", "emit"]


@pytest.mark.slow
def test_a_short_fuzz_campaign_finds_nothing(tmp_path):
    out = tmp_path / "FUZZ.md"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "fuzz.py"), "--inputs", "800",
                           "--seed", "1", "--out", str(out)], capture_output=True, text=True,
                          timeout=900, cwd=ROOT)
    text = out.read_text() if out.is_file() else proc.stderr
    fed = {m[1]: int(m[2].replace(",", "")) for m in re.finditer(r"^\| (\w+) \| ([\d,]+) \|",
                                                                 text, re.M)}
    assert {door for door in DOORS if fed.get(door, 0) < 10} == set(), text
    assert proc.returncode == 0, text
    assert "; 0 findings" in text


def test_the_report_door_sees_an_injected_tag_and_an_outside_file():
    clean = ('<p class="x">a &lt;script&gt;</p><img src="data:image/png;base64,AAAA">'
             '<svg viewBox="0 0 1 1"><text>x</text></svg>')
    report.check_page(clean, [b"outside"])
    for page in ['<p><img src=x onerror=alert(1)></p>', "<script>alert(1)</script>",
                 '<svg onload="alert(1)"></svg>', f"<pre>{report.TOKEN}</pre>",
                 '<img src="data:image/png;base64,b3V0c2lkZQ==">']:
        with pytest.raises(Finding):
            report.check_page(page, [b"outside"])


def test_the_images_door_sees_ghostscript_started():
    from PIL import Image

    started: list[str] = []
    with pytest.raises(Finding), images.no_programs(started):
        Image.open(io.BytesIO(images.EPS)).convert("L")
    assert started == ["Ghostscript was invoked"]


def test_the_emit_door_sees_code_that_does_not_compile_or_has_no_docstring():
    assert emit.outline('"""doc."""\nimport os\n\n\nclass A:\n    pass\n') == (
        ["Expr", "Import", "ClassDef"], 2)
    for text in ['"""doc."""\nclass class:\n    pass\n', '"""a\\N."""\n', "x = 1\n",
                 '"""doc."""\nx = "\x00"\n', '"""\ud800"""\n']:
        with pytest.raises(Finding):
            emit.outline(text)
