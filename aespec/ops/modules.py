"""The torch modules op builders return where a layer is more than one torch call.

Stateless ops need no module: their builders return a plain function of the tensors, which
the lowering traces into the generated code.  Everything defined here is
TorchScript-compatible.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

# defined in portable.py, whose text the emitted file copies; the builders and the lowering
# import them from here
from aespec.ops.portable import (
    RBM,
    ExampleNorm,
    RBMVisible,
    VectorQuantizer,
    iwae_loss,
    ksparse,
    log_importance_weights,
    occlude,
    tile_draws,
)

__all__ = ["RBM", "ExampleNorm", "FlatLinear", "GaussianLatent", "KSparse", "Occlude",
           "PaddedConv1d", "PaddedConv2d", "RBMVisible", "TiedLinear", "VectorQuantizer",
           "iwae_loss", "log_importance_weights", "tile_draws"]


class FlatLinear(nn.Linear):
    """`dense` on a non-vector input: flatten all but the batch dimension first."""

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x.flatten(1), self.weight, self.bias)


class TiedLinear(nn.Module):
    """`dense` of a tied mirror: the encoder layer's weight, transposed, plus its own bias.

    The weight is the encoder's `Parameter` object itself (as nanoGPT ties its embedding),
    so it is trained once, counted once by `parameters()`, and moved with the model.
    """

    def __init__(self, source: nn.Linear, bias: bool):
        super().__init__()
        self.in_features, self.out_features = source.out_features, source.in_features
        self.weight = source.weight  # (in_features, out_features): used transposed
        self.bias: Optional[nn.Parameter] = (
            nn.Parameter(torch.zeros(self.out_features)) if bias else None)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight.t(), self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
            f"bias={self.bias is not None}, weight tied (transposed)"


class _PaddedConv:
    """Mixin for a conv with TF-style `same` padding that may be asymmetric: `pad` is in
    F.pad's order (last dimension first), applied before an unpadded convolution."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int,
                 bias: bool, pad: tuple[int, ...]):
        super().__init__(in_channels, out_channels, kernel_size, stride,  # type: ignore[call-arg]
                         padding=0, bias=bias)
        self.pad = list(pad)

    def forward(self, x: Tensor) -> Tensor:
        conv: Any = self
        return conv._conv_forward(F.pad(x, self.pad), conv.weight, conv.bias)


class PaddedConv1d(_PaddedConv, nn.Conv1d):
    """Conv1d with `same` padding: `pad` = (left, right)."""


class PaddedConv2d(_PaddedConv, nn.Conv2d):
    """Conv2d with `same` padding: `pad` = (left, right, top, bottom)."""


class GaussianLatent(nn.Module):
    """`gaussian(dim, samples=L, iw=K)`: one dense layer gives `mu` and `log sigma^2` side
    by side.

    Returns `(z, mu, logvar)`.  In training `z = mu + sigma * eps` for `samples` = L*K
    draws stacked draw-major, (L*K*B, dim); in evaluation `z = mu`. `draw`, where a trainer
    sets it, gives eps, (L*K, B, dim), instead of the global generator (a distributed
    VAE-GAN's: each rank's rows of the global batch's draws, train/vaegan.py).
    """

    def __init__(self, in_features: int, dim: int, samples: int = 1):
        super().__init__()
        self.heads = nn.Linear(in_features, 2 * dim)  # one matmul for both heads
        self.samples = samples
        self.draw: Callable[[int, int, int], Tensor] | None = None  # (L, B, dim) -> eps

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mu, logvar = self.heads(h.flatten(1)).chunk(2, dim=1)  # (B, dim) each
        if not self.training:
            return mu, mu, logvar
        if self.draw is None:
            eps = torch.randn([self.samples] + list(mu.shape), dtype=mu.dtype,
                              device=mu.device)
        else:
            eps = self.draw(self.samples, *mu.shape).to(mu.device, mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps  # (L, B, dim)
        return z.flatten(0, 1), mu, logvar

    @staticmethod
    def kl(mu: Tensor, logvar: Tensor) -> Tensor:
        """KL(N(mu, sigma^2) || N(0, I)) in closed form: summed over z, averaged over the batch."""
        per_example = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).flatten(1).sum(1)
        return per_example.mean()


class Occlude(nn.Module):
    """`occlude(size)`: one random `size x size` square per image set to 0, every channel
    (`occlude` of portable.py, which the emitted file calls too)."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, x: Tensor) -> Tensor:
        return occlude(x, self.size)


class KSparse(nn.Module):
    """`ksparse(k, alpha)`: each example's k largest values kept, the others set to 0
    (`ksparse` of portable.py); in evaluation its `eval_k` (alpha * k) largest."""

    def __init__(self, k: int, eval_k: int):
        super().__init__()
        self.k, self.eval_k = k, eval_k

    def forward(self, x: Tensor) -> Tensor:
        return ksparse(x, self.k if self.training else self.eval_k)

    def extra_repr(self) -> str:
        return f"k={self.k}, eval_k={self.eval_k}"
