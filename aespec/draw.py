"""Graph IR -> DOT text -> rendered file: the architecture as a picture, no forward pass.

`to_dot` turns a checked graph into deterministic DOT text; `render` runs graphviz's
`dot` on it.  The layout is a U: the encoder runs down (right, with `rankdir=LR`), the
bottleneck sits at the turn, and the decoder comes back up beside the encoder, so each
decoder op lands level with the encoder op it inverts and skip connections run across.
Loss terms sit beside the input and the output they compare; penalties hang off what they
act on.  Colours and shapes come only from `aespec.ops.styles`.  Never imports torch.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

from aespec.ops import Args, OpDef, lookup
from aespec.ops.styles import BLOCKS, EDGES, FONT, STYLES, style_for
from aespec.spec import Mirror, Spec
from aespec.summary import fmt_num, objective_text

CLUSTERED = ("noise", "encoder", "bottleneck", "decoder")
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


class Html(str):
    """An attribute value written as a graphviz HTML-like label `<...>`, not quoted."""


@dataclass
class Box:
    """One drawn node: an op, a layer with the activations and norms that follow it on its
    line, or (with `detail="blocks"`) a whole block."""

    id: str
    block: str
    members: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- grouping ops into boxes


def _opdef(d: dict) -> OpDef:
    """The registry entry of a graph node (the graph holds only registered ops)."""
    place = {"noise": "noise", "loss": "loss", "regularizer": "regularizer"}.get(d["block"])
    return lookup(place or "layer", d["op"])  # type: ignore[arg-type,return-value]


def _style_key(d: dict) -> str:
    if d["kind"] == "input":
        return "input"
    op = _opdef(d)
    return op.style or op.kind


def _absorbs(g: nx.DiGraph, box: Box, n: str) -> bool:
    """Does `n` join the box before it? Activations and norms on the layer's own line do."""
    head, last, d = g.nodes[box.id], g.nodes[box.members[-1]], g.nodes[n]
    if head["kind"] != "layer" or d["block"] != box.block or last.get("label"):
        return False
    if d["span"].line != head["span"].line:
        return False
    return d["kind"] == "activation" or (d["kind"] == "layer" and not _opdef(d).shape_changing)


def group_ops(g: nx.DiGraph, detail: str = "ops") -> list[Box]:
    """The boxes to draw, in forward order."""
    boxes: list[Box] = []
    for n in g.graph["order"]:
        block = g.nodes[n]["block"]
        if detail == "blocks" and boxes and boxes[-1].block == block:
            boxes[-1].members.append(n)
        elif detail == "ops" and boxes and _absorbs(g, boxes[-1], n):
            boxes[-1].members.append(n)
        else:
            boxes.append(Box(block if detail == "blocks" else n, block, [n]))
    return boxes


# ---------------------------------------------------------------- text


def fmt_shape(shape) -> str:
    """`1×28×28`; a vector is its length."""
    return "×".join(map(str, shape)) if shape else "?"


def _visible(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", markup))


def _esc(text: str) -> str:
    return html.escape(str(text), quote=False)


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple):
        return "(" + ", ".join(_value(x) for x in v) + ")"
    return f"{v:g}" if isinstance(v, float) else str(v)


def args_text(op: OpDef, a: Args) -> str:
    """Key arguments: required ones by value, others where not the default or where the
    spec wrote an integer out (`conv(32, k=3)` shows `32, k=3`)."""
    if op.label:
        return op.label(a)
    parts = []
    for key, info in type(a).model_fields.items():
        value = getattr(a, key)
        if info.is_required():
            parts.append(_value(value))
        elif value != info.default or (key in a.model_fields_set and type(value) is int):
            parts.append(f"{key}={_value(value)}")
    return ", ".join(parts)


def _lines(lines: list[str]) -> Html:
    """Lines of a label as table rows: a little air, so an underscore in one line stays
    clear of the next."""
    if len(lines) == 1:
        return Html(lines[0])
    rows = "".join(f"<TR><TD>{line}</TD></TR>" for line in lines)
    return Html(f'<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">{rows}'
                "</TABLE>")


def _note(text: str) -> str:
    s = STYLES["note"]
    return (f'<FONT POINT-SIZE="{s["fontsize"]}" COLOR="{s["fontcolor"]}">{_esc(text)}'
            "</FONT>")


def _op_html(g: nx.DiGraph, n: str) -> str:
    d = g.nodes[n]
    text = args_text(_opdef(d), d["args"])
    return f"<B>{_esc(d['op'])}</B>" + (f" {_esc(text)}" if text else "")


def _params(n: int) -> str:
    return f"{n:,} param" + ("" if n == 1 else "s")


def _op_box_label(g: nx.DiGraph, box: Box) -> Html:
    ops = [_op_html(g, n) for n in box.members]
    name = g.nodes[box.members[-1]].get("label")
    head = (f"<I>{_esc(name)}</I> = " if name else "") + ops[0]
    lines = [head + "".join(" · " + o for o in ops[1:])]
    if len(_visible(lines[0])) > 44 and len(ops) > 1:  # a long chain: followers below
        lines = [head, " · ".join(ops[1:])]
    params = sum(g.nodes[n]["params"] for n in box.members)
    notes = [_params(params)] if params else []
    tied = g.nodes[box.id].get("tied_to")
    if tied:
        notes.append(f"Wᵀ tied to line {g.nodes[tied]['span'].line}")
    if notes:
        lines.append(_note(" · ".join(notes)))
    return _lines(lines)


def _input_label(g: nx.DiGraph, spec: Spec) -> Html:
    lines = [f"<B>input</B> x · {spec.input.kind} {fmt_shape(spec.input.shape)}"]
    if spec.data is not None:
        args = ", ".join(f"{k}={_value(v)}" for k, v in spec.data.args.items())
        lines.append(_note(f"data: {spec.data.source}" + (f"({args})" if args else "")))
    return _lines(lines)


def _latent_label(g: nx.DiGraph, n: str) -> Html:
    """μ | log σ² over z = μ + σ·ε: the reparameterized sample as a small table."""
    d, s = g.nodes[n], STYLES["latent"]
    a, dim = d["args"], fmt_shape(d["out_shape"])
    title = f"<B>gaussian latent</B> {_esc(args_text(_opdef(d), a))}"
    rows = [f'<TR><TD COLSPAN="2" BORDER="0">{title}</TD></TR>',
            f'<TR><TD>μ  ({dim})</TD><TD>log σ²  ({dim})</TD></TR>',
            '<TR><TD COLSPAN="2">z = μ + σ·ε,   ε ~ N(0, I)</TD></TR>',
            f'<TR><TD COLSPAN="2" BORDER="0">{_note(_params(d["params"]))}</TD></TR>']
    return Html(f'<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4" '
                f'COLOR="{s["color"]}">' + "".join(rows) + "</TABLE>")


def _block_label(g: nx.DiGraph, box: Box, spec: Spec) -> Html:
    """`--detail blocks`: the block, a count of its ops, in -> out shapes, parameters."""
    first, last = g.nodes[box.members[0]], g.nodes[box.members[-1]]
    counts: dict[str, int] = {}
    for n in box.members:
        if g.nodes[n]["kind"] != "activation":
            counts[g.nodes[n]["op"]] = counts.get(g.nodes[n]["op"], 0) + 1
    ops = ", ".join(f"{c}× {op}" if c > 1 else op for op, c in counts.items())
    title = f"<B>{box.block}</B>" + (" (mirror)" if box.block == "decoder"
                                     and isinstance(spec.decoder, Mirror) else "")
    params = sum(g.nodes[n]["params"] for n in box.members)
    flow = f"{fmt_shape(first['in_shape'])} → {fmt_shape(last['out_shape'])}"
    lines = [title, _esc(ops), _note(flow + (f" · {_params(params)}" if params else ""))]
    latent = g.graph.get("latent")
    if latent in box.members:
        lines.insert(2, "μ | log σ²  →  z = μ + σ·ε")
    return _lines(lines)


def _caption(g: nx.DiGraph, spec: Spec) -> Html:
    title = f'<FONT POINT-SIZE="16"><B>{_esc(spec.name)}</B></FONT>'
    if spec.doc:
        title += f'<FONT POINT-SIZE="14">  —  {_esc(spec.doc)}</FONT>'
    facts = (f"{g.graph['params']:,} parameters  ·  input {fmt_shape(spec.input.shape)}  ·  "
             f"code z {fmt_shape(g.graph.get('z'))}")
    gap = '<FONT POINT-SIZE="8"> </FONT>'  # air between the picture and its caption
    return _lines([gap, title, _esc(facts), *map(_esc, _wrap_sum(objective_text(g)))])


def _wrap_sum(text: str, width: int = 90) -> list[str]:
    """A long objective on several lines, broken before a `+`."""
    lines = [""]
    for i, term in enumerate(text.split(" + ")):
        piece = term if i == 0 else " + " + term
        if lines[-1] and len(lines[-1]) + len(piece) > width:
            lines.append("")
        lines[-1] += piece
    return lines


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


def to_dot(graph: nx.DiGraph, spec: Spec, rankdir: str = "TB", detail: str = "ops") -> str:
    """The DOT text of a checked graph: clusters per block, shapes on every edge."""
    if rankdir not in ("TB", "LR") or detail not in ("ops", "blocks"):
        raise ValueError(f"rankdir must be TB or LR and detail ops or blocks, got "
                         f"{rankdir!r}, {detail!r}")
    g = graph
    boxes = group_ops(g, detail)
    owner = {n: b.id for b in boxes for n in b.members}
    dot = _Dot(rankdir)
    _add_boxes(dot, g, spec, boxes, detail)
    _add_flow(dot, g, boxes, owner)
    _add_objective(dot, g, owner, detail)
    return _write(dot, g, spec, rankdir)


def _add_boxes(dot: _Dot, g: nx.DiGraph, spec: Spec, boxes: list[Box], detail: str) -> None:
    latent = g.graph.get("latent")
    for box in boxes:
        if box.block == "input":
            dot.node(box.id, "", {"label": _input_label(g, spec), **STYLES["input"]})
        elif detail == "blocks":
            style = {"shape": "box", **BLOCKS[box.block]}
            if latent in box.members:
                style = {**style, **{k: STYLES["latent"][k] for k in ("fillcolor", "color")}}
            dot.node(box.id, "", {"label": _block_label(g, box, spec), **style})
        elif box.id == latent:
            dot.node(box.id, box.block, {"label": _latent_label(g, box.id), **STYLES["latent"]})
        else:
            dot.node(box.id, box.block, {"label": _op_box_label(g, box),
                                         **style_for(_style_key(g.nodes[box.id]))})


def _flow_label(g: nx.DiGraph, u: str, shape) -> str:
    """The edge's shape, named where the tensor has a name in the objective: x, x̃, z."""
    block = g.nodes[u]["block"]
    outs = g.graph["outputs"]
    name = {"input": "x", "noise": "x̃", "bottleneck": "z"}.get(block)
    if name and (block == "input" or outs.get(block) == u):
        return f"{name}  {fmt_shape(shape)}"
    return fmt_shape(shape)


def _add_flow(dot: _Dot, g: nx.DiGraph, boxes: list[Box], owner: dict[str, str]) -> None:
    blocks = {b.id: b.block for b in boxes}
    for v in g.graph["order"]:
        for u in g.predecessors(v):
            bu, bv = owner[u], owner[v]
            if bu == bv:
                continue
            e = g.edges[u, v]
            attrs = {"label": _flow_label(g, u, e["shape"])}
            if e.get("skip"):
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


def _add_objective(dot: _Dot, g: nx.DiGraph, owner: dict[str, str], detail: str) -> None:
    terms = [d for _, d in g.nodes(data=True) if d["kind"] == "loss"]
    if terms:  # one node, a line per term: every term compares the same x and x̂
        dot.node("loss", "", {"label": _loss_label(terms), **STYLES["loss"]})
        out = g.graph["outputs"].get("decoder")
        if out:
            shape = g.nodes[out]["out_shape"]
            dot.edge(owner[out], "loss", {"label": f"x̂  {fmt_shape(shape)}", **EDGES["loss"]},
                     reverse=True)
        # weighted and allowed flat: the loss sits level with the input, beside it
        dot.edge("input", "loss", {"label": f"x  {fmt_shape(g.graph['input'])}  (target)",
                                   **EDGES["target"], "minlen": "0", "weight": "4"},
                 across=True)
    latent = g.graph.get("latent")
    if latent:
        beta = fmt_num(g.nodes[latent]["args"].beta)
        label = _lines(["<B>KL term</B>", f"{beta}·KL(q(z|x) ‖ N(0, I))"])
        dot.node("kl", "", {"label": label, **STYLES["kl"]})
        dim = fmt_shape(g.nodes[latent]["out_shape"])
        dot.edge(owner[latent], "kl", {"label": f"μ, log σ²  2×{dim}", **EDGES["kl"]})
    for n, d in g.nodes(data=True):
        if d["kind"] == "regularizer":
            dot.node(n, "", {"label": _reg_label(d), **STYLES["regularizer"]})
            _add_reg_edges(dot, g, n, owner, detail)


def _loss_label(terms: list[dict]) -> Html:
    lines = ["<B>loss</B>"]
    for d in terms:
        op = _opdef(d)
        weight = "" if d["weight"] == 1 else f"{fmt_num(d['weight'])}·"
        args = args_text(op, d["args"])
        lines.append(_esc(weight + op.extra["formula"]) + (f"  {_note(args)}" if args else ""))
    return _lines(lines)


def _reg_label(d: dict) -> Html:
    op = _opdef(d)
    formula, a = op.extra["formula"], d["args"]
    if hasattr(a, "rho"):  # the target sparsity written in, as in the objective
        formula = formula.replace("ρ ‖", f"{fmt_num(a.rho)} ‖")
    on = d["target"] or ("all layers" if op.extra["acts_on"] == "weights" else "bottleneck")
    text = f"{fmt_num(a.weight)}·{formula}"
    return _lines([f"<B>{_esc(d['op'])}</B> on {_esc(on)}", _esc(text)])


def _add_reg_edges(dot: _Dot, g: nx.DiGraph, reg: str, owner: dict[str, str],
                   detail: str) -> None:
    """Activity penalties hang off the tensor they read; weight penalties off each block
    (its cluster) whose weights they read, one edge per block, and sit below the turn."""
    d = g.nodes[reg]
    weights = _opdef(d).extra["acts_on"] == "weights"
    if not (weights and d["target"] in (None, *CLUSTERED)):
        drawn: dict[str, str] = {}  # box -> the first target drawn in it
        for t in d["targets"]:
            drawn.setdefault(owner[t], t)
        for box, t in drawn.items():
            label = "W" if weights else f"h  {fmt_shape(g.nodes[t]['out_shape'])}"
            dot.edge(box, reg, {"label": label, **EDGES["regularizer"]})
        return
    near: dict[str, str] = {}  # block -> its box nearest the turn of the U
    for t in d["targets"]:
        block = g.nodes[t]["block"]
        if block != "decoder" or block not in near:
            near[block] = owner[t]
    # the node sits in the gap of the U, one rank before the turn: short edges to each arm
    turn = g.graph["outputs"].get("bottleneck")
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


def _cluster_title(block: str, title: str, place: dict[str, str]) -> Html:
    """The title with a blank beside it on the inner side: the cluster is then wide enough
    that an edge through the middle of its top (or bottom) misses the title.  The
    decoder's title needs none: no edge crosses the side it sits on."""
    if block == "decoder":
        return Html(title)
    text, blank = f"<TD>{title}</TD>", f'<TD WIDTH="{10 * len(_visible(title)) + 20}"></TD>'
    cells = blank + text if place["labeljust"] == "r" else text + blank
    return Html(f'<TABLE BORDER="0" CELLPADDING="0" CELLSPACING="0"><TR>{cells}</TR></TABLE>')


def _write(dot: _Dot, g: nx.DiGraph, spec: Spec, rankdir: str) -> str:
    font = {"fontname": FONT}
    lines = [f"digraph {_quote(spec.name)} {{",
             "  " + "graph [" + _attrs({"rankdir": rankdir, "compound": "true",
                                       "nodesep": "0.3", "ranksep": "0.35", "pad": "0.3",
                                       "labelloc": "b", "fontsize": "13", **font,
                                       "label": _caption(g, spec)}) + "];",
             "  node [" + _attrs({"fontsize": "12", "margin": "0.12,0.05", **font}) + "];",
             "  edge [" + _attrs({"fontsize": "10", "arrowsize": "0.7", **font}) + "];"]
    lines += ["  " + s for s in dot.nodes.get("", [])]
    for block in CLUSTERED:
        if block not in dot.nodes:
            continue
        title = f"<B>{block}</B>"
        if block == "decoder" and isinstance(spec.decoder, Mirror):
            title += " (mirror" + (", tied" if spec.decoder.tied else "") + ")"
        place = _label_place(block, rankdir)
        lines.append(f"  subgraph {_quote('cluster_' + block)} {{")
        attrs = {"label": _cluster_title(block, title, place), **place, "fontsize": "12"}
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


def to_svg(graph: nx.DiGraph, spec: Spec) -> str:
    """The diagram as SVG text (Jupyter's `_repr_svg_`)."""
    return render(to_dot(graph, spec), "svg").decode("utf-8")


def write_drawing(graph: nx.DiGraph, spec: Spec, path: Path, fmt: str, rankdir: str = "TB",
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
