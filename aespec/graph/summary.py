"""Human summaries of a checked graph: the op table and the training objective."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aespec.ops import fmt_num, formula_text, get_op, op_text
from aespec.ops.adversarial import ADVERSARIAL

if TYPE_CHECKING:
    from aespec.graph.ir import IR

__all__ = ["Row", "fmt_num", "objective_text", "params_text", "table_rows"]


def params_text(g: IR) -> str:
    """The parameter total, and each network's where there are several: a GAN's
    `904,578 (generator 765,761, discriminator 138,817)`."""
    total = f"{g.params:,}"
    if set(g.networks) <= {"autoencoder"}:
        return total
    parts = ", ".join(f"{net} {n:,}" for net, n in g.networks.items())
    return f"{total} ({parts})"


def _weight_text(d: Any, arg: str, value: float) -> str:
    """A term's weight as the objective shows it: `0.5`, or its schedule `warmup(epochs=10)`."""
    schedule = dict(d.schedules).get(arg)
    return schedule.text() if schedule is not None else fmt_num(value)


def objective_text(g: IR) -> str:
    """The objective written out: `L = BCE(x, x̂) + 1.0·KL(q(z|x) ‖ N(0, I)) + 1e-05·Σw²`;
    a GAN's two: `D: min ...   G: min ...`."""
    if "adversarial" in g.nodes and "z" in g.nodes:  # a GAN's two objectives
        args = g.nodes["adversarial"].args
        game = ADVERSARIAL[args.kind]
        penalty = (f" + {fmt_num(args.gradient_penalty)}·E[(‖∇D(x̃)‖ − 1)²]"
                   if args.gradient_penalty else "")
        clip = f", D's weights clipped to ±{fmt_num(args.clip)}" if args.clip else ""
        return (f"D: min E[{game.discriminator}]{penalty}{clip}    "
                f"G: min E[{game.generator}]")
    terms = []
    # ops that add a term of their own on their input (an rbm's CD, a som's neighbourhood
    # distance): they train by it alone, and the reconstruction is measured
    own = [g.nodes[n] for n in g.order if g.nodes[n].place == "layer"
           and get_op("layer", g.nodes[n].op).adds_term]
    for d in g.nodes.values():
        if d.kind == "loss":
            formula = formula_text(get_op("loss", d.op), d.args)
            formula += " over observed entries" if g.masked else ""
            formula += " (measured)" if own else ""
            weight = _weight_text(d, "weight", d.weight)
            terms.append(formula if weight == "1.0" else f"{weight}·{formula}")
    for d in own:
        maker = get_op("layer", d.op)
        terms.append(maker.formula_of(d.args) if maker.formula_of else formula_text(maker, d.args))
    latent = g.latent
    given = "x, y" if "y" in g.nodes else "x"  # a conditional VAE's code sees y too
    if latent and g.nodes[latent].args.iw > 1:
        args = g.nodes[latent].args
        terms = [_importance_weighted(args.iw, given, " + ".join(terms), args.samples)]
    elif latent:
        beta = _weight_text(g.nodes[latent], "beta", g.nodes[latent].args.beta)
        terms.append(f"{beta}·KL(q(z|{given}) ‖ N(0, I))")
    for d in g.nodes.values():  # the terms ops compute themselves (vq)
        opdef = get_op("layer", d.op) if d.place == "layer" else None
        if opdef is not None and opdef.aux_loss and opdef.formula_of is not None:
            terms.append(opdef.formula_of(d.args))
    for d in g.nodes.values():
        if d.kind == "regularizer":
            args = d.args
            formula = formula_text(get_op("regularizer", d.op), args)
            on = f"[{d.target}]" if d.target else ""
            terms.append(f"{_weight_text(d, 'weight', args.weight)}·{formula}{on}")
    if "xent" in g.nodes:  # a head's cross-entropy on the data's class labels
        d = g.nodes["xent"]
        terms.append(("" if d.weight == 1 else f"{fmt_num(d.weight)}·") +
                     f"CE(y, head({_head_reads(g)}))")
    if g.is_vae_gan:
        return _vae_gan_objective(g, terms)
    if "adversarial" in g.nodes:  # an adversarial autoencoder's: its encoder fools D
        d = g.nodes["adversarial"]
        game = ADVERSARIAL[d.args.kind]
        weight = "" if d.weight == 1 else f"{fmt_num(d.weight)}·"
        generator = game.generator.replace("G(z)", "z")
        return (f"L = {' + '.join(terms)} + {weight}E[{generator}]    D: min "
                f"E[{game.discriminator.replace('D(x)', 'D(z~N(0, I))').replace('G(z)', 'z')}]"
                "    (z: the encoder's code)")
    return "L = " + " + ".join(terms)


def _head_reads(g: IR) -> str:
    """What a head reads, as the objective writes it: z (the code) or the tensor's name."""
    first = next(n for n in g.order if g.nodes[n].block == "head")
    source = g.predecessors(first)[0]
    return "z" if source == g.outputs.get("bottleneck") else \
        g.nodes[source].label or g.nodes[source].block


def _importance_weighted(k: int, given: str, recon: str, groups: int) -> str:
    """IWAE's bound: `−log (1/5) Σₖ p(x|zₖ) p(zₖ) / q(zₖ|x) over 5 draws zₖ ~ q(z|x),
    −log p(x|z) = BCE(x, x̂)`, and the number of bounds averaged (`samples=L`)."""
    mean = f", the mean of {groups} such bounds" if groups > 1 else ""
    return (f"−log (1/{k}) Σₖ p(x|zₖ) p(zₖ) / q(zₖ|{given}) over {k} draws zₖ ~ q(z|{given}), "
            f"−log p(x|z) = {recon}{mean}")


def _vae_gan_objective(g: IR, terms: list[str]) -> str:
    """A VAE-GAN's two objectives: the VAE's plus its decoder's weighted adversarial term,
    and D's, each over x̃, the reconstructions and the decoded draws of the prior."""
    d = g.nodes["adversarial"]
    game = ADVERSARIAL[d.args.kind]
    weight = "" if d.weight == 1 else f"{fmt_num(d.weight)}·"
    penalty = (f" + {fmt_num(d.args.gradient_penalty)}·E[(‖∇D(x̄)‖ − 1)²]"
               if d.args.gradient_penalty else "")
    return (f"L = {' + '.join(terms)} + {weight}E[{game.generator.replace('G(z)', 'x̃')}]    "
            f"D: min E[{game.discriminator.replace('G(z)', 'x̃')}]{penalty}    (x̃: the "
            "reconstructions x̂ and the decoded draws of N(0, I), half each)")


@dataclass(frozen=True)
class Row:
    """One line of `aespec check`'s table."""

    block: str
    line: int
    op: str
    shape: tuple[int, ...]
    params: int
    note: str


def table_rows(g: IR) -> list[Row]:
    rows = []
    for n in g.order:
        d = g.nodes[n]
        if d.kind == "input":  # x, or a GAN's z
            op = "input" if n == "input" else f"z ~ {d.op}(0, I)"
            rows.append(Row(d.block, d.span.line, op, d.output_shape(), 0, ""))
            continue
        text = op_text(get_op(d.place or "layer", d.op), d.args)
        if d.label:
            text = f"{d.label} = {text}"
        note = "mirror" if d.mirror else ""
        if d.tied_to:
            note = f"tied to line {g.nodes[d.tied_to].span.line}"
        rows.append(Row(d.block, d.span.line, text, d.output_shape(), d.params, note))
    for d in g.nodes.values():  # a loss term with parameters of its own
        if d.kind == "loss" and d.params:
            text = op_text(get_op("loss", d.op), d.args)
            rows.append(Row("loss", d.span.line, text, d.input_shape(), d.params,
                            "the term's own"))
    if "y" in g.nodes:  # the condition, after the input: a tensor the networks join
        y = g.nodes["y"]
        rows.insert(1, Row(y.block, y.span.line, f"y = {y.op}({y.output_shape()[0]}), "
                           "one-hot", y.output_shape(), 0, ""))
    return rows
