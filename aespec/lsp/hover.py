"""Hover text: an op's shapes and parameters (from the graph IR node written there) with its
registry entry; a `let`'s value; a tensor name's shape; a train, report or data key's doc."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aespec.data import REGISTRY as SOURCE_ENTRIES
from aespec.lsp.document import Document, span_contains
from aespec.model.settings import REPORT, TRAIN
from aespec.ops import REGISTRY, OpDef, fmt_value, get_op, op_text
from aespec.parse.fmt import Token

if TYPE_CHECKING:
    from aespec.graph.ir import IR


def shape_text(shape) -> str:
    """`(32, 28, 28)`, `(64,)`, as `aespec check` prints shapes."""
    if not shape:
        return "-"
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def nodes_at(g: IR, line: int, char: int) -> list[str]:
    """The forward nodes written at (line, char), innermost span first: one op, or every
    op that a `decoder mirror` line builds."""
    hits = [n for n in g.order if span_contains(g.nodes[n].span, line, char)
            and g.nodes[n].kind != "input"]
    if not hits:
        return []
    def size(n: str) -> tuple[int, int]:
        s = g.nodes[n].span
        return (s.end_line - s.line, s.end_column - s.column)
    smallest = min(size(n) for n in hits)
    return [n for n in hits if size(n) == smallest]


def node_text(g: IR, n: str) -> str:
    d = g.nodes[n]
    text = op_text(get_op(d.place or "layer", d.op), d.args)
    params = f" · {d.params:,} parameters" if d.params else ""
    tied = f" · tied to line {g.nodes[d.tied_to].span.line}" if d.tied_to else ""
    return (f"`{text}` ({d.block}): {shape_text(d.in_shape)} → "
            f"**{shape_text(d.out_shape)}**{params}{tied}")


def op_doc(op: OpDef) -> str:
    sig = op.signature or op.name
    extra = f"\n\nparameters: {op.params_doc}" if op.params_doc not in ("", "0") else ""
    return f"`{sig}`: {op.doc}{extra}"


def _ops_named(name: str) -> list[OpDef]:
    return [table[name] for table in REGISTRY.values() if name in table]


def _let_hover(doc: Document, name: str) -> str | None:
    line = doc.lets().get(name)
    if line is None:
        return None
    written = " ".join(t.text for t in line.tokens[3:])
    text = f"`let {name} = {written}`"
    spec = doc.result.spec
    if spec is not None and name in spec.lets:
        text += f"\n\nvalue: **{fmt_value(spec.lets[name])}**"
    return text


def _label_hover(doc: Document, name: str) -> str | None:
    g = doc.result.ir
    node = g.labels.get(name) if g is not None else None
    if g is None or node is None:
        return None
    d = g.nodes[node]
    return (f"tensor `{name}` ({d.block}, line {d.span.line}): "
            f"**{shape_text(d.out_shape)}**")


def _key_hover(doc: Document, tok: Token) -> str | None:
    line = doc.line_of(tok)
    if line is None or line.tokens[0] is not tok:
        return None
    table = {"train": TRAIN, "report": REPORT}.get(line.block or "")
    if table and tok.text in table:
        return f"{line.block} `{tok.text}`: {table[tok.text].doc}"
    g = doc.result.ir
    if line.block is None and tok.text == "input" and g is not None:
        return f"`input`: **{shape_text(g.input)}** (one example; batch excluded)"
    if line.block is None and tok.text in ("encoder", "bottleneck", "decoder"):
        g = doc.result.ir
        last = g.outputs.get(tok.text) if g is not None else None
        if g is not None and last:
            return f"`{tok.text}` output: **{shape_text(g.nodes[last].out_shape)}**"
    return None


def _source_hover(doc: Document, tok: Token) -> str | None:
    line = doc.line_of(tok)
    if line is None or line.block is not None or line.tokens[0].text != "data":
        return None
    if len(line.tokens) < 2 or line.tokens[1] is not tok or tok.text not in SOURCE_ENTRIES:
        return None
    return f"data source: {(SOURCE_ENTRIES[tok.text].args.__doc__ or tok.text).split(chr(10))[0]}"


def hover_text(doc: Document, line: int, char: int) -> str | None:
    """Markdown for the hover at (line, char), or None where there is nothing to say."""
    tok = doc.token_at(line, char)
    if tok is None or tok.kind != "name":
        return None
    g = doc.result.ir
    nodes = nodes_at(g, line, char) if g is not None else []
    mine = [n for n in nodes if g is not None and g.nodes[n].op == tok.text] or (
        nodes if tok.text == "mirror" else [])
    if g is not None and mine:
        body = "\n\n".join(node_text(g, n) for n in mine)
        ops = _ops_named(tok.text)
        return body + (f"\n\n---\n{op_doc(ops[0])}" if ops and tok.text != "mirror" else "")
    for find in (_let_hover, _label_hover):
        text = find(doc, tok.text)
        if text:
            return text
    text = _key_hover(doc, tok) or _source_hover(doc, tok)
    if text:
        return text
    ops = _ops_named(tok.text)
    return "\n\n".join(f"{op.place}: {op_doc(op)}" for op in ops) or None
