"""Helpers of the front-end tests (parse, resolve, graph, errors): spec text and results."""

from __future__ import annotations

from aespec.errors import Diagnostic
from aespec.graph.frontend import CheckResult, check_source
from aespec.graph.summary import table_rows


def spec(encoder: str = "dense(32) relu", bottleneck: str = "dense(8)",
         decoder: str = "dense(64) sigmoid", input: str = "vector(64)", before: str = "",
         after: str = "") -> str:
    """A whole spec, one block line per `\\n`-separated line of each block's text."""
    def block(name: str, body: str) -> str:
        return f"{name} {{\n" + "".join(f"    {ln}\n" for ln in body.split("\n")) + "}\n"

    return ((f"{before}\n" if before else "") + f"input {input}\n" + block("encoder", encoder)
            + block("bottleneck", bottleneck)
            + (f"decoder {decoder}\n" if decoder.startswith("mirror") else block("decoder",
                                                                                decoder))
            + (f"{after}\n" if after else ""))


def check(source: str, *overrides: str) -> CheckResult:
    return check_source(source, "t.ae", list(overrides))


def codes(result: CheckResult) -> list[str]:
    """The codes of a result, but W440 (no data line): most specs here are only shapes."""
    return [d.code for d in result.diagnostics if d.code != "W440"]


def only(result: CheckResult, code: str) -> Diagnostic:
    found = [d for d in result.diagnostics if d.code == code]
    assert len(found) == 1, result.diagnostics
    return found[0]


def rows(result: CheckResult, block: str) -> list[tuple[str, tuple, int]]:
    assert result.ir is not None, result.diagnostics
    return [(r.op, r.shape, r.params) for r in table_rows(result.ir) if r.block == block]
