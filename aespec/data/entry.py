"""The data-source entry: everything aespec knows of one `data SOURCE(args)`, in one record.

A source's module defines its loader and, beside it, its `DataSource` entry, and calls
`register`: `REGISTRY` (name -> entry) is then the one table that validation, shape
inference, loading and `aespec emit` read, as `aespec.ops.REGISTRY` is for ops. Nothing
here reads data or imports numpy: `aespec check` imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pydantic import BaseModel

    from aespec.data.base import Ctx, Raw

Shape = tuple[int, ...]
# where a source's class labels come from: "always" (the data set's own), "named" (the
# argument `labels_arg` names them), "folders" (class sub-folders), "never"
Labels = Literal["always", "named", "folders", "never"]


@dataclass(frozen=True)
class LoaderCall:
    """What an emitted-loader rule reads: the entry, the data line's arguments as the spec
    resolved them, the input's shape, and the emit stage's writers for values from a spec
    (`quote`: a string literal that reads back as the text; `literal`: a literal that reads
    back as the value; `comment`: text that stays on its comment line), passed in because
    data stands before emit and may not import it."""

    source: DataSource
    args: dict[str, Any]
    shape: Shape
    quote: Callable[[str], str]
    literal: Callable[[Any], str]
    comment: Callable[[str], str]
    labels: bool = False  # a conditional spec's: load_data returns (x, class labels)


@dataclass(frozen=True)
class Loader:
    """A source's `load_data(limit=None)` in the emitted file."""

    head: tuple[str, ...]  # docstring and first lines, written as they are (one indent)
    body: tuple[str, ...]  # its statements, fitted to the file's line width
    stdlib: frozenset[str] = frozenset()  # modules it uses (`gzip` brings READ_IDX)
    helpers: tuple[str, ...] = ()  # functions written before it


# None: this call has no form without aespec (the emitted file gets random stand-in data)
LoaderRule = Callable[[LoaderCall], "Loader | None"]


@dataclass(frozen=True)
class DataSource:
    """One data source and every rule for it.

    `shape` gives one example's shape from the validated arguments where it is known
    without reading a file; `unit` says its values always lie in [0, 1] as read (loss bce
    needs that; `range=(-1, 1)`, where its arguments take it, scales them on);
    `system_dirs` are searched after `$AESPEC_DATA` by the loader and named by the
    emitted loader; `classifier` says that report `sample_quality` may train its reference
    classifier on the source's own labels; `paths` are the arguments that name a file or
    folder (a run folder from someone else is checked against them).
    """

    name: str
    args: type[BaseModel]  # what `data NAME(...)` may say (aespec.data.sources)
    load: Callable[[Any, Ctx], Raw]  # (validated args, ctx) -> Raw
    shape: Callable[[Any], Shape] | None = None
    unit: bool = False
    labels: Labels = "never"
    class_names: tuple[str, ...] | None = None  # the name of each label, where known
    emit: LoaderRule | None = None  # what `aespec emit` writes; None: random stand-in data
    system_dirs: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    # the training examples (after the 80/20 split where the source has no test set of
    # its own), known without reading a file; None where they are not
    count: Callable[[Any], int | None] | None = None
    resize: str | None = None  # the argument that makes examples N x N (E502's hint names it)
    # report `sample_quality` trains a reference classifier on it (a data set of classes)
    classifier: bool = False


REGISTRY: dict[str, DataSource] = {}


def register(*sources: DataSource) -> None:
    """Add entries to `REGISTRY`, in the order the docs and hints list them."""
    for source in sources:
        if source.name in REGISTRY:
            raise ValueError(f"data source '{source.name}' is registered twice")
        REGISTRY[source.name] = source
