"""E325: what `train { pretrain rbm }` (a deep belief net's pretraining) can stack.

Each dense layer of encoder and bottleneck becomes an RBM: binary hidden units where a
`sigmoid` follows it, Gaussian ones where nothing does (a linear code); its weights and
visible bias are then unrolled into `decoder mirror`. Anything else in those blocks (a
conv, a norm, another activation, a stochastic latent, a layer without a bias) has no RBM
to be, and another decoder has no layer to take the unrolled weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aespec.errors import DiagnosticBag
from aespec.graph.checks import check
from aespec.model import Mirror, Spec

if TYPE_CHECKING:
    from aespec.graph.ir import IR

# ops of encoder and bottleneck an RBM stack can be made of
_STACKABLE = {"dense", "sigmoid", "identity", "flatten", "reshape"}


@check
def rbm_pretraining_stacks_dense_layers(spec: Spec, g: IR, bag: DiagnosticBag) -> None:
    """E325: pretrain rbm on anything but dense layers with sigmoid or linear units and a
    mirror decoder."""
    pretrain = spec.train.pretrain
    span = spec.train_spans.get("pretrain")
    if pretrain is None or pretrain.name != "rbm" or span is None:
        return
    stack = [n for n in g.order if g.nodes[n].block in ("encoder", "bottleneck")]
    for n in stack:
        d = g.nodes[n]
        if d.op not in _STACKABLE:
            hint = ("an rbm op is one RBM already, trained by its own CD term: remove "
                    "pretrain" if d.op == "rbm" else "use dense layers followed by sigmoid (or "
                    "nothing, for a linear code), or `pretrain layerwise`")
            bag.add("E325", f"pretrain rbm makes each dense layer an RBM: {d.op} (line "
                    f"{d.span.line}) is not dense, sigmoid, identity, flatten or reshape",
                    d.span, hint)
            return
        if d.op == "dense" and not d.args.bias:
            bag.add("E325", "pretrain rbm needs each dense layer's bias (the RBM's hidden "
                    "bias)", d.span, "remove bias=false")
            return
    if not any(g.nodes[n].op == "dense" for n in stack):
        bag.add("E325", "pretrain rbm has no dense layer to pretrain", span,
                "put dense layers in the encoder and bottleneck")
    elif not isinstance(spec.decoder, Mirror):
        bag.add("E325", "pretrain rbm unrolls the RBMs into the decoder: it needs "
                "`decoder mirror`", spec.block_spans.get("decoder", span),
                "write `decoder mirror` (untied, as in the paper, or tied=true)")
    else:
        args: Any = pretrain.args  # RBMStages
        _output_matches_visible_units(g, bag, spec.decoder, args.visible)


def _output_matches_visible_units(g: IR, bag: DiagnosticBag, mirror: Mirror,
                                  visible: str) -> None:
    """The mirror's last layer is the first RBM's visible layer: sigmoid for binary units,
    linear for Gaussian ones."""
    last = g.nodes[g.outputs["decoder"]]
    ends = last.op if last.kind == "activation" else "identity"
    want = "sigmoid" if visible == "bernoulli" else "identity"
    if ends != want:
        bag.add("E325", f"the first RBM's visible units are {visible}, so the unrolled "
                f"decoder ends in {want}, not {ends}", mirror.span,
                f"decoder mirror(output={want})" + (" (or loss bce)" if want == "sigmoid"
                                                     else ""))
