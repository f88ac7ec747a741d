"""The helper functions an emitted file defines when its ops need them: source text.

Each is the text of a definition in `aespec.ops.portable`, the one aespec itself runs,
read from that file rather than imported (emitting never imports torch): the emitted
helper and aespec's cannot drift apart.
"""

from __future__ import annotations

import ast
from importlib.resources import files

# a helper's name, as emit rules ask for it (`Written.helpers`) -> its definition's name
DEFINITIONS = {"occlude": "occlude", "example_norm": "ExampleNorm", "tile_draws": "tile_draws",
               "gaussian_nll": "gaussian_nll", "contractive_penalty": "contractive_penalty",
               "ksparse": "ksparse", "mmd_penalty": "mmd_penalty", "observed_only": "observed_only",
               "log_importance_weights": "log_importance_weights", "iwae_loss": "iwae_loss",
               "VectorQuantizer": "VectorQuantizer", "SelfOrganizingMap": "SelfOrganizingMap",
               "Prototype": "Prototype", "RBM": "RBM", "RBMVisible": "RBMVisible"}


def definitions(text: str) -> dict[str, str]:
    """Each top-level function and class of a module's text, by name: its lines verbatim
    (whole lines, so a comment that ends the last one stays; decorators left out)."""
    lines = text.splitlines()
    return {node.name: "\n".join(lines[node.lineno - 1:node.end_lineno])
            for node in ast.parse(text).body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


def portable_text() -> str:
    """The text of `aespec/ops/portable.py`, from the installed package."""
    return files("aespec.ops").joinpath("portable.py").read_text(encoding="utf-8")


# the rules of weight schedules, from `aespec/ops/anneal.py` (no torch there either)
SCHEDULE_RULES = ("linear_weight", "cyclical_weight", "step_weight")


def _read_helpers() -> dict[str, str]:
    found = definitions(portable_text())
    rules = definitions(files("aespec.ops").joinpath("anneal.py").read_text(encoding="utf-8"))
    return {**{helper: found[name] for helper, name in DEFINITIONS.items()},
            **{name: rules[name] for name in SCHEDULE_RULES}}


HELPERS = _read_helpers()
