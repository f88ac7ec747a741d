"""The wheel ships `grammar/aespec.lark` (its single source) inside the package, and an
installed wheel checks specs outside the repository exactly as the checkout does.

The wheel goes into a fresh venv made from the base interpreter (which has no aespec);
its runtime dependencies are borrowed from this venv's site-packages through a path line,
so the test needs no network (a path line does not run this venv's editable-install hook).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from aespec.graph.frontend import check_file

ROOT = Path(__file__).resolve().parents[1]
GRAMMAR = ROOT / "grammar" / "aespec.lark"

pytestmark = pytest.mark.slow


def _run(cmd: list, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          timeout=300, **kw)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # without build isolation when hatchling is here (offline); else build fetches it
    isolation = ["--no-isolation"] if importlib.util.find_spec("hatchling") else []
    _run([sys.executable, "-m", "build", "--wheel", *isolation, "--outdir", out, ROOT])
    (found,) = out.glob("aespec-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    """A venv outside the repository with the wheel installed and nothing editable."""
    home = tmp_path_factory.mktemp("venv")
    _run([sys._base_executable, "-m", "venv", "--without-pip", home / "venv"])
    python = home / "venv" / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps",
          "--no-index", "--quiet", wheel])
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                      "['purelib'])"]).stdout.strip())
    ours = sysconfig.get_paths()["purelib"]
    (site / "zz_aespec_test_deps.pth").write_text(ours + "\n")  # after the wheel's aespec
    return home / "venv"


def _env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["AESPEC_CACHE_DIR"] = str(tmp / "cache")
    return env


def test_the_wheel_holds_the_grammar_file(wheel):
    with zipfile.ZipFile(wheel) as z:
        assert z.read("aespec/grammar/aespec.lark") == GRAMMAR.read_bytes()
        assert not [n for n in z.namelist() if n.startswith(("tests/", "grammar/"))]


def test_the_installed_package_reads_its_own_grammar(venv, tmp_path):
    probe = ("import aespec, aespec.parse.syntax as s; from importlib import resources; "
             "print(aespec.__file__); "
             "print(resources.files('aespec').joinpath('grammar/aespec.lark')); "
             "print(s.grammar_text() == resources.files('aespec').joinpath("
             "'grammar/aespec.lark').read_text())")
    out = _run([venv / "bin" / "python", "-c", probe], cwd=tmp_path,
               env=_env(tmp_path)).stdout.split()
    assert out[0].startswith(str(venv)), f"aespec came from {out[0]}, not the wheel"
    assert out[1].startswith(str(venv)) and out[2] == "True"


def test_the_installed_command_checks_specs_outside_the_repository(venv, tmp_path):
    specs = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", specs)
    bad = specs / "bad.ae"
    shutil.copy(ROOT / "tests" / "conformance" / "invalid" / "unknown_op.ae", bad)
    files = sorted(specs.glob("*.ae"))
    proc = subprocess.run([venv / "bin" / "aespec", "check", "--json", *files], cwd=tmp_path,
                          env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr  # bad.ae fails
    assert "Traceback" not in proc.stderr
    got = [json.loads(line) for line in proc.stdout.splitlines()]
    assert got == [check_file(f).to_json() for f in files]  # as the checkout says
    assert list((tmp_path / "cache").glob("grammar-start-*.lark"))  # tables cached outside
