"""aespec: a declarative model-spec compiler and runner for autoencoders.

    >>> import aespec
    >>> spec = aespec.load("specs/undercomplete_fc.ae")   # parse, validate, shape-check
    >>> model = spec.build()                               # torch module
    >>> result = aespec.train(spec, epochs=2)              # a training run

Importing aespec imports neither torch nor graphviz; `build`, `train` and drawing do.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aespec.errors import AespecError, Diagnostic

if TYPE_CHECKING:
    from aespec.spec import Spec

__all__ = ["AespecError", "Diagnostic", "check", "load", "train"]
__version__ = "0.1.0"


def check(path: str | Path, overrides: Sequence[str] = ()):
    """Check a spec file; returns a CheckResult with diagnostics (never raises for the spec)."""
    from aespec.checking import check_file

    return check_file(path, list(overrides))


def load(path: str | Path, overrides: Sequence[str] = ()) -> Spec:
    """Load and check a spec file; raises AespecError when it has errors."""
    result = check(path, overrides)
    result.raise_for_errors()
    assert result.spec is not None
    return result.spec


def __getattr__(name: str) -> Any:
    if name == "train":  # imported on first use: it pulls in torch
        from aespec.train import train

        return train
    raise AttributeError(f"module 'aespec' has no attribute {name!r}")
