"""Batched sweep points (aespec/sweep/batchable.py, aespec/train/batched.py): which points
may train together, and that together they give what each gives alone."""

from __future__ import annotations

import json

import pytest
import torch

import aespec
from aespec.errors import AespecError
from aespec.graph import check_source
from aespec.sweep import batchable, sweep
from aespec.train.loaded import load_run

SPEC = """\
let z = 8
let w = 1
data digits
input vector(64)
encoder {
    dense(16) relu
}
bottleneck {
    dense(z)
}
decoder mirror
loss w*mse
train {
    epochs 2
    batch 128
    seed 0
}
"""

LRS = "train.optimizer=adam(lr=1e-3),adam(lr=1e-2)"


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "tiny.ae"
    path.write_text(SPEC)
    return path


def checks(*override_lists, source=SPEC):
    return [check_source(source, "tiny.ae", list(o)) for o in override_lists]


def test_points_that_keep_every_shape_are_one_group():
    found = batchable.plan(checks(["train.seed=0"], ["train.seed=1"],
                                  ["train.optimizer=adam(lr=0.1, weight_decay=0.01)"],
                                  ["w=0.5", "train.epochs=3"],
                                  ["train.schedule=cosine", "train.early_stop=(patience=2)"]))
    assert found.groups == ((0, 1, 2, 3, 4),) and found.alone == {}


@pytest.mark.parametrize(("other", "says"), [
    (["z=4"], "bottleneck[0].args.units"),
    (["train.optimizer=sgd(lr=0.1)"], "train.optimizer.name"),
    (["train.batch=64"], "train.batch"),
    (["train.device=cuda"], "train.device"),
    (["w=0"], "loss[0].weight"),  # a weight of 0 scales nothing: held
])
def test_points_that_change_a_shape_or_a_module_run_alone(other, says):
    found = batchable.plan(checks(["train.seed=0"], ["train.seed=1"], other))
    assert found.groups == ((0, 1),)
    assert says in found.alone[2]


def test_a_spec_the_batched_step_cannot_run_is_never_grouped():
    found = batchable.plan(checks(["train.precision=bf16"], ["train.precision=bf16",
                                                             "train.seed=1"]))
    assert found.groups == () and "precision" in found.alone[0]


def test_a_som_is_never_grouped_its_neighbourhood_follows_the_epochs():
    som = ("data digits\ninput vector(64)\nencoder {\n}\nbottleneck {\n    som(4, 4)\n}\n"
           "decoder mirror\nloss mse\ntrain {\n    epochs 2\n}\n")
    found = batchable.plan(checks(["train.seed=0"], ["train.seed=1"], source=som))
    assert found.groups == () and "neighbourhood shrinks" in found.alone[0]


def seeds(n, source=SPEC):
    return checks(*([f"train.seed={i}"] for i in range(n)), source=source)


def test_auto_batches_only_where_it_pays():
    few = seeds(batchable.PAYS_POINTS - 1)
    assert batchable.choose(few, "auto").groups == ()
    assert "pays from" in batchable.choose(few, "auto").alone[0]
    assert batchable.choose(few, "on").groups == (tuple(range(len(few))),)
    assert batchable.choose(few, "off").groups == ()
    enough = seeds(batchable.PAYS_POINTS)
    assert batchable.choose(enough, "auto").groups == (tuple(range(len(enough))),)
    big = seeds(batchable.PAYS_POINTS, SPEC.replace("dense(16)", "dense(4096)"))
    assert batchable.choose(big, "auto").groups == ()


def test_batched_on_where_no_two_points_can_is_e617(spec, tmp_path):
    with pytest.raises(AespecError) as info:
        sweep(spec, ["z=2,4"], batched="on", out=tmp_path / "s")
    d = info.value.diagnostics[0]
    assert d.code == "E617" and "bottleneck[0].args.units" in d.message
    assert not (tmp_path / "s").exists()


def test_the_command_takes_batched(spec):
    from typer.testing import CliRunner

    from aespec.cli import app

    done = CliRunner().invoke(app, ["sweep", str(spec), "--set", "z=2,4", "--batched", "on"])
    assert done.exit_code == 1 and "error[E617]" in done.output
    done = CliRunner().invoke(app, ["sweep", str(spec), "--set", "z=2,4", "--batched", "x"])
    assert done.exit_code == 2 and "--batched" in done.output


def weights(run_dir, which="checkpoint.pt"):
    return torch.load(run_dir / which, weights_only=True)["model"]


def close_to_alone(point, alone):
    """Weights and test loss within float rounding of the run trained alone. On this CPU
    they are equal to the bit (the same fused Adam kernel, and MKL's batched products
    round as its single ones), but a BLAS may round a batched product (bmm) unlike a
    single one (mm), about 1e-7 relative, which training grows; hence 1e-5."""
    got, want = weights(point), weights(alone.run_dir)
    assert got.keys() == want.keys()
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=1e-4, atol=1e-5)
    info = json.loads((point / "run.json").read_text())
    assert info["test"]["loss"] == pytest.approx(alone.test["loss"], rel=1e-4)
    return info


@pytest.mark.slow
def test_seeds_and_learning_rates_batched_equal_their_runs_alone(spec, tmp_path):
    result = sweep(spec, ["train.seed=0,1", LRS], batched="on", jobs=1, threads=1,
                   out=tmp_path / "sweep", report=False)
    assert result.groups == ((0, 1, 2, 3),)
    assert [r["status"] for r in result.rows] == ["finished"] * 4
    assert all(r["batched"] for r in result.rows)
    torch.set_num_threads(1)
    for point, sets in (("001-train.seed=0-train.optimizer=adam_lr=1e-2_", ["train.seed=0",
                                                                             "train.optimizer="
                                                                             "adam(lr=1e-2)"]),
                        ("002-train.seed=1-train.optimizer=adam_lr=1e-3_", ["train.seed=1",
                                                                             "train.optimizer="
                                                                             "adam(lr=1e-3)"])):
        alone = aespec.train(spec, overrides=sets, out=tmp_path / point, quiet=True,
                             report=False)
        info = close_to_alone(tmp_path / "sweep" / point, alone)
        assert info["status"] == "finished" and info["batched"] is True
        lines = (tmp_path / "sweep" / point / "metrics.jsonl").read_text().splitlines()
        assert len(lines) == 2 and json.loads(lines[1])["lr"] == alone.history[1]["lr"]
    loaded = load_run(tmp_path / "sweep" / point, device="cpu")  # as aespec eval reads it
    assert sum(p.numel() for p in loaded.model.parameters()) == result.rows[0]["params"]
    record = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert record["batched"] == "on" and len(record["groups"][0]) == 4
    assert [p["group_size"] for p in record["points"]] == [4] * 4
    assert result.alone == {}
    assert (tmp_path / "sweep" / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "sweep" / point / "report.html").is_file()


@pytest.mark.slow
def test_loss_weights_and_epochs_batched_equal_their_runs_alone(spec, tmp_path):
    """Points whose weights differ (a factor on the first point's term) and whose epochs
    differ (the shorter one leaves the group when it ends)."""
    result = sweep(spec, ["w=1,0.5", "train.epochs=1,2"], batched="on", jobs=1, threads=1,
                   out=tmp_path / "sweep", report=False)
    assert result.groups == ((0, 1, 2, 3),)
    assert [r["epochs"] for r in result.rows] == [1, 2, 1, 2]
    torch.set_num_threads(1)
    alone = aespec.train(spec, overrides=["w=0.5", "train.epochs=1"], out=tmp_path / "a",
                         quiet=True, report=False)
    close_to_alone(tmp_path / "sweep" / "002-w=0.5-train.epochs=1", alone)
    assert "0.5*mse" in alone.test
    assert result.rows[2]["test.0.5*mse"] == pytest.approx(alone.test["0.5*mse"], rel=1e-4)


def test_a_group_whose_data_fails_records_each_point(spec, tmp_path):
    (tmp_path / "tiny.ae").write_text(SPEC.replace("data digits", 'data npy("none.npy")'))
    result = sweep(spec, ["train.seed=0,1"], batched="on", jobs=1, out=tmp_path / "s",
                   report=False)  # a group whose data fails: each point failed, recorded
    assert [r["status"] for r in result.rows] == ["failed", "failed"]
    record = json.loads((tmp_path / "s" / "sweep.json").read_text())
    assert record["points"][0]["error"].startswith("E501")
    assert record["points"][0]["batched"] is True


@pytest.mark.slow
def test_a_ctrl_c_saves_each_point_resumable_alone(spec, tmp_path, monkeypatch):
    from aespec.graph import check_file
    from aespec.train import batched

    real = batched._Group._train_epoch

    def ctrl_c_in_the_second_epoch(self, live):
        self.flag.requested = live[0].trainer.c.epoch == 1  # seen after its first step
        return real(self, live)

    monkeypatch.setattr(batched._Group, "_train_epoch", ctrl_c_in_the_second_epoch)
    checked = [check_file(spec, [f"train.seed={i}"]) for i in (0, 1)]
    results = batched.train_batched(checked, [tmp_path / "a", tmp_path / "b"], report=False)
    assert [(r.status, r.epochs) for r in results] == [("interrupted", 1)] * 2
    monkeypatch.undo()
    torch.set_num_threads(1)
    resumed = aespec.train(resume=tmp_path / "b", quiet=True, report=False)
    alone = aespec.train(spec, overrides=["train.seed=1"], out=tmp_path / "alone", quiet=True,
                         report=False)
    assert resumed.status == "finished" and resumed.epochs == 2
    close_to_alone(tmp_path / "b", alone)


def test_a_full_disk_fails_every_point_of_the_group(spec, tmp_path, monkeypatch):
    from aespec.graph import check_file
    from aespec.train import batched

    def full(self):
        raise OSError(28, "No space left on device", str(tmp_path / "a" / "checkpoint.pt"))

    monkeypatch.setattr(batched._Group, "fit", full)
    checked = [check_file(spec, [f"train.seed={i}"]) for i in (0, 1)]
    with pytest.raises(AespecError) as info:
        batched.train_batched(checked, [tmp_path / "a", tmp_path / "b"], report=False)
    assert info.value.diagnostics[0].code == "E606"
    for run in ("a", "b"):
        record = json.loads((tmp_path / run / "run.json").read_text())
        assert record["status"] == "failed" and "No space left" in record["error"]


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_the_unfused_stacked_adam_is_torchs_adam(name):
    """FlatAdam without the fused kernel (AESPEC_FUSED=0, or a device without it), with a
    different lr and weight decay for each run: torch's own update, so each run's weights
    and moments equal torch.optim's on that run alone, to the bit."""
    from types import SimpleNamespace

    from aespec.train.stacked import FlatAdam

    cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    torch.manual_seed(0)
    models = [torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.Linear(3, 2)) for _ in "ab"]
    twins = [torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.Linear(3, 2)) for _ in "ab"]
    for m, twin in zip(models, twins, strict=True):
        twin.load_state_dict(m.state_dict())
    hyper = [(1e-2, 0.0), (3e-3, 0.1)]
    runs = [SimpleNamespace(model=m, opt=cls(m.parameters(), lr=lr, weight_decay=wd))
            for m, (lr, wd) in zip(models, hyper, strict=True)]
    alone = [cls(t.parameters(), lr=lr, weight_decay=wd)
             for t, (lr, wd) in zip(twins, hyper, strict=True)]
    flat = FlatAdam(runs, decoupled=name == "adamw")
    assert not flat.fused
    for _ in range(5):  # each run's own gradient (a vmapped one rounds unlike it)
        x = torch.randn(4, 5)
        grads = []
        for twin, opt in zip(twins, alone, strict=True):
            opt.zero_grad()
            twin(x).square().sum().backward()
            grads.append(torch.cat([p.grad.reshape(-1) for p in twin.parameters()]))
            opt.step()
        flat.zero_grad()
        flat.flat.grad = torch.stack(grads)
        flat.step()
    flat.write_back()
    for m, twin, run, opt in zip(models, twins, runs, alone, strict=True):
        for p, q in zip(m.parameters(), twin.parameters(), strict=True):
            assert torch.equal(p, q)
            for key in ("exp_avg", "exp_avg_sq"):
                assert torch.equal(run.opt.state[p][key], opt.state[q][key])
        assert float(run.opt.state[next(m.parameters())]["step"]) == 5
