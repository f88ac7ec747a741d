"""The emit door: a small valid spec with random Unicode (quotes, backslashes, newlines, NUL,
U+2028, lone surrogates) in its doc string, its data path, its file name and the name of
the emitted file, and Python's keywords and the emitted file's own names as the model's
name, through `emit_source`.

A finding besides an exception: text that does not compile (SyntaxError, ValueError), that
cannot be written as UTF-8, or whose top-level statements differ from the same spec's
emitted with clean strings (a statement more or less, a name defined twice, a docstring
that is not a constant).
"""

from __future__ import annotations

import ast
import keyword
import random
from collections.abc import Callable, Iterator
from pathlib import Path

from fuzz_doors import HOSTILE, Finding, cycle

SPEC = ('model {name} "{doc}"\ndata {data}\ninput vector({n})\nencoder {{\n    dense(8) relu\n}}\n'
        "bottleneck {{\n    dense(2)\n}}\ndecoder mirror\ntrain {{\n    epochs 1\n}}\n")
DATA = [("digits", 64), ('npz("{path}")', 64), ('npy("{path}")', 64),
        ('csv("{path}", label="{label}")', 64), ('mnist(path="{path}")', 784),
        ('fashion_mnist(path="{path}")', 784), ('images("{path}")', 64)]
EMITTED = ["torch", "nn", "F", "math", "os", "gzip", "argparse", "train", "load_data",
           "loss_fn", "read_idx", "AESPEC_KEYS", "load_aespec_state_dict", "main", "args",
           "parser", "model", "x", "y", "device", "print", "object", "super", "self", "_",
           "__class__", "__name__", "a" * 300, "Model", "tiny"]
NAMES = sorted(set(keyword.kwlist + keyword.softkwlist)) + EMITTED
PIECES = ['"', "'", "\\", "\n", "\r", "\x00", "\u2028", "\u2029", "\ud800", "\x0b", "\x0c",
          "\x1b", "#", "{", "}", "`", "$", "é", "\U0001d518", "\x85", "\ufeff", "\\N",
          "\\x", "\\u", '"""', "'''", " ", "a", ".", "/"]
KINDS = ["doc", "path", "file", "emitted", "name", "all"]


def hostile(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return rng.choice(HOSTILE)[:300]
    return "".join(rng.choice(PIECES) for _ in range(rng.randrange(1, 12)))


def ae_string(text: str) -> str:
    """`text` as the inside of a spec's string literal (the grammar's three escapes)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def outline(text: str) -> tuple[list[str], int]:
    """The top-level statements' kinds and how many distinct names they define; a Finding
    for text that does not compile, cannot be written, or does not open with a docstring."""
    try:
        text.encode("utf-8")
        tree = ast.parse(text)
        compile(tree, "emitted.py", "exec")
    except (SyntaxError, ValueError) as exc:
        raise Finding(f"the emitted file does not compile: {type(exc).__name__}: "
                      f"{str(exc)[:80]}") from None
    first = tree.body[0] if tree.body else None
    if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        raise Finding("the emitted file does not open with a docstring")
    names: set[str] = set()
    for s in tree.body:
        if isinstance(s, (ast.ClassDef, ast.FunctionDef)):
            names.add(s.name)
        elif isinstance(s, ast.Assign):
            names |= {t.id for t in s.targets if isinstance(t, ast.Name)}
        elif isinstance(s, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in s.names}
    return [type(s).__name__ for s in tree.body], len(names)


class Door:
    def __init__(self) -> None:
        self.clean: dict[tuple[str, str], tuple[list[str], int]] = {}

    def expected(self, data: str, n: int, path: str) -> tuple[list[str], int]:
        """The outline of the spec emitted with clean strings (the same data source, and
        a path with the same suffix: an MNIST source with an .npz path reads no IDX)."""
        clean = "d.npz" if path.endswith(".npz") else "d"
        if (data, clean) not in self.clean:
            self.clean[(data, clean)] = outline(self.emit("clean", "clean", data.format(
                path=clean, label="y"), n, "clean.ae", None))
        return self.clean[(data, clean)]

    @staticmethod
    def emit(name: str, doc: str, data: str, n: int, path: str, filename: str | None) -> str:
        from aespec.emit import emit_source
        from aespec.graph.frontend import check_source

        result = check_source(SPEC.format(name=name, doc=ae_string(doc), data=data, n=n), path)
        result.raise_for_errors()
        return emit_source(result.ir, result.spec, filename)

    def check(self, name: str, doc: str, data: tuple[str, int], path: str, spec_file: str,
              filename: str | None) -> None:
        text = self.emit(name, doc, data[0].format(path=ae_string(path), label=ae_string(doc)),
                         data[1], spec_file, filename)
        kinds, defined = outline(text)
        clean_kinds, clean_defined = self.expected(*data, path)
        if kinds != clean_kinds:
            raise Finding("the emitted file's top-level statements differ from the clean "
                          f"spec's ({len(kinds)} against {len(clean_kinds)})")
        if defined != clean_defined:
            raise Finding("a name is defined twice at the emitted file's top level "
                          f"({defined} names against {clean_defined})")


def inputs(rng: random.Random, n: int, folder: Path
           ) -> Iterator[tuple[str, str, Callable[[], object]]]:
    door = Door()
    for i in range(n):
        kind = cycle(KINDS, i)
        every = kind == "all"
        name = rng.choice(NAMES) if kind == "name" or every else "tiny"
        doc = hostile(rng) if kind == "doc" or every else "A tiny one"
        path = hostile(rng) if kind == "path" or every else "d.npz"
        spec_file = (hostile(rng) + ".ae") if kind == "file" or every else "tiny.ae"
        emitted = (hostile(rng) + ".py") if kind == "emitted" or every else None
        data = rng.choice(DATA)
        shown = f"name={name!r:.40} doc={doc!r:.60} path={path!r:.60} file={spec_file!r:.60} " \
                f"emitted={emitted!r:.60} data={data[0]}"
        yield kind, shown, lambda a=(name, doc, data, path, spec_file, emitted): door.check(*a)
