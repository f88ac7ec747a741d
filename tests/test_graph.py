"""The graph stage: shapes and parameters (E3xx), the mirror, W4xx theory warnings.

Tests named `test_regression_*` each catch a bug that was found and fixed; the name says
what used to go wrong.
"""

from __future__ import annotations

import math

import pytest
from frontend import check, codes, only, rows, spec

# ---------------------------------------------------------------- shapes and parameters


def test_conv_pool_and_deconv_shapes_and_parameters():
    result = check(spec(
        input="sequence(2, 12)",
        encoder="conv(4, k=5, pad=valid) relu\nconv(4, k=3, stride=2, pad=1)\navgpool(2)",
        bottleneck="flatten\ndense(3, bias=false)\nbatchnorm",
        decoder="dense(12)\nreshape(4, 3)\ndeconv(4, k=4, stride=2)\nupsample(2)\n"
                "deconv(2, k=3, stride=1, pad=valid)\nconv(2, k=3, stride=2)"))
    assert rows(result, "encoder") == [("conv(4, k=5, pad=valid)", (4, 8), 44),
                                       ("relu", (4, 8), 0),
                                       ("conv(4, stride=2, pad=1)", (4, 4), 52),
                                       ("avgpool(2)", (4, 2), 0)]
    assert [r[1:] for r in rows(result, "bottleneck")] == [((8,), 0), ((3,), 24), ((3,), 6)]
    assert [r[1:] for r in rows(result, "decoder")] == [
        ((12,), 48), ((4, 3), 0), ((4, 6), 68), ((4, 12), 0), ((2, 14), 26), ((2, 7), 14)]


def test_gaussian_latent_parameters_and_z():
    result = check(spec(bottleneck="gaussian(20)"))
    assert rows(result, "bottleneck") == [("gaussian(20)", (20,), 2 * (32 * 20 + 20))]
    assert result.to_json()["model"]["z"] == [20]


def test_the_mirror_example_of_the_language_page():
    result = check(spec(input="vector(784)", encoder="dense(512) relu\ndense(256) relu",
                        bottleneck="dense(32)", decoder="mirror", after="loss bce"))
    assert rows(result, "decoder") == [
        ("dense(256)", (256,), 32 * 256 + 256), ("relu", (256,), 0),
        ("dense(512)", (512,), 256 * 512 + 512), ("relu", (512,), 0),
        ("dense(784)", (784,), 512 * 784 + 784), ("sigmoid", (784,), 0)]


def test_mirror_inverts_conv_pool_and_dense_on_an_image():
    result = check(spec(input="image(1, 28, 28)",
                        encoder="conv(16, stride=2) relu\nmaxpool(2)\nconv(32) relu",
                        bottleneck="flatten\ndense(10)", decoder="mirror"))
    assert [r[:2] for r in rows(result, "decoder")] == [
        ("dense(1568)", (1568,)), ("reshape(32, 7, 7)", (32, 7, 7)), ("relu", (32, 7, 7)),
        ("conv(16)", (16, 7, 7)), ("upsample(2)", (16, 14, 14)), ("relu", (16, 14, 14)),
        ("deconv(1)", (1, 28, 28))]  # mse: the last op takes `identity`


def test_mirror_output_and_tied_weights():
    result = check(spec(input="image(1, 8, 8)", encoder="conv(4) relu", bottleneck="dense(8)",
                        decoder="mirror(output=tanh, tied=true)"))
    decoder = rows(result, "decoder")
    assert decoder[0] == ("dense(256)", (256,), 256)  # tied: only the bias is new
    assert decoder[-1][0] == "tanh"
    assert result.ir.nodes["decoder4"].tied_to == "bottleneck3"


def test_mirror_of_an_encoder_that_joins_is_e305():
    result = check(spec(encoder="e = dense(64) relu\ndense(64)\nadd(e)", decoder="mirror"))
    assert "E305" in codes(result)


def test_e3xx_messages_name_both_shapes():
    d = only(check(spec(decoder="dense(60) sigmoid")), "E301")
    assert "(60,)" in d.message and "(64,)" in d.message
    d = only(check(spec(input="image(1, 8, 8)", encoder="e1 = conv(4) relu\nmaxpool(2)",
                        bottleneck="conv(4)", decoder="concat(e1)\nconv(1)")), "E304")
    assert "(4, 4, 4)" in d.message and "(4, 8, 8)" in d.message and "upsample(2)" in d.hint
    d = only(check(spec(decoder="dense(64)\nreshape(3, 3)")), "E303")
    assert "9" in d.message and "(64,)" in d.message


def test_decoder_output_mismatch_hints():
    assert "reshape(1, 8, 8)" in only(check(spec(input="image(1, 8, 8)")), "E301").hint
    assert "channels" in only(check(spec(input="image(2, 8, 8)", encoder="conv(4)",
                                         bottleneck="conv(4)", decoder="conv(1)")), "E301").hint


def test_a_spatial_op_on_a_vector_is_e302():
    assert "E302" in codes(check(spec(encoder="conv(4)")))


def test_regression_join_hint_with_sizes_beyond_floats_does_not_crash():
    """The hint divided sizes as floats: 4 / 2**1240 is 0.0, and 1 / 0.0 raised."""
    result = check(spec(input="image(1, 4, 4)",
                        encoder="e1 = relu\nrepeat 20 {\n    upsample(4611686018427387904)\n}",
                        bottleneck="concat(e1)", decoder="dense(16)"))
    assert "E304" in codes(result)


def test_data_that_does_not_fit_the_input_is_e309():
    d = only(check(spec(before="data digits(size=28)")), "E309")
    assert "784" in d.message and "(1, 28, 28)" in d.hint
    assert check(spec(before="data digits", input="image(1, 8, 8)", encoder="flatten",
                      decoder="dense(64) sigmoid\nreshape(1, 8, 8)")).ok


def test_report_samples_and_manifold_need_the_right_latent():
    assert "E308" in codes(check(spec(after="report {\n    samples\n}")))
    assert check(spec(bottleneck="gaussian(8)", after="report {\n    samples\n}")).ok
    assert "E308" in codes(check(spec(after="report {\n    manifold\n}")))
    assert check(spec(bottleneck="gaussian(2)", after="report {\n    manifold\n}")).ok


def test_unknown_regularize_target_is_e213_with_a_hint():
    d = only(check(spec(after="regularize l1(1e-3) on encodr")), "E213")
    assert "encoder" in d.hint
    assert check(spec(encoder="h = dense(32) relu", after="regularize l1(1e-3) on h")).ok


def test_bce_and_kl_sparsity_need_unit_outputs():
    assert "E306" in codes(check(spec(decoder="dense(64) relu", after="loss bce")))
    assert "E307" in codes(check(spec(bottleneck="dense(8) relu",
                                      after="regularize kl_sparsity(0.05, 1e-3)")))


# ---------------------------------------------------------------- mirror regressions


def test_regression_mirror_restores_a_strided_conv_with_an_int_pad():
    from aespec.graph.frontend import check_source

    source = ("input image(1, 28, 28)\nencoder {\n conv(8, k=3, stride=2, pad=1) relu\n}\n"
              "bottleneck {\n dense(4)\n}\ndecoder mirror\nloss mse\n")
    result = check_source(source, "t.ae")
    assert result.ok, result.diagnostics
    assert result.ir.output == (1, 28, 28)


# ---------------------------------------------------------------- W4xx


WARNINGS = {
    "W401": (spec(bottleneck="dense(64)"),
             [spec(bottleneck="dense(63)"),
              spec(bottleneck="dense(64)", before='data npz("pairs.npz", y="y")'),
              spec(bottleneck="dense(64)", after="noise mask(0.2)"),
              spec(bottleneck="dense(64)", after="regularize activity_l1(1e-4)"),
              spec(bottleneck="dense(64)\ndropout(0.1)"), spec(bottleneck="gaussian(64)")]),
    "W402": (spec(input="image(1, 8, 8)", encoder="e1 = conv(4) relu\nmaxpool(2)",
                  bottleneck="conv(2)", decoder="upsample(2)\nconcat(e1)\nconv(1)"),
             [spec(decoder="d = dense(64)\nadd(d)")]),
    "W403": (spec(bottleneck="gaussian(8)", after="loss bce(reduce=mean)"),
             [spec(bottleneck="gaussian(8)", after="loss bce"),
              spec(bottleneck="gaussian(8)", after="loss bce(reduce=sum)"),
              spec(after="loss bce(reduce=mean)")]),
    "W404": (spec(after="regularize l2(1e-4)\ntrain {\n    optimizer adamw\n}"),
             [spec(after="regularize l2(1e-4)"),
              spec(after="train {\n    optimizer adamw\n}")]),
    "W405": (spec(bottleneck="dense(8) sigmoid", after="regularize contractive(0.1)"),
             [spec(encoder="h = dense(32) sigmoid", after="regularize contractive(0.1) on h")]),
    "W406": (spec(input="image(1, 8, 8)", encoder="conv(4, stride=2) relu",
                  bottleneck="conv(2, stride=2)", decoder="mirror(tied=true)"),
             [spec(decoder="mirror(tied=true)")]),
    "W407": (spec(after="train {\n    split 1.0\n    early_stop\n}"),
             [spec(after="train {\n    split 0.9\n    early_stop\n}")]),
    "W408": (spec(bottleneck="dense(8) sigmoid", after="regularize kl_sparsity(0.5, 1e-3)"),
             [spec(bottleneck="dense(8) sigmoid", after="regularize kl_sparsity(0.05, 1e-3)")]),
    "W409": (spec(after="train {\n    optimizer adam(lr=1e6)\n}"),
             [spec(after="train {\n    optimizer adam(lr=0.01)\n}"),
              spec(after="train {\n    optimizer sgd(lr=0.5, momentum=0.9)\n}")]),
    "W410": (spec(encoder="dense(1000000000) relu"),
             [spec(encoder="dense(100000) relu"),
              spec(input="image(1, 256, 256)", encoder="conv(16) relu\nmaxpool(8)",
                   bottleneck="dense(8)", decoder="dense(65536)\nreshape(1, 256, 256)")]),
    "W412": (spec(after="let w = 0\nloss w * mse + 0 * mae"),
             [spec(after="loss 0 * mse + mae"), spec(after="loss 1e-9 * mse")]),
}


@pytest.mark.parametrize("code", sorted(WARNINGS))
def test_warning_fires_alone_and_keeps_the_spec_ok(code):
    result = check(WARNINGS[code][0])
    assert codes(result) == [code] and result.ok


@pytest.mark.parametrize("code, source", [(c, s) for c, (_, quiet) in sorted(WARNINGS.items())
                                          for s in quiet])
def test_warning_does_not_fire(code, source):
    result = check(source)
    assert result.ok and code not in codes(result), result.diagnostics


def test_check_reports_the_memory_of_one_training_step():
    from aespec.graph.memory import estimate

    result = check(spec(after="train {\n    batch 10\n}"))
    m = estimate(result.spec, result.ir)
    params = result.ir.params
    assert (m.weights, m.gradients, m.optimizer) == (4 * params, 4 * params, 8 * params)  # adam
    values = sum(math.prod(result.ir.nodes[n].out_shape)
                 for n in result.ir.order)
    assert m.activations == 4 * 10 * values
    assert result.to_json()["model"]["memory"]["total"] == m.total
