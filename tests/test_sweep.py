"""Sweeps (aespec/sweep/): the grid, the local process executor (a point equals the same
run started alone, bit for bit on CPU), Ray on a local instance, and the comparison."""

from __future__ import annotations

import csv
import json

import pytest
import torch

import aespec
from aespec.errors import AespecError
from aespec.sweep import grid, parse_axes, split_values, sweep

SPEC = """\
let z = 8
data digits
input vector(64)
encoder {
    dense(16) relu
}
bottleneck {
    dense(z)
}
decoder mirror
loss mse
train {
    epochs 1
    batch 128
    seed 0
}
"""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "tiny.ae"
    path.write_text(SPEC)
    return path


def weights(run_dir):
    return torch.load(run_dir / "checkpoint.pt", weights_only=True)["model"]


def test_values_split_at_top_level_commas_only():
    assert split_values("2,8, 32") == ["2", "8", "32"]
    assert split_values("(1, 2),(3,4)") == ["(1, 2)", "(3,4)"]
    assert split_values('adam(lr=1e-3),sgd(lr=0.1, momentum=0.9)') == [
        "adam(lr=1e-3)", "sgd(lr=0.1, momentum=0.9)"]


def test_the_grid_is_every_combination_first_axis_slowest():
    axes, fixed = parse_axes(["z=2,8", "train.epochs=3", "train.seed=0,1,2"])
    assert fixed == ["train.epochs=3"]
    points = grid(axes)
    assert [p.overrides for p in points[:4]] == [
        ["z=2", "train.seed=0"], ["z=2", "train.seed=1"], ["z=2", "train.seed=2"],
        ["z=8", "train.seed=0"]]
    assert len(points) == 6 and points[5].name == "005-z=8-train.seed=2"
    assert grid(parse_axes(["x=(1, 2),(3,4)"])[0])[0].name == "000-x=_1_2_"


@pytest.mark.parametrize(("sets", "says"), [
    (["z=2,8", "z=4,6"], "given twice"),
    (["z=2,,8"], "an empty value"),
    (["z=2,2"], "listed twice"),
    (["z"], "NAME=VALUE"),
])
def test_a_bad_grid_is_e613(sets, says):
    with pytest.raises(AespecError) as info:
        parse_axes(sets)
    assert info.value.diagnostics[0].code == "E613" and says in str(info.value)


def test_problems_are_found_before_anything_runs(spec, tmp_path):
    with pytest.raises(AespecError) as info:  # z=0 is a bad dense size at one point only
        sweep(spec, ["z=2,0"], out=tmp_path / "s")
    assert info.value.diagnostics[0].code.startswith("E2")
    assert not (tmp_path / "s").exists()
    for sets, metric, code in ((["train.seed=0"], "test.loss", "E613"),
                               (["z=2,4"], "loss", "E614")):
        with pytest.raises(AespecError) as info:
            sweep(spec, sets, metric=metric, out=tmp_path / "t")
        assert info.value.diagnostics[0].code == code


@pytest.mark.slow
def test_local_points_equal_the_same_runs_started_alone(spec, tmp_path):
    result = sweep(spec, ["z=2,4"], jobs=2, threads=1, out=tmp_path / "sweep", report=False)
    assert result.jobs == 2 and [r["status"] for r in result.rows] == ["finished"] * 2
    torch.set_num_threads(1)
    alone = aespec.train(spec, overrides=["z=4"], out=tmp_path / "alone", quiet=True,
                         report=False)
    point = tmp_path / "sweep" / "001-z=4"
    got, want = weights(point), weights(alone.run_dir)
    assert all(torch.equal(got[k], want[k]) for k in want)  # bit for bit
    assert result.rows[1]["test.loss"] == alone.test["loss"]
    # the comparison: a table, a figure, and the record
    with open(tmp_path / "sweep" / "sweep.csv") as fh:
        table = list(csv.DictReader(fh))
    assert [r["z"] for r in table] == ["2", "4"] and float(table[1]["test.loss"]) == \
        alone.test["loss"]
    assert (tmp_path / "sweep" / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert "001-z=4" in (tmp_path / "sweep" / "compare.html").read_text()  # aespec compare
    assert "| z | status | test.loss |" in (tmp_path / "sweep" / "sweep.md").read_text()
    record = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert record["axes"] == {"z": ["2", "4"]} and record["threads_per_point"] == 1
    assert [p["status"] for p in record["points"]] == ["finished"] * 2


def test_a_failed_point_is_recorded_and_the_others_go_on(spec, tmp_path):
    (tmp_path / "tiny.ae").write_text(SPEC.replace("data digits", 'data npy("none.npy")'))
    result = sweep(spec, ["z=2,4"], jobs=1, out=tmp_path / "s", report=False)
    assert [r["status"] for r in result.rows] == ["failed", "failed"]
    assert "png" not in result.files
    record = json.loads((tmp_path / "s" / "sweep.json").read_text())
    assert record["points"][0]["error"].startswith("E501")


@pytest.mark.slow
def test_ray_points_run_on_a_local_instance(spec, tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1")
    try:
        result = sweep(spec, ["z=2,4"], executor="ray", threads=1, out=tmp_path / "ray",
                       report=False)
    finally:
        ray.shutdown()
    assert [r["status"] for r in result.rows] == ["finished"] * 2
    torch.set_num_threads(1)
    alone = aespec.train(spec, overrides=["z=2"], out=tmp_path / "alone", quiet=True,
                         report=False)
    got, want = weights(tmp_path / "ray" / "000-z=2"), weights(alone.run_dir)
    assert all(torch.equal(got[k], want[k]) for k in want)


def test_ray_missing_names_the_extra(spec, tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(AespecError) as info:
        sweep(spec, ["z=2,4"], executor="ray", out=tmp_path / "s")
    d = info.value.diagnostics[0]
    assert d.code == "E615" and "pip install aespec[ray]" in d.hint
    assert not (tmp_path / "s").exists()


def test_the_command_reports_a_bad_grid(spec):
    from typer.testing import CliRunner

    from aespec.cli import app

    done = CliRunner().invoke(app, ["sweep", str(spec), "--set", "train.seed=0"])
    assert done.exit_code == 1 and "error[E613]" in done.output


def test_a_sweep_over_a_phase_key_runs_each_point_with_it(tmp_path):
    """`--set phase.NAME.KEY=a,b` is an axis like any other; phases never batch."""
    from aespec.graph import check_source
    from aespec.sweep.batchable import blocker

    path = tmp_path / "phased.ae"
    path.write_text(SPEC + "phase first {\n    freeze encoder\n}\nphase second {\n}\n")
    result = sweep(path, ["phase.first.epochs=1,2"], jobs=1, threads=1,
                   out=tmp_path / "sweep", report=False, batched="auto")
    assert [r["status"] for r in result.rows] == ["finished"] * 2
    runs = sorted((tmp_path / "sweep").glob("00*"))
    phases = [[json.loads(line)["phase"] for line in (run / "metrics.jsonl").read_text()
               .splitlines()] for run in runs]
    assert phases == [["first", "second"], ["first", "first", "second"]]
    assert "phases" in blocker(check_source(path.read_text(), str(path)))
