"""What a checked spec is made of, as plain JSON: `aespec check --json`'s schema 2 `spec`
object (docs/check-json-2.schema.json). A grader asks it "did they build a VAE, use
noise, a regularizer?" without the Python API.

Every value is JSON: shapes are lists, op arguments their validated values (defaults
filled in), lines 1-based as in the diagnostics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aespec.graph.summary import objective_text
from aespec.model import Mirror, Spec
from aespec.ops import get_op, op_text

if TYPE_CHECKING:
    from aespec.graph.ir import IR
    from aespec.model.spec import OpCall

# what `techniques` may list, in this order
TECHNIQUES = ("noise", "latent", "regularizer", "sparsity", "discriminator", "condition",
              "mirror", "tied", "skip", "conv", "pretrain", "early_stop", "normalization",
              "dropout")


def spec_json(spec: Spec, g: IR) -> dict[str, Any]:
    """The spec's parts: ops with their lines and shapes, objective, noise, latent,
    regularizers, train and report settings, data, and the techniques it uses."""
    return {
        "kind": _kind(spec, g),
        "data": ({"source": spec.data.source, "args": _plain(spec.data.args)}
                 if spec.data is not None else None),
        "ops": [_op(g, n) for n in g.order if g.nodes[n].place == "layer"],
        "noise": [_call(c) for c in spec.noise],
        "latent": _latent(spec, g),
        "loss": [{**_call(t.call), "weight": t.weight} for t in spec.loss],
        "regularizers": [{**_call(r.call), "target": r.target} for r in spec.regularizers],
        "objective": objective_text(g),
        "train": spec.train.model_dump(mode="json", serialize_as_any=True),
        "report": sorted(spec.report.items) + ([f"baseline {spec.report.baseline}"]
                                               if spec.report.baseline else []),
        "techniques": techniques(spec, g),
    }


def techniques(spec: Spec, g: IR) -> list[str]:
    """The names of TECHNIQUES the spec uses."""
    layers = [g.nodes[n] for n in g.order if g.nodes[n].place == "layer"]
    ops = {d.op for d in layers}
    sparsity = {"kl_sparsity", "activity_l1"} & {r.call.op for r in spec.regularizers} or \
        any(get_op("layer", d.op).regularizes for d in layers)
    used = {
        "noise": bool(spec.noise),
        "latent": g.latent is not None or spec.latent is not None,
        "regularizer": bool(spec.regularizers),
        "sparsity": bool(sparsity),
        "discriminator": bool(spec.discriminator),
        "condition": spec.condition is not None,
        "mirror": isinstance(spec.decoder, Mirror),
        "tied": isinstance(spec.decoder, Mirror) and spec.decoder.tied,
        "skip": any(d.join for d in layers),
        "conv": bool({"conv", "deconv"} & ops),
        "pretrain": spec.train.pretrain is not None,
        "early_stop": spec.train.early_stop is not None,
        "normalization": bool({"batchnorm", "layernorm"} & ops),
        "dropout": "dropout" in ops,
    }
    return [t for t in TECHNIQUES if used[t]]


def _kind(spec: Spec, g: IR) -> str:
    if spec.is_adversarial:
        return "gan"
    if spec.is_aae:
        return "adversarial_autoencoder"
    if spec.is_vae_gan:
        return "vae_gan"
    if g.latent is not None and g.nodes[g.latent].op == "gaussian":
        return "vae"
    return "autoencoder"


def _op(g: IR, n: str) -> dict[str, Any]:
    d = g.nodes[n]
    return {"network": d.network, "block": d.block, "line": d.span.line,
            "column": d.span.column, "op": d.op, "text": op_text(get_op("layer", d.op), d.args),
            "args": _args(d.args), "label": d.label, "mirror": d.mirror,
            "output": list(d.out_shape) if d.out_shape is not None else None,
            "params": d.params}


def _latent(spec: Spec, g: IR) -> dict[str, Any] | None:
    if spec.latent is not None:  # a GAN's noise
        return {"op": spec.latent.prior, "args": {"dim": spec.latent.dim},
                "line": spec.latent.span.line}
    if g.latent is None:
        return None
    d = g.nodes[g.latent]
    return {"op": d.op, "args": _args(d.args), "line": d.span.line}


def _call(c: OpCall) -> dict[str, Any]:
    return {"op": c.op, "args": _args(c.args), "line": c.span.line}


def _args(args: Any) -> dict[str, Any]:
    return _plain(args.model_dump(mode="json", serialize_as_any=True)) if args is not None else {}


def _plain(value: Any) -> Any:
    """JSON values: tuples as lists, anything else as its text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
