"""Emitted loaders: the `load_data(limit=None)` that `aespec emit` writes for a source it can
read without aespec (scikit-learn's digits, MNIST or Fashion-MNIST IDX files).

Each is the `emit` rule of its source's entry; the emit stage (aespec/emit/script.py) calls
it and writes the result. Text only: the lines here are the emitted file's.
"""

from __future__ import annotations

from typing import Any

from aespec.data.entry import Loader, LoaderCall

READ_IDX = '''
def read_idx(path):
    """An IDX file (gzipped or not) as a uint8 tensor of the shape its header gives."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return torch.frombuffer(bytearray(data[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)
'''


def _dims(shape: tuple[int, ...]) -> str:
    return ", ".join(map(str, shape))


def _normal_lines(call: LoaderCall) -> list[str]:
    normal = call.args.get("normal")
    if normal is None:
        return []
    classes = (normal,) if isinstance(normal, int) else tuple(normal)
    return [f"keep = torch.isin(labels, torch.tensor({list(classes)}))  "
            f"# normal={call.comment(call.literal(normal))}"
            ": train on these classes", "x = x[keep]",
            *(["labels = labels[keep]"] if call.labels else [])]


def _scaled(call: LoaderCall, x: str) -> tuple[str, str]:
    """(the range the docstring names, the expression of `x` in it): `range=(-1, 1)` maps
    [0, 1] to [-1, 1] as aespec does, in float32."""
    lo, hi = call.args.get("range") or (0, 1)
    if (lo, hi) == (0, 1):
        return "[0, 1]", x
    shift = f" - {-lo:g}" if lo < 0 else f" + {lo:g}"
    return f"[{lo:g}, {hi:g}]", f"({x} * {hi - lo:g}{shift})"


def digits_loader(call: LoaderCall) -> Loader:
    """scikit-learn's digits, resized with F.interpolate where `size=` asks."""
    args, size = call.args, call.args.get("size")
    what = "digits" + (f"(size={size})" if size else "")
    resized = size and size != 8
    scale, x = _scaled(call, "x[:limit]")
    head = (f'"""{what}: scikit-learn\'s 1,797 8x8 digits, scaled to {scale}'
            + (f", resized to {size}x{size}" if resized else "") + ".",
            "", "aespec holds out a test split; here every example trains.", '"""',
            "from sklearn.datasets import load_digits", "")
    body = ["digits = load_digits()",
            "x = torch.tensor(digits.images / 16.0, dtype=torch.float32)[:, None]"
            "  # (1797, 1, 8, 8)"]
    if resized:
        body.append(f'x = F.interpolate(x, size=({size}, {size}), mode="bilinear", '
                    "align_corners=False)")
    if args.get("normal") is not None or call.labels:
        body += ["labels = torch.tensor(digits.target)", *_normal_lines(call)]
    body.append(f"return {x}.reshape(-1, {_dims(call.shape)}){_labels(call)}")
    return Loader(head, tuple(body))


def _labels(call: LoaderCall) -> str:
    """`, labels[:limit]`: the second value a conditional spec's loader returns."""
    return ", labels[:limit]" if call.labels else ""


def mnist_loader(call: LoaderCall) -> Loader | None:
    """The training IDX files in `path=` or the entry's system folder; None for an .npz."""
    source, args = call.source.name, call.args
    if str(args.get("path") or "").endswith(".npz"):
        return None
    folder = args.get("path") or call.source.system_dirs[0]
    scale, x = _scaled(call, "x[:limit].float() / 255.0")
    head = (f'"""{source}: the training images of the IDX files, scaled to {scale}.', "",
            "aespec also looks in $AESPEC_DATA, and tests on the t10k files.", '"""')
    body = [f"folder = {call.quote(folder)}",
            'images = os.path.join(folder, "train-images-idx3-ubyte")',
            'images += ".gz" if os.path.exists(images + ".gz") else ""',
            "x = read_idx(images)  # (N, 28, 28) uint8"]
    if args.get("limit"):  # the first N examples, before any normal= filter (as aespec)
        body.append(f"x = x[:{args['limit']}]  # limit={args['limit']}")
    if args.get("normal") is not None or call.labels:
        body += ['names = os.path.join(folder, "train-labels-idx1-ubyte")',
                 'names += ".gz" if os.path.exists(names + ".gz") else ""',
                 f"labels = read_idx(names)[:{_len_of(args)}].long()", *_normal_lines(call)]
    x = x if x.startswith("(") else f"({x})"  # _scaled's range is already bracketed
    body.append(f"return {x}.reshape(-1, {_dims(call.shape)}){_labels(call)}")
    return Loader(head, tuple(body), frozenset({"gzip", "os"}), (READ_IDX,))


def _len_of(args: dict[str, Any]) -> str:
    """The slice end of the labels: as many as the images kept."""
    return str(args["limit"]) if args.get("limit") else "len(x)"
