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
from aespec.emit.phases import PhasePlan
from aespec.emit.rules import lit, q
from aespec.emit.strings import clip, comment_text
from aespec.model import Spec, phase_spec
from aespec.model.settings import OpChoice
from aespec.ops.optimizers import OPTIMIZERS, SCHEDULES


def write_state_loader(renamed: list[tuple[str, str | None]], head: bool = False
                       ) -> list[str]:
    """`AESPEC_KEYS` and `load_aespec_state_dict`: the compiled model's keys, read here;
    `head`: a supervised head's layers, which aespec keeps under `head.`."""
    lines = ["# aespec's compiled model (aespec.build(spec), a run's checkpoint) keeps its layers",
             "# under `net.` and a loss term's own parameters under `objective_params.`; these",
             "# keys have other names here (None: a tied weight aespec stores twice, this file",
             "# once). Every other key is the same without its `net.` prefix."]
    if head:
        lines[-1:] = ["# once). Every other key is the same without its `net.` prefix (`head.`, "
                      "the head's)."]
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
                    f'{INDENT * 2}new = AESPEC_KEYS.get(key, key.removeprefix("net."'
                    f'){".removeprefix(" + q("head.") + ")" if head else ""})',
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


def left_out(spec: Spec, warm: bool = True) -> list[str]:
    """What aespec run does that the file's loop does not; `warm`: the warm start too (a
    GAN's file; an autoencoder's loads it: `warm_start`)."""
    t = spec.train
    out = []
    trains = [t] if not spec.phases else [phase_spec(spec, p).train for p in spec.phases]
    for name in dict.fromkeys(s.schedule.name for s in trains):
        if not SCHEDULES[name].noop:
            out.append(f"the {name} schedule")
    for patience in dict.fromkeys(s.early_stop.patience for s in trains if s.early_stop):
        out.append(f"early stopping (patience {patience})")
    if t.pretrain is not None:
        out.append("layer-wise pretraining" if t.pretrain.name == "layerwise" else
                   f"{t.pretrain.name} pretraining")
    if t.precision == "auto":
        out.append("the bf16 autocast `precision auto` picks on a CPU with a bf16 matrix "
                   "engine")
    elif t.precision != "fp32":
        out.append(f"{t.precision} autocast")
    if warm and t.init is not None:  # load_aespec_state_dict reads its checkpoint's "model"
        out.append(f"the warm start from {t.init} (load_aespec_state_dict loads it)")
    if t.log == "grad_norm":
        out.append("the gradient norms in the metrics")
    out.append(f"the validation split ({lit(t.split)}) and the test set")
    return out


def write_training(spec: Spec, class_name: str, classes: int | None = None,
                   progress: bool = False, scheduled: bool = False,
                   phases: PhasePlan | None = None) -> list[str]:
    """`train(...)` and the `__main__` block; with `classes` (a conditional spec's) `train`
    takes the labels that `load_data` returns, made one-hot by `__main__` as aespec's data
    stage makes them, and hands each batch its own to `loss_fn`; with `progress` (a module
    follows the training's progress: a som's shrinking neighbourhood) each epoch tells
    the modules where it stands, as aespec's loop does; with `scheduled` (weights written
    as schedules) each step sets them first, and `train { clip }` clips after backward;
    with `phases` (a spec with phases or frozen parts) `train` runs one phase and
    `train_phases` them all."""
    t, pair = spec.train, paired(spec)
    if phases is not None:
        return _phased(spec, class_name, classes, progress, scheduled, phases)
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
    given = ", labels" if classes is not None else ", y" if pair else ""
    epochs = f'parser.add_argument("--epochs", type=int, default={t.epochs})'
    main = _main(spec, class_name, classes, epochs,
                 [f"train(model, x{given}, epochs=args.epochs)"])
    return lines + ["", "", 'if __name__ == "__main__":'] + block(main, 1)


def _main(spec: Spec, class_name: str, classes: int | None, epochs: str,
          run: list[str]) -> list[str]:
    """The `__main__` block's lines: its arguments, the data, the model, `run`, the save."""
    t, pair = spec.train, paired(spec)
    main = ["parser = argparse.ArgumentParser(description=" + q(description(spec)) + ")",
            epochs,
            'parser.add_argument("--limit", type=int, default=None, help="use the first N '
            'examples")',
            'parser.add_argument("--save", default=None, help="write the trained state_dict '
            'here")']
    if t.init is not None:
        main += [f"parser.add_argument({q('--init')}, default={q(t.init)}, help="
                 f"{q('start from these weights')})"]
    main += ["args = parser.parse_args()",
             f"torch.manual_seed({t.seed})",
             'device = "cuda" if torch.cuda.is_available() else "cpu"']
    if classes is not None:
        main += condition.load_lines(classes)
    elif pair:
        main += ["x, y = load_data(args.limit)", "x, y = x.to(device), y.to(device)"]
    else:
        main += ["x = load_data(args.limit).to(device)"]
    main.append(f"model = {class_name}().to(device)")
    if t.init is not None:
        main += ["if args.init:  # as aespec's warm start (train { init ... })",
                 "    warm_start(model, args.init)"]
    left = "; ".join(left_out(spec, warm=False))
    return main + [*wrap_comment(f"aespec run also does: {left}."), *run,
                   "if args.save:", "    torch.save(model.state_dict(), args.save)"]


WARM_START = '''
def warm_start(model, path):
    """Load the weights at `path` into the model, as aespec's `train { init PATH }`: a run
    directory's best.pt, an aespec checkpoint or a state_dict, read with weights_only=True
    (tensors only: no code in the file runs). A relative path is read from the current
    directory here, from the spec's directory by aespec."""
    if os.path.isdir(path):
        path = os.path.join(path, "best.pt")
    state = torch.load(path, map_location="cpu", weights_only=True)
    load_aespec_state_dict(model, state.get("model", state))
'''


def _phased(spec: Spec, class_name: str, classes: int | None, progress: bool,
            scheduled: bool, plan: PhasePlan) -> list[str]:
    """`train` (one phase: its optimizer, epochs, loss and frozen modules) and
    `train_phases` (each phase in turn, as aespec/train/phases.py)."""
    t, pair = spec.train, paired(spec)
    labels = ["labels"] if classes is not None else []
    params = ["model", "x", *labels, "optimizer", "epochs", f"batch={t.batch}",
              *(["y=None"] if pair else []), "loss_fn=loss_fn", "frozen=()"]
    timed = progress or scheduled  # it reads where the run stands over every phase
    if timed:
        params += ["first=0", "total=None"]
    batch_y = ", labels[idx]" if classes is not None else \
        ", None if y is None else y[idx]" if pair else ""
    doc = ['"""One phase of minibatch training: `loss_fn` on each batch, the `frozen` '
           "modules kept",
           "as they are (no gradient, so no update; evaluation mode: a batchnorm keeps "
           "its statistics,",
           "a dropout every unit); prints each epoch's mean loss."]
    if timed:
        doc += ["", "`first` and `total`: where the phase's epochs stand in the whole "
                "run's."]
    doc.append('"""')
    told = ["    for module in model.modules():  # a som's neighbourhood: 0 first, 1 last",
            '        if hasattr(module, "set_progress"):',
            "            module.set_progress((first + epoch) / max((total or epochs) - 1, 1))"
            ] if progress else []
    body = [*doc,
            "for p in model.parameters():",
            "    p.requires_grad_(True)",
            "for module in frozen:",
            "    module.requires_grad_(False)",
            "for epoch in range(epochs):", *told,
            "    model.train()",
            "    for module in frozen:",
            "        module.eval()",
            "    order = torch.randperm(len(x), device=x.device)",
            "    total_loss = 0.0",
            *(["    steps = -(-len(x) // batch)"] if scheduled else []),
            "    for start in range(0, len(x), batch):",
            "        idx = order[start:start + batch]",
            *(["        for name, at in SCHEDULES.items():  # the weights follow the steps",
               "            WEIGHTS[name] = at(first + epoch + start // batch / steps, "
               "total or epochs)"] if scheduled else []),
            f"        loss, _ = loss_fn(model, x[idx]{batch_y})",
            "        optimizer.zero_grad()",
            "        if loss.requires_grad:  # not when every part is frozen",
            "            loss.backward()",
            *(INDENT + line for line in clip_lines(spec)),
            "            optimizer.step()",
            "        total_loss += loss.item() * len(idx)",
            '    print(f"epoch {epoch + 1}/{epochs}: loss {total_loss / len(x):.4f}")',
            "return model"]
    signature = _call_lines(f"def train({params[0]}", params[1:])
    signature[-1] += ":"
    lines = [*signature, *(line.rstrip() for line in block(body, 1)), "", ""]
    lines += _train_phases(spec, plan, classes, timed)
    given = ", labels" if classes is not None else ", y" if pair else ""
    epochs = ('parser.add_argument("--epochs", type=int, default=None, help="every '
              'phase\'s epochs (default: its own)")') if spec.phases else \
        f'parser.add_argument("--epochs", type=int, default={t.epochs})'
    main = _main(spec, class_name, classes, epochs,
                 [f"train_phases(model, x{given}, epochs=args.epochs)"])
    return lines + ["", "", 'if __name__ == "__main__":'] + block(main, 1)


def _train_phases(spec: Spec, plan: PhasePlan, classes: int | None, progress: bool
                  ) -> list[str]:
    pair = paired(spec)
    arg = ", labels" if classes is not None else ", y=None" if pair else ""
    given = ", labels" if classes is not None else ""
    named = plan.phases[0].name is not None
    doc = ['"""The spec\'s phases in order, as aespec run trains them: each with a new '
           "optimizer, its", "own epochs, noise, loss and frozen parts; `epochs` (if "
           'given) replaces each phase\'s."""'] if named else \
        ['"""The spec\'s training with its frozen parts, as aespec run trains it; `epochs` '
         '(if given)', 'replaces the spec\'s."""']
    body = list(doc)
    total = sum(p.train.epochs for p in plan.phases)
    if progress:
        body.append(f"total = {total} if epochs is None else epochs * {len(plan.phases)}")
    first = "0"
    for ph in plan.phases:
        if ph.name is not None:
            said = f": {ph.said}" if ph.said else ""
            body.append(f"# phase {ph.name} (line {ph.line}){said}")
        if plan.noises is not None:
            body.append(f"model.noise = {'None' if ph.noise is None else 'model.' + ph.noise}")
        body.append(f"optimizer = {optimizer_call(spec, ph.train.optimizer)}")
        n = f"{ph.train.epochs} if epochs is None else epochs"
        kwargs = [f"loss_fn={ph.loss}"] if ph.loss != "loss_fn" else []
        if pair:
            kwargs.append("y=y")
        if ph.frozen:  # one piece a module: a long list is broken between them
            mods = [f"model.{a}" for a in ph.frozen]
            mods[0] = f"frozen=[{mods[0]}"
            mods[-1] += "]"
            kwargs += mods
        if progress:
            kwargs += [f"first={first}", "total=total"]
        call = f"train(model, x{given}, optimizer, {n}"
        body += _call_lines(call, kwargs)
        if progress:
            first = f"{first} + ({ph.train.epochs} if epochs is None else epochs)" \
                if first != "0" else f"({ph.train.epochs} if epochs is None else epochs)"
    body.append("return model")
    return [f"def train_phases(model, x{arg}, epochs=None):", *block(body, 1)]


def _call_lines(head: str, kwargs: list[str]) -> list[str]:
    """`head, kw=..., ...)`, broken between arguments where it is too long for the body of
    a function, each line after the first aligned with the call's parenthesis."""
    lines, line = [], head
    lead = " " * (head.index("(") + 1)
    for arg in kwargs:
        if len(INDENT + line + ", " + arg) + 1 > WIDTH:
            lines.append(line + ",")
            line = lead + arg
        else:
            line += ", " + arg
    return [*lines, line + ")"]


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
