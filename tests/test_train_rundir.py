"""Run directories: what a run writes, checkpoints, and refusing a different spec."""

from __future__ import annotations

import json
import re

import pytest
import torch

import aespec
from aespec.errors import AespecError
from aespec.train import load_run
from aespec.train.evaluate import evaluate
from aespec.train.rundir import (
    RunDir,
    atomic_write,
    check_fresh,
    check_same,
    claim,
    differences,
    load_checkpoint,
    model_key,
    new_run_path,
)

SPEC = """\
# a comment kept as given
model tiny "two dense layers"
let width = 16
data digits
input vector(64)
encoder {
    dense(width) relu
}
bottleneck {
    dense(4)
}
decoder mirror
loss mse
train {
    epochs 2
    seed 3
}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One run shared by the tests that only read it."""
    root = tmp_path_factory.mktemp("runs")
    (root / "tiny.ae").write_text(SPEC)
    result = aespec.train(root / "tiny.ae", out=root / "run", quiet=True,
                          overrides=["width=12"])
    return root, result


def test_run_directory_holds_the_spec_resolved_spec_metrics_and_checkpoints(trained):
    root, result = trained
    run = root / "run"
    assert sorted(p.name for p in run.iterdir()) == [
        ".aespec-run", "best.pt", "checkpoint.pt", "metrics.csv", "metrics.jsonl", "report",
        "report.html", "report.json", "resolved.json", "run.json", "tiny.ae"]
    assert (run / "report" / "reconstructions.png").is_file()  # drawn with no report block
    mark = json.loads((run / ".aespec-run").read_text())  # the mark of a folder aespec made
    assert mark["run_id"] == json.loads((run / "run.json").read_text())["run_id"]
    assert "tiny.ae" in mark["files"] and "run.json" in mark["files"]
    assert (run / "tiny.ae").read_text() == SPEC  # as given, comments and all
    resolved = json.loads((run / "resolved.json").read_text())
    assert resolved["overrides"] == ["width=12"]
    assert resolved["spec"]["encoder"][0]["args"]["units"] == 12
    assert resolved["spec"]["train"]["batch"] == 128  # defaults filled in
    assert resolved["model"]["params"] == result.params
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2] and lines == result.history
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "finished" and info["test"] == result.test
    assert info["data"] == {"source": "digits", "args": {}}
    assert not list(run.glob("*.tmp"))


def test_checkpoints_load_with_weights_only(trained):
    root, _ = trained
    for name in ("checkpoint.pt", "best.pt"):
        ckpt = torch.load(root / "run" / name, weights_only=True)
        assert ckpt["format"] == "aespec-checkpoint/1" and ckpt["spec_name"] == "tiny"
        assert "encoder1.weight" in "".join(ckpt["model"])


def test_load_run_gives_back_the_best_model(trained):
    root, result = trained
    loaded = load_run(root / "run")
    assert loaded.spec.encoder[0].args.units == 12  # the run's overrides are applied
    assert evaluate(loaded.model, loaded.data().test) == result.test
    last = load_run(root / "run", which="last")
    assert set(last.model.state_dict()) == set(loaded.model.state_dict())


def test_a_checkpoint_refuses_a_different_spec(trained):
    root, _ = trained
    ckpt = load_checkpoint(root / "run" / "best.pt")
    same = aespec.load(root / "tiny.ae", ["width=12"])
    check_same(ckpt, same, root / "best.pt", resume=False)
    with pytest.raises(AespecError) as exc:
        check_same(ckpt, aespec.load(root / "tiny.ae"), root / "best.pt", resume=False)
    d = exc.value.diagnostics[0]
    assert d.code == "E602" and "encoder[0].args.units: 12 -> 16" in d.message
    assert d.file == str(root / "best.pt")


def test_an_edited_spec_in_the_run_directory_is_refused(trained, tmp_path):
    root, _ = trained
    copy = tmp_path / "copy"
    copy.mkdir()
    for p in (root / "run").iterdir():
        if p.is_file():
            (copy / p.name).write_bytes(p.read_bytes())
    (copy / "tiny.ae").write_text(SPEC.replace("dense(4)", "dense(5)"))
    with pytest.raises(AespecError, match=r"bottleneck\[0\]\.args\.units: 4 -> 5"):
        load_run(copy)


def test_meaning_ignores_comments_and_positions():
    from aespec.graph.frontend import check_source

    one = check_source(SPEC, "a.ae").spec
    two = check_source("\n\n# moved\n" + SPEC.replace("    dense(width) relu",
                                                       "  dense(16)   relu"), "b.ae").spec
    assert one.semantic() == two.semantic() and model_key(one) == model_key(two)


def test_differences_name_each_leaf():
    old = {"a": [1, {"b": 2}], "c": "x"}
    new = {"a": [1, {"b": 3}], "c": "x", "d": True}
    assert differences(old, new) == ["a[1].b: 2 -> 3", "d: null -> true"]
    assert differences([1], [1, 2]) == [": [1] -> [1, 2]"]


@pytest.mark.parametrize("content, message", [
    (None, "no checkpoint"), (b"not a zip", "cannot read checkpoint"),
])
def test_bad_checkpoints_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "checkpoint.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AespecError, match=message) as exc:
        load_checkpoint(path)
    assert exc.value.diagnostics[0].code == "E604"


def test_a_foreign_torch_file_is_not_a_checkpoint(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(AespecError, match="not an aespec checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_atomic_write_replaces_whole_files_only(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")

    def broken(fh):
        fh.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, broken)
    assert path.read_bytes() == b"old" and not list(tmp_path.glob("*.tmp"))
    atomic_write(path, lambda fh: fh.write(b"new"))
    assert path.read_bytes() == b"new"


def test_new_run_paths_never_collide_and_out_must_be_fresh(tmp_path):
    first = new_run_path("m", tmp_path)
    second = new_run_path("m", tmp_path)
    assert second != first and second.name.startswith(first.name)
    assert first.is_dir() and second.is_dir()  # claimed by mkdir: nobody else gets them
    check_fresh(tmp_path / "absent")
    check_fresh(first)  # empty
    (first / "run.json").write_text("{}")
    (first / "checkpoint.pt").write_bytes(b"")
    with pytest.raises(AespecError, match="--resume"):  # not marked as aespec's: E618
        check_fresh(first)
    claim(second, "m.ae")
    (second / "checkpoint.pt").write_bytes(b"")
    with pytest.raises(AespecError, match="--resume") as exc:  # a run of aespec's: E603
        check_fresh(second)
    assert exc.value.diagnostics[0].code == "E603"


def test_not_a_run_directory(tmp_path):
    with pytest.raises(AespecError) as exc:
        RunDir(tmp_path).info()
    assert exc.value.diagnostics[0].code == "E603"


# ---------------------------------------------------------------- hostile run files (issue 9)


def _copy_run(trained, tmp_path):
    import shutil

    root, _ = trained
    shutil.copytree(root / "run", tmp_path / "run")
    return tmp_path / "run"


def _code(exc) -> str:
    return exc.value.diagnostics[0].code


def test_regression_best_pt_copied_over_checkpoint_then_resume_is_e604(trained, tmp_path):
    run = _copy_run(trained, tmp_path)
    (run / "checkpoint.pt").write_bytes((run / "best.pt").read_bytes())
    with pytest.raises(AespecError, match="weights only") as exc:
        aespec.train(resume=run, epochs=3, quiet=True)
    assert _code(exc) == "E604"


def test_regression_weights_of_the_wrong_shape_are_e604(trained, tmp_path):
    run = _copy_run(trained, tmp_path)
    ckpt = torch.load(run / "best.pt", weights_only=True)
    key = next(k for k, v in ckpt["model"].items() if v.ndim == 2)
    ckpt["model"][key] = torch.zeros(3, 3)
    torch.save(ckpt, run / "best.pt")
    with pytest.raises(AespecError, match=re.escape(f"'{key}' is (3, 3) in the file")) as exc:
        load_run(run)
    assert _code(exc) == "E604"


@pytest.mark.parametrize("info, said", [
    ({}, "lacks 'spec_file'"), ([], "not a JSON object"),
    ({"spec_file": "tiny.ae", "overrides": "width=12", "data": {}, "base_dir": "."},
     "'overrides' is not a list"),
])
def test_regression_run_json_empty_or_lacking_a_key_is_e603(trained, tmp_path, info, said):
    run = _copy_run(trained, tmp_path)
    (run / "run.json").write_text(json.dumps(info))
    for reader in (lambda: load_run(run), lambda: aespec.train(resume=run, quiet=True)):
        with pytest.raises(AespecError, match=said) as exc:
            reader()
        assert _code(exc) == "E603"


@pytest.mark.parametrize("change", ["drop optimizer", "drop model_key", "counters int",
                                    "names str"])
def test_regression_checkpoint_fields_missing_or_of_the_wrong_type_are_e604(trained, tmp_path,
                                                                            change):
    run = _copy_run(trained, tmp_path)
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    verb, key = change.split()
    if verb == "drop":
        del ckpt[key]
    else:
        ckpt[verb] = 7 if key == "int" else "x"
    torch.save(ckpt, run / "checkpoint.pt")
    with pytest.raises(AespecError, match="checkpoint") as exc:
        aespec.train(resume=run, epochs=3, quiet=True)
    assert _code(exc) == "E604"


def test_regression_out_under_a_file_is_e606_and_no_traceback(tmp_path):
    (tmp_path / "tiny.ae").write_text(SPEC)
    (tmp_path / "afile").write_text("")
    with pytest.raises(AespecError, match="cannot write") as exc:
        aespec.train(tmp_path / "tiny.ae", out=tmp_path / "afile" / "run", quiet=True)
    assert _code(exc) == "E606"


def test_regression_full_disk_keeps_the_last_checkpoint_and_marks_the_run_failed(
        tmp_path, monkeypatch):
    import errno

    from aespec.train import rundir

    (tmp_path / "tiny.ae").write_text(SPEC)
    saved = {"n": 0}
    real = rundir.torch.save

    def filling(obj, fh):  # the disk fills up at the third checkpoint file
        saved["n"] += 1
        if saved["n"] >= 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(obj, fh)

    monkeypatch.setattr(rundir.torch, "save", filling)
    monkeypatch.setattr("aespec.train.loop.CHECKPOINT_SECONDS", 0.0)
    with pytest.raises(AespecError, match="No space left on device") as exc:
        aespec.train(tmp_path / "tiny.ae", out=tmp_path / "run", quiet=True, epochs=3)
    assert _code(exc) == "E606" and "epoch 1 is kept" in exc.value.diagnostics[0].message
    monkeypatch.setattr(rundir.torch, "save", real)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["status"] == "failed" and "No space left" in info["error"]
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["counters"]["epoch"] == 1
    assert not list((tmp_path / "run").glob("*.tmp"))


def test_regression_a_failed_run_does_not_say_running(tmp_path, monkeypatch):
    (tmp_path / "tiny.ae").write_text(SPEC)
    monkeypatch.setattr("aespec.train.finish.evaluate", lambda *a, **k: (_ for _ in ()).throw(
        AespecError.of("E501", "the test data went away")))
    with pytest.raises(AespecError):
        aespec.train(tmp_path / "tiny.ae", out=tmp_path / "run", quiet=True, epochs=1)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["status"] == "failed" and info["error"] == "the test data went away"


def test_regression_second_ctrl_c_during_a_checkpoint_write_waits_for_it():
    from aespec.train.stop import StopFlag

    flag = StopFlag()
    flag._handle(2, None)  # the first Ctrl-C: stop at the next step
    assert flag.requested
    written = []
    with pytest.raises(KeyboardInterrupt):
        with flag.critical():
            flag._handle(2, None)  # the second, while the checkpoint is being written
            written.append("checkpoint")  # ... which still finishes
    assert written == ["checkpoint"]
    with pytest.raises(KeyboardInterrupt):
        flag._handle(2, None)  # outside a write: at once


def test_regression_a_run_killed_before_its_first_checkpoint_starts_again_in_place(
        trained, tmp_path):
    import shutil

    run = _copy_run(trained, tmp_path)
    for name in ("checkpoint.pt", "best.pt", "report.json"):  # a run killed that early
        (run / name).unlink()
    shutil.rmtree(run / "report")  # drew no report either
    with pytest.raises(AespecError, match=f"--out {run}") as exc:
        aespec.train(resume=run, quiet=True)  # nothing to resume: says how to start again
    assert _code(exc) == "E604"
    root, _ = trained
    result = aespec.train(root / "tiny.ae", out=run, quiet=True, epochs=1)  # ... which works
    assert result.status == "finished" and (run / "checkpoint.pt").is_file()


def test_regression_two_runs_started_in_the_same_second_get_their_own_directories(tmp_path):
    import threading

    paths: list = []
    threads = [threading.Thread(target=lambda: paths.append(new_run_path("m", tmp_path)))
               for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(set(paths)) == 8 and all(p.is_dir() for p in paths)


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", ".."])
def test_regression_run_json_cannot_point_the_spec_outside_the_run(trained, tmp_path, name):
    run = _copy_run(trained, tmp_path)
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "spec_file": name}))
    with pytest.raises(AespecError, match="must name a file in the run directory") as exc:
        load_run(run)
    assert _code(exc) == "E603"


def test_regression_a_spec_in_the_run_that_is_not_utf8_is_e603(trained, tmp_path):
    run = _copy_run(trained, tmp_path)
    (run / "tiny.ae").write_bytes(b"model \xe3\x28 broken\n")
    with pytest.raises(AespecError) as exc:
        load_run(run)
    assert _code(exc) == "E603"


def test_regression_resume_with_the_same_data_given_as_a_tuple_is_not_refused(tmp_path):
    """run.json keeps normal=(...) as a JSON list; --data gives a tuple: the same data."""
    (tmp_path / "tiny.ae").write_text(SPEC.replace("data digits",
                                                   "data digits(normal=(0, 1, 2))"))
    aespec.train(tmp_path / "tiny.ae", out=tmp_path / "run", quiet=True, epochs=1)
    result = aespec.train(resume=tmp_path / "run", data="digits(normal=(0, 1, 2))", epochs=2,
                          quiet=True)
    assert result.status == "finished" and result.epochs == 2


def test_regression_a_read_only_disk_is_e606_and_the_run_says_failed(tmp_path, monkeypatch):
    import errno

    from aespec.train import rundir

    (tmp_path / "tiny.ae").write_text(SPEC)
    real = rundir.torch.save

    def read_only(obj, fh):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(rundir.torch, "save", read_only)
    with pytest.raises(AespecError, match="Read-only file system") as exc:
        aespec.train(tmp_path / "tiny.ae", out=tmp_path / "run", quiet=True, epochs=2)
    assert _code(exc) == "E606" and "write to" in exc.value.diagnostics[0].hint
    monkeypatch.setattr(rundir.torch, "save", real)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["status"] == "failed"


def test_regression_a_checkpoint_whose_spec_record_is_not_json_is_e604(trained, tmp_path):
    """Found by make fuzz: one byte changed inside model_key gave a JSONDecodeError."""
    run = _copy_run(trained, tmp_path)
    ckpt = torch.load(run / "best.pt", weights_only=True)
    ckpt["model_key"] = ckpt["model_key"][:50] + "\x01" + ckpt["model_key"][51:]
    torch.save(ckpt, run / "best.pt")
    with pytest.raises(AespecError, match="not JSON") as exc:
        load_run(run)
    assert _code(exc) == "E604"
