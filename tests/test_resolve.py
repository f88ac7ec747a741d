"""The resolve stage: lets and expressions, repeat, names and arguments (E2xx), `--set`.

Tests named `test_regression_*` each catch a bug that was found and fixed; the name says
what used to go wrong.
"""

from __future__ import annotations

import pytest
from frontend import check, codes, only, rows, spec

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


def test_set_takes_early_stop_as_a_user_first_writes_it():
    result = check(spec(), "train.early_stop=early_stop(patience=3)")
    assert result.ok and result.spec.train.early_stop.patience == 3


@pytest.mark.parametrize("override", ["width", "nope=3", "train.nope=3", "model.name=x",
                                      "width=(1", "train.device=cu:da", "=3"])
def test_bad_set_is_e210(override):
    result = check(spec(before="let width = 32"), override)
    assert codes(result) == ["E210"] and result.diagnostics[0].span is None


def test_regression_a_bad_set_value_points_at_the_override_not_the_file():
    """Its span used to be its column on the command line, shown on line 1 of the file;
    then the line it replaced (`epochs 30`), which is not where the mistake is."""
    source = spec(before="let width = 32", encoder="dense(width) relu",
                  after="train {\n    epochs 20\n}")
    d = only(check(source, "train.epochs=0"), "E203")
    assert (d.file, d.span.line, d.span.column) == ("<--set train.epochs=0>", 1, 14)
    assert d.render(source).splitlines()[1:3] == ["    train.epochs=0", " " * 17 + "^"]
    d = only(check(source, "train.seed=1", "width=nope"), "E205")
    assert (d.file, d.span.column, d.span.end_column) == ("<--set width=nope>", 7, 11)
    d = only(check(source, "train.early_stop=(patience=0)"), "E203")
    assert d.span.column == len("train.early_stop=(") + 1


@pytest.mark.parametrize("override, optimizer, hint", [
    ("train.lr=0.01", "",
     "lr is an argument of the optimizer: --set 'train.optimizer=adam(lr=...)'"),
    ("train.optimizer.lr=0.01", "optimizer sgd(lr=0.1)", "train.optimizer=sgd(lr=...)"),
    ("train.momentum=0.9", "optimizer adamw", "train.optimizer=sgd(momentum=...)"),
    ("train.weight_decay=1e-4", "optimizer rmsprop", "train.optimizer=rmsprop(weight_decay=...)"),
])
def test_an_optimizer_argument_set_as_a_train_key_names_the_fix(override, optimizer, hint):
    after = f"train {{\n    {optimizer}\n}}" if optimizer else ""
    result = check(spec(after=after), override)
    assert codes(result) == ["E210"] and hint in result.diagnostics[0].hint


# ---------------------------------------------------------------- settings and op arguments


def test_regression_a_bad_symbol_setting_prints_its_name_not_a_repr():
    from aespec.graph.frontend import check_source

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
    from aespec.graph.frontend import check_source

    source = ("input image(1, 8, 8)\nencoder {\n dense(4)\n}\nbottleneck {\n dense(64)\n}\n"
              f"decoder {{\n reshape(1, 4, 4)\n deconv(1, {args})\n}}\n")
    errors = [d for d in check_source(source, "t.ae").diagnostics if d.severity == "error"]
    assert errors and errors[0].code == "E203" and fragment in errors[0].message
    assert errors[0].span.line == 10


def test_regression_thousands_of_extra_arguments_are_one_e202():
    """Each extra positional argument used to be its own diagnostic, and the bag's check for
    duplicates made that quadratic: 20,000 arguments took minutes."""
    result = check(spec(encoder="dense(" + ", ".join(["1"] * 5000) + ")"))
    assert [d.code for d in result.diagnostics] == ["E202"]


@pytest.mark.parametrize("layer, fix", [
    ("dense(32, relu)", "`dense(32) relu`"),
    ("dense(units=32, activation=relu)", "`dense(units=32) relu`"),
    ("conv(16, 3, sigmoid)", "`conv(16, 3) sigmoid`"),
])
def test_an_activation_given_as_an_argument_is_told_it_follows_the_layer(layer, fix):
    """The Keras habit (`Dense(32, activation='relu')`): the hint names the aespec way."""
    result = check(spec(input="image(1, 8, 8)", encoder=layer,
                        decoder="dense(64)\nreshape(1, 8, 8)"))
    [d] = [d for d in result.diagnostics if d.severity == "error"]
    assert d.hint == f"an activation follows the layer it acts on: write {fix}"


def test_mirror_output_still_takes_an_activation_name():
    assert check(spec(decoder="mirror(output=sigmoid)")).ok


@pytest.mark.parametrize("sets", [["train.batch=width", "width=cosine"],
                                  ["width=width", "train.batch=width"],
                                  ["train.epochs=width", "width=1/0"]])
def test_regression_a_bad_let_used_by_a_train_setting_is_a_diagnostic(sets):
    """Found by the fuzz campaign: the let's ExprError escaped the train block's resolver."""
    source = spec(before="let width = 8", after="train {\n    epochs 2\n}")
    result = check(source, *sets)
    assert not result.ok and all(d.code.startswith("E2") for d in result.diagnostics)
