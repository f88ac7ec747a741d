"""The one registry of ops: layers, activations, joins, latents, noise, losses, regularizers.

Each op is one `OpDef` (`aespec.ops.registry`): its argument model (pydantic), shape rule,
parameter rule, value range rule, mirror rule, documentation line, drawing style, torch
builder, emit rule and the flags and hooks that the checks, the compiler and the report
read. Adding an op is adding one entry; nothing else in aespec switches on op names. Importing this
package registers every op; torch is imported only when a builder is called.
"""

from aespec.ops import (  # noqa: F401
    activations,
    joins,
    latents,
    layers,
    losses,
    noise,
    rbm,
    shapes,
    som,
)
from aespec.ops.registry import (
    REGISTRY,
    UNBOUNDED,
    Args,
    Kind,
    MissingRule,
    NoArgs,
    OpDef,
    Place,
    Range,
    Shape,
    ShapeProblem,
    alias_of,
    fmt_num,
    fmt_value,
    format_args,
    formula_text,
    get_op,
    lookup,
    missing,
    names,
    op_text,
    register,
)

__all__ = ["REGISTRY", "UNBOUNDED", "Args", "Kind", "MissingRule", "NoArgs", "OpDef", "Place",
           "Range", "Shape", "ShapeProblem", "alias_of", "fmt_num", "fmt_value", "format_args",
           "formula_text", "get_op", "lookup", "missing", "names", "op_text", "register"]
