"""`train { init_weights ... }`: the first weights of the layers a spec writes.

`glorot` (the default) gives each dense, conv and deconv layer (every nn.Linear, Conv1d/2d
and ConvTranspose1d/2d, the latent's mu/log-variance head and a `head on` classifier's
included) Glorot/Xavier uniform weights, U(-a, a) with a = sqrt(6 / (fan_in + fan_out)),
and zero biases: Keras's Dense and Conv defaults. After the same 3 epochs it reached a
lower test loss than torch's own init on the dense AE, the FC-VAE and the conv denoiser
(docs/results.md, "Default initialization"). `torch` keeps torch's init: kaiming uniform
with a=sqrt(5) and biases uniform in +-1/sqrt(fan_in).

Layers with weights of their own keep them: an RBM's, a som's prototypes, a vq codebook,
batchnorm's scale and shift, a loss's learned parameters, and a tied layer's (it reads
its encoder layer's weight, which is set here, and starts its bias at zero).
"""

from __future__ import annotations

from torch import Tensor, nn

# the layers `glorot` sets: torch's classes for dense, conv and deconv (their subclasses,
# FlatLinear and the padded convs, too)
LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)


def init_weights(module: nn.Module, scheme: str) -> None:
    """Set the first weights of every layer inside `module` by `scheme` (glorot, torch).

    Draws from torch's global generator, seeded before compiling, so a seed gives one
    model; `torch` draws nothing more."""
    if scheme == "torch":
        return
    for layer in module.modules():
        if isinstance(layer, LAYERS):
            glorot(layer.weight, layer.bias)


def glorot(weight: Tensor, bias: Tensor | None) -> None:
    """Glorot uniform weight and zero bias (Keras's `glorot_uniform` and `zeros`)."""
    nn.init.xavier_uniform_(weight)
    if bias is not None:
        nn.init.zeros_(bias)
