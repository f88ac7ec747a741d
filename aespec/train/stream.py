"""Splits of data read on demand (aespec/data/lazy.py): a batch is read from its files
(a memory map, images) on the host, then copied to the device; nothing else is held.

They answer what the loop and evaluation ask of a `batches.Split`: len, batch(idx),
slices(size).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from aespec.data.lazy import Rows


@dataclass(frozen=True)
class StreamSplit:
    """Rows x (N, *input) and targets y (or None), read a batch at a time."""

    xs: Rows
    ys: Any  # Rows, a loaded array, or None
    device: torch.device

    def __len__(self) -> int:
        return len(self.xs)

    @property
    def y(self) -> Any:
        return self.ys

    @property
    def x(self) -> torch.Tensor:
        """The whole split on the device (layer-wise pretraining asks for it): read whole."""
        return self._tensor(np.asarray(self.xs))

    def _tensor(self, a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(self.device)

    def _rows(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        ys = None if self.ys is None else self._tensor(
            self.ys.take(idx) if isinstance(self.ys, Rows) else self.ys[idx])
        return self._tensor(self.xs.take(idx)), ys

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self._rows(idx.cpu().numpy())

    def slices(self, size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        for i in range(0, len(self), size):
            yield self._rows(np.arange(i, min(i + size, len(self))))


def split(x: Any, y: Any, idx: np.ndarray | None, device: torch.device) -> StreamSplit:
    """Rows `idx` of x and y (all when None), still read on demand."""
    if idx is None:
        return StreamSplit(x, y, device)
    ys = None if y is None else (y.subset(idx) if isinstance(y, Rows) else y[idx])
    return StreamSplit(x.subset(idx), ys, device)
