"""The helper functions an emitted file defines when its ops need them: source text.

Each computes what its twin in aespec does (`aespec.ops.modules`, `aespec.ops.losses`),
drawing random numbers in the same order, so a seeded run gives the same tensors.
"""

from __future__ import annotations

OCCLUDE = '''
def occlude(x, size):
    """One random size x size square per image set to 0, in every channel (inpainting)."""
    b, h, w = x.shape[0], x.shape[2], x.shape[3]
    top = torch.randint(0, h - size + 1, (b, 1, 1), device=x.device)
    left = torch.randint(0, w - size + 1, (b, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    hole = (rows >= top) & (rows < top + size) & (cols >= left) & (cols < left + size)
    return x.masked_fill(hole.unsqueeze(1), 0.0)  # hole: (B, H, W)
'''

TILE_DRAWS = '''
def tile_draws(x, like):
    """x repeated draw-major to the L*B rows of `like` (row l*B + b reads row b)."""
    rows = torch.arange(like.shape[0], device=x.device) % x.shape[0]
    return x.index_select(0, rows)
'''

GAUSSIAN_NLL = '''
def gaussian_nll(pred, target, reduction, var=None, log_var=None, min_var=0.001):
    """0.5 * (log 2 pi + log sigma^2 + (x - x_hat)^2 / sigma^2) per value; sigma^2 is `var`,
    or (learned) exp(log_var) + min_var with one log_var per output value."""
    sq = (target - pred).square()
    if log_var is None:
        nll = 0.5 * (sq / var + (math.log(2 * math.pi) + math.log(var)))
    else:
        sigma2 = log_var.exp() + min_var
        nll = 0.5 * (sq / sigma2 + sigma2.log() + math.log(2 * math.pi))
    return nll.sum() if reduction == "sum" else nll.mean()
'''

CONTRACTIVE = '''
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
'''

EXAMPLE_NORM = '''
class ExampleNorm(nn.GroupNorm):
    """GroupNorm(1, C) (statistics over the whole example, a scale and shift per channel)
    in plain tensor ops, whose gradients can be batched (the contractive penalty's)."""

    def forward(self, x):
        dims = tuple(range(1, x.dim()))
        var, mean = torch.var_mean(x, dim=dims, correction=0, keepdim=True)
        view = (1, -1) + (1,) * (x.dim() - 2)
        y = (x - mean) * torch.rsqrt(var + self.eps)
        return y * self.weight.view(view) + self.bias.view(view)
'''

HELPERS = {"occlude": OCCLUDE, "example_norm": EXAMPLE_NORM, "tile_draws": TILE_DRAWS,
           "gaussian_nll": GAUSSIAN_NLL,
           "contractive_penalty": CONTRACTIVE}
