"""Which layer `filters` draws, and its weights laid out for the figure.

`filters(layer=NAME)` names a tensor from `NAME = ...`: the layer drawn is the last one
with a weight matrix or kernel on that labelled line (`e1 = conv(4) relu`: the conv); with
no `layer` it is the first such layer of the model.  A layer that reads the model's input
(no layer with parameters before it) has its weights drawn over the input's shape; any
other has one row per unit over its own input.  torch is not imported here: the weights
come from the model's own parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from aespec.errors import AespecError, DiagnosticBag
from aespec.graph import IR, build_ir
from aespec.graph.checks import weighted_nodes


@dataclass(frozen=True)
class LayerWeights:
    """One layer's weights as the figure draws them."""

    node: str  # IR id, e.g. encoder1
    op: str  # its op, e.g. dense
    tensor: str | None  # the label of its line, when the spec named it
    weight: np.ndarray  # (units, in) of a dense layer, (units, in_channels, *k) of a conv
    in_shape: tuple[int, ...]  # the layer's own input (batch excluded)
    reads_input: bool  # no layer with parameters before it: the input's coordinates

    @property
    def unit_word(self) -> str:
        return "units" if self.weight.ndim == 2 else "kernels"

    def title(self, n: int, rows: bool) -> str:
        """`Weights of encoder1 (conv, tensor e1): 8 of 8 kernels, over the input`."""
        name = f"{self.node} ({self.op}{f', tensor {self.tensor}' if self.tensor else ''})"
        shape = self.in_shape
        own = f"{shape[0]} values" if len(shape) == 1 else f"shape {shape}"
        over = (f"one row per {self.unit_word[:-1]} over its own input ({own}), not the "
                "model's" if rows else "over the input")
        return f"Weights of {name}: {n} of {len(self.weight)} {self.unit_word}, {over}"

    def values_label(self, w: np.ndarray) -> str:
        """The x axis of the rows: what a row's values are, and how many."""
        what = "input channel x kernel position" if self.weight.ndim > 2 else "input value"
        return f"{what} ({math.prod(w.shape[1:])})"


def layer_weights(spec: Any, model: Any, layer: str | None) -> LayerWeights:
    """The weights `filters(layer=...)` draws; E308 when there is no such layer."""
    g = build_ir(spec, DiagnosticBag())
    forward = [n for n in g.order if g.nodes[n].block not in ("input", "noise")]
    if layer is None:
        candidates = forward
    elif layer in g.labels:
        candidates = weighted_nodes(g, g.labels[layer])[::-1]  # the last one first
    else:
        raise AespecError.of("E308", f"filters(layer={layer}): no tensor is named '{layer}'")
    for nid in candidates:
        weight = _weight_of(model, nid)
        if weight is not None:
            d = g.nodes[nid]
            upstream = forward[:forward.index(nid)]
            first = not any(g.nodes[n].params for n in upstream)
            return LayerWeights(nid, d.op, layer or _line_label(g, nid), weight,
                                d.input_shape(),
                                first and _fits_input(weight, tuple(model.info.input_shape)))
    where = f"the line of '{layer}'" if layer else "the model"
    raise AespecError.of("E308", f"filters need a layer with weights; {where} has none")


def _line_label(g: IR, nid: str) -> str | None:
    """The name the spec gave the node's line (`e1 = conv(4) relu` labels the relu)."""
    d = g.nodes[nid]
    return next((g.nodes[n].label for n in g.order
                 if g.nodes[n].label and g.nodes[n].block == d.block
                 and g.nodes[n].span.line == d.span.line), None)


def _weight_of(model: Any, nid: str) -> np.ndarray | None:
    """The first parameter of two or more dimensions of the node's module (a norm layer's
    scales are not filters; a gaussian latent gives its mean head's matrix)."""
    try:
        module = model.net.get_submodule(nid)
    except AttributeError:  # an op without a module of its own
        return None
    for _, p in module.named_parameters():
        if p.ndim >= 2:
            return p.detach().double().cpu().numpy()
    return None


def _fits_input(weight: np.ndarray, input_shape: tuple[int, ...]) -> bool:
    """A dense row holds one weight per input value; a kernel one plane per input channel."""
    if weight.ndim == 2:
        return weight.shape[1] == math.prod(input_shape)
    return len(input_shape) > 1 and weight.shape[1] == input_shape[0]


def arranged(lw: LayerWeights, n: int, input_shape: tuple[int, ...]) -> tuple[np.ndarray, bool]:
    """The first n units' weights and whether they are rows: over the input, a dense row
    reshaped to `input_shape` (n, *input_shape) or the kernels (n, in_channels, *k); over
    the layer's own input, an (n, values) matrix, one row per unit."""
    w = lw.weight[:n]
    if not lw.reads_input:
        return w.reshape(len(w), -1), True
    return (w.reshape(len(w), *input_shape) if w.ndim == 2 else w), False
