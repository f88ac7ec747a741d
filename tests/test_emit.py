"""`aespec emit`: the standalone PyTorch file of every spec computes what the compiled model
does.

For each spec in `specs/` and each valid conformance case, the emitted file is executed in
a fresh namespace; its module must have the compiled model's parameter count, load the
compiled model's state_dict strictly (`load_aespec_state_dict`), and give the same
reconstruction, code, encode, decode and sample in evaluation mode and the same loss terms
in training mode with seeded noise (a conditional autoencoder's given the same one-hot
labels: tests/test_emit_conditional.py has more of them).  One subprocess runs a file's
training loop with aespec unimportable; ruff checks every emitted file; what cannot be
emitted is E313 or E314.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from emitted import run_alone
from test_compile_shapes import EDGE_CASES, _spec_files
from test_no_torch import _heavy_modules
from typer.testing import CliRunner

from aespec.cli import app
from aespec.compile import compile_model
from aespec.emit import emit_source
from aespec.emit import rules as emit_rules
from aespec.emit.module import class_name
from aespec.errors import AespecError
from aespec.graph.frontend import check_file, check_source
from aespec.ops import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
# every spec in specs/ and every valid conformance case (the project's copy, the shared
# one beside the checkout), each distinct file once: the files test_compile_shapes runs
# but the GANs (tests/test_emit_gan.py, conditional ones too), adversarial autoencoders
# and VAE-GANs (refused with E316 until emit writes them; tests/test_aae.py and
# tests/test_vae_gan.py); conditional autoencoders (specs/cvae.ae), VQ-VAEs, RBMs and
# self-organizing maps and specs with phases or frozen parts (tests/test_emit_phases.py
# trains them) are here, and specs with a head (tests/test_emit_heads.py trains them)
CASES = [f for f in _spec_files() if not re.search(r"^(latent|discriminator)\b",
                                                   f.read_text(encoding="utf-8"), re.M)]
DETERMINISM = {"unet_skip", "vae_samples", "mirror_tied", "noise_all_ops", "regularizers_all"}


@functools.cache
def _emit(path: Path | str) -> tuple[str, Any, Any]:
    """The emitted text, graph and spec of a spec file, or of an edge case by name."""
    result = check_file(path) if isinstance(path, Path) else check_source(
        EDGE_CASES[path], f"{path}.ae")
    assert result.ok and result.ir is not None, result.diagnostics
    return emit_source(result.ir, result.spec), result.ir, result.spec


def _load(text: str, name: str) -> dict:
    """The emitted file run as a module (not as __main__) in a fresh namespace."""
    namespace: dict = {"__name__": f"emitted_{name}"}
    exec(compile(text, f"<emitted {name}>", "exec"), namespace)
    return namespace


def _close(actual, expected, what: str) -> None:
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5,
                               msg=lambda m: f"{what}: {m}")


def _batch(spec, graph) -> tuple[torch.Tensor, torch.Tensor | None]:
    x = torch.rand(2, *spec.input.shape, generator=torch.Generator().manual_seed(1))
    paired = spec.data is not None and spec.data.args.get("y") is not None
    if tuple(graph.output) == tuple(spec.input.shape) and not paired:
        return x, None
    return x, torch.rand(2, *graph.output, generator=torch.Generator().manual_seed(2))


def test_there_are_cases_of_every_kind():
    names = {p.stem for p in CASES}
    assert len(CASES) >= 70 and {"unet_skip", "vae_samples", "mirror_tied", "contractive",
                                 "loss_gaussian_nll_learned", "noise_all_ops", "cvae"} <= names


# test_compile_shapes' edge cases: every op variant (asymmetric `same` padding, every
# deconv padding, linear upsampling of sequences), L latent draws read by a skip join,
# tied mirrors of a flattened image, contractive and kl_sparsity penalties together
@pytest.mark.parametrize("path", [*CASES, *EDGE_CASES], ids=lambda p: f"{p.parent.name}/"
                         f"{p.stem}" if isinstance(p, Path) else f"edge/{p}")
def test_emitted_module_computes_what_the_compiled_one_does(path: Path | str):
    text, graph, spec = _emit(path)
    ns = _load(text, spec.name)
    torch.manual_seed(0)
    compiled = compile_model(graph, spec)
    emitted = ns[class_name(spec.name)]()
    assert sum(p.numel() for p in emitted.parameters()) == \
        sum(p.numel() for p in compiled.parameters()) == graph.params
    ns["load_aespec_state_dict"](emitted, compiled.state_dict())  # strict=True inside
    x, target = _batch(spec, graph)
    # a conditional model's one-hot labels: an argument of each emitted method, and the
    # compiled model's `target` (its target is x itself); nothing for another model
    labels = compiled.labels(len(x))
    y = () if labels is None else (labels,)
    second = target if labels is None else labels  # model(x, target=...), loss_fn(model, x, .)
    if compiled.head is not None:  # a head's one-hot labels: the target and loss_fn's third
        k = graph.nodes[graph.outputs["head"]].output_shape()[0]
        second = torch.eye(k)[torch.arange(len(x)) % k]
    compiled.eval()
    emitted.eval()
    with torch.no_grad():
        torch.manual_seed(4)  # the prior's draws of an mmd term, which draws in evaluation too
        want, got = compiled(x, target=second), emitted(x, *y)
        _close(got["x_hat"], want.x_hat, "x_hat")
        _close(got["z"], want.z, "z")
        torch.manual_seed(4)
        loss, terms = ns["loss_fn"](emitted, x, second)
        assert list(terms) == list(want.terms)
        for name, value in terms.items():
            _close(value, want.terms[name], f"eval {name}")
        _close(loss, want.loss, "eval loss")
        _close(emitted.encode(x, *y), compiled.encode(x, labels), "encode")
        _check_decode_and_sample(compiled, emitted, want.z, labels)
    compiled.train()
    emitted.train()
    torch.manual_seed(5)  # the same noise, dropout and latent draws in both
    want = compiled(x, target=second)
    torch.manual_seed(5)
    loss, terms = ns["loss_fn"](emitted, x, second)
    for name, value in terms.items():
        _close(value, want.terms[name], f"train {name}")
    _close(loss, want.loss, "train loss")


def _check_decode_and_sample(compiled, emitted, z, labels=None) -> None:
    """decode and sample agree, or both refuse (a decoder that joins encoder tensors); a
    conditional model's decode reads `labels`, its sample the classes in turn."""
    y = () if labels is None else (labels,)
    try:
        decoded = compiled.decode(z, labels)
    except AespecError as err:
        assert err.diagnostics[0].code == "E311"
        with pytest.raises(NotImplementedError, match="computed before z"):
            emitted.decode(z, *y)
    else:
        _close(emitted.decode(z, *y), decoded, "decode")
    if compiled.info.latent_shape is None and compiled.info.sampler is None:
        assert not hasattr(emitted, "sample")
        return
    try:
        drawn = compiled.sample(3, generator=torch.Generator().manual_seed(3))
    except AespecError as err:
        assert err.diagnostics[0].code == "E311"
        with pytest.raises(NotImplementedError):
            emitted.sample(3)
        return
    _close(emitted.sample(3, generator=torch.Generator().manual_seed(3)), drawn, "sample")


def test_emitted_files_import_nothing_of_aespec_and_are_deterministic():
    for path in CASES:
        text = _emit(path)[0]
        if path.stem in DETERMINISM:  # checked again from the file: the same text
            fresh = check_file(path)
            assert emit_source(fresh.ir, fresh.spec) == text
        modules = {alias.name.split(".")[0] for node in ast.walk(ast.parse(text))
                   if isinstance(node, ast.Import) for alias in node.names}
        modules |= {node.module.split(".")[0] for node in ast.walk(ast.parse(text))
                    if isinstance(node, ast.ImportFrom) and node.module}
        assert modules <= {"argparse", "gzip", "math", "os", "torch", "sklearn"}, path


def test_emitted_files_pass_ruff(tmp_path: Path):
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    for path in CASES:
        (tmp_path / f"{path.parent.name}_{path.stem}.py").write_text(_emit(path)[0])
    for name in EDGE_CASES:
        (tmp_path / f"edge_{name}.py").write_text(_emit(name)[0])
    proc = subprocess.run([ruff, "check", "--isolated", "--no-cache", "--select",
                           "E,F,W,I,B,UP,N", "--line-length", "100", "--target-version",
                           "py311", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_the_file_trains_without_aespec(tmp_path: Path):
    """`python -I` (no PYTHONPATH, no current directory) with aespec made unimportable: the
    file reads Fashion-MNIST's IDX files, trains one step on 8 images and saves weights."""
    if not Path("/usr/share/datasets/fashion-mnist").is_dir():
        pytest.skip("Fashion-MNIST's IDX files are not installed")
    text = _emit(ROOT / "specs" / "conv_fashion.ae")[0]
    stdout = run_alone(text, tmp_path, "conv_fashion", 8)
    assert re.fullmatch(r"epoch 1/1: loss \d+\.\d{4}\n", stdout), stdout
    model = _load(text, "conv_fashion")["ConvFashion"]()
    model.load_state_dict(torch.load(tmp_path / "w.pt"), strict=True)


def test_data_loaders_read_what_aespec_reads():
    """digits(size=28) resized, and digits(normal=...) filtered, as aespec's data stage."""
    from aespec.data.datasets import _digits

    for name, size, normal in (("denoising_conv", 28, None), ("anomaly_fc", None, 9)):
        ns = _load(_emit(ROOT / "specs" / f"{name}.ae")[0], name)
        x, labels = _digits(size)
        keep = labels != normal
        expected = torch.from_numpy(x[keep].copy()).reshape(int(keep.sum()), -1)
        got = ns["load_data"]()
        _close(got.reshape(len(got), -1), expected, f"{name} data")
        assert got.shape[1:] == check_file(ROOT / "specs" / f"{name}.ae").spec.input.shape
        assert len(ns["load_data"](limit=5)) == 5


def test_idx_loader_reads_what_aespec_reads():
    """fashion_mnist(normal=3, limit=500): the first 500 images, then class 3 only."""
    if not Path("/usr/share/datasets/fashion-mnist").is_dir():
        pytest.skip("Fashion-MNIST's IDX files are not installed")
    from aespec.data.load import load_data

    source = (ROOT / "specs" / "conv_fashion.ae").read_text()
    source = re.sub(r"(?m)^data .*$", "data fashion_mnist(normal=3, limit=500)", source)
    result = check_source(source, "fashion_normal.ae")
    ns = _load(emit_source(result.ir, result.spec), "fashion_normal")
    expected = load_data("fashion_mnist", {"normal": 3, "limit": 500}, (1, 28, 28)).x_train
    assert torch.equal(ns["load_data"](), torch.from_numpy(expected))


# ---------------------------------------------------------------- refusals


TINY = "input vector(8)\nencoder {\n    dense(4) relu\n}\nbottleneck {\n    dense(2)\n}\n" \
       "decoder {\n    dense(8) sigmoid\n}\nloss bce\n"


def test_an_op_without_an_emit_form_is_refused_with_e313(monkeypatch):
    result = check_source(TINY, "tiny.ae")
    without = dataclasses.replace(REGISTRY["layer"]["dense"], emit=None)
    monkeypatch.setitem(REGISTRY["layer"], "dense", without)
    with pytest.raises(AespecError) as err:
        emit_source(result.ir, result.spec)
    d = err.value.diagnostics[0]
    assert d.code == "E313" and "'dense'" in d.message and d.span.line == 3


def test_every_registered_op_has_an_emit_form():
    rule = {"layer": lambda op: emit_rules.layer_rule(op), "noise": lambda op: op.emit,
            "loss": lambda op: op.emit_term, "regularizer": lambda op: op.emit_penalty}
    for place, table in REGISTRY.items():
        missing = [name for name, op in table.items() if rule[place](op) is None]
        assert missing == [], place


def test_a_spec_whose_shapes_stopped_is_refused_with_e314():
    result = check_source(TINY.replace("dense(2)", "dense(2)\n    reshape(3, 3)"), "bad.ae")
    with pytest.raises(AespecError) as err:
        emit_source(result.ir, result.spec)
    assert [d.code for d in err.value.diagnostics] == ["E314", "E303"]


# ---------------------------------------------------------------- the command


def test_command_prints_the_file_or_writes_it(tmp_path: Path):
    spec = ROOT / "specs" / "vae_fc.ae"
    printed = CliRunner().invoke(app, ["emit", str(spec)])
    assert printed.exit_code == 0 and printed.stdout == _emit(spec)[0]
    target = tmp_path / "vae.py"
    wrote = CliRunner().invoke(app, ["emit", str(spec), "-o", str(target), "--set",
                                     "train.epochs=3"])
    assert wrote.exit_code == 0 and f"wrote {target}" in wrote.stdout
    written = target.read_text()
    assert 'parser.add_argument("--epochs", type=int, default=3)' in written
    assert "    python vae.py [--epochs N]" in written  # the usage names the file


def test_command_imports_no_heavy_module():
    """Emitting is making text: no torch, numpy or scikit-learn (as `aespec check`)."""
    heavy, proc = _heavy_modules(["emit", str(ROOT / "specs" / "vae_samples.ae")])
    assert proc.returncode == 0 and "class VaeSamples(nn.Module):" in proc.stdout, proc.stderr
    assert heavy == []


def test_class_names_are_the_spec_names_in_camel_case_and_valid_python():
    assert class_name("denoising_conv") == "DenoisingConv"
    assert class_name("3d-ae") == "Model3dAe"
    assert [class_name(n) for n in ("none", "f", "")] == ["ModelNone", "ModelF", "Autoencoder"]


def test_command_on_an_invalid_spec_prints_its_diagnostics():
    bad = ROOT / "tests" / "conformance" / "invalid" / "undefined_name.ae"
    result = CliRunner().invoke(app, ["emit", str(bad)])
    assert result.exit_code == 1 and "error[E205]" in result.stderr and not result.stdout


def test_docs_excerpt_is_what_the_command_prints():
    """docs/emit.md shows part of `aespec emit specs/inpainting_unet.ae`, verbatim."""
    page = (ROOT / "docs" / "emit.md").read_text(encoding="utf-8")
    assert "aespec emit specs/inpainting_unet.ae" in page
    excerpt = re.search(r"```python\n(.*?)```", page, re.S)
    assert excerpt is not None
    text = _emit(ROOT / "specs" / "inpainting_unet.ae")[0]
    parts = [p for p in excerpt.group(1).split("    ...\n")]
    assert len(parts) >= 2 and all(p.strip() and p in text for p in parts)


# ---------------------------------------------------------------- ops with state


def _emitted_and_compiled(source: str, name: str):
    result = check_source(source, f"{name}.ae")
    assert result.ok, result.diagnostics
    ns = _load(emit_source(result.ir, result.spec), name)
    torch.manual_seed(0)
    compiled = compile_model(result.ir, result.spec)
    emitted = ns[class_name(result.spec.name)]()
    ns["load_aespec_state_dict"](emitted, compiled.state_dict())
    return ns, compiled, emitted


def test_persistent_rbm_chains_carry_on_alike_and_load():
    """PCD: the chains buffer starts from the first batch and carries on, step after
    step, as the compiled model's; a state_dict with chains loads into a fresh module."""
    source = (ROOT / "specs" / "rbm.ae").read_text().replace("k=1)", "k=2, persistent=true)")
    ns, compiled, emitted = _emitted_and_compiled(source, "pcd")
    x = torch.rand(4, 64, generator=torch.Generator().manual_seed(1))
    for step in range(3):
        torch.manual_seed(10 + step)
        want = compiled(x).terms["cd"]
        torch.manual_seed(10 + step)
        _close(ns["loss_fn"](emitted, x)[1]["cd"], want, f"cd, step {step}")
    _close(emitted.bottleneck1.chains, compiled.net.bottleneck1.chains, "chains")
    fresh = type(emitted)()
    ns["load_aespec_state_dict"](fresh, compiled.state_dict())
    assert fresh.bottleneck1.chains.shape == (4, 64)


def test_som_neighbourhood_shrinks_in_the_emitted_loop_as_in_aespecs(capsys):
    """The emitted `train` tells the som each epoch's progress, as aespec's loop does, and
    the term follows it alike."""
    from aespec.train.loop import set_progress

    ns, compiled, emitted = _emitted_and_compiled(
        (ROOT / "specs" / "som.ae").read_text(), "som")
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    for share in (0.0, 0.5, 1.0):
        compiled.net.bottleneck2.set_progress(share)
        emitted.bottleneck2.set_progress(share)
        _close(ns["loss_fn"](emitted, x)[1]["som"], compiled(x).terms["som"], f"som {share}")
    emitted.bottleneck2.set_progress(0.0)
    ns["train"](emitted, x, epochs=3, batch=2)
    set_progress(compiled, 2, 3)  # the last of 3 epochs
    assert float(emitted.bottleneck2.progress) == float(compiled.net.bottleneck2.progress) == 1.0
    assert capsys.readouterr().out.count("epoch ") == 3
