"""Completion: statements, ops by place, an op's arguments, `let` and tensor names, train and
report keys and their values, data sources; chosen from the text before the cursor."""

from __future__ import annotations

from lsprotocol import types as lsp

from aespec.data import REGISTRY as SOURCE_ENTRIES
from aespec.lsp.document import LAYER_BLOCKS, CodeLine, Document, code_lines
from aespec.model.settings import PHASE_KEYS, REPORT, TRAIN, Setting
from aespec.model.spec import BLOCKS
from aespec.ops import REGISTRY, OpDef
from aespec.ops.adversarial import ADVERSARIAL
from aespec.ops.anneal import KINDS as SCHEDULES
from aespec.parse import MAX_SOURCE
from aespec.parse.fmt import ORDER, Token, tokenize

Kind = lsp.CompletionItemKind
INPUT_KINDS = {"vector": "vector(N)", "image": "image(C, H, W)", "sequence": "sequence(C, L)"}
_PLACE = {"noise": "noise", "loss": "loss", "regularize": "regularizer"}


def _item(label: str, kind: lsp.CompletionItemKind, detail: str = "", doc: str = "",
          insert: str | None = None) -> lsp.CompletionItem:
    return lsp.CompletionItem(label=label, kind=kind, detail=detail or None,
                              documentation=lsp.MarkupContent(lsp.MarkupKind.Markdown, doc)
                              if doc else None, insert_text=insert)


def op_items(place: str) -> list[lsp.CompletionItem]:
    return [_item(op.name, Kind.Function, op.signature or op.name, op.doc)
            for op in REGISTRY[place].values()]  # type: ignore[index]


def schedule_items() -> list[lsp.CompletionItem]:
    """The schedules a weight may be written as (aespec.ops.anneal)."""
    return [_item(k.name, Kind.Function, k.signature, k.doc) for k in SCHEDULES.values()]


def _settings(table: dict[str, Setting], block: str) -> list[lsp.CompletionItem]:
    return [_item(key, Kind.Property, f"{block} {key}", s.doc) for key, s in table.items()]


def _fields(model, detail: str) -> list[lsp.CompletionItem]:
    out = []
    for key, info in model.model_fields.items():
        default = "" if info.is_required() else f" (default {info.default!r})"
        out.append(_item(f"{key}=", Kind.Field, f"{detail}: {key}{default}", insert=f"{key}="))
    return out


def _names(doc: Document, tensors: bool = False) -> list[lsp.CompletionItem]:
    lets = doc.lets()
    return [_item(name, Kind.Variable if name in lets else Kind.Reference,
                  "let" if name in lets else "tensor")
            for name in doc.definitions() if tensors or name in lets]


def _tensor_items(doc: Document) -> list[lsp.CompletionItem]:
    lets = doc.lets()
    return [_item(n, Kind.Reference, "tensor") for n in doc.definitions() if n not in lets]


def _open_call(before: list[Token]) -> str | None:
    """The name before the innermost `(` still open at the cursor."""
    depth = 0
    for i in range(len(before) - 1, -1, -1):
        text = before[i].text
        depth += (text == ")") - (text == "(")
        if depth < 0:
            return before[i - 1].text if i and before[i - 1].kind == "name" else ""
    return None


def _arg_items(doc: Document, line: CodeLine, call: str) -> list[lsp.CompletionItem]:
    """Inside `call(`: its argument names, and the names that may stand for a value."""
    first = line.tokens[0].text if line.tokens else ""
    model = None
    if call in SCHEDULES:  # `beta=warmup(`: the schedule's own arguments
        return _fields(SCHEDULES[call].args, call) + _names(doc)
    if line.block is None and first == "data":
        entry = SOURCE_ENTRIES.get(call)
        model = entry.args if entry is not None else None
    elif line.block in ("train", "report"):
        table = TRAIN if line.block == "train" else REPORT
        setting = table.get(first)
        if setting is not None:
            model = setting.args if call == first else (setting.ops or {}).get(call)
    else:
        place = _PLACE.get(first, "layer") if line.block is None else "layer"
        op: OpDef | None = REGISTRY[place].get(call)  # type: ignore[index]
        if op is not None:
            model = op.args
            if op.kind == "join":
                return _tensor_items(doc) + _names(doc)
            toks = line.tokens
            if len(toks) > 1 and toks[-1].text == "=" and toks[-2].text in op.schedulable:
                return schedule_items() + _names(doc)  # `beta=`: a number or a schedule
    fields = _fields(model, call) if model is not None else []
    return fields + _names(doc)


_XENT = _item("xent", Kind.Function, "xent",
              "a head's cross-entropy on the data's class labels (`head on code { ... }`)")


def _top_items(doc: Document, first: str, before: list[Token]) -> list[lsp.CompletionItem]:
    """After the first word of a top-level statement."""
    if first == "data":
        return [_item(n, Kind.Module, "data source", (e.args.__doc__ or "").split("\n")[0])
                for n, e in SOURCE_ENTRIES.items()]
    if first == "input":
        return [_item(k, Kind.Class, sig) for k, sig in INPUT_KINDS.items()]
    if first == "decoder":
        return [_item("mirror", Kind.Keyword, "decoder mirror(output=ACT, tied=BOOL)",
                      "the encoder and bottleneck walked in reverse")]
    if first == "latent":
        return [_item("normal", Kind.Function, "latent normal(N)",
                      "a GAN's generator input: z ~ N(0, I) of N values")]
    if first == "condition":
        return [_item("labels", Kind.Function, "condition labels(N)",
                      "the data's class labels, one-hot of N values, as the tensor y")]
    if first == "loss":
        return op_items("loss") + schedule_items() + [_item(
            "adversarial", Kind.Function, "adversarial(KIND)",
            "a GAN's loss, or an adversarial autoencoder's term; KIND: "
            + ", ".join(ADVERSARIAL)), _XENT]
    if first == "discriminator":
        if before[-1].text == "on":
            return [_item("code", Kind.Keyword, "discriminator on code { ... }",
                          "an adversarial autoencoder's: judges the code against N(0, I)")]
        return [_item("on", Kind.Keyword, "discriminator on code { ... }",
                      "what the discriminator reads (default: examples, a GAN's)")]
    if first == "head":
        if before[-1].text == "on":
            return [_item("code", Kind.Keyword, "head on code { ... }", "the bottleneck's "
                          "output")] + _tensor_items(doc)
        return [_item("on", Kind.Keyword, "head on NAME { ... }",
                      "the tensor the head reads (default: the code)")]
    if first == "regularize" and len(before) > 1:
        return [_item("on", Kind.Keyword)] + [_item(b, Kind.Module, "target") for b in
                                               LAYER_BLOCKS] + _tensor_items(doc)
    if first in _PLACE:
        return op_items(_PLACE[first])
    if first == "let":
        return _names(doc) + (schedule_items() if before[-1].text == "=" else [])
    return []


def _setting_values(setting: Setting | None) -> list[lsp.CompletionItem]:
    if setting is None:
        return []
    if setting.ops:
        return [_item(name, Kind.Function, name) for name in setting.ops]
    if setting.choices:
        return [_item(c, Kind.EnumMember) for c in setting.choices]
    if setting.kind == "bool":
        return [_item(b, Kind.Constant) for b in ("true", "false")]
    return []


def _context(doc: Document, line: int, char: int) -> CodeLine:
    """The code of the cursor's logical line before the cursor (less the word being typed),
    with the block it is in."""
    offset = sum(len(text) + 1 for text in doc.lines[:line]) + char
    toks = tokenize(doc.source[:offset])
    ends = [i for i, t in enumerate(toks) if t.kind == "nl" and t.depth == 0]
    cut = ends[-1] + 1 if ends else 0
    stack: list[str] = []
    code_lines(toks[:cut], stack)
    before = [t for t in toks[cut:] if t.kind not in ("nl", "comment")]
    if before and before[-1].kind == "name" and before[-1].line == line + 1 and \
            before[-1].column + len(before[-1].text) == char:
        before.pop()  # the word being typed
    return CodeLine(before, stack[-1] if stack else None, len(stack))


def complete(doc: Document, line: int, char: int) -> list[lsp.CompletionItem]:
    """The completions at (line, char), from the text before the cursor."""
    if len(doc.source) > MAX_SOURCE:  # too long to be a spec: not tokenized (`analyse`)
        return []
    here = _context(doc, line, char)
    before, block = here.tokens, here.block
    call = _open_call(before)
    if call is not None:
        return _arg_items(doc, here, call)
    if not before:
        if block is None:
            return [_item(k, Kind.Keyword, "statement") for k in ORDER]
        if block in ("train", "report"):
            return _settings(TRAIN if block == "train" else REPORT, block)
        if block == "phase":
            return _phase_keys()
        return op_items("layer") + [_item("repeat", Kind.Keyword, "repeat N { ... }")]
    if block is None:
        return _top_items(doc, before[0].text, before)
    if before[0].text == "freeze" and block in ("train", "phase"):
        return [_item(b, Kind.Module, "block") for b in BLOCKS] + _tensor_items(doc)
    if block == "phase":
        return _phase_values(before[0].text)
    if block in ("train", "report"):
        table = TRAIN if block == "train" else REPORT
        return _setting_values(table.get(before[0].text))
    return op_items("layer")


def _phase_keys() -> list[lsp.CompletionItem]:
    """What a `phase NAME { ... }` line may set: noise, loss and its train keys."""
    return [_item("noise", Kind.Keyword, "phase noise", "the phase's corruption, or `none`"),
            _item("loss", Kind.Keyword, "phase loss", "the phase's objective"),
            *(_item(k, Kind.Property, f"phase {k}", TRAIN[k].doc) for k in PHASE_KEYS)]


def _phase_values(key: str) -> list[lsp.CompletionItem]:
    if key in _PLACE:
        none = [_item("none", Kind.Constant, "no noise in this phase")] * (key == "noise")
        xent = [_XENT] * (key == "loss")  # a phase's loss may train the head too
        return none + op_items(_PLACE[key]) + xent
    return _setting_values(TRAIN.get(key)) if key in PHASE_KEYS else []
