"""The objective as a function: `loss_fn(model, x, target=None) -> (total, terms)`.

The terms, their names (`bce`, `0.5*mse`, `4*kl`, `l2[decoder]`, a repeated name `#2`),
their order and their reductions are those of `aespec.compile.objective`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from aespec.emit import condition
from aespec.emit.module import INDENT, block
from aespec.emit.network import Network
from aespec.emit.rules import lit, q
from aespec.errors import AespecError
from aespec.ops import get_op
from aespec.ops.anneal import weight_name


@dataclass
class Objective:
    """The loss function's lines, and what the module must own or define for it."""

    lines: list[str] = field(default_factory=list)
    owned: list[tuple[str, str, str, str]] = field(default_factory=list)  # attr, ctor, key, doc
    helpers: set[str] = field(default_factory=set)
    contractive: bool = False
    # the terms whose weight is a schedule: name -> aespec.ops.anneal.WeightSchedule
    schedules: dict[str, Any] = field(default_factory=dict)


def _weighted(name: str, weight: float) -> str:
    return name if weight == 1 else f"{weight:g}*{name}"


def _term_name(d: Any, arg: str, name: str, weight: float) -> str:
    """A term's name as aespec.compile.objective gives it: `0.5*bce`, or `warmup*bce` for a
    weight written as a schedule."""
    schedule = dict(d.schedules).get(arg)
    return weight_name(schedule.kind, name) if schedule is not None else _weighted(name, weight)


def weight_expr(obj: Objective, name: str, weight: float) -> str:
    """The weight of term `name` as the loss function writes it: `0.5`, or the schedule's
    `weight("warmup*kl", model)` (its value now in training, settled in evaluation)."""
    return f"weight({q(name)}, model)" if name in obj.schedules else lit(weight)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return out


def plan_objective(net: Network) -> Objective:
    """The terms' code; `write_loss_fn` wraps it once the module's outputs are known."""
    obj = Objective()
    obj.contractive = any(get_op("regularizer", net.g.nodes[n].op).jacobian
                          for n in net.g.of_kind("regularizer"))
    return obj


def write_loss_fn(net: Network, obj: Objective, outputs: dict[str, str],
                  weights: dict[str, tuple[str, ...]]) -> list[str]:
    """`def loss_fn(...)`: reconstruction terms, the KL of a latent, the regularizers."""
    g = net.g
    losses, regs = net.g.of_kind("loss"), net.g.of_kind("regularizer")
    names = [_term_name(g.nodes[n], "weight", g.nodes[n].op, g.nodes[n].weight)
             for n in losses]
    if net.latent is not None:
        names.append(_term_name(g.nodes[net.latent], "beta", "kl",
                                g.nodes[net.latent].args.beta))
    names += [str(get_op("layer", g.nodes[n].op).aux_loss) for n in net.aux]
    names += [str(get_op("layer", g.nodes[n].op).adds_term) for n, _ in net.adders]
    names += [f"{g.nodes[n].op}[{g.nodes[n].target}]" if g.nodes[n].target
              else g.nodes[n].op for n in regs]
    names = _unique(names)
    # the node that weighs each term, in the order of `names` (ops' own terms: none)
    owners = [*losses, *([net.latent] if net.latent is not None else []),
              *[None] * (len(net.aux) + len(net.adders)), *regs]
    obj.schedules = {name: s for nid, name in zip(owners, names, strict=True) if nid
                     for _, s in g.nodes[nid].schedules}
    y = condition.y_arg(g)  # a conditional model's labels are an input; its target is x
    head = net.head_source is not None  # a head's labels are loss_fn's; its target is x
    body = ["target = x" if y or head else "target = x if target is None else target",
            f"out = model(x{y})", "terms = {}"]
    iw = g.nodes[net.latent].args.iw if net.latent is not None else 1
    if iw > 1:  # the checks let through one reconstruction term, a likelihood
        body += _iwae_lines(net, obj, losses[0], iw, outputs)
        names = ["iwae", *names[len(losses) + 1:]]
        losses = ["iwae"]
    else:
        body += _recon_lines(net, obj, losses, names[:len(losses)], outputs)
    rest = names[len(losses):]
    if net.latent is not None and iw == 1:
        beta = g.nodes[net.latent].args.beta
        body += ['mu, logvar = out["mu"], out["logvar"]',
                 "kl = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).flatten(1).sum(1)"
                 "  # per example",
                 f"terms[{q(rest[0])}] = " + ("kl.mean()" if beta == 1 and
                                             rest[0] not in obj.schedules else
                                             f"{weight_expr(obj, rest[0], beta)} * kl.mean()")]
        rest = rest[1:]
    for nid in net.aux:  # the term the op gave beside its value
        body.append(f"terms[{q(rest[0])}] = out[{q(nid + '_loss')}]")
        rest = rest[1:]
    for nid, source in net.adders:  # the term the op's module adds on its input
        body.append(f"terms[{q(rest[0])}] = model.{nid}.term(out[{q(net.var(source))}])")
        rest = rest[1:]
    for nid, name in zip(regs, rest, strict=True):
        body += _regularizer_lines(net, obj, nid, name, outputs, weights)
    if "xent" in g.nodes:
        body += _xent_lines(net)
    body.append("return sum(terms.values()), terms")
    if head:
        k = g.nodes[g.outputs["head"]].output_shape()[0]
        doc = [f'{INDENT}"""The spec\'s objective on a batch x of one-hot class labels (B, {k}): '
               "(total, terms by", f"{INDENT}name), as aespec computes it.", "",
               f"{INDENT}The target is the clean x; in training the model corrupts x itself.",
               f'{INDENT}"""']
    elif y:
        doc = [f'{INDENT}"""The spec\'s objective on a batch x of one-hot labels y: (total, '
               "terms by name), as", f"{INDENT}aespec computes it.", "",
               f"{INDENT}The target is the clean x; in training the model corrupts x itself.",
               f'{INDENT}"""']
    else:
        doc = [f'{INDENT}"""The spec\'s objective on a batch: (total, terms by name), as '
               "aespec computes it.", "",
               f"{INDENT}`target` defaults to the clean x; in training the model corrupts x "
               "itself.", f'{INDENT}"""']
        if g.masked:  # missing=nan: say what x and target hold
            doc[-1:] = [f"{INDENT}A NaN in `target` is an unobserved entry, which the loss "
                        "skips; x must have", f"{INDENT}none (aespec fills each with the "
                        "value's mean over the observed training", f"{INDENT}entries, or 0 "
                        "with fill=zero).", f'{INDENT}"""']
    second = ", labels" if head else y or ", target=None"
    first = [f"def loss_fn(model, x{second}):", *doc]
    if obj.contractive:
        inner = ["with torch.enable_grad():  # the contractive term needs dh/dx, even in "
                 "evaluation"] + [INDENT + line for line in body]
        return first + block(inner, 1)
    return first + block(body, 1)


def _xent_lines(net: Network) -> list[str]:
    """The head's term: `weight * cross_entropy(class_logits, class)`, as the compiled
    model's `_head_terms` (the labels repeated for L draws of the code, stacked
    draw-major)."""
    weight = net.g.nodes["xent"].weight
    lines = ["k = labels.argmax(1)  # each example's class"]
    latent = net.g.nodes[net.latent].args if net.latent is not None else None
    if latent is not None and latent.samples * latent.iw > 1:
        lines += ['if out["class_logits"].shape[0] != k.shape[0]:  # L draws of the code each',
                  '    k = k.repeat(out["class_logits"].shape[0] // k.shape[0])']
    ce = 'F.cross_entropy(out["class_logits"], k)'
    name = _weighted("xent", weight)
    lines.append(f"terms[{q(name)}] = " + (ce if weight == 1 else f"{lit(weight)} * {ce}")
                 + "  # the head's, on the labels")
    return lines


def _recon_lines(net: Network, obj: Objective, losses: list[str], names: list[str],
                 outputs: dict[str, str]) -> list[str]:
    g, lines = net.g, []
    shape = g.shape_of("decoder")
    summed = False
    draws = net.latent is not None and getattr(g.nodes[net.latent].args, "samples", 1) > 1
    if draws:
        lines += ["if target.shape[0] != out[\"x_hat\"].shape[0]:  # L draws per example",
                  '    target = tile_draws(target, out["x_hat"])']
        obj.helpers.add("tile_draws")
    if g.masked:  # data with missing=nan
        lines += ["observed = ~target.isnan()  # NaN: an unobserved entry, which the loss skips",
                  "target = target.nan_to_num()"]
        obj.helpers.add("observed_only")
    for nid, name in zip(losses, names, strict=True):
        d = g.nodes[nid]
        logits = get_op("loss", d.op).needs_unit_output and "logits" in outputs
        pred = 'out["logits"]' if logits else 'out["x_hat"]'
        reduce = d.args.reduce or ("sum" if net.latent is not None else "mean")
        rule = get_op("loss", d.op).emit_term
        if rule is None:
            raise AespecError.of("E313", f"aespec emit has no PyTorch form for the loss "
                                 f"'{d.op}'", d.span, "give the op an emit rule in "
                                 "aespec/ops")
        term = rule(d.args, nid, pred, "target", logits, "none" if g.masked else reduce, shape)
        if g.masked:
            term = dataclasses.replace(
                term, expr=f'observed_only({term.expr}, observed, "{reduce}")')
        obj.helpers.update(term.helpers)
        obj.owned += [(attr, ctor, key, f"the learned log variance of {d.op} (line "
                       f"{d.span.line}), one per output value") for attr, ctor, key
                      in term.owned]
        weight = d.weight if name not in obj.schedules else None
        factor = weight_expr(obj, name, d.weight)
        if reduce == "sum":
            if not summed:
                lines.append('n = out["x_hat"].shape[0]  # examples (and draws)')
                summed = True
            expr = f"{term.expr} / n" if weight == 1 else f"{factor} * {term.expr} / n"
            comment = ("  # sum over each example's observed values, mean over the batch"
                       if g.masked else "  # sum over each example, mean over the batch")
        else:
            expr = term.expr if weight == 1 else f"{factor} * {term.expr}"
            comment = "  # mean over the observed values" if g.masked else \
                "  # mean over every value"
        lines.append(f"terms[{q(name)}] = {expr}{comment}")
    return lines


def _iwae_lines(net: Network, obj: Objective, nid: str, k: int, outputs: dict[str, str]
                ) -> list[str]:
    """`terms["iwae"]`: minus the importance-weighted bound of the K draws in training;
    reconstruction + KL at evaluation (z = mu, one draw), as aespec computes it."""
    g, d = net.g, net.g.nodes[nid]
    opdef = get_op("loss", d.op)
    logits = opdef.needs_unit_output and "logits" in outputs
    pred = 'out["logits"]' if logits else 'out["x_hat"]'
    reduce = d.args.reduce or "sum"
    rule = opdef.emit_term
    assert rule is not None  # every loss with a likelihood reading has one
    term = rule(d.args, nid, pred, "target", logits, "none", g.shape_of("decoder"))
    obj.helpers.update(term.helpers, {"tile_draws", "log_importance_weights", "iwae_loss"})
    obj.owned += [(attr, ctor, key, f"the learned log variance of {d.op} (line "
                   f"{d.span.line}), one per output value") for attr, ctor, key in term.owned]
    per = "sum(1)" if reduce == "sum" else "mean(1)"
    weight = "" if d.weight == 1 else f"{lit(d.weight)} * "
    return ['mu, logvar = out["mu"], out["logvar"]',
            'if target.shape[0] != out["x_hat"].shape[0]:  # L*K draws per example',
            '    target = tile_draws(target, out["x_hat"])',
            f"nll = {weight}{term.expr}.flatten(1).{per}  # -log p(x|z) less its constant, "
            "per row",
            'if out["draws"].shape[0] == mu.shape[0]:  # evaluation, z = mu: recon + KL',
            "    kl = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).flatten(1).sum(1)",
            '    terms["iwae"] = nll.mean() + kl.mean()',
            "else:  # -log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x), averaged over L groups",
            '    log_w = log_importance_weights(nll, out["draws"], mu, logvar)',
            f'    terms["iwae"] = iwae_loss(log_w, {k})']


def _regularizer_lines(net: Network, obj: Objective, nid: str, name: str,
                       outputs: dict[str, str], weights: dict[str, tuple[str, ...]]
                       ) -> list[str]:
    d = net.g.nodes[nid]
    opdef = get_op("regularizer", d.op)
    rule = opdef.emit_penalty
    if rule is None:
        raise AespecError.of("E313", f"aespec emit has no PyTorch form for the regularizer "
                             f"'{d.op}'", d.span, "give the op an emit rule in aespec/ops")
    if opdef.acts_on == "weights":
        found: list[str] = []
        for t in d.targets:
            found += [w for w in weights.get(t, ()) if w not in found]
        if not found:
            return [f"terms[{q(name)}] = out[\"x_hat\"].new_zeros(())  # the target has no "
                    "weights"]
        items = [f"model.{w}" for w in found]
        one = "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        lines, helpers = rule(_unweighted(obj, name, d.args), "weights", q(name))
        lines = [*lines, *_scheduled(obj, name)]
        if len(one) + 20 < 90:
            return [f"weights = {one}", *lines]
        return ["weights = (", *[f"    {w}," for w in items], ")", *lines]
    h = f"out[{q(net.var(d.targets[0]))}]"
    lines, helpers = rule(_unweighted(obj, name, d.args), h, q(name))
    obj.helpers.update(helpers)
    return [*lines, *_scheduled(obj, name)]


def _unweighted(obj: Objective, name: str, args: Any) -> Any:
    """A scheduled regularizer's arguments at weight 1: the schedule weighs its penalty."""
    return args.model_copy(update={"weight": 1.0}) if name in obj.schedules else args


def _scheduled(obj: Objective, name: str) -> list[str]:
    if name not in obj.schedules:
        return []
    return [f"terms[{q(name)}] = {weight_expr(obj, name, 1.0)} * terms[{q(name)}]"
            f"  # {obj.schedules[name].text()}"]
