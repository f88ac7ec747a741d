"""`aespec run`, `eval`, `sample` and `encode`: exit codes, output, files; Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from aespec.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()

VAE = """\
model tiny_vae "a small VAE on 8x8 digits"
data digits
input vector(64)
encoder {
    dense(16) relu
}
bottleneck {
    gaussian(3)
}
decoder {
    dense(16) relu
    dense(64) sigmoid
}
loss bce
train {
    epochs 2
    batch 128
}
"""


def invoke(*args: str):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    (root / "vae.ae").write_text(VAE)
    result = invoke("run", root / "vae.ae", "--out", root / "run")
    assert result.exit_code == 0, result.output
    return root, result


def test_run_prints_epochs_and_a_summary_table(vae_run):
    root, result = vae_run
    text = result.output
    assert "tiny_vae: 2,294 parameters" in text and "run directory:" in text  # the header
    assert "epoch 1/2" in text and "epoch 2/2" in text and "samples/s" in text
    assert "finished after 2 epochs" in text
    for word in ("term", "test", "validation", "bce", "kl", "parameters:", "time:"):
        assert word in text
    assert "━" not in text.split("finished")[0]  # no progress bar: output is not a terminal
    assert (root / "run" / "best.pt").is_file()


def test_quiet_prints_nothing_but_errors(tmp_path):
    (tmp_path / "vae.ae").write_text(VAE)
    result = invoke("run", tmp_path / "vae.ae", "--out", tmp_path / "r", "--quiet",
                    "--epochs", "1", "--set", "train.seed=2")
    assert result.exit_code == 0
    assert result.output == ""
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    assert info["overrides"] == ["train.seed=2", "train.epochs=1"]


def test_run_writes_the_default_directory_under_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vae.ae").write_text(VAE)
    assert invoke("run", "vae.ae", "-q", "--epochs", "1").exit_code == 0
    (made,) = (tmp_path / "runs").iterdir()
    assert made.name.startswith("tiny_vae-") and (made / "metrics.jsonl").is_file()


def test_eval_text_and_json(vae_run):
    root, _ = vae_run
    text = invoke("eval", root / "run")
    assert text.exit_code == 0 and "360 test examples" in text.output
    assert "reconstruction error per example" in text.output
    as_json = invoke("eval", root / "run", "--json", "--checkpoint", "last")
    data = json.loads(as_json.output)
    assert data["n"] == 360 and set(data["test"]) == {"loss", "bce", "kl"}
    assert data["recon_error"]["mean"] > 0
    # the active units as run.json counts them, once (`units` beside `dims`)
    units = data["references"]["active_units"]
    assert units["units"] == units["dims"] and set(units) >= {"active", "threshold", "variance"}
    best = json.loads(invoke("eval", root / "run", "--json").output)["references"]
    info = json.loads((root / "run" / "run.json").read_text())
    assert best["active_units"] == {**info["active_units"], "units": info["active_units"]["dims"]}


def test_eval_nll_estimates_minus_log_p_x_and_tightens_with_k(vae_run):
    root, _ = vae_run
    found = {}
    for k in ("1", "20"):
        result = invoke("eval", root / "run", "--json", "--nll", k, "--seed", "1")
        assert result.exit_code == 0, result.output
        found[k] = json.loads(result.output)["nll"]
    elbo = json.loads(invoke("eval", root / "run", "--json").output)["test"]["loss"]
    assert found["1"]["nats"] == pytest.approx(elbo, rel=0.02)  # K=1: the ELBO, sampled
    assert found["20"]["nats"] < found["1"]["nats"]
    assert found["20"]["likelihood"].startswith("Bernoulli") and found["20"]["se"] > 0
    text = invoke("eval", root / "run", "--nll", "3")
    assert "NLL -log p(x), K=3 importance samples (seed 0):" in text.output
    assert "nats per example" in text.output


def test_eval_nll_refuses_a_model_without_a_likelihood(tmp_path):
    (tmp_path / "ae.ae").write_text(VAE.replace("gaussian(3)", "dense(3)"))
    assert invoke("run", tmp_path / "ae.ae", "--out", tmp_path / "r", "-q",
                  "--epochs", "1").exit_code == 0
    result = invoke("eval", tmp_path / "r", "--nll", "5")
    assert result.exit_code == 1
    assert "error[E321]: the likelihood p(x) needs a stochastic latent" in result.output


def test_sample_writes_draws_from_the_prior(vae_run, tmp_path):
    root, _ = vae_run
    out = tmp_path / "s.npy"
    result = invoke("sample", root / "run", "-n", "7", "-o", out, "--seed", "1")
    assert result.exit_code == 0, result.output
    x = np.load(out)
    assert x.shape == (7, 64) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    again = tmp_path / "t.npy"
    invoke("sample", root / "run", "-n", "7", "-o", again, "--seed", "1")
    assert np.array_equal(np.load(again), x)
    unwritable = invoke("sample", root / "run", "-o", tmp_path / "no" / "such" / "s.npy")
    assert unwritable.exit_code == 1 and "error[E606]" in unwritable.output


def test_regression_sample_a_billion_is_e608_before_allocating(vae_run, tmp_path):
    root, _ = vae_run
    result = invoke("sample", root / "run", "-n", "1000000000", "-o", tmp_path / "s.npy")
    assert result.exit_code == 1 and "error[E608]" in result.output
    assert "-n" in result.output and not (tmp_path / "s.npy").exists()


def test_sample_decodes_in_chunks(vae_run, tmp_path, monkeypatch):
    from aespec.cli import sample

    root, _ = vae_run
    monkeypatch.setattr(sample, "CHUNK", 3)
    result = invoke("sample", root / "run", "-n", "7", "-o", tmp_path / "s.npy")
    assert result.exit_code == 0, result.output
    x = np.load(tmp_path / "s.npy")
    assert x.shape == (7, 64) and len({row.tobytes() for row in x}) == 7


def test_encode_writes_codes_in_order(vae_run, tmp_path):
    root, _ = vae_run
    out = tmp_path / "codes.npy"
    assert invoke("encode", root / "run", "-o", out).exit_code == 0
    assert np.load(out).shape == (1797, 3)
    result = invoke("encode", root / "run", "--data", "digits", "--split", "test", "-o", out)
    assert result.exit_code == 0 and np.load(out).shape == (360, 3)
    unwritable = invoke("encode", root / "run", "-o", tmp_path / "no" / "such" / "c.npy")
    assert unwritable.exit_code == 1 and "error[E606]" in unwritable.output


def test_sample_needs_a_stochastic_latent(tmp_path):
    spec = tmp_path / "plain.ae"
    spec.write_text(VAE.replace("gaussian(3)", "dense(3)"))
    assert invoke("run", spec, "--out", tmp_path / "r", "-q", "--epochs", "1").exit_code == 0
    result = invoke("sample", tmp_path / "r", "-o", tmp_path / "s.npy")
    assert result.exit_code == 1 and "error[E308]" in result.output
    assert not (tmp_path / "s.npy").exists()


def test_errors_exit_1_with_diagnostics_never_a_traceback(tmp_path):
    bad = tmp_path / "bad.ae"
    bad.write_text(VAE.replace("dense(64) sigmoid", "dense(65) sigmoid"))
    result = invoke("run", bad, "--out", tmp_path / "r")
    assert result.exit_code == 1 and "error[E3" in result.output
    assert not (tmp_path / "r").exists()
    (tmp_path / "ok.ae").write_text(VAE)
    nodata = invoke("run", tmp_path / "ok.ae", "--data", "nope", "--out", tmp_path / "r")
    assert nodata.exit_code == 1 and "unknown data source 'nope'" in nodata.output
    missing = invoke("eval", tmp_path / "absent")
    assert missing.exit_code == 1 and "error[E603]" in missing.output


def test_a_bad_data_argument_quotes_the_data_value_not_the_spec(tmp_path):
    # it used to print the spec's line 1 with carets at the --data value's column
    (tmp_path / "ok.ae").write_text(VAE)
    result = invoke("run", tmp_path / "ok.ae", "--data", "digits(siz=8)", "--out", tmp_path / "r")
    assert result.exit_code == 1 and not (tmp_path / "r").exists()
    assert "<--data digits(siz=8)>:1:8: error[E202]: digits has no argument 'siz'\n" \
        "    digits(siz=8)\n           ^^^^^\n  hint: did you mean 'size'?" in result.output


def test_usage_errors_exit_2(tmp_path):
    (tmp_path / "ok.ae").write_text(VAE)
    assert invoke("run").exit_code == 2
    assert invoke("run", tmp_path / "ok.ae", "--device", "gpu").exit_code == 2
    assert invoke("run", tmp_path / "ok.ae", "--epochs", "0").exit_code == 2
    assert invoke("encode", tmp_path, "--split", "val").exit_code == 2


def test_out_directory_is_never_overwritten(vae_run):
    root, _ = vae_run
    result = invoke("run", root / "vae.ae", "--out", root / "run")
    assert result.exit_code == 1 and "--resume" in result.output


def test_resume_without_spec_and_a_finished_run(vae_run, tmp_path):
    root, _ = vae_run
    copy = tmp_path / "run"
    copy.mkdir()
    for p in (root / "run").iterdir():
        if p.is_file():  # the files, not report/
            (copy / p.name).write_bytes(p.read_bytes())
    more = invoke("run", "--resume", copy, "--epochs", "3")
    assert more.exit_code == 0 and "finished after 3 epochs" in more.output
    assert len((copy / "metrics.jsonl").read_text().splitlines()) == 3


@pytest.mark.slow
def _long_run_in_epoch_2(tmp_path):
    """A real `aespec run` of 400 epochs, once its first epoch has been reported."""
    spec = tmp_path / "long.ae"
    spec.write_text(VAE.replace("epochs 2", "epochs 400"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "aespec", "run", str(spec), "--out",
                             str(tmp_path / "r")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("epoch 2/"):
            break
    return proc


def test_ctrl_c_saves_a_checkpoint_and_resume_finishes(tmp_path):
    """A real SIGINT to a real `aespec run`: exit 130, state saved, --resume completes."""
    proc = _long_run_in_epoch_2(tmp_path)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "aespec run --resume" in stderr
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    assert info["status"] == "interrupted"
    result = invoke("run", "--resume", tmp_path / "r", "--epochs", str(info["epochs_run"] + 2),
                    "-q")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r" / "run.json").read_text())["status"] == "finished"


@pytest.mark.parametrize("gap", [0.002, 0.01, 0.02])
def test_regression_a_second_ctrl_c_milliseconds_after_the_first_leaves_no_traceback(
        tmp_path, gap):
    """Two SIGINTs 2-20 ms apart used to land inside the checkpoint write: a traceback,
    and run.json still saying running. Now the write finishes, then the run stops."""
    from aespec.train.rundir import STATE, load_checkpoint

    proc = _long_run_in_epoch_2(tmp_path)
    proc.send_signal(signal.SIGINT)
    time.sleep(gap)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr, stderr
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    assert info["status"] == "interrupted"
    load_checkpoint(tmp_path / "r" / "checkpoint.pt", STATE)  # whole and resumable


def test_run_parses_checks_and_builds_the_graph_once(tmp_path, monkeypatch):
    """`aespec run` checks the spec once (printing its warnings) and trains from that
    check's graph: the compile stage never runs the graph stage again."""
    from aespec.graph import frontend

    calls = {"parse": 0, "graph": 0}

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(frontend, "parse_source", counted("parse", frontend.parse_source))
    monkeypatch.setattr(frontend, "build_ir", counted("graph", frontend.build_ir))
    (tmp_path / "vae.ae").write_text(VAE)
    result = invoke("run", tmp_path / "vae.ae", "--out", tmp_path / "run", "--epochs", "1",
                    "--set", "train.batch=256", "--no-report", "--quiet")
    assert result.exit_code == 0, result.output
    assert calls == {"parse": 1, "graph": 1}


def test_regression_eval_json_prints_null_not_a_bare_nan(vae_run, monkeypatch):
    root, _ = vae_run
    import aespec.train.evaluate as evaluate_module

    real = evaluate_module.evaluate
    monkeypatch.setattr(evaluate_module, "evaluate",
                        lambda *a, **k: {t: float("nan") for t in real(*a, **k)})
    result = invoke("eval", root / "run", "--json")
    assert result.exit_code == 0, result.output
    assert "NaN" not in result.stdout
    payload = json.loads(result.stdout)  # strict JSON
    assert set(payload["test"].values()) == {None}


def test_regression_sample_to_a_directory_is_e606_and_writes_nothing_beside_it(vae_run,
                                                                              tmp_path):
    root, _ = vae_run
    target = tmp_path / "out"
    target.mkdir()
    result = invoke("sample", root / "run", "-n", "2", "-o", target)
    assert result.exit_code == 1 and "error[E606]" in result.output
    assert not (tmp_path / "out.npy").exists() and not list(target.iterdir())


def test_a_ctrl_c_while_the_handler_is_switched_off_is_dropped(monkeypatch) -> None:
    """CPython raises OSError("Signal 2 ignored due to race condition") where a Ctrl-C
    tripped while SIGINT was being set to SIG_IGN; once, a traceback in CI. The stop flag's
    exit drops it and still leaves SIGINT ignored."""
    from aespec.train import stop

    real, calls = signal.signal, []

    def racing(signum, handler):
        calls.append(handler)
        previous = real(signum, handler)
        if len(calls) == 1:  # switched, and the Ctrl-C that came meanwhile surfaces
            raise OSError("Signal 2 ignored due to race condition")
        return previous

    old = signal.getsignal(signal.SIGINT)
    try:
        flag = stop.StopFlag(ends_process=True).__enter__()
        flag.requested = True
        monkeypatch.setattr(stop.signal, "signal", racing)
        flag.__exit__(None, None, None)  # no OSError
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN and calls[-1] == signal.SIG_IGN
    finally:
        real(signal.SIGINT, old)


def test_the_summary_shows_measures_apart_from_the_trained_terms(capsys):
    """A som's quantization and topographic errors are evaluated, never trained on: the
    summary lists them under `measure`, not beside the loss terms."""
    from types import SimpleNamespace

    from aespec.cli.run import print_result

    record = {"epoch": 1, "train": {"loss": 2.0, "mse": 0.1, "som": 1.9},
              "val": {"loss": 2.1, "som": 2.0, "quantization_error": 1.5}}
    result = SimpleNamespace(
        name="som", status="finished", epochs=1, best_epoch=1, history=[record],
        test={"loss": 2.2, "mse": 0.1, "som": 2.1, "quantization_error": 1.6,
              "topographic_error": 0.05},
        report={}, params=10, seconds=1.0, run_dir=Path("run"), codebook={})
    print_result(result)
    text = capsys.readouterr().out
    terms, measures = text.split("measure", 1)
    assert "mse" in terms and "som" in terms and "quantization_error" not in terms
    assert "quantization_error" in measures and "topographic_error" in measures
