"""`aespec emit` of a conditional autoencoder (`condition labels(N)` without a
discriminator, a cVAE): the file's module reads one-hot labels `y` where the compiled
`AEModel` does, and its training loop feeds it the data's labels.

For specs/cvae.ae and small conditional autoencoders (a dense one without a latent; a cVAE
drawing L samples of z, whose decoder joins y after the draws, so y is tiled to them; a
convolutional one with noise, dropout and a contractive penalty, whose encoder joins y to
the image, tiled over its pixels): the module has the compiled model's parameters and
loads its state_dict strictly, and for the same x, labels and seed gives the same outputs
and loss terms, in evaluation and in training mode, and the same encode, decode and
sample, given labels or (sample) the classes in turn.  The labels are read: other labels
give other outputs.  Every file passes ruff and imports nothing of aespec, and two train a
step as scripts with aespec unimportable.  tests/test_emit.py runs its general checks on
specs/cvae.ae too.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from emitted import run_alone
from torch.nn.functional import one_hot
from typer.testing import CliRunner

from aespec.cli import app
from aespec.compile import compile_model
from aespec.emit import emit_source
from aespec.emit.module import class_name
from aespec.graph.frontend import check_file, check_source

ROOT = Path(__file__).resolve().parents[1]
FASHION = Path("/usr/share/datasets/fashion-mnist")

# a conditional autoencoder without a latent: y joins the input and the code
DENSE = """\
model tiny_cae "A conditional autoencoder on the digits"
data digits
input vector(64)
condition labels(10)
encoder {
    concat(y)
    dense(32) relu
    dropout(0.2)
}
bottleneck {
    dense(6)
}
decoder {
    concat(y)
    dense(64) sigmoid
}
loss bce
train {
    epochs 1
    batch 8
    seed 0
}
"""

# L = 3 draws of z per example: the decoder's y (read before the draws) is tiled to them
DRAWS = DENSE.replace("model tiny_cae \"A conditional autoencoder on the digits\"",
                      "model cvae_draws \"A cVAE drawing three codes per example\"") \
    .replace("dense(6)", "gaussian(4, samples=3)").replace("loss bce", "loss bce(reduce=sum)")

# y tiled over the image's pixels, noise, dropout and the contractive penalty's dh/dx
CONV = """\
model cvae_conv "A convolutional cVAE on the digits"
data digits
input image(1, 8, 8)
condition labels(10)
noise gaussian(std=0.1) clip(0, 1)
encoder {
    concat(y)
    conv(4, k=3) relu
    dropout(0.1)
    flatten
    dense(16) relu
}
bottleneck {
    gaussian(4)
}
decoder {
    concat(y)
    dense(64) sigmoid
    reshape(1, 8, 8)
}
loss bce(reduce=sum)
regularize contractive(0.01) on encoder
"""

SOURCES = {"dense": DENSE, "draws": DRAWS, "conv": CONV}
CASES = [*SOURCES, "specs/cvae"]


def _emit(case: str):
    """The emitted text, graph and spec of a case: an inline source, or a spec file."""
    result = check_file(ROOT / f"{case}.ae") if case.startswith("specs/") else \
        check_source(SOURCES[case], f"{case}.ae")
    assert result.ok and result.ir is not None, result.diagnostics
    return emit_source(result.ir, result.spec), result.ir, result.spec


def _load(text: str, name: str) -> dict:
    namespace: dict = {"__name__": f"emitted_{name}"}
    exec(compile(text, f"<emitted {name}>", "exec"), namespace)
    return namespace


def _close(actual, expected, what: str) -> None:
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5,
                               msg=lambda m: f"{what}: {m}")


def _labels(classes: int, n: int, seed: int) -> torch.Tensor:
    """n random one-hot labels (not the classes in turn, which are both models' default)."""
    k = torch.randint(0, classes, (n,), generator=torch.Generator().manual_seed(seed))
    return one_hot(k, classes).float()


@pytest.mark.parametrize("case", CASES)
def test_emitted_conditional_model_is_the_compiled_one(case: str):
    text, graph, spec = _emit(case)
    ns = _load(text, spec.name)
    torch.manual_seed(0)
    compiled = compile_model(graph, spec)
    emitted = ns[class_name(spec.name)]()
    assert compiled.classes is not None
    assert sum(p.numel() for p in emitted.parameters()) == \
        sum(p.numel() for p in compiled.parameters()) == graph.params
    ns["load_aespec_state_dict"](emitted, compiled.state_dict())  # strict=True inside
    x = torch.rand(5, *spec.input.shape, generator=torch.Generator().manual_seed(1))
    y = _labels(compiled.classes, 5, seed=2)
    compiled.eval()
    emitted.eval()
    with torch.no_grad():
        want, got = compiled(x, target=y), emitted(x, y)  # the compiled model's target: y
        _close(got["x_hat"], want.x_hat, "x_hat")
        _close(got["z"], want.z, "z")
        loss, terms = ns["loss_fn"](emitted, x, y)
        assert list(terms) == list(want.terms)
        for name, value in terms.items():
            _close(value, want.terms[name], f"eval {name}")
        _close(loss, want.loss, "eval loss")
        _close(emitted.encode(x, y), compiled.encode(x, y), "encode")
        _close(emitted.decode(want.z, y), compiled.decode(want.z, y), "decode")
        other = _labels(compiled.classes, 5, seed=3)
        assert not torch.equal(emitted(x, other)["x_hat"], got["x_hat"])  # y is read
        if compiled.info.latent_shape is None:
            assert not hasattr(emitted, "sample")
        else:
            for given in (y, None):  # the labels given, then the classes in turn
                seed = torch.Generator().manual_seed(4)
                drawn = compiled.sample(5, generator=seed, labels=given)
                seed = torch.Generator().manual_seed(4)
                _close(emitted.sample(5, generator=seed, y=given), drawn, f"sample {given}")
    compiled.train()
    emitted.train()
    for step in range(2):  # the same noise, dropout and latent draws in both
        torch.manual_seed(5 + step)
        want = compiled(x, target=y)
        torch.manual_seed(5 + step)
        loss, terms = ns["loss_fn"](emitted, x, y)
        for name, value in terms.items():
            _close(value, want.terms[name], f"train {name}")
        _close(loss, want.loss, "train loss")
        loss.backward()  # gradients too: the same parameters receive the same ones
        want.loss.backward()
    grads = {k: p.grad for k, p in emitted.named_parameters()}
    for key, p in compiled.named_parameters():
        mine = grads[ns["AESPEC_KEYS"].get(key, key.removeprefix("net."))]
        _close(mine, p.grad, f"grad {key}")


def test_the_labels_travel_through_loader_loop_and_model():
    """`load_data` returns the digits' labels with the images, as aespec's data stage
    reads them; `__main__` makes them one-hot and `train` hands each batch its own."""
    from aespec.data.datasets import _digits

    text = _emit("dense")[0]
    ns = _load(text, "tiny_cae")
    x, labels = ns["load_data"]()
    want_x, want_labels = _digits(None)
    _close(x, torch.from_numpy(want_x.copy()).reshape(len(want_x), -1), "digits")
    assert torch.equal(labels, torch.from_numpy(want_labels.copy()).long())
    assert "x, labels = x.to(device), F.one_hot(labels.long(), 10).float().to(device)" in text
    assert "def train(model, x, labels, epochs=1, batch=8):" in text
    assert "loss, _ = loss_fn(model, x[idx], labels[idx])" in text
    assert "train(model, x, labels, epochs=args.epochs)" in text


def test_emitted_conditional_files_import_nothing_of_aespec_and_pass_ruff(tmp_path: Path):
    for case in CASES:
        text = _emit(case)[0]
        tree = ast.parse(text)
        modules = {alias.name.split(".")[0] for node in ast.walk(tree)
                   if isinstance(node, ast.Import) for alias in node.names}
        modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.module}
        assert modules <= {"argparse", "gzip", "math", "os", "torch", "sklearn"}, case
        (tmp_path / f"{case.replace('/', '_')}.py").write_text(text)
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    proc = subprocess.run([ruff, "check", "--isolated", "--no-cache", "--select",
                           "E,F,W,I,B,UP,N", "--line-length", "100", "--target-version",
                           "py311", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("case", ["draws", "specs/cvae"])
def test_the_conditional_file_trains_without_aespec(tmp_path: Path, case: str):
    """`python -I` with aespec unimportable: one epoch on 16 labelled examples (the digits,
    or specs/cvae.ae's Fashion-MNIST), the state_dict saved and loaded back."""
    if case == "specs/cvae" and not FASHION.is_dir():
        pytest.skip("Fashion-MNIST's IDX files are not installed")
    pytest.importorskip("sklearn")
    text, _, spec = _emit(case)
    stdout = run_alone(text, tmp_path, f"{spec.name}", 16)
    assert re.fullmatch(r"epoch 1/1: loss \d+\.\d{4}\n", stdout), stdout
    model = _load(text, spec.name)[class_name(spec.name)]()
    model.load_state_dict(torch.load(tmp_path / "w.pt"), strict=True)


def test_command_writes_a_conditional_autoencoder():
    """Once E316 ("not written yet"); E316 is now only a distributed run's of a GAN."""
    result = CliRunner().invoke(app, ["emit", str(ROOT / "specs" / "cvae.ae")])
    assert result.exit_code == 0, result.output
    assert "E316" not in result.output
    for line in ("class Cvae(nn.Module):", "    def forward(self, x, y):",
                 "    def encode(self, x, y):", "    def decode(self, z, y):",
                 "    def sample(self, n, generator=None, y=None):",
                 "def loss_fn(model, x, y):"):
        assert line in result.stdout, line
