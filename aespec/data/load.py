"""`load_data`: a source's loader (its entry's `load`), then the stages every source
shares; and what the entries tell without reading a file (example shape, value range)."""

from __future__ import annotations

import json
import pathlib
from typing import Any

from pydantic import BaseModel, ValidationError

from aespec.data import datasets, filesources, synthetic  # noqa: F401 (they register, in order)
from aespec.data.base import Ctx, Dataset
from aespec.data.entry import REGISTRY
from aespec.data.missing import Missing, few_observed, fill_missing
from aespec.data.mmap import is_mapped, load_lazy
from aespec.data.prepare import check_counts, finish, keep_normal, scale_for, split, to_range
from aespec.data.sources import UNIT, normal_classes, validate_args
from aespec.errors import Diagnostic, Span


def natural_shape(source: str, args: dict) -> tuple[int, ...] | None:
    """The shape of one example, known without reading a file; None where it is not."""
    entry = REGISTRY.get(source)
    if entry is None or entry.shape is None:
        return None
    try:
        return entry.shape(entry.args.model_validate(args))
    except ValidationError:
        return None  # bad arguments are reported by validate_args


def natural_count(source: str, args: dict) -> int | None:
    """The number of training examples, known without reading a file; None where it is not."""
    entry = REGISTRY.get(source)
    if entry is None or entry.count is None:
        return None
    try:
        return entry.count(entry.args.model_validate(args))
    except ValidationError:
        return None  # bad arguments are reported by validate_args


def known_range(source: str, args: dict) -> tuple[float, float] | None:
    """The range of a source's values, known without reading a file: [0, 1], or the one
    `range=` scales them to; None where it is not known (or the arguments are bad)."""
    entry = REGISTRY.get(source)
    if entry is None or not entry.unit:
        return None
    try:
        model = entry.args.model_validate(args)
    except ValidationError:
        return None  # bad arguments are reported by validate_args
    lo, hi = getattr(model, "range", UNIT)
    return float(lo), float(hi)


def in_unit_range(source: str) -> bool:
    """Whether a source's values always lie in [0, 1] as read (before any `range=`),
    known without reading a file."""
    entry = REGISTRY.get(source)
    return entry is not None and entry.unit


def load_data(source: str, args: dict, input_shape: tuple[int, ...], *,
              need_unit_range: bool = False, base_dir: pathlib.Path | None = None,
              span: Span | None = None, file: str | None = None) -> Dataset:
    """Load a source as float32 arrays shaped (N, *input_shape), split into train and test.

    Every problem with the arguments or the data is an AespecError: E2xx for arguments,
    E5xx for the data. The same call gives the same arrays, bit for bit.
    """
    model = validate_args(source, args, span=span, file=file)
    entry = REGISTRY[source]
    ctx = Ctx(source, tuple(input_shape), base_dir, span, file)
    scaled = _scaled(model, ctx, need_unit_range)
    raw = entry.load(model, ctx)
    missing = getattr(model, "missing", None) == "nan"
    if is_mapped(raw):  # larger than memory: read on demand (data/mmap.py)
        for arg in ("normal", "missing"):
            if getattr(model, arg, None) is not None:
                raise ctx.error("E509", f"{arg}= cannot be applied to data read on demand",
                                f"leave out {arg}, or load the data into memory (mmap=false)")
        return load_lazy(raw, ctx, need_unit_range, _describe_args(model, ctx),
                         raw.class_names or entry.class_names)
    for part in (raw, raw.test):
        if part is not None:
            check_counts(part, ctx)
    train, test = (raw, raw.test) if raw.test is not None else split(raw, ctx)
    # scale both splits alike, decided by the training data
    scales = (scale_for(train.x), None if train.y is None else scale_for(train.y))
    (x_tr, y_tr, l_tr, r_tr), (x_te, y_te, l_te, r_te) = (
        finish(part, ctx, scales, need_unit_range, missing) for part in (train, test))
    names = (raw.class_names or entry.class_names) if l_tr is not None else None
    normal, marks = normal_classes(getattr(model, "normal", None)), ""
    if normal is not None:
        (x_tr, y_tr, l_tr), l_te = keep_normal((x_tr, y_tr, l_tr), l_te, normal, ctx)
        names = ("normal", "anomaly")
        marks = f"; test: {int((l_te == 0).sum())} normal, {int(l_te.sum())} anomalies"
    known = None if normal is not None else (min(r_tr[0], r_te[0]), max(r_tr[1], r_te[1]))
    if scaled is not None:  # x * 2 - 1, and so its known range
        x_tr, x_te = to_range(x_tr, scaled), to_range(x_te, scaled)
        known = None if known is None else (scaled[0] + known[0] * (scaled[1] - scaled[0]),
                                            scaled[0] + known[1] * (scaled[1] - scaled[0]))
    found, paired = None, y_tr  # the description names a separate target only
    warnings: tuple[Diagnostic, ...] = ()
    if missing:  # x filled, y the target with its NaN kept (data/missing.py)
        (x_tr, y_tr), (x_te, y_te), found = fill_missing(
            (x_tr, y_tr), (x_te, y_te), model.filled_with, ctx)  # type: ignore[attr-defined]
        marks += found.describe()
        warnings = _missing_warnings(found, ctx)
    text = _describe(model, ctx, x_tr, x_te, paired, known) + marks
    return Dataset(x_tr, x_te, y_tr, y_te, l_tr, l_te, text, names, scaled, found, warnings)


def _missing_warnings(found: Missing, ctx: Ctx) -> tuple[Diagnostic, ...]:
    """W437: missing=nan on data that has no NaN; W439: too little observed to learn."""
    if found.observed_train == 1.0 and found.observed_test == 1.0:
        return (Diagnostic("W437", f"missing=nan, but the {ctx.source} data has no NaN: "
                           "every entry is observed", ctx.span,
                           "leave out missing=nan, or check that the file marks its missing "
                           "entries as NaN (a CSV as an empty cell)", ctx.file),)
    few = few_observed(found)
    if few is None:
        return ()
    return (Diagnostic("W439", few, ctx.span, "more observed entries, fewer values per "
                       "example, or a model of the observed values alone", ctx.file),)


def _scaled(model: BaseModel, ctx: Ctx, need_unit_range: bool) -> tuple[float, float] | None:
    """`range=`'s target where it is not [0, 1]; E503 with a loss that needs [0, 1] (the
    check refuses it first, as E320: this is for a caller of load_data)."""
    lo, hi = getattr(model, "range", UNIT)
    if (lo, hi) == UNIT:
        return None
    if need_unit_range:
        raise ctx.error("E503", f"{ctx.source}(range=({lo:g}, {hi:g})) scales the data to "
                        f"[{lo:g}, {hi:g}], but loss bce needs it in [0, 1]",
                        "leave out range=, or use `loss mse`")
    return float(lo), float(hi)


def _describe_args(model: BaseModel, ctx: Ctx) -> str:
    shown = ", ".join(f"{k}={json.dumps(v)}"
                      for k, v in model.model_dump(exclude_defaults=True).items())
    return f"{ctx.source}{f'({shown})' if shown else ''}"


def _describe(model: BaseModel, ctx: Ctx, x_tr: Any, x_te: Any, y_tr: Any,
              value_range: tuple[float, float] | None) -> str:
    """One line on the data; `value_range` where finish() knew it (no pass over x again)."""
    lo, hi = value_range or (min(x_tr.min(), x_te.min()), max(x_tr.max(), x_te.max()))
    text = (f"{_describe_args(model, ctx)}: {len(x_tr)} train / {len(x_te)} "
            f"test, {'x'.join(map(str, x_tr.shape[1:]))}, values in [{lo:g}, {hi:g}]")
    if y_tr is not None:
        text += f", targets {'x'.join(map(str, y_tr.shape[1:]))}"
    return text
