"""report.html and compare.html as a browser sees them (issue 10): two tiny runs on the
digits that differ by an override, their pages built by `aespec report` and `aespec
compare`, opened in headless Chromium. Every <img> must load (naturalWidth > 0), the
console must stay quiet and nothing may overflow the width; screenshots are kept (printed
paths; also copied to $AESPEC_ARTIFACTS when set)."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

import aespec
from aespec.cli import app

pytestmark = pytest.mark.slow
runner = CliRunner()
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

SPEC = """model digits_ae "A small dense autoencoder on the 8x8 digits"
data digits
input vector(64)
encoder {
    dense(24) relu
}
bottleneck {
    dense(6)
}
decoder mirror
loss mse
train {
    epochs 2
    seed 1
}
report {
    reconstructions(n=8)
}
"""

# Appended to a copy of a page: a control image that cannot load and a console message,
# so that the check itself is seen to work; then, once the page has loaded, what it found.
PROBE = """<img id="aespec-control" alt="aespec-control" src="data:image/png;base64,AAAA">
<script>
console.error("aespec-control");
window.addEventListener("load", () => {
  const images = [...document.images];
  const out = document.createElement("pre");
  out.id = "aespec-check";
  out.textContent = JSON.stringify({
    images: images.length,
    bad: images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt),
    overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth});
  document.body.appendChild(out);
});
</script>"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """Two runs (the second with a larger learning rate, by `aespec run --tensorboard`) and
    their pages."""
    root = tmp_path_factory.mktemp("pages")
    (root / "digits_ae.ae").write_text(SPEC)
    aespec.train(root / "digits_ae.ae", out=root / "base", quiet=True)
    done = runner.invoke(app, ["run", str(root / "digits_ae.ae"), "--out", str(root / "fast"),
                               "--set", "train.optimizer=adam(lr=1e-2)", "--tensorboard"])
    assert done.exit_code == 0, done.output
    assert f"page: {root / 'fast' / 'report.html'}" in done.output
    assert list((root / "fast" / "tensorboard").glob("events.out.tfevents.*"))
    done = runner.invoke(app, ["report", str(root / "base"), "-o", str(root / "report.html")])
    assert done.exit_code == 0, done.output
    done = runner.invoke(app, ["compare", str(root / "base"), str(root / "fast"), "-o",
                               str(root / "compare.html"), "--device", "cpu"])
    assert done.exit_code == 0, done.output
    return root


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=60, check=False)


def _check_in_browser(page: Path, tmp: Path) -> dict:
    """What the probe found in the page and the console lines Chromium logged; screenshots
    at 1366x900 (a laptop; the same launch) and 1920x1080 (a projector)."""
    probed = tmp / f"probe-{page.name}"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    shots = [tmp / f"{page.stem}-{size}.png" for size in ("1366x900", "1920x1080")]
    done = _chromium("--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
                     "--window-size=1366,900", "--dump-dom", f"--screenshot={shots[0]}",
                     probed.as_uri(), profile=tmp / "profile-check")
    found = re.search(r'<pre id="aespec-check">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stderr[-2000:]
    result = json.loads(html.unescape(found.group(1)))
    result["console"] = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    _chromium(f"--screenshot={shots[1]}", "--window-size=1920,1080", page.as_uri(),
              profile=tmp / "profile-shot")
    for shot in shots:
        assert shot.is_file() and shot.stat().st_size > 10_000
    if os.environ.get("AESPEC_ARTIFACTS"):
        keep = Path(__file__).resolve().parents[1] / "test-artifacts"
        keep.mkdir(exist_ok=True)
        shots += [Path(shutil.copy(s, keep / s.name)) for s in list(shots)]
    print("screenshots:", *map(str, shots))
    return result


def _self_contained(text: str) -> None:
    """Nothing fetched: no script, style sheet, font or image from anywhere else."""
    assert "<script" not in text and "<link" not in text and "@import" not in text
    assert not re.search(r'(src|href)="(?!data:)', text)
    assert "url(" not in text


def test_the_run_page_has_everything_and_loads_in_a_browser(pages, tmp_path):
    page = pages / "report.html"
    text = page.read_text()
    _self_contained(text)
    assert text == (pages / "base" / "report.html").read_text()  # rebuilt the same
    for part in ("digits_ae", "finished", "Metrics", "validation", "best epoch",
                 "Loss curves", "report/reconstructions.png", "architecture diagram",
                 "L = MSE(x, x̂)", "adam(lr=0.001", "torch", "python", "aespec"):
        assert part in text, part
    assert text.count('<svg class="chart"') == 2  # loss and mse
    first = re.search(r'src="data:image/png;base64,([^"]+)"', text)
    assert first and base64.b64decode(first.group(1)).startswith(b"\x89PNG")
    assert "<span" in text.split("Spec")[-1]  # the source is coloured
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    seen = _check_in_browser(page, tmp_path)
    assert seen["images"] == 3 and seen["bad"] == ["aespec-control"]  # figure, diagram
    assert seen["overflow"] <= 0
    assert [c for c in seen["console"] if "aespec-control" not in c] == []
    assert any("aespec-control" in c for c in seen["console"])  # the console is watched


def test_the_compare_page_shows_what_differs_and_the_same_reconstructions(pages, tmp_path):
    page = pages / "compare.html"
    text = page.read_text()
    _self_contained(text)
    assert "2 runs compared" in text and "--set train.optimizer" in text
    assert "adam(lr=1e-2)" in text and "(not set)" in text
    assert "The spec files are the same in every run" in text  # only the override differs
    assert text.count('<svg class="chart"') == 2  # loss and mse, both runs on each
    assert "The same 8 test examples" in text
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    seen = _check_in_browser(page, tmp_path)
    assert seen["images"] == 4 and seen["bad"] == ["aespec-control"]  # grid, two diagrams
    assert seen["overflow"] <= 0
    assert [c for c in seen["console"] if "aespec-control" not in c] == []


GAN_SPEC = """model tiny_gan "A tiny GAN on the 8x8 digits"
data digits
input vector(64)
latent normal(8)
decoder {
    dense(32) relu
    dense(64) sigmoid
}
discriminator {
    dense(32) leaky_relu(0.2)
    dense(1)
}
loss adversarial(wasserstein, gradient_penalty=10)
train {
    epochs 3
    batch 64
    seed 0
}
report {
    sample_quality(n=200)
}
"""


def test_a_gan_run_page_charts_the_game_and_loads_in_a_browser(tmp_path):
    (tmp_path / "gan.ae").write_text(GAN_SPEC)
    run = aespec.train(tmp_path / "gan.ae", out=tmp_path / "gan", quiet=True)
    page = tmp_path / "gan" / "report.html"
    text = html.unescape(page.read_text())
    _self_contained(text)
    charts = re.findall(r'<svg class="chart".*?<title>(.*?)</title>', text)
    assert charts == ["generator and discriminator loss", "D(x) and D(G(z))",
                      "Fréchet distance of the samples", "critic's Wasserstein estimate",
                      "gradient penalty"]
    for legend in ("discriminator", "generator", "D(x), real", "D(G(z)), generated"):
        assert f">{legend}</text>" in text, legend
    assert text.count(">best</text>") == 5 and run.best_epoch is not None
    for part in ("Training curves", "<td>D(G(z))</td>", "val.frechet_distance",
                 f'<th class="num">epoch {run.best_epoch}</th>', "A GAN has no test loss",
                 "report/sample_strip.png", "report/sample_quality.png"):
        assert part in text, part
    assert "did not finish" not in text and "Loss curves" not in text
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    seen = _check_in_browser(page, tmp_path)
    assert seen["images"] == 4 and seen["bad"] == ["aespec-control"]  # 2 figures, diagram
    assert seen["overflow"] <= 0
    assert [c for c in seen["console"] if "aespec-control" not in c] == []


def test_a_directory_that_is_not_a_run_is_an_error_not_a_traceback(pages, tmp_path):
    done = runner.invoke(app, ["compare", str(pages / "base"), str(tmp_path)])
    assert done.exit_code == 1 and "error[E603]" in done.output
    assert "Traceback" not in done.output and isinstance(done.exception, SystemExit)
    done = runner.invoke(app, ["compare", str(pages / "base"), str(pages / "base")])
    assert done.exit_code == 1 and "error[E611]" in done.output
    done = runner.invoke(app, ["report", str(tmp_path)])
    assert done.exit_code == 1 and "error[E603]" in done.output
