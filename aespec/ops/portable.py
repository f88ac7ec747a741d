"""The helpers an emitted file defines, as aespec runs them: one definition for both.

`aespec emit` copies each definition's text from this file into the file it writes
(`aespec.emit.helpers`, which reads the text without importing torch), so they are written
as that file writes Python: no annotations (but occlude's `size: int`, without which
TorchScript takes it for a tensor, and ksparse's `k: int`), only the names it imports
(`math`, `torch`, `nn`), and comments that stand on their own there.  The builders of
`occlude`, `layernorm`, `ksparse`, `gaussian_nll`, `contractive` and `mmd`, the lowering of
L latent draws and the importance-weighted bound of `gaussian(dim, iw=K)` run them here.  A
seeded run of either file gives the same tensors.
"""

import math

import torch  # noqa: TID251 (the compile stage's, like ops/modules.py)
from torch import nn  # noqa: TID251


def occlude(x, size: int):
    """One random size x size square per image set to 0, in every channel (inpainting)."""
    b, h, w = x.shape[0], x.shape[2], x.shape[3]
    top = torch.randint(0, h - size + 1, (b, 1, 1), device=x.device)
    left = torch.randint(0, w - size + 1, (b, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    hole = (rows >= top) & (rows < top + size) & (cols >= left) & (cols < left + size)
    return x.masked_fill(hole.unsqueeze(1), 0.0)  # hole: (B, H, W)


def tile_draws(x, like):
    """x repeated draw-major to the L*B rows of `like` (row l*B + b reads row b)."""
    rows = torch.arange(like.shape[0], device=x.device) % x.shape[0]
    return x.index_select(0, rows)


def gaussian_nll(pred, target, reduction, var=None, log_var=None, min_var=0.001):
    """0.5 * (log 2 pi + log sigma^2 + (x - x_hat)^2 / sigma^2) per value; sigma^2 is `var`,
    or (learned) exp(log_var) + min_var with one log_var per output value."""
    sq = (target - pred).square()
    if log_var is None:
        nll = 0.5 * (sq / var + (math.log(2 * math.pi) + math.log(var)))
    else:
        sigma2 = log_var.exp() + min_var
        nll = 0.5 * (sq / sigma2 + sigma2.log() + math.log(2 * math.pi))
    if reduction == "none":
        return nll
    return nll.sum() if reduction == "sum" else nll.mean()


def log_importance_weights(nll, z, mu, logvar):
    """log p(x|z) p(z) / q(z|x) of each draw, (draws, B): `nll` is -log p(x|z), (draws*B,);
    z the draws, (draws*B, dim), stacked draw-major; mu and logvar those of q(z|x),
    (B, dim).  The log(2 pi) of p(z) and of q(z|x) cancel."""
    mu, logvar = mu.flatten(1), logvar.flatten(1)
    z = z.reshape(-1, *mu.shape)  # (draws, B, dim)
    log_p_z = -0.5 * z.square().sum(2)
    log_q_z = -0.5 * (logvar + (z - mu).square() * torch.exp(-logvar)).sum(2)
    return log_p_z - log_q_z - nll.reshape(-1, mu.shape[0])


def iwae_loss(log_w, k):
    """Minus the importance-weighted bound log (1/k) sum_k w_k, averaged over the examples
    and over the groups of k draws that the (groups*k, B) log weights stack group-major."""
    groups = log_w.reshape(-1, k, log_w.shape[1])  # (groups, k, B)
    return -(torch.logsumexp(groups, 1) - math.log(k)).mean()


def contractive_penalty(h, x, weight, budget=1 << 24):
    """weight * mean over examples of ||dh/dx||_F^2, exactly: one vector-Jacobian product
    per unit of h, batched (vmap) over chunks of at most `budget` gradient values.  Summing a
    unit over the batch gives each example's own row of dh/dx (no layer mixes examples)."""
    b, rows = x.shape[0], h.shape[0]
    units = h.numel() // b  # per example (L draws x units)
    per_unit = h.reshape(rows // b, b, -1)  # (L, B, k)
    step = max(1, budget // x.numel())
    total = h.new_zeros(())
    for start in range(0, units, step):
        n = min(step, units - start)
        basis = torch.zeros(n, units, dtype=h.dtype, device=h.device)
        basis[:, start:start + n] = torch.eye(n, dtype=h.dtype, device=h.device)
        grads = basis.view(n, rows // b, 1, -1).expand(n, *per_unit.shape)
        (jac,) = torch.autograd.grad(per_unit, x, grads, create_graph=True,
                                     is_grads_batched=True)  # (n, B, *x)
        total = total + jac.square().sum()
    return weight * total / rows


def ksparse(x, k: int):
    """The k largest values of each example kept, every other one set to 0 (Makhzani and
    Frey's k-sparse layer); gradients reach the kept values only."""
    flat = x.flatten(1)  # (B, values)
    top = flat.topk(k, dim=1)
    return torch.zeros_like(flat).scatter(1, top.indices, top.values).view_as(x)


def mmd_penalty(z, weight, kernel="imq", scale=1.0):
    """weight * MMD^2 between the rows of z and as many draws of N(0, I), unbiased: the
    mean kernel value over distinct pairs within each sample, less twice the mean over
    the pairs across them (Tolstikhin et al., WAE-MMD).  Bandwidth C = 2 * d * scale^2, d
    the code's size; `imq` is C / (C + |a - b|^2), `rbf` exp(-|a - b|^2 / C)."""
    z = z.flatten(1)  # (n, d)
    n, d = z.shape
    if n < 2:  # no distinct pair to estimate from
        return z.new_zeros(())
    both = torch.cat([z, torch.randn_like(z)])  # (2n, d): the codes, then the prior's draws
    norms = both.square().sum(1)
    sq = (norms.unsqueeze(1) + norms.unsqueeze(0) - 2 * both @ both.t()).clamp_min(0)
    c = 2.0 * d * scale * scale
    k = c / (c + sq) if kernel == "imq" else torch.exp(-sq / c)  # (2n, 2n)
    within = k[:n, :n].sum() - k[:n, :n].diagonal().sum()
    within = within + k[n:, n:].sum() - k[n:, n:].diagonal().sum()
    return weight * (within / (n * (n - 1)) - 2 * k[:n, n:].mean())


class ExampleNorm(nn.GroupNorm):
    """GroupNorm(1, C) (statistics over the whole example, a scale and shift per channel)
    in plain tensor ops, whose gradients can be batched (the contractive penalty's)."""

    def forward(self, x):
        dims = tuple(range(1, x.dim()))
        var, mean = torch.var_mean(x, dim=dims, correction=0, keepdim=True)
        view = (1, -1) + (1,) * (x.dim() - 2)
        y = (x - mean) * torch.rsqrt(var + self.eps)
        return y * self.weight.view(view) + self.bias.view(view)
