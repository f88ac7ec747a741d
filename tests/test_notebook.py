"""aespec in notebooks: `aespec.loads`, the `%%aespec` cell magic (checked in a real Jupyter
kernel, run by nbclient), the HTML progress bar and the run card: its reconstructions, the
model beside the mean image and PCA, and the warnings of a run that learned nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import aespec
from aespec.errors import AespecError

ROOT = Path(__file__).resolve().parents[1]

TINY = """model tiny
data digits
input vector(64)
encoder {
    dense(32) relu
}
bottleneck {
    dense(8)
}
decoder {
    dense(64) sigmoid
}
loss mse
train {
    epochs 1
    batch 64
}
report {
    reconstructions(n=8)
}
"""

# issue 24's collapse: l2(0.1) wins over the loss, one output for every input (W444, W445)
COLLAPSED = (ROOT / "tests" / "references" / "collapsed_l2.ae").read_text()

TYPO = TINY.replace("dense(64) sigmoid", "dense(64) sigmoidd")  # line 11, column 15


# ---------------------------------------------------------------- aespec.loads


def test_loads_is_load_from_a_string(tmp_path):
    path = tmp_path / "tiny.ae"
    path.write_text(TINY)
    from_file, from_text = aespec.load(path), aespec.loads(TINY)
    assert from_text.semantic() == from_file.semantic()
    assert from_text.path == "<string>" and from_text.source == TINY


def test_loads_names_its_errors_string_or_the_given_name():
    with pytest.raises(AespecError) as info:
        aespec.loads(TYPO)
    text = str(info.value)
    assert text.startswith("<string>:11:15: error[E201]: unknown layer op 'sigmoidd'")
    assert "    dense(64) sigmoidd\n" in text and "did you mean 'sigmoid'?" in text
    with pytest.raises(AespecError) as info:
        aespec.loads(TYPO, path="lesson3.ae")
    assert str(info.value).startswith("lesson3.ae:11:15: error[E201]")


def test_loads_takes_overrides_and_a_nameless_spec_is_called_model():
    spec = aespec.loads(TINY.replace("model tiny\n", ""), ["train.epochs=3"])
    assert spec.name == "model" and spec.train.epochs == 3  # not `<string>`


@pytest.mark.slow
def test_a_spec_from_a_string_trains_and_reads_back_with_its_overrides(tmp_path):
    spec = aespec.loads(TINY, ["train.batch=32"])
    result = aespec.train(spec, out=tmp_path / "run", quiet=True)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["spec_file"] == "tiny.ae" and info["spec_path"] is None
    assert (tmp_path / "run" / "tiny.ae").read_text() == TINY
    assert info["overrides"] == ["train.batch=32"]  # recorded: the run reads back as it ran
    loaded = aespec.train.load_run(result.run_dir)
    assert loaded.spec.name == "tiny" and loaded.spec.train.batch == 32


def test_import_aespec_imports_neither_ipython_nor_torch():
    import subprocess

    code = ("import sys, aespec; print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'IPython', 'torch', 'ipykernel'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True, cwd=ROOT).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------- in a real kernel


def _kernel(tmp_path: Path, monkeypatch) -> str:
    """A kernel spec that starts this interpreter's ipykernel (the venv's): nbclient's
    kernel, whatever kernels the machine has installed."""
    kernels = tmp_path / "jupyter" / "kernels" / "aespec-test"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "aespec test", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core's future default
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return "aespec-test"


def _texts(cell) -> str:
    """Every text of a cell's outputs: streams, displays, results, an error's lines."""
    parts = []
    for out in cell.outputs:
        parts += [out.get("text", ""), *out.get("traceback", [])]
        parts += [str(v) for v in out.get("data", {}).values()]
    return "\n".join(parts)


@pytest.mark.slow
def test_the_cell_magic_in_a_jupyter_kernel(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    cells = [nbformat.v4.new_code_cell(f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
                                       "%load_ext aespec"),
             nbformat.v4.new_code_cell("%%aespec\n" + TYPO),
             nbformat.v4.new_code_cell("%%aespec spec\n" + TINY),
             nbformat.v4.new_code_cell("spec.name, spec.path"),
             nbformat.v4.new_code_cell("%%aespec --run --epochs 1 --out run\n" + TINY),
             nbformat.v4.new_code_cell("%%aespec --run --out collapsed\n" + COLLAPSED)]
    cells[1].metadata["tags"] = ["raises-exception"]  # the located error stops the cell
    nb = nbformat.v4.new_notebook(cells=cells)
    client = nbclient.NotebookClient(nb, kernel_name=_kernel(tmp_path, monkeypatch),
                                     timeout=120, resources={"metadata": {"path": tmp_path}})
    client.execute()

    error = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert len(error) == 1 and error[0].ename == "AespecError"
    text = _texts(nb.cells[1])  # at the cell's own line: `%%aespec` is line 1
    assert "<cell>:12:15: error[E201]: unknown layer op 'sigmoidd'" in text
    assert "    dense(64) sigmoidd" in text and "Traceback" not in text

    shown = nb.cells[2].outputs[-1]  # the Spec as HTML: its summary and source
    assert shown.output_type == "execute_result" and "text/html" in shown.data
    assert "tiny" in shown.data["text/html"] and "parameters" in shown.data["text/html"]
    assert nb.cells[3].outputs[0].data["text/plain"] == "('tiny', '<cell>')"

    outputs = nb.cells[4].outputs
    bars = [o for o in outputs if o.output_type == "display_data"]
    assert len(bars) == 1 and "<progress" in bars[0].data["text/html"]  # updated in place
    assert "epoch 1/1" in bars[-1].data["text/html"]
    card = outputs[-1]
    assert card.output_type == "execute_result", _texts(nb.cells[4])
    html = card.data["text/html"]
    assert "tiny" in html and "finished" in html
    assert 'alt="report/reconstructions.png"' in html and "data:image/png;base64," in html
    assert (tmp_path / "run" / "report.html").is_file()
    # the model beside the mean image and PCA, with the figures run.json holds
    refs = json.loads((tmp_path / "run" / "run.json").read_text())["references"]
    assert '<table class="references">' in html and "mean image" in html
    assert "PCA, 8 components" in html and f"{refs['model_over_mean_image']:.2f}" in html

    # a run that learned nothing says so on its card: the warnings, with their hints
    collapsed = nb.cells[5].outputs[-1]
    assert collapsed.output_type == "execute_result", _texts(nb.cells[5])
    card = collapsed.data["text/html"]
    assert '<table class="references">' in card and 'alt="report/reconstructions.png"' in card
    for code in ("W444", "W445"):
        assert f"<b>warning {code}</b>" in card
    assert "hint: likely: a regularizer" in card and "regularize l2(0.1)" in card


# ---------------------------------------------------------------- in-process IPython


@pytest.fixture
def shell(tmp_path, monkeypatch):
    """An in-process IPython shell with the extension loaded; no history file, and the
    interpreter's hooks as they were afterwards."""
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    for hook in ("displayhook", "excepthook"):
        monkeypatch.setattr(sys, hook, getattr(sys, hook))  # restored after the test
    config = Config()
    config.HistoryManager.enabled = False
    ip = InteractiveShell.instance(config=config)
    ip.run_line_magic("load_ext", "aespec")
    yield ip
    InteractiveShell.clear_instance()


def test_the_magic_shows_a_usage_error_for_an_unknown_option(shell, capsys):
    result = shell.run_cell("%%aespec --epoch 3\n" + TINY)
    assert not result.success
    assert "unknown option --epoch" in capsys.readouterr().err


def test_the_magic_binds_the_spec_and_prints_its_warnings(shell, capsys):
    wide = TINY.replace("dense(8)", "dense(128)")  # wider than the input: W401, line 8
    result = shell.run_cell("%%aespec mine\n" + wide)
    assert result.success and shell.user_ns["mine"].name == "tiny"
    assert result.result is shell.user_ns["mine"]
    assert "<cell>:8:1: warning[W401]" in capsys.readouterr().out


def test_the_magic_takes_overrides_and_says_which_one_is_wrong(shell, capsys):
    result = shell.run_cell("%%aespec --set train.epochs=4 mine\n" + TINY)
    assert result.success and shell.user_ns["mine"].train.epochs == 4
    result = shell.run_cell("%%aespec --set width=8\n" + TINY)
    assert not result.success and isinstance(result.error_in_exec, AespecError)
    assert "error[E210]: --set width: the spec has no let named 'width'" in \
        capsys.readouterr().out  # shown by IPython as the diagnostic, no traceback
