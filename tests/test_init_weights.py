"""`train { init_weights glorot|torch }` (compile/init.py) and the denormal flush of a run
(train/device.py): the default Glorot init on dense, conv and deconv layers, the old init
still selectable, special layers' own weights untouched, the emitted file's init the same,
and a run training with denormals flushed and giving the caller's mode back."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import aespec
from aespec.emit import emit_source
from aespec.graph.frontend import check_source
from aespec.lsp.complete import complete
from aespec.lsp.document import analyse
from aespec.parse.fmt import format_source
from aespec.train import device as dev

LAYERED = """model layered
input image(1, 8, 8)
encoder {
    conv(4, k=3, stride=2) relu
    dense(16) relu
}
bottleneck {
    gaussian(3)
}
decoder {
    dense(4 * 4 * 4) relu
    reshape(4, 4, 4)
    deconv(1, k=4, stride=2) sigmoid
}
loss bce
train {
    epochs 1
    batch 8
%s}
"""

SPECIAL = """model special
input vector(64)
encoder {
    dense(16)
    batchnorm
    relu
}
bottleneck {
    vq(codes=8, dim=16)
}
decoder mirror(tied=true)
loss mse
train {
%s}
"""


def _model(text: str, setting: str = "", seed: int = 0) -> nn.Module:
    spec = aespec.loads(text % setting)
    torch.manual_seed(seed)
    return aespec.build(spec)


def _layers(model: nn.Module) -> list[nn.Module]:
    kinds = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)
    return [m for m in model.modules() if isinstance(m, kinds)]


def test_glorot_is_the_default_and_torch_stays_selectable():
    assert aespec.loads(LAYERED % "").train.init_weights == "glorot"
    assert aespec.loads(LAYERED % "    init_weights torch\n").train.init_weights == "torch"
    over = aespec.loads(LAYERED % "", overrides=["train.init_weights=torch"])
    assert over.train.init_weights == "torch"


def test_a_choice_that_is_no_scheme_is_e203_with_the_choices():
    result = check_source(LAYERED % "    init_weights xavier\n", "layered.ae")
    found = [d for d in result.diagnostics if d.code == "E203"]
    assert found and "glorot" in found[0].message + (found[0].hint or "")


def test_default_gives_dense_conv_and_deconv_glorot_uniform_weights_and_zero_biases():
    layers = _layers(_model(LAYERED))
    for kind in (nn.Linear, nn.Conv2d, nn.ConvTranspose2d):  # their subclasses count
        assert any(isinstance(m, kind) for m in layers), kind
    for m in layers:
        fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(m.weight)
        bound = math.sqrt(6 / (fan_in + fan_out))
        w = m.weight.detach()
        assert w.abs().max() <= bound + 1e-6, m
        if w.numel() >= 64:  # uniform on (-a, a): standard deviation a / sqrt(3)
            assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.25), m
        assert m.bias is not None and torch.count_nonzero(m.bias) == 0, m


def test_torch_keeps_torchs_own_init():
    for m in _layers(_model(LAYERED, "    init_weights torch\n")):
        fan_in, _ = nn.init._calculate_fan_in_and_fan_out(m.weight)
        bound = 1 / math.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5)) and the bias's bound
        assert m.weight.detach().abs().max() <= bound + 1e-6, m
        assert torch.count_nonzero(m.bias) > 0, m


def test_the_same_seed_gives_the_same_model():
    a, b = _model(LAYERED), _model(LAYERED)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                  b.state_dict().values(), strict=True))


def test_special_layers_keep_their_own_weights():
    glorot = _model(SPECIAL).state_dict()
    old = _model(SPECIAL, "    init_weights torch\n").state_dict()
    changed = {k for k in glorot if not torch.equal(glorot[k], old[k])}
    # the dense layer (its weight is the tied decoder's too) and its bias; nothing else:
    # batchnorm's scale and shift, the vq codebook, the tied layer's zero bias
    dense = next(k for k in glorot if k.endswith("encoder1.weight"))
    assert changed and all(k.endswith("encoder1.bias") or torch.equal(glorot[k], glorot[dense])
                           for k in changed), changed  # the tied decoder's weight is dense's
    assert any("codebook" in k for k in glorot)


def _emitted(text: str) -> str:
    result = check_source(text, "layered.ae")
    assert result.ok, result.diagnostics
    return emit_source(result.ir, result.spec)


def test_the_emitted_file_sets_the_same_first_weights():
    source = _emitted(LAYERED % "")
    assert "nn.init.xavier_uniform_(layer.weight)" in source
    ns: dict = {"__name__": "emitted"}
    exec(compile(source, "emitted.py", "exec"), ns)  # noqa: S102  (our own emitted text)
    torch.manual_seed(3)
    emitted = ns["Layered"]()
    compiled = _model(LAYERED, seed=3)
    mine = [m.weight for m in _layers(compiled)]
    theirs = [m.weight for m in _layers(emitted)]
    assert len(mine) == len(theirs)
    for a, b in zip(mine, theirs, strict=True):
        assert torch.equal(a, b)
    assert "xavier" not in _emitted(LAYERED % "    init_weights torch\n")


def test_fmt_keeps_the_key_and_the_editor_offers_its_choices():
    formatted = format_source(LAYERED % "    init_weights torch\n")
    assert "    init_weights torch\n" in formatted and format_source(formatted) == formatted
    doc = analyse(LAYERED % "    init_weights \n")
    line = next(i for i, t in enumerate(doc.lines) if t.startswith("    init_weights"))
    assert {i.label for i in complete(doc, line, len("    init_weights "))} >= {
        "glorot", "torch"}


# ---------------------------------------------------------------- denormals


def test_denormals_are_flushed_while_a_run_trains_and_the_callers_mode_comes_back(
        tmp_path, monkeypatch):
    from aespec.train.loop import Trainer

    seen = []
    epoch = Trainer._train_epoch

    def recording(self):
        seen.append(dev.flushing_denormals())
        return epoch(self)

    monkeypatch.setattr(Trainer, "_train_epoch", recording)
    torch.set_flush_denormal(False)
    spec = LAYERED % "    seed 0\n"
    aespec.train(aespec.loads(spec), data="digits(size=8)", out=tmp_path / "run", quiet=True,
                 report=False, overrides=["train.epochs=2"])
    assert seen == [True, True]
    assert not dev.flushing_denormals()  # the caller's process as it was


def test_flushing_denormals_reads_torchs_flag():
    try:
        torch.set_flush_denormal(True)
        assert dev.flushing_denormals()
        with dev.flushed_denormals():
            assert dev.flushing_denormals()
        assert dev.flushing_denormals()  # given back as it was: on
    finally:
        torch.set_flush_denormal(False)
    assert not dev.flushing_denormals()
