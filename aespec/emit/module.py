"""The emitted `nn.Module` class: `__init__` (the layers, grouped under their spec lines),
`corrupt`, `forward`, `encode`, `decode` and `sample`."""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field

from aespec.emit import condition
from aespec.emit.network import Network, Segment, Unavailable, head_segment, shape_text
from aespec.emit.strings import clip, comment_text
from aespec.model import Spec
from aespec.ops import get_op

INDENT = "    "
# F: torch's functional; the others: helper classes the file may define (ops/portable.py)
HELPER_CLASSES = ("F", "ExampleNorm", "VectorQuantizer", "RBM", "RBMVisible",
                  "SelfOrganizingMap", "Prototype")
WIDTH = 99  # the emitted file passes `ruff check --line-length 100`


def class_name(name: str) -> str:
    """`denoising_conv` -> `DenoisingConv`; a name Python cannot use gets a prefix."""
    words = [w for w in re.split(r"[^0-9A-Za-z]+", name) if w]
    text = "".join(w[:1].upper() + w[1:] for w in words) or "Autoencoder"
    if text[0].isdigit() or keyword.iskeyword(text) or text in HELPER_CLASSES:
        text = "Model" + text
    return text


def fit(line: str, indent: str) -> list[str]:
    """A line at `indent`; a trailing comment that makes it too long goes above it."""
    at = _find_code(line, "  # ")
    code, comment = (line, "") if at < 0 else (line[:at], line[at + 4:])
    lead = indent + code[: len(code) - len(code.lstrip())]
    if at >= 0 and len(indent + line) > WIDTH:
        return [f"{lead}# {comment}", *_wrap(indent + code)]
    return _wrap(indent + line)


def _wrap(line: str) -> list[str]:
    """A statement too long for one line, broken after the call that follows its `=`."""
    at = _find_code(line, "(", max(line.find(" = "), 0))
    if len(line) <= WIDTH or at < 0 or '"""' in line:
        return [line]
    lead = line[: len(line) - len(line.lstrip())]
    return [line[: at + 1], lead + INDENT + line[at + 1:]]


def _find_code(line: str, needle: str, start: int = 0) -> int:
    """Where `needle` first is in `line` at or after `start`, outside its string literals
    and before its comment (a data path may hold `(` or `  # `: the line is never cut
    there); -1 if nowhere."""
    quote, i = "", 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif i >= start and line.startswith(needle, i):
            return i
        elif ch == "#":  # a comment: its quotes are only text
            return -1
        i += 1
    return -1


def block(lines: list[str], depth: int) -> list[str]:
    return [out for line in lines for out in fit(line, INDENT * depth)]


def docstring(text: str, depth: int) -> list[str]:
    """`text` as a docstring at `depth`: one line where it fits, else broken between words,
    never inside a shape's parentheses (the writers' own text: nothing in it to escape)."""
    lead = INDENT * depth
    words = re.split(r" (?![^()]*\))", text)  # `(B, 10)` is one word
    lines, line = [], f'{lead}"""{words[0]}'
    for word in words[1:]:
        if len(line) + 1 + len(word) + len('"""') > WIDTH:
            lines.append(line)
            line = lead + word
        else:
            line += " " + word
    return [*lines, line + '"""']


@dataclass
class ModuleText:
    """The class's source, and what the rest of the file needs to know of it."""

    name: str
    lines: list[str]
    renamed: list[tuple[str, str | None]] = field(default_factory=list)
    weights: dict[str, tuple[str, ...]] = field(default_factory=dict)  # nid -> weight paths
    outputs: dict[str, str] = field(default_factory=dict)  # forward's dict: key -> variable
    attrs: dict[str, str] = field(default_factory=dict)  # nid -> its layer's attribute
    moded: set[str] = field(default_factory=set)  # nids whose lines read self.training


def write_module(net: Network, spec: Spec, owned: list[tuple[str, str, str, str]],
                 contractive: bool, noises: list[list[str]] | None = None) -> ModuleText:
    """The class; `owned` are the loss terms' parameters (attr, ctor, compiled key, doc);
    `noises` (a spec whose phases corrupt x otherwise: aespec/emit/phases.py): the phases'
    own `corrupt_NAME` methods, and forward applies the one `self.noise` names."""
    g, outs = net.g, net.g.outputs
    fwd = Segment(net, net.enc_in, "x", env=condition.env(g)).through(outs["decoder"])
    text = ModuleText(class_name(spec.name), [])
    text.outputs = _outputs(net, fwd, contractive)
    head = None
    if net.head_source is not None:  # its lines end forward; its layers follow the others'
        head = head_segment(net, fwd.var(net.head_source))
        fwd.lines += head.lines
        fwd.layers += head.layers
        fwd.written.update(head.written)
        text.outputs["class_logits"] = head.var(outs["head"])
    lines = [f"class {text.name}(nn.Module):", *_class_doc(spec, g), "",
             f"{INDENT}def __init__(self):", f"{INDENT * 2}super().__init__()"]
    own = corrupt_method(net)
    lines += init_lines(net, spec, fwd, owned, None if noises is None else bool(own))
    lines += own
    for method in noises or []:
        lines += method
    lines += _forward(net, fwd, text.outputs, contractive, noises is not None)
    lines += _encode(net)
    lines += _classify(net)
    lines += _decode(net)
    lines += _sample(net)
    while lines[-1] == "":
        lines.pop()
    text.lines = lines
    text.attrs = {nid: attr for nid, attr, _ in fwd.layers}
    text.moded = {nid for nid, w in fwd.written.items()
                  if any("self.training" in line for line in w.lines)}
    for nid, w in fwd.written.items():
        text.renamed += list(w.renamed)
        text.weights[nid] = w.weights
    text.renamed += [(key, attr) for attr, _, key, _ in owned]
    return text


def _classify(net: Network) -> list[str]:
    """`classify(x)`: the head's class scores of x, as aespec's `classify`; no head: none."""
    if net.head_source is None:
        return []
    seg = Segment(net, net.enc_in, "x").through(net.head_source)
    head = head_segment(net, seg.var(net.head_source))
    doc = [f'{INDENT * 2}"""The head\'s class scores (logits, B x classes) of x, no noise; in '
           ".eval() mode", f'{INDENT * 2}as aespec\'s classify (z = mu, no dropout)."""']
    return [f"{INDENT}def classify(self, x):", *doc, *block(seg.lines + head.lines, 2),
            f"{INDENT * 2}return {head.var(net.g.outputs['head'])}", ""]


def _class_doc(spec: Spec, g) -> list[str]:
    doc = (spec.doc or f"The autoencoder of {spec.name}").rstrip(".") + "."
    first = f'{INDENT}"""{clip(doc, WIDTH - 7)}'
    rest = [f"{INDENT}input {shape_text(g.input)} -> code z {shape_text(g.z)}"
            f" -> output {shape_text(g.output)}; {g.params:,} parameters."]
    k = condition.classes(g)
    if k is not None:  # `condition labels(k)`: the class is every method's input too
        rest.append(f"{INDENT}It reads the examples' classes too, as one-hot labels y "
                    f"(B, {k}).")
    return [first, "", *rest, f'{INDENT}"""']


def init_lines(net: Network, spec: Spec, fwd: Segment, owned: list,
               noise: bool | None = None) -> list[str]:
    """The layers in forward order, each group under the spec line it comes from; with
    `noise` not None (a spec whose phases corrupt x otherwise) `self.noise` too, the
    method forward corrupts x with (True: `corrupt`, the spec's noise)."""
    source = spec.source.split("\n")  # the lines the spans count (not str.splitlines's)
    lines, last = [], None
    for nid, attr, ctor in fwd.layers:
        d = net.g.nodes[nid]
        where = (d.block, d.span.line)
        if where != last:
            text = source[d.span.line - 1].split("#")[0].strip() if 0 < d.span.line <= \
                len(source) else d.op
            lines.append(clip(f"# {d.block}, line {d.span.line}: {text}", WIDTH - 8,
                              comment_text))
            last = where
        shape = "" if "  # " in ctor else f"  # -> {shape_text(d.out_shape)}"
        lines.append(f"self.{attr} = {ctor}{shape}")
    for attr, ctor, _, doc in owned:
        lines += [f"# {doc}", f"self.{attr} = {ctor}"]
    if noise is not None:
        lines += ["# the noise forward applies in training, a method; each phase sets its own",
                  f"self.noise = {'self.corrupt' if noise else 'None'}"]
    return block(lines + glorot_lines(spec, [ctor for _, _, ctor in fwd.layers]), 2) + [""]


def glorot_lines(spec: Spec, ctors: list[str]) -> list[str]:
    """The loop that gives the layers aespec's first weights under `train { init_weights
    glorot }` (compile/init.py), after every layer is built, in the order aespec sets them."""
    kinds = sorted({m.group(1) for c in ctors for m in _LAYER_CTOR.finditer(c)},
                   key=_LAYER_KINDS.index)
    if spec.train.init_weights != "glorot" or not kinds:
        return []
    classes = ", ".join(f"nn.{k}" for k in kinds) + ("," if len(kinds) == 1 else "")
    return ["# first weights as aespec's default (train { init_weights glorot }): Glorot",
            "# uniform weights and zero biases, Keras's Dense and Conv default",
            "for layer in self.modules():",
            f"    if isinstance(layer, ({classes})):",
            "        nn.init.xavier_uniform_(layer.weight)",
            "        if layer.bias is not None:",
            "            nn.init.zeros_(layer.bias)"]


# the torch layers compile/init.py sets, as the emitted constructors name them
_LAYER_KINDS = ["Linear", "Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]
_LAYER_CTOR = re.compile(r"\bnn\.(" + "|".join(_LAYER_KINDS) + r")\(")


def corrupt_method(net: Network, name: str = "corrupt", whose: str = "The spec's"
                   ) -> list[str]:
    """`def corrupt(self, x)`: the graph's noise ops in order; none: no lines."""
    noise = [n for n in net.order if net.g.nodes[n].block == "noise"]
    if not noise:
        return []
    seg = Segment(net, "input", "x").through(noise[-1])
    head = [f"{INDENT}def {name}(self, x):",
            *docstring(f"{whose} noise, applied left to right (forward applies it in "
                       "training only).", 2)]
    return head + block(seg.lines, 2) + [f"{INDENT * 2}return x", ""]


def _outputs(net: Network, fwd: Segment, contractive: bool) -> dict[str, str]:
    outs = {"x_hat": fwd.var(net.roles["x_hat"]), "z": fwd.var(net.roles["z"])}
    if "logits" in net.roles:
        outs["logits"] = fwd.var(net.roles["logits"])
    if net.latent is not None:
        outs["mu"], outs["logvar"] = "mu", "logvar"
        if net.g.nodes[net.latent].args.iw > 1:  # the importance-weighted bound weighs them
            outs["draws"] = fwd.var(net.latent)
    for nid in net.reg_targets + [source for _, source in net.adders]:
        var = fwd.var(nid)
        outs.setdefault(var, var)
    for nid in net.aux:  # the term an op gives beside its value (vq's)
        outs[f"{nid}_loss"] = f"{nid}_loss"
    if contractive:
        outs["x"] = "x"
    return outs


def _forward(net: Network, fwd: Segment, outputs: dict[str, str], contractive: bool,
             switched: bool = False) -> list[str]:
    k = condition.classes(net.g)
    if k is not None:  # a conditional model's: its docstring broken where it is long
        doc = docstring(f"The whole network on a batch x {_batch(net.g.input)} of one-hot "
                        f"labels y {_batch((k,))}: a dict of {', '.join(outputs)}.", 2)
    else:
        line = f'{INDENT * 2}"""The whole network on a batch x {_batch(net.g.input)}: ' \
            f'a dict of {", ".join(outputs)}."""'
        doc = [line] if len(line) <= WIDTH else [
            f'{INDENT * 2}"""The whole network on a batch x: a dict of what the loss reads."""']
    lines = [f"{INDENT}def forward(self, x{condition.y_arg(net.g)}):", *doc]
    body = []
    if switched:  # the phase's noise
        body += ["if self.training and self.noise is not None:  # the phase's noise, in "
                 "training only", "    x = self.noise(x)  # the loss target stays clean"]
    elif any(net.g.nodes[n].block == "noise" for n in net.order):
        body += ["if self.training:  # noise in training only; the loss target stays clean",
                 "    x = self.corrupt(x)"]
    if contractive:
        body += ["if not x.requires_grad:  # the contractive penalty differentiates h by x",
                 "    x = x.detach().requires_grad_()"]
    body += fwd.lines
    entries = [f'"{k}": {v}' for k, v in outputs.items()]
    ret = "return {" + ", ".join(entries) + "}"
    if len(INDENT * 2 + ret) > WIDTH:
        body += ["return {"] + [f"    {e}," for e in entries] + ["}"]
    else:
        body.append(ret)
    return lines + block(body, 2) + [""]


def _batch(shape) -> str:
    return "(B, " + ", ".join(map(str, shape)) + ")"


def _encode(net: Network) -> list[str]:
    g = net.g
    seg = Segment(net, net.enc_in, "x", env=condition.env(g)).through(net.roles["z"])
    if condition.classes(g) is not None:
        doc = docstring("The code z of x given its one-hot labels y, no noise; in .eval() "
                        "mode as aespec's encode (z = mu, no dropout).", 2)
    else:
        doc = [f'{INDENT * 2}"""The code z of x, no noise; in .eval() mode as aespec\'s encode '
               '(z = mu, no dropout)."""']
    return [f"{INDENT}def encode(self, x{condition.y_arg(g)}):", *doc,
            *block(seg.lines, 2), f"{INDENT * 2}return {seg.var(net.roles['z'])}", ""]


def _decode(net: Network) -> list[str]:
    g, k = net.g, condition.classes(net.g)
    head = [f"{INDENT}def decode(self, z{condition.y_arg(g)}):"]
    try:
        seg = Segment(net, net.roles["z"], "z", env=condition.env(g)).through(
            net.roles["x_hat"])
    except Unavailable as gap:
        return head + _refusal(net, gap, "decoded")
    if k is not None:
        doc = docstring(f"The reconstruction x_hat, in data space, of codes z {_batch(g.z)} "
                        f"given one-hot labels y {_batch((k,))}.", 2)
    else:
        doc = [f'{INDENT * 2}"""The reconstruction of codes z {_batch(g.z)} (x_hat, in data '
               'space)."""']
    return head + [*doc, *block(seg.lines, 2),
                   f"{INDENT * 2}return {seg.var(net.roles['x_hat'])}", ""]


def _refusal(net: Network, gap: Unavailable, what: str) -> list[str]:
    d = net.g.nodes[gap.nid]
    label = d.args.name
    why = f"{d.op}({label}) joins {label}, computed before z"
    use = f"forward(x{condition.y_arg(net.g)})"
    return [f'{INDENT * 2}"""Not available: {why}, so z alone cannot be {what}."""',
            f"{INDENT * 2}raise NotImplementedError(",
            f'{INDENT * 3}"{why}: z alone cannot be {what}; use {use}"', f"{INDENT * 2})",
            ""]


def _gibbs_sample(net: Network) -> list[str]:
    """An energy model's `sample` (an rbm's): its Gibbs chains' hidden states, decoded."""
    sampler = next((n for n in net.order if net.g.nodes[n].place == "layer" and
                    get_op("layer", net.g.nodes[n].op).generative), None)
    if sampler is None:
        return []
    return [f"{INDENT}def sample(self, n, generator=None):",
            *docstring(f"n draws of the {net.g.nodes[sampler].op}'s Gibbs chains (`steps` "
                       "steps from noise), decoded (in .eval() mode, as aespec's sample).", 2),
            *block([f"z = self.{sampler}.generate(n, generator)", "return self.decode(z)"], 2),
            ""]


def _sample(net: Network) -> list[str]:
    prior = net.g.prior
    if prior is None:
        return _gibbs_sample(net)
    g, k = net.g, condition.classes(net.g)
    shape = g.nodes[prior].output_shape()
    dims = ", ".join(map(str, shape))
    of = "of the latent, decoded" if prior == net.latent else \
        "(the prior mmd matched the code to), decoded"
    if k is None:
        head = [f"{INDENT}def sample(self, n, generator=None):",
                *docstring(f"n draws z ~ N(0, I) {of} (in .eval() mode, as aespec's "
                           "sample).", 2)]
    else:  # the labels last, as the GAN's `sample` takes them
        head = [f"{INDENT}def sample(self, n, generator=None, y=None):",
                *docstring(f"n draws z ~ N(0, I) {of} given one-hot labels y, by default the "
                           "classes in turn (in .eval() mode, as aespec's sample).", 2)]
    try:
        name = net.names[net.owner[prior]]
        start = "z" if name == "h" else name
        seg = Segment(net, prior, start, env=condition.env(g)).through(net.roles["x_hat"])
    except Unavailable as gap:
        return [head[0]] + _refusal(net, gap, "sampled")
    like = f"self.{prior}.weight" if prior == net.latent else "next(self.parameters())"
    draw = [f"{start} = torch.randn(n, {dims}, generator=generator).to({like})"]
    if k is not None:
        draw += ["if y is None:  # the classes in turn, as aespec's sample",
                 f"    {condition.in_turn('n', start, k)}"]
    return head + block([*draw, *seg.lines], 2) + [
        f"{INDENT * 2}return {seg.var(net.roles['x_hat'])}", ""]
