"""The adversarial losses of `loss adversarial(KIND)`: one record each, what a GAN's two
networks are trained to do (the check's objective line and docs/ops.md read it).

`D` is the discriminator's raw score (a logit for the log-likelihood games, a critic's
value for the Wasserstein one), `σ` the logistic function; `x` real data, `G(z)` a sample.
Each record also holds the two objectives' torch forms, `d_loss(real, fake)` and
`g_loss(fake)` over the raw scores (B, 1), means over the batch; torch is imported inside
them, so the check never imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Optional

from pydantic import Field, model_validator

from aespec.ops.registry import Args

AdversarialKind = Literal["nonsaturating", "minimax", "wasserstein", "hinge", "least_squares"]


class AdversarialArgs(Args):
    kind: AdversarialKind = Field("nonsaturating")
    # WGAN-GP (Gulrajani et al., 2017): lambda * (|grad D(x~)| - 1)^2 at points x~ between
    # real and generated examples, added to D's loss; 0: none
    gradient_penalty: float = Field(0.0, ge=0)
    # WGAN's weight clipping (Arjovsky et al., 2017): D's weights into [-clip, clip] after
    # each of its steps
    clip: Optional[float] = Field(None, gt=0)

    @model_validator(mode="after")
    def _clip_is_wasserstein(self) -> AdversarialArgs:
        if self.clip is not None and self.kind != "wasserstein":
            raise ValueError("clip= keeps a Wasserstein critic Lipschitz: it is for "
                             "adversarial(wasserstein)")
        return self


@dataclass(frozen=True)
class Adversarial:
    """One adversarial loss: the discriminator's and the generator's objective, each a
    quantity to minimise, and whether it reads D as a logit (a probability through σ)."""

    name: AdversarialKind
    doc: str
    discriminator: str
    generator: str
    logit: bool
    d_loss: Callable[[Any, Any], Any]  # (D(x), D(G(z))) -> D's loss, a scalar tensor
    g_loss: Callable[[Any], Any]  # D(G(z)) -> G's loss
    # the same two as the emitted file writes them (aespec/emit/gan.py), over the scores
    # `s_real` and `s_fake`; `F` is torch.nn.functional
    d_source: str
    g_source: str


def _softplus(t: Any) -> Any:
    from torch.nn import functional  # noqa: TID251

    return functional.softplus(t)


def _relu(t: Any) -> Any:
    from torch.nn import functional  # noqa: TID251

    return functional.relu(t)


# -log σ(s) = softplus(-s) and -log(1 - σ(s)) = softplus(s): stable for any logit
def _log_d(real: Any, fake: Any) -> Any:
    return _softplus(-real).mean() + _softplus(fake).mean()


_LOG_D = "F.softplus(-s_real).mean() + F.softplus(s_fake).mean()"


ADVERSARIAL: dict[str, Adversarial] = {a.name: a for a in (
    Adversarial("nonsaturating", "Goodfellow et al.'s game with the generator's loss flipped "
                "so that it has gradients while D wins (the default)",
                "−log σ(D(x)) − log(1 − σ(D(G(z))))", "−log σ(D(G(z)))", True,
                _log_d, lambda f: _softplus(-f).mean(), _LOG_D, "F.softplus(-s_fake).mean()"),
    Adversarial("minimax", "the original game: min over G, max over D of "
                "E[log D(x)] + E[log(1 − D(G(z)))]",
                "−log σ(D(x)) − log(1 − σ(D(G(z))))", "log(1 − σ(D(G(z))))", True,
                _log_d, lambda f: -_softplus(f).mean(), _LOG_D, "-F.softplus(s_fake).mean()"),
    Adversarial("wasserstein", "WGAN: D is a critic whose score difference estimates the "
                "Wasserstein distance", "D(G(z)) − D(x)", "−D(G(z))", False,
                lambda r, f: f.mean() - r.mean(), lambda f: -f.mean(),
                "s_fake.mean() - s_real.mean()", "-s_fake.mean()"),
    Adversarial("hinge", "the hinge game of SAGAN and BigGAN",
                "max(0, 1 − D(x)) + max(0, 1 + D(G(z)))", "−D(G(z))", False,
                lambda r, f: _relu(1 - r).mean() + _relu(1 + f).mean(), lambda f: -f.mean(),
                "F.relu(1 - s_real).mean() + F.relu(1 + s_fake).mean()", "-s_fake.mean()"),
    Adversarial("least_squares", "LSGAN: D's score pulled to 1 on real and 0 on fake data",
                "(D(x) − 1)² + D(G(z))²", "(D(G(z)) − 1)²", False,
                lambda r, f: ((r - 1) ** 2).mean() + (f ** 2).mean(),
                lambda f: ((f - 1) ** 2).mean(),
                "((s_real - 1) ** 2).mean() + (s_fake ** 2).mean()", "((s_fake - 1) ** 2).mean()"),
)}
