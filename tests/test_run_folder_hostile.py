"""Run folders someone else made, read back by `eval`, `encode`, `sample`, `decode`,
`run --resume` and `compare`: no file in one hangs aespec (a FIFO), is read whole (a
sparse GiB), or is followed out of the folder (a link); and the data its run.json names
cannot point `compare` at an array anywhere on the machine. Also `aespec check` of a FIFO
or a socket, which waited for a writer for ever."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import aespec
from aespec.cli import app
from aespec.errors import AespecError
from aespec.train import load_run
from aespec.train.loaded import PATH_ARGS, compare_runs
from aespec.train.rundir import RunDir

SPEC = """\
model tiny "reads an array beside the spec"
data npy("data/x.npy")
input vector(16)
encoder {
    dense(8) relu
}
bottleneck {
    dense(2)
}
decoder mirror
loss mse
train {
    epochs 1
    batch 32
}
"""


@contextlib.contextmanager
def deadline(seconds: int = 30):
    """TimeoutError when the body takes longer: an open or a read that blocks."""
    def stop(*_):
        raise TimeoutError(f"took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A project folder: the spec, its data in data/x.npy (outside the run), and run/."""
    root = tmp_path_factory.mktemp("project")
    (root / "data").mkdir()
    np.save(root / "data" / "x.npy", np.random.default_rng(0).random((64, 16), np.float32))
    (root / "tiny.ae").write_text(SPEC)
    aespec.train(root / "tiny.ae", out=root / "run", quiet=True)
    return root


def copy_run(trained: Path, to: Path, name: str = "run") -> Path:
    shutil.copytree(trained / "run", to / name)
    return to / name


def edit_info(run: Path, **fields) -> None:
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, **fields}))


def code_of(exc) -> str:
    return exc.value.diagnostics[0].code


def make(path: Path, kind: str) -> None:
    """Put a FIFO, a link out of the folder, or a sparse GiB where `path` was."""
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "link":
        path.symlink_to("/etc/passwd")
    else:
        with open(path, "wb") as fh:
            fh.truncate(2**30)


# ---------------------------------------------------------------- hole 1: run.json, spec, metrics


@pytest.mark.parametrize("name", ["run.json", "tiny.ae"])
@pytest.mark.parametrize("kind", ["fifo", "link", "sparse"])
def test_regression_eval_hung_on_a_fifo_or_read_a_whole_or_linked_run_json_or_spec(
        trained, tmp_path, name, kind):
    run = copy_run(trained, tmp_path)
    make(run / name, kind)
    with deadline(), pytest.raises(AespecError) as exc:
        load_run(run)  # what eval, encode, sample and decode open a run with
    d = exc.value.diagnostics[0]
    assert d.code == "E603" and d.file == str(run / name)
    said = {"fifo": "it is a FIFO", "link": "it is a link", "sparse": "larger than"}[kind]
    assert said in d.message and "root:" not in d.message  # /etc/passwd is not shown


@pytest.mark.parametrize("command", ["eval", "encode", "sample", "decode"])
def test_regression_eval_encode_sample_decode_hung_on_a_fifo_run_json(trained, tmp_path,
                                                                      command):
    run = copy_run(trained, tmp_path)
    make(run / "run.json", "fifo")
    np.save(tmp_path / "z.npy", np.zeros((2, 2), np.float32))
    args = [command, str(run), *([str(tmp_path / "z.npy")] if command == "decode" else []),
            *(["-o", str(tmp_path / "out.npy")] if command != "eval" else [])]
    with deadline():
        done = CliRunner().invoke(app, args)
    assert done.exit_code == 1 and "Traceback" not in done.output
    assert "error[E603]" in done.stderr and "run.json" in done.stderr
    assert not (tmp_path / "out.npy").exists()


def test_regression_resume_hung_on_a_fifo_run_json(trained, tmp_path):
    run = copy_run(trained, tmp_path)
    make(run / "run.json", "fifo")
    with deadline(), pytest.raises(AespecError) as exc:
        aespec.train(resume=run, epochs=2, quiet=True)
    assert code_of(exc) == "E603"


@pytest.mark.parametrize("kind", ["fifo", "link", "sparse"])
def test_regression_read_metrics_hung_on_a_fifo_or_read_a_whole_or_linked_file(
        trained, tmp_path, kind):
    run = copy_run(trained, tmp_path)
    head = (run / "metrics.jsonl").read_bytes()
    make(run / "metrics.jsonl", kind)
    if kind == "sparse":  # the run's records, then a GiB of NUL bytes: cut, with a note
        with open(run / "metrics.jsonl", "r+b") as fh:
            fh.write(head)
    with deadline():
        if kind == "sparse":
            records, notes = RunDir(run).read_metrics()
            assert [r["epoch"] for r in records] == [1]
            assert [n.code for n in notes] == ["E621"] and "is cut" in notes[0].message
            return
        with pytest.raises(AespecError) as exc:
            RunDir(run).read_metrics()
    assert code_of(exc) == "E610" and "metrics.jsonl" in exc.value.diagnostics[0].message


def test_regression_a_run_folder_that_is_a_file_is_e603_not_a_traceback(tmp_path):
    (tmp_path / "afile").write_text("")
    with pytest.raises(AespecError, match="not a run directory") as exc:
        RunDir(tmp_path / "afile").info()
    assert code_of(exc) == "E603"


# ---------------------------------------------------------------- hole 2: aespec check FILE


def test_regression_check_of_a_fifo_or_a_socket_blocked_forever(tmp_path):
    os.mkfifo(tmp_path / "fifo.ae")
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(tmp_path / "sock.ae"))
    (tmp_path / "good.ae").write_text(SPEC.replace('npy("data/x.npy")', "digits")
                                      .replace("vector(16)", "vector(64)"))
    try:
        with deadline():
            done = CliRunner().invoke(app, ["check", str(tmp_path / "fifo.ae"),
                                            str(tmp_path / "sock.ae"), str(tmp_path / "good.ae")])
    finally:
        listening.close()
    assert done.exit_code == 1 and "Traceback" not in done.output
    assert done.stderr.count("error[E002]") == 2
    assert "is a FIFO (named pipe)" in done.stderr and "is a socket" in done.stderr
    assert "tiny" in done.stdout  # the files after them are still checked
    with deadline():  # `-` still reads stdin
        piped = CliRunner().invoke(app, ["check", "-"], input=(tmp_path / "good.ae").read_text())
    assert piped.exit_code == 0, piped.output


# ---------------------------------------------------------------- hole 3: the data run.json names


def test_regression_compare_showed_an_array_from_anywhere_as_its_inputs(trained, tmp_path):
    secret = tmp_path / "elsewhere" / "secret.npy"
    secret.parent.mkdir()
    np.save(secret, np.full((64, 16), 0.25, np.float32))
    runs = [copy_run(trained, tmp_path, name) for name in ("a", "b")]
    for run in runs:  # absolute, and `..` out of the recorded base_dir
        edit_info(run, data={"source": "npy", "args": {"file": str(secret)}})
    edit_info(runs[1], base_dir=str(runs[1]),
              data={"source": "npy", "args": {"file": "../elsewhere/secret.npy"}})
    for order in (runs, runs[::-1]):
        page = compare_runs(order, device="cpu")
        assert page.recon_png is None
        assert page.recon_note.startswith("No reconstructions: ")
        assert "lies outside the run folder" in page.recon_note


def test_regression_compare_read_data_through_a_link_out_of_the_run_folder(trained, tmp_path):
    runs = [copy_run(trained, tmp_path, name) for name in ("a", "b")]
    (runs[0] / "x.npy").symlink_to(trained / "data" / "x.npy")
    edit_info(runs[0], base_dir=str(runs[0]), data={"source": "npy", "args": {"file": "x.npy"}})
    page = compare_runs(runs, device="cpu")
    assert page.recon_png is None and "a link out of the run folder" in page.recon_note


def test_compare_reads_data_in_the_run_folder_or_a_folder_the_caller_trusts(trained, tmp_path):
    runs = [copy_run(trained, tmp_path, name) for name in ("a", "b")]
    assert compare_runs(runs, device="cpu").recon_png is None  # beside the spec: not trusted
    page = compare_runs(runs, device="cpu", inside=[trained])  # a sweep passes its spec's
    assert page.recon_png is not None and "The same 8 test examples" in page.recon_note
    shutil.copy(trained / "data" / "x.npy", runs[0] / "x.npy")
    edit_info(runs[0], base_dir=str(runs[0]), data={"source": "npy", "args": {"file": "x.npy"}})
    assert compare_runs(runs, device="cpu").recon_png is not None


def test_eval_of_a_users_own_run_still_reads_its_data_beside_the_spec(trained, tmp_path):
    done = CliRunner().invoke(app, ["eval", str(trained / "run"), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["n"] > 0
    run = copy_run(trained, tmp_path)
    edit_info(run, data={"source": "npy", "args": {"file": "/no/such/x.npy"}})
    named = CliRunner().invoke(app, ["eval", str(run), "--json", "--data",
                                     f'npy("{trained / "data" / "x.npy"}")'])
    assert named.exit_code == 0, named.output  # --data: the user named it


@pytest.mark.parametrize("kind", ["fifo", "link"])
def test_regression_eval_read_the_runs_data_from_a_fifo_or_a_link_out(trained, tmp_path, kind):
    run = copy_run(trained, tmp_path)
    if kind == "fifo":
        os.mkfifo(run / "x.npy")
    else:  # the user's own array, beside the spec: a link out all the same
        (run / "x.npy").symlink_to(trained / "data" / "x.npy")
    edit_info(run, base_dir=str(run), data={"source": "npy", "args": {"file": "x.npy"}})
    with deadline(), pytest.raises(AespecError) as exc:
        load_run(run).dataset()
    d = exc.value.diagnostics[0]
    assert d.code == "E603" and d.file == str(run / "run.json")
    assert ("it is a FIFO" if kind == "fifo" else "a link out of the run folder") in d.message


@pytest.mark.parametrize("data", [{"name": "x"}, {"source": "npy", "args": "x.npy"},
                                  {"source": 7, "args": {}}])
def test_regression_run_json_data_that_is_not_a_source_is_e603(trained, tmp_path, data):
    run = copy_run(trained, tmp_path)
    edit_info(run, data=data)
    with pytest.raises(AespecError, match="'data' is not a data source") as exc:
        load_run(run).dataset()
    assert code_of(exc) == "E603"


def test_every_data_argument_that_names_a_file_is_checked():
    """A new source (or argument) that names a file must be added to PATH_ARGS."""
    from aespec.data import REGISTRY

    not_paths = {("npz", "x"), ("npz", "y"), ("npz", "labels"), ("csv", "label"),
                 ("synthetic", "kind")}
    for source, entry in REGISTRY.items():
        for arg, field in entry.args.model_fields.items():
            if "str" in str(field.annotation) and (source, arg) not in not_paths:
                assert arg in PATH_ARGS.get(source, ()), (source, arg)


def test_compare_data_in_trusts_the_folder_the_user_names(trained, tmp_path):
    from typer.testing import CliRunner

    from aespec.cli import app

    runs = [copy_run(trained, tmp_path, name) for name in ("a", "b")]
    for page, extra in (("plain.html", []), ("trusted.html", ["--data-in", str(trained)])):
        result = CliRunner().invoke(app, ["compare", *map(str, runs), "-o",
                                          str(tmp_path / page), "--device", "cpu", *extra])
        assert result.exit_code == 0, result.output
    assert "--data-in" in (tmp_path / "plain.html").read_text()
    assert "The same 8 test examples" in (tmp_path / "trusted.html").read_text()


def test_regression_resume_read_the_runs_data_from_a_fifo(trained, tmp_path):
    import aespec

    run = copy_run(trained, tmp_path)
    os.mkfifo(run / "x.npy")
    edit_info(run, base_dir=str(run), data={"source": "npy", "args": {"file": "x.npy"}})
    with deadline(), pytest.raises(AespecError) as exc:
        aespec.train(resume=run, epochs=2, quiet=True)
    assert code_of(exc) == "E603" and "it is a FIFO" in exc.value.diagnostics[0].message


def test_regression_a_checkpoint_that_links_out_of_the_run_folder_was_loaded(trained, tmp_path):
    run = copy_run(trained, tmp_path)
    outside = tmp_path / "elsewhere.pt"
    (run / "best.pt").rename(outside)
    (run / "best.pt").symlink_to(outside)
    with pytest.raises(AespecError, match="is a link") as exc:
        load_run(run)
    assert code_of(exc) == "E604"
