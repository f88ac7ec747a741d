"""The hand-written contestants of bench/gpu.py: each model in plain PyTorch, trained as
its tutorial trains it, by a `DataLoader` over a `TensorDataset` on the host, each batch
copied to the device, fp32, `torch.optim.Adam` as it comes.

- fc, conv: bench/train_throughput.py's twins of specs/mirror_fc.ae and
  specs/denoising_conv.ae (the sigmoid folded into BCE on logits, as aespec does); vae: an
  FC-VAE of specs/vae_fc.ae's shape. One update a batch, as pythae's trainer does.
- dcgan: the PyTorch DCGAN tutorial's loop (pytorch.org/tutorials/beginner/dcgan_faces_
  tutorial.html): D's update on the real batch and on G(z) detached, then G's update
  through D on the same fakes; bench/gan_hand.py's networks, specs/dcgan_fashion.ae's
  layer for layer. aespec's GAN step is the same work (its `GANTrainer._step`).
- vaegan: specs/vae_gan.ae as Larsen et al. train it and aespec's `VAEGANTrainer` does:
  the VAE's update on its loss plus 20 x the non-saturating term of its reconstructions
  and as many decoded draws of N(0, I) (D frozen), then D's update on the batch against
  the same fakes, detached.

Each model is a `make_step(kind, device)`: a function of one batch on the device that
trains one step, so the loop and the FLOP count (`step_flops`) run the same code.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

LATENT_DCGAN = 100
VAE_Z = 20
ADVERSARIAL_WEIGHT = 20.0  # specs/vae_gan.ae's


def _autoencoder_step(kind: str, device: Any) -> Callable[[Any], None]:
    import torch
    from torch import nn
    from torch.nn import functional

    if kind == "vae":
        model: nn.Module = _vae().to(device)
    else:
        from train_throughput import hand_model

        model = hand_model(kind).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    weights = [p for p in model.parameters() if p.dim() > 1]

    def step(xb: Any) -> None:
        if kind == "vae":
            logits, mu, logvar = model(xb)
            rec = functional.binary_cross_entropy_with_logits(logits, xb, reduction="sum")
            kl = -0.5 * torch.sum(1 + logvar - mu.square() - logvar.exp())
            loss = (rec + kl) / len(xb)
        else:
            inp = xb if kind == "fc" else (xb + 0.5 * torch.randn_like(xb)).clamp(0.0, 1.0)
            loss = functional.binary_cross_entropy_with_logits(model(inp), xb)
            if kind == "conv":  # regularize l2(1e-5)
                loss = loss + 1e-5 * sum(w.square().sum() for w in weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _vae() -> Any:
    """encoder -> (mu, logvar) -> decoder, specs/vae_fc.ae's sizes; the decoder's logits."""
    import torch
    from torch import nn

    class VAE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256),
                                     nn.ReLU())
            self.mu, self.logvar = nn.Linear(256, VAE_Z), nn.Linear(256, VAE_Z)
            self.dec = nn.Sequential(nn.Linear(VAE_Z, 256), nn.ReLU(), nn.Linear(256, 512),
                                     nn.ReLU(), nn.Linear(512, 784))

        def forward(self, x: Any) -> Any:
            h = self.enc(x)
            mu, logvar = self.mu(h), self.logvar(h)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            return self.dec(z), mu, logvar

    return VAE()


def _dcgan_step(device: Any) -> Callable[[Any], None]:
    """The DCGAN tutorial's step; BCE on D's logit (the tutorial's Sigmoid + BCELoss)."""
    import torch
    from gan_hand import discriminator, generator
    from torch.nn import functional

    g, d = generator().to(device), discriminator().to(device)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = functional.binary_cross_entropy_with_logits

    def step(real: Any) -> None:
        b = len(real)
        ones, zeros = torch.ones(b, device=device), torch.zeros(b, device=device)
        d.zero_grad(set_to_none=True)
        bce(d(real).view(-1), ones).backward()
        fake = g(torch.randn(b, LATENT_DCGAN, device=device))
        bce(d(fake.detach()).view(-1), zeros).backward()
        opt_d.step()
        g.zero_grad(set_to_none=True)
        bce(d(fake).view(-1), ones).backward()  # the same fakes, D's new weights
        opt_g.step()

    return step


def _vaegan_step(device: Any) -> Callable[[Any], None]:
    """specs/vae_gan.ae's networks and step; the decoder ends in a sigmoid, as the spec's."""
    import torch
    from torch import nn
    from torch.nn import functional

    enc = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256),
                        nn.ReLU(), nn.Linear(256, 2 * VAE_Z)).to(device)
    dec = nn.Sequential(nn.Linear(VAE_Z, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(),
                        nn.Linear(512, 784), nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28)))
    dec = dec.to(device)
    d = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.LeakyReLU(0.2),
                      nn.Linear(256, 1)).to(device)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-3)
    opt_d = torch.optim.Adam(d.parameters(), lr=1e-3, betas=(0.5, 0.999))
    bce_logits = functional.binary_cross_entropy_with_logits

    def step(x: Any) -> None:
        b = len(x)
        mu, logvar = enc(x).chunk(2, dim=1)
        x_hat = dec(mu + torch.randn_like(mu) * torch.exp(0.5 * logvar))
        rec = functional.binary_cross_entropy(x_hat, x, reduction="sum") / b
        kl = -0.5 * torch.sum(1 + logvar - mu.square() - logvar.exp()) / b
        fakes = torch.cat([x_hat, dec(torch.randn(b, VAE_Z, device=device))])
        d.requires_grad_(False)
        fool = bce_logits(d(fakes).view(-1), torch.ones(2 * b, device=device))
        opt.zero_grad(set_to_none=True)
        (rec + kl + ADVERSARIAL_WEIGHT * fool).backward()
        opt.step()
        d.requires_grad_(True)
        fakes = fakes.detach()
        d_loss = bce_logits(d(x).view(-1), torch.ones(b, device=device)) + \
            bce_logits(d(fakes).view(-1), torch.zeros(2 * b, device=device))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

    return step


def make_step(kind: str, device: Any) -> Callable[[Any], None]:
    """One training step of the hand-written `kind` on a batch already on `device`."""
    if kind == "dcgan":
        return _dcgan_step(device)
    if kind == "vaegan":
        return _vaegan_step(device)
    return _autoencoder_step(kind, device)


FLAT = ("fc", "vae")  # the models that read a flat vector of 784


def hand_loop(kind: str, x: Any, batch: int, epochs: int, device: Any) -> list[float]:
    """Samples/s of each epoch: a DataLoader over a host TensorDataset (shuffled, pinned
    memory on CUDA, no workers: the data is in memory), batches copied to the device."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    data = torch.from_numpy(x.reshape(len(x), -1) if kind in FLAT else x)
    loader = DataLoader(TensorDataset(data), batch_size=batch, shuffle=True,
                        pin_memory=device.type == "cuda")
    step = make_step(kind, device)
    rates = []
    for _ in range(epochs):
        sync(device)
        start = time.perf_counter()
        for (xb,) in loader:
            step(xb.to(device, non_blocking=True))
        sync(device)
        rates.append(len(data) / (time.perf_counter() - start))
    return rates


def step_flops(kind: str, x: Any, batch: int, device: Any) -> float:
    """FLOPs of one hand-written training step at `batch`, per sample (torch's
    FlopCounterMode: matrix products and convolutions, forward and backward)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    xb = torch.from_numpy(x[:batch]).to(device)
    xb = xb.reshape(len(xb), -1) if kind in FLAT else xb
    step = make_step(kind, device)
    with FlopCounterMode(display=False) as counter:
        step(xb)
    return counter.get_total_flops() / len(xb)


def sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
