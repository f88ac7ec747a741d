"""`aespec new` writes starter specs that check clean and train; `aespec ops` prints the
same tables as docs/ops.md."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from aespec.cli import app
from aespec.cli.new import model_name, render_template, template_names
from aespec.graph.frontend import check_source

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = template_names()


def run(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_the_templates_a_course_needs_are_there():
    assert {"basic", "dae", "vae", "sparse", "conv", "pca", "contractive"} <= set(TEMPLATES)


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_checks_clean_and_runs_a_training_step(template):
    import torch

    import aespec

    source = render_template(template, "starter")
    result = check_source(source, "starter.ae")
    assert result.ok and result.diagnostics == [], [d.render(source) for d in
                                                     result.diagnostics]
    assert result.spec.name == "starter" and result.spec.data is not None
    assert source.startswith("# starter: ") and "@NAME@" not in source
    torch.manual_seed(0)
    model = aespec.build(result.spec)
    out = model(torch.rand(4, *result.spec.input.shape))
    out.loss.backward()  # the objective is differentiable end to end
    assert torch.isfinite(out.loss)


def test_new_writes_the_file_and_refuses_to_overwrite(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("new", "my-net", "--template", "vae")
    assert result.exit_code == 0 and "wrote my-net.ae (template vae)" in result.stdout
    text = (tmp_path / "my-net.ae").read_text()
    assert text == render_template("vae", "my_net")
    (tmp_path / "my-net.ae").write_text("mine")
    result = run("new", "my-net.ae", "-t", "dae")
    assert result.exit_code == 2 and "exists; not overwritten" in result.stderr
    assert (tmp_path / "my-net.ae").read_text() == "mine"
    assert run("new", "x", "--template", "nope").exit_code == 2


def test_regression_new_on_an_existing_name_was_exit_1_without_a_code(tmp_path, monkeypatch):
    """A usage error (README: exit 2) with E618 naming the file; a link to nowhere counts
    as there (writing through it would create a file elsewhere)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken.ae").write_text("mine")
    result = run("new", "taken")
    assert result.exit_code == 2 and "error[E618]" in result.stderr
    assert "taken.ae exists; not overwritten" in result.stderr
    (tmp_path / "dangling.ae").symlink_to(tmp_path / "elsewhere.ae")
    result = run("new", "dangling")
    assert result.exit_code == 2 and "error[E618]" in result.stderr
    assert not (tmp_path / "elsewhere.ae").exists()
    (tmp_path / "folder.ae").mkdir()
    assert "error[E618]" in run("new", "folder").stderr


def test_regression_new_cannot_write_had_no_code(tmp_path):
    result = run("new", tmp_path / "no" / "such" / "folder" / "x")
    assert result.exit_code == 1 and "error[E606]" in result.stderr
    assert "cannot write" in result.stderr and "x.ae" in result.stderr


def test_regression_new_named_with_a_line_break_prints_it_escaped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("new", "a\nb c")
    assert result.exit_code == 0 and "wrote a\\nb c.ae" in result.stdout
    assert "aespec check 'a\\nb c.ae'" in result.stdout
    assert (tmp_path / "a\nb c.ae").read_text().startswith("# a_b_c: ")


@pytest.mark.parametrize("stem, name", [("my-net", "my_net"), ("2nd", "m_2nd"),
                                        ("ok_1", "ok_1")])
def test_model_names_from_file_names(stem, name):
    assert model_name(Path(f"some/dir/{stem}.ae")) == name


def test_ops_prints_the_tables_of_docs_ops_md():
    page = (ROOT / "docs" / "ops.md").read_text(encoding="utf-8")
    result = run("ops")
    assert result.exit_code == 0
    assert result.stdout.strip() == page.split("\n", 1)[1].strip()
    noise = run("ops", "noise").stdout
    assert noise.startswith("## Noise") and "`gaussian(std)`" in noise and "## Losses" not in noise
    assert run("ops", "nothing").exit_code == 2


def test_ops_with_a_name_prints_that_op_under_its_table_header():
    dense = run("ops", "dense").stdout
    assert dense.startswith("## Layers") and "| op | arguments |" in dense
    assert "`dense(units, bias=true)`" in dense and "deconv" not in dense
    both = run("ops", "gaussian").stdout  # a latent and a noise op of the same name
    assert "## Noise" in both and "gaussian(dim" in both and "gaussian(std)" in both
    assert "| `epochs` |" in run("ops", "epochs").stdout


@pytest.mark.slow
def test_fast_dev_run_of_a_template_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("new", "d", "-t", "dae").exit_code == 0
    result = run("run", "d.ae", "--fast-dev-run")
    assert result.exit_code == 0, result.output
    assert "1 training step" in result.stdout and "report: reconstructions" in result.stdout
    assert result.stdout.rstrip().endswith("fast-dev-run ok")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.ae"]  # no runs/ left behind
    assert run("run", "d.ae", "--fast-dev-run", "-q").stdout == ""
