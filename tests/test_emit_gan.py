"""`aespec emit` of a GAN spec: the file's `Generator` and `Discriminator` compute what the
compiled `GANModel`'s two networks do, and its `d_loss` and `g_loss` what the model's do.

For every GAN in `specs/` and the valid conformance cases (conditional ones too: both
networks and both objectives read one-hot labels `y`), and for each game
(`adversarial(KIND)`, with a gradient penalty or clipping) on a small dense GAN: the two
modules have the compiled networks' parameter counts, load the compiled model's
state_dict strictly (`load_aespec_state_dict`: `generator.KEY` -> Generator's `KEY`,
`discriminator.KEY` -> Discriminator's `KEY`), and give the same samples and scores; the
objectives agree in evaluation mode and, with the same seed, in training mode (dropout,
batch statistics, the gradient penalty's draws).  Every file passes ruff and imports
nothing of aespec; one trains a step in a subprocess with aespec unimportable.
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
from test_compile_shapes import _spec_files
from test_no_torch import _heavy_modules

from aespec.compile import compile_model
from aespec.emit import emit_source
from aespec.graph.frontend import check_file, check_source

ROOT = Path(__file__).resolve().parents[1]
VALID = ROOT / "tests" / "conformance_extra" / "valid"
GANS = [f for f in _spec_files() if re.search(r"^latent\b", f.read_text(encoding="utf-8"), re.M)]
# each game on gan_dense (its `loss` line replaced): the five kinds, WGAN-GP, WGAN's clip
GAMES = ["nonsaturating", "minimax", "wasserstein", "hinge", "least_squares",
         "wasserstein, gradient_penalty=10", "wasserstein, clip=0.01",
         "hinge, gradient_penalty=1", "cgan: least_squares, gradient_penalty=1"]


def _game_source(game: str) -> str:
    """gan_dense (or, for `cgan: ...`, cgan_digits) with its game replaced by `game`."""
    case, game = ("cgan_digits", game[6:]) if game.startswith("cgan: ") else ("gan_dense", game)
    source = (VALID / f"{case}.ae").read_text(encoding="utf-8")
    return re.sub(r"(?m)^loss adversarial\(.*\)$", f"loss adversarial({game})", source)


def _emit(path: Path | str):
    result = check_file(path) if isinstance(path, Path) else \
        check_source(_game_source(path), "gan_game.ae")
    assert result.ok and result.ir is not None, result.diagnostics
    return emit_source(result.ir, result.spec), result.ir, result.spec


def _load(text: str, name: str) -> dict:
    namespace: dict = {"__name__": f"emitted_{name}"}
    exec(compile(text, f"<emitted {name}>", "exec"), namespace)
    return namespace


def _close(actual, expected, what: str) -> None:
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5,
                               msg=lambda m: f"{what}: {m}")


def _ids(p: Path | str) -> str:
    return f"{p.parent.name}/{p.stem}" if isinstance(p, Path) else f"game/{p}"


def test_there_are_gans_to_emit():
    assert {"gan_dense", "gan_dcgan", "gan_fc", "wgan_gp", "cgan", "cgan_digits"} <= \
        {p.stem for p in GANS}


@pytest.mark.parametrize("path", [*GANS, *GAMES], ids=_ids)
def test_emitted_networks_and_losses_are_the_compiled_ones(path: Path | str):
    text, graph, spec = _emit(path)
    ns = _load(text, spec.name)
    torch.manual_seed(0)
    compiled = compile_model(graph, spec)
    gen, dis = ns["Generator"](), ns["Discriminator"]()
    for mine, theirs in ((gen, compiled.generator), (dis, compiled.discriminator)):
        assert sum(p.numel() for p in mine.parameters()) == \
            sum(p.numel() for p in theirs.parameters())
    ns["load_aespec_state_dict"](gen, dis, compiled.state_dict())  # strict=True inside
    x = torch.rand(4, *spec.input.shape, generator=torch.Generator().manual_seed(1))
    z = compiled.draw(4, generator=torch.Generator().manual_seed(2))
    c = compiled.labels(4)  # a conditional GAN's one-hot labels; None else
    y = () if c is None else (c,)
    for mode in (False, True):  # eval, then train: dropout and batch statistics
        compiled.train(mode)
        gen.train(mode)
        dis.train(mode)
        torch.manual_seed(5)
        fake = compiled.g(z, c)
        want_d, want_terms = compiled.d_loss(x, fake.detach(), c)
        want_g = compiled.g_loss(fake, c)[0]
        torch.manual_seed(5)
        mine = gen(z, *y)
        got_d, got_terms = ns["d_loss"](dis, x, mine.detach(), *y)
        got_g = ns["g_loss"](dis, mine, *y)
        _close(mine, fake, f"G(z), train={mode}")
        _close(got_d, want_d, f"d_loss, train={mode}")
        _close(got_g, want_g, f"g_loss, train={mode}")
        assert list(got_terms) == list(want_terms)
        for name, value in got_terms.items():
            _close(value, want_terms[name], f"{name}, train={mode}")
    compiled.eval()
    gen.eval()
    dis.eval()
    with torch.no_grad():
        _close(dis(x, *y), compiled.d(x, c), "D(x)")
        drawn = compiled.sample(3, generator=torch.Generator().manual_seed(3))
        _close(ns["sample"](gen, 3, generator=torch.Generator().manual_seed(3)), drawn,
               "sample")


def test_clip_weights_clamps_the_discriminator_as_the_model_does():
    text, graph, spec = _emit("wasserstein, clip=0.01")
    ns = _load(text, "clip")
    compiled = compile_model(graph, spec)
    gen, dis = ns["Generator"](), ns["Discriminator"]()
    ns["load_aespec_state_dict"](gen, dis, compiled.state_dict())
    compiled.clip_weights()
    ns["clip_weights"](dis)
    for key, value in dis.state_dict().items():
        _close(value, compiled.state_dict()[f"discriminator.{key}"], key)
    assert "clip_weights" not in _emit("wasserstein")[0]


def test_emitted_gan_files_import_nothing_of_aespec_and_pass_ruff(tmp_path: Path):
    for path in [*GANS, *GAMES]:
        text = _emit(path)[0]
        tree = ast.parse(text)
        modules = {alias.name.split(".")[0] for node in ast.walk(tree)
                   if isinstance(node, ast.Import) for alias in node.names}
        modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.module}
        assert modules <= {"argparse", "gzip", "math", "os", "torch", "sklearn"}, path
        name = re.sub(r"\W", "_", _ids(path))
        (tmp_path / f"{name}.py").write_text(text)
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    proc = subprocess.run([ruff, "check", "--isolated", "--no-cache", "--select",
                           "E,F,W,I,B,UP,N", "--line-length", "100", "--target-version",
                           "py311", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("game", ["minimax", "wasserstein, gradient_penalty=10",
                                  "wasserstein, clip=0.01", "cgan: nonsaturating"])
def test_the_gan_file_trains_without_aespec(tmp_path: Path, game: str):
    """`python -I` with aespec unimportable: the digits, one epoch on 16 of them (k=2 D
    steps, then G), both state_dicts saved and loaded back."""
    pytest.importorskip("sklearn")
    text = _emit(game)[0]
    if game.startswith("cgan"):  # both networks read the labels the loader returns
        assert "x, labels = load_data(args.limit)" in text
    stdout = run_alone(text, tmp_path, "gan_game", 16)
    assert re.fullmatch(r"epoch 1/1: D loss -?\d+\.\d{4}, G loss -?\d+\.\d{4}\n",
                        stdout), stdout
    ns = _load(text, "gan_game")
    saved = torch.load(tmp_path / "w.pt")
    ns["Generator"]().load_state_dict(saved["generator"], strict=True)
    ns["Discriminator"]().load_state_dict(saved["discriminator"], strict=True)


def test_conditional_labels_are_the_datas():
    """The emitted digits loader returns the digits' labels with the images, as aespec's
    data stage reads them; random stand-in data gets random classes."""
    from aespec.data.datasets import _digits

    ns = _load(_emit(VALID / "cgan_digits.ae")[0], "cgan_digits")
    x, labels = ns["load_data"]()
    want_x, want_labels = _digits(None)
    _close(x, torch.from_numpy(want_x.copy()), "digits")
    assert torch.equal(labels, torch.from_numpy(want_labels.copy()).long())
    assert [len(t) for t in ns["load_data"](limit=5)] == [5, 5]
    source = (VALID / "cgan_digits.ae").read_text().replace("data digits\n", "")
    result = check_source(source, "cgan_random.ae")
    ns = _load(emit_source(result.ir, result.spec), "cgan_random")
    x, labels = ns["load_data"](limit=6)
    assert x.shape == (6, 1, 8, 8) and labels.shape == (6,) and int(labels.max()) < 10


def test_command_writes_a_gan_without_importing_torch():
    heavy, proc = _heavy_modules(["emit", str(ROOT / "specs" / "wgan_gp.ae")])
    assert proc.returncode == 0 and "def gradient_penalty(" in proc.stdout, proc.stderr
    assert heavy == []
