"""The helpers an emitted file defines are aespec's own code (`aespec/ops/portable.py`): the
text `aespec emit` writes is each definition's source, and running that text computes what
aespec runs, drawing random numbers in the same order."""

from __future__ import annotations

import inspect
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import test_wheel
import torch
from torch import nn

from aespec.compile import lower
from aespec.compile import objective as compiled_objective
from aespec.emit.helpers import DEFINITIONS, HELPERS, SCHEDULE_RULES
from aespec.ops import get_op, modules, portable

ROOT = Path(__file__).resolve().parents[1]
wheel, venv = test_wheel.wheel, test_wheel.venv  # fixtures: the wheel, installed in a venv


def _emitted() -> dict:
    """Every helper's emitted text run in a namespace of what an emitted file imports."""
    namespace: dict = {"math": math, "torch": torch, "nn": nn}
    for name, text in HELPERS.items():
        exec(compile(text, f"<emitted helper {name}>", "exec"), namespace)
    return namespace


EMITTED = _emitted()


def _build(place: str, name: str, *shapes: tuple[int, ...], **args):
    """The registry's torch form of an op: a layer's is given its input and output shape."""
    opdef = get_op(place, name)
    assert opdef.build is not None
    return opdef.build(opdef.args(**args), *shapes)


@pytest.mark.parametrize("helper", sorted(DEFINITIONS))
def test_each_emitted_helper_is_the_source_of_what_aespec_runs(helper: str) -> None:
    obj = getattr(portable, DEFINITIONS[helper])
    assert HELPERS[helper] == textwrap.dedent(inspect.getsource(obj)).rstrip("\n")


def test_aespec_runs_the_portable_definitions() -> None:
    """The builders, the lowering and the objective call nothing but portable.py's."""
    assert modules.ExampleNorm is portable.ExampleNorm
    assert lower.tile_draws is compiled_objective.tile_draws is portable.tile_draws
    assert _build("loss", "gaussian_nll").func is portable.gaussian_nll
    assert _build("loss", "gaussian_nll", var=0.5).func is portable.gaussian_nll
    assert _build("regularizer", "contractive", weight=0.1).func is portable.contractive_penalty
    assert type(_build("layer", "layernorm", (4, 5, 5), (4, 5, 5))) is portable.ExampleNorm


def test_emitted_occlude_draws_the_squares_aespec_draws() -> None:
    x = torch.rand(5, 2, 8, 9)
    torch.manual_seed(3)
    want = modules.Occlude(3)(x)
    torch.manual_seed(3)
    got = EMITTED["occlude"](x, 3)
    assert torch.equal(got, want) and (got == 0).sum() == 5 * 2 * 9


@pytest.mark.filterwarnings("ignore:The TorchScript type system:UserWarning")
def test_regression_occlude_module_stopped_scripting_when_it_called_the_helper() -> None:
    """An unannotated `size` is a tensor to TorchScript: `occlude(size: int)` keeps the
    compiled network of an occlude spec scriptable, as it was with its own copy."""
    x = torch.rand(4, 1, 6, 6)
    scripted = torch.jit.script(modules.Occlude(2))
    torch.manual_seed(7)
    want = modules.Occlude(2)(x)
    torch.manual_seed(7)
    assert torch.equal(scripted(x), want)


def test_emitted_tile_draws_repeats_the_batch_draw_major() -> None:
    x, like = torch.rand(2, 3), torch.empty(6, 7)
    got = EMITTED["tile_draws"](x, like)
    assert torch.equal(got, portable.tile_draws(x, like)) and torch.equal(got, x.repeat(3, 1))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_emitted_gaussian_nll_is_the_registry_loss(reduction: str) -> None:
    g = torch.Generator().manual_seed(1)
    pred, target, log_var = (torch.randn(4, 1, 3, 3, generator=g) for _ in range(3))
    learned = _build("loss", "gaussian_nll", min_var=0.01)
    fixed = _build("loss", "gaussian_nll", var=0.25)
    torch.testing.assert_close(
        EMITTED["gaussian_nll"](pred, target, reduction, log_var=log_var, min_var=0.01),
        learned(pred, target, reduction=reduction, log_var=log_var), rtol=0, atol=0)
    torch.testing.assert_close(EMITTED["gaussian_nll"](pred, target, reduction, var=0.25),
                               fixed(pred, target, reduction=reduction), rtol=0, atol=0)


def test_regression_emitted_gaussian_nll_meant_reduction_none() -> None:
    """aespec's per-example losses ask for reduction="none"; the emitted helper once
    answered with the mean, so the two could not share one definition."""
    pred, target = torch.zeros(2, 3), torch.ones(2, 3)
    per_value = EMITTED["gaussian_nll"](pred, target, "none", var=1.0)
    torch.testing.assert_close(per_value, torch.full((2, 3), 0.5 * (math.log(2 * math.pi) + 1)))


def test_emitted_contractive_penalty_is_the_registry_penalty() -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.rand(3, 4, generator=g, requires_grad=True)
    w = torch.randn(4, 5, generator=g)
    h = torch.tanh(x @ w)
    jac = torch.autograd.functional.jacobian(lambda v: torch.tanh(v @ w), x)  # (3, 5, 3, 4)
    exact = 0.1 * sum(jac[i, :, i].square().sum() for i in range(3)) / 3
    penalty = _build("regularizer", "contractive", weight=0.1)
    for budget in (1 << 24, 2 * x.numel()):  # one chunk of units, and chunks of two
        got = EMITTED["contractive_penalty"](h, x, 0.1, budget=budget)
        torch.testing.assert_close(got, penalty(h, x, budget=budget), rtol=0, atol=0)
        torch.testing.assert_close(got, exact)


def test_emitted_example_norm_is_the_built_layernorm() -> None:
    """GroupNorm(1, C), as aespec builds `layernorm` on images, with the same state dict."""
    built = _build("layer", "layernorm", (4, 5, 5), (4, 5, 5), eps=1e-3)
    with torch.no_grad():
        built.weight.uniform_(0.5, 1.5)
        built.bias.uniform_(-0.5, 0.5)
    emitted = EMITTED["ExampleNorm"](1, 4, eps=1e-3)
    emitted.load_state_dict(built.state_dict())
    fused = nn.GroupNorm(1, 4, eps=1e-3)
    fused.load_state_dict(built.state_dict())
    x = torch.randn(3, 4, 5, 5, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(emitted(x), built(x), rtol=0, atol=0)
    torch.testing.assert_close(emitted(x), fused(x))


def test_emitting_imports_no_torch_to_read_the_helpers() -> None:
    probe = "import sys, aespec.emit.helpers as h; print(len(h.HELPERS), 'torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    want = len(DEFINITIONS) + len(SCHEDULE_RULES)
    assert proc.stdout.split() == [str(want), "False"], proc.stderr


@pytest.mark.slow
def test_the_installed_package_emits_the_helpers_from_its_own_file(venv, tmp_path) -> None:
    """portable.py ships in the wheel and `aespec emit` reads it there (test_wheel's venv)."""
    spec = ROOT / "specs" / "inpainting_unet.ae"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run([venv / "bin" / "aespec", "emit", spec], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert HELPERS["occlude"] in proc.stdout


@pytest.mark.parametrize("grid", ["hex", "rect"])
def test_the_som_module_lays_out_the_grid_of_the_reports_maps(grid: str):
    """SelfOrganizingMap (portable.py) computes its grid in torch; the report's maps read
    aespec.ops.grid's: the same places and the same neighbours."""
    from aespec.ops.grid import neighbour_pairs, unit_positions

    som = portable.SelfOrganizingMap(3, 4, 5, grid, 2.0, 0.5)
    expected = torch.tensor(unit_positions(4, 5, grid))
    assert torch.equal(som.positions, expected)
    pairs = {(int(i), int(j)) for i, j in som.adjacent.nonzero() if i < j}
    assert pairs == set(neighbour_pairs(4, 5, grid))
    assert bool(som.adjacent.diagonal().all())
