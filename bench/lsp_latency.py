"""How long `aespec lsp` takes from a change to its diagnostics, over a real stdio connection.

For every spec in specs/, a client (pytest-lsp's, a pygls client) opens the spec in one
server process, then sends CHANGES edits one at a time, each a `didChange` that alternates
between an edit that keeps the spec valid (a comment added) and one that breaks a name (an
E201); the time is from sending the change to receiving the `publishDiagnostics` of its
version. Writes bench/LSP.md.

    PYTHONPATH=. python bench/lsp_latency.py [--changes 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from lsprotocol import types as lsp
from pytest_lsp import client_capabilities, make_test_lsp_client

ROOT = Path(__file__).resolve().parents[1]
GOAL_MS = 50.0


def edits(source: str, n: int) -> list[str]:
    """n texts: a comment added (valid), then an op misspelt (an error), and so on."""
    out = []
    for i in range(n):
        if i % 2 == 0:
            out.append(source + f"# edit {i}\n")
        else:
            out.append(source.replace("relu", "reluu", 1) if "relu" in source
                       else source.replace("dense", "dens", 1))
    return out


async def time_spec(client, path: Path, changes: int) -> list[float]:
    uri = path.resolve().as_uri()
    source = path.read_text(encoding="utf-8")
    waiting = client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(
        lsp.TextDocumentItem(uri=uri, language_id="aespec", version=0, text=source)))
    await asyncio.wait_for(waiting, 30)
    times = []
    for version, text in enumerate(edits(source, changes), start=1):
        waiting = client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        start = time.perf_counter()
        client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
            [lsp.TextDocumentContentChangeWholeDocument(text=text)]))
        params = await asyncio.wait_for(waiting, 30)
        times.append((time.perf_counter() - start) * 1000)
        assert params.uri == uri and params.version == version, params
    client.text_document_did_close(lsp.DidCloseTextDocumentParams(
        lsp.TextDocumentIdentifier(uri=uri)))
    await asyncio.sleep(0.05)  # the close's empty diagnostics, before the next spec
    return times


ROUND_TRIP = "(round trip)"


async def round_trips(client, n: int) -> list[float]:
    """The protocol's own cost: a hover where there is nothing to say, n times."""
    uri = (ROOT / "round_trip.ae").as_uri()
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(
        lsp.TextDocumentItem(uri=uri, language_id="aespec", version=0, text="\n")))
    times = []
    for _ in range(n):
        start = time.perf_counter()
        await client.text_document_hover_async(lsp.HoverParams(
            lsp.TextDocumentIdentifier(uri=uri), lsp.Position(0, 0)))
        times.append((time.perf_counter() - start) * 1000)
    return times


def in_process(repeat: int = 3) -> list[float]:
    """`analyse` (what the server runs on a change) called directly, for comparison."""
    from aespec.lsp.document import analyse

    sources = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "specs").glob("*.ae"))]
    analyse(sources[0])
    times = []
    for source in sources * repeat:
        start = time.perf_counter()
        analyse(source)
        times.append((time.perf_counter() - start) * 1000)
    return times


async def run(changes: int) -> dict[str, list[float]]:
    client = make_test_lsp_client()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    await client.start_io(sys.executable, "-m", "aespec", "lsp", env=env)
    await client.initialize_session(lsp.InitializeParams(
        capabilities=client_capabilities("visual-studio-code")))
    specs = sorted((ROOT / "specs").glob("*.ae"))
    await time_spec(client, specs[-1], 4)  # warm-up, not counted (see the report)
    results = {}
    for path in specs:
        results[path.name] = await time_spec(client, path, changes)
    results[ROUND_TRIP] = await round_trips(client, changes * 10)
    await client.shutdown_session()
    await client.stop()
    return results


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def report(results: dict[str, list[float]], changes: int) -> str:
    trips = results.pop(ROUND_TRIP)
    local = in_process()
    every = [t for ts in results.values() for t in ts]
    rows = "\n".join(f"| `{name}` | {statistics.median(ts):.1f} | {p90(ts):.1f} | {max(ts):.1f} |"
                     for name, ts in results.items())
    within = sum(t <= GOAL_MS for t in every)
    return f"""# `aespec lsp`: from a change to its diagnostics

`PYTHONPATH=. python bench/lsp_latency.py --changes {changes}`: one server process over stdio
(`python -m aespec lsp`) and pytest-lsp's client. For each spec in `specs/`, {changes}
`didChange` notifications (the whole text; alternately a comment added and an op misspelt,
an E201), each timed from sending it to receiving the `publishDiagnostics` of its version.
Each change runs the whole front end (`check_source`: parse, resolve, graph, checks).
Four changes to one spec go first, untimed: the first messages of each kind cost both
processes a one-time setup (their converters), up to about 60 ms on this machine.

- all {len(every)} changes: median **{statistics.median(every):.1f} ms**, p90
  **{p90(every):.1f} ms**, max **{max(every):.1f} ms**; {within} of {len(every)} within the
  {GOAL_MS:.0f} ms goal
- the protocol alone (a hover that answers nothing, {len(trips)} times): median
  {statistics.median(trips):.1f} ms, p90 {p90(trips):.1f} ms
- the server's work on a change (`aespec.lsp.document.analyse` called in-process on each
  spec): median {statistics.median(local):.1f} ms, p90 {p90(local):.1f} ms, max
  {max(local):.1f} ms

Machine: {platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} CPUs
shared with other work (load average {os.getloadavg()[0]:.2f} when measured), so the
spread is mostly the neighbours'.

| spec | median ms | p90 ms | max ms |
|---|---|---|---|
{rows}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--out", default=str(ROOT / "bench" / "LSP.md"))
    args = parser.parse_args()
    results = asyncio.run(run(args.changes))
    text = report(results, args.changes)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
