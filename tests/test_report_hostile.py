"""report.html and compare.html built from run folders someone else made: every string
they hold is text on the page (parsed here, and opened in headless Chromium), no file
outside the folder is shown, nothing read hangs or is read whole, and nothing is fetched."""

from __future__ import annotations

import base64
import contextlib
import html
import json
import os
import re
import shutil
import signal
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aespec.cli import app
from aespec.report.charts import Series, line_chart
from aespec.report.page import fmt

runner = CliRunner()
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

PAYLOADS = ["<script>window.__x=1</script>", '"><img src=x onerror="window.__x=1">',
            "</style><script>window.__x=1</script>", "javascript:window.__x=1",
            "'><svg onload=window.__x=1>", "<a href=https://evil.example/>x</a>",
            "</title><iframe src=https://evil.example/>"]
EVIL = "|".join(PAYLOADS)  # one string that holds every payload

# a doc without double quotes (a spec's string) and a comment with them
SPEC = """# "><img src=x onerror="window.__x=1"> </style><script>window.__x=1</script>
model tiny "</style><script>window.__x=1</script> <img src=x onerror=window.__x=1>"
data digits
input vector(64)
encoder {
    dense(8) relu
}
bottleneck {
    dense(2)
}
decoder mirror
loss mse
"""

# the page's own markup: any other tag was put there by a value
OWN_TAGS = {"html", "head", "meta", "title", "style", "body", "main", "header", "h1", "h2",
            "h3", "p", "span", "table", "thead", "tbody", "tr", "th", "td", "b", "div", "svg",
            "text", "line", "rect", "polyline", "circle", "figure", "img", "figcaption", "pre",
            "ul", "li"}


def png(width: int = 1) -> bytes:
    """A real PNG: `width` x 1 grey pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    head = width.to_bytes(4, "big") + (1).to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    pixels = zlib.compress(b"\x00" + b"\x80" * width)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", pixels)
            + chunk(b"IEND", b""))


def hostile_run(root: Path, name: str, overrides: list, spec_path: object = EVIL) -> Path:
    """A run folder whose every string (and metric name) holds the payloads; its figures
    are a real PNG with a payload for a name, and a PNG that is text."""
    run = root / name
    (run / "report").mkdir(parents=True)
    (run / "tiny.ae").write_text(SPEC)
    info = {"name": EVIL, "status": EVIL, "error": EVIL, "spec_file": "tiny.ae",
            "overrides": overrides, "data": {"name": EVIL}, "base_dir": EVIL,
            "data_description": EVIL, "device": EVIL, "notes": [EVIL, 7], "params": EVIL,
            "spec_path": spec_path,
            "started": EVIL, "finished": EVIL, "seconds": EVIL, "python": EVIL,
            "torch": EVIL, "aespec": EVIL, "best_epoch": EVIL,
            "test": {EVIL: EVIL, "loss": "NaN", "mse": {"nested": [EVIL]}}}
    (run / "run.json").write_text(json.dumps(info))
    records = [{"epoch": 1, "train": {"loss": 1e308, EVIL: EVIL, "mse": 5e-324},
                "val": {"loss": -1e308, EVIL: [EVIL], "mse": 0}},
               {"epoch": 2, "train": {"loss": float("nan"), EVIL: {"a": EVIL}, "mse": 10**300},
                "val": EVIL},
               {"epoch": 3, "train": [EVIL], "val": {"loss": 2.5, "mse": float("inf")}}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (run / "report" / f"{PAYLOADS[1].replace('/', '')}.png").write_bytes(png())
    (run / "report" / "text.png").write_text(EVIL)
    (run / "report.json").write_text(json.dumps({EVIL: {"file": "../../etc/passwd.png"}}))
    return run


class Tags(HTMLParser):
    """Every tag and attribute of a page, and its text."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data) -> None:
        self.text.append(data)


def assert_only_own_markup(page: str, *, probe: bool = False, shown: bool = True) -> str:
    """No tag, attribute or address a value put there; the payloads shown as text."""
    found = Tags(page)
    assert {tag for tag, _ in found.tags} <= OWN_TAGS | ({"script"} if probe else set())
    assert sum(tag == "script" for tag, _ in found.tags) == int(probe)
    assert sum(tag == "style" for tag, _ in found.tags) == 1
    for tag, attrs in found.tags:
        assert not [a for a in attrs if a.startswith("on") or a == "href"], (tag, attrs)
        if tag == "img":
            assert re.fullmatch(r"data:image/(png|svg\+xml);base64,[A-Za-z0-9+/=]+",
                                attrs["src"] or ""), attrs["src"][:80]
    assert "url(" not in page and "@import" not in page
    text = "".join(found.text)
    for payload in PAYLOADS[:2] if shown else ():
        assert payload in text  # shown as text, whole
    return text


@contextlib.contextmanager
def deadline(seconds: int):
    """TimeoutError when the body takes longer (a read that blocks, a file read whole)."""
    def stop(*_):
        raise TimeoutError(f"took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def report(run: Path, out: Path) -> tuple[int, str, str]:
    with deadline(60):
        done = CliRunner().invoke(app, ["report", str(run), "-o", str(out)])
    assert "Traceback" not in done.output and not isinstance(done.exception, TimeoutError)
    assert done.exception is None or isinstance(done.exception, SystemExit), done.exception
    return done.exit_code, done.stdout, done.stderr


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> Path:
    """report.html of two hostile runs, and compare.html of both."""
    root = tmp_path_factory.mktemp("hostile")
    a = hostile_run(root, "a", [f"z={EVIL}", 7, {"x": EVIL}])
    b = hostile_run(root, f"b{PAYLOADS[0].replace('/', '')}", [], spec_path=7)
    for run, name in ((a, "a.html"), (b, "b.html")):
        code, _, err = report(run, root / name)
        assert code == 0, err
    with deadline(120):
        done = CliRunner().invoke(app, ["compare", str(a), str(b), "-o",
                                        str(root / "compare.html"), "--device", "cpu"])
    assert done.exit_code == 0 and "Traceback" not in done.output, done.output
    return root


def test_regression_pages_run_script_from_run_folder_values(pages) -> None:
    for name in ("a.html", "b.html", "compare.html"):
        page = (pages / name).read_text()
        text = assert_only_own_markup(page)
        assert "window.__x=1" in text
    b = (pages / "b.html").read_text()
    assert "<span" in b.split("<h2>Spec")[-1]  # the spec checks: coloured, escaped
    assert "architecture diagram" in b and '<svg class="chart"' in b
    assert 'class="status unknown"' in b  # a status aespec does not write: grey, no class


def test_regression_pages_run_script_in_a_browser(pages, tmp_path) -> None:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    probe = ('<script>window.addEventListener("load", () => { const p = '
             'document.createElement("pre"); p.id = "probe"; p.textContent = JSON.stringify('
             '{x: String(window.__x), shown: document.body.innerText.includes('
             + json.dumps(PAYLOADS[0]).replace("</", "<\\/")  # not the end of this script
             + ")}); document.body.appendChild(p); });</script>")
    for name in ("a.html", "compare.html"):
        copy = tmp_path / name
        copy.write_text((pages / name).read_text().replace("</body>", probe + "</body>"))
        done = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000",
             "--dump-dom", copy.as_uri()], capture_output=True, text=True, timeout=90,
            check=False)
        found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
        assert found, done.stderr[-2000:]
        assert json.loads(html.unescape(found.group(1))) == {"x": "undefined", "shown": True}
        assert_only_own_markup(done.stdout.replace(found.group(0), ""), probe=True)


def test_regression_page_references_outside_resources(pages) -> None:
    """No address in any attribute but the SVG namespace and the page's own data: URIs."""
    for name in ("a.html", "b.html", "compare.html"):
        for tag, attrs in Tags((pages / name).read_text()).tags:
            for key, value in attrs.items():
                value = (value or "").strip().lower()
                assert "javascript:" not in value and "evil.example" not in value, (tag, key)
                assert "://" not in value or (key, value) == ("xmlns",
                                                             "http://www.w3.org/2000/svg")


def test_regression_files_leak_through_a_figure_that_is_a_link(tmp_path) -> None:
    run = hostile_run(tmp_path, "run", [])
    outside = tmp_path / "secret.png"
    outside.write_bytes(png(3))
    (run / "report" / "x.png").symlink_to("/etc/passwd")
    (run / "report" / "y.png").symlink_to(outside)
    code, _, err = report(run, tmp_path / "page.html")
    page = (tmp_path / "page.html").read_text()
    assert code == 0
    shown = [base64.b64decode(s) for s in re.findall(r"data:image/png;base64,([^\"]+)", page)]
    assert shown == [png()]  # the one real PNG inside the folder
    for name in ("report/x.png", "report/y.png", "report/text.png"):
        assert f"{name} is left out" in page and f"warning[E621]: {name}" in err
    # a linked report folder: nothing in it is shown
    shutil.rmtree(run / "report")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "z.png").write_bytes(png(5))
    (run / "report").symlink_to(elsewhere)
    code, _, err = report(run, tmp_path / "page.html")
    assert code == 0 and "image/png" not in (tmp_path / "page.html").read_text()
    assert "warning[E621]" in err and "link" in err


def _sparse(path: Path, size: int = 2**30, head: bytes = b"") -> None:
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(size)


def test_regression_unbounded_reads_and_hangs_fifo_sparse_directory_figures(tmp_path) -> None:
    run = hostile_run(tmp_path, "run", [])
    os.mkfifo(run / "report" / "fifo.png")
    _sparse(run / "report" / "big.png", head=png())
    (run / "report" / "dir.png").mkdir()
    code, _, err = report(run, tmp_path / "page.html")
    page = (tmp_path / "page.html").read_text()
    assert code == 0, err
    for name, why in (("fifo.png", "a FIFO"), ("big.png", "larger than 32 MiB"),
                      ("dir.png", "a directory")):
        assert f"report/{name} is left out of the page: it is {why}" in page, name
        assert f"warning[E621]: report/{name}" in err


@pytest.mark.parametrize("name", ["run.json", "tiny.ae", "metrics.jsonl"])
@pytest.mark.parametrize("kind", ["fifo", "directory", "link"])
def test_regression_unbounded_reads_and_hangs_in_the_run_files(tmp_path, name, kind) -> None:
    run = hostile_run(tmp_path, "run", [])
    (run / name).unlink()
    if kind == "fifo":
        os.mkfifo(run / name)
    elif kind == "directory":
        (run / name).mkdir()
    else:
        (run / name).symlink_to("/etc/passwd")
    code, _, err = report(run, tmp_path / "page.html")
    assert code == 1 and f"error[{'E610' if name == 'metrics.jsonl' else 'E620'}]" in err
    assert name in err and not (tmp_path / "page.html").exists()


def test_regression_unbounded_reads_a_huge_run_json_or_spec_is_refused(tmp_path) -> None:
    for name in ("run.json", "tiny.ae"):
        run = hostile_run(tmp_path / name, "run", [])
        _sparse(run / name)
        code, _, err = report(run, tmp_path / "page.html")
        assert code == 1 and "error[E620]" in err and "larger than" in err


def test_regression_unbounded_reads_a_huge_metrics_file_is_cut(tmp_path) -> None:
    run = hostile_run(tmp_path, "run", [])
    head = (run / "metrics.jsonl").read_bytes()
    _sparse(run / "metrics.jsonl", head=head)  # three records, then a GiB of NUL bytes
    code, _, err = report(run, tmp_path / "page.html")
    assert code == 0, err
    assert "metrics.jsonl is cut: the page shows its first 3 epochs" in err
    page = (tmp_path / "page.html").read_text()
    assert "3 of 10 epochs run" in page and "metrics.jsonl is cut" in page


def test_regression_crafted_metric_values_draw_and_format_without_a_traceback() -> None:
    values = [1e308, -1e308, 5e-324, 0.0, float("nan"), float("inf"), 10**300]
    xs = [1e300, -1e308, 0, 1, 2, float("nan"), 3]
    chart = line_chart(EVIL, [Series(EVIL, xs, [float(v) for v in values], "x\"><b")],
                       marker=1e308)
    assert_only_own_markup(f"<style></style>{chart}", shown=False)
    assert 'stroke="x' not in chart  # a colour is one of the page's own
    for value in (*values, EVIL, {"a": [EVIL]}, [EVIL], None, True, "NaN"):
        assert "<" not in fmt(value) and '"' not in fmt(value)


def test_regression_a_nul_in_run_json_spec_file_raised_value_error(tmp_path) -> None:
    run = hostile_run(tmp_path, "run", [])
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "spec_file": "x\x00.ae"}))
    code, _, err = report(run, tmp_path / "page.html")
    assert code == 1 and "error[E620]" in err and "Traceback" not in err


@pytest.mark.parametrize("name", ["1" * 5000, "\ud800.ae"])
def test_regression_a_spec_file_name_too_long_or_unencodable_raised_oserror(tmp_path, name):
    run = hostile_run(tmp_path, "run", [])
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "spec_file": name}))
    code, _, err = report(run, tmp_path / "page.html")
    assert code == 1 and "error[E620]" in err and "Traceback" not in err
