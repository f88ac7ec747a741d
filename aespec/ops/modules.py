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
    ExampleNorm,
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


class VectorQuantizer(nn.Module):
    """Replaces each vector of the input by its nearest codebook entry.

    A vector input `(B, dim)` is one vector per example; an image feature map
    `(B, dim, H, W)` (or a sequence's `(B, dim, L)`) one per position, over channels.
    Returns `(z_q, loss)`: `z_q` has the input's shape, its value the chosen entries and its
    gradient the input's (straight-through); `loss` is the codebook term plus the
    commitment term, each a mean over the quantized values.
    """

    ready: Tensor  # a buffer: whether the codebook was set from encoder outputs yet

    def __init__(self, codes: int, dim: int, commitment: float):
        super().__init__()
        self.codebook = nn.Parameter(torch.empty(codes, dim).uniform_(-1 / codes, 1 / codes))
        self.commitment = commitment
        # the codebook is set from the first training batch's encoder outputs (a random
        # pick of them): a uniform init far from those outputs leaves most codes dead
        self.register_buffer("ready", torch.zeros((), dtype=torch.bool))

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        flat = _vectors(h)  # (N, dim): N = B, or B * positions
        if self.training and not bool(self.ready):
            self._init_from(flat.detach())
        e = self.codebook[self.nearest(flat)]  # (N, dim)
        loss = F.mse_loss(e, flat.detach()) + self.commitment * F.mse_loss(flat, e.detach())
        z_q = flat + (e - flat).detach()  # straight-through: forward e, backward identity
        return _unvectors(z_q, h), loss

    def nearest(self, flat: Tensor) -> Tensor:
        """(N,) index of the nearest codebook entry of each row of `flat` (N, dim)."""
        book = self.codebook.to(flat.dtype)
        d = (flat.square().sum(1, keepdim=True) - 2 * flat @ book.t()
             + book.square().sum(1))  # (N, codes): squared distances
        return d.argmin(1)

    def indices(self, h: Tensor) -> Tensor:
        """(B, positions) code index of each vector of `h` (the op's input), positions = 1
        for a vector input."""
        return self.nearest(_vectors(h)).reshape(len(h), -1)

    @torch.no_grad()
    def _init_from(self, flat: Tensor) -> None:
        codes = len(self.codebook)
        pick = torch.randint(len(flat), (codes,), device=flat.device)
        self.codebook.copy_(flat[pick].to(self.codebook.dtype))
        self.ready.fill_(True)


def _vectors(h: Tensor) -> Tensor:
    """(B, dim) stays; (B, dim, *positions) -> (B * positions, dim), channels last."""
    return h if h.ndim == 2 else h.movedim(1, -1).reshape(-1, h.shape[1])


def _unvectors(flat: Tensor, like: Tensor) -> Tensor:
    if like.ndim == 2:
        return flat
    b, c, *pos = like.shape
    return flat.reshape(b, *pos, c).movedim(-1, 1)


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


class RBM(nn.Module):
    """`rbm(hidden, visible, k, persistent, steps)`: W (hidden, visible), both biases.

    `forward(v)` gives the mean-field code p(h = 1 | v), (B, hidden), without gradient:
    the weights learn from `term(v)`, contrastive divergence, alone.  With `persistent`
    the negative chains live in the `chains` buffer (state_dict, hence checkpoints), so a
    resumed run carries on the same chains; they start from the first batch.
    """

    def __init__(self, visible: int, hidden: int, kind: str, k: int, persistent: bool,
                 steps: int):
        super().__init__()
        self.weight = nn.Parameter(0.01 * torch.randn(hidden, visible))
        self.hidden_bias = nn.Parameter(torch.zeros(hidden))
        self.visible_bias = nn.Parameter(torch.zeros(visible))
        self.gaussian, self.k = kind == "gaussian", k
        self.persistent, self.steps = persistent, steps
        self.chains: Tensor
        self.register_buffer("chains", torch.zeros(0, visible))  # (chains, visible)

    def forward(self, v: Tensor) -> Tensor:
        return torch.sigmoid(F.linear(v.flatten(1), self.weight.detach(),
                                      self.hidden_bias.detach()))

    def hidden_prob(self, v: Tensor) -> Tensor:
        return torch.sigmoid(F.linear(v, self.weight, self.hidden_bias))

    def visible_mean(self, h: Tensor) -> Tensor:
        m = F.linear(h, self.weight.t(), self.visible_bias)
        return m if self.gaussian else torch.sigmoid(m)

    def gibbs(self, v: Tensor, steps: int, gen: Optional[torch.Generator] = None) -> Tensor:
        """v after `steps` rounds of h ~ p(h|v), v ~ p(v|h)."""
        for _ in range(steps):
            h = torch.bernoulli(self.hidden_prob(v), generator=gen)
            v = self._sample_visible(h, gen)
        return v

    def _sample_visible(self, h: Tensor, gen: Optional[torch.Generator]) -> Tensor:
        m = self.visible_mean(h)
        if self.gaussian:  # unit variance
            return m + torch.randn(m.shape, generator=gen, device=m.device, dtype=m.dtype)
        return torch.bernoulli(m, generator=gen)

    def free_energy(self, v: Tensor) -> Tensor:
        """F(v) = -log sum_h exp(-E(v, h)), (B,)."""
        hidden = F.softplus(F.linear(v, self.weight, self.hidden_bias)).sum(1)
        if self.gaussian:
            return 0.5 * (v - self.visible_bias).square().sum(1) - hidden
        return -(v @ self.visible_bias) - hidden

    def term(self, v: Tensor) -> Tensor:
        """Contrastive divergence: mean F(v) - mean F(v_k); its gradient is CD-k's (PCD's).

        Its value is no measure of fit (it sinks as the chains fail to mix), so in
        evaluation it is 0: a model is validated on its reconstruction, as the spec's
        `loss` says, and judged on `metrics`."""
        v = v.detach().flatten(1)
        if not self.training:
            return v.new_zeros(())
        with torch.no_grad():
            negatives = self._negatives(v)
        return self.free_energy(v).mean() - self.free_energy(negatives).mean()

    def _negatives(self, v: Tensor) -> Tensor:
        if not (self.persistent and self.training):
            return self.gibbs(v, self.k)
        if self.chains.shape[0] == 0:
            self.chains = v.clone()
        self.chains = self.gibbs(self.chains, self.k)
        return self.chains

    def noise(self, like: Tensor, gen: torch.Generator) -> Tensor:
        """What the data is scored against: Bernoulli(0.5) pixels, or U(0, 1) for
        Gaussian visible units."""
        u = torch.rand(like.shape, generator=gen, device=like.device, dtype=like.dtype)
        return u if self.gaussian else (u < 0.5).to(like.dtype)

    def measures(self, v: Tensor) -> dict[str, Tensor]:
        """Per example: F of the data, F of as many noise draws, and (Bernoulli units) the
        pseudo-log-likelihood D log sigmoid(F(v with bit i flipped) - F(v)), i at random."""
        v = v.flatten(1)
        gen = torch.Generator(device=v.device).manual_seed(0)  # the same noise every time
        f = self.free_energy(v)
        out = {"free_energy_data": f, "free_energy_noise": self.free_energy(self.noise(v, gen))}
        if not self.gaussian:
            i = torch.randint(v.shape[1], (v.shape[0],), generator=gen, device=v.device)
            flipped = v.clone()
            rows = torch.arange(v.shape[0], device=v.device)
            flipped[rows, i] = 1 - flipped[rows, i]
            out["pseudo_log_likelihood"] = v.shape[1] * F.logsigmoid(
                self.free_energy(flipped) - f)
        return out

    def generate(self, n: int, generator: Optional[torch.Generator] = None) -> Tensor:
        """Hidden states (n, hidden) after `steps` Gibbs steps from noise: decoded by the
        mirror, they give the mean-field p(v|h) of the chains' last state."""
        p = self.weight
        gen = generator if generator is not None else \
            torch.Generator(device=p.device).manual_seed(0)
        start = torch.zeros(n, p.shape[1], device=gen.device, dtype=p.dtype)
        v = self.noise(start, gen).to(p.device)
        here = gen if gen.device == p.device else None  # else the device's own generator
        v = self.gibbs(v, self.steps, here)
        return torch.bernoulli(self.hidden_prob(v), generator=here)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str,
                              *args: Any) -> None:
        chains = state_dict.get(prefix + "chains")
        if chains is not None and chains.shape != self.chains.shape:  # chains of any count
            self.chains = torch.zeros_like(chains, device=self.chains.device)
        super()._load_from_state_dict(state_dict, prefix, *args)


class RBMVisible(nn.Module):
    """The mean-field visible layer of an `RBM`: W^T h + b_v with the RBM's own parameters
    (the mirror's output activation follows: sigmoid for Bernoulli units).  No gradient
    passes: the reconstruction is measured, the RBM trains by contrastive divergence."""

    def __init__(self, rbm: RBM):
        super().__init__()
        self.weight, self.bias = rbm.weight, rbm.visible_bias

    def forward(self, h: Tensor) -> Tensor:
        return F.linear(h, self.weight.detach().t(), self.bias.detach())
