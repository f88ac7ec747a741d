"""Unit tests of the front-end stages: parse, resolve, graph, checks, and their diagnostics.

Tests named `test_regression_*` each catch a bug that was found and fixed; the name says
what used to go wrong.
"""

from __future__ import annotations

import pytest

from aespec.checking import CheckResult, check_source
from aespec.errors import AespecError, Diagnostic, Span
from aespec.summary import table_rows
from aespec.syntax import parse_source


def spec(encoder: str = "dense(32) relu", bottleneck: str = "dense(8)",
         decoder: str = "dense(64) sigmoid", input: str = "vector(64)", before: str = "",
         after: str = "") -> str:
    """A whole spec, one block line per `\\n`-separated line of each block's text."""
    def block(name: str, body: str) -> str:
        return f"{name} {{\n" + "".join(f"    {ln}\n" for ln in body.split("\n")) + "}\n"

    return ((f"{before}\n" if before else "") + f"input {input}\n" + block("encoder", encoder)
            + block("bottleneck", bottleneck)
            + (f"decoder {decoder}\n" if decoder.startswith("mirror") else block("decoder",
                                                                                decoder))
            + (f"{after}\n" if after else ""))


def check(source: str, *overrides: str) -> CheckResult:
    return check_source(source, "t.ae", list(overrides))


def codes(result: CheckResult) -> list[str]:
    return [d.code for d in result.diagnostics]


def only(result: CheckResult, code: str) -> Diagnostic:
    found = [d for d in result.diagnostics if d.code == code]
    assert len(found) == 1, result.diagnostics
    return found[0]


def rows(result: CheckResult, block: str) -> list[tuple[str, tuple, int]]:
    assert result.graph is not None, result.diagnostics
    return [(r.op, r.shape, r.params) for r in table_rows(result.graph) if r.block == block]


# ---------------------------------------------------------------- parse


def test_a_statement_may_span_lines_inside_parentheses():
    result = check(spec(encoder="dense(32,\n    bias=false) relu"))
    assert result.ok and rows(result, "encoder")[0] == ("dense(32, bias=false)", (32,), 2048)


def test_comments_blank_lines_and_crlf_are_ignored():
    source = spec(before="# a comment\n\n").replace("\n", "\r\n")
    assert check(source).ok


def test_a_syntax_error_points_at_the_token_with_a_hint():
    d = only(check(spec(encoder="dense(16 relu")), "E101")
    assert (d.span.line, d.span.column, d.span.end_column) == (3, 14, 18)
    assert "')'" in d.hint


def test_an_unclosed_block_points_where_it_opened():
    d = only(check("input vector(4)\nencoder {\n    dense(2)\n"), "E103")
    assert (d.span.line, d.span.column) == (2, 9)


def test_an_unterminated_string_is_e102_over_the_rest_of_the_line():
    d = only(check('model m "never closed\n' + spec()), "E102")
    assert (d.span.line, d.span.column, d.span.end_column) == (1, 9, 22)


def test_an_unexpected_character_is_e104_at_its_column():
    d = only(check(spec(encoder="dense(32) relu; dense(2)")), "E104")
    assert (d.span.line, d.span.column) == (3, 19) and "';'" in d.message


def test_strings_unescape_quotes_and_backslashes():
    stmt = parse_source('model m "a \\"quoted\\" C:\\\\dir \\t"\n').statements[0]
    assert stmt.doc == 'a "quoted" C:\\dir \\t'


def test_regression_escaped_backslash_before_n_is_not_a_newline():
    stmt = parse_source('model m "C:\\\\new"\n').statements[0]
    assert stmt.doc == "C:\\new"  # was C:<newline>ew


def test_regression_line_numbers_ignore_form_feeds_and_unicode_line_breaks():
    """The parser counts lines at \\n only; showing the line used to split at \\x0c too."""
    source = "let a = 1 \r\x0c \x0c\n" + spec(encoder="dense(32) relu @")
    d = only(check(source), "E104")
    assert d.span.line == 4 and "'@'" in d.message
    assert "dense(32) relu @" in d.render(source)


@pytest.mark.parametrize("expr", ["-" * 300 + "1", "+".join(["1"] * 400)])
def test_regression_deep_expressions_are_e105_not_a_recursion_error(expr):
    d = only(check(spec(before=f"let a = {expr}")), "E105")
    assert d.span.line == 1


# ---------------------------------------------------------------- let, expressions, repeat


@pytest.mark.parametrize("expr, value", [("64 / 2", 32), ("64 / 3", 64 / 3), ("7 - -2", 9),
                                         ("2 * (3 + 1)", 8), ("1e-3 * 2", 0.002),
                                         ("base * 2", 16)])
def test_let_expressions(expr, value):
    result = check(spec(before=f"let base = 8\nlet v = {expr}"))
    assert result.spec.lets["v"] == value
    assert type(result.spec.lets["v"]) is type(value)  # 64 / 2 stays an integer


def test_regression_every_let_is_in_the_spec_not_only_those_used_by_others():
    assert check(spec(before="let unused = 2 * 3\nlet t = (1, 2)")).spec.lets == {
        "unused": 6, "t": (1, 2)}


def test_lets_may_use_each_other_in_any_order():
    result = check(spec(before="let a = b * 2\nlet b = 16", encoder="dense(a) relu"))
    assert rows(result, "encoder")[0][1] == (32,)


def test_division_by_zero_is_e212_at_the_expression():
    d = only(check(spec(before="let w = 8 / (4 - 4)", encoder="dense(w)")), "E212")
    assert "division by zero" in d.message and d.span.line == 1


def test_a_let_that_refers_to_itself_is_e212():
    assert "E212" in codes(check(spec(before="let a = b\nlet b = a + 1")))


def test_regression_a_bad_let_used_twice_is_reported_once():
    result = check(spec(before="let w = 1 / 0", encoder="dense(w)\ndense(w)"))
    assert codes(result) == ["E212"]


def test_regression_let_chain_deeper_than_the_limit_is_e212_not_a_recursion_error():
    lets = "\n".join(f"let a{i} = a{i + 1}" for i in range(400)) + "\nlet a400 = 1"
    result = check(spec(before=lets))
    assert set(codes(result)) == {"E212"} and "100 deep" in result.diagnostics[0].message


@pytest.mark.parametrize("number", ["1e400", "1e400 - 1e400", "9" * 30, "9" * 5000])
def test_regression_non_finite_or_huge_numbers_are_e212(number):
    """A loss weight of inf or nan was accepted; a 400-digit integer raised OverflowError."""
    assert codes(check(spec(after=f"loss ({number}) * mse"))) == ["E212"]


def test_a_value_where_an_op_belongs_is_e203():
    d = only(check(spec(encoder="dense(32) 3")), "E203")
    assert "not an op" in d.message


def test_repeat_copies_its_block():
    result = check(spec(encoder="repeat 3 {\n    dense(16) relu\n}"))
    assert [r[0] for r in rows(result, "encoder")] == ["dense(16)", "relu"] * 3


def test_repeat_count_must_be_a_positive_integer():
    assert "E203" in codes(check(spec(encoder="repeat 0 {\n    relu\n}")))
    assert "E203" in codes(check(spec(encoder="repeat 1.5 {\n    relu\n}")))


def test_regression_a_problem_inside_repeat_is_reported_once():
    assert codes(check(spec(encoder="repeat 3 {\n    dens(16)\n}"))) == ["E201"]


@pytest.mark.parametrize("body", ["repeat 100000000 {\n    relu\n}",
                                  "repeat 1000 {\n    repeat 1000 {\n        relu\n    }\n}"])
def test_regression_huge_repeat_is_e203_not_a_hang(body):
    d = only(check(spec(encoder=body)), "E203")
    assert "at most 10000" in d.message


# ---------------------------------------------------------------- names and arguments


@pytest.mark.parametrize("encoder, code, offer", [
    ("dens(32)", "E201", "dense"), ("dense(32, bais=false)", "E202", "bias"),
    ("conv(32, pad=sme)", "E203", "same"), ("dense(widht)", "E205", "width"),
    ("clip(0, 1)", "E201", "noise op")])
def test_did_you_mean_hints(encoder, code, offer):
    d = only(check(spec(before="let width = 32", input="image(1, 8, 8)", encoder=encoder)),
             code)
    assert offer in d.hint


def test_unknown_statement_and_setting_offer_the_closest():
    assert "bottleneck" in only(check(spec(after="botleneck {\n}")), "E209").hint
    assert "epochs" in only(check(spec(after="train {\n    epoch 3\n}")), "E209").hint


def test_too_many_positional_arguments_is_e202():
    assert "E202" in codes(check(spec(encoder="dense(32, true, 3)")))


def test_missing_argument_is_e204_with_the_signature():
    assert "dense(units)" in only(check(spec(encoder="dense")), "E204").hint


def test_a_latent_outside_the_bottleneck_is_e208():
    assert "bottleneck" in only(check(spec(encoder="gaussian(8)")), "E208").hint


def test_missing_blocks_are_e207():
    assert codes(check("input vector(4)\n")) == ["E207"] * 3


def test_statements_given_twice_are_e206():
    assert "E206" in codes(check(spec(after="loss mse\nloss bce")))
    assert "E206" in codes(check(spec(before="let a = 1\nlet a = 2")))


def test_a_tensor_name_defined_twice_is_e211():
    assert "E211" in codes(check(spec(encoder="h = dense(32)\nh = dense(16)")))


def test_regression_negative_padding_is_rejected():
    d = only(check(spec(input="image(1, 8, 8)", encoder="conv(4, pad=-1)")), "E203")
    assert ">= 0" in d.message or "greater than or equal to 0" in d.message


def test_regression_a_union_argument_gives_one_diagnostic():
    """`pad=sam` used to give two E203s: one per branch of `same|valid` or an integer."""
    d = only(check(spec(input="image(1, 8, 8)", encoder="conv(4, pad=sam)")), "E203")
    assert "'same'" in d.hint


def test_regression_huber_positional_argument_is_delta():
    result = check(spec(after="loss huber(0.5)"))
    assert result.ok and result.spec.loss[0].call.args.delta == 0.5


def test_loss_defaults_to_mse_and_weights_multiply_terms():
    assert [t.call.op for t in check(spec()).spec.loss] == ["mse"]
    terms = check(spec(after="loss 0.5 * mse + 2 * bce")).spec.loss
    assert [(t.weight, t.call.op) for t in terms] == [(0.5, "mse"), (2.0, "bce")]


def test_model_name_defaults_to_the_file_stem():
    assert check(spec()).spec.name == "t"
    assert check(spec(before='model m "doc"')).spec.doc == "doc"


def test_regression_device_cuda_n_parses():
    """`device cuda:N` (LANGUAGE.md section 8) was a syntax error unless quoted."""
    result = check(spec(after="train {\n    device cuda:1\n}"))
    assert result.ok and result.spec.train.device == "cuda:1"
    assert "E203" in codes(check(spec(after="train {\n    device tpu:1\n}")))


def test_train_and_report_settings_and_their_defaults():
    result = check(spec(after="train {\n    epochs 3\n    optimizer sgd(lr=0.1, momentum=0.9)\n"
                              "    early_stop(patience=2)\n    compile true\n}\n"
                              "report {\n    reconstructions(n=4)\n    baseline pca\n}"))
    train = result.spec.train
    assert (train.epochs, train.batch, train.optimizer.name, train.optimizer.args.lr) == (
        3, 128, "sgd", 0.1)
    assert train.early_stop.patience == 2 and train.compile is True
    assert result.spec.report.baseline == "pca"
    assert result.spec.report.items["reconstructions"].n == 4


# ---------------------------------------------------------------- --set


def test_set_overrides_a_let_and_a_train_key():
    source = spec(before="let width = 32", encoder="dense(width) relu",
                  after="train {\n    epochs 20\n}")
    result = check(source, "width=16", "train.epochs=2", "train.optimizer=sgd(lr=0.1)")
    assert rows(result, "encoder")[0][1] == (16,)
    assert result.spec.train.epochs == 2 and result.spec.train.optimizer.name == "sgd"


def test_set_adds_a_train_key_and_takes_arguments_in_parentheses():
    result = check(spec(), "train.early_stop=(patience=3)", "train.device=cuda:0")
    assert result.spec.train.early_stop.patience == 3
    assert result.spec.train.device == "cuda:0"


@pytest.mark.parametrize("override", ["width", "nope=3", "train.nope=3", "model.name=x",
                                      "width=(1", "train.device=cu:da", "=3"])
def test_bad_set_is_e210(override):
    result = check(spec(before="let width = 32"), override)
    assert codes(result) == ["E210"] and result.diagnostics[0].span is None


def test_regression_a_bad_set_value_points_at_the_line_it_replaces():
    """Its span used to be its column on the command line, shown on line 1 of the file."""
    source = spec(before="let width = 32", encoder="dense(width) relu",
                  after="train {\n    epochs 20\n}")
    d = only(check(source, "train.epochs=0"), "E203")
    assert d.span.line == source.splitlines().index("    epochs 20") + 1
    assert "0" in d.message
    d = only(check(source, "width=nope"), "E205")
    assert d.span.line == 1


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
    assert result.graph.nodes["decoder4"]["tied_to"] == "bottleneck3"


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


# ---------------------------------------------------------------- W4xx


WARNINGS = {
    "W401": (spec(bottleneck="dense(64)"),
             [spec(bottleneck="dense(63)"), spec(bottleneck="dense(64)", after="noise mask(0.2)"),
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


# ---------------------------------------------------------------- rendering, errors


def test_render_gives_file_line_column_the_line_and_carets():
    source = spec(encoder="dens(32) relu")
    text = only(check(source), "E201").render(source)
    assert text.splitlines() == ["t.ae:3:5: error[E201]: unknown layer op 'dens'",
                                 "        dens(32) relu", "        ^^^^",
                                 "  hint: did you mean 'dense' or 'deconv'?"]


def test_render_without_a_span_or_source():
    d = Diagnostic("W401", "message", None, None, "f.ae")
    assert d.render("x") == "f.ae: warning[W401]: message"
    far = Diagnostic("E101", "m", Span(9, 1, 9, 2))  # past the text: no line to show
    assert far.render("one line") == "<spec>:9:1: error[E101]: m"


def test_a_span_over_several_lines_underlines_to_the_end_of_the_first():
    text = Diagnostic("E101", "m", Span(1, 3, 2, 2)).render("abcdef\nxy")
    assert text.splitlines()[-1] == "      ^^^^"


def test_to_json_has_the_documented_keys():
    d = only(check(spec(encoder="dens(32)")), "E201").to_json()
    assert list(d) == ["severity", "code", "message", "hint", "line", "column", "end_line",
                       "end_column"]


def test_diagnostics_are_sorted_errors_first_then_by_line():
    result = check(spec(bottleneck="dense(64)", decoder="dense(64)\ndens(2)"))
    assert codes(result) == ["E201"]  # W401 needs shapes, which the error stops
    result = check(spec(bottleneck="dense(64)", decoder="dense(60)"))
    assert codes(result)[0] == "E301" and result.diagnostics[-1].severity == "warning"


def test_parse_source_raises_our_error_type():
    with pytest.raises(AespecError) as exc:
        parse_source("encoder {\n")
    assert exc.value.diagnostics[0].code == "E103"


# ---------------------------------------------------------------- the parser's table cache


def test_parser_tables_are_cached_and_a_bad_cache_file_is_ignored(tmp_path, monkeypatch):
    from aespec import syntax

    monkeypatch.setenv("AESPEC_CACHE_DIR", str(tmp_path))
    parser = syntax._build("start")
    (cached,) = tmp_path.glob("grammar-start-*.lark")
    assert parser.parse("input vector(4)\n")
    cached.write_bytes(b"not a cache")  # a torn or foreign file: rebuilt, not an error
    assert syntax._build("start").parse("input vector(4)\n")


def test_parser_works_when_the_cache_folder_cannot_be_made(tmp_path, monkeypatch):
    from aespec import syntax

    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("AESPEC_CACHE_DIR", str(blocker / "cache"))
    assert syntax._cache_file("g", "start") is None
    assert syntax._build("start").parse("input vector(4)\n")
    monkeypatch.setenv("AESPEC_CACHE_DIR", "")  # empty: no cache at all
    assert syntax._cache_file("g", "start") is None


def test_regression_a_bad_symbol_setting_prints_its_name_not_a_repr():
    from aespec.checking import check_source

    source = "input vector(4)\nencoder {\n dense(2)\n}\nbottleneck {\n dense(2)\n}\n" \
             "decoder {\n dense(4)\n}\ntrain {\n device gpu\n}\n"
    result = check_source(source, "t.ae")
    [d] = [d for d in result.diagnostics if d.severity == "error"]
    assert d.message.startswith("invalid device: gpu (") and "Symbol" not in d.message
    assert d.span.line == 12


@pytest.mark.parametrize("args, fragment", [
    ("output_padding=1", "pad=valid or an int pad"),
    ("pad=valid, output_padding=2", "smaller than stride"),
])
def test_deconv_output_padding_is_validated(args, fragment):
    from aespec.checking import check_source

    source = ("input image(1, 8, 8)\nencoder {\n dense(4)\n}\nbottleneck {\n dense(64)\n}\n"
              f"decoder {{\n reshape(1, 4, 4)\n deconv(1, {args})\n}}\n")
    errors = [d for d in check_source(source, "t.ae").diagnostics if d.severity == "error"]
    assert errors and errors[0].code == "E203" and fragment in errors[0].message
    assert errors[0].span.line == 10


def test_regression_mirror_restores_a_strided_conv_with_an_int_pad():
    from aespec.checking import check_source

    source = ("input image(1, 28, 28)\nencoder {\n conv(8, k=3, stride=2, pad=1) relu\n}\n"
              "bottleneck {\n dense(4)\n}\ndecoder mirror\nloss mse\n")
    result = check_source(source, "t.ae")
    assert result.ok, result.diagnostics
    assert result.graph.graph["output"] == (1, 28, 28)
