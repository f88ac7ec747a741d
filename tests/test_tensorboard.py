"""TensorBoard beside a run: each epoch's reconstructions and samples as images, and the
spec's settings as hparams, read back from the event files (tensorboard's own reader);
drawing them leaves the training as it was."""

from __future__ import annotations

import pytest

import aespec

pytest.importorskip("tensorboard")

# a small denoising VAE on the 8x8 digits: reconstructions, samples, and random noise
# (whose stream the pictures must not disturb)
VAE = """model tiny_vae
data digits
input vector(64)
let width = 24
noise gaussian(std=0.1) clip(0, 1)
encoder {
    dense(width) relu
}
bottleneck {
    gaussian(4)
}
decoder {
    dense(width) relu
    dense(64) sigmoid
}
loss bce
train {
    epochs 2
    batch 64
    optimizer adam(lr=3e-3)
    seed 5
}
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tb")
    spec = aespec.loads(VAE)
    logged = aespec.train(spec, out=root / "logged", quiet=True, tensorboard=True)
    plain = aespec.train(spec, out=root / "plain", quiet=True)
    return root, logged, plain


def _events(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"images": 0})
    acc.Reload()
    return acc


@pytest.mark.slow
def test_reconstructions_and_samples_are_images_each_epoch(runs):
    import io

    from PIL import Image

    root, _, _ = runs
    acc = _events(root / "logged")
    assert set(acc.Tags()["images"]) == {"reconstructions", "samples"}
    recon, samples = acc.Images("reconstructions"), acc.Images("samples")
    assert [e.step for e in recon] == [1, 2] and [e.step for e in samples] == [1, 2]
    # 8 examples of 8x8, a pixel of white between: inputs over reconstructions; draws
    assert (recon[0].width, recon[0].height) == (8 * 9 + 1, 2 * 9 + 1)
    assert (samples[0].width, samples[0].height) == (8 * 9 + 1, 9 + 1)
    first, last = (Image.open(io.BytesIO(e.encoded_image_string)) for e in recon)
    assert first.tobytes() != last.tobytes()  # the model moved between the epochs
    inputs = [Image.open(io.BytesIO(e.encoded_image_string)).crop((0, 0, 73, 10)).tobytes()
              for e in recon]
    assert inputs[0] == inputs[1]  # the same examples, with the same noise, each epoch


@pytest.mark.slow
def test_the_specs_settings_are_hparams_judged_by_the_losses(runs):
    from tensorboard.plugins.hparams import plugin_data_pb2

    root, _, _ = runs
    content = _events(root / "logged").PluginTagToContent("hparams")
    data = {tag.split("/")[-1]: plugin_data_pb2.HParamsPluginData.FromString(raw)
            for tag, raw in content.items()}
    metrics = [m.name.tag for m in data["experiment"].experiment.metric_infos]
    assert metrics == ["train/loss", "val/loss"]  # scalar tags of the same run
    hparams = {k: getattr(v, v.WhichOneof("kind"))
               for k, v in data["session_start_info"].session_start_info.hparams.items()}
    assert hparams["model"] == "tiny_vae" and hparams["data"] == "digits"
    assert hparams["let.width"] == 24 and hparams["train.optimizer"] == "adam"
    assert hparams["train.optimizer.lr"] == pytest.approx(3e-3)
    assert hparams["train.epochs"] == 2 and hparams["train.compile"] == "false"
    assert hparams["params"] > 0


@pytest.mark.slow
def test_drawing_the_pictures_leaves_the_training_as_it_was(runs):
    _, logged, plain = runs
    assert [r["train"] for r in logged.history] == [r["train"] for r in plain.history]
    assert logged.test == plain.test
