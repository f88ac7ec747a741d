"""A phase's loss line with the head's `xent` (`phase NAME { loss bce + xent }`), as the
top level's: resolved into the phase (and only there), checked in the phase's own graph
(E334 at the phase's line, E339 for a schedule, no W430 where a phase trains the head),
shown in `aespec check`'s phase table, offered by completion, kept by fmt, and trained: a
first phase that reconstructs leaves the head at chance, a second with xent lifts it."""

from __future__ import annotations

import pytest
import torch

import aespec
from aespec.graph import check_source
from aespec.graph.phases import phase_rows
from aespec.model import phase_spec

SPEC = """\
model phased_head
data digits
input vector(64)
encoder {
    dense(32) relu
}
bottleneck {
    dense(8)
}
decoder mirror
head on code {
    dense(10)
}
loss TOP
train {
    epochs 4
    batch 32
    optimizer adam(lr=1e-2)
    seed 0
}
phase reconstruct {
    epochs 4
}
phase classify {
    epochs 4
    loss PHASE
}
"""


def _spec(top: str = "bce", phase: str = "bce + 0.5 * xent") -> str:
    return SPEC.replace("TOP", top).replace("PHASE", phase)


def _codes(text: str) -> list[str]:
    return [d.code for d in check_source(text).diagnostics]


def test_a_phases_xent_is_its_own_and_the_top_levels_stays() -> None:
    result = check_source(_spec())
    assert result.ok and not result.diagnostics
    spec = result.spec
    first, second = spec.phases
    assert spec.xent is None and first.xent is None
    assert second.xent is not None and second.xent.weight == 0.5
    assert [t.call.op for t in second.loss] == ["bce"]
    assert phase_spec(spec, second).xent == second.xent
    assert phase_spec(spec, first).xent is None  # no loss line: the top level's, none


def test_a_phase_without_xent_drops_the_top_levels() -> None:
    spec = check_source(_spec(top="bce + xent", phase="bce")).spec
    first, second = spec.phases
    assert phase_spec(spec, first).xent == spec.xent  # the top level's loss line
    assert phase_spec(spec, second).xent is None  # its own, which has none


def test_a_phase_may_train_the_head_alone() -> None:
    spec = check_source(_spec(phase="xent")).spec
    assert spec.phases[1].loss == [] and spec.phases[1].xent is not None


def test_the_phase_table_shows_the_phases_term() -> None:
    result = check_source(_spec())
    rows = phase_rows(result.spec, result.phase_irs, result.ir)
    assert "CE(y" not in rows[0]["objective"] and "0.5·CE(y, head(z))" in rows[1]["objective"]


@pytest.mark.parametrize(("text", "code", "line"), [
    (_spec().replace("head on code {\n    dense(10)\n}\n", ""), "E334", 23),  # no head
    (_spec(phase="bce + warmup(epochs=2) * xent"), "E339", 26),  # a schedule's weight
    (_spec(phase="bce + xent + xent"), "E203", 26),  # twice
    (_spec(phase="bce"), "W430", 11),  # nothing trains the head, anywhere
])
def test_a_phases_xent_is_checked_where_it_is_written(text: str, code: str, line: int) -> None:
    found = [d for d in check_source(text).diagnostics if d.code == code]
    assert found and found[0].span.line == line


def test_a_head_trained_in_a_phase_only_is_no_w430() -> None:
    assert "W430" not in _codes(_spec())


def test_completion_offers_xent_in_a_phases_loss() -> None:
    from aespec.lsp.complete import complete
    from aespec.lsp.document import analyse

    text = _spec(phase="bce + ")
    line = text.split("\n").index("    loss bce + ")
    labels = {i.label for i in complete(analyse(text), line, len("    loss bce + "))}
    assert {"xent", "bce"} <= labels


def test_fmt_keeps_a_phases_xent() -> None:
    from aespec.parse.fmt import format_source

    out = format_source(_spec(phase="bce+0.5*xent"))
    assert "    loss bce + 0.5 * xent\n" in out
    assert format_source(out) == out


def test_the_head_learns_in_the_phase_whose_loss_has_xent(tmp_path) -> None:
    """Phase 1 reconstructs: the head's accuracy stays near chance (10 %); phase 2 adds
    0.5 * xent, and the run's own head (shared with the phase's model) classifies the test
    set well. Measured (seeds 0-2): validation accuracy 0.03 to 0.19 through phase 1, 0.87
    to 0.92 at the end of phase 2; test accuracy 0.925 to 0.939."""
    torch.set_num_threads(1)
    (tmp_path / "p.ae").write_text(_spec())
    result = aespec.train(tmp_path / "p.ae", out=tmp_path / "run", quiet=True, report=False)
    first = [r for r in result.history if r["phase"] == "reconstruct"]
    second = [r for r in result.history if r["phase"] == "classify"]
    assert all("0.5*xent" not in r["train"] for r in first)
    assert all("0.5*xent" in r["train"] for r in second)
    assert max(r["val"]["accuracy"] for r in first) < 0.35
    assert second[-1]["val"]["accuracy"] > 0.7
    assert result.test["accuracy"] > 0.7  # the top level's model: the same head
