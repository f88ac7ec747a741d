"""A conditional spec's labels (`condition labels(N)`) in the emitted file, for a GAN's two
networks and an autoencoder's one alike.

The graph's node `y` is no op of `order` (aespec/graph/build.py): it is the example's class,
one-hot, which any network joins by name.  The emitted code holds it in the variable `y`,
an argument of every function that runs a network (`forward(x, y)`, `decode(z, y)`, a
GAN's `Generator.forward(z, y)`), as the compiled models take it (`AEModel(x, target=y)`,
`GANModel.g(z, y)`).  `load_data` returns the data's class labels with the examples, and
`__main__` makes them one-hot before training, as the data stage does
(aespec/train/batches.py, `one_hot_labels`).  Where labels are not given (`sample`), the
classes are taken in turn, as aespec's `classes_in_turn`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aespec.graph.ir import IR


def classes(g: IR) -> int | None:
    """A conditional spec's number of classes (`condition labels(N)`); None else."""
    return g.nodes["y"].output_shape()[0] if "y" in g.nodes else None


def y_arg(g: IR) -> str:
    """`, y`: the labels' argument of a conditional network's calls; nothing for another."""
    return ", y" if "y" in g.nodes else ""


def env(g: IR) -> dict[str, str]:
    """A segment's starting variables: the labels, where the spec has them."""
    return {"y": "y"} if "y" in g.nodes else {}


def in_turn(n: str, like: str, k: int) -> str:
    """The line that makes `y` the classes 0, 1, ..., k - 1, 0, ... for `n` examples, of
    the dtype and device of the tensor `like` (aespec's default labels)."""
    return f"y = F.one_hot(torch.arange({n}, device={like}.device) % {k}, {k}).to({like})"


def given(k: int) -> str:
    """`, given one-hot labels y (B, k)`: a docstring's words for the labels argument."""
    return f", given one-hot labels y (B, {k})"


def load_lines(k: int) -> list[str]:
    """`__main__`'s lines that read the data and its labels, one-hot, onto the device."""
    return ["x, labels = load_data(args.limit)",
            f"x, labels = x.to(device), F.one_hot(labels.long(), {k}).float().to(device)"]
