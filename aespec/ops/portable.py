"""The helpers an emitted file defines, as aespec runs them: one definition for both.

`aespec emit` copies each definition's text from this file into the file it writes
(`aespec.emit.helpers`, which reads the text without importing torch), so they are written
as that file writes Python: no annotations (but occlude's `size: int`, without which
TorchScript takes it for a tensor, and ksparse's `k: int`), only the names it imports
(`math`, `torch`, `nn`), and comments that stand on their own there.  The builders of
`occlude`, `layernorm`, `ksparse`, `gaussian_nll`, `contractive` and `mmd`, the lowering of
L latent draws and the importance-weighted bound of `gaussian(dim, iw=K)` run them here, and
the modules of `vq`, `rbm`, `rbm_visible`, `som` and `prototype` are the classes below (their
state too: vq's first-batch codebook, an rbm's persistent chains, a som's progress).  A
seeded run of either file gives the same tensors.  Torch's functional API is reached as
`nn.functional` here: the emitted file imports `F` only where its own code uses it.
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


def observed_only(e, observed, reduction):
    """A loss's values `e` (computed with reduction "none") over the observed entries only
    (missing=nan): "mean" averages over the observed entries, "sum" sums them, "none" gives
    0 where an entry is unobserved."""
    e = e.masked_fill(~observed, 0.0)
    if reduction == "none":
        return e
    total = e.sum()
    return total if reduction == "sum" else total / observed.sum().clamp(min=1)


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


class VectorQuantizer(nn.Module):
    """`vq(codes, dim, commitment, ema)`: each vector of the input replaced by its nearest
    codebook entry.

    A vector input (B, dim) is one vector per example; a feature map (B, dim, H, W) (or a
    sequence's (B, dim, L)) one per position, over channels.  Returns (z_q, loss): z_q has
    the input's shape, its value the chosen entries and its gradient the input's
    (straight-through); loss is the codebook term plus the commitment term, each a mean
    over the quantized values.  The codebook is set from the first training batch's
    encoder outputs (a random pick of them; the `ready` buffer says it was): a uniform
    init far from those outputs leaves most codes dead.

    With `ema` > 0 the codebook learns no gradient: each training step moves every entry
    to an exponential moving average (decay `ema`) of the vectors that chose it (van den
    Oord et al. 2017, appendix A.1), from the `counts` and `sums` buffers, counts
    Laplace-smoothed (no division by zero; an unchosen entry's sum and count decay
    alike); the loss is the commitment term alone.
    """

    def __init__(self, codes, dim, commitment, ema=0.0):
        super().__init__()
        self.codebook = nn.Parameter(torch.empty(codes, dim).uniform_(-1 / codes, 1 / codes),
                                     requires_grad=not ema)
        self.commitment, self.ema = commitment, ema
        self.register_buffer("ready", torch.zeros((), dtype=torch.bool))
        if ema:
            self.register_buffer("counts", torch.ones(codes))  # (codes,) EMA of uses
            self.register_buffer("sums", self.codebook.detach().clone())  # (codes, dim)

    def forward(self, h):
        flat = self.vectors(h)  # (N, dim): N = B, or B * positions
        if self.training and not bool(self.ready):
            self.init_from(flat.detach())
        chosen = self.nearest(flat)
        e = self.codebook[chosen]  # (N, dim)
        loss = self.commitment * (flat - e.detach()).square().mean()
        if self.ema:
            if self.training:
                self.average(flat.detach(), chosen)
        else:
            loss = loss + (e - flat.detach()).square().mean()
        z_q = flat + (e - flat).detach()  # straight-through: forward e, backward identity
        return self.unvectors(z_q, h), loss

    @torch.no_grad()
    def average(self, flat, chosen):
        """One EMA step of the codebook towards the mean of the vectors that chose each
        entry."""
        one_hot = nn.functional.one_hot(chosen, len(self.codebook)).to(self.sums.dtype)
        d = self.ema
        self.counts.mul_(d).add_(one_hot.sum(0), alpha=1 - d)
        self.sums.mul_(d).add_(one_hot.t() @ flat.to(self.sums.dtype), alpha=1 - d)
        n = self.counts.sum()
        smoothed = (self.counts + 1e-5) / (n + len(self.counts) * 1e-5) * n
        self.codebook.copy_((self.sums / smoothed.unsqueeze(1)).to(self.codebook.dtype))

    def nearest(self, flat):
        """(N,) index of the nearest codebook entry of each row of `flat` (N, dim)."""
        book = self.codebook.to(flat.dtype)
        d = (flat.square().sum(1, keepdim=True) - 2 * flat @ book.t()
             + book.square().sum(1))  # (N, codes): squared distances
        return d.argmin(1)

    def indices(self, h):
        """(B, positions) code index of each vector of h (the op's input), positions = 1
        for a vector input."""
        return self.nearest(self.vectors(h)).reshape(len(h), -1)

    @torch.no_grad()
    def init_from(self, flat):
        pick = torch.randint(len(flat), (len(self.codebook),), device=flat.device)
        self.codebook.copy_(flat[pick].to(self.codebook.dtype))
        if self.ema:
            self.sums.copy_(self.codebook)
            self.counts.fill_(1.0)
        self.ready.fill_(True)

    @staticmethod
    def vectors(h):
        """(B, dim) stays; (B, dim, *positions) -> (B * positions, dim), channels last."""
        return h if h.ndim == 2 else h.movedim(1, -1).reshape(-1, h.shape[1])

    @staticmethod
    def unvectors(flat, like):
        """The inverse of `vectors`: flat (N, dim) back to the shape of `like`."""
        if like.ndim == 2:
            return flat
        b, c, *pos = like.shape
        return flat.reshape(b, *pos, c).movedim(-1, 1)


class SelfOrganizingMap(nn.Module):
    """`som(rows, cols, grid, sigma, sigma_end)` over inputs of `features` values: one
    prototype per unit of a rows x cols grid, (units, features), units row-major.

    Its forward gives the winner's grid position (row, col) as the code z, chosen without
    gradient; `term(h)` is the neighbourhood-weighted squared distance that trains the
    prototypes, the neighbourhood's width shrinking from sigma to sigma_end (grid units)
    as `progress` goes from 0 to 1 over the epochs (the training loop calls
    `set_progress`); `measures(h)` gives the quantization and topographic errors.  A `rect`
    grid puts unit (r, c) at (c, r); a `hex` grid shifts odd rows half a unit right and
    packs the rows sqrt(3)/2 apart, so that every unit has six neighbours at distance 1.
    """

    def __init__(self, features, rows, cols, grid, sigma, sigma_end):
        super().__init__()
        self.rows, self.cols, self.grid = rows, cols, grid
        self.sigma, self.sigma_end = sigma, sigma_end
        # small values around the middle of [0, 1]: the wide first neighbourhood orders them
        self.weight = nn.Parameter(0.5 + 0.05 * torch.randn(rows * cols, features))
        r = torch.arange(rows, dtype=torch.float64).repeat_interleave(cols)
        c = torch.arange(cols, dtype=torch.float64).repeat(rows)
        hexagonal = grid == "hex"
        at = torch.stack([c + 0.5 * (r % 2) * hexagonal,
                          r * (math.sqrt(3) / 2 if hexagonal else 1.0)], 1)  # (units, 2)
        self.register_buffer("positions", at.float(), persistent=False)
        # grid neighbours, and each unit itself: (units, units)
        self.register_buffer("adjacent", torch.cdist(at, at) < 1.01, persistent=False)
        self.register_buffer("progress", torch.zeros(()))  # saved: a loaded run's term

    def set_progress(self, progress):
        """Share of the training done, in [0, 1]: where the neighbourhood's width is."""
        self.progress.fill_(min(max(progress, 0.0), 1.0))

    def width(self):
        """The neighbourhood's sigma now: sigma * (sigma_end / sigma) ** progress."""
        return self.sigma * (self.sigma_end / self.sigma) ** self.progress

    def distances(self, h):
        """Squared distance of each input to each prototype, (B, units)."""
        w = self.weight
        d = h.square().sum(1, keepdim=True) - 2 * h @ w.t() + w.square().sum(1)
        return d.clamp_min(0)

    def forward(self, h):
        with torch.no_grad():
            k = self.distances(h.flatten(1)).argmin(1)  # the winner (best-matching unit)
        return torch.stack([k // self.cols, k % self.cols], 1).to(h.dtype)  # (B, 2)

    def term(self, h):
        """Mean over the batch of sum_j n_j ||h - w_j||^2 / sum_j n_j, n_j the gaussian
        neighbourhood of the winner at unit j (grid distance, width `width()`)."""
        h = h.flatten(1)
        d = self.distances(h)  # (B, units)
        winner = d.detach().argmin(1)
        g2 = (self.positions[winner][:, None, :] - self.positions[None]).square().sum(-1)
        n = torch.exp(-g2 / (2 * self.width() ** 2))
        return ((n * d).sum(1) / n.sum(1)).mean()

    def measures(self, h):
        """Quantization error (mean distance to the winner's prototype) and topographic
        error (share of inputs whose two nearest prototypes are not grid neighbours)."""
        d = self.distances(h.flatten(1))
        two = d.topk(2, dim=1, largest=False)
        te = (~self.adjacent[two.indices[:, 0], two.indices[:, 1]]).float().mean()
        return {"quantization_error": two.values[:, 0].sqrt().mean(), "topographic_error": te}


class Prototype(nn.Module):
    """`prototype`: a som's decoder, the prototype of the unit at grid position z.

    The codebook is the map's Parameter object itself, counted and saved once; the
    reconstruction reads it without gradient: a reconstruction loss would pull the winner
    alone, as k-means does, and undo the map's order (the som's own term trains it).
    """

    def __init__(self, source):
        super().__init__()
        self.rows, self.cols = source.rows, source.cols
        self.weight = source.weight  # (units, features)

    def forward(self, z):
        r = z[:, 0].round().clamp(0, self.rows - 1)
        c = z[:, 1].round().clamp(0, self.cols - 1)
        return self.weight.detach()[(r * self.cols + c).long()]  # (B, features)


class RBM(nn.Module):
    """`rbm(hidden, visible, k, persistent, steps)`: W (hidden, visible), both biases.

    forward(v) gives the mean-field code p(h = 1 | v), (B, hidden), without gradient: the
    weights learn from `term(v)`, contrastive divergence, alone.  With `persistent` the
    negative chains live in the `chains` buffer (state_dict, hence checkpoints), so a
    resumed run carries on the same chains; they start from the first batch.
    """

    def __init__(self, visible, hidden, kind, k, persistent, steps):
        super().__init__()
        self.weight = nn.Parameter(0.01 * torch.randn(hidden, visible))
        self.hidden_bias = nn.Parameter(torch.zeros(hidden))
        self.visible_bias = nn.Parameter(torch.zeros(visible))
        self.gaussian, self.k = kind == "gaussian", k
        self.persistent, self.steps = persistent, steps
        self.register_buffer("chains", torch.zeros(0, visible))  # (chains, visible)

    def forward(self, v):
        return torch.sigmoid(nn.functional.linear(v.flatten(1), self.weight.detach(),
                                                  self.hidden_bias.detach()))

    def hidden_prob(self, v):
        return torch.sigmoid(nn.functional.linear(v, self.weight, self.hidden_bias))

    def visible_mean(self, h):
        m = nn.functional.linear(h, self.weight.t(), self.visible_bias)
        return m if self.gaussian else torch.sigmoid(m)

    def gibbs(self, v, steps, gen=None):
        """v after `steps` rounds of h ~ p(h|v), v ~ p(v|h)."""
        for _ in range(steps):
            h = torch.bernoulli(self.hidden_prob(v), generator=gen)
            m = self.visible_mean(h)
            if self.gaussian:  # unit variance
                v = m + torch.randn(m.shape, generator=gen, device=m.device, dtype=m.dtype)
            else:
                v = torch.bernoulli(m, generator=gen)
        return v

    def free_energy(self, v):
        """F(v) = -log sum_h exp(-E(v, h)), (B,)."""
        hidden = nn.functional.softplus(
            nn.functional.linear(v, self.weight, self.hidden_bias)).sum(1)
        if self.gaussian:
            return 0.5 * (v - self.visible_bias).square().sum(1) - hidden
        return -(v @ self.visible_bias) - hidden

    def term(self, v):
        """Contrastive divergence: mean F(v) - mean F(v_k); its gradient is CD-k's (PCD's).

        Its value is no measure of fit (it sinks as the chains fail to mix), so in
        evaluation it is 0: a model is validated on its reconstruction, as the spec's
        `loss` says, and judged on its metrics."""
        v = v.detach().flatten(1)
        if not self.training:
            return v.new_zeros(())
        with torch.no_grad():
            if self.persistent:  # the chains carry on from step to step
                if self.chains.shape[0] == 0:
                    self.chains = v.clone()
                self.chains = self.gibbs(self.chains, self.k)
                negatives = self.chains
            else:
                negatives = self.gibbs(v, self.k)
        return self.free_energy(v).mean() - self.free_energy(negatives).mean()

    def noise(self, like, gen):
        """What the data is scored against: Bernoulli(0.5) pixels, or U(0, 1) for
        Gaussian visible units."""
        u = torch.rand(like.shape, generator=gen, device=like.device, dtype=like.dtype)
        return u if self.gaussian else (u < 0.5).to(like.dtype)

    def measures(self, v):
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
            out["pseudo_log_likelihood"] = v.shape[1] * nn.functional.logsigmoid(
                self.free_energy(flipped) - f)
        return out

    def generate(self, n, generator=None):
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

    def _load_from_state_dict(self, state_dict, prefix, *args):
        chains = state_dict.get(prefix + "chains")
        if chains is not None and chains.shape != self.chains.shape:  # chains of any count
            self.chains = torch.zeros_like(chains, device=self.chains.device)
        super()._load_from_state_dict(state_dict, prefix, *args)


class RBMVisible(nn.Module):
    """The mean-field visible layer of an RBM: W^T h + b_v with the RBM's own parameters
    (the mirror's output activation follows: sigmoid for Bernoulli units).  No gradient
    passes: the reconstruction is measured, the RBM trains by contrastive divergence."""

    def __init__(self, rbm):
        super().__init__()
        self.weight, self.bias = rbm.weight, rbm.visible_bias

    def forward(self, h):
        return nn.functional.linear(h, self.weight.detach().t(), self.bias.detach())
