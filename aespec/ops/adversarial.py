"""The adversarial losses of `loss adversarial(KIND)`: one record each, what a GAN's two
networks are trained to do (the check's objective line and docs/ops.md read it).

`D` is the discriminator's raw score (a logit for the log-likelihood games, a critic's
value for the Wasserstein one), `σ` the logistic function; `x` real data, `G(z)` a sample.
No torch here: the training of these specs is not built yet (issue 21).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from aespec.ops.registry import Args

AdversarialKind = Literal["nonsaturating", "minimax", "wasserstein", "hinge", "least_squares"]


class AdversarialArgs(Args):
    kind: AdversarialKind = Field("nonsaturating")


@dataclass(frozen=True)
class Adversarial:
    """One adversarial loss: the discriminator's and the generator's objective, each a
    quantity to minimise, and whether it reads D as a logit (a probability through σ)."""

    name: AdversarialKind
    doc: str
    discriminator: str
    generator: str
    logit: bool


ADVERSARIAL: dict[str, Adversarial] = {a.name: a for a in (
    Adversarial("nonsaturating", "Goodfellow et al.'s game with the generator's loss flipped "
                "so that it has gradients while D wins (the default)",
                "−log σ(D(x)) − log(1 − σ(D(G(z))))", "−log σ(D(G(z)))", True),
    Adversarial("minimax", "the original game: min over G, max over D of "
                "E[log D(x)] + E[log(1 − D(G(z)))]",
                "−log σ(D(x)) − log(1 − σ(D(G(z))))", "log(1 − σ(D(G(z))))", True),
    Adversarial("wasserstein", "WGAN: D is a critic whose score difference estimates the "
                "Wasserstein distance", "D(G(z)) − D(x)", "−D(G(z))", False),
    Adversarial("hinge", "the hinge game of SAGAN and BigGAN",
                "max(0, 1 − D(x)) + max(0, 1 + D(G(z)))", "−D(G(z))", False),
    Adversarial("least_squares", "LSGAN: D's score pulled to 1 on real and 0 on fake data",
                "(D(x) − 1)² + D(G(z))²", "(D(G(z)) − 1)²", False),
)}
