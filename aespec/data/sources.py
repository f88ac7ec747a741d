"""Source argument models: what `data SOURCE(args)` may say, and the E201/E203 checks.

`aespec check` imports this to validate arguments; nothing here reads data.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aespec.errors import AespecError, Diagnostic, Span, did_you_mean

Count = Annotated[int, Field(ge=1)]


class _Args(BaseModel):
    # strict: `size=true` or `size="28"` is a mistake to report, not a value to coerce
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DigitsArgs(_Args):
    """`digits(size)`: scikit-learn's 8x8 digits, resized to size x size when given."""

    size: Count | None = None


class MnistArgs(_Args):
    """`fashion_mnist(path, limit)` / `mnist(path, limit)`: IDX files or an .npz."""

    path: str | None = None
    limit: Count | None = None  # first N training and first N test examples


class NpzArgs(_Args):
    """`npz(file, x, y, labels)`: arrays by key; `y` is a separate target."""

    file: str
    x: str = "x"
    y: str | None = None
    labels: str | None = None


class NpyArgs(_Args):
    """`npy(file, y)`: one array of examples; `y` names a second .npy of targets."""

    file: str
    y: str | None = None


class CsvArgs(_Args):
    """`csv(file, label)`: numeric rows under a header; `label` names a class column."""

    file: str
    label: str | None = None


class SyntheticArgs(_Args):
    """`synthetic(n, kind, seed)`: generated to fit the input shape."""

    n: Annotated[int, Field(ge=2)] = 1024  # two at least: one to train, one to test
    kind: Literal["blobs", "bars", "sine"] = "blobs"
    seed: Annotated[int, Field(ge=0)] = 0


SOURCES: dict[str, type[BaseModel]] = {
    "digits": DigitsArgs, "fashion_mnist": MnistArgs, "mnist": MnistArgs,
    "npz": NpzArgs, "npy": NpyArgs, "csv": CsvArgs, "synthetic": SyntheticArgs,
}

def validate_args(source: str, args: dict, *, span: Span | None = None,
                  file: str | None = None) -> BaseModel:
    """Validate a source's keyword arguments: E201 for an unknown source, E203 for bad ones."""
    model = SOURCES.get(source)
    if model is None:
        hint = did_you_mean(source, SOURCES) or "sources: " + ", ".join(SOURCES)
        raise AespecError.of("E201", f"unknown data source '{source}'", span, hint, file)
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        found = [_arg_problem(source, model, err) for err in exc.errors(include_url=False)]
        raise AespecError([Diagnostic("E203", m, span, h, file) for m, h in found]) from None


def _arg_problem(source: str, model: type[BaseModel], err: Any) -> tuple[str, str | None]:
    name = str(err["loc"][0]) if err["loc"] else "?"
    takes = f"{source} takes: {', '.join(model.model_fields)}"
    if err["type"] == "extra_forbidden":
        return f"{source} has no argument '{name}'", did_you_mean(name, model.model_fields) or takes
    if err["type"] == "missing":
        return f"{source} needs the argument '{name}'", takes
    msg = err["msg"][0].lower() + err["msg"][1:]
    return f"{source} argument '{name}': {msg}, got {err['input']!r}", None

