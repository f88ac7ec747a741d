"""Data sources are entries: one `DataSource` each in `aespec.data.REGISTRY`, carrying every
rule (arguments, example shape, value range, labels, loader, emitted loader, system
folders), read by validation, shape inference, loading and `aespec emit` alike."""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel

from aespec.data import REGISTRY, DataSource, in_unit_range, load_data, natural_shape
from aespec.data.base import Ctx, Raw
from aespec.data.entry import Loader, LoaderCall, register
from aespec.data.sources import SourceArgs
from aespec.emit import emit_source
from aespec.errors import AespecError
from aespec.graph.frontend import check_source

SPEC = ("model m\ninput vector({n})\ndata {data}\nencoder {{\n    dense(2)\n}}\n"
        "bottleneck {{\n    dense(2)\n}}\ndecoder {{\n    dense({n}) sigmoid\n}}\n")


class RampArgs(SourceArgs):
    """`ramp(n)`: n examples rising from 0 to 1 (a contributor's new source)."""

    n: int = 20


def _ramp(args: RampArgs, ctx: Ctx) -> Raw:
    x = np.linspace(0, 1, args.n * 4, dtype=np.float32).reshape(args.n, 4)
    return Raw("ramp", x)


def _ramp_loader(call: LoaderCall) -> Loader:
    return Loader(('"""A ramp."""',), (f"return torch.linspace(0, 1, {call.args['n']} * 4)"
                                      f".reshape(-1, {call.shape[0]})[:limit]",))


RAMP = DataSource("ramp", RampArgs, _ramp, lambda a: (4,), unit=True, emit=_ramp_loader)


def _emit(data: str, n: int) -> str:
    result = check_source(SPEC.format(n=n, data=data), "m.ae")
    assert result.ok and result.ir is not None and result.spec is not None
    return emit_source(result.ir, result.spec)


@pytest.fixture
def ramp(monkeypatch: pytest.MonkeyPatch) -> DataSource:
    monkeypatch.setitem(REGISTRY, "ramp", RAMP)
    return RAMP


def test_a_new_source_is_one_entry(ramp: DataSource) -> None:
    """Checking, shape, range, loading and emitting all follow from the one entry."""
    assert REGISTRY["ramp"].args is RampArgs and natural_shape("ramp", {"n": 5}) == (4,)
    assert in_unit_range("ramp")
    result = check_source(SPEC.format(n=4, data="ramp(n=30)"), "ramp.ae")
    assert result.ok, result.diagnostics
    ds = load_data("ramp", {"n": 30}, (4,))
    assert len(ds.x_train) + len(ds.x_test) == 30 and ds.x_train.shape[1:] == (4,)
    text = _emit("ramp(n=30)", 4)
    assert 'def load_data(limit=None):\n    """A ramp."""\n    return torch.linspace(0, 1, 30' \
        in text


def test_a_new_source_with_an_unknown_argument_is_e202_as_any_source(ramp: DataSource) -> None:
    result = check_source(SPEC.format(n=4, data="ramp(m=3)"), "ramp.ae")
    assert [d.code for d in result.diagnostics] == ["E202"]
    assert "ramp has no argument 'm'" in result.diagnostics[0].message


def test_a_source_without_an_emitted_loader_gets_random_stand_in_data(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "ramp", dataclasses.replace(RAMP, emit=None))
    text = _emit("ramp(n=30)", 4)
    assert "Random stand-in data in [0, 1)" in text and "ramp(n=30)" in text


def test_registering_a_name_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="'digits' is registered twice"):
        register(REGISTRY["digits"])


def test_system_folders_are_the_entrys_for_loader_and_emit(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The folder searched by the loader and the one the emitted loader reads are the
    entry's `system_dirs`, not copies of it."""
    folder = str(tmp_path / "system-mnist")
    monkeypatch.setitem(REGISTRY, "mnist",
                        dataclasses.replace(REGISTRY["mnist"], system_dirs=(folder,)))
    monkeypatch.delenv("AESPEC_DATA", raising=False)
    with pytest.raises(AespecError) as exc:
        load_data("mnist", {}, (784,))
    assert exc.value.diagnostics[0].code == "E501"
    assert exc.value.diagnostics[0].message.endswith(f"looked in: {folder}")
    assert f'folder = "{folder}"' in _emit("mnist", 784)


def _text_fields(model: type[BaseModel]) -> set[str]:
    return {k for k, f in model.model_fields.items() if "str" in str(f.annotation)}


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_entry_is_consistent_with_its_arguments(name: str) -> None:
    entry = REGISTRY[name]
    assert entry.name == name and REGISTRY[name] is entry
    fields: dict[str, Any] = entry.args.model_fields
    assert set(entry.paths) <= _text_fields(entry.args)
    if entry.labels == "named":  # normal= needs the argument that names the labels
        assert "normal" in fields and getattr(entry.args, "labels_arg", None) in fields
    if entry.labels in ("never", "folders"):
        assert "normal" not in fields
    assert entry.resize is None or entry.resize in fields
    assert (entry.system_dirs != ()) == (entry.emit is not None and name != "digits")

