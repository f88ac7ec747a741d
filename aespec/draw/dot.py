"""Graph IR -> DOT text -> rendered file: the architecture as a picture, no forward pass.

`to_dot` turns a checked graph into deterministic DOT text; `render` runs graphviz's
`dot` on it.  The layout is a U: the encoder runs down (right, with `rankdir=LR`), the
bottleneck sits at the turn, and the decoder comes back up beside the encoder, so each
decoder op lands level with the encoder op it inverts and skip connections run across.
Loss terms sit beside the input and the output they compare; penalties hang off what they
act on.  Which ops share a box and what each box says: `aespec.draw.labels`.  Colours
and shapes come only from `aespec.ops.styles`.  Never imports torch.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from aespec.draw.aae import add_code_game, code_edge
from aespec.draw.condition import add_condition
from aespec.draw.gan import add_gan
from aespec.draw.labels import (
    Box,
    Html,
    args_text,
    block_label,
    caption,
    cluster_title,
    fmt_shape,
    group_ops,
    input_label,
    kl_label,
    latent_label,
    loss_label,
    op_box_label,
    opdef_of,
    reg_label,
    style_key,
)
from aespec.draw.vaegan import add_vae_gan_game, fake_flow
from aespec.model import Mirror, Spec
from aespec.ops.styles import BLOCKS, EDGES, FONT, STYLES, style_for

if TYPE_CHECKING:
    from aespec.graph.ir import IR

__all__ = ["INSTALL_HINT", "PNG_DPI", "Box", "GraphvizMissingError", "RenderError",
           "args_text", "fmt_shape", "group_ops", "render", "to_dot", "to_svg",
           "write_drawing"]

CLUSTERED = ("noise", "encoder", "bottleneck", "decoder", "discriminator", "head")
PNG_DPI = 150  # sharp when a slide scales the picture up
INSTALL_HINT = ("install graphviz (Debian/Ubuntu: sudo apt-get install graphviz; macOS: "
                "brew install graphviz; conda: conda install graphviz)")


class GraphvizMissingError(Exception):
    """graphviz's `dot` is not on PATH; `dot_path`: where the DOT text went instead."""

    def __init__(self, dot_path: Path | None):
        wrote = f"; wrote {dot_path}" if dot_path else ""
        super().__init__(f"graphviz's `dot` was not found{wrote}: {INSTALL_HINT}")
        self.dot_path = dot_path


class RenderError(Exception):
    """`dot` ran and failed: a bug in the DOT text we wrote."""


# ---------------------------------------------------------------- DOT text


def _quote(value) -> str:
    if isinstance(value, Html):
        return f"<{value}>"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _attrs(attrs: dict) -> str:
    return ", ".join(f"{k}={_quote(v)}" for k, v in attrs.items())


class _Dot:
    """Collects DOT statements in the order they are added: the output is deterministic."""

    def __init__(self, rankdir: str) -> None:
        self.rankdir = rankdir
        self.nodes: dict[str, list[str]] = {}  # cluster ("" for none) -> node statements
        self.edges: list[str] = []

    def node(self, nid: str, cluster: str, attrs: dict) -> None:
        self.nodes.setdefault(cluster, []).append(f"{_quote(nid)} [{_attrs(attrs)}];")

    def edge(self, u: str, v: str, attrs: dict, reverse: bool = False,
             across: bool = False) -> None:
        """`across`: the edge may join two boxes of one rank (a skip, the loss target)."""
        if "label" in attrs:  # a space keeps the text off the line it labels
            attrs = {**attrs, "label": " " + attrs["label"]}
        if across and self.rankdir == "LR" and "label" in attrs:
            # dot draws such an edge's label across the line left to right; an xlabel
            # is placed after the layout, and the trailing spaces keep it off the line
            attrs["xlabel"] = attrs.pop("label") + "   "
        if reverse:  # drawn u -> v, laid out v -> u: the decoder climbs back up the U
            u, v, attrs = v, u, {**attrs, "dir": "back"}
        self.edges.append(f"{_quote(u)} -> {_quote(v)} [{_attrs(attrs)}];")


def to_dot(graph: IR, spec: Spec, rankdir: str = "TB", detail: str = "ops") -> str:
    """The DOT text of a checked graph: clusters per block, shapes on every edge."""
    if rankdir not in ("TB", "LR") or detail not in ("ops", "blocks"):
        raise ValueError(f"rankdir must be TB or LR and detail ops or blocks, got "
                         f"{rankdir!r}, {detail!r}")
    g = graph
    boxes = group_ops(g, detail)
    owner = {n: b.id for b in boxes for n in b.members}
    dot = _Dot(rankdir)
    if spec.is_adversarial:  # two networks, each top to bottom: aespec.draw.gan
        add_gan(dot, g, spec, boxes, detail)
        return _write(dot, g, spec, rankdir)
    _add_boxes(dot, g, spec, boxes, detail)
    _add_flow(dot, g, boxes, owner)
    _add_objective(dot, g, owner, detail)
    if spec.is_aae:  # its discriminator's other input, the prior, and its game
        add_code_game(dot, g, owner)
    if g.is_vae_gan:  # aespec.draw.vaegan
        add_vae_gan_game(dot, g, owner)
    return _write(dot, g, spec, rankdir)


def _add_boxes(dot: _Dot, g: IR, spec: Spec, boxes: list[Box], detail: str) -> None:
    latent = g.latent
    for box in boxes:
        if box.block == "input":
            dot.node(box.id, "", {"label": input_label(g, spec), **STYLES["input"]})
        elif detail == "blocks":
            style = {"shape": "box", **BLOCKS[box.block]}
            if latent in box.members:
                style = {**style, **{k: STYLES["latent"][k] for k in ("fillcolor", "color")}}
            dot.node(box.id, "", {"label": block_label(g, box, spec), **style})
        elif box.id == latent:
            dot.node(box.id, box.block, {"label": latent_label(g, box.id), **STYLES["latent"]})
        else:
            dot.node(box.id, box.block, {"label": op_box_label(g, box),
                                         **style_for(style_key(g.nodes[box.id]))})


def _flow_label(g: IR, u: str, shape) -> str:
    """The edge's shape, named where the tensor has a name in the objective: x, x̃, z."""
    block = g.nodes[u].block
    outs = g.outputs
    name = {"input": "x", "noise": "x̃", "bottleneck": "z"}.get(block)
    if name and (block == "input" or outs.get(block) == u):
        return f"{name}  {fmt_shape(shape)}"
    return fmt_shape(shape)


def _add_flow(dot: _Dot, g: IR, boxes: list[Box], owner: dict[str, str]) -> None:
    blocks = {b.id: b.block for b in boxes}
    add_condition(dot, g, owner)
    for v in g.order:
        for u in g.predecessors(v):
            if u == "y":  # the condition's edges: add_condition
                continue
            bu, bv = owner[u], owner[v]
            if bu == bv:
                continue
            e = g.edges[u, v]
            if e.fake and g.is_vae_gan:  # the decoder's fakes, judged beside x
                dot.edge(bu, bv, fake_flow(e.shape))
                continue
            attrs = {"label": _flow_label(g, u, e.shape)}
            if e.fake:  # an adversarial autoencoder's code, into its discriminator
                dot.edge(bu, bv, code_edge(e.shape))
            elif e.skip:
                # level with its source where the chains allow: the U-Net picture
                dot.edge(bu, bv, {**attrs, **EDGES["skip"], "minlen": "0", "weight": "2"},
                         across=True)
            elif blocks[bv] == "decoder" and blocks[bu] != "decoder":
                # the turn of the U: the first decoder box level with the code; the
                # padded label keeps the two boxes apart
                attrs["label"] = f"{attrs['label']}  "
                dot.edge(bu, bv, {**attrs, **EDGES["data"], "minlen": "0", "weight": "3"})
            else:
                dot.edge(bu, bv, {**attrs, **EDGES["data"]}, reverse=blocks[bv] == "decoder")


def _add_objective(dot: _Dot, g: IR, owner: dict[str, str], detail: str) -> None:
    terms = [d for d in g.nodes.values() if d.kind == "loss"]
    if terms:  # one node, a line per term: every term compares the same x and x̂
        dot.node("loss", "", {"label": loss_label(terms, g.masked), **STYLES["loss"]})
        out = g.outputs.get("decoder")
        if out:
            shape = g.nodes[out].out_shape
            dot.edge(owner[out], "loss", {"label": f"x̂  {fmt_shape(shape)}", **EDGES["loss"]},
                     reverse=True)
        # weighted and allowed flat: the loss sits level with the input, beside it
        dot.edge("input", "loss", {"label": f"x  {fmt_shape(g.input)}  (target)",
                                   **EDGES["target"], "minlen": "0", "weight": "4"},
                 across=True)
    latent = g.latent
    if latent:
        dot.node("kl", "", {"label": kl_label(g, latent), **STYLES["kl"]})
        dim = fmt_shape(g.nodes[latent].out_shape)
        dot.edge(owner[latent], "kl", {"label": f"μ, log σ²  2×{dim}", **EDGES["kl"]})
    for n, d in g.nodes.items():
        if d.kind == "regularizer":
            dot.node(n, "", {"label": reg_label(d), **STYLES["regularizer"]})
            _add_reg_edges(dot, g, n, owner, detail)


def _add_reg_edges(dot: _Dot, g: IR, reg: str, owner: dict[str, str],
                   detail: str) -> None:
    """Activity penalties hang off the tensor they read; weight penalties off each block
    (its cluster) whose weights they read, one edge per block, and sit below the turn."""
    d = g.nodes[reg]
    weights = opdef_of(d).acts_on == "weights"
    if not (weights and d.target in (None, *CLUSTERED)):
        drawn: dict[str, str] = {}  # box -> the first target drawn in it
        for t in d.targets:
            drawn.setdefault(owner[t], t)
        for box, t in drawn.items():
            label = "W" if weights else f"h  {fmt_shape(g.nodes[t].out_shape)}"
            dot.edge(box, reg, {"label": label, **EDGES["regularizer"]})
        return
    near: dict[str, str] = {}  # block -> its box nearest the turn of the U
    for t in d.targets:
        block = g.nodes[t].block
        if block != "decoder" or block not in near:
            near[block] = owner[t]
    # the node sits in the gap of the U, one rank before the turn: short edges to each arm
    turn = g.outputs.get("bottleneck")
    anchor = owner[turn] if turn else None
    for block, t in near.items():
        attrs = {"label": "W", **EDGES["regularizer"]}
        if detail == "ops":
            attrs["lhead"] = f"cluster_{block}"
        if t != anchor:
            attrs["constraint"] = "false"
        dot.edge(reg, t, attrs)
    if anchor is not None and anchor not in near.values():
        dot.edge(reg, anchor, {"style": "invis"})


def _label_place(block: str, rankdir: str) -> dict[str, str]:
    """Each cluster's title in a corner no edge uses: edges enter the encoder at its
    start, the bottleneck from the encoder's side, the decoder at its turn and skips."""
    if block == "decoder":
        return {"labelloc": "b", "labeljust": "r" if rankdir == "TB" else "l"}
    if block == "bottleneck":
        return {"labelloc": "b" if rankdir == "TB" else "t", "labeljust": "r"}
    return {"labelloc": "t", "labeljust": "l"}


def _write(dot: _Dot, g: IR, spec: Spec, rankdir: str) -> str:
    font = {"fontname": FONT}
    lines = [f"digraph {_quote(spec.name)} {{",
             "  " + "graph [" + _attrs({"rankdir": rankdir, "compound": "true",
                                       "nodesep": "0.3", "ranksep": "0.35", "pad": "0.3",
                                       "labelloc": "b", "fontsize": "13", **font,
                                       "label": caption(g, spec)}) + "];",
             "  node [" + _attrs({"fontsize": "12", "margin": "0.12,0.05", **font}) + "];",
             "  edge [" + _attrs({"fontsize": "10", "arrowsize": "0.7", **font}) + "];"]
    lines += ["  " + s for s in dot.nodes.get("", [])]
    for block in CLUSTERED:
        if block not in dot.nodes:
            continue
        title = f"<B>{block}</B>"
        if block == "decoder" and spec.is_adversarial:
            title = "<B>generator</B> (decoder)"
        if block == "decoder" and isinstance(spec.decoder, Mirror):
            title += " (mirror" + (", tied" if spec.decoder.tied else "") + ")"
        place = _label_place(block, rankdir)
        lines.append(f"  subgraph {_quote('cluster_' + block)} {{")
        attrs = {"label": cluster_title(block, title, place), **place, "fontsize": "12"}
        lines.append("    graph [" + _attrs({**attrs, **BLOCKS[block]}) + "];")
        lines += ["    " + s for s in dot.nodes[block]]
        lines.append("  }")
    lines += ["  " + s for s in dot.edges]
    return "\n".join(lines + ["}"]) + "\n"


# ---------------------------------------------------------------- rendering


def render(dot_text: str, fmt: str) -> bytes:
    """Run graphviz's `dot` on DOT text; GraphvizMissingError when it is not installed."""
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissingError(None)
    extra = [f"-Gdpi={PNG_DPI}"] if fmt == "png" else []
    done = subprocess.run([exe, f"-T{fmt}", *extra], input=dot_text.encode("utf-8"),
                          capture_output=True, check=False)
    if done.returncode != 0:
        raise RenderError(done.stderr.decode("utf-8", "replace").strip())
    return done.stdout


def to_svg(graph: IR, spec: Spec) -> str:
    """The diagram as SVG text (Jupyter's `_repr_svg_`)."""
    return render(to_dot(graph, spec), "svg").decode("utf-8")


def write_drawing(graph: IR, spec: Spec, path: Path, fmt: str, rankdir: str = "TB",
                  detail: str = "ops") -> Path:
    """Write the diagram to `path`; without `dot`, write `path.dot` and raise
    GraphvizMissingError."""
    text = to_dot(graph, spec, rankdir, detail)
    path.parent.mkdir(parents=True, exist_ok=True)  # like `aespec run --out`
    if fmt == "dot":
        path.write_text(text, encoding="utf-8")
        return path
    if shutil.which("dot") is None:
        dot_path = path.with_suffix(".dot")
        dot_path.write_text(text, encoding="utf-8")
        raise GraphvizMissingError(dot_path)
    path.write_bytes(render(text, fmt))
    return path
