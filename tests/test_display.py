"""What a run shows in Python: the error's text with its source line and carets, short reprs
of a spec and of a run, the metrics CSV beside metrics.jsonl (issue 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

import aespec
from aespec.errors import AespecError

BROKEN = """model broken
input vector(64)
encoder {
    dense(32) relu
    dens(16)
}
bottleneck {
    dense(8)
}
decoder mirror
loss mse
"""


def test_str_of_a_load_error_shows_the_source_line_and_a_caret(tmp_path: Path):
    path = tmp_path / "broken.ae"
    path.write_text(BROKEN)
    with pytest.raises(AespecError) as info:
        aespec.load(path)
    lines = str(info.value).splitlines()
    assert info.value.source == BROKEN
    assert lines[0].startswith(f"{path}:5:5: error[E201]: unknown layer op 'dens'")
    at = lines.index("        dens(16)")
    assert lines[at + 1] == "        ^^^^"  # under d-e-n-s, column 5 of the line


def test_str_without_a_source_has_no_line_to_show():
    err = AespecError.of("E201", "unknown layer op 'dens'", aespec.errors.Span(1, 1, 1, 5))
    assert str(err) == "<spec>:1:1: error[E201]: unknown layer op 'dens'"
    err.source = "dens(8)"
    assert str(err).splitlines()[1:] == ["    dens(8)", "    ^^^^"]
