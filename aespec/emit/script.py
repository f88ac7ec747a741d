"""The rest of the emitted file: loading aespec's weights, the data, and a training loop.

The data loader is the source entry's emitted loader (aespec/data/emitted.py: scikit-learn's
digits, MNIST or Fashion-MNIST IDX files); any other source becomes random data of the right
shape, with a comment that says what aespec would read.  The loop uses the spec's optimizer,
learning rate, batch size, epochs and seed; what it leaves out (schedules, early stopping,
pretraining, validation) is listed in a comment.
"""

from __future__ import annotations

from aespec.data.emitted import READ_IDX  # noqa: F401 (emit/source.py writes it for `gzip`)
from aespec.data.entry import REGISTRY, LoaderCall
from aespec.emit import condition
from aespec.emit.anneal import clip_lines, step_lines
from aespec.emit.module import INDENT, WIDTH, block
from aespec.emit.rules import lit, q
from aespec.emit.strings import clip, comment_text
from aespec.model import Spec
from aespec.model.settings import OpChoice
from aespec.ops.optimizers import OPTIMIZERS, SCHEDULES


def write_state_loader(renamed: list[tuple[str, str | None]]) -> list[str]:
    """`AESPEC_KEYS` and `load_aespec_state_dict`: the compiled model's keys, read here."""
    lines = ["# aespec's compiled model (aespec.build(spec), a run's checkpoint) keeps its layers",
             "# under `net.` and a loss term's own parameters under `objective_params.`; these",
             "# keys have other names here (None: a tied weight aespec stores twice, this file",
             "# once). Every other key is the same without its `net.` prefix."]
    if not renamed:
        lines.append("AESPEC_KEYS = {}")
    else:
        lines.append("AESPEC_KEYS = {")
        lines += [f"    {q(key)}: {q(new) if new else 'None'}," for key, new in renamed]
        lines.append("}")
    return lines + ["", "",
                    "def load_aespec_state_dict(model, state_dict):",
                    f'{INDENT}"""Load the state_dict of aespec\'s compiled model into this '
                    'module, strictly."""',
                    f"{INDENT}renamed = {{}}",
                    f"{INDENT}for key, value in state_dict.items():",
                    f'{INDENT * 2}new = AESPEC_KEYS.get(key, key.removeprefix("net."))',
                    f"{INDENT * 2}if new is not None:",
                    f"{INDENT * 3}renamed[new] = value",
                    f"{INDENT}return model.load_state_dict(renamed, strict=True)"]


def paired(spec: Spec) -> bool:
    """The data gives a separate target (`y=`): load_data returns (x, y)."""
    return spec.data is not None and spec.data.args.get("y") is not None


def _dims(shape: tuple[int, ...]) -> str:
    return ", ".join(map(str, shape))


def write_data(spec: Spec, output: tuple[int, ...], classes: int | None = None
               ) -> tuple[list[str], set[str]]:
    """`load_data(limit=None)` (and the stdlib modules it needs): the source entry's emitted
    loader where it has one for this data line, else random stand-in data; with `classes`
    (a conditional spec's) it returns the class labels too."""
    data = spec.data
    entry = None if data is None else REGISTRY.get(data.source)
    if data is None or entry is None or entry.emit is None:
        return _random(spec, output, classes), set()
    loader = entry.emit(LoaderCall(entry, data.args, spec.input.shape, q, lit, comment_text,
                                   classes is not None))
    if loader is None:
        return _random(spec, output, classes), set()
    head = [f"{INDENT}{line}" if line else "" for line in loader.head]
    return ["def load_data(limit=None):", *head, *block(list(loader.body), 1)], \
        set(loader.stdlib)


def _source_text(source: str, args: dict) -> str:
    """`npz(file="seg.npz", x="images")`: the data line's source as the spec resolved it."""
    parts = [f"{k}={q(v) if isinstance(v, str) else lit(v)}" for k, v in args.items()
             if v is not None]
    return f"{source}({', '.join(parts)})" if parts else source


def _random(spec: Spec, output: tuple[int, ...], classes: int | None = None) -> list[str]:
    data = spec.data
    said = ["the spec names no data (`aespec run --data SRC` gives some)."] if data is None \
        else ["aespec reads the spec's data here,", _source_text(data.source, data.args)]
    pair = paired(spec)
    lines = ["def load_data(limit=None):",
             f'{INDENT}"""Random stand-in data in [0, 1): {said[0]}', *(
                 f"{INDENT}{clip(text, WIDTH - len(INDENT))}" for text in said[1:]),
             "", f"{INDENT}Replace it with your own tensors of these shapes.", f'{INDENT}"""']
    body = ["n = 256 if limit is None else limit",
            f"x = torch.rand(n, {_dims(spec.input.shape)})"]
    if pair:
        body += [f"y = torch.rand(n, {_dims(output)})  # the targets", "return x, y"]
    elif classes is not None:
        body.append(f"return x, torch.randint(0, {classes}, (n,))  # the class labels")
    else:
        body.append("return x")
    return lines + block(body, 1)


def optimizer_call(spec: Spec, choice: OpChoice | None = None,
               params: str = "model.parameters()") -> str:
    """The optimizer's entry's torch call (the spec's, or `choice`'s) over `params`, less
    the keywords torch assumes."""
    choice = choice or spec.train.optimizer
    entry = OPTIMIZERS[choice.name]
    written = [f"{k}={lit(v)}" for k, v in entry.written_kwargs(choice.args).items()]
    return f"torch.optim.{entry.torch_name}({', '.join([params, *written])})"


def left_out(spec: Spec) -> list[str]:
    t = spec.train
    out = []
    if not SCHEDULES[t.schedule.name].noop:
        out.append(f"the {t.schedule.name} schedule")
    if t.early_stop is not None:
        out.append(f"early stopping (patience {t.early_stop.patience})")
    if t.pretrain is not None:
        out.append("layer-wise pretraining" if t.pretrain.name == "layerwise" else
                   f"{t.pretrain.name} pretraining")
    if t.precision != "fp32":
        out.append(f"{t.precision} autocast")
    if t.init is not None:  # load_aespec_state_dict reads its checkpoint's "model"
        out.append(f"the warm start from {t.init} (load_aespec_state_dict loads it)")
    if t.log == "grad_norm":
        out.append("the gradient norms in the metrics")
    out.append(f"the validation split ({lit(t.split)}) and the test set")
    return out


def write_training(spec: Spec, class_name: str, classes: int | None = None,
                   progress: bool = False, scheduled: bool = False) -> list[str]:
    """`train(...)` and the `__main__` block; with `classes` (a conditional spec's) `train`
    takes the labels that `load_data` returns, made one-hot by `__main__` as aespec's data
    stage makes them, and hands each batch its own to `loss_fn`; with `progress` (a module
    follows the training's progress: a som's shrinking neighbourhood) each epoch tells
    the modules where it stands, as aespec's loop does; with `scheduled` (weights written
    as schedules) each step sets them first, and `train { clip }` clips after backward."""
    t, pair = spec.train, paired(spec)
    if classes is not None:  # never paired as well: a conditional spec's target is x (E318)
        y_arg, batch_y = ", labels", ", labels[idx]"
    else:
        y_arg = ", y=None" if pair else ""
        batch_y = ", None if y is None else y[idx]" if pair else ""
    if classes is not None:
        doc = [f'{INDENT}"""Minibatch training with the spec\'s optimizer, each batch of x '
               "read with its", f"{INDENT}one-hot labels (N, {classes}); prints each "
               'epoch\'s mean loss."""']
    else:
        doc = [f'{INDENT}"""Minibatch training with the spec\'s optimizer; prints each '
               'epoch\'s mean loss."""']
    lines = [f"def train(model, x{y_arg}, epochs={t.epochs}, batch={t.batch}):", *doc,
             f"{INDENT}optimizer = {optimizer_call(spec)}"]
    told = ["    for module in model.modules():  # a som's neighbourhood: 0 first, 1 last",
            '        if hasattr(module, "set_progress"):',
            "            module.set_progress(epoch / max(epochs - 1, 1))"] if progress else []
    body = ["for epoch in range(epochs):", *told,
            "    model.train()",
            "    order = torch.randperm(len(x), device=x.device)",
            "    total = 0.0",
            *(["    steps = -(-len(x) // batch)"] if scheduled else []),
            "    for start in range(0, len(x), batch):",
            "        idx = order[start:start + batch]",
            *(step_lines() if scheduled else []),
            f"        loss, _ = loss_fn(model, x[idx]{batch_y})",
            "        optimizer.zero_grad()",
            "        loss.backward()",
            *clip_lines(spec),
            "        optimizer.step()",
            "        total += loss.item() * len(idx)",
            '    print(f"epoch {epoch + 1}/{epochs}: loss {total / len(x):.4f}")',
            "return model"]
    lines = block(lines, 0) + block(body, 1)
    left = "; ".join(left_out(spec))
    main = ["parser = argparse.ArgumentParser(description=" + q(description(spec)) + ")",
            f'parser.add_argument("--epochs", type=int, default={t.epochs})',
            'parser.add_argument("--limit", type=int, default=None, help="use the first N '
            'examples")',
            'parser.add_argument("--save", default=None, help="write the trained state_dict '
            'here")',
            "args = parser.parse_args()",
            f"torch.manual_seed({t.seed})",
            'device = "cuda" if torch.cuda.is_available() else "cpu"']
    if classes is not None:
        main += condition.load_lines(classes)
    elif pair:
        main += ["x, y = load_data(args.limit)", "x, y = x.to(device), y.to(device)"]
    else:
        main += ["x = load_data(args.limit).to(device)"]
    given = ", labels" if classes is not None else ", y" if pair else ""
    main += [f"model = {class_name}().to(device)",
             *wrap_comment(f"aespec run also does: {left}."),
             f"train(model, x{given}, epochs=args.epochs)",
             "if args.save:",
             "    torch.save(model.state_dict(), args.save)"]
    return lines + ["", "", 'if __name__ == "__main__":'] + block(main, 1)


def description(spec: Spec) -> str:
    """The parser's description; argparse formats one holding `%(prog)` with `%`, so its
    other `%` are doubled there (a file named `100%(prog)s%.ae` still prints its name)."""
    text = f"Train {spec.name}."
    return text.replace("%", "%%") if "%(prog)" in text else text


def wrap_comment(text: str, width: int = WIDTH - 6) -> list[str]:
    """A comment in lines of at most `width` characters."""
    lines, line = [], "#"
    for word in text.split():
        if len(line) + 1 + len(word) > width:
            lines.append(line)
            line = "#"
        line += " " + word
    return lines + [line]
