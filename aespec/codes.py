"""The catalogue of diagnostic codes: what each one means, how to fix it, and an example.

Data only.  `docs/errors.md` and `aespec explain CODE` are generated from it, and the tests
check that every code the package can report is here and that every spec example really
gives its code (see tests/test_docs.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Code:
    """One diagnostic code.

    `example` is a whole spec that `aespec check` rejects (or warns about) with this code,
    when `example_is_spec`; otherwise it says in words or commands how the code comes about
    (data, run and device codes need files or hardware that a check does not read).
    """

    code: str
    title: str
    stage: str  # read, parse, resolve, graph, checks, compile, data, run
    explanation: str
    example: str
    example_is_spec: bool = True

    @property
    def severity(self) -> str:
        return "warning" if self.code.startswith("W") else "error"


SERIES = {
    "E0": "reading the spec file",
    "E1": "syntax (the parse stage)",
    "E2": "names and arguments (the resolve stage)",
    "E3": "shapes and the graph (the graph and checks stages; E311, E312 and E316 when "
          "compiling, E313, E314 and E330 when emitting PyTorch source)",
    "W4": "warnings drawn from autoencoder theory, and GAN practice from W413 (the checks "
          "stage; exit status stays 0)",
    "E5": "data, found when it is loaded (`aespec run`, `aespec train`)",
    "E6": "training, runs, checkpoints and devices (`aespec run` and the commands that read "
          "a run)",
}


def _spec(encoder: str = "dense(32) relu", bottleneck: str = "dense(8)",
          decoder: str = "dense(64) sigmoid", input: str = "vector(64)", before: str = "",
          after: str = "") -> str:
    """A small whole spec: one line per block unless the block text has several."""
    def block(name: str, body: str) -> str:
        lines = "\n".join(f"    {line}" for line in body.split("\n"))
        return f"{name} {{\n{lines}\n}}\n"

    head = f"{before}\n" if before else ""
    return (f"{head}input {input}\n" + block("encoder", encoder)
            + block("bottleneck", bottleneck) + block("decoder", decoder)
            + (f"{after}\n" if after else ""))


_RBM = "input vector(64)\nencoder {\n}\nbottleneck {\n    rbm(32)\n}\ndecoder mirror\nloss mse\n"


def _gan(decoder: str = "dense(32) relu\ndense(64) sigmoid",
         discriminator: str = "dense(32) leaky_relu(0.2)\ndense(1)", input: str = "vector(64)",
         before: str = "", after: str = "loss adversarial(nonsaturating)") -> str:
    """A small whole GAN spec: `latent normal(8)`, a generator and a discriminator."""
    def block(name: str, body: str) -> str:
        lines = "\n".join(f"    {line}" for line in body.split("\n"))
        return f"{name} {{\n{lines}\n}}\n"

    head = f"{before}\n" if before else ""
    return (f"{head}input {input}\nlatent normal(8)\n" + block("decoder", decoder)
            + block("discriminator", discriminator) + (f"{after}\n" if after else ""))


_HEAD_SPEC = ("data digits\ninput vector(64)\nencoder {\n    dense(32) relu\n}\n"
              "bottleneck {\n    dense(8)\n}\ndecoder mirror\nhead on code {\n    HEAD\n}\n"
              "loss mse + xent\n")


_CODES = [
    # ------------------------------------------------------------ E0: reading
    Code("E001", "the spec file cannot be read", "read",
         "The file does not exist, is a directory, cannot be opened, or is not UTF-8 text.",
         "`aespec check no_such_file.ae`", False),
    Code("E002", "not a regular file", "read",
         "`aespec fmt` reads and rewrites regular files only: a directory, a FIFO (opening "
         "one waits for a writer), a device such as /dev/zero (it never ends) or a socket is "
         "refused before it is opened. `aespec check` and the other commands that read a "
         "spec refuse a FIFO or a socket too (a device is read up to the size limit, E106). "
         "Pipe such input through `aespec fmt -` or `aespec check -`, which read at most "
         "65,536 characters.",
         "`aespec fmt /dev/zero`", False),
    Code("E003", "the file is read-only", "read",
         "`aespec fmt` rewrites a file only when its owner may write it (the mode's owner "
         "write bit, whoever runs it, root too): a file made read-only is kept as it is. "
         "`aespec fmt --check` still says whether it would change.",
         "`chmod a-w model.ae; aespec fmt model.ae`", False),
    Code("E004", "too many ```ae blocks in a Markdown file", "read",
         "A Markdown page holds at most 100 ```ae blocks: each is checked as a text as long "
         "as the page, so a page of thousands of tiny blocks would take time and memory "
         "that grow with both. The diagnostic points at the first block past the limit.",
         "`aespec check notes.md` where notes.md holds 101 ```ae blocks", False),
    # ------------------------------------------------------------ E1: syntax
    Code("E100", "the parser failed for a reason that is not the input", "parse",
         "lark raised an error that is not about the text (it should not happen); the message "
         "carries lark's own words. Please report it with the spec.",
         "(no spec is known to give it)", False),
    Code("E101", "unexpected token", "parse",
         "The parser met a token that cannot come next: a missing ')' or ',', a block opened "
         "inside an unclosed block, a ')' that closes nothing, a value where a name belongs, "
         "or arguments written on a statement keyword (`noise(0.1) gaussian`). The message "
         "says what was expected; a '(' or '{' left open is pointed at where it opened.",
         _spec(encoder="dense(32 relu")),
    Code("E102", "unterminated string", "parse",
         'A string opened with `"` is not closed on the same line. Strings cannot span lines; '
         'write `\\"` for a quote inside one and `\\\\` for a backslash.',
         _spec(before='model broken "this never ends')),
    Code("E103", "unexpected end of file", "parse",
         "The file ends inside a block or an argument list: a '{' or a '(' is never closed. "
         "The diagnostic points at the one that is still open.",
         "input vector(64)\nencoder {\n    dense(32) relu\n"),
    Code("E104", "unexpected character", "parse",
         "A character that no token starts with: names are ASCII letters, digits and `_`; "
         "`#` starts a comment.",
         _spec(encoder="dense(32) relu; dense(16)")),
    Code("E105", "nested too deeply", "parse",
         "An expression nests more than 200 levels (thousands of `-` or terms in one sum). "
         "Later stages walk the tree recursively, so the parser refuses it; split the "
         "expression into `let` constants.",
         _spec(before="let a = " + "-" * 201 + "1")),
    Code("E106", "the spec is too large", "parse",
         "A spec longer than 65,536 characters is refused before it is parsed: a spec is a "
         "page of text, and a larger file is most likely the wrong one (or hostile). At most "
         "that much of a file is ever read.",
         _spec(encoder="dense(" + ", ".join(["1"] * 33000) + ")")),
    # ------------------------------------------------------------ E2: names and arguments
    Code("E201", "unknown op, input kind or data source", "resolve",
         "The name is not an op of this place (layer, noise, loss, regularizer), nor an input "
         "kind (`vector`, `image`, `sequence`), nor a data source. The hint offers the closest "
         "names, or says where the op belongs when it is an op of another place.",
         _spec(encoder="dens(32) relu")),
    Code("E202", "wrong argument", "resolve",
         "More positional arguments than the op takes, a keyword the op does not have, or the "
         "same argument given twice. The hint lists the op's arguments.",
         _spec(encoder="dense(32, kernel=3) relu")),
    Code("E203", "invalid value", "resolve",
         "A value of the wrong type or out of range (`dropout(1.5)`, `conv(32, pad=sam)`), a "
         "value where an op belongs, a `repeat` count that is not a positive integer (or "
         "expands to more than 10,000 ops), a bad loss weight, or a train/report value that "
         "is not one of the choices. The message names the argument, the value and the rule.",
         _spec(encoder="dense(32) relu\ndropout(1.5)")),
    Code("E204", "missing argument", "resolve",
         "An op is written without an argument it needs (`dense` without `units`). The hint "
         "shows the op with its required arguments.",
         _spec(encoder="dense relu")),
    Code("E205", "undefined name", "resolve",
         "A name used as a value is not a `let` constant, or `concat(NAME)`/`add(NAME)` names "
         "a tensor that no `NAME = ...` line defines before it. The hint offers the closest "
         "names.",
         _spec(before="let width = 32", encoder="dense(widht) relu")),
    Code("E206", "given twice", "resolve",
         "A statement that may appear once (everything but `let` and `regularize`) appears "
         "twice, a `let` is defined twice, or a train/report key is set twice.",
         _spec(after="loss mse\nloss bce")),
    Code("E207", "required statement missing", "resolve",
         "`input`, `encoder`, `bottleneck` and `decoder` are required.",
         "input vector(64)\nencoder {\n    dense(32) relu\n}\nbottleneck {\n    dense(8)\n}\n"),
    Code("E208", "in the wrong place", "resolve",
         "An op in a block it does not belong to (a stochastic `gaussian(dim)` outside the "
         "bottleneck), a top-level statement inside a block, or a layer op written at the "
         "top level.",
         _spec(encoder="gaussian(8)")),
    Code("E209", "unknown statement or setting", "resolve",
         "A top-level word that is no statement, a statement given a block it does not take, "
         "or a `train`/`report` key that does not exist. The hint offers the closest.",
         _spec(after="train {\n    epoch 3\n}")),
    Code("E210", "bad --set", "resolve",
         "A `--set` option that is not `NAME=VALUE`, names no `let` of the spec, sets a block "
         "other than `train.KEY` or `report.KEY`, names a key that block does not have, or "
         "whose value does not parse. (A value that parses but is invalid is reported with "
         "the code the same value would give in the file, at its column in the option: "
         "`<--set train.epochs=0>:1:14`.)",
         "`aespec check specs/vae_fc.ae --set train.epoch=3`", False),
    Code("E211", "tensor name defined twice", "resolve",
         "Two `NAME = ...` lines give the same name, or a block's name (`encoder`, "
         "`bottleneck`, `decoder`) is used to name a tensor.",
         _spec(encoder="h = dense(32) relu\nh = dense(16) relu")),
    Code("E212", "the expression cannot be evaluated", "resolve",
         "A `let` that refers to itself (directly or through others), a division by zero, a "
         "number that is not finite (`1e400`) or an integer beyond 64 bits, or `let` "
         "constants defined through each other more than 100 deep.",
         _spec(before="let width = 64 / 0", encoder="dense(width) relu")),
    Code("E213", "unknown regularizer target", "resolve",
         "`regularize OP on TARGET` names neither a block (`encoder`, `bottleneck`, `decoder`) "
         "nor a tensor named with `NAME = ...`.",
         _spec(after="regularize activity_l1(1e-4) on botleneck")),
    Code("E214", "a Markdown file with several specs, and none picked", "read",
         "`aespec draw`, `run` and `emit` work on one spec; the `.md` file holds several "
         "```ae blocks. The message lists them; pick one with `--block N` (1-based) or "
         "`--block NAME` (its `model` name). `aespec check` checks them all.",
         "`aespec draw notes.md` where notes.md has two ```ae blocks", False),
    Code("E215", "a Markdown file without an ae block", "read",
         "A `.md` file is read for its fenced blocks tagged `ae` (a line ```ae before the "
         "spec, ``` after it), and it has none. A block tagged otherwise (```text) is not a "
         "spec.",
         "`aespec check README.md` on a page whose specs are fenced as ```text", False),
    Code("E216", "--block names no ae block", "read",
         "`--block` takes the 1-based number of an ```ae block or the name its `model` line "
         "gives, and the file has no such block; the message lists the blocks it has. "
         "`--block` is for Markdown files only.",
         "`aespec check notes.md --block 3` where notes.md has two blocks", False),
    Code("E217", "the statements do not make one model", "resolve",
         "A spec is an autoencoder (`encoder`, `bottleneck`, `decoder`, a reconstruction "
         "`loss`), a GAN (`latent normal(N)` feeding the `decoder`, the generator; a "
         "`discriminator { ... }`; `loss adversarial(KIND)`) or an adversarial autoencoder "
         "(an autoencoder with `discriminator on code { ... }` and `loss RECON + "
         "adversarial(KIND)`) or a VAE-GAN (a variational autoencoder, `gaussian(N)` in "
         "its bottleneck, with a `discriminator { ... }` of examples and `loss RECON + "
         "W * adversarial(KIND)`). An adversarial loss or a `discriminator_*` train key "
         "without a discriminator; a discriminator of examples (no `on code`) in an "
         "autoencoder without a gaussian latent, or with layer-wise pretraining, or with "
         "early stopping but no `sample_quality`; an encoder, bottleneck, noise, "
         "regularizer, report, `decoder mirror` or reconstruction loss in a GAN, or "
         "`on code` there; a `gaussian` code in an adversarial autoencoder; a loss line of "
         "an autoencoder with a discriminator but no reconstruction term; and a weight on "
         "a GAN's `adversarial(...)` are this error.",
         _spec(after="discriminator {\n    dense(1)\n}")),
    # ------------------------------------------------------------ E3: shapes and graph
    Code("E301", "decoder output does not match the input", "checks",
         "The decoder's output shape differs from `input` (the reconstruction target). The "
         "message names both shapes; the hint suggests the fix: a `reshape`, the channel "
         "count of the last layer, `pad=same` instead of `valid`, or more upsampling.",
         _spec(decoder="dense(60) sigmoid")),
    Code("E302", "the op does not fit its input's shape", "graph",
         "A kernel or pool larger than its input, a spatial op (`conv`, pooling, `upsample`) "
         "on a vector, `occlude` on an input that is not an image, or a `deconv` that cannot "
         "keep `pad=same`. The message names the op and the shape it got.",
         _spec(input="image(1, 8, 8)", encoder="conv(8) relu\nmaxpool(2)\nmaxpool(2)\n"
               "maxpool(4)", bottleneck="flatten", decoder="dense(64)\nreshape(1, 8, 8)")),
    Code("E303", "reshape does not hold the same number of values", "graph",
         "`reshape(d1, d2, ...)` must hold as many values as its input, and every size must be "
         "positive. The message gives both counts.",
         _spec(decoder="dense(64) sigmoid\nreshape(3, 3)")),
    Code("E304", "joined shapes do not match", "graph",
         "`concat(NAME)` needs every dimension but the channels equal; `add(NAME)` needs equal "
         "shapes. The message names both shapes; the hint says how far to upsample or pool.",
         _spec(input="image(1, 8, 8)", encoder="e1 = conv(4) relu\nmaxpool(2)",
               bottleneck="conv(4) relu", decoder="concat(e1)\nconv(1) sigmoid")),
    Code("E305", "the decoder cannot be mirrored", "graph",
         "`decoder mirror` cannot invert an encoder that joins tensors (`concat`, `add`), or "
         "an inverse op does not give back the shape of the op it inverts (sizes that do not "
         "divide by a stride or pool). Write the decoder block out.",
         "input image(1, 8, 8)\nencoder {\n    e1 = conv(4) relu\n    conv(4) relu\n"
         "    add(e1)\n}\nbottleneck {\n    flatten\n    dense(8)\n}\ndecoder mirror\n"),
    Code("E306", "bce needs a decoder output in [0, 1]", "checks",
         "Binary cross-entropy compares probabilities: the decoder must end in an op whose "
         "values lie in [0, 1] (`sigmoid`). The message names the last op and its range.",
         _spec(decoder="dense(64) relu", after="loss bce")),
    Code("E307", "kl_sparsity needs a target in (0, 1)", "checks",
         "The KL sparsity penalty treats each unit's mean activation as a probability: its "
         "target must end in `sigmoid` (or another op with values in (0, 1)).",
         _spec(bottleneck="dense(8) relu", after="regularize kl_sparsity(rho=0.05, weight=1e-3)")),
    Code("E308", "the report item does not fit the model", "checks",
         "`samples` draws from the prior, so it needs a stochastic latent (`gaussian(dim)` in "
         "the bottleneck) or a code that `regularize mmd(weight)` matches to N(0, I) (a "
         "Wasserstein autoencoder); `manifold` walks a 2-D latent grid, so it needs a code "
         "of 2 values; "
         "`filters(layer=NAME)` draws the weights of the layer whose output is named by a "
         "`NAME = ...` line, so NAME must label a line that holds a dense or conv layer. "
         "`aespec sample` reports it for a run without either. A `vq` "
         "bottleneck (VQ-VAE) has discrete codes and no prior over them, so `samples` "
         "names that instead: drawing needs a prior fitted on its codes (a PixelCNN), which "
         "aespec does not fit. `som_maps` draws a self-organizing map's grid, so it needs a "
         "`som(rows, cols)` in the bottleneck.",
         _spec(after="report {\n    samples(n=16)\n}")),
    Code("E309", "the data does not fit the input", "checks",
         "A data source whose example shape is known without reading files (`digits`, "
         "`mnist`, `fashion_mnist`) holds a different number of values than `input`.",
         _spec(before="data digits(size=28)")),
    Code("E310", "a second stochastic latent", "checks",
         "A model has one stochastic latent; a second `gaussian(dim)` in the bottleneck is an "
         "error. The hint gives the line of the first.",
         _spec(bottleneck="gaussian(16)\ngaussian(8)", decoder="dense(64) sigmoid")),
    Code("E311", "the decoder reads a tensor from before the code", "compile",
         "Decoding or sampling runs the decoder on z alone, so a decoder that joins a tensor "
         "of the encoder (`concat(e1)`, a U-Net skip) cannot be run from a code. Found when "
         "the decoder is compiled on its own; training the whole model is fine.",
         "`aespec sample` on a spec whose decoder has `concat(e1)`", False),
    Code("E312", "the spec cannot be compiled", "compile",
         "The graph is incomplete because some shape could not be inferred; `aespec check` "
         "reports why.",
         "`aespec.build(spec)` on a spec that `aespec check` rejects", False),
    Code("E313", "the op has no PyTorch form in aespec emit", "emit",
         "`aespec emit` writes each op as PyTorch source by the op's own emit rule, "
         "registered beside its definition in aespec/ops; an op that has none (one added "
         "to the registry without its emit form) is refused rather than guessed; every op of "
         "the registry has one. `aespec run` still trains the spec.",
         "`aespec emit` on a spec using an op registered without an emit form", False),
    Code("E314", "the spec cannot be emitted", "emit",
         "The graph is incomplete because some shape could not be inferred, so there is no "
         "module to write; `aespec check` reports why, and `aespec emit` prints the same "
         "diagnostics.",
         "`aespec.emit.emit_source(graph, spec)` on a spec that `aespec check` rejects", False),
    Code("E315", "sample_quality has no reference classifier for the data", "checks",
         "`sample_quality` measures samples in the features of a small classifier that "
         "aespec trains once per data set, so it needs a built-in data set with class labels "
         "of its own (`digits`, `mnist`, `fashion_mnist`; an .npz or images folder has no "
         "classifier), without `normal=` (its labels mark anomalies, not classes). The "
         "report records the item as skipped when the data turns out to have no labels.",
         _spec(before="data npz(\"x.npz\")", bottleneck="gaussian(8)",
               after="report {\n    sample_quality\n}")),
    Code("E316", "the command does not take this adversarial spec yet", "compile",
         "`aespec run` and `aespec sweep` train a GAN spec (`latent`, `discriminator`, `loss "
         "adversarial(...)`), an adversarial autoencoder (`discriminator on code`), a "
         "VAE-GAN (a VAE with `discriminator { ... }`) and a conditional spec (`condition "
         "labels(N)`); `aespec check`, `draw` and `fmt` read them; `aespec emit` writes a "
         "GAN and a conditional autoencoder, and a distributed run (`--nproc`) trains a "
         "GAN, an adversarial autoencoder and a VAE-GAN. `aespec emit` does not take an "
         "adversarial autoencoder or a VAE-GAN yet: it refuses them with this code.",
         "`aespec emit vae_gan.ae` on a VAE-GAN", False),
    Code("E317", "the discriminator does not end in one value per example", "checks",
         "A GAN's (or a VAE-GAN's) discriminator scores each example, real or generated, "
         "with one number (a "
         "logit, or a critic's value for `adversarial(wasserstein)`), so its output must be "
         "(1,). The message gives the shape it ends in; end it with `flatten` (on an image) "
         "and `dense(1)`.",
         _gan(discriminator="dense(32) leaky_relu(0.2)\ndense(2)")),
    Code("E318", "the condition needs the data's class labels", "checks",
         "`condition labels(N)` gives every network the example's class as one-hot labels "
         "`y`, so the data must have class labels 0 to N-1: `digits`, `mnist` and "
         "`fashion_mnist` (10 classes), `npz(..., labels=KEY)`, `csv(..., label=NAME)`, or "
         "an images folder of class sub-folders. A source without labels, a file source "
         "that names none, `normal=` (its test labels mark anomalies) and `y=` (a target) "
         "are refused by the check, a class count that differs from the data's by the "
         "check where the source knows its classes, else when the data is loaded.",
         _gan(before="data npy(\"x.npy\")\ncondition labels(10)",
              decoder="concat(y)\ndense(32) relu\ndense(64) sigmoid")),
    Code("E319", "the labels of a conditional spec do not reach this yet", "checks",
         "A conditional spec (`condition labels(N)`) feeds the labels to every network it "
         "trains and samples; layer-wise pretraining (`train.pretrain`) trains the "
         "encoder's layers without them, and the `anomaly` report item scores each "
         "example without its label, so neither takes a conditional spec yet.",
         _spec(before="data digits\ncondition labels(10)", decoder="concat(y)\ndense(64)",
               after="train {\n    pretrain layerwise(epochs=1)\n}")),
    Code("E320", "bce on data scaled to [-1, 1]", "checks",
         "`loss bce` compares the output with targets in [0, 1], and `range=(-1, 1)` on the "
         "data line (`digits`, `mnist`, `fashion_mnist`) scales the examples to [-1, 1]. "
         "Use `loss mse`, or leave `range=` out. (Data whose range is known only once it is "
         "read is refused then, as E503.)",
         _spec(before="data digits(range=(-1, 1))", after="loss bce")),
    Code("E321", "the model has no likelihood p(x) to estimate or bound", "checks",
         "`aespec eval --nll K` estimates -log p(x) and `gaussian(dim, iw=K)` trains on the "
         "importance-weighted bound of log p(x); both weigh draws z ~ q(z|x) by "
         "p(x|z) p(z) / q(z|x), so the model needs a `gaussian(dim)` latent and one loss "
         "term that reads as -log p(x|z) as the spec weighs it: `bce` with weight 1 and "
         "reduce=sum (Bernoulli), `mse` (a Gaussian of variance 1/(2c), c its weight per "
         "value), `mae` (Laplace of scale 1/c) or `gaussian_nll` with weight 1 and "
         "reduce=sum. `huber`, a weighted `bce` and a sum of terms have no normalized "
         "density. Reported by `aespec check` for `iw=K`, by `aespec eval --nll` for a run. "
         "An `rbm` needs none of this: its `--nll` is F(v) + log Z, log Z by annealed "
         "importance sampling.",
         _spec(bottleneck="gaussian(8, iw=5)", after="loss huber")),
    Code("E322", "beta with an importance-weighted bound", "checks",
         "`gaussian(dim, iw=K)` with K > 1 trains on log (1/K) sum_k p(x|z_k) p(z_k) / "
         "q(z_k|x), which has no closed-form KL term for `beta` to weigh. Leave beta at 1, "
         "or train a beta-VAE on the ELBO (iw=1).",
         _spec(bottleneck="gaussian(8, beta=4, iw=5)")),
    Code("E323", "an rbm that does not read the input, or not decoded by its mirror", "checks",
         "An `rbm` models its visible units, the input itself: the encoder block is empty "
         "(and the rbm alone in the bottleneck), and the decoder is `decoder mirror`, its "
         "own mean-field p(v|h) with the same weights. Layers before it would learn "
         "nothing (the rbm trains by contrastive divergence, which passes no gradient "
         "down), and another decoder would not be the RBM's reconstruction.",
         "input vector(64)\nencoder {\n}\nbottleneck {\n    rbm(32)\n}\n"
         "decoder {\n    dense(64) sigmoid\n}\nloss mse\n"),
    Code("E324", "a som that does not end the bottleneck, or not decoded by its mirror",
         "checks",
         "A `som(rows, cols)` spreads the examples over a grid of units; its code z is the "
         "winner's (row, col) and its reconstruction the winner's prototype, read from its "
         "codebook. So it is the last op of the bottleneck (a layer after it would read "
         "two grid coordinates), a model has one, it shares the bottleneck with no "
         "stochastic latent (`gaussian`), and its decoder is `decoder mirror` with no "
         "activation after the prototype (`decoder mirror(output=ACT)` would distort it). "
         "Layers before it (a `flatten`, an encoder) are fine.",
         "input vector(64)\nencoder {\n}\nbottleneck {\n    som(4, 4)\n}\n"
         "decoder {\n    dense(64) sigmoid\n}\nloss mse\n"),
    Code("E325", "pretrain rbm on layers that are not an RBM stack", "checks",
         "`train { pretrain rbm }` pretrains each dense layer of encoder and bottleneck as "
         "an RBM (a deep belief net) and unrolls the stack into the decoder: the layers are "
         "dense ones with their bias, each followed by `sigmoid` (binary hidden units) or by "
         "nothing (a linear code: Gaussian hidden units), with `flatten` or `reshape` "
         "between them, and the decoder is `decoder mirror`. A conv, a norm, another "
         "activation or a stochastic latent has no RBM to be (use `pretrain layerwise`), "
         "and a written decoder has no layer to take the unrolled weights.",
         _spec(input="image(1, 8, 8)", encoder="conv(4, k=3) sigmoid",
               bottleneck="dense(8)", decoder="dense(64) sigmoid\nreshape(1, 8, 8)",
               after="train {\n    pretrain rbm(epochs=1)\n}")),
    Code("E328", "a phase that cannot be trained as written", "resolve",
         "`phase NAME { ... }` holds the statements that differ for its epochs: `noise` "
         "(or `noise none`), `loss`, and the train keys `epochs`, `optimizer`, `schedule`, "
         "`freeze` and `early_stop`, each as a line of its own. The layers are the spec's "
         "in every phase, so a block, `data` or `input` cannot be set in one; each phase "
         "has a name of its own; and a GAN's or an adversarial autoencoder's game is "
         "trained in one run (start it from another run with `train { init PATH }`).",
         _spec(after="phase first {\n    epochs 2\n    encoder {\n        dense(8)\n    }\n}")),
    Code("E329", "nothing to freeze by that name", "resolve",
         "`freeze` names blocks (`encoder`, `bottleneck`, `decoder`) or named layers (the "
         "`NAME` of a `NAME = ...` line, whose ops are frozen together); the closest name "
         "is offered. A GAN's or an adversarial autoencoder's networks are not frozen.",
         _spec(after="train {\n    freeze encodr\n}")),
    Code("E330", "aespec emit cannot write this phase or frozen part as aespec trains it",
         "emit",
         "The emitted file trains a spec's phases in order (`train_phases`: each its "
         "epochs, a new optimizer, its noise, its loss and its frozen modules) and loads a "
         "warm start (`warm_start`). What it does not write, since its training would "
         "differ from `aespec run`'s: a phase's loss with parameters of its own (a learned "
         "variance, which aespec keeps beside the model) or with a weight schedule the "
         "spec's own loss has not, a frozen layer whose "
         "evaluation mode is a line of the module's forward (a gaussian bottleneck's "
         "sampling, ksparse's k: aespec runs such a layer in evaluation mode while the rest "
         "trains), and, as a guard, a phase's loss that reads a value the module's forward "
         "does not return. Train such a spec with `aespec run`.",
         "`aespec emit` of a VAE (`gaussian(20)` in the bottleneck) whose train block says "
         "`freeze bottleneck`", False),
    Code("E343", "missing values with a conditional model", "checks",
         "`missing=nan` makes each example's target the data with its NaN kept, so the loss "
         "can skip them, and a conditional model (`condition labels(N)`) reads its labels "
         "in that place. One model cannot have both: fill the missing entries in the file "
         "yourself, or leave out the condition.",
         _spec(before='data npz("ratings.npz", labels="y", missing=nan)\n'
               "condition labels(10)")),
    Code("E344", "missing values with a model not trained by its reconstruction loss",
         "checks",
         "Only reconstruction terms can skip an unobserved entry (`missing=nan`). A GAN's or "
         "a VAE-GAN's discriminator would judge the filled entries as real data, `pretrain` "
         "trains each stage to reconstruct its input filled entries and all, and an rbm or "
         "a som trains by a term of its own on its input. Fill the missing entries in the "
         "file yourself, or train an autoencoder whose loss is reconstruction terms.",
         _spec(before='data npz("ratings.npz", missing=nan)',
               after="train {\n    pretrain layerwise(epochs=1)\n}")),
    # ------------------------------------------------------------ W4: theory
    Code("W401", "the code can learn the identity", "checks",
         "The code z holds at least as many values as the input and nothing constrains it "
         "(no regularizer, no noise, no dropout, no stochastic latent): an overcomplete "
         "autoencoder can copy its input through and learn nothing useful. Narrow the "
         "bottleneck, add noise (denoising), or a sparsity or contractive penalty.",
         _spec(encoder="dense(128) relu", bottleneck="dense(64) relu")),
    Code("W402", "a skip connection bypasses the bottleneck", "checks",
         "A decoder join reads an encoder tensor, so the output does not depend on z alone: "
         "fine for U-Net style denoising or segmentation, wrong for a compressed code or "
         "generation.",
         _spec(input="image(1, 8, 8)", encoder="e1 = conv(4) relu\nmaxpool(2)",
               bottleneck="conv(4) relu",
               decoder="upsample(2)\nconcat(e1)\nconv(1) sigmoid",
               after="regularize activity_l1(1e-4)")),
    Code("W403", "mean reduction with a gaussian latent", "checks",
         "The KL term is summed over z, so a reconstruction loss averaged over every value "
         "(`reduce=mean`) is scaled down by the input size and the KL term dominates: samples "
         "come out blurry. Use `reduce=sum` (the ELBO, the default with a stochastic latent).",
         _spec(bottleneck="gaussian(8)", after="loss bce(reduce=mean)")),
    Code("W404", "l2 and weight decay together", "checks",
         "`regularize l2` and the optimizer's `weight_decay` both shrink the weights: the "
         "penalty is counted twice. Keep one.",
         _spec(after="regularize l2(1e-5)\ntrain {\n    optimizer adamw(lr=1e-3)\n}")),
    Code("W405", "a costly contractive penalty", "checks",
         "The exact contractive penalty needs one backward pass per code unit through every "
         "layer up to its target; over several layers training slows down a lot. Apply it to "
         "a shallow target.",
         _spec(bottleneck="dense(8) sigmoid", after="regularize contractive(1e-3)")),
    Code("W406", "tied weights with nothing to tie", "checks",
         "`decoder mirror(tied=true)` ties dense layers only; with none in the encoder and "
         "bottleneck nothing is shared.",
         "input image(1, 8, 8)\nencoder {\n    conv(4, stride=2) relu\n}\nbottleneck {\n"
         "    conv(2, stride=2) relu\n}\ndecoder mirror(tied=true)\n"),
    Code("W407", "early stopping without validation data", "checks",
         "`early_stop` watches the validation loss, but `split 1.0` keeps every example for "
         "training and leaves none to validate on.",
         _spec(after="train {\n    split 1.0\n    early_stop(patience=3)\n}")),
    Code("W408", "a sparsity target that is not sparse", "checks",
         "`kl_sparsity(rho)` with rho of 0.5 or more asks each unit to be active half the time "
         "or more; sparse codes use a small rho such as 0.05.",
         _spec(bottleneck="dense(8) sigmoid",
               after="regularize kl_sparsity(rho=0.5, weight=1e-3)")),
    Code("W421", "a prior matched on a bounded code", "checks",
         "`regularize mmd(weight)` pulls the distribution of its target to N(0, I) (a "
         "Wasserstein autoencoder). A target that ends in a bounded activation (sigmoid, "
         "tanh, relu) cannot match it: the penalty fights the activation, and `samples` "
         "decodes draws of N(0, I) from where no code lies. End the code with a linear layer.",
         _spec(bottleneck="dense(8) tanh", after="regularize mmd(10)")),
    Code("W409", "a learning rate far above what the optimizer trains with", "checks",
         "Adaptive optimizers (adam, adamw, rmsprop) train at learning rates around 1e-3; "
         "above 0.1 the first steps throw the weights far away, ReLU units die and the loss "
         "sticks at the mean image's without diverging, so no error stops the run. sgd "
         "tolerates more, but not above 10. Lower `lr`.",
         _spec(after="train {\n    optimizer adam(lr=1e6)\n}")),
    Code("W410", "a training step larger than most machines hold", "checks",
         "The weights, their gradients, the optimizer's state and one batch of activations "
         "add up to more than 8 GiB (`aespec check` prints the estimate under its table). "
         "`aespec run` refuses, before it allocates, a model that the device cannot hold "
         "(E608). Use fewer units or channels, a smaller input, or a smaller batch.",
         _spec(encoder="dense(1000000000) relu")),
    Code("W411", "an image shape written channels last", "resolve",
         "`input image(28, 28, 1)` is the Keras habit (height, width, channels). aespec's "
         "order is PyTorch's, (channels, height, width), so this is an image of 28 channels, "
         "28 pixels high and 1 wide, and the first pooling or strided conv fails on its "
         "width. Written when the last size is 1 or 3 and the others above 4; the hint gives "
         "the shape in aespec's order.",
         _spec(input="image(28, 28, 1)", encoder="flatten\ndense(32) relu",
               decoder="dense(784) sigmoid\nreshape(28, 28, 1)")),
    Code("W412", "a loss that asks for no reconstruction", "checks",
         "Every term of the `loss` line weighs 0 (`loss 0 * mse`), so nothing asks the "
         "output to match its target: the decoder's weights get no gradient from the data, "
         "and what training does is only what the regularizers and a latent's KL ask. "
         "A weight of 0 is allowed (a sweep over `--set` weights reaches it); give one term "
         "a weight above 0 to train an autoencoder.",
         _spec(after="loss 0 * mse")),
    Code("W413", "pooling in a GAN's discriminator", "checks",
         "DCGAN's first guideline (Radford et al., 2016): a discriminator downsamples with "
         "strided convolutions, which learn how, not with `maxpool` or `avgpool`, whose "
         "fixed choice passes the generator sparse or blurred gradients. The hint gives the "
         "strided conv that replaces the pool.",
         _gan(input="image(1, 8, 8)", decoder="dense(64) relu\nreshape(1, 8, 8)\nconv(1) "
              "sigmoid", discriminator="conv(8) leaky_relu(0.2)\nmaxpool(2)\nflatten\n"
              "dense(1)")),
    Code("W414", "a sigmoid before the adversarial loss", "checks",
         "`loss adversarial(...)` reads the discriminator's raw score: a logit that the "
         "nonsaturating and minimax games pass through the logistic function themselves, "
         "in the numerically stable form, or a critic's unbounded value (wasserstein, "
         "hinge, least_squares). A discriminator ending in `sigmoid` squashes it twice and "
         "its gradients vanish once it is sure; end it with `dense(1)`.",
         _gan(discriminator="dense(32) leaky_relu(0.2)\ndense(1) sigmoid")),
    Code("W415", "a generator output whose range does not fit the data's", "checks",
         "DCGAN's generator ends in tanh for data scaled to [-1, 1]. On data in [0, 1] (the "
         "built-in data as read) a tanh output spends half its range on values no real "
         "example has; on data scaled with `range=(-1, 1)` a sigmoid output never reaches "
         "the negative half every real example has. Either way the discriminator tells "
         "generated from real by their sign alone. End the generator with sigmoid for data "
         "in [0, 1], with tanh for data in [-1, 1].",
         _gan(before="data digits(size=8)", decoder="dense(32) relu\ndense(64) tanh")),
    Code("W418", "dead codes in a vq codebook after training", "run",
         "A VQ-VAE's codebook entry that no encoder output is nearest to gets no gradient "
         "(the codebook term moves only the chosen entries), so it stays where it is: a "
         "dead code, and a smaller codebook than the spec asked for. `aespec run` counts the "
         "codes chosen on the test split after training (run.json's `codebook`: codes, "
         "used, usage, perplexity) and warns, at the `vq` line, when more than a tenth of "
         "them were never chosen. Fewer codes, a smaller `commitment`, a higher learning "
         "rate or more epochs help; the codebook starts from encoder outputs of the first "
         "training batch, which keeps most codes alive.",
         "`aespec run` on a spec with `vq(512, 16)` trained for an epoch on few images",
         False),
    Code("W444", "the run is no better than the mean image", "run",
         "At the end of a run, `aespec run` scores two predictors that learn nothing by the "
         "run's own reconstruction terms on the test split: the training targets' mean "
         "image, the same for every example, and PCA with as many components as the code "
         "has values (run.json's `references`). A model whose test reconstruction error is "
         "at least 0.95 times the mean image's has learned nothing about its inputs. The "
         "hint names what the spec shows as likely causes: a regularizer's weight so strong "
         "that the cheapest answer is to ignore the input (`regularize l2(0.1)` on every "
         "weight does it), a KL weight (`beta`) that won over the reconstruction, or too few "
         "epochs for the net to start learning. Lower the weight, train longer, or check "
         "the learning rate.",
         "`aespec run` on a dense autoencoder of digits with `regularize l2(0.1)` "
         "(tests/references/collapsed_l2.ae)", False),
    Code("W445", "the reconstructions barely vary across examples", "run",
         "The spread of the reconstructions across the test examples (each value's standard "
         "deviation across them, averaged over values) is under a tenth of the targets' "
         "spread: the model gives nearly the same output for every input, whatever its "
         "test figure. It is how a collapsed autoencoder looks: a penalty or a KL term "
         "pushed the decoder to one image. The hint names the likely causes the spec shows "
         "(a regularizer's weight, beta, the epochs run).",
         "`aespec run` on a dense autoencoder of digits with `regularize l2(0.1)` "
         "(tests/references/collapsed_l2.ae)", False),
    Code("W446", "no latent unit of the VAE is active", "run",
         "A latent unit is active when its posterior mean E[z|x] varies with the input: its "
         "variance over the test inputs is above 0.01 (Burda et al., 2016). When no unit is, "
         "every code is the prior's and the decoder ignores its input (posterior collapse): "
         "the KL term won, by a large `beta`, a decoder strong enough to model the data "
         "alone, or too few epochs for the reconstruction to pull the codes apart. run.json's "
         "`references.active_units` gives the count and each unit's variance. A smaller "
         "beta, KL annealing (a `schedule` on beta where the spec has one) or more epochs "
         "help.",
         "`aespec run` on a dense VAE of digits with `gaussian(8, beta=20)` for 8 epochs "
         "(tests/references/collapsed_vae.ae)", False),
    Code("W420", "the condition is joined nowhere", "checks",
         "`condition labels(N)` makes the labels the tensor `y`, which a network reads only "
         "where a layer joins it (`concat(y)`): a condition that no layer joins changes "
         "nothing. A conditional GAN joins it in the generator and the discriminator, a "
         "conditional VAE in the encoder and the decoder.",
         _gan(before="data digits\ncondition labels(10)")),
    Code("W416", "an upsample in a GAN's generator", "checks",
         "DCGAN's first guideline, the generator's half (W413 is the discriminator's): the "
         "generator grows its images with fractionally-strided convolutions, "
         "`deconv(C, k=4, stride=2)`, which learn how to upsample, not with `upsample`'s "
         "fixed nearest or bilinear copies followed by a conv. The hint gives the deconv "
         "that replaces the pair.",
         _gan(input="image(1, 8, 8)", decoder="dense(64) relu\nreshape(4, 4, 4)\n"
              "upsample(2)\nconv(1) sigmoid", discriminator="flatten\ndense(1)")),
    Code("W417", "a GAN network without batchnorm", "checks",
         "DCGAN's batch-normalisation guideline: both networks normalise their conv layers' "
         "outputs (`conv(...) batchnorm relu`), except the generator's output layer and the "
         "discriminator's input layer, which keeps training steady as each network chases "
         "the other. A generator or discriminator with a conv or deconv layer that should "
         "have one, and no `batchnorm` (or `layernorm`, a WGAN critic's choice) anywhere, "
         "is warned once, at the first such layer.",
         _gan(input="image(1, 8, 8)", decoder="dense(64) relu\nreshape(1, 8, 8)\nconv(1) "
              "sigmoid", discriminator="conv(8, stride=2) leaky_relu(0.2)\nconv(16, "
              "stride=2) leaky_relu(0.2)\nflatten\ndense(1)")),
    Code("W422", "Bernoulli visible units on data outside [0, 1]", "checks",
         "An `rbm`'s Bernoulli visible units take the values 0 and 1, and the Gibbs samples of "
         "contrastive divergence's negative phase are drawn so; p(v|h) lies in [0, 1]. On "
         "data whose values range wider (known from the data source: `range=(-1, 1)`, or a "
         "file), the model cannot represent the data and CD pulls towards the wrong values. "
         "Grey levels in [0, 1] are fine: they are read as probabilities.",
         "data digits(range=(-1, 1))\n" + _RBM),
    Code("W419", "unit-variance Gaussian visible units on data in [0, 1]", "checks",
         "`rbm(visible=gaussian)` models each visible unit as N(mean, 1). On data in [0, 1] "
         "(images) that variance is several times the data's spread: each Gibbs step "
         "drowns the signal in noise, so the negative phase of CD and the samples are "
         "mostly noise. Standardize the data (mean 0, variance 1 per feature), or use "
         "Bernoulli visible units.",
         "data digits\n" + _RBM.replace("rbm(32)", "rbm(32, visible=gaussian)")),
    Code("W423", "a som with more units than training examples", "checks",
         "Each unit of a self-organizing map holds a prototype that the examples it wins, "
         "and those its neighbours win, pull towards them. With more units than training "
         "examples most units never win: their prototypes are only dragged along by their "
         "neighbours, the hit map is mostly empty and the U-matrix mostly interpolation. "
         "The usual size is about 5·√n units for n examples (Vesanto's rule). The count is "
         "known at check time for `digits` (1,437 after the 80/20 split), `mnist` and "
         "`fashion_mnist` (60,000, or `limit=N`) and `synthetic(n)` (4/5 of n); not for "
         "files, nor with `normal=`.",
         "data digits\ninput vector(64)\nencoder {\n}\nbottleneck {\n    som(40, 40)\n}\n"
         "decoder mirror\nloss mse\n"),
    Code("W440", "the spec has no data line", "checks",
         "A spec without a `data` line checks (shapes need only `input`), but `aespec run` "
         "has nothing to train on and stops with E506. Add a data line, or give the data "
         "on the command line with `--data SOURCE` (then `check --data SOURCE` is silent "
         "too).",
         _spec(decoder="dense(64)", after="loss mse")),
    Code("W441", "an activation after the sampled code", "checks",
         "The KL term of `gaussian(dim)` pulls the sampled code z towards N(0, I). An "
         "activation after it in the bottleneck (`gaussian(8) relu`) means the decoder "
         "reads relu(z), not z: the prior describes one code and another is decoded, and "
         "`aespec sample` decodes relu of the prior's draws, half of each cut to 0. End the "
         "bottleneck with the `gaussian`, and put the activation in the encoder before it.",
         _spec(bottleneck="gaussian(8) relu", before="data digits", after="loss bce")),
    Code("W442", "a gaussian latent with beta=0", "checks",
         "`beta` weighs the KL term that makes q(z|x) close to the prior N(0, I). With "
         "`beta=0` nothing does: the codes drift anywhere, the decoder learns only the "
         "region they fill, and draws from the prior decode to nothing like the data. The "
         "model is an autoencoder whose codes carry noise. Use `beta > 0` (1 is the ELBO), or "
         "a `dense` code if no sampling is meant.",
         _spec(bottleneck="gaussian(8, beta=0)", before="data digits", after="loss bce")),
    Code("W443", "a tanh output on data in [0, 1]", "checks",
         "tanh's values lie in [-1, 1]. On data known to lie in [0, 1] (images, `digits`, "
         "`fashion_mnist`) the outputs below 0 are never a target: the model spends half of "
         "its range on values that do not occur. End the decoder in `sigmoid`, or scale the "
         "data to [-1, 1] with `range=(-1, 1)`. (A GAN's generator ending so is W415.)",
         _spec(decoder="dense(64) tanh", before="data digits", after="loss mse")),
    Code("W426", "every block is frozen", "resolve",
         "`freeze encoder bottleneck decoder` (in `train` or a phase) leaves no weight to "
         "train: the epochs only measure the loss. A warm-started model evaluated as it is "
         "needs no epochs at all (`aespec eval`); otherwise freeze fewer blocks.",
         _spec(after="train {\n    freeze encoder bottleneck decoder\n}")),
    Code("W437", "missing=nan on data without a missing value", "data",
         "`missing=nan` says a NaN marks an unobserved entry, but the data read holds none: "
         "the loss skips nothing and no imputation can be scored. Check that the file marks "
         "its missing entries as NaN (in a CSV, an empty cell or `nan`), or leave out "
         "`missing=nan`. Found when the data is read (`aespec run`), as the run ends.",
         '`data npz("full.npz", missing=nan)` where full.npz holds no NaN', False),
    Code("W438", "batch normalization over filled inputs", "checks",
         "With `missing=nan` the encoder reads each unobserved entry as its fill (the "
         "value's training mean, or 0), and in a sparse matrix most of its input is fill. "
         "`batchnorm` normalizes by the batch's mean and variance, which are then largely "
         "the fill's, and which shift with the share of entries each batch observes. "
         "`layernorm`, or no normalization (AutoRec uses none), has no such dependence.",
         _spec(before='data npz("ratings.npz", missing=nan)',
               encoder="dense(32)\nbatchnorm\nrelu")),
    Code("W439", "too few observed entries to learn from", "data",
         "With `missing=nan`, fewer than 2% of the training entries are observed, or some "
         "value of the examples is never observed in the training split: the loss has "
         "(almost) nothing to fit there, and what the model imputes is at best each value's "
         "mean. Found when the data is read (`aespec run`), as the run ends.",
         '`data npz("ratings.npz", missing=nan)` where one column is NaN in every '
         "training row", False),
    # ------------------------------------------------------------ E5: data
    Code("E501", "data not found", "data",
         "A data file (or the IDX files of `mnist`/`fashion_mnist`) is not where the spec "
         "says. Relative paths are read from the spec file's folder; `mnist` and "
         "`fashion_mnist` are looked for in `path=`, `$AESPEC_DATA`, then Debian's "
         "`/usr/share/datasets/fashion-mnist`.",
         '`data npz("missing.npz")`, then `aespec run SPEC`', False),
    Code("E502", "the data cannot take the input's shape", "data",
         "Each example holds a different number of values than `input`, so it cannot be "
         "reshaped to it (or it is a single number, not an array of examples). The hint "
         "offers the `input` line that fits, or `digits(size=N)`.",
         "`data npy(\"x.npy\")` with x of shape (100, 10), `input vector(12)`", False),
    Code("E503", "data values outside [0, 1] for bce", "data",
         "`loss bce` needs targets in [0, 1]; the data's values range wider (or `range=(-1, "
         "1)` scales them so, refused at check time as E320). Scale the data, or use "
         "`loss mse`.",
         "`data npy(\"x.npy\")` with values in [-1, 1] and `loss bce`", False),
    Code("E504", "the data file is unreadable or malformed", "data",
         "A file that is not what its source expects: not an .npz/.npy/IDX file, truncated, "
         "not numeric, holding NaN or infinite values, missing the named array, or with "
         "labels or targets that do not match the examples one to one. A NaN that marks an "
         "unobserved entry is read as one with `missing=nan` (npz, npy, csv): the loss then "
         "skips it.",
         '`data npz("x.npz", x="images")` where x.npz has no array "images"', False),
    Code("E505", "too few examples", "data",
         "The data holds no examples, or one (a training and a test set need two).",
         '`data csv("empty.csv")` with a header and no rows', False),
    Code("E506", "no data to train on", "data",
         "Training needs a `data` statement in the spec or `--data SOURCE` on the command "
         "line.",
         "`aespec run` on a spec without a `data` line", False),
    Code("E507", "the normal classes do not fit the data's labels", "data",
         "`normal=` (anomaly detection: train on the normal classes, score every test "
         "example) names classes by their labels, found when a user's file is read: the data "
         "has no labels, a class named is not among its labels, or every class is normal, "
         "leaving no anomaly to score. (For `digits`, `mnist` and `fashion_mnist`, whose "
         "classes 0 to 9 are known, `aespec check` reports these as E203.)",
         '`data npz("x.npz", labels="y", normal=7)` where y holds the classes 0 to 4', False),
    # ------------------------------------------------------------ E6: runs and devices
    Code("E508", "the data does not fit in memory", "data",
         "Before it reads or makes the data, aespec works out its size: what a file's header "
         "claims, what `digits(size=N)` or `synthetic(n=N)` would make, and refuses what the "
         "machine's free memory cannot hold (the load keeps about three copies at its peak). "
         "Use `limit=`, a smaller size or n, or a smaller file.",
         "`data digits(size=100000)`", False),
    Code("E509", "the data cannot be read on demand", "data",
         "Data larger than memory is memory-mapped (`npy(..., mmap=true)`, `npz(..., "
         "mmap=true)`, or by itself when loading it would not fit): an .npz member stored "
         "compressed (np.savez_compressed) cannot be mapped, and `normal=` cannot pick classes "
         "of mapped data. Save the arrays with np.savez, or one .npy file each.",
         '`data npz("big.npz", mmap=true)` of a file written by np.savez_compressed', False),
    Code("E510", "an image folder cannot be used", "data",
         "`data images(\"folder\")` reads PNG, JPEG and BMP files, with class sub-folders or "
         "without: the folder holds no images, holds images both beside and inside class "
         "folders, an image cannot be decoded, or the input is not image(1, H, W), "
         "image(3, H, W) or a square vector.",
         '`data images("photos")` for a folder with no image files', False),
    Code("E511", "an image file is not a PNG, JPEG or BMP, or is too large", "data",
         "An image is decoded only as the format its first bytes name, and only as PNG, JPEG "
         "or BMP, whatever the file's name says (no other decoder, such as Ghostscript for "
         "EPS, sees a file from an image folder). A file larger than 256 MiB, or whose header "
         "claims more pixels than 8192 x 8192 (or 4 times the input's, where that is more), "
         "is refused before it is decoded: a few bytes can claim gigabytes of pixels.",
         '`data images("photos")` where photos/x.png is an EPS file, or a PNG claiming '
         '50000 x 50000 pixels', False),
    Code("E512", "an image folder links outside itself", "data",
         "Symbolic links in an image folder are read only where they lead to an image file "
         "inside the folder. A link leading out of it, to a folder (even its own parent, "
         "which would loop), or nowhere is named and refused. Copy what it leads to into the "
         "folder, or point images(...) at a folder holding both.",
         '`data images("photos")` where photos/cat.png links to /home/me/cat.png', False),
    Code("E513", "an image folder cannot be listed", "data",
         "The path named by images(...) is a file, a folder in it cannot be listed (no "
         "permission), it holds more than 2,000,000 files and folders, or its class folders "
         "nest more than 32 deep.",
         '`data images("photos.zip")`, or a folder that `chmod 000` made unreadable', False),
    Code("E633", "every training entry is missing", "data",
         "With `missing=nan` the data's training split holds no observed value at all (every "
         "entry is NaN): there is nothing to learn from. Check the file, or the array that "
         "`x=` names.",
         '`data npz("empty.npz", missing=nan)` where every value of x is NaN', False),
    Code("E601", "training diverged", "run",
         "The loss became NaN or infinite; training stopped and the last good checkpoint is "
         "kept. Lower the learning rate, use `precision fp32`, or look for extreme values in "
         "the data.",
         "`optimizer sgd(lr=1e6)`", False),
    Code("E602", "the run was trained from a different spec", "run",
         "A run directory's checkpoint belongs to another spec than the one given (a resumed "
         "run may change only the keys it lists). Use the spec the run was trained with.",
         "`aespec run other.ae --resume runs/vae-1`", False),
    Code("E603", "not a usable run directory", "run",
         "The directory has no readable `run.json` or spec, or (for a new run) it already "
         "exists and is not empty. A run folder's files are read only as regular files in "
         "it, up to a limit (a link, a FIFO or a device is refused), and the data `run.json` "
         "names never through a link out of the folder; pass `--data` to name it yourself.",
         "`aespec report some/folder` on a folder that no run wrote", False),
    Code("E604", "checkpoint missing or unreadable", "run",
         "The run has no checkpoint yet, or the file is not an aespec checkpoint.",
         "a run stopped before its first epoch ended", False),
    Code("E605", "the device is not available", "run",
         "`device cuda`, `cuda:N` or `mps` was asked for on a machine without it. Use "
         "`device auto` (or `--device cpu`).",
         "`train { device cuda:1 }` on a machine with one GPU", False),
    Code("E606", "an output file cannot be written", "run",
         "`aespec sample -o`, `encode -o`, `decode -o`, `emit -o`, `new` or `fmt` could not "
         "write its file: the folder is missing or not writable, or the disk is full. Choose "
         "another path.",
         "`aespec sample runs/vae-1 -o /nonexistent/samples.npy`", False),
    Code("E607", "an input array cannot be used", "run",
         "`aespec decode` reads an .npy file of codes shaped (N, *z), z being the run's code "
         "shape: the file is missing, is not an .npy array of real numbers (object arrays are "
         "refused: reading them would run pickle), holds NaN or infinite values, holds no "
         "codes, or its shape is not (N, *z). The message gives both shapes.",
         "`aespec decode runs/ae-1 codes.npy` with codes of shape (10, 3) for a run whose z "
         "is (2,)", False),
    Code("E608", "the model does not fit in the device's memory", "run",
         "Before it allocates anything, `aespec run` adds up what one training step needs "
         "(weights, gradients, optimizer state, a batch of activations; `aespec check` prints "
         "it) and refuses what the device's free memory cannot hold, naming the largest "
         "layer. Make the model or the batch smaller, or use a device with more memory.",
         "`aespec run` of a spec with `dense(1000000000)`", False),
    Code("E609", "an optional package is missing", "run",
         "`aespec run --tensorboard` (or `aespec.train(..., tensorboard=True)`) writes "
         "TensorBoard event files with torch's SummaryWriter, which needs the tensorboard "
         "package, an optional extra. Install it with `pip install aespec[tensorboard]`, or "
         "run without --tensorboard (metrics.jsonl and metrics.csv are always written).",
         "`aespec run spec.ae --tensorboard` where tensorboard is not installed", False),
    Code("E610", "a run's metrics cannot be read", "run",
         "`aespec report` and `aespec compare` read each run's `metrics.jsonl`, one JSON "
         "object per epoch. A line that is not an epoch's record (the file was edited or "
         "written by something else) is refused with its line number; a torn last line, left "
         "by a run killed while writing it, is only left out.",
         "`aespec report runs/ae-1` after a line of `runs/ae-1/metrics.jsonl` was replaced by "
         "`oops`", False),
    Code("E611", "too few runs to compare", "run",
         "`aespec compare` puts two runs or more side by side; the same directory given twice "
         "counts once.",
         "`aespec compare runs/ae-1 runs/ae-1`", False),
    Code("E613", "a sweep's grid is not usable", "run",
         "`aespec sweep` takes each `--set NAME=V1,V2,...` as an axis of its grid: a key given "
         "twice, an empty or repeated value, no key with two values or more (nothing to "
         "sweep), an unknown --executor, or a grid of more than 10,000 points is refused "
         "before anything runs.",
         "`aespec sweep spec.ae --set z=2,8 --set z=16,32`", False),
    Code("E614", "the sweep metric is not one the runs report", "run",
         "`--metric` names what the sweep's figure plots: `test.TERM` (the best weights' test "
         "loss by term), `val.TERM` (the best epoch's validation), `train.TERM` (the last "
         "epoch), or `seconds`, `params`, `epochs`. The hint lists the metrics the points "
         "reported.",
         "`aespec sweep spec.ae --set z=2,8 --metric accuracy`", False),
    Code("E615", "the Ray executor is not available", "run",
         "`aespec sweep --executor ray` imports Ray only when asked; it is an optional extra "
         "(`pip install aespec[ray]`). With `--address`, the cluster there must be running.",
         "`aespec sweep spec.ae --set z=2,8 --executor ray` without Ray installed", False),
    Code("E616", "points of a sweep failed", "run",
         "A point whose run failed (its data, its device, a diverged loss) is recorded in "
         "`sweep.json` with its error, and the other points go on; the sweep then exits with "
         "status 1 naming how many failed.",
         "`aespec sweep spec.ae --set train.optimizer=adam(lr=1e6),adam(lr=1e-3)`", False),
    Code("E617", "no two points of the sweep can train batched", "run",
         "`aespec sweep --batched on` trains points that differ only in values that keep "
         "every shape (the seed, the optimizer's numbers, the schedule, the epochs, early "
         "stopping, loss weights and a latent's beta) together as one vmapped model. When no "
         "two points can (they differ in a layer's size, the optimizer, the noise, ...; or "
         "the spec uses precision, compile, pretrain or a Jacobian penalty), nothing runs and "
         "the message says why; `--batched auto` (the default) runs them apart instead.",
         "`aespec sweep spec.ae --set z=2,8 --batched on`", False),
    Code("E618", "would overwrite a file aespec did not write", "run",
         "A command that writes a file (or folder) refuses to replace one that aespec did "
         "not write itself: `aespec emit -o` replaces only a .py file it emitted (recognised "
         "by its header) and never the spec it reads, even through a link; `aespec run --out "
         "DIR` writes only into a new or empty folder or a run folder aespec made (its "
         "`.aespec-run` mark); `aespec new` never replaces a file. Choose another "
         "path, remove the file, or pass `--force` where the command has it (`--force` "
         "never overwrites the input spec).",
         "`aespec emit model.ae -o model.ae`, or `-o notes.py` over a file you wrote", False),
    Code("E620", "a run folder's file is not one aespec reads", "run",
         "A run folder may come from someone else, so `aespec report` and `aespec compare` "
         "read only regular files inside it, each up to a limit. When `run.json` or the spec "
         "it names is a link (to a file anywhere), a FIFO, a directory or a device, or is "
         "far larger than aespec writes one, nothing is read from it and the page is not "
         "written. Use the run folder as aespec wrote it.",
         "`aespec report RUN_DIR` where `RUN_DIR/run.json` is a link to another file",
         False),
    Code("E621", "part of a run folder is left out of its page", "run",
         "The page (`report.html`, `compare.html`) is still written, without that part, and "
         "says so where it would have been; the command prints this code as a warning. A "
         "figure in `report/` is shown only when it is a regular file inside the run "
         "folder (not a link), a PNG image by its first bytes, and at most 32 MiB; "
         "`metrics.jsonl` is read up to 64 MiB and 100,000 lines.",
         "`aespec report RUN_DIR` where `RUN_DIR/report/x.png` is a link to `/etc/passwd`",
         False),
    Code("E625", "no weights to start from", "run",
         "`train { init PATH }` or `aespec run --init-from PATH` names weights to start "
         "from: a run directory (its best.pt) or a .pt file, an aespec checkpoint or a "
         "state dict. The file is missing, is not a PyTorch file of tensors, or holds no "
         "dict of named tensors. It is read with `torch.load(weights_only=True)`: a file "
         "that would run code when unpickled is refused, never executed.",
         "`aespec run model.ae --init-from runs/none`", False),
    Code("E626", "the weights to start from are another model's", "run",
         "A warm start loads every tensor of the model from the file: the file must hold "
         "the same names with the same shapes (the same layers, widths and order: compare "
         "`aespec check` of both specs). The message names the first tensor that differs "
         "and both shapes, or the first one missing on either side.",
         "`train { init \"runs/small\" }` in a spec whose bottleneck is wider", False),
    Code("E623", "a process of a distributed run ended", "run",
         "In `aespec run --nproc N` (or under torchrun) every process takes part in each "
         "step, so when one ends (killed, out of memory, its own error) the others cannot go "
         "on: each stops with this code instead of torch's traceback, rank 0 marks run.json "
         "`failed` and keeps the last checkpoint, and the launcher names a process a signal "
         "ended. Find why that process ended, then continue with `aespec run --resume "
         "RUN_DIR --nproc N`.",
         "`kill -9` of one worker of `aespec run spec.ae --nproc 2`", False),
    Code("E624", "the processes of a distributed run cannot meet", "run",
         "The processes of `aespec run --nproc N` meet at rank 0's address and port (the "
         "rendezvous). A `--master-port` that another program holds on this machine is "
         "refused before anything starts; a rendezvous that fails later (a wrong "
         "`--master-addr`, a node that is down) is reported with torch's reason. Choose a "
         "free port, or leave `--master-port` out on one machine.",
         "`aespec run spec.ae --nproc 2 --master-port 22` where port 22 is in use", False),
    Code("E636", "--noisy on a model without noise", "run",
         "`aespec eval --noisy` scores a denoiser as it is meant to be scored: the spec's "
         "noise on the test inputs (seeded by --seed), the clean inputs as the targets. A "
         "spec without a `noise` line has no corruption to apply (and a conditional model's "
         "target slot holds its labels, so it is scored on clean inputs). Leave --noisy out; "
         "a spec with `noise` is evaluated on noisy inputs by default (--clean for clean "
         "ones).",
         "`aespec eval runs/undercomplete --noisy` for a run of specs/undercomplete_fc.ae",
         False),
    Code("E643", "the grading rubric is not valid", "run",
         "`aespec grade RUBRIC ...` reads the rubric as TOML (a .toml file, or the first "
         "```toml block with a `[criteria]` table of a Markdown page): a `[grade]` table of "
         "settings (block, data, epochs, seed, timeout, memory_mb) and one "
         "`[criteria.NAME]` table per criterion (checks, params, code, techniques, trains, "
         "test, collapse), each with its `points`. The message names the key at fault; "
         "nothing is graded until the rubric reads (exit status 2). See docs/grading.md.",
         "`aespec grade rubric.toml class/` where rubric.toml has `[criteria.speed]`",
         False),
    Code("E644", "a hand-in's smoke training passed the time limit", "run",
         "`aespec grade` trains each hand-in that checks for the rubric's `epochs` in a "
         "worker process, and stops one that runs longer than `grade.timeout` seconds "
         "(the worker is killed and a fresh one started, so the batch goes on). The "
         "criteria that need the training score 0 with this reason. Train fewer or "
         "smaller layers, or ask for a longer timeout.",
         "a hand-in of `dense(4096)` layers graded with `timeout = 2`", False),
    Code("E645", "a hand-in's smoke training passed the memory limit", "run",
         "`aespec grade` refuses to train a hand-in whose training step needs more memory "
         "than `grade.memory_mb` by the check's estimate (`aespec check` prints it), and "
         "stops a worker whose resident memory passes that limit while it trains. The "
         "criteria that need the training score 0 with this reason.",
         "a hand-in with `dense(100000)` graded with `memory_mb = 1000`", False),
    Code("E646", "a hand-in's smoke training ended without a result", "run",
         "The worker process that trained the hand-in ended (killed by the system) or "
         "aespec failed inside with an exception of its own rather than a diagnostic: the "
         "criteria that need the training score 0 and the gradebook says why; the batch "
         "goes on with a fresh worker. Please report the message as a bug.",
         "a worker killed by the system's out-of-memory killer while it trains", False),
    Code("E339", "a schedule where no weight is written, or no schedule by that name", "resolve",
         "A schedule (`warmup(epochs=10)`, `linear(start, end, epochs)`, `cyclical(...)`, "
         "`step(v0, v1, ..., every)`) gives a weight as a function of the training's progress. "
         "It is written where a weight is: a loss term's weight (`loss bce + "
         "warmup(epochs=5) * mse`), a regularizer's `weight`, a latent's `beta` (or a `let` "
         "used there). Anywhere else, under a name that is no schedule, or inside arithmetic "
         "(`2 * warmup(...)`: give the schedule its `high` instead) it is this error.",
         "model m\ninput vector(8)\nencoder {\n    dense(units=warmup(epochs=3))\n}\n"
         "bottleneck {\n    dense(2)\n}\ndecoder mirror\n"),
    Code("E340", "a schedule that this model's training does not follow", "checks",
         "Scheduled weights are set at every step by the autoencoder's own training loop. A "
         "model with a discriminator (an adversarial autoencoder, a VAE-GAN) trains in the "
         "adversarial loop, and `gaussian(dim, iw=K)` trains on the importance-weighted "
         "bound, which has no KL weight: neither reads a schedule, so one there is refused "
         "rather than ignored.",
         "model m\ninput vector(8)\nencoder {\n    dense(4) relu\n}\nbottleneck {\n"
         "    gaussian(2, beta=warmup(epochs=2), iw=4)\n}\ndecoder {\n    dense(8) sigmoid\n}\n"
         "loss bce\n"),
    Code("E341", "gradient clipping or norms in a model with a discriminator", "checks",
         "`train { clip ... }` and `train { log grad_norm }` act in the autoencoder's "
         "training step. A GAN, an adversarial autoencoder or a VAE-GAN steps its networks "
         "in the adversarial loop, which does not clip or measure: the line is refused "
         "rather than ignored. A WGAN's critic clips its weights with `adversarial("
         "wasserstein, clip=C)`.",
         "model m\ninput vector(8)\nencoder {\n    dense(4) relu\n}\nbottleneck {\n"
         "    dense(2)\n}\ndecoder mirror\ndiscriminator on code {\n    dense(4) relu\n"
         "    dense(1)\n}\nloss mse + adversarial(nonsaturating)\ntrain {\n"
         "    clip norm(1.0)\n}\n"),
    Code("W434", "a schedule that does not settle within the run", "checks",
         "A warm-up (or `linear`, or `step`) that takes more epochs than the run has never "
         "reaches its last value: the training ends on a smaller (or larger) weight than "
         "the one the validation loss, best.pt and the test are measured with (the settled "
         "value). Shorten the schedule or train longer.",
         "model m\ninput vector(8)\nencoder {\n    dense(4) relu\n}\nbottleneck {\n"
         "    gaussian(2, beta=warmup(epochs=50))\n}\ndecoder {\n    dense(8) sigmoid\n}\n"
         "loss bce\ntrain {\n    epochs 10\n}\n"),
    Code("W435", "a schedule that never changes", "checks",
         "A schedule whose values are all one (`linear(1, 1, epochs=5)`, `cyclical(low=1, "
         "high=1)`, `step(0.5, 0.5, every=2)`) is that number, written at length; it is "
         "probably a typo.",
         "model m\ninput vector(8)\nencoder {\n    dense(4) relu\n}\nbottleneck {\n"
         "    dense(2)\n}\ndecoder mirror\nloss linear(1, 1, epochs=3) * mse\n"),
]

# supervised heads and linear probes (issue 23): `head on NAME { ... }`, `xent`, `probe`
_HEADS = [
    Code("E334", "xent without a head", "checks",
         "`xent` is the cross-entropy of a head's logits on the data's class labels: a loss "
         "line with `xent` needs a `head on NAME { ... }` block whose last layer gives one "
         "logit per class.",
         _spec(before="data digits", after="loss mse + xent")),
    Code("E335", "the head reads no tensor of the autoencoder", "checks",
         "`head on NAME` reads `code` (the bottleneck's output, also the default without "
         "`on`), a block's output (`encoder`, `bottleneck`, `decoder`) or a tensor named "
         "`NAME = ...` in one of them. The hint lists the names there are.",
         _HEAD_SPEC.replace("on code", "on hidden").replace("HEAD", "dense(10)")),
    Code("E336", "the head does not end in one logit per class", "checks",
         "A head ends in one value per class, (classes,): where the data source knows its "
         "classes (digits, mnist, fashion_mnist: 10) the count must match; at least two "
         "anywhere. End it with `dense(classes)` (after `flatten` on an image-shaped "
         "tensor). A file source's classes are checked when the data is loaded (E630).",
         _HEAD_SPEC.replace("HEAD", "dense(7)")),
    Code("E337", "the head needs the data's class labels", "checks",
         "A head learns the data's class labels, so the data must have them: `digits`, "
         "`mnist`, `fashion_mnist`, `npz(..., labels=KEY)`, `csv(..., label=NAME)`, or an "
         "images folder of class sub-folders. A source without labels, a file source that "
         "names none, `normal=` (its test labels mark anomalies) and `y=` (the targets of a "
         "denoiser's pairs, which share the slot labels travel in) are refused by the "
         "check; a file without labels when it is loaded.",
         _HEAD_SPEC.replace("data digits", 'data npy("x.npy")').replace("HEAD",
                                                                      "dense(10)")),
    Code("E338", "this model takes no head", "checks",
         "A head trains with a plain autoencoder's objective in its training loop (any "
         "latent: a VAE's head reads the drawn z in training, mu in evaluation). A GAN, an "
         "adversarial autoencoder, a VAE-GAN and a conditional spec train in loops of their "
         "own and take no head yet; a head needs at least one layer. `report { probe }` "
         "scores any model's codes.",
         _HEAD_SPEC.replace("    HEAD\n", "")),
    Code("W430", "a head that no loss term trains", "checks",
         "Without `xent` in the loss line nothing moves the head's weights: its logits stay "
         "those of its random start and its accuracy is chance. Add `+ xent` (or a smaller "
         "weight, `+ 0.1 * xent`, to keep the reconstruction in charge).",
         _HEAD_SPEC.replace("HEAD", "dense(10)").replace("loss mse + xent", "loss mse")),
    Code("W431", "the head ends in a squashing activation", "checks",
         "`xent` reads the head's raw scores (logits) and takes the log-softmax itself; a "
         "`sigmoid` (or another activation bounded in [0, 1]) after the last layer squashes "
         "them twice, and their gradients vanish as the head grows sure. End the head with "
         "`dense(classes)`, no activation after it.",
         _HEAD_SPEC.replace("HEAD", "dense(10) sigmoid")),
    Code("W432", "a probe on data without class labels", "checks",
         "`report { probe }` fits a classifier of the data's class labels on the model's "
         "codes; data without labels (or whose labels mark anomalies: `normal=`) has "
         "nothing for it to predict, and the report records the item as skipped.",
         _spec(before='data npy("x.npy")', after="report {\n    probe\n}")),
    Code("E630", "labels outside the head's classes", "run",
         "A head of N outputs reads the class labels 0 to N-1; data loaded with a label "
         "outside them (a file source, whose classes the check cannot know) stops the run "
         "before training. End the head with `dense(K)`, K the largest label plus one.",
         "`aespec run` of a spec with `head on code { dense(2) }` on "
         "`npz(\"x.npz\", labels=\"y\")` whose labels go up to 9", False),
]
_CODES += _HEADS

CODES: dict[str, Code] = {c.code: c for c in _CODES}


def explain(code: str) -> Code | None:
    """The catalogue entry of `code` (case-insensitive), or None."""
    return CODES.get(code.strip().upper())
