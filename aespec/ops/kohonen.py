"""The self-organizing map's torch modules: the map itself (`som`) and its decoder (`prototype`).

`SelfOrganizingMap` holds the codebook, one prototype per unit, (units, features).  Its
forward gives the winner's grid position (row, col) as the code z; its `term` is the
neighbourhood-weighted squared distance that trains the codebook; `measures` gives the
quantization and topographic errors.  The winner is always chosen without gradient.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from aespec.ops.grid import neighbour_pairs, unit_positions


class SelfOrganizingMap(nn.Module):
    """`som(rows, cols, grid, sigma, sigma_end)` over inputs of `features` values.

    The neighbourhood's width shrinks from `sigma` to `sigma_end` (grid units) as
    `progress` goes from 0 to 1 over the epochs; the training loop sets it (`set_progress`).
    """

    def __init__(self, features: int, rows: int, cols: int, grid: str, sigma: float,
                 sigma_end: float):
        super().__init__()
        self.positions: Tensor  # (units, 2), each unit's place on the grid
        self.adjacent: Tensor  # (units, units), grid neighbours (and each unit itself)
        self.progress: Tensor  # (), share of the training done
        self.rows, self.cols, self.grid = rows, cols, grid
        self.sigma, self.sigma_end = sigma, sigma_end
        # small values around the middle of [0, 1]: the wide first neighbourhood orders them
        self.weight = nn.Parameter(0.5 + 0.05 * torch.randn(rows * cols, features))
        self.register_buffer("positions", torch.tensor(unit_positions(rows, cols, grid)),
                             persistent=False)  # (units, 2)
        adjacent = torch.eye(rows * cols, dtype=torch.bool)
        for i, j in neighbour_pairs(rows, cols, grid):
            adjacent[i, j] = adjacent[j, i] = True
        self.register_buffer("adjacent", adjacent, persistent=False)  # (units, units)
        self.register_buffer("progress", torch.zeros(()))  # saved: a loaded run's term

    def set_progress(self, progress: float) -> None:
        """Share of the training done, in [0, 1]: where the neighbourhood's width is."""
        self.progress.fill_(min(max(progress, 0.0), 1.0))

    def width(self) -> Tensor:
        """The neighbourhood's sigma now: `sigma * (sigma_end / sigma) ** progress`."""
        return self.sigma * (self.sigma_end / self.sigma) ** self.progress

    def distances(self, h: Tensor) -> Tensor:
        """Squared distance of each input to each prototype, (B, units)."""
        w = self.weight
        d = h.square().sum(1, keepdim=True) - 2 * h @ w.t() + w.square().sum(1)
        return d.clamp_min(0)

    def forward(self, h: Tensor) -> Tensor:
        with torch.no_grad():
            k = self.distances(h.flatten(1)).argmin(1)  # the winner (best-matching unit)
        return torch.stack([k // self.cols, k % self.cols], 1).to(h.dtype)  # (B, 2)

    def term(self, h: Tensor) -> Tensor:
        """Mean over the batch of `sum_j n_j ||h - w_j||^2 / sum_j n_j`, n_j the
        gaussian neighbourhood of the winner at unit j (grid distance, width `width()`)."""
        h = h.flatten(1)
        d = self.distances(h)  # (B, units)
        winner = d.detach().argmin(1)
        g2 = (self.positions[winner][:, None, :] - self.positions[None]).square().sum(-1)
        n = torch.exp(-g2 / (2 * self.width() ** 2))
        return ((n * d).sum(1) / n.sum(1)).mean()

    def measures(self, h: Tensor) -> dict[str, Tensor]:
        """Quantization error (mean distance to the winner's prototype) and topographic
        error (share of inputs whose two nearest prototypes are not grid neighbours)."""
        d = self.distances(h.flatten(1))
        two = d.topk(2, dim=1, largest=False)
        te = (~self.adjacent[two.indices[:, 0], two.indices[:, 1]]).float().mean()
        return {"quantization_error": two.values[:, 0].sqrt().mean(), "topographic_error": te}


class Prototype(nn.Module):
    """`prototype`: the decoder of a som, the prototype of the unit at grid position z.

    The codebook is the map's `Parameter` object itself (as TiedLinear shares a weight),
    so it is counted and saved once; the reconstruction reads it without gradient.
    """

    def __init__(self, source: SelfOrganizingMap):
        super().__init__()
        self.rows, self.cols = source.rows, source.cols
        self.weight = source.weight  # (units, features)

    def forward(self, z: Tensor) -> Tensor:
        r = z[:, 0].round().clamp(0, self.rows - 1)
        c = z[:, 1].round().clamp(0, self.cols - 1)
        # read, not trained through: a reconstruction loss would pull the winner alone, as
        # k-means does, and undo the map's order; the som's own term trains the prototypes
        return self.weight.detach()[(r * self.cols + c).long()]  # (B, features)
