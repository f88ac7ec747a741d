"""The op registry's entries: typed hooks in place of a string-keyed dict, and the ops that
came as one entry each (`crop`, `concat(NAME, crop=true)`, `globalavgpool`, `globalmaxpool`).

The torch forms here are the registry builders themselves; test_compile_shapes and
test_emit run the same ops end to end (tests/conformance_extra/valid and the edge cases).
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from frontend import check, only, rows, spec

from aespec.ops import REGISTRY, MissingRule, OpDef, get_op, missing
from aespec.ops.emitting import assign

# ---------------------------------------------------------------- typed hooks


def test_an_opdef_has_typed_hooks_and_no_string_keyed_extra():
    fields = {f.name for f in dataclasses.fields(get_op("layer", "dense"))}
    assert "extra" not in fields
    assert {"join_shape", "formula", "acts_on", "jacobian", "tied_params", "noop",
            "channels_last", "mirror_refusal"} <= fields


def test_a_misspelt_hook_fails_when_the_op_is_registered_not_silently_later():
    with pytest.raises(TypeError):
        dataclasses.replace(get_op("layer", "relu"), nop=True)  # type: ignore[call-arg]


def test_a_missing_rule_fails_where_it_is_used_naming_the_op():
    dense = get_op("layer", "dense")
    with pytest.raises(MissingRule, match="'dense'.*join_shape"):
        dense.join_shape or missing(dense, "join_shape")


def test_every_loss_and_regularizer_states_its_term_and_every_regularizer_what_it_reads():
    assert all(op.formula for op in REGISTRY["loss"].values())
    assert all(op.formula and op.acts_on in ("weights", "activations")
               for op in REGISTRY["regularizer"].values())
    joins = [op for op in REGISTRY["layer"].values() if op.kind == "join"]
    assert joins and all(op.join_shape and op.join_range and op.mirror_refusal for op in joins)


# ---------------------------------------------------------------- crop


def _run(place_op: str, args: dict, s_in: tuple, s_out: tuple, *tensors, **kw):
    op = get_op("layer", place_op)
    assert op.build is not None
    return op.build(op.args(**args), s_in, s_out, **kw)(*tensors)


def test_crop_takes_the_center_and_an_odd_leftover_comes_off_the_end():
    x = torch.arange(2 * 7 * 6, dtype=torch.float32).reshape(1, 2, 7, 6)
    got = _run("crop", {"sizes": (4, 3)}, (2, 7, 6), (2, 4, 3), x)
    assert torch.equal(got, x[..., 1:5, 1:4])
    seq = torch.arange(9.0).reshape(1, 1, 9)
    assert torch.equal(_run("crop", {"sizes": (4,)}, (1, 9), (1, 4), seq), seq[..., 2:6])


def test_crop_of_one_size_crops_an_image_square_and_its_shapes_are_inferred():
    result = check(spec(input="image(1, 10, 8)", encoder="crop(6)\nconv(2) crop(5, 4)",
                        bottleneck="dense(4)", decoder="dense(80)\nreshape(1, 10, 8)"))
    assert rows(result, "encoder")[:3] == [("crop(6)", (1, 6, 6), 0),
                                           ("conv(2)", (2, 6, 6), 20),
                                           ("crop(5, 4)", (2, 5, 4), 0)]


def test_crop_with_more_sizes_than_spatial_dimensions_is_e302():
    result = check(spec(input="sequence(1, 10)", encoder="crop(4, 4)", bottleneck="dense(4)",
                        decoder="dense(10)\nreshape(1, 10)"))
    assert "1 spatial dimension" in only(result, "E302").message


def test_concat_with_crop_reads_the_center_of_the_named_tensor():
    x, skip = torch.zeros(1, 3, 4, 4), torch.arange(50.0).reshape(1, 2, 5, 5)
    got = _run("concat", {"name": "s", "crop": True}, (3, 4, 4), (5, 4, 4), x, skip,
               other=(2, 5, 5))
    assert torch.equal(got[:, 3:], skip[..., 0:4, 0:4])
    same = _run("add", {"name": "s"}, (2, 5, 5), (2, 5, 5), skip, skip, other=(2, 5, 5))
    assert torch.equal(same, 2 * skip)


def test_a_decoder_output_larger_than_the_input_is_told_to_crop():
    result = check(spec(input="image(1, 8, 8)", encoder="conv(2, stride=2)",
                        bottleneck="conv(2)", decoder="deconv(1, k=3, stride=2, pad=valid)"))
    assert "crop(8, 8)" in (only(result, "E301").hint or "")


def test_a_current_tensor_larger_than_the_skip_is_told_to_crop_itself():
    result = check(spec(input="image(1, 8, 8)", encoder="a = conv(2, k=3, pad=valid)",
                        bottleneck="deconv(2, k=3, stride=1, pad=valid)",
                        decoder="concat(a)\nconv(1)"))
    assert only(result, "E304").hint == "crop(6, 6) before the join center-crops the current tensor"


# ---------------------------------------------------------------- global pooling


@pytest.mark.parametrize("name,reduce", [("globalavgpool", torch.mean),
                                         ("globalmaxpool", torch.amax)])
def test_global_pooling_reduces_every_spatial_position_of_each_channel(name, reduce):
    image, seq = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 7)
    assert torch.equal(_run(name, {}, (3, 5, 4), (3,), image), reduce(image, dim=(2, 3)))
    torch.testing.assert_close(_run(name, {}, (3, 7), (3,), seq), reduce(seq, dim=2))


def test_global_pooling_has_no_parameters_and_keeps_the_value_range():
    result = check(spec(input="image(1, 8, 8)", encoder="conv(4) sigmoid\nglobalmaxpool",
                        bottleneck="dense(2)", decoder="dense(64) sigmoid\nreshape(1, 8, 8)"))
    assert rows(result, "encoder")[2] == ("globalmaxpool", (4,), 0)
    assert result.ir is not None
    node = [d for d in result.ir.nodes.values() if d.op == "globalmaxpool"][0]
    assert node.range == (0.0, 1.0)


# ---------------------------------------------------------------- a contributor's new op


def _negated(a, r):
    return (-r[1], -r[0])


NEGATE = OpDef("negate", "activation", "-x: the input with its sign flipped",
               signature="negate", range=_negated, inverse=None,
               build=lambda a, s_in, s_out: lambda x: -x,
               emit=lambda op: assign(op, f"-{op.x}"), aliases=("neg",))


@pytest.fixture
def negate(monkeypatch):
    monkeypatch.setitem(REGISTRY["layer"], "negate", NEGATE)
    return NEGATE


def test_a_new_layer_op_is_one_entry_through_every_stage(negate):
    """The one file a contributor writes (the entry above) is all a new layer needs: the
    checker infers its shape, the compiler builds it, emit writes it, the
    drawing and the op table show it, an alias points at it."""
    from aespec.cli.reference import render_ops
    from aespec.compile import compile_model
    from aespec.draw.dot import to_dot
    from aespec.emit import emit_source

    result = check(spec(encoder="dense(32) relu\nnegate"))
    assert result.ok, result.diagnostics
    assert rows(result, "encoder")[-1] == ("negate", (32,), 0)
    model = compile_model(result.ir, result.spec).eval()
    assert model.encode(torch.rand(5, 64)).shape == (5, 8)
    text = emit_source(result.ir, result.spec)
    assert " = -" in text
    namespace: dict = {}
    exec(compile(text, "emitted.py", "exec"), namespace)  # the file runs without aespec
    assert "negate" in to_dot(result.ir, result.spec)
    assert "| `negate` |" in render_ops()
    unknown = check(spec(encoder="dense(32) relu\nneg"))
    assert "`negate`" in only(unknown, "E201").hint
