"""A run directory read back as the plain data of its page, and `report.html` written.

    >>> path = write_run_page("runs/tiny")        # runs/tiny/report.html

The report stage builds the HTML (`aespec.report.page`) from a `RunPage`; this module
reads one from the files a run wrote (run.json, metrics.jsonl, the spec, report/*.png)
and draws the diagram with `dot` (a note on the page when graphviz is missing). It loads
no model, so a page costs a few tens of milliseconds and works for a failed run too.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

from aespec.draw.dot import INSTALL_HINT, GraphvizMissingError, RenderError, to_svg
from aespec.errors import AespecError
from aespec.graph import check_source
from aespec.graph.summary import objective_text
from aespec.model import Spec
from aespec.report.page import RunPage, run_page, setting_text
from aespec.train.rundir import RunDir, atomic_write, cannot_write

PAGE = "report.html"


def read_metrics(run: RunDir) -> list[dict[str, Any]]:
    """metrics.jsonl's records; a torn last line (a run killed while writing) is left out,
    any other line that is not a JSON object is E610."""
    try:
        text = run.metrics.read_text(encoding="utf-8") if run.metrics.is_file() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise AespecError.of("E610", f"cannot read {run.metrics}: {exc}",
                             file=str(run.metrics)) from None
    lines = text.split("\n")
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line) if line.strip() else None
        except ValueError:
            record = "torn" if number == len(lines) else "bad"
        if record == "torn" or record is None:
            continue
        if not isinstance(record, dict) or not isinstance(record.get("epoch"), int):
            raise AespecError.of("E610", f"{run.metrics}:{number}: not an epoch's record",
                                 file=str(run.metrics),
                                 hint="the file was changed or written by something else")
        records.append(record)
    return records


def _figures(run: RunDir) -> list[tuple[str, bytes]]:
    """The report block's PNGs, in the block's order (report.json), else by name."""
    named: list[str] = []
    try:
        summary = json.loads((run.path / "report.json").read_text(encoding="utf-8"))
        named = [v["file"] for v in summary.values()
                 if isinstance(v, dict) and str(v.get("file", "")).endswith(".png")]
    except (OSError, ValueError, AttributeError):
        pass
    found = sorted(str(p.relative_to(run.path)) for p in (run.path / "report").glob("*.png"))
    order = [n for n in named if n in found] + [n for n in found if n not in named]
    return [(name, (run.path / name).read_bytes()) for name in order]


def _diagram(graph: Any, spec: Spec) -> tuple[str | None, str]:
    try:
        return to_svg(graph, spec), ""
    except GraphvizMissingError:
        return None, f"No diagram: graphviz's `dot` was not found ({INSTALL_HINT})."
    except (RenderError, OSError) as exc:
        return None, f"No diagram: `dot` failed ({exc})."


def _report_items(meaning: dict[str, Any]) -> list[str]:
    report = meaning.get("report") or {}
    items = [f"{k}({setting_text(v)})" if v else k for k, v in (report.get("items") or {}).items()]
    return items + ([f"baseline {report['baseline']}"] if report.get("baseline") else [])


def _info_rows(info: dict[str, Any]) -> list[tuple[str, str]]:
    seconds = info.get("seconds")
    rows = [("status", str(info.get("status", "unknown"))),
            ("data", str(info.get("data_description") or info.get("data", ""))),
            ("device", str(info.get("device", "")) + (
                f" ({', '.join(info['notes'])})" if info.get("notes") else "")),
            ("parameters", f"{info['params']:,}" if isinstance(info.get("params"), int) else ""),
            ("started", str(info.get("started", ""))), ("ended", str(info.get("finished", ""))),
            ("time", f"{seconds:.1f} s" if isinstance(seconds, (int, float)) else ""),
            ("python", str(info.get("python") or "not recorded")),
            ("torch", str(info.get("torch", ""))), ("aespec", str(info.get("aespec", "")))]
    return [(k, v) for k, v in rows if v]


def read_run_page(path: str | pathlib.Path, checked: tuple[Spec, Any] | None = None) -> RunPage:
    """The page data of a run directory (E603 when it is not one). `checked`: the run's
    spec and graph when the caller has them (a run that just ended), else the spec is
    checked again from the run's own copy and overrides."""
    run = RunDir(pathlib.Path(path))
    info = run.info()
    source, name = run.source()
    history = read_metrics(run)
    if checked is None:
        result = check_source(source, info.get("spec_path") or str(run.path / name),
                              info["overrides"])
        if result.ok and result.spec is not None and result.graph is not None:
            checked = (result.spec, result.graph)
    spec, graph = checked if checked is not None else (None, None)
    svg, note = _diagram(graph, spec) if spec is not None else (
        None, "No diagram: the run's spec no longer checks.")
    meaning = spec.semantic() if spec is not None else {}
    test = info["test"] if isinstance(info.get("test"), dict) else {}
    return RunPage(
        name=str(info.get("name") or (spec.name if spec else run.path.name)),
        run_dir=str(run.path), status=str(info.get("status", "unknown")),
        doc=spec.doc if spec else None, error=info.get("error"), history=history,
        best_epoch=info.get("best_epoch"), epochs=spec.train.epochs if spec else None,
        test=test, figures=_figures(run), diagram_svg=svg, diagram_note=note,
        objective=objective_text(graph) if graph is not None else "", source=source,
        spec_file=name, settings=meaning.get("train") or {}, report_items=_report_items(meaning),
        overrides=list(info.get("overrides") or []), info=_info_rows(info))


def write_run_page(path: str | pathlib.Path, out: str | pathlib.Path | None = None,
                   checked: tuple[Spec, Any] | None = None) -> pathlib.Path:
    """Write the run's page (default RUN_DIR/report.html); E606 when it cannot be written."""
    html = run_page(read_run_page(path, checked))
    target = pathlib.Path(out) if out is not None else pathlib.Path(path) / PAGE
    try:
        atomic_write(target, lambda fh: fh.write(html.encode("utf-8")))
    except OSError as exc:
        raise cannot_write(target, exc) from None
    return target
