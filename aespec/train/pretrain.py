"""Greedy layer-wise pretraining of the dense encoder layers (Bengio et al., 2007).

Layer k is trained as a one-layer autoencoder, `x_k -> act(W_k x_k + b_k) -> out(V h + c)`,
on `x_k`, the input the model feeds layer k once layers 1..k-1 are pretrained; the decoder
`V, c` is thrown away. `out` and the stage's loss are `layerwise(output=..., loss=...)`:
linear and mse by default, sigmoid and bce in the Keras recipe of the lectures. The whole
model is then trained end to end.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn import functional

from aespec.model.settings import TrainSpec
from aespec.ops import lookup
from aespec.train.batches import Split
from aespec.train.evaluate import EVAL_BATCH
from aespec.train.loop import REPORT_SECONDS, Interrupted
from aespec.train.optim import build_optimizer
from aespec.train.progress import Reporter

if TYPE_CHECKING:
    from aespec.graph.ir import IR


class _Captured(Exception):  # noqa: N818  (control flow)
    """Raised by the hook once layer k's input is seen: the rest of the model is not run."""


def layer_inputs(model: Any, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(N, in_features): what the model feeds `layer`, in eval mode (no noise)."""
    seen: list[torch.Tensor] = []

    def hook(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        seen.append(args[0].detach().flatten(1))
        raise _Captured

    handle = layer.register_forward_pre_hook(hook)
    model.eval()
    try:
        with torch.no_grad():
            for i in range(0, len(x), EVAL_BATCH):
                try:
                    model.encode(x[i:i + EVAL_BATCH])
                except _Captured:
                    pass
    finally:
        handle.remove()
    return torch.cat(seen)


def activation_after(graph: IR, node: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The activation op that follows `node` in the encoder, as a torch callable."""
    order = graph.order
    i = order.index(node)
    nxt = graph.nodes[order[i + 1]] if i + 1 < len(order) else None
    if nxt is None or nxt.kind != "activation":
        return lambda h: h
    opdef = lookup("layer", nxt.op)
    assert opdef is not None and opdef.build is not None
    act: Callable[[torch.Tensor], torch.Tensor] = opdef.build(nxt.args, nxt.in_shape,
                                                               nxt.out_shape)
    return act


class _Shallow(nn.Module):
    """The one-layer autoencoder of a pretraining stage: the model's layer (its own
    parameters, trained in place), its activation, a throwaway decoder (linear: the
    stage's loss reads its output activation itself, `stage_loss`)."""

    def __init__(self, layer: Any, act: Callable[[torch.Tensor], torch.Tensor],
                 decoder: nn.Linear):
        super().__init__()
        self.layer, self.act, self.decoder = layer, act, decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # functional: the layer may flatten its input (FlatLinear), which x already is
        out: torch.Tensor = self.decoder(self.act(functional.linear(x, self.layer.weight,
                                                                     self.layer.bias)))
        return out


def output_activation(name: str | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """The stage decoder's output activation, `layerwise(output=NAME)`: an activation op
    of the registry (resolve checked the name); None: linear."""
    if name is None:
        return lambda h: h
    opdef = lookup("layer", name)
    assert opdef is not None and opdef.build is not None
    act: Callable[[torch.Tensor], torch.Tensor] = opdef.build(opdef.args(), None, None)
    return act


def stage_loss(args: Any) -> Callable[[Callable[[torch.Tensor], torch.Tensor], torch.Tensor],
                                      torch.Tensor]:
    """A stage's loss of (its shallow model, a batch): `layerwise(loss=..., output=...)`,
    mse by default; bce after a sigmoid output is computed from the logits (stable)."""
    if args.loss == "bce" and args.output == "sigmoid":
        return _recon_bce_logits
    act = output_activation(args.output)
    measure = functional.binary_cross_entropy if args.loss == "bce" else functional.mse_loss
    return lambda forward, xb: measure(act(forward(xb)), xb)


def pretrain_layerwise(model: Any, graph: IR, split: Split, cfg: TrainSpec,
                       device: torch.device, reporter: Reporter, stop: Any
                       ) -> list[dict[str, Any]]:
    """Pretrain each dense encoder layer in turn; one record per layer."""
    assert cfg.pretrain is not None
    args: Any = cfg.pretrain.args  # Layerwise
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    groups = model.layer_groups()
    measure = stage_loss(args)
    records = []
    for k, (node, layer) in enumerate(groups):
        x = layer_inputs(model, layer, split.x)
        act = activation_after(graph, node)
        decoder = nn.Linear(layer.out_features, layer.in_features).to(device)
        opt = build_optimizer(cfg.optimizer, [*layer.parameters(), *decoder.parameters()],
                              device, lr=args.lr)
        layer.train()
        losses = []
        for epoch in range(args.epochs):
            reporter.phase(f"pretrain layer {k + 1}/{len(groups)} ({node}), epoch "
                           f"{epoch + 1}/{args.epochs}", -(-len(x) // cfg.batch))
            losses.append(run_epoch(partial(measure, _Shallow(layer, act, decoder)), opt, x,
                                    cfg.batch, gen, reporter, stop))
        loss = losses[-1] if losses else math.nan
        records.append({"layer": node, "epochs": args.epochs, "loss": loss,
                        "loss_name": args.loss, "output": args.output or "linear",
                        "epoch_losses": losses})
        reporter.message(f"pretrained {node} ({layer.in_features} -> {layer.out_features}): "
                         f"reconstruction {args.loss} {loss:.5g}")
    return records


def _recon_bce_logits(forward: Callable[[torch.Tensor], torch.Tensor], xb: torch.Tensor
                      ) -> torch.Tensor:
    return functional.binary_cross_entropy_with_logits(forward(xb), xb)


def run_epoch(loss_of: Callable[[torch.Tensor], torch.Tensor], opt: torch.optim.Optimizer,
              x: torch.Tensor, batch: int, gen: torch.Generator, reporter: Reporter,
              stop: Any) -> float:
    """One epoch of a pretraining stage over x in the order `gen` draws: `loss_of(batch)`
    minimised by `opt`; the mean loss over the epoch."""
    perm = torch.randperm(len(x), generator=gen).to(x.device)
    total = torch.zeros((), device=x.device)
    start = last = time.perf_counter()
    for s, i in enumerate(range(0, len(x), batch)):
        xb = x.index_select(0, perm[i:i + batch])
        loss = loss_of(xb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.detach() * len(xb)
        if stop.requested:
            raise Interrupted
        if (now := time.perf_counter()) - last >= REPORT_SECONDS:
            last, seen = now, i + len(xb)
            reporter.step(s + 1, total.item() / seen, seen / max(now - start, 1e-9))
    return total.item() / len(x)
