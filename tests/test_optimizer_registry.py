"""Optimizers and schedules are entries: one `Optimizer` or `Schedule` each in
`aespec.ops.optimizers`, carrying every rule (arguments, state per weight, W409's bound,
torch class and keywords, fused, flat), read by the settings, the memory estimate, the
lint, the run, the batched sweep, `aespec emit` and the docs alike.  A contributor's new
optimizer (Adagrad here) and schedule are registered as one entry each and go through all
of them."""

from __future__ import annotations

import pytest
import torch
from frontend import check, codes, spec
from pydantic import Field

import aespec
from aespec.cli.reference import render_ops
from aespec.emit import emit_source
from aespec.graph.memory import estimate
from aespec.ops.optimizers import OPTIMIZERS, SCHEDULES, Optimizer, Schedule
from aespec.ops.registry import Args, NoArgs
from aespec.train.optim import build_optimizer, build_schedule


class AdagradArgs(Args):
    lr: float = Field(1e-2, gt=0)
    lr_decay: float = Field(0.0, ge=0)


ADAGRAD = Optimizer("adagrad", AdagradArgs, "per-weight rates from summed squared gradients",
                    "Adagrad", lambda a: {"lr": a.lr, "lr_decay": a.lr_decay},
                    lambda a: 1, {"lr_decay": 0.0}, max_lr=1.0)
HALVE = Schedule("halve", NoArgs, "halves the rate every epoch",
                 factor=lambda a, epochs: lambda e: 0.5 ** e)


@pytest.fixture
def adagrad(monkeypatch: pytest.MonkeyPatch) -> Optimizer:
    monkeypatch.setitem(OPTIMIZERS, "adagrad", ADAGRAD)
    monkeypatch.setitem(SCHEDULES, "halve", HALVE)
    return ADAGRAD


def _checked(train: str):
    result = check(spec(input="vector(64)", after=f"loss mse\ntrain {{\n{train}}}"))
    assert result.ok and result.spec is not None, result.diagnostics
    return result


def test_a_new_optimizer_is_one_entry_through_check(adagrad: Optimizer) -> None:
    """The setting accepts it and its arguments; the memory estimate counts its one
    state tensor per weight; W409 warns above its own bound, not adam's."""
    result = _checked("    optimizer adagrad(lr=0.5, lr_decay=0.1)\n    schedule halve\n")
    assert result.spec.train.optimizer.args == AdagradArgs(lr=0.5, lr_decay=0.1)
    m = estimate(result.spec, result.ir)
    assert m.optimizer == m.weights  # one state tensor per weight, as the entry says
    assert "W409" not in codes(result)  # 0.5 is above adam's 0.1, below adagrad's 1.0
    assert "W409" in codes(_checked("    optimizer adagrad(lr=5)\n"))
    bad = check(spec(after="train {\n    optimizer adagrad(momentum=0.9)\n}"))
    assert not bad.ok and "momentum" in bad.diagnostics[0].message


def test_a_new_optimizer_is_written_by_emit_and_listed_by_the_docs(adagrad: Optimizer) -> None:
    result = _checked("    optimizer adagrad(lr=0.5)\n    schedule halve\n")
    text = emit_source(result.ir, result.spec)
    assert "optimizer = torch.optim.Adagrad(model.parameters(), lr=0.5)\n" in text
    assert "the halve schedule" in text  # emit leaves schedules out, and says so
    result = _checked("    optimizer adagrad(lr=0.5, lr_decay=0.25)\n")
    assert "torch.optim.Adagrad(model.parameters(), lr=0.5, lr_decay=0.25)" in \
        emit_source(result.ir, result.spec)
    page = render_ops()
    assert "| `adagrad` |" in page and "`torch.optim.Adagrad`" in page
    assert "| `halve` |" in page


def test_a_new_optimizer_and_schedule_train(adagrad: Optimizer, tmp_path) -> None:
    """One step by hand, then a one-epoch run: the entry's torch class steps the weights
    and the schedule's rule sets the learning rate."""
    result = _checked("    optimizer adagrad(lr=0.5)\n    schedule halve\n    epochs 2\n")
    net = torch.nn.Linear(3, 2)
    before = net.weight.detach().clone()
    opt = build_optimizer(result.spec.train.optimizer, net.parameters(), torch.device("cpu"))
    assert isinstance(opt, torch.optim.Adagrad) and opt.defaults["lr_decay"] == 0.0
    schedule = build_schedule(result.spec.train, opt)  # as a run: before the first step
    net(torch.randn(4, 3)).square().sum().backward()
    opt.step()
    assert not torch.equal(net.weight, before)
    schedule.step(1.0)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.25)
    path = tmp_path / "t.ae"
    path.write_text("data digits\n" + spec(decoder="dense(64) sigmoid", after=(
        "loss mse\ntrain {\n    epochs 1\n    batch 256\n    optimizer adagrad(lr=0.05)\n}")))
    run = aespec.train(path, out=tmp_path / "run", quiet=True, report=False)
    assert len(run.history) == 1


def test_a_set_hint_names_an_optimizer_that_takes_the_argument(adagrad: Optimizer) -> None:
    """`--set train.lr_decay=...` on an adam spec: the hint names the first optimizer
    whose entry has that argument, as `momentum` names sgd."""
    for arg, named in (("lr_decay", "adagrad"), ("momentum", "sgd"), ("lr", "adam")):
        result = check(spec(), f"train.{arg}=0.1")
        assert codes(result) == ["E210"]
        assert f"train.optimizer={named}({arg}=...)" in (result.diagnostics[0].hint or "")


def test_every_optimizer_entry_names_a_torch_class_that_takes_its_arguments() -> None:
    """The entries' keyword arguments at their defaults build the torch class they name."""
    for entry in OPTIMIZERS.values():
        cls = getattr(torch.optim, entry.torch_name)
        cls([torch.nn.Parameter(torch.zeros(2))], **entry.kwargs(entry.args()))
