"""A GAN's graph IR -> the emitted file's parts: `Generator` and `Discriminator` modules,
the game's two objectives (`d_loss`, `g_loss`, and `gradient_penalty` or `clip_weights`
where the spec has them), the state_dict loader and the alternating training loop.

The two modules are written as the autoencoder's is (aespec/emit/module.py): each layer by
its op's emit rule, named by node id.  The generator's segment runs from `z` to the
decoder's last node, the discriminator's from there (its input `x`, real or generated) to
its score, as aespec/compile/gan.py cuts the graph.  A conditional GAN's networks, its
objectives and `sample` take the one-hot labels `y` as their last argument.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aespec.emit import condition
from aespec.emit.module import INDENT, WIDTH, block, init_lines
from aespec.emit.network import Network, Segment, name_values, rule_of, shape_text
from aespec.emit.rules import NOOP, lit, q
from aespec.emit.script import description, left_out, optimizer_call, wrap_comment
from aespec.emit.strings import clip
from aespec.model import Spec
from aespec.ops.adversarial import ADVERSARIAL

if TYPE_CHECKING:
    from aespec.graph.ir import IR

NETWORKS = ("generator", "discriminator")


@dataclass
class GANText:
    """The two classes' source, and the compiled keys they name otherwise."""

    parts: list[list[str]]  # each class, then `sample`
    renamed: list[tuple[str, str | None]] = field(default_factory=list)


def analyse_gan(g: IR) -> Network:
    """Owners and names of a GAN graph's values: `x_hat` G's output, `score` D's."""
    net = Network(g)
    for i, nid in enumerate(g.order):
        d = g.nodes[nid]
        noop = d.kind != "input" and rule_of(d) == NOOP
        net.owner[nid] = net.owner[g.order[i - 1]] if noop else nid
    net.provide_labels()  # a conditional GAN's labels: both networks' second argument
    net.roles = {"x_hat": g.outputs["decoder"], "score": g.outputs["discriminator"]}
    name_values(g, net)
    return net


def write_networks(net: Network, spec: Spec) -> GANText:
    """`class Generator` and `class Discriminator`, each a segment of the graph."""
    g, outs = net.g, net.g.outputs
    env = condition.env(g)
    gen = Segment(net, "z", "z", env=dict(env)).through(outs["decoder"])
    dis = Segment(net, outs["decoder"], "x", env=dict(env)).through(outs["discriminator"])
    z, x = g.nodes["z"].output_shape(), g.input
    text = GANText([])
    for name, seg, arg, shape, out in (("generator", gen, "z", z, "x_hat"),
                                       ("discriminator", dis, "x", x, "score")):
        text.parts.append(_network_class(net, spec, name, seg, arg, shape, out))
        for w in seg.written.values():
            text.renamed += [(name + "." + key.removeprefix("net."), new)
                             for key, new in w.renamed]
    text.parts.append(_sample(z, condition.classes(g)))
    return text


def _network_class(net: Network, spec: Spec, name: str, seg: Segment, arg: str,
                   shape: tuple[int, ...], out: str) -> list[str]:
    params = sum(net.g.nodes[n].params for n in seg.written)
    result = "samples in data space" if name == "generator" else "one raw score each"
    y, k = condition.y_arg(net.g), condition.classes(net.g)
    given = "" if k is None else condition.given(k)
    doc = clip(f"The {name} of {spec.name}.", WIDTH - 7)
    lines = [f"class {name.title()}(nn.Module):", f'{INDENT}"""{doc}', "",
             f"{INDENT}{arg} {shape_text(shape)} -> {result}{given}; {params:,} parameters.",
             f'{INDENT}"""', "",
             f"{INDENT}def __init__(self):", f"{INDENT * 2}super().__init__()",
             *init_lines(net, spec, seg, []),
             f"{INDENT}def forward(self, {arg}{y}):",
             f'{INDENT * 2}"""{"G" if name == "generator" else "D"}({arg}{y}) of a batch '
             f'{arg} (B, {", ".join(map(str, shape))})."""',
             *block(seg.lines, 2), f"{INDENT * 2}return {seg.var(net.roles[out])}"]
    return lines


def _sample(z: tuple[int, ...], k: int | None) -> list[str]:
    dims = ", ".join(map(str, z))
    if k is None:
        return ["def sample(generator_net, n, generator=None):",
                f'{INDENT}"""n samples of z ~ N(0, I) (call it in .eval() mode, as aespec\'s '
                'sample)."""',
                f"{INDENT}p = next(generator_net.parameters())",
                f"{INDENT}z = torch.randn(n, {dims}, generator=generator).to(p)",
                f"{INDENT}return generator_net(z)"]
    return ["def sample(generator_net, n, generator=None, y=None):",
            f'{INDENT}"""n samples of z ~ N(0, I) of one-hot labels y, by default the classes '
            "in turn",
            f'{INDENT}(call it in .eval() mode, as aespec\'s sample)."""',
            f"{INDENT}p = next(generator_net.parameters())",
            f"{INDENT}z = torch.randn(n, {dims}, generator=generator).to(p)",
            f"{INDENT}if y is None:",
            f"{INDENT * 2}{condition.in_turn('n', 'p', k)}",
            f"{INDENT}return generator_net(z, y.to(p))"]


def write_losses(graph: IR) -> list[str]:
    """`d_loss`, `g_loss` and the gradient penalty or weight clipping of the spec's game."""
    game = graph.nodes["adversarial"].args
    rule = ADVERSARIAL[game.kind]
    score = "torch.sigmoid({}).mean()" if rule.logit else "{}.mean()"
    y = condition.y_arg(graph)
    body = [f"s_real, s_fake = discriminator(real{y}), discriminator(fake{y})",
            f"loss = {rule.d_source}",
            "with torch.no_grad():",
            f'    terms = {{"d_real": {score.format("s_real")}, '
            f'"d_fake": {score.format("s_fake")}}}']
    if game.kind == "wasserstein":
        body.append('    terms["wasserstein"] = s_real.mean() - s_fake.mean()')
    if game.gradient_penalty > 0:
        body += [f"gp = {lit(game.gradient_penalty)} * gradient_penalty(discriminator, real, "
                 f"fake{y})",
                 'loss, terms["gradient_penalty"] = loss + gp, gp.detach()']
    lines = [f"def d_loss(discriminator, real, fake{y}):",
             f'{INDENT}"""D\'s objective ({game.kind}) on real and generated examples '
             '(detached), and its parts."""',
             *block([*body, "return loss, terms"], 1), "", "",
             f"def g_loss(discriminator, fake{y}):",
             f'{INDENT}"""G\'s objective on generated examples (with their graph)."""',
             f"{INDENT}s_fake = discriminator(fake{y})",
             f"{INDENT}return {rule.g_source}"]
    if game.gradient_penalty > 0:
        lines += ["", "", *_penalty(y)]
    if game.clip is not None:
        lines += ["", "", "def clip_weights(discriminator):",
                  f'{INDENT}"""WGAN\'s clipping: every weight of D into [-c, c], after each '
                  'of its steps."""',
                  f"{INDENT}with torch.no_grad():",
                  f"{INDENT * 2}for p in discriminator.parameters():",
                  f"{INDENT * 3}p.clamp_({lit(-game.clip)}, {lit(game.clip)})"]
    return lines


def _penalty(y: str) -> list[str]:
    """`gradient_penalty`, as GANModel.gradient_penalty computes it."""
    return [
        f"def gradient_penalty(discriminator, real, fake{y}):",
        '    """(|grad D(x~)| - 1)^2 averaged over x~ = e x + (1 - e) G(z), e ~ U(0, 1) per '
        "example",
        '    (Gulrajani et al., 2017)."""',
        "    e = torch.rand((len(real),) + (1,) * (real.dim() - 1), device=real.device)",
        "    mixed = (e * real.detach() + (1 - e) * fake.detach()).requires_grad_(True)",
        f"    score = discriminator(mixed{y})",
        "    grad, = torch.autograd.grad(score.sum(), mixed, create_graph=True)",
        "    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()",
    ]


def write_gan_state_loader(renamed: list[tuple[str, str | None]]) -> list[str]:
    """`AESPEC_KEYS` and `load_aespec_state_dict`: a compiled GANModel's keys, read here."""
    lines = ["# aespec's compiled GANModel (aespec.build(spec), a run's checkpoint) keeps the",
             "# generator's layers under `generator.` and the discriminator's under",
             "# `discriminator.`, each named by node id as here; these keys have other names",
             "# (None: a tied weight aespec stores twice, this file once)."]
    if not renamed:
        lines.append("AESPEC_KEYS = {}")
    else:
        lines += ["AESPEC_KEYS = {",
                  *(f"    {q(key)}: {q(new) if new else 'None'}," for key, new in renamed),
                  "}"]
    return lines + [
        "", "",
        "def load_aespec_state_dict(generator, discriminator, state_dict):",
        f'{INDENT}"""Load a compiled GANModel\'s state_dict into the two modules, strictly."""',
        f"{INDENT}parts = {{\"generator\": {{}}, \"discriminator\": {{}}}}",
        f"{INDENT}for key, value in state_dict.items():",
        f"{INDENT * 2}network, _, rest = key.partition(\".\")",
        f"{INDENT * 2}new = AESPEC_KEYS.get(key, rest)",
        f"{INDENT * 2}if new is not None:",
        f"{INDENT * 3}parts[network][new] = value",
        f"{INDENT}generator.load_state_dict(parts[\"generator\"], strict=True)",
        f"{INDENT}discriminator.load_state_dict(parts[\"discriminator\"], strict=True)"]


def write_gan_training(spec: Spec, graph: IR) -> list[str]:
    """`train(generator, discriminator, x, ...)`, aespec's alternating steps, and `__main__`;
    a conditional GAN's also reads the labels `load_data` returns, one-hot."""
    t, game = spec.train, graph.nodes["adversarial"].args
    y, k = condition.y_arg(graph), condition.classes(graph)
    dims = ", ".join(map(str, graph.nodes["z"].output_shape()))
    opt_d = optimizer_call(spec, t.discriminator_optimizer or t.optimizer,
                       "discriminator.parameters()")
    labels = ", labels" if y else ""  # a conditional GAN's one-hot labels, (N, classes)
    head = [f"def train(generator, discriminator, x{labels}, epochs={t.epochs}, batch={t.batch}, "
            f"steps={t.discriminator_steps}):",
            f'{INDENT}"""Each batch: `steps` updates of D on it and fresh samples, then one of '
            'G through',
            f"{INDENT}D's scores of the last samples (D frozen); prints each epoch's mean "
            'losses."""',
            f"{INDENT}opt_g = {optimizer_call(spec, t.optimizer, 'generator.parameters()')}",
            f"{INDENT}opt_d = {opt_d}"]
    body = ["for epoch in range(epochs):",
            "    generator.train()",
            "    discriminator.train()",
            "    order = torch.randperm(len(x), device=x.device)",
            "    total_d = total_g = 0.0",
            "    for start in range(0, len(x), batch):",
            "        idx = order[start:start + batch]",
            "        real = x[idx]",
            *(["        y = labels[idx]  # one-hot: G and D read the batch's labels"] if y else []),
            "        for i in range(steps):",
            f"            z = torch.randn(len(real), {dims}, device=x.device)",
            "            with torch.set_grad_enabled(i == steps - 1):  # G's step reads the last",
            f"                fake = generator(z{y})",
            f"            loss_d, _ = d_loss(discriminator, real, fake.detach(){y})",
            "            opt_d.zero_grad()",
            "            loss_d.backward()",
            "            opt_d.step()",
            *(["            clip_weights(discriminator)"] if game.clip is not None else []),
            "        discriminator.requires_grad_(False)  # G's step leaves D as it is",
            f"        loss_g = g_loss(discriminator, fake{y})",
            "        opt_g.zero_grad()",
            "        loss_g.backward()",
            "        opt_g.step()",
            "        discriminator.requires_grad_(True)",
            "        total_d += loss_d.item() * len(real)",
            "        total_g += loss_g.item() * len(real)",
            "    d, g = total_d / len(x), total_g / len(x)",
            '    print(f"epoch {epoch + 1}/{epochs}: D loss {d:.4f}, G loss {g:.4f}")',
            "return generator, discriminator"]
    left = "; ".join(left_out(spec))
    main = ["parser = argparse.ArgumentParser(description=" + q(description(spec)) + ")",
            f'parser.add_argument("--epochs", type=int, default={t.epochs})',
            'parser.add_argument("--limit", type=int, default=None, help="use the first N '
            'examples")',
            'parser.add_argument("--save", default=None, help="write both trained '
            'state_dicts here")',
            "args = parser.parse_args()",
            f"torch.manual_seed({t.seed})",
            'device = "cuda" if torch.cuda.is_available() else "cpu"',
            *(condition.load_lines(k) if k is not None else
              ["x = load_data(args.limit).to(device)"]),
            "generator, discriminator = Generator().to(device), Discriminator().to(device)",
            *wrap_comment(f"aespec run also does: {left}."),
            f"train(generator, discriminator, x{labels}, epochs=args.epochs)",
            "if args.save:",
            '    torch.save({"generator": generator.state_dict(),',
            '                "discriminator": discriminator.state_dict()}, args.save)']
    return block(head, 0) + block(body, 1) + ["", "", 'if __name__ == "__main__":'] + \
        block(main, 1)
