"""The compile stage: graph IR -> torch module (`compile_model`).

    >>> model = compile_model(aespec.graph_of(spec), spec)   # or aespec.build(spec)
    >>> out = model(x)                                 # AEOutput: loss, terms, x_hat, z, extras
    >>> print(model.net.code)                          # the generated network

The only aespec stage besides training that imports torch.  See docs/compile.md.
"""

from aespec.compile.compiler import compile_model
from aespec.compile.model import AEModel, AEOutput

__all__ = ["AEModel", "AEOutput", "compile_model"]
