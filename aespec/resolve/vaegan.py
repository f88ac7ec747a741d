"""A VAE-GAN's checks (Larsen et al., 2016): a variational autoencoder whose
`discriminator { ... }` (no `on code`) judges examples, the data against the decoder's
reconstructions and its decoded draws of the prior."""

from __future__ import annotations

from aespec.errors import Span
from aespec.model.spec import AdversarialSpec
from aespec.resolve.resolver import Resolver


def check_vae_gan(r: Resolver, spans: dict[str, Span]) -> None:
    """E217 where an autoencoder with a discriminator of examples is not a VAE-GAN; the
    game `adversarial(nonsaturating)`, weight 1, where its loss line names none."""
    if "adversarial" not in r.fields:
        r.fields["adversarial"] = AdversarialSpec(kind="nonsaturating", span=Span.point(1, 1))
    if "bottleneck" not in spans:  # neither a GAN nor an autoencoder: most likely a GAN
        r.bag.add("E217", "a discriminator makes a GAN, which needs `latent normal(N)`, or "
                  "a VAE-GAN, a variational autoencoder", spans["discriminator"],
                  "a GAN's generator is the decoder fed by `latent normal(N)`; a VAE-GAN "
                  "has an encoder and a `gaussian(N)` bottleneck")
        return
    if not any(call.op == "gaussian" for call in r.fields.get("bottleneck", [])):
        r.bag.add("E217", "a discriminator of examples in an autoencoder makes a VAE-GAN, "
                  "whose discriminator also judges decoded draws of the prior: its "
                  "bottleneck needs a stochastic latent", spans["discriminator"],
                  "make the bottleneck `gaussian(N)`; or, for an adversarial autoencoder, "
                  "whose discriminator judges the code against N(0, I), write "
                  "`discriminator on code { ... }`")
    if not r.fields.get("loss") and "loss_span" in r.fields:
        r.bag.add("E217", "a VAE-GAN also reconstructs: its loss line needs a "
                  "reconstruction term", r.fields["loss_span"],
                  "write `loss bce(reduce=sum) + adversarial(nonsaturating)`")
    train = r.fields.get("train_spans", {})
    if "pretrain" in train:
        r.bag.add("E217", "a VAE-GAN has no layer-wise pretraining", train["pretrain"],
                  "remove pretrain")
    report = r.fields.get("report")
    if "early_stop" in train and not (report and "sample_quality" in report.items):
        r.bag.add("E217", "a VAE-GAN's early stopping needs `sample_quality` in its report: "
                  "its epochs are judged by the Frechet distance of their samples, which "
                  "the adversarial term improves at some cost to the reconstructions",
                  train["early_stop"], "add `report { sample_quality }`, or remove early_stop")
