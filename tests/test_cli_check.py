"""`aespec check` and `aespec explain` through typer's CliRunner: exit codes, what is
printed where, and the --json shape of section 10."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aespec.cli import app
from aespec.codes import CODES
from aespec.graph.frontend import check_source

ROOT = Path(__file__).resolve().parents[1]
VAE = ROOT / "specs" / "vae_fc.ae"
GOOD = """model tiny "a small one"
input vector(8)
encoder {
    dense(4) relu
}
bottleneck {
    dense(2)
}
decoder {
    dense(8) sigmoid
}
loss bce
regularize l2(1e-5)
"""


def run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def write(tmp_path):
    def _write(text: str, name: str = "spec.ae") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path
    return _write


def test_a_good_spec_exits_0_with_the_table_code_and_objective(write):
    result = run("check", write(GOOD + "data synthetic(n=64)\n"))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "tiny: a small one" in out and "dense(4)" in out and "(4,)" in out
    assert "code z: (2,)" in out and "parameters: 70" in out
    assert "objective: L = BCE(x, x̂) + 1e-05·Σw²" in out
    assert result.stderr == ""


def test_an_iwae_objective_is_the_importance_weighted_bound(write):
    spec = GOOD.replace("dense(2)", "gaussian(2, iw=5)").replace("regularize l2(1e-5)\n", "")
    out = run("check", write(spec)).stdout
    assert ("objective: L = −log (1/5) Σₖ p(x|zₖ) p(zₖ) / q(zₖ|x) over 5 draws zₖ ~ q(z|x), "
            "−log p(x|z) = BCE(x, x̂)") in out
    assert "KL" not in out
    grouped = run("check", write(spec.replace("iw=5", "iw=5, samples=3"))).stdout
    assert "BCE(x, x̂), the mean of 3 such bounds" in grouped


def test_an_error_exits_1_with_a_gcc_style_diagnostic_on_stderr(write):
    path = write(GOOD.replace("dense(4)", "dens(4)"))
    result = run("check", path)
    assert result.exit_code == 1
    assert f"{path}:4:5: error[E201]: unknown layer op 'dens'" in result.stderr
    assert "    ^^^^" in result.stderr and "hint: did you mean 'dense'" in result.stderr
    assert "objective" not in result.stdout  # no table for a spec that failed


def test_warnings_alone_exit_0(write):
    result = run("check", write(GOOD.replace("dense(2)", "dense(8)").replace(
        "regularize l2(1e-5)\n", "")))
    assert result.exit_code == 0
    assert "warning[W401]" in result.stderr and "objective" in result.stdout


def test_usage_errors_exit_2():
    assert run("check").exit_code == 2
    assert run("check", "--nope", VAE).exit_code == 2


def test_json_is_one_object_with_the_documented_keys():
    result = run("check", "--json", VAE)
    assert result.exit_code == 0
    payload = json.loads(result.stdout)
    assert list(payload) == ["schema_version", "file", "ok", "diagnostics", "model", "spec"]
    assert payload["schema_version"] == 2
    payload.pop("spec")
    memory = payload["model"].pop("memory")
    assert payload["model"] == {"name": "vae_fc", "input": [784], "z": [20],
                                "output": [784], "params": 1082680}
    weights = 4 * 1082680  # float32; adam keeps two moments of each weight
    assert memory == {"weights": weights, "gradients": weights, "optimizer": 2 * weights,
                      "activations": memory["activations"], "batch": 128,
                      "total": 4 * weights + memory["activations"]}


def test_json_of_a_failing_spec_has_diagnostics_with_spans(write):
    result = run("check", "--json", write(GOOD.replace("dense(8) sigmoid", "dense(9) sigmoid")))
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["ok"] is False
    d, no_data = payload["diagnostics"]  # errors first, then warnings
    assert no_data["code"] == "W440"
    assert d == {"severity": "error", "code": "E301",
                 "message": "decoder output (9,) does not match input (8,)",
                 "hint": d["hint"], "line": 10, "column": 5, "end_line": 10,
                 "end_column": 21}
    assert payload["model"]["output"] == [9]  # it got far enough to have shapes


def test_json_of_a_syntax_error_has_no_model(write):
    payload = json.loads(run("check", "--json", write("encoder {\n")).stdout)
    assert "model" not in payload and payload["diagnostics"][0]["code"] == "E103"


def test_several_files_one_json_line_each_and_exit_1_if_any_fails(write):
    good, bad = write(GOOD, "good.ae"), write("input vector(3)\n", "bad.ae")
    result = run("check", "--json", good, bad, good)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(p["file"], p["ok"]) for p in lines] == [(str(good), True), (str(bad), False),
                                                     (str(good), True)]
    assert result.exit_code == 1


def test_an_unreadable_file_is_e001_and_the_others_still_checked(tmp_path, write):
    good = write(GOOD)
    binary = tmp_path / "binary.ae"
    binary.write_bytes(b"\xff\xfe\x00model")
    result = run("check", tmp_path / "missing.ae", tmp_path, binary, good)
    assert result.exit_code == 1
    assert result.stderr.count("error[E001]") == 3
    assert "tiny" in result.stdout


def test_a_byte_order_mark_and_windows_line_ends_read_as_plain_text(tmp_path):
    # Notepad saves UTF-8 with a BOM and \r\n line ends
    for name, raw in [("bom.ae", b"\xef\xbb\xbf" + GOOD.encode()),
                      ("crlf.ae", b"\xef\xbb\xbf" + GOOD.replace("\n", "\r\n").encode())]:
        (tmp_path / name).write_bytes(raw)
        result = run("check", "--json", tmp_path / name)
        assert result.exit_code == 0, (name, result.stdout)
        assert json.loads(result.stdout)["model"]["name"] == "tiny"
    # a lone \r separates tokens (docs/language.md): a file means what its text means
    (tmp_path / "cr.ae").write_bytes(GOOD.replace("\n", "\r").encode())
    got = json.loads(run("check", "--json", tmp_path / "cr.ae").stdout)
    want = check_source(GOOD.replace("\n", "\r"), str(tmp_path / "cr.ae"))
    assert [d["code"] for d in got["diagnostics"]] == [d.code for d in want.diagnostics] != []


def test_a_byte_that_is_not_utf8_is_e001_naming_its_line_and_column(tmp_path):
    path = tmp_path / "latin1.ae"
    path.write_bytes(GOOD.replace("a small one", "caf\u00e9 cr\u00e8me").encode("latin-1"))
    result = run("check", "--json", path)
    assert result.exit_code == 1
    (d,) = json.loads(result.stdout)["diagnostics"]
    assert d["code"] == "E001" and d["hint"] == "save the file as UTF-8"
    assert d["message"].endswith("byte 0xe9 at line 1, column 16 is not UTF-8")
    assert d["line"] is None  # a span would point into text the result does not hold


def test_set_on_the_command_line(write):
    path = write("let w = 4\n" + GOOD.replace("dense(4)", "dense(w)"))
    result = run("check", "--json", path, "--set", "w=3", "--set", "train.epochs=2")
    assert json.loads(result.stdout)["model"]["params"] == 8 * 3 + 3 + 3 * 2 + 2 + 2 * 8 + 8
    result = run("check", path, "--set", "nope=1")
    assert result.exit_code == 1 and "error[E210]" in result.stderr


def test_regression_emoji_codes_in_a_spec_stay_text(write):
    """rich turned `:smile:` in a message into an emoji, in the JSON output too."""
    result = run("check", "--json", write(GOOD.replace("dense(4)", 'dense(":smile:")')))
    assert ":smile:" in json.loads(result.stdout)["diagnostics"][0]["message"]
    result = run("check", write(GOOD.replace("dense(4)", 'dense(":smile:")')))
    assert '"":smile:""' not in result.stderr and ":smile:" in result.stderr


@pytest.mark.parametrize("doc", ["[bold]x[/bold]", "[/bold] oops"])
def test_regression_markup_in_the_model_doc_is_printed_as_written(write, doc):
    result = run("check", write(GOOD.replace('"a small one"', f'"{doc}"')))
    assert result.exit_code == 0 and doc in result.stdout


@pytest.mark.parametrize("code", ["E301", "w401", "E605"])
def test_explain_prints_the_catalogue_entry(code):
    result = run("explain", code)
    assert result.exit_code == 0
    assert result.stdout.startswith(f"{code.upper()}: {CODES[code.upper()].title}")


def test_explain_runs_the_example_and_shows_its_diagnostic():
    result = run("explain", "E205")
    assert "error[E205]: undefined name 'widht'" in result.stdout


def test_explain_of_an_unknown_code_exits_2():
    result = run("explain", "E999")
    assert result.exit_code == 2 and "unknown code" in result.stderr


# ---------------------------------------------------------------- messages that teach

TRAIN = GOOD + "train {\n    epochs 3\n}\n"


@pytest.mark.parametrize("old, new, code, hint", [
    # Keras's channels-last habit: a warning at the input line, in aespec's order
    ("input vector(8)\nencoder {\n    dense(4) relu",
     "input image(28, 28, 1)\nencoder {\n    flatten\n    dense(4) relu", "W411",
     "for 1 channel of 28x28 pixels write `image(1, 28, 28)`"),
    ("dense(4) relu", "dense(4, relu)", "E203",
     "an activation follows the layer it acts on: write `dense(4) relu`"),
    ("dense(4) relu", "dense(relu)", "E203",  # the required units named in the fix
     "an activation follows the layer it acts on: write `dense(units) relu`"),
    ("dense(4) relu", "dense(units=4, activation=relu)", "E202",
     "an activation follows the layer it acts on: write `dense(units=4) relu`"),
    ("loss bce", "loss binary_crossentropy", "E201",
     "aespec calls it `bce` (the loss ops: bce, gaussian_nll, huber, mae, mse)"),
    ("loss bce", "loss mean_squared_error", "E201", "aespec calls it `mse`"),
    ("epochs 3", 'optimizer "adam"', "E203", "write it without quotes: `optimizer adam`"),
    ("epochs 3", "epochs = 3", "E203", "write `epochs 3`"),
    ("epochs 3", "epochs: 3", "E209", "a train line is `KEY VALUE`, without ':': write "
                                      "`epochs 3`"),
    ("dense(8) sigmoid", "dense(9) sigmoid", "E301",
     "the last layer should have 8 units: `dense(8)`"),
])
def test_a_new_users_mistake_gets_a_hint_that_names_the_fix(write, old, new, code, hint):
    text = TRAIN.replace(old, new)
    assert text != TRAIN
    payload = json.loads(run("check", "--json", write(text)).stdout)
    found = [d for d in payload["diagnostics"] if d["code"] == code]
    assert found and found[0]["hint"].startswith(hint), payload["diagnostics"]


@pytest.mark.parametrize("layer, message", [
    ("dense(4, relu)", "the argument bias of dense should be true or false, not the "
                       "activation relu"),
    ("dense(relu)", "the argument units of dense is a number, not the activation relu"),
])
def test_an_activation_in_an_argument_is_named_as_such(write, layer, message):
    payload = json.loads(run("check", "--json", write(GOOD.replace("dense(4) relu", layer))
                             ).stdout)
    assert [d["message"] for d in payload["diagnostics"]] == [message]


def test_an_error_in_a_set_value_points_at_the_override(write):
    result = run("check", write(TRAIN), "--set", "train.epochs=0")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "<--set train.epochs=0>:1:14: error[E203]: invalid epochs: 0 (expected at least 1)\n"
        "    train.epochs=0\n                 ^\n")


# ---------------------------------------------------------------- the command line itself


def test_dash_h_is_help_and_usage_lines_read_plainly():
    for args in (["-h"], ["check", "-h"], ["run", "-h"], ["draw", "-h"]):
        result = run(*args)
        assert result.exit_code == 0 and "Usage:" in result.stdout, args
    usage = run("check", "-h").stdout.splitlines()[0]
    assert usage.endswith("check [OPTIONS] FILE...") and "{" not in usage
    assert "  FILE...  Spec files" in run("check", "-h").stdout  # no `<list[Path]>`
    assert run("draw", "-h").stdout.splitlines()[0].endswith("draw [OPTIONS] SPEC")
    assert run("run", "-h").stdout.splitlines()[0].endswith("run [OPTIONS] [SPEC]")
    assert "--show-completion" in run("-h").stdout  # shell completion


def test_check_dash_reads_standard_input():
    result = CliRunner().invoke(app, ["check", "-"], input=GOOD.replace("dense(4)", "dens(4)"))
    assert result.exit_code == 1 and "<stdin>:4:5: error[E201]" in result.stderr
    assert CliRunner().invoke(app, ["check", "-"], input=GOOD).exit_code == 0


def test_quiet_prints_nothing_but_errors(write):
    warned = write(GOOD.replace("dense(2)", "dense(8)").replace("regularize l2(1e-5)\n", ""))
    result = run("check", "-q", warned)
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == ""
    result = run("check", "--quiet", write(GOOD.replace("dense(4)", "dens(4)"), "bad.ae"))
    assert result.exit_code == 1 and "error[E201]" in result.stderr and result.stdout == ""
    result = run("draw", "-q", warned, "-o", warned.with_suffix(".dot"))
    assert result.exit_code == 0 and result.output == ""


# ---------------------------------------------------------------- the --json schemas

SCHEMAS = {v: json.loads((ROOT / "docs" / name).read_text(encoding="utf-8"))
           for v, name in ((1, "check-json.schema.json"), (2, "check-json-2.schema.json"))}
SCHEMA = SCHEMAS[1]


def _json_lines(*args, schema: int = 2) -> list[dict]:
    return [json.loads(line) for line in
            run("check", "--json", "--schema", str(schema), *args).stdout.splitlines()]


@pytest.mark.parametrize("version", [1, 2])
def test_real_outputs_validate_against_the_documented_schema(write, tmp_path, version):
    import jsonschema

    validator = jsonschema.Draft202012Validator(SCHEMAS[version])
    validator.check_schema(SCHEMAS[version])
    page = write("```ae\n" + GOOD + "```\n\n```ae\ninput vector(3)\n```\n", "page.md")
    payloads = [*_json_lines(*sorted((ROOT / "specs").glob("*.ae")), schema=version),
                *_json_lines(*sorted((ROOT / "tests" / "conformance" / "invalid").glob("*.ae")),
                             schema=version),
                *_json_lines(page, tmp_path / "missing.ae", write("encoder {\n", "open.ae"),
                             schema=version),
                *_json_lines(write(GOOD), "--set", "train.epochs=0", schema=version)]
    assert len(payloads) > 40
    for payload in payloads:
        errors = sorted(validator.iter_errors(payload), key=str)
        assert not errors, (payload.get("file"), [e.message for e in errors])
    seen = {k for p in payloads for k in p} | {k for p in payloads for d in p["diagnostics"]
                                               for k in d}
    assert {"block", "model", "file", "hint", "end_column"} <= seen  # every branch met
    assert ("spec" in seen) == (version == 2)
    assert payloads[-1]["diagnostics"][0]["file"] == "<--set train.epochs=0>"


def test_schema_2_says_what_the_spec_is_made_of(write):
    [vae] = _json_lines(VAE)
    spec = vae["spec"]
    assert spec["kind"] == "vae" and spec["techniques"] == ["latent"]
    assert spec["latent"] == {"op": "gaussian", "line": spec["latent"]["line"],
                              "args": {"dim": 20, "beta": 1.0, "samples": 1, "iw": 1}}
    assert spec["objective"].startswith("L = BCE(x, x̂) + 1.0·KL")
    assert spec["train"]["optimizer"]["name"] == "adam" and spec["data"]["source"] == \
        "fashion_mnist"
    dense = spec["ops"][0]
    assert (dense["block"], dense["op"], dense["args"]["units"], dense["output"]) == (
        "encoder", "dense", 512, [512])
    [dae] = _json_lines(ROOT / "specs" / "denoising_conv.ae")
    assert [n["op"] for n in dae["spec"]["noise"]] == ["gaussian", "clip"]
    assert {"noise", "regularizer", "conv"} <= set(dae["spec"]["techniques"])
    assert dae["spec"]["regularizers"][0]["op"] == "l2"
    [broken] = _json_lines(write(GOOD.replace("dense(8) sigmoid", "dense(9) sigmoid")))
    assert not broken["ok"] and broken["spec"]["kind"] == "autoencoder"  # graded anyway


def test_the_schema_rejects_what_it_should():
    import jsonschema

    good = _json_lines(VAE, schema=1)[0]
    for broken in ({**good, "schema_version": 2}, {**good, "extra": 1},
                   {**good, "diagnostics": [{"severity": "fatal"}]},
                   {k: v for k, v in good.items() if k != "ok"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, SCHEMA, cls=jsonschema.Draft202012Validator)


# ---------------------------------------------------------------- --data, checked as the spec's


def test_check_data_checks_the_command_line_data_in_place_of_the_spec_line(write):
    """--data is the front end's: the shape check sees it, and says where it was written."""
    path = write(GOOD.replace("input vector(8)", "data digits\ninput vector(64)")
                 .replace("dense(8) sigmoid", "dense(64) sigmoid"))
    assert run("check", path, "-q").exit_code == 0
    result = run("check", path, "--data", "fashion_mnist")
    assert result.exit_code == 1
    assert "<--data fashion_mnist>:1:1: error[E309]: data fashion_mnist gives examples of " \
        "shape (1, 28, 28)" in result.output
    doc = json.loads(run("check", path, "--json", "--data", "digits(size=9)").output)
    assert [(d["code"], d.get("file"), d["line"]) for d in doc["diagnostics"]] == [
        ("E309", "<--data digits(size=9)>", 1)]


@pytest.mark.parametrize("value, code", [("nope", "E201"), ("digits(size=0)", "E203"),
                                         ("digits mnist", "E203"), ("digits(", "E103")])
def test_check_data_refuses_a_bad_value_with_the_data_statements_codes(write, value, code):
    path = write(GOOD.replace("input vector(8)", "data digits\ninput vector(64)")
                 .replace("dense(8) sigmoid", "dense(64) sigmoid"))
    result = run("check", path, "--data", value)
    assert result.exit_code == 1 and f"[{code}]" in result.output, result.output


def test_the_data_a_spec_is_checked_with_is_the_data_it_reads():
    from aespec.train.batches import choose_data

    spec = check_source(GOOD, "g.ae", data="digits(size=4)").spec
    choice = choose_data(spec)
    assert (choice.source, choice.args, choice.file) == ("digits", {"size": 4},
                                                          "<--data digits(size=4)>")
    assert check_source(GOOD, "g.ae").spec.data is None
