"""The training stage: a spec and its data -> a training run -> a run directory.

    >>> import aespec
    >>> result = aespec.train("specs/denoising_conv.ae", epochs=2, out="runs/demo")
    >>> result.test                     # mean test loss by term
    >>> run = aespec.train.load_run("runs/demo")   # the spec and best weights back

See docs/training.md. This package imports torch; `import aespec` does not.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from aespec.train.api import RunResult, build_model, train
from aespec.train.loaded import LoadedRun, load_run
from aespec.train.progress import LineReporter, Reporter, RunStart

__all__ = ["LineReporter", "LoadedRun", "Reporter", "RunResult", "RunStart", "build_model",
           "load_run", "train"]


class _CallableModule(types.ModuleType):
    """`aespec.train(...)` and `aespec.train.load_run(...)` both work: the module is callable."""

    def __call__(self, *args: Any, **kwargs: Any) -> RunResult:
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
