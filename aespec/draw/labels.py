"""The boxes of a drawing and what each one says: graphviz HTML-like labels.

`group_ops` decides which graph nodes share a box (a layer with the activations and norms
on its line, or a whole block); the `*_label` functions write each box's label, and those
of the loss, KL and penalty nodes and of the caption.  `aespec.draw.dot` places them in DOT
text.  Colours come only from `aespec.ops.styles`.  Never imports torch or graphviz.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aespec.graph.summary import fmt_num, objective_text
from aespec.model import Mirror, Spec
from aespec.ops import Args, OpDef, fmt_value, format_args, lookup
from aespec.ops.styles import STYLES

if TYPE_CHECKING:
    from aespec.graph.ir import IR, Node


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


def opdef_of(d: Node) -> OpDef:
    """The registry entry of a graph node (the graph holds only registered ops)."""
    place = {"noise": "noise", "loss": "loss", "regularizer": "regularizer"}.get(d.block)
    return lookup(place or "layer", d.op)  # type: ignore[arg-type,return-value]


def style_key(d: Node) -> str:
    """The key into `STYLES` of a graph node: its op's style, else its kind."""
    if d.kind == "input":
        return "input"
    op = opdef_of(d)
    return op.style or op.kind


def _absorbs(g: IR, box: Box, n: str) -> bool:
    """Does `n` join the box before it? Activations and norms on the layer's own line do."""
    head, last, d = g.nodes[box.id], g.nodes[box.members[-1]], g.nodes[n]
    if head.kind != "layer" or d.block != box.block or last.label:
        return False
    if d.span.line != head.span.line:
        return False
    return d.kind == "activation" or (d.kind == "layer" and not opdef_of(d).shape_changing)


def group_ops(g: IR, detail: str = "ops") -> list[Box]:
    """The boxes to draw, in forward order."""
    boxes: list[Box] = []
    for n in g.order:
        block = g.nodes[n].block
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


def visible(markup: str) -> str:
    """The text a reader sees of HTML-like markup: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]*>", "", markup))


def _esc(text: str) -> str:
    return html.escape(str(text), quote=False)


def args_text(op: OpDef, a: Args) -> str:
    """Key arguments: required ones by value, others where not the default or where the
    spec wrote an integer out (`conv(32, k=3)` shows `32, k=3`)."""
    return op.label(a) if op.label else format_args(a, written_ints=True)


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


def _op_html(g: IR, n: str) -> str:
    d = g.nodes[n]
    text = args_text(opdef_of(d), d.args)
    return f"<B>{_esc(d.op)}</B>" + (f" {_esc(text)}" if text else "")


def _params(n: int) -> str:
    return f"{n:,} param" + ("" if n == 1 else "s")


# ---------------------------------------------------------------- the boxes of the data flow


def op_box_label(g: IR, box: Box) -> Html:
    """`conv 32, k=3 · relu` over its parameter count (and the layer it is tied to)."""
    ops = [_op_html(g, n) for n in box.members]
    name = g.nodes[box.members[-1]].label
    head = (f"<I>{_esc(name)}</I> = " if name else "") + ops[0]
    lines = [head + "".join(" · " + o for o in ops[1:])]
    if len(visible(lines[0])) > 44 and len(ops) > 1:  # a long chain: followers below
        lines = [head, " · ".join(ops[1:])]
    params = sum(g.nodes[n].params for n in box.members)
    notes = [_params(params)] if params else []
    tied = g.nodes[box.id].tied_to
    if tied:
        notes.append(f"Wᵀ tied to line {g.nodes[tied].span.line}")
    if notes:
        lines.append(_note(" · ".join(notes)))
    return _lines(lines)


def input_label(g: IR, spec: Spec) -> Html:
    """`input x · image 1×28×28` over the data source."""
    lines = [f"<B>input</B> x · {spec.input.kind} {fmt_shape(spec.input.shape)}"]
    if spec.data is not None:
        args = ", ".join(f"{k}={fmt_value(v)}" for k, v in spec.data.args.items())
        lines.append(_note(f"data: {spec.data.source}" + (f"({args})" if args else "")))
    return _lines(lines)


def latent_label(g: IR, n: str) -> Html:
    """μ | log σ² over z = μ + σ·ε: the reparameterized sample as a small table."""
    d, s = g.nodes[n], STYLES["latent"]
    a, dim = d.args, fmt_shape(d.out_shape)
    title = f"<B>gaussian latent</B> {_esc(args_text(opdef_of(d), a))}"
    rows = [f'<TR><TD COLSPAN="2" BORDER="0">{title}</TD></TR>',
            f'<TR><TD>μ  ({dim})</TD><TD>log σ²  ({dim})</TD></TR>',
            '<TR><TD COLSPAN="2">z = μ + σ·ε,   ε ~ N(0, I)</TD></TR>',
            f'<TR><TD COLSPAN="2" BORDER="0">{_note(_params(d.params))}</TD></TR>']
    return Html(f'<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4" '
                f'COLOR="{s["color"]}">' + "".join(rows) + "</TABLE>")


def block_label(g: IR, box: Box, spec: Spec) -> Html:
    """`--detail blocks`: the block, a count of its ops, in -> out shapes, parameters."""
    first, last = g.nodes[box.members[0]], g.nodes[box.members[-1]]
    counts: dict[str, int] = {}
    for n in box.members:
        if g.nodes[n].kind != "activation":
            counts[g.nodes[n].op] = counts.get(g.nodes[n].op, 0) + 1
    ops = ", ".join(f"{c}× {op}" if c > 1 else op for op, c in counts.items())
    title = f"<B>{box.block}</B>" + (" (mirror)" if box.block == "decoder"
                                     and isinstance(spec.decoder, Mirror) else "")
    params = sum(g.nodes[n].params for n in box.members)
    flow = f"{fmt_shape(first.in_shape)} → {fmt_shape(last.out_shape)}"
    lines = [title, _esc(ops), _note(flow + (f" · {_params(params)}" if params else ""))]
    latent = g.latent
    if latent in box.members:
        lines.insert(2, "μ | log σ²  →  z = μ + σ·ε")
    return _lines(lines)


def cluster_title(block: str, title: str, place: dict[str, str]) -> Html:
    """The title with a blank beside it on the inner side: the cluster is then wide enough
    that an edge through the middle of its top (or bottom) misses the title.  The
    decoder's title needs none: no edge crosses the side it sits on."""
    if block == "decoder":
        return Html(title)
    text, blank = f"<TD>{title}</TD>", f'<TD WIDTH="{10 * len(visible(title)) + 20}"></TD>'
    cells = blank + text if place["labeljust"] == "r" else text + blank
    return Html(f'<TABLE BORDER="0" CELLPADDING="0" CELLSPACING="0"><TR>{cells}</TR></TABLE>')


# ---------------------------------------------------------------- the objective, the caption


def loss_label(terms: list[Node], masked: bool = False) -> Html:
    """One line per loss term: every term compares the same x and x̂; `masked`
    (missing=nan): a last line says they skip the unobserved entries."""
    lines = ["<B>loss</B>"]
    for d in terms:
        op = opdef_of(d)
        weight = "" if d.weight == 1 else f"{fmt_num(d.weight)}·"
        args = args_text(op, d.args)
        lines.append(_esc(weight + op.formula) + (f"  {_note(args)}" if args else ""))
    if masked:
        lines.append(_note("over observed entries (missing=nan)"))
    return _lines(lines)


def kl_label(g: IR, latent: str) -> Html:
    """The KL term of a gaussian latent, with its weight β; with `iw=K`, the importance
    weights of its K draws, which take the KL's place in the bound."""
    args = g.nodes[latent].args
    if args.iw > 1:
        return _lines(["<B>importance weights</B>", f"p(x|zₖ) p(zₖ) / q(zₖ|x), {args.iw} "
                       "draws", _esc("−log (1/K) Σₖ of them: the loss (IWAE)")])
    return _lines(["<B>KL term</B>", f"{fmt_num(args.beta)}·KL(q(z|x) ‖ N(0, I))"])


def reg_label(d: Node) -> Html:
    """A penalty: what it acts on, and its weighted formula."""
    op = opdef_of(d)
    formula, a = op.formula, d.args
    if hasattr(a, "rho"):  # the target sparsity written in, as in the objective
        formula = formula.replace("ρ ‖", f"{fmt_num(a.rho)} ‖")
    on = d.target or ("all layers" if op.acts_on == "weights" else "bottleneck")
    text = f"{fmt_num(a.weight)}·{formula}"
    return _lines([f"<B>{_esc(d.op)}</B> on {_esc(on)}", _esc(text)])


def caption(g: IR, spec: Spec) -> Html:
    """The spec's name and doc, its size, and the objective it trains."""
    title = f'<FONT POINT-SIZE="16"><B>{_esc(spec.name)}</B></FONT>'
    if spec.doc:
        title += f'<FONT POINT-SIZE="14">  —  {_esc(spec.doc)}</FONT>'
    nets = "" if not spec.is_adversarial else " (" + ", ".join(
        f"{net} {n:,}" for net, n in g.networks.items()) + ")"
    z = "noise z" if spec.is_adversarial else "code z"
    facts = (f"{g.params:,} parameters{nets}  ·  input {fmt_shape(spec.input.shape)}  ·  "
             f"{z} {fmt_shape(g.z)}")
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
