"""Data sources: turn a `data SOURCE(args)` line into float32 arrays shaped like `input`.

A source is one `DataSource` entry (aespec/data/entry.py) in `REGISTRY`: its argument
model, loader, example shape, value range, labels, emitted loader and system folders.
Each source's module registers its entry beside its loader (datasets.py, filesources.py,
synthetic.py). Loaders return a `Raw`; the
split, scaling, reshape and checks are shared (prepare.py). numpy, scikit-learn, gzip and
friends are imported inside functions: `aespec check` imports this package to validate
arguments and must not pay for them.
"""

from aespec.data.base import Dataset
from aespec.data.datasets import _interpolation_matrix  # noqa: F401 (tests check the resize)
from aespec.data.entry import REGISTRY, DataSource
from aespec.data.load import (
    in_unit_range,
    known_range,
    load_data,
    natural_count,
    natural_shape,
)
from aespec.data.sources import (
    CsvArgs,
    DigitsArgs,
    MnistArgs,
    NpyArgs,
    NpzArgs,
    SourceArgs,
    SyntheticArgs,
    validate_args,
)

__all__ = ["REGISTRY", "CsvArgs", "DataSource", "Dataset", "DigitsArgs",
           "MnistArgs", "NpyArgs", "NpzArgs", "SourceArgs", "SyntheticArgs", "in_unit_range",
           "known_range", "load_data", "natural_count", "natural_shape", "validate_args"]
