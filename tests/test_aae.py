"""An adversarial autoencoder's spec through the stages that do not train (issue 21):
`discriminator on code` resolved, checked, drawn, formatted, built with the checked
counts, and refused by `aespec emit` (E316). Its training: tests/test_aae_train.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from aespec.cli import app
from aespec.graph.frontend import check_source
from aespec.parse.fmt import format_source

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "aae.ae"
VALID = ROOT / "tests" / "conformance_extra" / "valid" / "aae_code_discriminator.ae"

runner = CliRunner()


def test_the_spec_is_an_aae_whose_discriminator_reads_the_code():
    result = check_source(VALID.read_text(), "aae.ae")
    assert result.ok, result.diagnostics
    spec, g = result.spec, result.ir
    assert spec.is_aae and not spec.is_adversarial and spec.discriminator_on == "code"
    assert spec.adversarial.weight == 0.5 and [t.call.op for t in spec.loss] == ["mse"]
    first = next(n for n in g.order if g.nodes[n].block == "discriminator")
    code = g.outputs["bottleneck"]
    assert g.edges[code, first].fake and g.nodes[first].in_shape == (2,)
    assert g.networks == {"autoencoder": 4354, "discriminator": 65}


def test_check_writes_both_objectives():
    result = runner.invoke(app, ["check", str(SPEC)])
    assert result.exit_code == 0, result.output
    assert "parameters: 602,131 (autoencoder 535,314, discriminator 66,817)" in result.output
    assert "L = BCE(x, x̂) + E[−log σ(D(z))]" in result.output
    assert "D: min E[−log σ(D(z~N(0, I))) − log(1 − σ(D(z)))]" in result.output


def test_a_weighted_term_and_a_missing_game():
    from aespec.graph.summary import objective_text

    source = VALID.read_text()
    assert "L = MSE(x, x̂) + 0.5·E[−log σ(D(z))]" in objective_text(
        check_source(source, "aae.ae").ir)
    default = check_source(source.replace(" + 0.5 * adversarial(nonsaturating)", ""), "a.ae")
    assert default.ok and default.spec.adversarial.kind == "nonsaturating"
    assert default.spec.adversarial.weight == 1.0


@pytest.mark.parametrize("detail", ["ops", "blocks"])
def test_draw_shows_the_code_into_d_beside_the_prior(detail, tmp_path):
    out = tmp_path / "aae.dot"
    result = runner.invoke(app, ["draw", str(SPEC), "-o", str(out), "--detail", detail])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    fake = [line for line in text.splitlines() if "(fake)" in line]
    assert len(fake) == 1 and "dashed" in fake[0] and "z  2" in fake[0]
    assert '"prior" ->' in text and "(real)" in text and "z ~ N(0, I)" in text
    assert '-> "adversarial"' in text and "encoder: min E[−log σ(D(z))]" in text


def test_fmt_keeps_on_code_and_is_idempotent():
    text = SPEC.read_text()
    assert format_source(text) == text
    squeezed = text.replace("discriminator on code {  ", "discriminator   on  code{")
    assert format_source(squeezed) == text


def test_build_gives_the_discriminator_the_checked_count():
    pytest.importorskip("torch")
    import aespec

    spec = check_source(VALID.read_text(), "aae.ae").spec
    model = aespec.build(spec)
    assert model.is_aae
    assert sum(p.numel() for p in model.discriminator.parameters()) == 65
    assert sum(p.numel() for p in model.parameters()) == 4419


def test_emit_refuses_it_naming_the_discriminator(tmp_path):
    result = runner.invoke(app, ["emit", str(SPEC), "-o", str(tmp_path / "aae.py")])
    assert result.exit_code == 1
    assert "E316" in result.output and "adversarial autoencoder" in result.output
    line = SPEC.read_text().splitlines().index(next(
        t for t in SPEC.read_text().splitlines() if t.startswith("discriminator on code"))) + 1
    assert f"aae.ae:{line}:1:" in result.output and not (tmp_path / "aae.py").exists()
