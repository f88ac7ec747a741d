"""What one training step of a spec holds in memory, from the graph alone (no tensor).

float32 weights, their gradients, the optimizer's state (Adam keeps two moments per
weight), and the activations of one batch that backward keeps (every forward node's
output). A lower estimate: the framework's own buffers come on top. `aespec check` prints
it and warns (W410) when it is large; `aespec run` refuses, before it allocates anything,
a model that the device cannot hold (E608).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aespec.data.base import fmt_bytes
from aespec.model import Spec
from aespec.ops.optimizers import OPTIMIZERS

if TYPE_CHECKING:
    from aespec.graph.ir import IR

__all__ = ["Memory", "describe", "estimate", "fmt_bytes", "largest_text"]

BYTES = 4  # float32
LARGE = 8 << 30  # W410 above this many bytes for one step


@dataclass(frozen=True)
class Memory:
    """Bytes of one training step, by part, and the node that holds the most."""

    weights: int
    gradients: int
    optimizer: int
    activations: int
    batch: int  # the batch that runs: the spec's, or all the training examples if fewer
    largest: str | None  # node id of the largest part (weights or one batch of output)
    asked: int | None = None  # the spec's batch, where the data capped it to `batch`

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations

    def to_json(self) -> dict[str, int]:
        return {"weights": self.weights, "gradients": self.gradients,
                "optimizer": self.optimizer, "activations": self.activations,
                "batch": self.batch, "total": self.total}


def estimate(spec: Spec, g: IR, examples: int | None = None) -> Memory:
    """The memory of one training step of `spec` at its batch size, or at `examples` (the
    training split's size, where known) when that is smaller: a batch never holds more
    examples than the data has, so `batch 1000000000` on 1,797 digits is one small batch."""
    opt = spec.train.optimizer
    states = OPTIMIZERS[opt.name].state(opt.args)  # tensors per weight: Adam's two moments
    batch = spec.train.batch if examples is None else max(1, min(spec.train.batch, examples))
    values = {n: math.prod(g.nodes[n].output_shape()) for n in g.order}
    weights = BYTES * g.params
    held = {n: BYTES * max(g.nodes[n].params, batch * v) for n, v in values.items()}
    activations = BYTES * batch * sum(values.values())
    state = states * weights
    if spec.is_aae:  # the encoder's adversarial step keeps moments of its own (AAETrainer)
        state += states * BYTES * g.networks.get("autoencoder", 0)
    return Memory(weights, weights, state, activations, batch,
                  max(held, key=held.__getitem__) if held else None,
                  spec.train.batch if batch < spec.train.batch else None)


def describe(m: Memory) -> str:
    """`12.3 GiB: weights 3.0 GiB, gradients ..., activations of a batch of 128 ...`."""
    capped = (f" (all {m.batch:,} training examples; `batch` is {m.asked:,})"
              if m.asked is not None else "")
    return (f"{fmt_bytes(m.total)}: weights {fmt_bytes(m.weights)}, gradients "
            f"{fmt_bytes(m.gradients)}, optimizer state {fmt_bytes(m.optimizer)}, "
            f"activations of a batch of {m.batch}{capped} {fmt_bytes(m.activations)}")


def largest_text(m: Memory, g: IR) -> str:
    """`dense(1000000000) at line 3` for the node that holds the most."""
    if m.largest is None:
        return "the model"
    d = g.nodes[m.largest]
    return (f"{d.op} at line {d.span.line} (output {d.output_shape()}, {d.params:,} "
            "parameters)")
