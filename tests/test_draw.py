"""`aespec draw`: golden DOT text, every spec through the real `dot`, and the command.

Golden files live in tests/golden/; after a deliberate change to the drawing, accept the
new text with `pytest tests/test_draw.py --update-golden` (or AESPEC_UPDATE_GOLDEN=1) and
review the diff.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import aespec
from aespec.cli import app
from aespec.draw import dot as draw
from aespec.draw import labels as drawing_labels
from aespec.draw.dot import group_ops, to_dot
from aespec.graph.frontend import CheckResult, check_file
from aespec.ops import REGISTRY
from aespec.ops.styles import STYLES

TESTS = Path(__file__).parent
ROOT = TESTS.parent
GOLDEN = TESTS / "golden"
VALID = TESTS / "conformance" / "valid"
SPECS = sorted((ROOT / "specs").glob("*.ae"))
EVERY_SPEC = SPECS + sorted(VALID.glob("*.ae"))

# golden name -> (conformance case, rankdir, detail): noise, skips, a latent, penalties,
# tied weights, a 1-D conv, each detail and direction
GOLDEN_CASES = {
    "denoising_conv": ("denoising_conv", "TB", "ops"),
    "unet_skip": ("unet_skip", "TB", "ops"),
    "unet_skip_lr": ("unet_skip", "LR", "ops"),
    "vae_fc": ("vae_fc", "TB", "ops"),
    "noise_and_penalties": ("noise_and_penalties", "TB", "ops"),
    "noise_and_penalties_blocks": ("noise_and_penalties", "TB", "blocks"),
    "mirror_tied": ("mirror_tied", "TB", "ops"),
    "beta_vae_conv_blocks": ("beta_vae_conv", "TB", "blocks"),
    "strided_batchnorm": ("strided_batchnorm", "TB", "ops"),
}

needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="graphviz's dot is not installed (make dot)")
runner = CliRunner()


def checked(path: Path) -> CheckResult:
    result = check_file(path)
    assert result.ok and result.ir is not None, [d.message for d in result.diagnostics]
    return result


def dot_of(name: str, rankdir: str = "TB", detail: str = "ops") -> str:
    result = checked(VALID / f"{name}.ae")
    return to_dot(result.ir, result.spec, rankdir, detail)


def edges(text: str) -> list[str]:
    return [line for line in text.splitlines() if " -> " in line]


# ---------------------------------------------------------------- DOT text


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_dot_matches_golden(name: str, request: pytest.FixtureRequest) -> None:
    text = dot_of(*GOLDEN_CASES[name])
    path = GOLDEN / f"{name}.dot"
    if request.config.getoption("--update-golden") or os.environ.get("AESPEC_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}: run pytest --update-golden"
    assert text == path.read_text(encoding="utf-8"), (
        f"DOT of {name} changed; if deliberate, run pytest --update-golden and review the diff")


def test_dot_is_deterministic_and_has_no_paths() -> None:
    first, second = dot_of("denoising_conv"), dot_of("denoising_conv")
    assert first == second
    assert str(ROOT) not in first and "/work" not in first


@pytest.mark.parametrize("path", EVERY_SPEC, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_edge_is_labelled_and_every_box_shows_its_parameters(path: Path) -> None:
    result = checked(path)
    g = result.ir
    for rankdir in ("TB", "LR"):
        text = to_dot(g, result.spec, rankdir)
        for line in edges(text):
            assert "label=" in line or 'style="invis"' in line, line
    text = to_dot(g, result.spec)
    for box in group_ops(g):
        params = sum(g.nodes[n].params for n in box.members)
        if params:
            assert f"{params:,} param" in text, box
    assert f"{g.params:,} parameters" in text


def test_activation_is_merged_into_its_layer_and_shape_ops_stand_alone() -> None:
    text = dot_of("denoising_conv")
    assert "<B>conv</B> 32, k=3 · <B>relu</B>" in text
    assert re.search(r'"encoder\d+" \[label=<<B>maxpool</B> 2>', text)
    assert "<B>relu</B>>" not in text  # no relu box of its own


def test_clusters_loss_and_objective() -> None:
    text = dot_of("denoising_conv")
    for block in ("noise", "encoder", "bottleneck", "decoder"):
        assert f'subgraph "cluster_{block}"' in text
    loss_edges = [e for e in edges(text) if '"loss"' in e]
    assert any("x̂" in e for e in loss_edges)  # from the decoder's output
    assert any("(target)" in e and "dashed" in e for e in loss_edges)  # from the input
    assert "L = BCE(x, x̂) + 1e-05·Σw²" in text and "185,217 parameters" in text


def test_skip_connections_are_dashed_edges() -> None:
    skips = [e for e in edges(dot_of("unet_skip")) if "concat" not in e and "dashed" in e
             and "target" not in e]
    assert len(skips) == 2
    assert any("16×28×28" in e for e in skips) and any("32×14×14" in e for e in skips)


def test_gaussian_latent_is_one_node_with_mu_log_var_sample_and_kl() -> None:
    text = dot_of("vae_fc")
    latent = next(line for line in text.splitlines() if "gaussian latent" in line)
    for part in ("μ", "log σ²", "z = μ + σ·ε"):
        assert part in latent
    kl = next(line for line in text.splitlines() if line.startswith('  "kl" ['))
    assert "<B>KL term</B>" in kl and "1.0·KL(q(z|x) ‖ N(0, I))" in kl
    assert any(e.endswith('"kl" [label=" μ, log σ²  2×20", color="#5e35b1", '
                          'fontcolor="#5e35b1"];') for e in edges(text))


def test_regularizers_attach_to_what_they_act_on() -> None:
    reg_edges = {e for e in edges(dot_of("noise_and_penalties")) if '"reg' in e}
    assert any('"reg1"' in e and "h  24" in e for e in reg_edges)  # activity_l1 on code
    assert any('"reg2"' in e and 'lhead="cluster_encoder"' in e for e in reg_edges)
    assert any('"reg3"' in e and 'lhead="cluster_decoder"' in e for e in reg_edges)


def test_blocks_detail_has_one_box_per_block() -> None:
    text = dot_of("noise_and_penalties", detail="blocks")
    assert "subgraph" not in text
    for block in ("noise", "encoder", "bottleneck", "decoder"):
        assert text.count(f'  "{block}" [label=') == 1
    assert "64 → 48 · 3,120 params" in text


def test_colours_come_only_from_the_style_table() -> None:
    for module in (draw, drawing_labels):
        source = Path(module.__file__).read_text(encoding="utf-8")
        assert not re.search(r"#[0-9a-fA-F]{6}", source), module.__name__
    for table in (REGISTRY["layer"], REGISTRY["noise"]):
        for op in table.values():
            assert (op.style or op.kind) in STYLES, op.name


def test_bad_arguments_are_refused() -> None:
    result = checked(VALID / "vae_fc.ae")
    with pytest.raises(ValueError):
        to_dot(result.ir, result.spec, rankdir="BT")


# ---------------------------------------------------------------- through the real dot


@needs_dot
@pytest.mark.parametrize("path", EVERY_SPEC, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_spec_renders_to_svg_and_png(path: Path) -> None:
    """specs/*.ae, globbed when the tests run, and the conformance cases: no dot warning."""
    result = checked(path)
    text = to_dot(result.ir, result.spec)
    for fmt, magic in (("svg", b"<?xml"), ("png", b"\x89PNG")):
        proc = subprocess.run(["dot", f"-T{fmt}"], input=text.encode(), capture_output=True,
                              check=False)
        assert proc.returncode == 0 and not proc.stderr, proc.stderr.decode()
        assert proc.stdout.startswith(magic)


@needs_dot
@pytest.mark.parametrize("rankdir,detail", [("LR", "ops"), ("TB", "blocks"), ("LR", "blocks")])
def test_other_layouts_render_without_warnings(rankdir: str, detail: str) -> None:
    for path in EVERY_SPEC:
        result = checked(path)
        proc = subprocess.run(["dot", "-Tsvg", "-o", os.devnull],
                              input=to_dot(result.ir, result.spec, rankdir, detail).encode(),
                              capture_output=True, check=False)
        assert proc.returncode == 0 and not proc.stderr, (path.name, proc.stderr.decode())


@needs_dot
def test_aespec_svg_draws_a_loaded_spec() -> None:
    svg = aespec.svg(aespec.load(VALID / "unet_skip.ae"))
    assert "<svg" in svg and "concat" in svg


def test_docs_show_every_spec() -> None:
    page = (ROOT / "docs" / "diagrams.md").read_text(encoding="utf-8")
    for path in SPECS:
        assert (ROOT / "docs" / "img" / f"{path.stem}.svg").exists(), (
            f"no diagram of {path.name}: run `python docs/make_diagrams.py`")
        assert f"(img/{path.stem}.svg)" in page


# ---------------------------------------------------------------- the command


@needs_dot
def test_draw_writes_spec_stem_svg_in_the_current_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["draw", str(VALID / "vae_fc.ae")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "vae_fc.svg").read_text().lstrip().startswith("<?xml")


@needs_dot
def test_draw_infers_the_format_from_the_suffix(tmp_path) -> None:
    out = tmp_path / "model.png"
    result = runner.invoke(app, ["draw", str(VALID / "unet_skip.ae"), "-o", str(out),
                                 "--rankdir", "LR", "--detail", "blocks"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"\x89PNG")


def test_draw_dot_format_needs_no_graphviz(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(draw.shutil, "which", lambda name: None)
    out = tmp_path / "m.dot"
    result = runner.invoke(app, ["draw", str(VALID / "vae_fc.ae"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == dot_of("vae_fc")


def test_draw_without_dot_writes_the_dot_file_and_says_how_to_install(tmp_path,
                                                                       monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = tmp_path / "m.png"
    result = runner.invoke(app, ["draw", str(VALID / "vae_fc.ae"), "-o", str(out)])
    assert result.exit_code == 1
    assert not out.exists()
    assert (tmp_path / "m.dot").read_text(encoding="utf-8") == dot_of("vae_fc")
    assert "apt-get install graphviz" in result.output
    assert "brew install graphviz" in result.output


def test_draw_an_invalid_spec_prints_what_check_prints(tmp_path) -> None:
    bad = TESTS / "conformance" / "invalid" / "concat_mismatch.ae"
    drawn = runner.invoke(app, ["draw", str(bad), "-o", str(tmp_path / "x.svg")])
    checked_ = runner.invoke(app, ["check", str(bad)])
    assert drawn.exit_code == checked_.exit_code == 1
    assert "error[E304]" in drawn.stderr
    assert drawn.stderr == checked_.stderr
    assert not (tmp_path / "x.svg").exists()


def test_draw_refuses_an_unknown_suffix(tmp_path) -> None:
    result = runner.invoke(app, ["draw", str(VALID / "vae_fc.ae"), "-o",
                                 str(tmp_path / "x.jpeg")])
    assert result.exit_code == 2
    assert "--format" in result.output


def test_draw_refuses_a_format_that_contradicts_the_suffix(tmp_path) -> None:
    result = runner.invoke(app, ["draw", str(VALID / "vae_fc.ae"), "-o",
                                 str(tmp_path / "x.png"), "--format", "svg"])
    assert result.exit_code == 2
    assert not (tmp_path / "x.png").exists()


def test_draw_never_imports_torch(tmp_path) -> None:
    code = ("import sys\nfrom aespec.cli import app\n"
            f"app(['draw', {str(VALID / 'vae_fc.ae')!r}, '-o', {str(tmp_path / 'x.dot')!r}],"
            " standalone_mode=False)\n"
            "print('torch' in sys.modules, 'graphviz' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-2:] == ["False", "False"]


def test_regression_draw_creates_the_output_folder(tmp_path):
    """`make demo` draws to runs/demo.svg before any run has created runs/."""
    from typer.testing import CliRunner

    from aespec.cli import app

    target = tmp_path / "not" / "yet" / "there.dot"
    result = CliRunner().invoke(app, ["draw", "specs/undercomplete_fc.ae", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text().startswith("digraph")
