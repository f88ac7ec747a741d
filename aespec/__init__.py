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
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aespec.errors import AespecError, Diagnostic

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


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext aespec`: the `%%aespec` cell magic (aespec.notebook) in IPython/Jupyter."""
    from aespec.notebook import register

    register(ipython)


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
