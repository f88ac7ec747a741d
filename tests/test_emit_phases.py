"""`aespec emit` of phases, frozen parts and a warm start: the emitted `train_phases` trains
what aespec's phases train.

Both sides start from the same weights and the same seed and run the same batches: the
compiled side with aespec's own phase objects (aespec/train/phases.py: each phase's model
with its noise and loss, `enter` for the frozen parameters, `train_mode` for the frozen
modules' evaluation mode) and a new optimizer per phase from aespec's `build_optimizer`
(as `Trainer.use_phase`); the emitted side with its `train_phases`.  After every phase
the weights (a batchnorm's running statistics too) and each epoch's mean loss are the same.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from emitted import run_alone

from aespec.compile import compile_model
from aespec.emit import emit_source
from aespec.emit.module import class_name
from aespec.errors import AespecError
from aespec.graph.frontend import check_source
from aespec.train.loop import set_progress
from aespec.train.optim import build_optimizer
from aespec.train.phases import plan_phases

ROOT = Path(__file__).resolve().parents[1]

# noise, dropout and a batchnorm in the frozen encoder (its running statistics and its
# dropout must stay as aespec keeps them), a phase of its own noise, one of its own loss
# and optimizer, one without noise
TWO_PHASES = """\
model phased "three phases"
input vector(12)
noise gaussian(std=0.2) clip(0, 1)
encoder {
    dense(8) relu batchnorm dropout(0.2)
}
bottleneck {
    code = dense(3)
}
decoder {
    dense(8) relu
    dense(12) sigmoid
}
loss bce
train {
    batch 4
    optimizer sgd(lr=0.1, momentum=0.9)
    seed 0
}
phase clean {
    epochs 2
    noise none
}
phase salt {
    epochs 2
    noise mask(0.3)
    freeze code
}
phase tune {
    epochs 3
    loss mse + 0.5 * mae
    optimizer adam(lr=1e-2)
    freeze encoder
}
"""


def _emitted(source: str, name: str):
    result = check_source(source, f"{name}.ae")
    assert result.ok, result.diagnostics
    text = emit_source(result.ir, result.spec)
    ns: dict = {"__name__": f"emitted_{name}"}
    exec(compile(text, f"<emitted {name}>", "exec"), ns)
    torch.manual_seed(0)
    compiled = compile_model(result.ir, result.spec)
    emitted = ns[class_name(result.spec.name)]()
    ns["load_aespec_state_dict"](emitted, compiled.state_dict())
    return result, text, ns, compiled, emitted


def _aespec_phases(result, compiled, x: torch.Tensor, batch: int) -> list[float]:
    """aespec's phases run over the batches the emitted loop draws: each epoch's mean loss."""
    cpu = torch.device("cpu")
    losses: list[float] = []
    phases = plan_phases(result.spec, result.ir, compiled, cpu)
    epochs = sum(p.train.epochs for p in phases)
    for phase in phases:
        phase.enter(compiled)
        opt = build_optimizer(phase.train.optimizer, phase.model.parameters(), cpu)
        for _ in range(phase.train.epochs):
            set_progress(phase.model, len(losses), epochs)  # a som's, as Trainer's epoch
            phase.train_mode()
            order = torch.randperm(len(x))
            total = 0.0
            for start in range(0, len(x), batch):
                idx = order[start:start + batch]
                opt.zero_grad(set_to_none=True)
                out = phase.model(x[idx])
                if out.loss.requires_grad:
                    out.loss.backward()
                    opt.step()
                total += out.loss.item() * len(idx)
            losses.append(total / len(x))
    return losses


def _same_weights(ns, compiled, emitted) -> None:
    keys = ns["AESPEC_KEYS"]
    for key, value in compiled.state_dict().items():
        mine = keys.get(key, key.removeprefix("net."))
        if mine is not None:
            torch.testing.assert_close(emitted.state_dict()[mine], value, rtol=1e-4,
                                       atol=1e-5, msg=lambda m, k=key: f"{k}: {m}")


def _printed(out: str) -> list[float]:
    return [float(v) for v in re.findall(r"loss (\d+\.\d+)", out)]


def test_emitted_phases_train_the_weights_aespec_trains(capsys):
    result, text, ns, compiled, emitted = _emitted(TWO_PHASES, "phased")
    x = torch.rand(10, 12, generator=torch.Generator().manual_seed(1))
    before = {k: v.clone() for k, v in compiled.state_dict().items()}
    torch.manual_seed(7)
    want = _aespec_phases(result, compiled, x, batch=4)
    torch.manual_seed(7)
    ns["train_phases"](emitted, x)
    got = _printed(capsys.readouterr().out)
    assert len(got) == len(want) == 7
    assert got == pytest.approx(want, abs=2e-4)  # printed to 4 decimals
    _same_weights(ns, compiled, emitted)
    # the weights did train, and phase tune's frozen encoder kept its batchnorm statistics
    # (phases clean and salt trained them): the check above compares something
    after = compiled.state_dict()
    assert not torch.equal(after["net.decoder10.weight"], before["net.decoder10.weight"])
    assert not torch.equal(after["net.encoder5.running_mean"],
                           before["net.encoder5.running_mean"])
    assert "def loss_fn_tune(model, x, target=None):" in text
    assert "def corrupt_salt(self, x):" in text
    assert "train(model, x, optimizer, 3 if epochs is None else epochs, loss_fn=loss_fn_tune," \
        in text


def test_phase_tune_alone_keeps_the_frozen_encoder_as_it_is(capsys):
    """In the emitted file: the frozen layers' weights and batchnorm statistics unchanged."""
    _, _, ns, _, emitted = _emitted(TWO_PHASES, "phased")
    x = torch.rand(10, 12, generator=torch.Generator().manual_seed(1))
    frozen = [emitted.encoder3, emitted.encoder5, emitted.encoder6]
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in frozen]
    optimizer = torch.optim.Adam(emitted.parameters(), lr=1e-2)
    ns["train"](emitted, x, optimizer, 2, loss_fn=ns["loss_fn_tune"], frozen=frozen)
    for m, was in zip(frozen, before, strict=True):
        for k, v in m.state_dict().items():
            assert torch.equal(v, was[k]), k
    assert all(p.requires_grad for p in emitted.bottleneck7.parameters())
    assert capsys.readouterr().out.count("epoch ") == 2


def test_a_freeze_line_without_phases_is_one_phase_alike(capsys):
    source = re.sub(r"(?ms)^phase .*", "", TWO_PHASES).replace(
        "    seed 0\n", "    seed 0\n    epochs 3\n    freeze decoder\n")
    result, text, ns, compiled, emitted = _emitted(source, "frozen")
    assert "model.noise" not in text and "self.noise" not in text  # forward as without
    x = torch.rand(10, 12, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(3)
    want = _aespec_phases(result, compiled, x, batch=4)
    torch.manual_seed(3)
    ns["train_phases"](emitted, x)
    assert _printed(capsys.readouterr().out) == pytest.approx(want, abs=2e-4)
    _same_weights(ns, compiled, emitted)


def test_a_phase_bce_after_the_specs_mse_reads_the_logits_alike(capsys):
    """The spec's loss (mse) reads x_hat; phase tune's bce the logits, which forward then
    returns too (as the phase's compiled model computes them)."""
    source = TWO_PHASES.replace("loss bce\n", "loss mse\n").replace(
        "loss mse + 0.5 * mae", "loss bce")
    result, text, ns, compiled, emitted = _emitted(source, "logits")
    assert '"logits": logits' in text and "def loss_fn_tune(" in text
    x = torch.rand(10, 12, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(5)
    want = _aespec_phases(result, compiled, x, batch=4)
    torch.manual_seed(5)
    ns["train_phases"](emitted, x)
    assert _printed(capsys.readouterr().out) == pytest.approx(want, abs=2e-4)
    _same_weights(ns, compiled, emitted)


def test_the_keras_denoisers_phases_are_written_in_order():
    source = (ROOT / "specs" / "keras_denoiser_two_phase.ae").read_text(encoding="utf-8")
    result, text, ns, compiled, emitted = _emitted(source, "keras")
    body = text[text.index("def train_phases"):]
    assert body.index("model.noise = None") < body.index("model.noise = model.corrupt")
    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(2)
    want = _aespec_phases(result, compiled, x, batch=128)
    torch.manual_seed(2)
    ns["train_phases"](emitted, x, epochs=None)
    _same_weights(ns, compiled, emitted)
    assert len(want) == 9


def test_the_warm_start_reads_a_run_directory_with_weights_only(tmp_path: Path):
    """`train { init PATH }`: `--init` defaults to PATH; warm_start reads a run directory's
    best.pt (an aespec checkpoint, its "model") into the module."""
    base = TWO_PHASES.replace("    seed 0\n", f'    seed 0\n    init "{tmp_path}"\n')
    result, text, ns, compiled, emitted = _emitted(base, "warm")
    assert '"--init", default=' in text and f'default="{tmp_path}"' in text
    assert "weights_only=True" in text and "warm start" not in text.split("also does:")[1]
    torch.manual_seed(9)
    other = compile_model(result.ir, result.spec)
    torch.save({"model": other.state_dict(), "epoch": 3}, tmp_path / "best.pt")
    ns["warm_start"](emitted, str(tmp_path))
    _same_weights(ns, other, emitted)


def test_a_soms_neighbourhood_follows_the_whole_runs_epochs_over_phases(capsys):
    """aespec's loop tells the som each epoch where it stands in the whole run (over every
    phase's epochs); the file's train_phases does alike."""
    source = (ROOT / "specs" / "som.ae").read_text(encoding="utf-8") + (
        "phase first {\n    epochs 2\n}\nphase second {\n    epochs 3\n"
        "    optimizer sgd(lr=0.1)\n}\n")
    result, _, ns, compiled, emitted = _emitted(source, "som_phased")
    x = torch.rand(12, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(4)
    want = _aespec_phases(result, compiled, x, batch=32)
    torch.manual_seed(4)
    ns["train_phases"](emitted, x)
    assert _printed(capsys.readouterr().out) == pytest.approx(want, abs=2e-4)
    _same_weights(ns, compiled, emitted)
    assert float(emitted.bottleneck2.progress) == 1.0


SCHEDULED = """\
model warm_vae
let beta = warmup(epochs=3)
input vector(12)
encoder {
    dense(8) relu
}
bottleneck {
    gaussian(3, beta=beta)
}
decoder {
    dense(12) sigmoid
}
loss bce
train {
    batch 4
    optimizer sgd(lr=0.05, momentum=0.9)
    clip norm(0.5)
    seed 0
}
phase first {
    epochs 2
    freeze decoder
}
phase second {
    epochs 2
    loss mse
}
"""


def test_scheduled_weights_and_clipping_follow_the_whole_run_over_phases(capsys):
    """A KL warm-up over 3 epochs spans both phases (aespec's loop sets each step's time in
    the whole run, as the file's `first` and `total`), and every step clips the gradients'
    norm, as `Trainer._step` does."""
    from aespec.train.clip import clip_gradients

    result, text, ns, compiled, emitted = _emitted(SCHEDULED, "warm_vae")
    assert "first + epoch + start // batch / steps" in text
    assert "clip_grad_norm_(model.parameters(), 0.5)" in text
    x = torch.rand(10, 12, generator=torch.Generator().manual_seed(1))
    cpu = torch.device("cpu")
    phases = plan_phases(result.spec, result.ir, compiled, cpu)
    total, done, want = sum(p.train.epochs for p in phases), 0, []
    torch.manual_seed(6)
    for phase in phases:  # _aespec_phases with the weights' time and the clipping
        phase.enter(compiled)
        opt = build_optimizer(phase.train.optimizer, phase.model.parameters(), cpu)
        params = list(phase.model.parameters())
        for _ in range(phase.train.epochs):
            phase.train_mode()
            order, run = torch.randperm(len(x)), 0.0
            for step, start in enumerate(range(0, len(x), 4)):
                idx = order[start:start + 4]
                phase.model.anneal.set_time(done + step / 3, total)
                opt.zero_grad(set_to_none=True)
                out = phase.model(x[idx])
                out.loss.backward()
                clip_gradients(params, result.spec.train.clip, False)
                opt.step()
                run += out.loss.item() * len(idx)
            want.append(run / len(x))
            done += 1
    torch.manual_seed(6)
    ns["train_phases"](emitted, x)
    assert _printed(capsys.readouterr().out) == pytest.approx(want, abs=2e-4)
    _same_weights(ns, compiled, emitted)


PHASED_SPECS = {
    "som": (ROOT / "specs" / "som.ae").read_text(encoding="utf-8")
    + "phase first {\n    epochs 2\n}\nphase second {\n    epochs 3\n}\n",
    "cvae_frozen": (ROOT / "specs" / "cvae.ae").read_text(encoding="utf-8").replace(
        "train {", "train {\n    freeze decoder", 1),
    "unet_paired": (ROOT / "specs" / "segmentation_unet.ae").read_text(encoding="utf-8")
    + "phase warm {\n    epochs 1\n    freeze encoder\n}\nphase rest {\n    epochs 1\n}\n",
    "three": TWO_PHASES,
    "scheduled": SCHEDULED,
    "long_names": TWO_PHASES.replace("phase salt", "phase salt_and_pepper_for_the_encoder")
    .replace("phase tune", "phase tune_the_decoder_on_mse_and_mae"),
    "warm": TWO_PHASES.replace("    seed 0\n", '    seed 0\n    init "runs/earlier"\n'),
}


def test_phased_files_pass_ruff(tmp_path: Path):
    """The phased files (a som's progress, a conditional model's labels, a paired
    target's y, a warm start) read as test_emit's: ruff-clean, and they compile."""
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    for name, source in PHASED_SPECS.items():
        result = check_source(source, f"{name}.ae")
        assert result.ok, result.diagnostics
        text = emit_source(result.ir, result.spec)
        assert "def train_phases(" in text
        compile(text, name, "exec")
        (tmp_path / f"{name}.py").write_text(text)
    proc = subprocess.run([ruff, "check", "--isolated", "--no-cache", "--select",
                           "E,F,W,I,B,UP,N", "--line-length", "100", "--target-version",
                           "py311", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---------------------------------------------------------------- what stays refused


def _refused(source: str) -> tuple[str, int]:
    result = check_source(source, "spec.ae")
    assert result.ok, result.diagnostics
    with pytest.raises(AespecError) as err:
        emit_source(result.ir, result.spec)
    d = err.value.diagnostics[0]
    assert d.code == "E330"
    return d.message, d.span.line


def test_a_phase_loss_with_parameters_of_its_own_is_e330():
    source = TWO_PHASES.replace("loss mse + 0.5 * mae", "loss gaussian_nll(var=learned)")
    message, _ = _refused(source)
    assert "parameters of its own" in message


def test_the_spec_without_refusals_is_not_e330():
    result = check_source(TWO_PHASES, "spec.ae")
    assert "def train_phases(" in emit_source(result.ir, result.spec)


def test_a_frozen_sampling_bottleneck_is_e330_at_the_freeze_line():
    """aespec runs a frozen gaussian in evaluation mode (z = mu) while the decoder trains;
    the file's forward samples in the whole model's mode."""
    source = (ROOT / "specs" / "vae_fc.ae").read_text(encoding="utf-8").replace(
        "train {", "train {\n    freeze bottleneck", 1)
    message, line = _refused(source)
    assert "frozen gaussian" in message
    assert source.splitlines()[line - 1] == "    freeze bottleneck"
    # its encoder frozen instead: written
    result = check_source(source.replace("freeze bottleneck", "freeze encoder"), "spec.ae")
    assert "frozen=[model.encoder" in emit_source(result.ir, result.spec)


@pytest.mark.slow
def test_the_phased_file_trains_without_aespec(tmp_path: Path):
    """specs/keras_denoiser_two_phase.ae's file under `python -I`, aespec unimportable:
    one epoch of each phase on 8 Fashion-MNIST images, then its weights load back."""

    if not Path("/usr/share/datasets/fashion-mnist").is_dir():
        pytest.skip("Fashion-MNIST's IDX files are not installed")
    source = (ROOT / "specs" / "keras_denoiser_two_phase.ae").read_text(encoding="utf-8")
    result = check_source(source, "keras_denoiser_two_phase.ae")
    text = emit_source(result.ir, result.spec)
    stdout = run_alone(text, tmp_path, "keras", 8)
    assert re.fullmatch(r"(epoch 1/1: loss \d+\.\d{4}\n){2}", stdout), stdout
    ns: dict = {"__name__": "emitted_keras"}
    exec(compile(text, "<emitted keras>", "exec"), ns)
    model = ns["KerasDenoiserTwoPhase"]()
    model.load_state_dict(torch.load(tmp_path / "w.pt", weights_only=True), strict=True)


def test_a_phase_loss_with_a_schedule_of_its_own_is_e330():
    """The file's SCHEDULES table is the spec's loss's: a phase's own scheduled weight is
    refused at its loss line."""
    source = "let w = warmup(epochs=2)\n" + TWO_PHASES.replace(
        "loss mse + 0.5 * mae", "loss mse + w * mae")
    message, line = _refused(source)
    assert "phase 'tune'" in message and "schedule" in message
    assert source.splitlines()[line - 1] == "    loss mse + w * mae"
