"""Graph IR -> AEModel: build every op, generate the networks, assemble the objective."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from torch import fx, nn

from aespec.compile.lower import Segment, build_ops, module_root, registered, term_inputs
from aespec.compile.model import AEModel, ModelInfo
from aespec.compile.objective import Slots, build_objective, generative_ops
from aespec.errors import AespecError, Diagnostic
from aespec.graph.likelihood import likelihood_of

if TYPE_CHECKING:
    from aespec.graph.ir import IR


def compile_model(graph: IR, spec: Any = None, reuse: dict[str, Any] | None = None) -> Any:
    """The torch module of a checked spec's graph IR (see docs/compile.md): an `AEModel`,
    or a GAN's `GANModel` (compile/gan.py).

    Its parameter count equals `graph.params` and every intermediate tensor has
    the node's inferred `out_shape`.  The graph holds everything the compiler reads; `spec`
    (optional) gives the source lines that the generated code's comments quote; `reuse`
    (node id -> module) makes an autoencoder whose layers are another model's (a phase's).
    """
    _require_complete(graph, spec)
    if "z" in graph.nodes:
        from aespec.compile.gan import compile_gan

        return compile_gan(graph, line_origin(graph, spec), init_scheme(spec))
    return _compile_autoencoder(graph, spec, reuse)


def init_scheme(spec: Any) -> str:
    """`train { init_weights }` of the spec; glorot, the default, without a spec."""
    return spec.train.init_weights if spec is not None else "glorot"


def _compile_autoencoder(graph: IR, spec: Any, reuse: dict[str, Any] | None = None
                         ) -> AEModel:
    order = graph.order
    built = build_ops(graph, reuse, init_scheme(spec))
    root, origin = module_root(built), line_origin(graph, spec)
    noise_nodes = [n for n in order if graph.nodes[n].block == "noise"]
    enc_in = noise_nodes[-1] if noise_nodes else "input"
    noise, noise_names = None, {}
    if noise_nodes:
        seg = Segment(graph, built, "input", "x", origin).through(enc_in)
        noise, noise_names = seg.finish([seg.env[enc_in]], root, "Noise"), _names(graph, seg)
    seg = Segment(graph, built, enc_in, "x", origin).provide("y") \
        .through(graph.outputs["decoder"])
    outputs, slots = _net_outputs(graph, seg)
    net = seg.finish(outputs, root, "AutoencoderNet")
    views, unavailable = _views(graph, built, net, enc_in)
    info = ModelInfo(
        name=graph.name or "model", input_shape=graph.input,
        z_shape=graph.shape_of("bottleneck"), latent_shape=_latent_shape(graph),
        layer_ids=tuple(_dense_encoder_layers(graph, built)), noise_names=noise_names,
        net_names=_names(graph, seg), unavailable=unavailable,
        classes=graph.nodes["y"].output_shape()[0] if "y" in graph.nodes else None,
        likelihood=likelihood_of(graph),
        sampler=next(iter(generative_ops(graph)), None))
    model = AEModel(net, noise, build_objective(graph, built, slots), slots, views, info)
    if "head" in graph.outputs:  # `head on NAME { ... }`: reads one of net's outputs
        head, names = _head(graph, built, root, origin)
        model.add_head(head, graph.nodes["xent"].weight if "xent" in graph.nodes else None,
                       names)
    if graph.is_vae_gan:  # D reads examples: compile/vaegan.py
        from aespec.compile.vaegan import compile_vae_gan

        return compile_vae_gan(model, graph, built, root, origin)
    if "discriminator" in graph.outputs:  # an adversarial autoencoder's: D reads the code
        dis = Segment(graph, built, graph.outputs["decoder"], "z", origin) \
            .through(graph.outputs["discriminator"])
        start = graph.outputs["decoder"]  # the placeholder after it stands for the code
        names = {k: tuple(i for i in ids if i != start) for k, ids in _names(graph, dis).items()}
        model.add_code_discriminator(
            dis.finish([dis.env[graph.outputs["discriminator"]]], root, "Discriminator"),
            graph.nodes["adversarial"].args, graph.nodes["adversarial"].weight,
            {k: ids for k, ids in names.items() if ids})
    return model


def _require_complete(graph: IR, spec: Any) -> None:
    """A graph whose shapes stopped short cannot be compiled: E312, then the reasons that
    the graph stage kept (`stopped_by`), as `aespec check` gives them."""
    outputs = graph.outputs
    blocks = ("decoder", "discriminator") if "z" in graph.nodes else \
        ("encoder", "bottleneck", "decoder")
    if all(block in outputs for block in blocks):
        return
    first = Diagnostic("E312", "cannot compile a spec whose shapes could not all be inferred",
                       hint="run `aespec check` and fix its errors first",
                       file=getattr(spec, "path", None))
    raise AespecError([first, *graph.stopped_by])


def line_origin(graph: IR, spec: Any) -> Callable[[str], str] | None:
    """IR id -> its spec line as a traceback entry, which fx prints as a comment."""
    lines = getattr(spec, "source", "").splitlines()
    if not lines:
        return None
    path = getattr(spec, "path", None) or "<spec>"

    def origin(nid: str) -> str:
        d = graph.nodes[nid]
        line = d.span.line
        text = lines[line - 1].strip() if 0 < line <= len(lines) else d.op
        return f'  File "{path}", line {line}, in {d.block}\n    {text}\n'

    return origin


def _names(graph: IR, seg: Segment) -> dict[str, tuple[str, ...]]:
    """fx value name -> the IR ids computed by it (identity ops share their input's)."""
    names: dict[str, tuple[str, ...]] = {}
    for key, node in seg.env.items():
        if key in graph.nodes:
            names[node.name] = names.get(node.name, ()) + (key,)
    return names


def _net_outputs(graph: IR, seg: Segment) -> tuple[list[fx.Node], Slots]:
    """The values the objective and AEOutput read, and where each sits in the tuple."""
    outs = graph.outputs
    values = [seg.env[outs["decoder"]], seg.env[outs["bottleneck"]]]
    logits = _logits(graph, seg)
    if logits is not None:
        values.append(logits)
    latents, draws = [], None
    for nid in graph.of_kind("latent"):
        latents.append((nid, len(values), len(values) + 1))
        values += [seg.env[f"{nid}_mu"], seg.env[f"{nid}_logvar"]]
        if graph.nodes[nid].args.iw > 1:  # the bound weighs each draw z
            draws = len(values)
            values.append(seg.env[nid])
    aux = []
    for nid in graph.order:
        name = _aux_loss(graph, nid)
        if name is not None:
            aux.append((name, len(values)))
            values.append(seg.env[f"{nid}_loss"])
    nodes: dict[str, int] = {}
    for target in _activity_targets(graph) + [inp for _, inp in term_inputs(graph)]:
        if target not in nodes:
            nodes[target] = len(values)
            values.append(seg.env[target])
    head_in = None
    if "head" in outs:  # the code (slot 1) or another tensor the head reads
        source = graph.predecessors(head_first(graph))[0]
        head_in = 1 if source == outs["bottleneck"] else len(values)
        if head_in != 1:
            values.append(seg.env[source])
    return values, Slots(0, 1, 2 if logits is not None else None, tuple(latents), nodes, draws,
                         tuple(aux), head_in)


def head_first(graph: IR) -> str:
    """The head's first node (`head on NAME { ... }`); its one predecessor is what it reads."""
    return next(n for n in graph.order if graph.nodes[n].block == "head")


def _head(graph: IR, built: dict[str, Any], root: nn.Module,
          origin: Callable[[str], str] | None
          ) -> tuple[fx.GraphModule, dict[str, tuple[str, ...]]]:
    """The head's layers as a network of their own, from the tensor it reads (`h`) to its
    logits (they come after every other node in `order`), and its fx names -> IR ids."""
    first = head_first(graph)
    start = graph.order[graph.order.index(first) - 1]  # the placeholder stands for its input
    seg = Segment(graph, built, start, "h", origin).through(graph.outputs["head"])
    names = {k: tuple(i for i in ids if i != start) for k, ids in _names(graph, seg).items()}
    return (seg.finish([seg.env[graph.outputs["head"]]], root, "Head"),
            {k: ids for k, ids in names.items() if ids})


def _aux_loss(graph: IR, nid: str) -> str | None:
    """The name of the loss term node `nid`'s op computes itself (vq), or None."""
    d = graph.nodes[nid]
    if d.place != "layer" or d.kind == "input":
        return None
    return registered("layer", d.op)[0].aux_loss


def _no_prior(graph: IR) -> Diagnostic | None:
    """Why `sample` cannot draw codes of a model whose bottleneck op has no prior (vq)."""
    for nid in graph.order:
        d = graph.nodes[nid]
        if d.place == "layer" and d.kind != "input":
            reason = registered("layer", d.op)[0].no_prior
            if reason:
                return Diagnostic("E308", f"sample needs a prior: {reason}",
                                  hint="use reconstructions, encode and decode; or make the "
                                  "bottleneck gaussian(dim) to sample")
    return None


def _activity_targets(graph: IR) -> list[str]:
    """The nodes whose output a regularizer reads (not the weight penalties)."""
    regs = [d for d in graph.nodes.values() if d.kind == "regularizer"]
    return [d.targets[0] for d in regs
            if registered("regularizer", d.op)[0].acts_on != "weights"]


def _logits(graph: IR, seg: Segment) -> fx.Node | None:
    """The pre-sigmoid tensor when the decoder ends in `sigmoid` and a loss term (bce) has
    a logits form: the loss then reads it, and is numerically stable."""
    terms = [d for d in graph.nodes.values() if d.kind == "loss"]
    if not any(registered("loss", d.op)[0].needs_unit_output for d in terms):
        return None
    order = graph.order
    i = order.index(graph.outputs["decoder"])
    while seg.env.get(order[i - 1]) is seg.env[order[i]]:  # skip identity ops
        i -= 1
    if not registered("layer", graph.nodes[order[i]].op)[0].logits:
        return None
    return seg.env[order[i - 1]]


def _latent_shape(graph: IR) -> tuple[int, ...] | None:
    """Where `sample` draws from N(0, I): the stochastic latent, or a code matched to it."""
    return graph.nodes[graph.prior].out_shape if graph.prior else None


def _dense_encoder_layers(graph: IR, built: dict[str, Any]) -> list[str]:
    return [n for n in graph.order if graph.nodes[n].block in
            ("encoder", "bottleneck") and isinstance(built[n], nn.Linear)]


def _views(graph: IR, built: dict[str, Any], net: fx.GraphModule, enc_in: str
           ) -> tuple[dict[str, fx.GraphModule], dict[str, Diagnostic]]:
    """encode (clean x -> z), decode (z -> x_hat), sample (a draw of the prior -> x_hat), over
    `net`'s own layers; a view the model cannot offer maps to the reason instead."""
    outs = graph.outputs
    spans = {"encode": ("Encoder", enc_in, "x", outs["bottleneck"]),
             "decode": ("Decoder", outs["bottleneck"], "z", outs["decoder"])}
    if graph.prior:
        spans["sample"] = ("Sampler", graph.prior, "z", outs["decoder"])
    views, unavailable = {}, {}
    for name, (class_name, start, placeholder, stop) in spans.items():
        try:
            seg = Segment(graph, built, start, placeholder).provide("y").through(stop)
        except AespecError as err:
            unavailable[name] = err.diagnostics[0]
            continue
        views[name] = seg.finish([seg.env[stop]], net, class_name)
    latents = graph.of_kind("latent")
    if latents:  # z -> the decoder's output and the logits a bce term reads (NLL)
        try:
            seg = Segment(graph, built, latents[0], "z").provide("y").through(outs["decoder"])
            logits = _logits(graph, seg)
            outputs = [seg.env[outs["decoder"]], *([logits] if logits is not None else [])]
            views["likelihood"] = seg.finish(outputs, net, "Likelihood")
        except AespecError as err:
            unavailable["likelihood"] = err.diagnostics[0]
    if not graph.prior and not generative_ops(graph):
        unavailable["sample"] = _no_prior(graph) or Diagnostic(
            "E308", "sample needs a stochastic latent or an rbm: draws from the prior need "
            "`gaussian(dim)` or `rbm(hidden)` in the bottleneck, or a code matched to "
            "N(0, I) by `regularize mmd(weight)`", hint="use encode and decode, make the "
            "bottleneck gaussian(dim), or add `regularize mmd(10)`")
    return views, unavailable
