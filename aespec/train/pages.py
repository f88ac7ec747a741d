"""A run directory read back as the plain data of its page, and `report.html` written.

    >>> path = write_run_page("runs/tiny")        # runs/tiny/report.html

The report stage builds the HTML (`aespec.report.page`) from a `RunPage`; this module
reads one from the files a run wrote (run.json, metrics.jsonl, the spec, report/*.png)
through `aespec.report.runfiles` (a run folder may come from anyone: only regular files
inside it, each read up to a limit), and draws the diagram with `dot` (a note on the page
when graphviz is missing). It loads no model, so a page costs a few tens of milliseconds
and works for a failed run too.
"""

from __future__ import annotations

import pathlib
from typing import Any

from aespec.draw.dot import INSTALL_HINT, GraphvizMissingError, RenderError, to_svg
from aespec.graph import IR, check_source
from aespec.graph.summary import objective_text
from aespec.model import Spec
from aespec.report import runfiles
from aespec.report.page import RunPage, run_page, setting_text
from aespec.train.rundir import RunDir, atomic_write, cannot_write

PAGE = "report.html"


def _diagram(graph: IR, spec: Spec) -> tuple[str | None, str]:
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
                f" ({', '.join(map(str, notes))})" if isinstance(notes := info.get("notes"),
                                                             list) and notes else "")),
            ("parameters", f"{info['params']:,}" if isinstance(info.get("params"), int) else ""),
            ("started", str(info.get("started", ""))), ("ended", str(info.get("finished", ""))),
            ("time", f"{seconds:.1f} s" if isinstance(seconds, (int, float)) else ""),
            ("python", str(info.get("python") or "not recorded")),
            ("torch", str(info.get("torch", ""))), ("aespec", str(info.get("aespec", "")))]
    return [(k, v) for k, v in rows if v]


def read_run_page(path: str | pathlib.Path, checked: tuple[Spec, IR] | None = None) -> RunPage:
    """The page data of a run directory (E603 when it is not one). `checked`: the run's
    spec and graph when the caller has them (a run that just ended), else the spec is
    checked again from the run's own copy and overrides."""
    run = RunDir(pathlib.Path(path))
    runfiles.check_run_folder(run.path)  # E620: run.json or the spec is a link, a FIFO...
    info = run.info()
    source, name = run.source()
    history, cut = runfiles.read_metrics(run.metrics)
    figures, left_out = runfiles.read_figures(run.path)
    report, unread = runfiles.read_report(run.path)
    if checked is None:
        where = info.get("spec_path")
        result = check_source(source, where if isinstance(where, str) and where
                              else str(run.path / name), [str(o) for o in info["overrides"]])
        if result.ok and result.spec is not None and result.ir is not None:
            checked = (result.spec, result.ir)
    spec, graph = checked if checked is not None else (None, None)
    svg, note = _diagram(checked[1], checked[0]) if checked is not None else (
        None, "No diagram: the run's spec no longer checks.")
    meaning = spec.semantic() if spec is not None else {}
    test = info["test"] if isinstance(info.get("test"), dict) else {}
    return RunPage(
        name=str(info.get("name") or (spec.name if spec else run.path.name)),
        run_dir=str(run.path), status=str(info.get("status", "unknown")),
        doc=spec.doc if spec else None, error=info.get("error"), history=history,
        best_epoch=info.get("best_epoch"), epochs=spec.total_epochs if spec else None,
        test=test, figures=figures, diagram_svg=svg, diagram_note=note,
        objective=objective_text(graph) if graph is not None else "", source=source,
        spec_file=name, settings=meaning.get("train") or {}, report_items=_report_items(meaning),
        overrides=list(info.get("overrides") or []), info=_info_rows(info),
        notes=cut + left_out + unread, report=report, **_achieved(info))


def _achieved(info: dict[str, Any]) -> dict[str, Any]:
    """run.json's references, clean-input test and warnings, where they are dicts/lists."""
    found = {"references": info.get("references"), "test_clean": info.get("test_clean"),
             "warnings": info.get("warnings")}
    kinds = {"references": dict, "test_clean": dict, "warnings": list}
    return {k: v for k, v in found.items() if isinstance(v, kinds[k])}


def write_run_page(path: str | pathlib.Path, out: str | pathlib.Path | None = None,
                   checked: tuple[Spec, IR] | None = None) -> pathlib.Path:
    """Write the run's page (default RUN_DIR/report.html); E606 when it cannot be written."""
    html = run_page(read_run_page(path, checked))
    target = pathlib.Path(out) if out is not None else pathlib.Path(path) / PAGE
    try:
        atomic_write(target, lambda fh: fh.write(html.encode("utf-8")))
    except OSError as exc:
        raise cannot_write(target, exc) from None
    return target
