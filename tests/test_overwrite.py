"""Files a user owns are never overwritten or lost: `aespec run --out` writes only into a
new or empty folder or a run folder aespec made, and `aespec fmt` keeps a file's mode,
owner, link and (in a Markdown page) every character outside its ```ae blocks, and never
leaves a half-written spec."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aespec.cli import app
from aespec.errors import AespecError
from aespec.train.rundir import RunDir, atomic_write, check_fresh, claim

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()

SPEC = """\
model tiny
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
train {
    epochs 1
}
"""
MESSY = "input   vector(4)\n"
TIDY = "input vector(4)\n"


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# ---------------------------------------------------------------- aespec run --out


def _users_folder(tmp_path: Path, run_json: str) -> Path:
    """A folder of the user's whose files have the names a run writes."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "run.json").write_text(run_json)
    (folder / "tiny.ae").write_text("# my own notes, not a run's spec\n")
    (folder / "metrics.csv").write_text("week,sales\n1,100\n")
    return folder


@pytest.mark.parametrize("run_json", [
    '{"mine": true}',
    # even a record shaped like a run's: a folder is aespec's by its mark, not its names
    json.dumps({"spec_file": "tiny.ae", "overrides": [], "data": {}, "base_dir": "."}),
])
def test_regression_run_out_over_a_users_run_json_spec_and_metrics_overwrote_them(
        tmp_path, run_json):
    (tmp_path / "tiny.ae").write_text(SPEC)
    folder = _users_folder(tmp_path, run_json)
    before = _files(folder)
    result = invoke("run", tmp_path / "tiny.ae", "--out", folder, "-q")
    assert result.exit_code == 1 and "error[E618]" in result.output
    assert str(folder / "metrics.csv") in result.output  # names the file
    assert _files(folder) == before  # nothing written, nothing added


def test_regression_a_run_that_failed_removed_the_users_own_empty_out_folder(tmp_path):
    (tmp_path / "tiny.ae").write_text(SPEC.replace("data digits", 'data npy("missing.npy")'))
    folder = tmp_path / "mine"
    folder.mkdir()
    result = invoke("run", tmp_path / "tiny.ae", "--out", folder, "-q")
    assert result.exit_code == 1 and "error[E501]" in result.output
    assert folder.is_dir()  # the user's folder stays, as it was made


def test_regression_run_out_into_a_non_empty_folder_aespec_did_not_make(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "todo.txt").write_text("buy milk\n")
    with pytest.raises(AespecError, match="todo.txt is there") as exc:
        check_fresh(folder)
    assert exc.value.diagnostics[0].code == "E618"
    assert exc.value.diagnostics[0].file == str(folder / "todo.txt")
    check_fresh(tmp_path / "new")  # a new path and an empty folder are fine
    (tmp_path / "empty").mkdir()
    check_fresh(tmp_path / "empty")


def test_regression_a_run_folder_aespec_made_restarts_in_place_but_not_over_a_users_file(
        tmp_path):
    run = tmp_path / "run"
    claim(run, "tiny.ae")  # a run killed before its first checkpoint: the mark stays
    (run / "run.json").write_text("{}")
    (run / "metrics.csv.tmp").write_text("")
    check_fresh(run)  # starts again in place
    (run / "mine.ae").write_text("# the user's\n")  # a file the run did not write
    with pytest.raises(AespecError, match="not empty"):
        check_fresh(run)
    (run / "mine.ae").unlink()
    (run / ".aespec-run").write_text('{"format": "something else"}')  # not the mark
    with pytest.raises(AespecError) as exc:
        check_fresh(run)
    assert exc.value.diagnostics[0].code == "E618"


def test_regression_a_folder_filled_after_the_run_was_placed_is_not_written_over(tmp_path):
    """write_start checks again: the folder may change while the data loads."""
    folder = _users_folder(tmp_path, '{"spec_file": "tiny.ae", "overrides": [], '
                                      '"data": {}, "base_dir": "."}')
    before = _files(folder)
    run = RunDir(folder)
    with pytest.raises(AespecError) as exc:
        run.write_start(_spec(), {"spec_file": "tiny.ae"}, {})
    assert exc.value.diagnostics[0].code == "E618"
    run.update(status="failed")  # how a failed run is marked: left alone here
    assert _files(folder) == before


def test_regression_a_link_left_in_a_run_folder_was_written_through(tmp_path):
    """A run folder from someone else: a `.tmp` or a run file that is a link to a file of
    the user's is never written through."""
    victim = tmp_path / "victim.txt"
    victim.write_text("mine\n")
    run = RunDir(tmp_path / "run")
    claim(run.path, "tiny.ae")
    for name in ("checkpoint.pt.tmp", "metrics.csv.tmp"):
        (run.path / name).symlink_to(victim)
    atomic_write(run.checkpoint, lambda fh: fh.write(b"state"))
    run.write_metrics_csv([{"epoch": 1, "train": {"loss": 1.0}}])
    assert victim.read_text() == "mine\n" and run.checkpoint.read_bytes() == b"state"
    assert run.metrics_csv.read_text().startswith("epoch,train_loss")
    other = RunDir(tmp_path / "other")
    claim(other.path, "tiny.ae")
    (other.path / "metrics.csv").symlink_to(victim)  # starting again would write it
    with pytest.raises(AespecError, match="not empty"):
        check_fresh(other.path)


def _spec():
    from aespec.graph import check_source

    return check_source(SPEC).spec


# ---------------------------------------------------------------- aespec fmt: the file


def test_regression_fmt_turned_a_0600_file_into_0644_and_changed_its_owner(tmp_path):
    path = tmp_path / "secret.ae"
    path.write_text(MESSY)
    path.chmod(0o600)
    owner = (1234, 2345) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    if os.geteuid() == 0:
        os.chown(path, *owner)
    assert invoke("fmt", path).exit_code == 0
    st = path.stat()
    assert path.read_text() == TIDY
    assert stat.S_IMODE(st.st_mode) == 0o600 and (st.st_uid, st.st_gid) == owner
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.ae"]  # no temp left


def test_regression_fmt_rewrote_a_read_only_file(tmp_path):
    path = tmp_path / "frozen.ae"
    path.write_text(MESSY)
    path.chmod(0o444)  # root may write it anyway: the mode is what counts
    result = invoke("fmt", path)
    assert result.exit_code == 1 and "error[E003]" in result.output
    assert path.read_text() == MESSY and stat.S_IMODE(path.stat().st_mode) == 0o444
    assert "would reformat" in invoke("fmt", "--check", path).output


def test_regression_fmt_replaced_a_symlink_with_a_copy(tmp_path):
    target = tmp_path / "real" / "model.ae"
    target.parent.mkdir()
    target.write_text(MESSY)
    target.chmod(0o640)
    link = tmp_path / "model.ae"
    link.symlink_to(target)
    assert invoke("fmt", link).exit_code == 0
    assert link.is_symlink() and link.readlink() == target
    assert target.read_text() == TIDY and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.ae"]


def test_regression_fmt_dropped_a_byte_order_mark(tmp_path):
    path = tmp_path / "bom.ae"
    path.write_bytes(b"\xef\xbb\xbf" + MESSY.encode())
    assert invoke("fmt", path).exit_code == 0
    assert path.read_bytes() == b"\xef\xbb\xbf" + TIDY.encode()


# ---------------------------------------------------------------- aespec fmt: no hang


def _aespec(*args, stdin=None):
    """A real process, so that a hang fails the test (timeout) instead of stalling it."""
    return subprocess.run([sys.executable, "-m", "aespec", *map(str, args)], stdin=stdin,
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_regression_fmt_dash_of_dev_zero_never_returned():
    with open("/dev/zero", "rb") as zero:
        done = _aespec("fmt", "-", stdin=zero)
    assert done.returncode == 1 and "error[E106]" in done.stderr
    assert len(done.stderr) < 1000 and done.stdout == ""  # no line of 65,536 NULs shown


def test_regression_fmt_of_a_fifo_a_directory_or_dev_zero_hung_or_was_unclear(tmp_path):
    fifo = tmp_path / "pipe.ae"
    os.mkfifo(fifo)  # opening it would wait for a writer for ever
    done = _aespec("fmt", fifo, tmp_path, "/dev/zero")
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("error[E002]") == 3
    for said in ("is a FIFO", "is a directory", "is a device"):
        assert said in done.stderr


# ---------------------------------------------------------------- aespec fmt: Markdown

PAGE = """\
# Notes


Some  prose,   spaced as I like it.   \r
   # an indented heading

```python
x  =  1
```

  ```ae
  input   vector(64)
  encoder {
  dense(8) relu
  }
  bottleneck {
  dense(2)
  }
  decoder mirror
  loss mse
```

The end.  """


def test_regression_fmt_rewrote_a_markdown_pages_prose(tmp_path):
    page = tmp_path / "page.md"
    page.write_bytes(PAGE.encode())
    assert invoke("fmt", page).exit_code == 0
    text = page.read_bytes().decode()
    head = PAGE.split("  ```ae\n")[0]  # the prose before the block, \r and all
    assert text.startswith(head + "  ```ae\n") and text.endswith("```\n\nThe end.  ")
    assert text[len(head) + 8:-len("```\n\nThe end.  ")] == (
        "  input vector(64)\n\n  encoder {\n      dense(8) relu\n  }\n  bottleneck {\n"
        "      dense(2)\n  }\n  decoder mirror\n\n  loss mse\n")
    headings = tmp_path / "headings.md"  # parses as a spec of comments: still left alone
    headings.write_text("# Title\n\n\n\n## Part   \n")
    assert invoke("fmt", headings).exit_code == 0
    assert headings.read_text() == "# Title\n\n\n\n## Part   \n"


def test_a_markdown_block_with_a_syntax_error_is_reported_at_the_pages_line(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("Prose.\n\n```ae\ninput vector(4\n```\n")
    result = invoke("fmt", page)
    assert result.exit_code == 1 and f"{page}:4:13: error[E103]" in result.output
    assert page.read_text() == "Prose.\n\n```ae\ninput vector(4\n```\n"


# ---------------------------------------------------------------- aespec fmt: atomic


def test_regression_fmt_failing_to_write_left_a_half_written_spec(tmp_path, monkeypatch):
    import errno

    path = tmp_path / "model.ae"
    path.write_text(MESSY)

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("aespec.cli.fmt.os.replace", full)
    result = invoke("fmt", path)
    assert result.exit_code == 1 and "error[E606]" in result.output
    assert "No space left" in result.output
    assert path.read_text() == MESSY and sorted(p.name for p in tmp_path.iterdir()) == [
        "model.ae"]


def test_regression_fmt_interrupted_while_writing_left_a_half_written_spec(tmp_path,
                                                                          monkeypatch):
    from aespec.cli import fmt

    path = tmp_path / "model.ae"
    path.write_text(MESSY)

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr("aespec.cli.fmt.os.fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fmt._write(path, TIDY, path.stat())
    assert path.read_text() == MESSY and sorted(p.name for p in tmp_path.iterdir()) == [
        "model.ae"]
