"""A self-organizing map's grid, as plain data: where each unit sits and who its neighbours are.

Units are numbered row-major, `k = row * cols + col`.  A `rect` grid puts unit (r, c) at
(c, r); a `hex` grid shifts odd rows half a unit right and packs the rows `sqrt(3)/2`
apart, so every unit has six neighbours at distance 1 (MATLAB's `hextop`).  Neighbours
are the units at grid distance 1: four on a rect grid, six on a hex grid.  Used by the
torch module (aespec.ops.kohonen) and by the report's maps, so both agree.
"""

from __future__ import annotations

import math

ROW_STEP = {"rect": 1.0, "hex": math.sqrt(3) / 2}


def unit_positions(rows: int, cols: int, grid: str) -> list[tuple[float, float]]:
    """(x, y) of each unit on the grid, row-major."""
    shift = 0.5 if grid == "hex" else 0.0
    return [(c + shift * (r % 2), r * ROW_STEP[grid]) for r in range(rows) for c in range(cols)]


def neighbour_pairs(rows: int, cols: int, grid: str) -> list[tuple[int, int]]:
    """(i, j), i < j, of every two units at grid distance 1."""
    pos = unit_positions(rows, cols, grid)
    pairs = []
    for i, (xi, yi) in enumerate(pos):
        for j in range(i + 1, len(pos)):
            if math.dist((xi, yi), pos[j]) < 1.01:
                pairs.append((i, j))
    return pairs
