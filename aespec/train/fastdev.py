"""`aespec run --fast-dev-run` (Lightning's idea): every stage of a run on one batch.

The data is cut to one batch of training examples (of which the validation share is
carved as usual) and one batch of test examples, so one epoch is one step: the spec, the
data, the model, the loop, the evaluation and the report are all exercised in seconds.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aespec.data import Dataset


def one_batch(ds: Dataset, batch: int) -> Dataset:
    """The first `batch` training and test examples (at least 2 training examples, so a
    validation split can still be carved from them), targets and labels alike."""
    n_train, n_test = max(2, batch), max(1, batch)

    def cut(a: Any, n: int) -> Any:
        return None if a is None else a[:n]

    return dataclasses.replace(
        ds, x_train=ds.x_train[:n_train], y_train=cut(ds.y_train, n_train),
        labels_train=cut(ds.labels_train, n_train), x_test=ds.x_test[:n_test],
        y_test=cut(ds.y_test, n_test), labels_test=cut(ds.labels_test, n_test),
        description=f"{ds.description}; fast-dev-run: one batch")
