"""Source argument models: what `data SOURCE(args)` may say, and the E201/E203 checks.

Each model is the `args` of a source's entry (aespec.data.entry.REGISTRY). `aespec check`
imports this to validate arguments; nothing here reads data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Optional, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from aespec.data.entry import REGISTRY
from aespec.errors import AespecError, Diagnostic, Span, did_you_mean

Count = Annotated[int, Field(ge=1)]
# `normal=3` or `normal=(0, 1, 2)`: the classes that are normal (anomaly detection)
Normal = Optional[Union[int, tuple[int, ...]]]
TEN_CLASSES = tuple(range(10))  # digits, mnist and fashion_mnist label 0..9
# the ranges `range=` scales images to: [0, 1] as read, or [-1, 1] for a tanh generator
UNIT, SYMMETRIC = (0, 1), (-1, 1)
# `missing=nan`: a NaN in a user's file is an unobserved entry; `fill=`: what the input
# reads in its place (docs/language.md, "Missing values")
Missing = Optional[Literal["nan"]]
Fill = Optional[Literal["mean", "zero"]]


class ArgProblem(ValueError):
    """A value an argument model refuses, with a hint for the diagnostic."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def normal_classes(normal: int | tuple[int, ...] | None) -> tuple[int, ...] | None:
    """`normal=` as a tuple of classes (None where not given)."""
    return (normal,) if isinstance(normal, int) else normal


def _as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value  # run.json stores a list


@dataclass(frozen=True)
class OneOf:
    """A field's only values: its check (as an AfterValidator's function), and what
    docs/ops.md and `aespec ops` list for it (aespec.cli.reference.type_text)."""

    values: tuple[Any, ...]
    hint: str | None = None

    def __call__(self, value: Any) -> Any:
        if value not in self.values:
            raise ArgProblem(f"takes {' or '.join(map(str, self.values))}", self.hint)
        return value


# `range=(-1, 1)`: images scaled from [0, 1] to [-1, 1] (x * 2 - 1), DCGAN's data for a
# tanh generator; Dataset.to_unit maps them back for figures and measures
ValueRange = Annotated[tuple[float, float], BeforeValidator(_as_tuple), AfterValidator(OneOf(
    (UNIT, SYMMETRIC), "write range=(-1, 1) for values in [-1, 1], or leave it out"))]


def _check_normal(normal: Any, classes: tuple[int, ...] | None) -> Any:
    """One class at least, each once, and (where the classes are known) each a class of
    the data with at least one class left over to be the anomaly."""
    values = normal_classes(normal) or ()
    if not values:
        raise ArgProblem("normal needs one class at least", "write `normal=0` or "
                         "`normal=(0, 1)`")
    twice = sorted({v for v in values if values.count(v) > 1})
    if twice:
        raise ArgProblem(f"normal lists {', '.join(map(str, twice))} more than once")
    if classes is None:
        return normal
    unknown = [v for v in values if v not in classes]
    if unknown:
        raise ArgProblem(f"the data has no class {', '.join(map(str, unknown))}: its classes "
                         f"are {classes[0]} to {classes[-1]}",
                         f"normal takes classes {classes[0]} to {classes[-1]}")
    if set(values) == set(classes):
        raise ArgProblem(f"every class ({classes[0]} to {classes[-1]}) is normal, so no test "
                         "example is an anomaly",
                         "leave out the class (or classes) to score as anomalies")
    return normal


class SourceArgs(BaseModel):
    """The base of every source's argument model (a new source's too)."""

    # strict: `size=true` or `size="28"` is a mistake to report, not a value to coerce
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Labelled(SourceArgs):
    """A source with class labels, and so a `normal=` argument (after its own arguments)."""

    @field_validator("normal", mode="before", check_fields=False)
    @classmethod
    def _normal_list(cls, value: Any) -> Any:
        return _as_tuple(value)


class _TenClasses(_Labelled):
    """A source labelled 0..9, so `normal=` is checked against them without reading data."""

    @field_validator("normal", check_fields=False)
    @classmethod
    def _normal_known(cls, value: Any) -> Any:
        return _check_normal(value, TEN_CLASSES)


class DigitsArgs(_TenClasses):
    """`digits(size, normal, range)`: scikit-learn's 8x8 digits, resized to size x size when given.

    `normal=` (on every source with labels): train on those classes only, test labels 0/1.
    `range=(-1, 1)` (on the built-in image sets): values scaled from [0, 1] to [-1, 1].
    """

    size: Count | None = None
    normal: Normal = None
    range: ValueRange = UNIT


class MnistArgs(_TenClasses):
    """`fashion_mnist(path, limit, normal, range)` / `mnist(...)`: IDX files or an .npz."""

    path: str | None = None
    limit: Count | None = None  # first N training and first N test examples
    normal: Normal = None
    range: ValueRange = UNIT


class _UserLabels(_Labelled):
    """A user's file: `normal=` needs the argument that names its labels (`labels_arg`);
    its classes are checked when the file is read."""

    labels_arg: ClassVar[str] = "labels"

    @field_validator("normal", check_fields=False)
    @classmethod
    def _normal_labelled(cls, value: Any, info: ValidationInfo) -> Any:
        key = cls.labels_arg
        if info.data.get(key) is None:
            raise ArgProblem(f'normal needs class labels: name them with {key}="..."',
                             f'add {key}="..." naming the labels, or leave out normal')
        return _check_normal(value, None)


class _Missing(SourceArgs):
    """A user's file that may hold NaN: `missing=nan` reads a NaN as an unobserved entry
    (the loss skips it, the input gets `fill`), left out a NaN is refused (E504).
    `fill=mean` (the default with `missing=nan`): each value's mean over the observed
    training entries; `fill=zero`: 0."""

    @field_validator("fill", check_fields=False)
    @classmethod
    def _fill_needs_missing(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and info.data.get("missing") is None:
            raise ArgProblem("fill says what stands in for a missing value, and no value is "
                             "missing", "write it with missing=nan, or leave it out")
        return value

    @property
    def filled_with(self) -> str:
        """`mean` or `zero`: what stands in for a missing entry in the encoder's input."""
        return getattr(self, "fill", None) or "mean"


class NpzArgs(_UserLabels, _Missing):
    """`npz(file, x, y, labels, normal, mmap, missing, fill)`: arrays by key; `y` a target.

    `missing=nan`: a NaN marks an unobserved entry."""

    file: str
    x: str = "x"
    y: str | None = None
    labels: str | None = None
    normal: Normal = None
    mmap: bool | None = None  # memory-map (data/mmap.py); left out: when it would not fit
    missing: Missing = None
    fill: Fill = None


class NpyArgs(_Missing):
    """`npy(file, y, mmap, missing, fill)`: one array of examples; `y` an .npy of targets.

    `mmap=true` reads it through a memory map (left out: when it would not fit);
    `missing=nan`: a NaN marks an unobserved entry."""

    file: str
    y: str | None = None
    mmap: bool | None = None
    missing: Missing = None
    fill: Fill = None


class CsvArgs(_UserLabels, _Missing):
    """`csv(file, label, normal, missing, fill)`: numeric rows; `label` names a class column.

    `missing=nan`: an empty cell (or `nan`) marks an unobserved entry."""

    labels_arg: ClassVar[str] = "label"
    file: str
    label: str | None = None
    normal: Normal = None
    missing: Missing = None
    fill: Fill = None


class ImagesArgs(SourceArgs):
    """`images(path, limit, stream)`: a folder of PNG, JPEG or BMP images (class sub-folders
    give labels), resized to the input; `stream=true` decodes each batch's files on demand
    (left out: when the decoded images would not fit in memory)."""

    path: str
    limit: Count | None = None  # the first N images, in name order
    stream: bool | None = None


class SyntheticArgs(SourceArgs):
    """`synthetic(n, kind, seed)`: generated to fit the input shape."""

    n: Annotated[int, Field(ge=2)] = 1024  # two at least: one to train, one to test
    kind: Literal["blobs", "bars", "sine"] = "blobs"
    seed: Annotated[int, Field(ge=0)] = 0


def validate_args(source: str, args: dict, *, span: Span | None = None,
                  file: str | None = None) -> BaseModel:
    """Validate a source's keyword arguments: E201 for an unknown source, E203 for bad ones."""
    entry = REGISTRY.get(source)
    if entry is None:
        hint = did_you_mean(source, REGISTRY) or "sources: " + ", ".join(REGISTRY)
        raise AespecError.of("E201", f"unknown data source '{source}'", span, hint, file)
    model = entry.args
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        found: dict[str, tuple[str, str | None]] = {}  # one diagnostic per argument
        for err in exc.errors(include_url=False):
            name = str(err["loc"][0]) if err["loc"] else "?"
            msg, hint_of = _arg_problem(source, model, err)
            if name in found:  # another branch of a union (normal: an int or a tuple)
                msg = found[name][0].rsplit(", got ", 1)[0] + " or " + msg.split(": ", 1)[1]
                hint_of = found[name][1] or hint_of
            found[name] = msg, hint_of
        raise AespecError([Diagnostic("E203", m, span, h, file)
                           for m, h in found.values()]) from None


def _arg_problem(source: str, model: type[BaseModel], err: Any) -> tuple[str, str | None]:
    name = str(err["loc"][0]) if err["loc"] else "?"
    takes = f"{source} takes: {', '.join(model.model_fields)}"
    if err["type"] == "extra_forbidden":
        return f"{source} has no argument '{name}'", did_you_mean(name, model.model_fields) or takes
    if err["type"] == "missing":
        return f"{source} needs the argument '{name}'", takes
    problem = (err.get("ctx") or {}).get("error")
    if isinstance(problem, ArgProblem):
        return f"{source} argument '{name}': {problem}, got {err['input']!r}", problem.hint
    msg = err["msg"][0].lower() + err["msg"][1:]
    return f"{source} argument '{name}': {msg}, got {err['input']!r}", None

