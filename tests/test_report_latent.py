"""Latent exploration (issue 24): `interpolate` and `traverse` as report items and in the
API. The math: slerp stays on the prior's shell where a straight line sinks towards the
origin, a traversal varies one dimension per row; the items: a VAE gets slerp and a plain
autoencoder a straight line, their figures exist, and the API's path starts at the
reconstruction of its first example."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import aespec
from aespec.report import latent
from aespec.train import load_run

SPEC = """model tiny_{name} "A small model on the 8x8 digits"
data digits
input vector(64)
encoder {{
    dense(64) relu
}}
bottleneck {{
    {code}
}}
decoder {{
    dense(64) relu
    dense(64) sigmoid
}}
loss bce
train {{
    epochs 6
    batch 32
    seed 0
}}
report {{
    interpolate(n=6, pairs=3)
    traverse(dims=20, steps=5, range=2)
}}
"""


def test_slerp_stays_on_the_shell_of_the_prior_and_a_line_does_not():
    rng = np.random.default_rng(0)
    d = 64
    ratios_slerp, ratios_line = [], []
    for _ in range(20):
        a, b = rng.standard_normal(d), rng.standard_normal(d)
        for path, into in (("slerp", ratios_slerp), ("linear", ratios_line)):
            z = latent.interpolation_path(a, b, 9, path)
            np.testing.assert_allclose(z[0], a)
            np.testing.assert_allclose(z[-1], b)
            norms = np.linalg.norm(z, axis=1)
            into.append(norms[4] / ((norms[0] + norms[-1]) / 2))  # the midpoint against the ends
            assert 0.7 < norms[0] / math.sqrt(d) < 1.3  # the ends lie on the shell
            if path == "slerp":  # the norm goes linearly between the ends' norms
                np.testing.assert_allclose(norms, np.linspace(norms[0], norms[-1], 9))
    assert min(ratios_slerp) == pytest.approx(1.0) and max(ratios_slerp) == pytest.approx(1.0)
    assert max(ratios_line) < 0.85  # about 1/sqrt(2) for independent draws


def test_slerp_of_parallel_or_zero_codes_is_the_straight_line():
    a = np.array([1.0, 2.0])
    t = np.linspace(0, 1, 5)
    np.testing.assert_allclose(latent.slerp(a, 3 * a, t), latent.linear(a, 3 * a, t))
    np.testing.assert_allclose(latent.slerp(np.zeros(2), a, t), latent.linear(np.zeros(2), a, t))


def test_a_traversal_varies_only_its_own_dimension():
    z0 = np.arange(6.0)
    dims = np.array([4, 1])
    values = np.array([[-1.0, 0.0, 1.0], [10.0, 20.0, 30.0]])
    z = latent.traversal_codes(z0, dims, values)
    assert z.shape == (2, 3, 6)
    for row, d in enumerate(dims):
        changed = np.nonzero((z[row] != z0).any(axis=0))[0]
        assert changed.tolist() == [d]
        np.testing.assert_allclose(z[row, :, d], values[row])


def test_the_dimensions_chosen_are_the_most_spread_and_values_scale_by_them():
    codes = np.random.default_rng(1).standard_normal((500, 4)) * [0.1, 3.0, 1.0, 0.0]
    dims = latent.spread_dims(codes, 8)
    assert dims.tolist() == [1, 2, 0, 3]  # at most as many as the code has
    v = latent.traversal_values(codes, dims[:1], 5, 2.0, gaussian=False)
    assert v[0, -1] - v[0, 0] == pytest.approx(4 * codes[:, 1].std())
    assert latent.traversal_values(codes, dims[:1], 5, 2.0, gaussian=True)[0].tolist() == \
        [-2.0, -1.0, 0.0, 1.0, 2.0]


def test_even_steps_tells_an_even_path_from_a_jump():
    ramp = np.linspace(0, 1, 9)[:, None] * np.ones((9, 16))
    jump = np.where(np.arange(9)[:, None] < 5, 0.0, 1.0) * np.ones((9, 16))
    assert latent.even_steps(ramp) == pytest.approx(1.0)
    assert latent.even_steps(jump) == pytest.approx(8.0)


def _train(tmp: Path, name: str, code: str) -> tuple[Path, dict]:
    (tmp / f"{name}.ae").write_text(SPEC.format(name=name, code=code))
    aespec.train(tmp / f"{name}.ae", out=tmp / name, quiet=True)
    return tmp / name, json.loads((tmp / name / "report.json").read_text())


@pytest.mark.slow
def test_the_items_draw_slerp_for_a_vae_and_a_line_for_an_autoencoder(tmp_path):
    vae_dir, vae = _train(tmp_path, "vae", "gaussian(8)")
    ae_dir, ae = _train(tmp_path, "ae", "dense(8)")
    assert vae["interpolate"]["path"] == "slerp" and ae["interpolate"]["path"] == "linear"
    assert vae["interpolate"]["prior_norm"] == pytest.approx(math.sqrt(8))
    assert ae["interpolate"]["prior_norm"] is None
    for run, report in ((vae_dir, vae), (ae_dir, ae)):
        for item in ("interpolate", "traverse"):
            assert (run / report[item]["file"]).stat().st_size > 5_000, item
        assert report["interpolate"]["pairs"] == 3
        assert 1.0 <= report["interpolate"]["max_over_mean_step"] <= 5.0
        assert len(report["traverse"]["dims"]) == 8  # all 8 values, though 20 were asked
        assert report["traverse"]["code_values"] == 8
        assert "report/interpolate.png" in (run / "report.html").read_text()
    # the API: the path starts at the decoded code of its first example
    run = load_run(vae_dir, device="cpu")
    x = run.data().test.x.cpu().numpy()
    path = run.interpolate(x[0], x[1], n=5)
    assert path.shape == (5, 64)
    encode, decode, gaussian = run._code_maps()
    assert gaussian
    np.testing.assert_allclose(path[0], decode(encode(x[:1]))[0], atol=1e-5)
    t = run.traverse(x[0], x, dims=3, steps=4, range=2.0)
    assert t["pictures"].shape == (3, 4, 64)
    base = encode(x[:1])[0]
    for row, d in enumerate(t["dims"]):
        others = np.delete(t["codes"][row], d, axis=1)
        np.testing.assert_allclose(others, np.repeat(np.delete(base, d)[None], 4, 0))
