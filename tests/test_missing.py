"""Missing values (`missing=nan`): the data read with its NaN as unobserved entries, the
loss over the observed ones only (compiled and emitted alike), the imputation scores of
held-out entries, and the checks (E343, E344, W437, W438, W439, E633, E504's hint)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F  # noqa: N812

from aespec.compile import compile_model
from aespec.data import load_data
from aespec.emit import emit_source
from aespec.emit.module import class_name
from aespec.errors import AespecError
from aespec.graph.frontend import check_source
from aespec.lsp.complete import complete
from aespec.lsp.document import analyse
from aespec.parse.fmt import format_source
from aespec.report.imputation import KEYS, held_out, imputation_scores

LOSSES = {"mse": lambda p, t: (p - t) ** 2, "mae": lambda p, t: (p - t).abs(),
          "huber": lambda p, t: F.huber_loss(p, t, reduction="none"),
          "bce": lambda p, t: F.binary_cross_entropy(p, t, reduction="none")}


def _spec(loss: str = "mse", data: str = 'npz("r.npz", missing=nan)',
          encoder: str = "dense(8) relu", bottleneck: str = "dense(4)", after: str = "") -> str:
    return (f"model m\ndata {data}\ninput vector(12)\nencoder {{\n    {encoder}\n}}\n"
            f"bottleneck {{\n    {bottleneck}\n}}\ndecoder {{\n    dense(12) sigmoid\n}}\n"
            f"loss {loss}\n{after}")


def _codes(text: str) -> list[str]:
    return [d.code for d in check_source(text, "m.ae").diagnostics]


def _ratings(tmp_path: Path, share: float = 0.3, name: str = "r.npz", seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (50, 12)).astype(np.float32)
    x[rng.random(x.shape) > share] = np.nan
    np.savez(tmp_path / name, x=x)
    return tmp_path / name


# ---------------------------------------------------------------- data


def test_missing_nan_fills_the_input_and_keeps_the_nan_in_the_target(tmp_path: Path):
    _ratings(tmp_path)
    ds = load_data("npz", {"file": "r.npz", "missing": "nan"}, (12,), base_dir=tmp_path)
    assert not np.isnan(ds.x_train).any() and not np.isnan(ds.x_test).any()
    observed = ~np.isnan(ds.y_train)
    assert 0.2 < observed.mean() < 0.4
    np.testing.assert_array_equal(ds.x_train[observed], ds.y_train[observed])
    means = np.nanmean(ds.y_train, 0)  # fill=mean: each value's observed training mean
    rows, cols = np.nonzero(~observed)
    np.testing.assert_allclose(ds.x_train[rows, cols], means[cols], rtol=1e-6)
    np.testing.assert_allclose(ds.missing.column_means, means, rtol=1e-6)
    assert "observed: " in ds.description and "fill=mean" in ds.description
    assert ds.warnings == ()
    zero = load_data("npz", {"file": "r.npz", "missing": "nan", "fill": "zero"}, (12,),
                     base_dir=tmp_path)
    assert (zero.x_train[~observed] == 0).all()


def test_a_csv_reads_an_empty_cell_as_missing(tmp_path: Path):
    (tmp_path / "r.csv").write_text("a,b,c\n0.5,,1\n0.25,0.5,\n,1,0\n1,0.5,0.5\n0,0,0\n")
    ds = load_data("csv", {"file": "r.csv", "missing": "nan"}, (3,), base_dir=tmp_path)
    both = np.concatenate([ds.y_train, ds.y_test])
    assert int(np.isnan(both).sum()) == 3
    with pytest.raises(AespecError, match="not a number"):
        load_data("csv", {"file": "r.csv"}, (3,), base_dir=tmp_path)


def test_npy_takes_missing_nan_too(tmp_path: Path):
    x = np.ones((10, 4), np.float32)
    x[0, 0] = np.nan
    np.save(tmp_path / "x.npy", x)
    ds = load_data("npy", {"file": "x.npy", "missing": "nan"}, (4,), base_dir=tmp_path)
    assert np.isnan(np.concatenate([ds.y_train, ds.y_test])).sum() == 1


def test_a_nan_without_missing_is_refused_with_a_hint_naming_the_option(tmp_path: Path):
    _ratings(tmp_path)
    with pytest.raises(AespecError) as err:
        load_data("npz", {"file": "r.npz"}, (12,), base_dir=tmp_path)
    d = err.value.diagnostics[0]
    assert d.code == "E504" and "NaN" in d.message and "missing=nan" in (d.hint or "")


def test_an_infinite_value_is_refused_even_with_missing(tmp_path: Path):
    x = np.ones((10, 4), np.float32)
    x[0, 0] = np.inf
    np.savez(tmp_path / "inf.npz", x=x)
    with pytest.raises(AespecError, match="infinite") as err:
        load_data("npz", {"file": "inf.npz", "missing": "nan"}, (4,), base_dir=tmp_path)
    assert err.value.diagnostics[0].code == "E504"


def test_fill_without_missing_is_e203():
    assert "E203" in _codes(_spec(data='npz("r.npz", fill=zero)'))
    assert "E203" in _codes(_spec(data='npz("r.npz", missing=zero)'))
    assert "E203" not in _codes(_spec(data='npz("r.npz", missing=nan, fill=zero)'))


def test_e633_when_every_training_entry_is_missing(tmp_path: Path):
    np.savez(tmp_path / "e.npz", x=np.full((10, 4), np.nan, np.float32))
    with pytest.raises(AespecError) as err:
        load_data("npz", {"file": "e.npz", "missing": "nan"}, (4,), base_dir=tmp_path)
    assert err.value.diagnostics[0].code == "E633"


def test_w437_when_the_data_has_no_nan(tmp_path: Path):
    np.savez(tmp_path / "full.npz", x=np.ones((10, 4), np.float32))
    ds = load_data("npz", {"file": "full.npz", "missing": "nan"}, (4,), base_dir=tmp_path)
    assert [w.code for w in ds.warnings] == ["W437"]


def test_w439_when_too_little_is_observed(tmp_path: Path):
    _ratings(tmp_path, share=0.01, name="sparse.npz")
    ds = load_data("npz", {"file": "sparse.npz", "missing": "nan"}, (12,), base_dir=tmp_path)
    assert [w.code for w in ds.warnings] == ["W439"]
    x = np.random.default_rng(0).uniform(0, 1, (50, 12)).astype(np.float32)
    x[:, 3] = np.nan  # a value no example observes
    np.savez(tmp_path / "column.npz", x=x)
    ds = load_data("npz", {"file": "column.npz", "missing": "nan"}, (12,), base_dir=tmp_path)
    assert [w.code for w in ds.warnings] == ["W439"] and "never observed" in \
        ds.warnings[0].message


# ---------------------------------------------------------------- the loss


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(6, 12, generator=g)
    target[torch.rand(6, 12, generator=g) < 0.6] = float("nan")
    target[0] = float("nan")  # a row that observes nothing
    return target.nan_to_num(0.5), target


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("reduce", ["mean", "sum"])
def test_the_loss_is_over_the_observed_entries_only(loss: str, reduce: str):
    result = check_source(_spec(f"{loss}(reduce={reduce})"), "m.ae")
    assert result.ok, result.diagnostics
    torch.manual_seed(0)
    model = compile_model(result.ir, result.spec).eval()
    x, target = _batch()
    out = model(x, target=target)
    observed = ~target.isnan()
    e = LOSSES[loss](out.x_hat.double(), target.double().nan_to_num())[observed]
    want = e.sum() / len(x) if reduce == "sum" else e.mean()
    torch.testing.assert_close(out.terms[loss].double(), want, rtol=1e-5, atol=1e-7)
    per_row = model.recon_error(x, target)
    assert torch.isfinite(per_row).all() and per_row[0] == 0  # row 0 observes nothing


def test_unobserved_entries_give_no_gradient_and_no_nan():
    result = check_source(_spec("bce"), "m.ae")
    torch.manual_seed(0)
    model = compile_model(result.ir, result.spec).train()
    x, target = _batch(1)
    outs = model.net(x)
    slot = model.slots.logits if model.slots.logits is not None else model.slots.x_hat
    pred = outs[slot]  # the pre-sigmoid output that the stable bce reads
    pred.retain_grad()
    loss, _ = model.objective(outs, target, x)
    loss.backward()
    assert torch.isfinite(loss) and pred.grad is not None
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    assert (pred.grad[target.isnan()] == 0).all() and (pred.grad[~target.isnan()] != 0).any()


def test_without_missing_the_loss_is_unmasked():
    result = check_source(_spec(data="synthetic"), "m.ae")
    assert not result.ir.masked
    model = compile_model(result.ir, result.spec)
    assert not any(getattr(t, "masked", False) for t in model.objective.terms)


def test_the_objective_says_it_is_over_observed_entries():
    from aespec.graph.summary import objective_text

    result = check_source(_spec("0.5 * mse + 0.5 * bce"), "m.ae")
    text = objective_text(result.ir)
    assert text.count("over observed entries") == 2


# ---------------------------------------------------------------- emit


@pytest.mark.parametrize("spec", [_spec("mse"), _spec("0.5 * mae + huber(delta=0.5)"),
                                  _spec("bce(reduce=sum)"),
                                  _spec("mse", bottleneck="gaussian(4, samples=3)")],
                         ids=["mse", "mae_huber", "bce_sum", "vae_draws"])
def test_the_emitted_loss_skips_what_the_compiled_one_skips(spec: str):
    result = check_source(spec, "m.ae")
    assert result.ok, result.diagnostics
    text = emit_source(result.ir, result.spec)
    assert "observed_only(" in text
    ns: dict = {"__name__": "emitted_m"}
    exec(compile(text, "<emitted m>", "exec"), ns)
    torch.manual_seed(0)
    compiled = compile_model(result.ir, result.spec)
    emitted = ns[class_name(result.spec.name)]()
    ns["load_aespec_state_dict"](emitted, compiled.state_dict())
    x, target = _batch(2)
    for mode in ("eval", "train"):
        compiled.train(mode == "train")
        emitted.train(mode == "train")
        torch.manual_seed(5)
        want = compiled(x, target=target)
        torch.manual_seed(5)
        loss, terms = ns["loss_fn"](emitted, x, target)
        assert list(terms) == list(want.terms)
        for name, value in terms.items():
            torch.testing.assert_close(value, want.terms[name], rtol=1e-4, atol=1e-6,
                                       msg=lambda m, n=f"{mode} {name}": f"{n}: {m}")
        assert math.isfinite(loss.item())


# ---------------------------------------------------------------- imputation scores


def test_held_out_entries_are_a_seeded_share_of_the_observed():
    target = np.where(np.random.default_rng(0).random((40, 10)) < 0.5, 0.5, np.nan)
    hide = held_out(target)
    assert not hide[np.isnan(target)].any()
    assert hide.sum() == round(0.2 * (~np.isnan(target)).sum())
    np.testing.assert_array_equal(hide, held_out(target))
    assert held_out(np.full((3, 3), np.nan)).sum() == 0


class _Fixed(torch.nn.Module):
    """A 'model' whose reconstruction is given: what `imputation_scores` reads of one."""

    def __init__(self, make):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.make = make

    def forward(self, x):
        return type("Out", (), {"x_hat": self.make(x)})()


def test_the_scores_of_the_baselines_and_a_perfect_model(tmp_path: Path):
    _ratings(tmp_path)
    ds = load_data("npz", {"file": "r.npz", "missing": "nan"}, (12,), base_dir=tmp_path)
    # a model that gives back its input: the fill (column means) where it was hidden
    same = imputation_scores(_Fixed(lambda x: x), ds)
    assert same[KEYS["model"]] == pytest.approx(same[KEYS["column_means"]], rel=1e-6)
    hide = held_out(ds.y_test)
    truth = np.where(hide, ds.y_test, np.nan)
    rows = torch.as_tensor(np.nanmean(np.where(hide, np.nan, ds.y_test), 1, keepdims=True))
    row_model = imputation_scores(_Fixed(lambda x: rows.expand_as(x).float()), ds)
    assert row_model[KEYS["model"]] == pytest.approx(row_model[KEYS["row_means"]], rel=1e-5)
    assert same["imputation_entries"] == hide.sum() > 0
    assert np.isfinite(truth[hide]).all()


def test_no_scores_for_data_with_targets_of_its_own(tmp_path: Path):
    _ratings(tmp_path)
    x = np.load(tmp_path / "r.npz")["x"]
    np.savez(tmp_path / "paired.npz", x=np.nan_to_num(x), y=x)
    ds = load_data("npz", {"file": "paired.npz", "y": "y", "missing": "nan"}, (12,),
                   base_dir=tmp_path)
    assert ds.missing.paired and np.isnan(ds.y_train).any()
    assert imputation_scores(_Fixed(lambda x: x), ds) == {}


def test_no_scores_without_missing_values():
    from aespec.data import load_data as load

    ds = load("synthetic", {"n": 20}, (4,))
    assert imputation_scores(_Fixed(lambda x: x), ds) == {}


# ---------------------------------------------------------------- checks


def test_e343_missing_with_a_condition():
    text = _spec(data='npz("r.npz", labels="y", missing=nan)').replace(
        "input vector(12)", "condition labels(3)\ninput vector(12)")
    assert "E343" in _codes(text)
    assert "E343" not in _codes(text.replace(", missing=nan", ""))


@pytest.mark.parametrize("after", ["train {\n    pretrain layerwise(epochs=1)\n}\n"])
def test_e344_pretraining_on_filled_inputs(after: str):
    assert "E344" in _codes(_spec(after=after))
    assert "E344" not in _codes(_spec(after=after, data='npz("r.npz")'))


def test_e344_a_gan_and_an_rbm():
    gan = ('model g\ndata npz("r.npz", missing=nan)\ninput vector(12)\nlatent normal(4)\n'
           "decoder {\n    dense(12) sigmoid\n}\ndiscriminator {\n    dense(8) relu\n"
           "    dense(1)\n}\nloss adversarial(nonsaturating)\n")
    assert "E344" in _codes(gan)
    rbm = ('model r\ndata npz("r.npz", missing=nan)\ninput vector(12)\nencoder {\n}\n'
           "bottleneck {\n    rbm(8)\n}\ndecoder mirror\nloss mse\n")
    assert "E344" in _codes(rbm)
    assert "E344" not in _codes(_spec())


def test_w438_batchnorm_over_filled_inputs():
    text = _spec(encoder="dense(8)\n    batchnorm\n    relu")
    assert "W438" in _codes(text)
    assert "W438" not in _codes(text.replace(", missing=nan", ""))
    assert "W438" not in _codes(_spec(encoder="dense(8)\n    layernorm\n    relu"))


def test_the_checked_spec_is_otherwise_clean():
    assert check_source(_spec(), "m.ae").ok


# ---------------------------------------------------------------- fmt, LSP


def test_fmt_keeps_missing_nan():
    text = _spec(data='npz( "r.npz" ,missing=nan,fill=zero )')
    out = format_source(text)
    assert 'data npz("r.npz", missing=nan, fill=zero)' in out
    assert format_source(out) == out


def test_completion_offers_missing_and_fill():
    text = 'data npz("r.npz", '
    labels = [i.label for i in complete(analyse(text), 0, len(text))]
    assert "missing=" in labels and "fill=" in labels


# ---------------------------------------------------------------- runs


RUN_SPEC = """\
data npz("{file}", missing=nan)
input vector(12)
encoder {{
    dense(8) relu
}}
bottleneck {{
    dense(4)
}}
decoder {{
    dense(12) sigmoid
}}
loss mse
train {{
    epochs 2
    batch 16
    seed 0
}}
"""


def test_a_run_records_imputation_and_the_data_warnings(tmp_path: Path):
    import json

    import aespec

    torch.set_num_threads(1)
    np.savez(tmp_path / "full.npz", x=np.random.default_rng(0).uniform(0, 1, (60, 12))
             .astype(np.float32))
    (tmp_path / "full.ae").write_text(RUN_SPEC.format(file="full.npz"))
    result = aespec.train(tmp_path / "full.ae", out=tmp_path / "run", quiet=True)
    # uniform noise has nothing to learn: W444/W445 (issue 24) rightly say so beside it
    collapse = {"W444", "W445", "W446"}
    assert [w.code for w in result.warnings if w.code not in collapse] == ["W437"]
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert [w["code"] for w in info["warnings"] if w["code"] not in collapse] == ["W437"]
    assert set(KEYS.values()) <= set(result.test)  # every entry is observed: all scored
    assert (tmp_path / "run" / "report" / "summary.md").exists()


@pytest.mark.slow
def test_two_ranks_train_a_masked_loss(tmp_path: Path):
    """DDP is not broken by a masked loss: both ranks train, the run finishes with finite
    weights and its imputation scores (a shard's mean over its own observed entries is
    weighted by its rows, so the weights are close to one process's, not equal)."""
    import json

    from test_dist import two_ranks, weights

    import aespec

    _ratings(tmp_path, share=0.4)
    spec = tmp_path / "m.ae"
    spec.write_text(RUN_SPEC.format(file="r.npz"))
    two_ranks(spec=spec, out=tmp_path / "ddp", report=False)
    info = json.loads((tmp_path / "ddp" / "run.json").read_text())
    assert info["status"] == "finished" and math.isfinite(info["test"]["imputation_rmse"])
    one = aespec.train(spec, out=tmp_path / "one", quiet=True, report=False)
    for k, v in weights(tmp_path / "ddp").items():
        assert torch.isfinite(v).all()
        torch.testing.assert_close(v, weights(one.run_dir)[k], atol=0.05, rtol=0)


@pytest.mark.slow
def test_a_batched_seed_sweep_gives_each_run_its_own_targets(tmp_path: Path):
    """Regression: the batched step stacked each run's targets but vmapped over none of
    them, so with data that has targets (missing=nan, or y=) and runs of different seeds
    every run's loss read the others' targets too. Batched runs now equal runs alone."""
    import json

    from aespec.sweep import sweep

    torch.set_num_threads(1)
    _ratings(tmp_path, share=0.4)
    spec = tmp_path / "m.ae"
    spec.write_text(RUN_SPEC.format(file="r.npz"))
    sweep(spec, ["train.seed=0,1"], batched="on", jobs=1, threads=1, out=tmp_path / "s",
          report=False)
    alone = aespec_train(spec, ["train.seed=1"], tmp_path / "alone")
    batched = [json.loads(line) for line in
               (tmp_path / "s" / "001-train.seed=1" / "metrics.jsonl").read_text().splitlines()]
    for a, b in zip(batched, alone.history, strict=True):
        assert a["train"]["loss"] == pytest.approx(b["train"]["loss"], rel=1e-5)
        assert a["val"]["loss"] == pytest.approx(b["val"]["loss"], rel=1e-5)


def aespec_train(spec: Path, overrides: list[str], out: Path):
    import aespec

    return aespec.train(spec, overrides=overrides, out=out, quiet=True, report=False)
