"""aespec: a declarative model-spec compiler and runner for autoencoders.

    >>> import aespec
    >>> spec = aespec.load("specs/undercomplete_fc.ae")   # parse, validate, shape-check
    >>> spec = aespec.loads(text)                          # the same from a string
    >>> model = aespec.build(spec)                         # torch module
    >>> result = aespec.train(spec, epochs=2)              # a training run
    >>> run = aespec.train.load_run(result.run_dir)        # the run read back

The stages are subpackages, in pipeline order (docs/stages.md): parse, ops, data, model,
resolve, graph, draw, compile, report, train, cli. This module is the one place besides
the CLI that knows them all; it imports each only when a function needs it, so importing
aespec imports neither torch nor graphviz.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aespec.errors import AespecError, Diagnostic

# torch's OpenMP (libgomp) keeps an idle thread spinning for ~300,000 turns after each
# parallel region, waiting for the next. On a machine with free cores that saves a wake-up;
# on a busy one (a laptop with a browser, a CI runner, a grading box) the spinning thread
# takes the core its partner needs, and every region waits a scheduler slice: the dense
# AE's steps ran 6-10x slower with one other busy process. A short spin keeps most of the
# first and loses none of the second (bench/CONTENTION.md). Set before torch loads, and
# only where the user has not chosen: their OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
if "torch" not in sys.modules and not {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"} & set(os.environ):
    os.environ["GOMP_SPINCOUNT"] = "1000"

if TYPE_CHECKING:
    import networkx as nx

    from aespec.graph import CheckResult
    from aespec.graph.ir import IR
    from aespec.model import Spec

__all__ = ["AespecError", "Diagnostic", "build", "check", "graph_of", "load", "loads", "svg",
           "train"]
__version__ = "0.1.0"


def check(path: str | Path, overrides: Sequence[str] = ()) -> CheckResult:
    """Check a spec file; returns a CheckResult with diagnostics (never raises for the spec)."""
    from aespec.graph import check_file

    return check_file(path, list(overrides))


def load(path: str | Path, overrides: Sequence[str] = ()) -> Spec:
    """Load and check a spec file; raises AespecError when it has errors."""
    result = check(path, overrides)
    result.raise_for_errors()
    assert result.spec is not None
    return result.spec


def loads(text: str, overrides: Sequence[str] = (), path: str = "<string>") -> Spec:
    """Load and check a spec from its text, as `load` does from a file; raises AespecError
    when it has errors. `path` names the text in diagnostics (`<string>:3:5: error[...]`);
    a name in angle brackets is no file: the model's name defaults to `model` and its
    relative data paths start from the working directory."""
    from aespec.graph import check_source

    result = check_source(text, path, list(overrides))
    result.raise_for_errors()
    assert result.spec is not None
    return result.spec


def graph_of(spec: Spec) -> nx.DiGraph:
    """The graph IR of a resolved spec as a networkx DiGraph, every shape inferred, node and
    edge attributes as dicts (`IR.to_networkx`); AespecError if the spec has errors."""
    return _ir_of(spec).to_networkx()


def _ir_of(spec: Spec) -> IR:
    from aespec.graph import check_spec

    result = check_spec(spec)
    result.raise_for_errors()
    assert result.ir is not None
    return result.ir


def build(spec: Spec) -> Any:
    """The torch module (`AEModel`) of a resolved spec; imports torch."""
    from aespec.compile import compile_model

    return compile_model(_ir_of(spec), spec)


def svg(spec: Spec) -> str:
    """The spec's diagram as SVG text (graphviz's `dot` draws it)."""
    from aespec.draw import to_svg

    return to_svg(_ir_of(spec), spec)


def __getattr__(name: str) -> Any:
    if name == "train":  # imported on first use: it pulls in torch. The module is callable.
        return importlib.import_module("aespec.train")
    raise AttributeError(f"module 'aespec' has no attribute {name!r}")


# ---------------------------------------------------------------- IPython and Jupyter

CELL = "<cell>"  # how diagnostics name the spec of a `%%aespec` cell


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext aespec`: registers the `%%aespec` cell magic (`aespec_magic`). IPython is
    an optional dependency: nothing here imports it (IPython itself calls this)."""

    def magic(line: str, cell: str) -> Any:
        return aespec_magic(line, cell, ipython)

    magic.__doc__ = f"{aespec_magic.__doc__}\n{_magic_parser().format_help()}"
    ipython.register_magic_function(magic, magic_kind="cell", magic_name="aespec")


def aespec_magic(line: str, cell: str, shell: Any = None) -> Any:
    """`%%aespec [NAME] [--run] [--epochs N] [--set K=V]...` checks the cell's spec; its
    value is the Spec (its summary, diagram and source), bound to NAME when given. Errors
    and warnings point at the cell's own lines (`%%aespec` is line 1, as Jupyter numbers
    them); errors stop the cell and show as the diagnostics, not a traceback
    (`AespecError._render_traceback_`). With `--run` it trains the spec too, a bar updated
    in place, and the cell's value is the RunResult, shown as its card."""
    from aespec.graph import check_source

    args = _magic_args(line)
    # a blank line in place of the `%%aespec` line: a diagnostic's line is the cell's
    result = check_source("\n" + cell, CELL, args.sets, args.data)
    result.raise_for_errors()
    warnings = [d.render(result.source) for d in result.diagnostics]
    if warnings:
        print("\n".join(warnings))
    if args.name is not None and shell is not None:
        shell.user_ns[args.name] = result.spec
    if not args.run:
        return result.spec
    from aespec.train import train as run

    return run(result, data=args.data, epochs=args.epochs, device=args.device, out=args.out,
               quiet=args.quiet, overrides=args.sets, tensorboard=args.tensorboard)


def _magic_parser() -> Any:
    import argparse

    p = argparse.ArgumentParser(prog="%%aespec", add_help=False, allow_abbrev=False,
                                description="Check (and with --run train) the cell's spec.")
    p.add_argument("name", nargs="?", help="a variable that receives the Spec")
    p.add_argument("--run", action="store_true", help="train it; the cell shows the run")
    p.add_argument("--epochs", type=int, help="train.epochs for this run")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="an override, as `aespec run --set` (repeatable)")
    p.add_argument("--data", help="a data source in place of the spec's `data` line")
    p.add_argument("--out", help="the run directory (default runs/<name>-<timestamp>)")
    p.add_argument("--device", help="train.device for this run")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--tensorboard", action="store_true",
                   help="also write TensorBoard event files to RUN_DIR/tensorboard/")
    return p


def _magic_args(line: str) -> Any:
    """The options of the magic's line; IPython's UsageError (shown without a traceback)
    for ones it does not know."""
    import shlex

    from IPython.core.error import UsageError

    parser = _magic_parser()
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"%%aespec {line}: {exc}") from None
    args, unknown = parser.parse_known_args(words)
    if unknown:
        raise UsageError(f"%%aespec: unknown option {' '.join(unknown)}\n"
                         f"{parser.format_usage()}")
    if args.name is not None and not args.name.isidentifier():
        raise UsageError(f"%%aespec: {args.name!r} is not a Python name\n"
                         f"{parser.format_usage()}")
    return args


def _spec_html(spec: Spec) -> str:
    from aespec.report.page import spec_html

    return spec_html(spec)


def _register_ipython() -> None:
    """Inside IPython, show a Spec as HTML (its summary, diagram and source): a formatter
    registered by the class's name, so nothing is imported until a Spec is displayed (the
    model stage is plain data and draws nothing itself)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if callable(get) else None
    formatters = getattr(getattr(shell, "display_formatter", None), "formatters", None)
    if isinstance(formatters, dict) and "text/html" in formatters:
        formatters["text/html"].for_type_by_name("aespec.model.spec", "Spec", _spec_html)


_register_ipython()
