"""Run directories: what a run writes, checkpoints, and refusing a different spec."""

from __future__ import annotations

import json

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
    differences,
    load_checkpoint,
    model_key,
    new_run_path,
    semantic,
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
        "best.pt", "checkpoint.pt", "metrics.jsonl", "resolved.json", "run.json", "tiny.ae"]
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
        (copy / p.name).write_bytes(p.read_bytes())
    (copy / "tiny.ae").write_text(SPEC.replace("dense(4)", "dense(5)"))
    with pytest.raises(AespecError, match=r"bottleneck\[0\]\.args\.units: 4 -> 5"):
        load_run(copy)


def test_meaning_ignores_comments_and_positions():
    from aespec.graph.checking import check_source

    one = check_source(SPEC, "a.ae").spec
    two = check_source("\n\n# moved\n" + SPEC.replace("    dense(width) relu",
                                                       "  dense(16)   relu"), "b.ae").spec
    assert semantic(one) == semantic(two) and model_key(one) == model_key(two)


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
    first.mkdir()
    second = new_run_path("m", tmp_path)
    assert second != first and second.name.startswith(first.name)
    check_fresh(tmp_path / "absent")
    check_fresh(first)  # empty
    (first / "run.json").write_text("{}")
    with pytest.raises(AespecError, match="--resume"):
        check_fresh(first)


def test_not_a_run_directory(tmp_path):
    with pytest.raises(AespecError) as exc:
        RunDir(tmp_path).info()
    assert exc.value.diagnostics[0].code == "E603"
