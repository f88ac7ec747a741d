"""aespec's optimizers: torch.optim's classes without the wrappers that import
torch._dynamo, the same arithmetic and state bit for bit (aespec/train/optim.py)."""

from __future__ import annotations

import copy
import subprocess
import sys
import textwrap

import pytest
import torch
from frontend import check, spec

from aespec.train.optim import build_optimizer, build_schedule, light

CASES = [
    (torch.optim.Adam, {"lr": 1e-2, "weight_decay": 1e-3, "fused": True}),
    (torch.optim.Adam, {"lr": 1e-3}),
    (torch.optim.AdamW, {"lr": 1e-2, "weight_decay": 0.1, "fused": True}),
    (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "fused": True}),
    (torch.optim.SGD, {"lr": 0.1}),
    (torch.optim.RMSprop, {"lr": 1e-3, "momentum": 0.5, "weight_decay": 1e-4}),
]


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))


def _steps(net, opt, n: int, seed: int = 1) -> None:
    gen = torch.Generator().manual_seed(seed)
    for _ in range(n):
        x = torch.randn(8, 12, generator=gen)
        opt.zero_grad()
        net(x).square().mean().backward()
        opt.step()


@pytest.mark.parametrize(("base", "kwargs"), CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_the_light_optimizer_steps_and_saves_as_torch_does_bit_for_bit(base, kwargs):
    a, b = _net(), _net()
    oa, ob = base(a.parameters(), **kwargs), light(base)(b.parameters(), **kwargs)
    assert isinstance(ob, base) and type(ob).__name__ == base.__name__
    _steps(a, oa, 6)
    _steps(b, ob, 6)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    sa, sb = oa.state_dict(), ob.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    for i, state in sa["state"].items():
        assert state.keys() == sb["state"][i].keys()
        assert all(torch.equal(v, sb["state"][i][k]) for k, v in state.items())
    # each loads the other's state and goes on as the other would
    c, d = copy.deepcopy(a), copy.deepcopy(b)
    oc, od = light(base)(c.parameters(), **kwargs), base(d.parameters(), **kwargs)
    oc.load_state_dict(copy.deepcopy(sa))  # (load_state_dict may share the tensors)
    od.load_state_dict(copy.deepcopy(sb))
    _steps(a, oa, 3, seed=2)
    _steps(c, oc, 3, seed=2)
    _steps(d, od, 3, seed=2)
    for p, q, r in zip(a.parameters(), c.parameters(), d.parameters(), strict=True):
        assert torch.equal(p, q) and torch.equal(p, r)


def _train_spec(lines: str):
    """The TrainSpec of a small spec whose train block holds `lines` (one per `\n`)."""
    train = "".join(f"    {line}\n" for line in ["epochs 4", *lines.split("\n")])
    result = check(spec(encoder="dense(6) relu", bottleneck="dense(4)", decoder="dense(12)",
                        input="vector(12)", after=f"loss mse\ntrain {{\n{train}}}"))
    assert result.spec is not None, result.diagnostics
    return result.spec.train


@pytest.mark.parametrize(("lines", "lrs"), [
    ("optimizer adam(lr=0.01)\nschedule cosine", [0.01, 0.0085355, 0.005, 0.0014645, 0.0]),
    ("optimizer sgd(lr=0.1)\nschedule step(every=2, gamma=0.5)", [0.1, 0.1, 0.05, 0.05, 0.025]),
])
def test_schedules_drive_the_light_optimizer(lines, lrs):
    train = _train_spec(lines)
    net = _net()
    opt = build_optimizer(train.optimizer, net.parameters(), torch.device("cpu"))
    assert type(opt) is light(type(opt).__mro__[1])  # aespec's, not torch's own class
    schedule = build_schedule(train, opt)
    seen = [opt.param_groups[0]["lr"]]
    for _ in range(4):
        _steps(net, opt, 1)
        schedule.step(1.0)
        seen.append(opt.param_groups[0]["lr"])
    assert seen == pytest.approx(lrs, abs=1e-6)


def test_a_compiled_step_gets_torch_s_own_optimizer_class():
    train = _train_spec("optimizer adamw(lr=0.01)")
    opt = build_optimizer(train.optimizer, _net().parameters(), torch.device("cpu"),
                          compiled=True)
    assert type(opt) is torch.optim.AdamW


@pytest.mark.slow
def test_a_whole_run_imports_neither_torch_dynamo_nor_networkx(tmp_path):
    """torch._dynamo takes 1.8 s to import: a run that does not compile must not pay it
    (neither the optimizer's first step nor a decorator at import may pull it in); nor
    networkx (0.18 s), since the front end's graph IR serves every stage of a run."""
    path = tmp_path / "s.ae"
    path.write_text(spec(encoder="dense(16) relu", bottleneck="dense(4)", decoder="mirror",
                         before="data digits", after="loss mse\ntrain {\n    epochs 2\n"
                         "    batch 64\n    optimizer adam(lr=1e-3)\n    schedule cosine\n}"))
    code = textwrap.dedent(f"""\
        import sys
        from aespec.train import train
        r = train({str(path)!r}, out={str(tmp_path / "run")!r}, quiet=True)
        r2 = train(resume={str(tmp_path / "run")!r}, epochs=3, quiet=True)
        assert r2.epochs == 3, r2.epochs
        print([m for m in ("torch._dynamo", "networkx") if m in sys.modules])
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=240)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "[]"
