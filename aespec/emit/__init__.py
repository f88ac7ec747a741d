"""The emit stage: graph IR -> a standalone PyTorch file that does not import aespec.

    >>> text = emit_source(result.ir, result.spec)   # what `aespec emit SPEC` prints

Text only: nothing here imports torch.  See docs/emit.md.
"""

from aespec.emit.source import emit_source

__all__ = ["emit_source"]
