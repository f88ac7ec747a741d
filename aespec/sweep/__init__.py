"""The sweep stage: a grid of `--set` values run as ordinary runs, then compared.

    >>> from aespec.sweep import sweep
    >>> result = sweep("specs/undercomplete_fc.ae", ["z=2,8,32", "train.seed=0,1"], jobs=2)
    >>> result.rows          # one row per point: its values, status, test.loss, ...

See docs/sweeps.md. torch is imported by the processes that train the points; ray only
with `executor="ray"`.
"""

from aespec.sweep.api import SweepResult, sweep
from aespec.sweep.grid import Axis, Point, grid, parse_axes, split_values

__all__ = ["Axis", "Point", "SweepResult", "grid", "parse_axes", "split_values", "sweep"]
