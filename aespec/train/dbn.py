"""`pretrain rbm`: a deep belief net's greedy pretraining (Hinton and Salakhutdinov, 2006).

Each dense layer k of encoder and bottleneck is, in turn, the weights W_k (out, in) and
hidden bias b_k of an RBM whose visible units are x_k, what the model feeds layer k once
layers 1..k-1 are pretrained (their mean-field codes, no noise), with a visible bias c_k of
its own. The RBM trains by CD-k: the gradient of mean F(x) - mean F(x_k), x_k after k Gibbs
steps without gradient (hidden units sampled, visible units their means, as the paper's
code does). The layer's activation says what its hidden units are: sigmoid -> binary, none
(a linear code, the paper's top layer) -> Gaussian of unit variance. Its visible units are
Gaussian when the layer below is linear (or the first stage's `visible=gaussian`), else
binary (sigmoid codes, or data in [0, 1] read as probabilities).

Then the stack is unrolled: the mirror's dense layer that inverts layer k starts from
W_k transposed and c_k (a tied mirror shares W_k already: only c_k is copied), and the
whole deep autoencoder is fine-tuned on the spec's loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn import functional

from aespec.model.settings import TrainSpec
from aespec.train.batches import Split
from aespec.train.optim import build_optimizer
from aespec.train.pretrain import layer_inputs, run_epoch
from aespec.train.progress import Reporter

if TYPE_CHECKING:
    from aespec.graph.ir import IR


@dataclass
class Stage:
    """One RBM of the stack: the model's own layer (W, b: trained in place), c its own."""

    layer: Any  # nn.Linear
    visible_bias: nn.Parameter  # (in,)
    gaussian_visible: bool
    gaussian_hidden: bool

    def hidden_input(self, v: torch.Tensor) -> torch.Tensor:
        return functional.linear(v, self.layer.weight, self.layer.bias)  # (B, out)

    def hidden_mean(self, v: torch.Tensor) -> torch.Tensor:
        a = self.hidden_input(v)
        return a if self.gaussian_hidden else torch.sigmoid(a)

    def visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        m = functional.linear(h, self.layer.weight.t(), self.visible_bias)  # (B, in)
        return m if self.gaussian_visible else torch.sigmoid(m)

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) = -log sum_h exp(-E(v, h)), (B,); Gaussian hidden units integrate to a^2/2."""
        a = self.hidden_input(v)
        hidden = 0.5 * a.square() if self.gaussian_hidden else functional.softplus(a)
        visible = (0.5 * (v - self.visible_bias).square().sum(1) if self.gaussian_visible
                   else -(v @ self.visible_bias))
        return visible - hidden.sum(1)

    def negatives(self, v: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
        """v after k rounds of h ~ p(h|v), v = E[v|h]."""
        for _ in range(k):
            m = self.hidden_mean(v)
            noise = torch.randn(m.shape, generator=gen) if self.gaussian_hidden else \
                torch.rand(m.shape, generator=gen)
            noise = noise.to(m.device, m.dtype)
            h = m + noise if self.gaussian_hidden else (noise < m).to(m.dtype)
            v = self.visible_mean(h)
        return v

    def cd_term(self, v: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
        with torch.no_grad():
            neg = self.negatives(v, k, gen)
        return self.free_energy(v).mean() - self.free_energy(neg).mean()

    def reconstruction_mse(self, v: torch.Tensor) -> float:
        """Mean squared error of the mean-field up-down pass, E[v | E[h|v]]."""
        with torch.no_grad():
            return float(functional.mse_loss(self.visible_mean(self.hidden_mean(v)), v))


def pretrain_rbm(model: Any, graph: IR, split: Split, cfg: TrainSpec, device: torch.device,
                 reporter: Reporter, stop: Any) -> list[dict[str, Any]]:
    """Pretrain each dense layer in turn as an RBM, then unroll the stack into the mirror;
    one record per layer."""
    assert cfg.pretrain is not None
    args: Any = cfg.pretrain.args  # RBMStages
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    groups = model.layer_groups()
    records, stages = [], []
    below_linear = args.visible == "gaussian"
    for k, (node, layer) in enumerate(groups):
        x = layer_inputs(model, layer, split.x)  # (N, in)
        linear = _linear_code(graph, node)
        stage = Stage(layer, nn.Parameter(torch.zeros(layer.in_features, device=device)),
                      below_linear, linear)
        with torch.no_grad():  # small weights: the chains start near the data
            layer.weight.copy_(0.01 * torch.randn(layer.weight.shape, generator=gen))
            layer.bias.zero_()
        opt = build_optimizer(cfg.optimizer, [layer.weight, layer.bias, stage.visible_bias],
                              device, lr=args.lr)
        cd = math.nan
        for epoch in range(args.epochs):
            reporter.phase(f"pretrain rbm {k + 1}/{len(groups)} ({node}), epoch "
                           f"{epoch + 1}/{args.epochs}", -(-len(x) // cfg.batch))
            cd = run_epoch(partial(stage.cd_term, k=args.k, gen=gen), opt, x, cfg.batch, gen,
                           reporter, stop)
        mse = stage.reconstruction_mse(x)
        records.append({"layer": node, "stage": "rbm", "epochs": args.epochs,
                        "visible": "gaussian" if below_linear else "bernoulli",
                        "hidden": "gaussian" if linear else "bernoulli",
                        "cd": cd, "loss": mse})
        reporter.message(f"pretrained {node} as an RBM ({layer.in_features} -> "
                         f"{layer.out_features}): CD-{args.k} {cd:.5g}, "
                         f"reconstruction mse {mse:.5g}")
        stages.append((node, stage))
        below_linear = linear
    unroll(model, graph, stages)
    return records


def _linear_code(graph: IR, node: str) -> bool:
    """Whether the dense `node` has no activation after it (a linear, Gaussian code)."""
    order = graph.order
    nxt = graph.nodes[order[order.index(node) + 1]]
    return not (nxt.block in ("encoder", "bottleneck") and nxt.kind == "activation"
                and nxt.op != "identity")


def unroll(model: Any, graph: IR, stages: list[tuple[str, Stage]]) -> None:
    """The mirror's dense layers, last first, start from the RBMs' W^T and visible biases."""
    mirror = [n for n in graph.order if graph.nodes[n].block == "decoder"
              and graph.nodes[n].op == "dense"]
    assert len(mirror) == len(stages), "checked: the mirror inverts each dense layer"
    with torch.no_grad():
        for dec_id, (_, stage) in zip(mirror, reversed(stages), strict=True):
            dec = model.net.get_submodule(dec_id)
            if dec.weight is not stage.layer.weight:  # untied: its own copy of W^T
                dec.weight.copy_(stage.layer.weight.t())
            if dec.bias is not None:
                dec.bias.copy_(stage.visible_bias)


