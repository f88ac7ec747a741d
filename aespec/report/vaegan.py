"""A VAE-GAN's run in words: its game's terms as the run summary names them.

An epoch's record of a VAE-GAN holds the VAE's objective as `loss` and its terms (`bce`,
`kl`), then the decoder's weighted `adversarial` term, D's objective `discriminator`
and D's mean scores `d_real`, `d_recon` and `d_sample` of the data, the reconstructions
and the decoded draws of the prior (probabilities σ(D) in the log-likelihood games).
"""

from __future__ import annotations

from typing import Any

TERMS = {"discriminator": "discriminator loss", "d_real": "D(x)", "d_recon": "D(x̂)",
         "d_sample": "D(Dec(z))", "adversarial": "decoder's adversarial term"}


def is_vae_gan(record: dict[str, Any]) -> bool:
    """Whether an epoch's record is a VAE-GAN's: D scored reconstructions and samples."""
    return "d_sample" in (record.get("train") or {})


def game_line(record: dict[str, Any]) -> str:
    """`the game at epoch 8: discriminator loss 1.29, D(x) 0.561, ...`, from its record."""
    train = record.get("train") or {}
    parts = [f"{label} {train[key]:#.4g}" for key, label in TERMS.items() if key in train]
    return f"the game at epoch {record.get('epoch')}: {', '.join(parts)}"
