"""Data sources: turn a `data SOURCE(args)` line into float32 arrays shaped like `input`.

A source is an argument model in `SOURCES` (sources.py) plus an entry in `_REGISTRY`
(load.py: its loader and, where it is known without reading a file, the shape of one
example). Loaders (datasets.py, files.py, synthetic.py) return a `Raw`; the split, scaling,
reshape and checks are shared (prepare.py). numpy, scikit-learn, gzip and friends are
imported inside functions: `aespec check` imports this package to validate arguments and
must not pay for them.
"""

from aespec.data.base import Dataset
from aespec.data.datasets import _interpolation_matrix  # noqa: F401 (tests check the resize)
from aespec.data.load import in_unit_range, load_data, natural_shape
from aespec.data.sources import (
    SOURCES,
    CsvArgs,
    DigitsArgs,
    MnistArgs,
    NpyArgs,
    NpzArgs,
    SyntheticArgs,
    validate_args,
)

__all__ = ["SOURCES", "CsvArgs", "Dataset", "DigitsArgs", "MnistArgs", "NpyArgs", "NpzArgs",
           "SyntheticArgs", "in_unit_range", "load_data", "natural_shape", "validate_args"]
