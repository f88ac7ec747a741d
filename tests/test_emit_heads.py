"""`aespec emit` of a spec with a supervised head (`head on NAME { ... }` + `xent`): the
file's module ends forward in the head's `class_logits`, its `loss_fn(model, x, labels)`
adds the head's cross-entropy, and its data and loop read the class labels.

Tested equal to the compiled model, for specs/pretrain_finetune.ae, the conformance cases
with a head, a head on a named tensor of a denoiser with dropout, a VAE drawing three codes
per example (the labels repeated for them) and a spec whose second phase adds `xent`: the
same parameters (loaded strictly, the head's under aespec's `head.`), the same outputs,
class scores (`classify`) and loss terms in evaluation and in training mode, the same
weights after training steps (the phases' too), and the file trains as a script with
aespec unimportable.  The files pass ruff.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from emitted import run_alone

from aespec.compile import compile_model
from aespec.emit import emit_source
from aespec.emit.module import class_name
from aespec.graph.frontend import check_source
from aespec.train.optim import build_optimizer
from aespec.train.phases import plan_phases

ROOT = Path(__file__).resolve().parents[1]

# noise and dropout before the tensor the head reads, two head layers
NAMED = """\
model denoiser_head "A denoiser whose head reads an encoder tensor"
data digits
input vector(64)
noise gaussian(std=0.2) clip(0, 1)
encoder {
    h = dense(32) relu
    dropout(0.2)
}
bottleneck {
    dense(8)
}
decoder mirror
head on h {
    dense(16) relu
    dense(10)
}
loss mse + 0.5 * xent
train {
    epochs 2
    batch 8
    seed 0
}
"""

# L = 3 draws of z per example: the head reads each, the labels repeated for them
DRAWS = """\
model vae_head "A VAE whose head reads its three draws of z"
data digits
input vector(64)
encoder {
    dense(32) relu
}
bottleneck {
    gaussian(4, samples=3)
}
decoder {
    dense(64) sigmoid
}
head on code {
    dense(10)
}
loss bce(reduce=sum) + 2 * xent
train {
    epochs 2
    batch 8
    seed 0
}
"""

# phase 1 reconstructs, phase 2 adds the head's term
PHASED = """\
model phased_head "Reconstruct, then classify too"
data digits
input vector(64)
encoder {
    dense(32) relu
}
bottleneck {
    dense(8)
}
decoder mirror
head on code {
    dense(10)
}
loss bce
train {
    batch 4
    seed 0
}
phase reconstruct {
    epochs 2
}
phase classify {
    epochs 2
    loss bce + 0.5 * xent
}
"""

SOURCES = {
    "pretrain_finetune": (ROOT / "specs" / "pretrain_finetune.ae").read_text(encoding="utf-8"),
    "head_on_code": (ROOT / "tests" / "conformance_extra" / "valid" / "head_on_code.ae")
    .read_text(encoding="utf-8"),
    "phase_with_xent": (ROOT / "tests" / "conformance_extra" / "valid" / "phase_with_xent.ae")
    .read_text(encoding="utf-8"),
    "named": NAMED, "draws": DRAWS, "phased": PHASED,
}


def _emitted(name: str):
    result = check_source(SOURCES[name], f"{name}.ae")
    assert result.ok, result.diagnostics
    text = emit_source(result.ir, result.spec)
    ns: dict = {"__name__": f"emitted_{name}"}
    exec(compile(text, f"<emitted {name}>", "exec"), ns)
    torch.manual_seed(0)
    compiled = compile_model(result.ir, result.spec)
    emitted = ns[class_name(result.spec.name)]()
    ns["load_aespec_state_dict"](emitted, compiled.state_dict())  # strict=True inside
    return result, text, ns, compiled, emitted


def _batch(result, n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand(n, *result.spec.input.shape, generator=torch.Generator().manual_seed(1))
    labels = torch.eye(10)[torch.tensor([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8])[:n] % 10]
    return x, labels


def _close(actual, expected, what: str) -> None:
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5,
                               msg=lambda m: f"{what}: {m}")


def _same_weights(ns, compiled, emitted) -> None:
    mine, keys = emitted.state_dict(), ns["AESPEC_KEYS"]
    for key, value in compiled.state_dict().items():
        new = keys.get(key, key.removeprefix("net.").removeprefix("head."))
        if new is not None:
            _close(mine[new], value, key)


@pytest.mark.parametrize("name", list(SOURCES))
def test_the_module_and_loss_compute_what_the_compiled_model_does(name: str) -> None:
    result, text, ns, compiled, emitted = _emitted(name)
    assert sum(p.numel() for p in emitted.parameters()) == result.ir.params
    x, labels = _batch(result)
    compiled.eval()
    emitted.eval()
    with torch.no_grad():
        want, got = compiled(x, target=labels), emitted(x)
        _close(got["x_hat"], want.x_hat, "x_hat")
        _close(got["class_logits"], compiled.classify(x), "class_logits")
        _close(emitted.classify(x), compiled.classify(x), "classify")
        loss, terms = ns["loss_fn"](emitted, x, labels)
        assert list(terms) == list(want.terms)
        for term, value in terms.items():
            _close(value, want.terms[term], f"eval {term}")
        _close(loss, want.loss, "eval loss")
    compiled.train()
    emitted.train()
    torch.manual_seed(5)  # the same noise, dropout and draws in both
    want = compiled(x, target=labels)
    torch.manual_seed(5)
    loss, terms = ns["loss_fn"](emitted, x, labels)
    assert list(terms) == list(want.terms)
    for term, value in terms.items():
        _close(value, want.terms[term], f"train {term}")
    _close(loss, want.loss, "train loss")


@pytest.mark.parametrize("name", ["named", "draws", "pretrain_finetune"])
def test_training_steps_give_the_compiled_models_weights(name: str) -> None:
    """Three Adam steps on each side, the same batches and draws: the same weights, the
    head's included (it trains: its weights moved)."""
    result, _, ns, compiled, emitted = _emitted(name)
    x, labels = _batch(result)
    head_before = {k: v.clone() for k, v in compiled.head.state_dict().items()}
    cpu = torch.device("cpu")
    opt_c = build_optimizer(result.spec.train.optimizer, compiled.parameters(), cpu)
    opt_e = build_optimizer(result.spec.train.optimizer, emitted.parameters(), cpu)
    compiled.train()
    emitted.train()
    for step in range(3):
        torch.manual_seed(10 + step)
        opt_c.zero_grad()
        compiled(x, target=labels).loss.backward()
        opt_c.step()
        torch.manual_seed(10 + step)
        opt_e.zero_grad()
        ns["loss_fn"](emitted, x, labels)[0].backward()
        opt_e.step()
    _same_weights(ns, compiled, emitted)
    assert any(not torch.equal(v, head_before[k]) for k, v in compiled.head.state_dict().items())


def test_the_phases_train_the_weights_aespec_trains(capsys) -> None:
    """aespec's phase objects over the batches the emitted `train_phases` draws: each
    epoch's printed mean loss and the final weights alike; the head trains in phase 2 only."""
    result, text, ns, compiled, emitted = _emitted("phased")
    x, labels = _batch(result, 10)
    cpu = torch.device("cpu")
    torch.manual_seed(7)
    want, head_after_first = [], None
    for phase in plan_phases(result.spec, result.ir, compiled, cpu):
        phase.enter(compiled)
        opt = build_optimizer(phase.train.optimizer, phase.model.parameters(), cpu)
        for _ in range(phase.train.epochs):
            phase.train_mode()
            order = torch.randperm(len(x))
            total = 0.0
            for start in range(0, len(x), 4):
                idx = order[start:start + 4]
                opt.zero_grad(set_to_none=True)
                out = phase.model(x[idx], target=labels[idx])
                out.loss.backward()
                opt.step()
                total += out.loss.item() * len(idx)
            want.append(total / len(x))
        if head_after_first is None:
            head_after_first = next(iter(compiled.head.state_dict().values())).clone()
    torch.manual_seed(7)
    ns["train_phases"](emitted, x, labels)
    got = [float(v) for v in re.findall(r"loss (\d+\.\d+)", capsys.readouterr().out)]
    assert got == pytest.approx(want, abs=2e-4) and len(got) == 4
    _same_weights(ns, compiled, emitted)
    assert not torch.equal(next(iter(compiled.head.state_dict().values())), head_after_first)
    assert "def loss_fn_classify(model, x, labels):" in text
    assert 'terms["0.5*xent"] = 0.5 * F.cross_entropy(out["class_logits"], k)' in text


def test_the_files_pass_ruff(tmp_path: Path) -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    for name in SOURCES:
        (tmp_path / f"{name}.py").write_text(_emitted(name)[1])
    proc = subprocess.run([ruff, "check", "--isolated", "--no-cache", "--select",
                           "E,F,W,I,B,UP,N", "--line-length", "100", "--target-version",
                           "py311", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_file_trains_with_labels_without_aespec(tmp_path: Path) -> None:
    """The phased file under `python -I`, aespec unimportable: the digits and their labels,
    one epoch of each phase on 16 images, then its weights load back."""
    text = _emitted("phased")[1]
    stdout = run_alone(text, tmp_path, "phased", 16)
    assert re.fullmatch(r"(epoch 1/1: loss \d+\.\d{4}\n){2}", stdout), stdout
    ns: dict = {"__name__": "emitted_phased"}
    exec(compile(text, "<emitted phased>", "exec"), ns)
    model = ns["PhasedHead"]()
    model.load_state_dict(torch.load(tmp_path / "w.pt", weights_only=True), strict=True)
