"""specs/som.ae does what a self-organizing map is for, on the real digits, for any seed:
the map keeps the data's topology (few examples whose two nearest units are not grid
neighbours), neighbouring units hold similar prototypes, and the prototypes quantize the
data far better than the mean image does. About 10 s of CPU a seed."""

from __future__ import annotations

import pathlib
import tempfile

import numpy as np
import pytest

import aespec

SPEC = pathlib.Path(__file__).resolve().parent.parent / "specs" / "som.ae"

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_map_keeps_the_digits_topology(seed: int) -> None:
    import torch

    torch.set_num_threads(1)
    out = pathlib.Path(tempfile.mkdtemp(prefix="spec-som-")) / "run"
    result = aespec.train(SPEC, out=out, quiet=True, overrides=[f"train.seed={seed}"])
    maps, test = result.report["som_maps"], result.test
    assert test["topographic_error"] < 0.2
    assert maps["mean_neighbour_distance"] < 0.6 * maps["mean_pair_distance"]
    from aespec.data import load_data

    x = load_data("digits", {}, (1, 8, 8)).x_test.reshape(-1, 64)
    mean_image_error = float(np.linalg.norm(x - x.mean(0), axis=1).mean())
    assert test["quantization_error"] < 0.75 * mean_image_error  # 0.62 seen
    for name in ("file", "hits_file", "prototypes_file"):
        assert (out / maps[name]).stat().st_size > 0
