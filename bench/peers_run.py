"""One whole run of one system on one workload, for bench/peers.py (run in its own venv).

    bench/.venv-peers/bin/python bench/peers_run.py SYSTEM WORKLOAD '{"epochs": 3, ...}'

SYSTEM is aespec, keras, lightning or pythae; WORKLOAD fc (specs/mirror_fc.ae), vae
(specs/vae_fc.ae) or conv (specs/denoising_conv.ae). Each peer is written as its own docs
teach (Keras: `model.fit`, and for the VAE the keras.io example's `train_step`, here in
the torch-backend form of Keras's "customizing fit() with PyTorch" guide; Lightning: a
LightningModule, DataLoaders and `Trainer.fit`; pythae: its AE or VAE with a custom
encoder and decoder, through `TrainingPipeline`), on the data, split, architecture, loss,
optimizer, learning rate, batch and epochs of the spec. The last line printed is JSON:
each epoch's validation loss with the seconds since the process started (the parent's
clock, `PEERS_T0`), when its training began (`ready`: imports, data and model done), the
test loss, and `probe_s`, seconds the bench itself spent measuring
inside the run (excluded from the epochs' times). Losses are in the spec's units as
aespec reduces them (bench/peers.py's UNITS): each peer's loss is written that way.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

T0 = float(os.environ.get("PEERS_T0") or time.time())  # the parent's clock at the start
ROOT = Path(__file__).resolve().parents[1]
FASHION = Path("/usr/share/datasets/fashion-mnist")
SPECS = {"fc": "specs/mirror_fc.ae", "vae": "specs/vae_fc.ae",
         "conv": "specs/denoising_conv.ae"}
BATCH = {"fc": 256, "vae": 128, "conv": 128}  # the specs' train.batch
LR, LATENT, NOISE, L2 = 1e-3, 20, 0.5, 1e-5  # adam(lr=1e-3); gaussian(20); std=0.5; l2(1e-5)
SPLIT = 0.9  # aespec's train.split: the rest of the training data validates
EVAL_BATCH = 1024  # aespec/train/evaluate.py; the test's noise is drawn per slice of it


def now() -> float:
    return time.time() - T0


# ---------------------------------------------------------------- the data, as aespec splits it


def load(workload: str, limit: int | None) -> dict:
    """{"train", "val", "test"} float32 arrays, (N, 784) or (N, 1, 28, 28), and
    "test_in": the test inputs the test loss reads (the denoiser's corrupted as aespec
    corrupts them, the clean ones elsewhere). Read as a user reads them (numpy from the
    IDX files; scikit-learn's digits), split exactly as aespec splits them."""
    import numpy as np

    train, test = _fashion(limit) if workload != "conv" else _digits28()
    tr, va = val_split(len(train))
    if workload != "conv":
        train, test = train.reshape(len(train), 784), test.reshape(len(test), 784)
    out = {"train": train[tr], "val": train[va], "test": test}
    out["test_in"] = corrupted(test) if workload == "conv" else test
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def _fashion(limit: int | None):
    import gzip

    import numpy as np

    def read(name: str):
        with gzip.open(FASHION / f"{name}-images-idx3-ubyte.gz", "rb") as fh:
            x = np.frombuffer(fh.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
        return (x if limit is None else x[:limit]).astype(np.float32) / np.float32(255)

    return read("train"), read("t10k")


def _digits28():
    """aespec's `digits(size=28)`: the 8x8 digits resized by bilinear matrices, its fixed
    split (permuted with a generator seeded 0, the last fifth the test set)."""
    import numpy as np
    from sklearn.datasets import load_digits

    images = load_digits().images / 16.0
    m = interpolation_matrix(8, 28)
    x = (m @ images @ m.T)[:, None].astype(np.float32)
    order = np.random.default_rng(0).permutation(len(x))
    n_train = 4 * len(x) // 5
    return x[order[:n_train]], x[order[n_train:]]


def interpolation_matrix(n_in: int, n_out: int):
    """(n_out, n_in) bilinear weights, pixel centres aligned (aespec.data.datasets')."""
    import numpy as np

    pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lo = np.floor(pos).astype(np.int64)
    matrix = np.zeros((n_out, n_in))
    np.add.at(matrix, (np.arange(n_out), lo), 1 - (pos - lo))
    np.add.at(matrix, (np.arange(n_out), np.minimum(lo + 1, n_in - 1)), pos - lo)
    return matrix


def val_split(n: int):
    """(train, validation) indices: aespec's split of the training data (train/batches.py)."""
    import numpy as np

    n_val = min(n - int(round(n * SPLIT)), n - 1)
    order = np.random.default_rng(0).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def corrupted(x):
    """The test inputs as aespec's test loss corrupts them (train/references.py): slice i of
    EVAL_BATCH from torch's generator seeded 1_000_003 * 0 + i, x + 0.5 N(0, I), clipped."""
    import numpy as np
    import torch

    parts = []
    for i, start in enumerate(range(0, len(x), EVAL_BATCH)):
        xb = torch.from_numpy(x[start:start + EVAL_BATCH])
        torch.manual_seed(0 * 1_000_003 + i)
        parts.append((xb + torch.randn_like(xb) * NOISE).clamp(0.0, 1.0).numpy())
    return np.concatenate(parts)


# ---------------------------------------------------------------- aespec


def run_aespec(workload: str, job: dict) -> dict:
    """`aespec run SPEC` through its entry point; each epoch's end stamped as it returns."""
    from aespec.train import loop

    epochs: list[dict] = []
    ready: list[float] = []
    inner, fit = loop.Trainer.end_epoch, loop.Trainer.fit

    def end_epoch(self, *args, **kwargs):
        inner(self, *args, **kwargs)
        epochs.append({"epoch": self.c.epoch, "t": now(),
                       "val": self.c.history[-1]["val"]["loss"]})

    def timed_fit(self, *args, **kwargs):
        ready.append(now())
        return fit(self, *args, **kwargs)

    loop.Trainer.end_epoch = end_epoch  # type: ignore[method-assign]
    loop.Trainer.fit = timed_fit  # type: ignore[method-assign]
    out = Path(job["out"]) / "run"
    data = [] if not job.get("limit") or workload == "conv" else \
        ["--data", f"fashion_mnist(limit={job['limit']})"]
    sys.argv = ["aespec", "run", str(ROOT / SPECS[workload]), "--epochs", str(job["epochs"]),
                "--quiet", "--no-report", "--out", str(out), *data,
                *(["--set", f"train.precision={job['precision']}"] if job.get("precision")
                  else [])]
    from aespec.cli import main

    try:
        main()
    except SystemExit as stop:
        assert not stop.code, f"aespec run failed: {stop.code}"
    run = json.loads((out / "run.json").read_text())
    return {"epochs": epochs, "ready": ready[0], "test": run["test"]["loss"],
            "best_epoch": run["best_epoch"]}


# ---------------------------------------------------------------- Keras 3, torch backend


def run_keras(workload: str, job: dict) -> dict:
    os.environ["KERAS_BACKEND"] = "torch"
    import keras

    assert keras.backend.backend() == "torch", keras.backend.backend()
    keras.utils.set_random_seed(0)
    d = load(workload, job.get("limit"))
    epochs: list[dict] = []

    class Stamp(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            epochs.append({"epoch": epoch + 1, "t": now(), "val": float(logs["val_loss"])})

    fit = {"batch_size": BATCH[workload], "epochs": job["epochs"], "callbacks": [Stamp()],
           "verbose": 2}
    if workload == "vae":
        model = keras_vae(keras)
        model.compile(optimizer=keras.optimizers.Adam(LR))
        ready = now()
        model.fit(d["train"], validation_data=(d["val"],), **fit)
        test = model.evaluate(d["test"], batch_size=BATCH[workload], return_dict=True,
                              verbose=0)["loss"]
        return {"epochs": epochs, "ready": ready, "test": float(test)}
    if workload == "conv":  # Keras is channels-last: (N, 28, 28, 1)
        d = {k: v.transpose(0, 2, 3, 1) for k, v in d.items()}
    model = keras_fc(keras) if workload == "fc" else keras_conv(keras)
    model.compile(optimizer=keras.optimizers.Adam(LR), loss="binary_crossentropy")
    ready = now()
    model.fit(d["train"], d["train"], validation_data=(d["val"], d["val"]), shuffle=True,
              **fit)
    test = model.evaluate(d["test_in"], d["test"], batch_size=BATCH[workload], verbose=0)
    return {"epochs": epochs, "ready": ready, "test": float(test)}


def keras_fc(keras):
    from keras import layers

    return keras.Sequential([
        keras.Input((784,)), layers.Dense(512, activation="relu"),
        layers.Dense(256, activation="relu"), layers.Dense(32),
        layers.Dense(256, activation="relu"), layers.Dense(512, activation="relu"),
        layers.Dense(784, activation="sigmoid")])


def keras_conv(keras):
    """The denoiser: GaussianNoise acts in training only, as aespec's noise does; the clip
    after it leaves clean inputs (in [0, 1]) as they are."""
    from keras import layers, ops

    def conv(n: int, activation: str = "relu"):
        return layers.Conv2D(n, 3, padding="same", activation=activation,
                             kernel_regularizer=keras.regularizers.L2(L2))

    return keras.Sequential([
        keras.Input((28, 28, 1)), layers.GaussianNoise(NOISE),
        layers.Lambda(lambda t: ops.clip(t, 0.0, 1.0)),
        conv(32), layers.MaxPooling2D(2), conv(64), layers.MaxPooling2D(2), conv(128),
        conv(64), layers.UpSampling2D(2), conv(32), layers.UpSampling2D(2),
        conv(1, "sigmoid")])


def keras_vae(keras):
    """The keras.io VAE example (Sampling layer, encoder and decoder models, a Model with
    loss trackers and its own train_step), on the spec's dense layers; its step in the
    torch-backend form, and a test_step that evaluates as aespec does (z = mu)."""
    import torch
    from keras import layers, ops

    class Sampling(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = keras.random.SeedGenerator(1337)

        def call(self, inputs):
            z_mean, z_log_var = inputs
            eps = keras.random.normal(shape=ops.shape(z_mean), seed=self.seed_generator)
            return z_mean + ops.exp(0.5 * z_log_var) * eps

    inputs = keras.Input((784,))
    h = layers.Dense(256, activation="relu")(layers.Dense(512, activation="relu")(inputs))
    z_mean, z_log_var = layers.Dense(LATENT)(h), layers.Dense(LATENT)(h)
    encoder = keras.Model(inputs, [z_mean, z_log_var, Sampling()([z_mean, z_log_var])])
    decoder = keras.Sequential([
        keras.Input((LATENT,)), layers.Dense(256, activation="relu"),
        layers.Dense(512, activation="relu"), layers.Dense(784, activation="sigmoid")])

    class VAE(keras.Model):
        def __init__(self, encoder, decoder, **kwargs):
            super().__init__(**kwargs)
            self.encoder, self.decoder = encoder, decoder
            self.total_loss_tracker = keras.metrics.Mean(name="loss")
            self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
            self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

        @property
        def metrics(self):
            return [self.total_loss_tracker, self.reconstruction_loss_tracker,
                    self.kl_loss_tracker]

        def call(self, inputs):  # Keras builds a model by calling it once
            return self.decoder(self.encoder(inputs)[2])

        def losses_of(self, data, z_mean, z_log_var, reconstruction):
            reconstruction_loss = ops.mean(ops.sum(
                ops.binary_crossentropy(data, reconstruction), axis=1))
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            return reconstruction_loss + kl_loss, reconstruction_loss, kl_loss

        def track(self, data, losses):
            for tracker, value in zip(self.metrics, losses, strict=True):
                tracker.update_state(value, sample_weight=ops.shape(data)[0])
            return {m.name: m.result() for m in self.metrics}

        def train_step(self, data):
            data = data[0] if isinstance(data, tuple) else data
            self.zero_grad()
            z_mean, z_log_var, z = self.encoder(data, training=True)
            losses = self.losses_of(data, z_mean, z_log_var, self.decoder(z, training=True))
            losses[0].backward()
            weights = list(self.trainable_weights)
            with torch.no_grad():
                self.optimizer.apply([v.value.grad for v in weights], weights)
            return self.track(data, losses)

        def test_step(self, data):
            data = data[0] if isinstance(data, tuple) else data
            z_mean, z_log_var, _ = self.encoder(data, training=False)
            return self.track(data, self.losses_of(data, z_mean, z_log_var,
                                                   self.decoder(z_mean, training=False)))

    return VAE(encoder, decoder)


# ---------------------------------------------------------------- torch modules (Lightning, pythae)


def torch_nets(workload: str):
    """(encoder, decoder) of the spec as nn.Sequential; the VAE's encoder ends at h (256),
    its two heads apart. Every decoder ends in a sigmoid: aespec folds that sigmoid into
    bce, which is the same function."""
    from torch import nn

    if workload == "conv":
        def conv(i: int, o: int):
            return nn.Conv2d(i, o, 3, padding=1)

        return (nn.Sequential(conv(1, 32), nn.ReLU(), nn.MaxPool2d(2), conv(32, 64), nn.ReLU(),
                              nn.MaxPool2d(2), conv(64, 128), nn.ReLU()),
                nn.Sequential(conv(128, 64), nn.ReLU(), nn.Upsample(scale_factor=2),
                              conv(64, 32), nn.ReLU(), nn.Upsample(scale_factor=2),
                              conv(32, 1), nn.Sigmoid()))
    code = LATENT if workload == "vae" else 32
    enc = [nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU()]
    return (nn.Sequential(*enc) if workload == "vae" else nn.Sequential(*enc, nn.Linear(256, 32)),
            nn.Sequential(nn.Linear(code, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(),
                          nn.Linear(512, 784), nn.Sigmoid()))


def corrupt(x):
    return (x + NOISE * __import__("torch").randn_like(x)).clamp(0.0, 1.0)


def l2_penalty(modules) -> object:
    """L2 * sum of squared weights (matrices and kernels, never biases), as aespec's l2."""
    return L2 * sum(p.square().sum() for m in modules for p in m.parameters() if p.dim() > 1)


def elbo(recon, x, mu, logvar):
    """Negative ELBO, nats per example: bce summed over pixels + KL, batch mean."""
    from torch.nn import functional

    bce = functional.binary_cross_entropy(recon, x, reduction="none").sum(1)
    kl = -0.5 * (1 + logvar - mu.square() - logvar.exp()).sum(1)
    return (bce + kl).mean()


# ---------------------------------------------------------------- PyTorch Lightning


def run_lightning(workload: str, job: dict) -> dict:
    import lightning as L  # noqa: N812 (as Lightning's docs write it)
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    L.seed_everything(0)
    d = load(workload, job.get("limit"))
    batch = BATCH[workload]

    def loader(*arrays, shuffle=False):
        tensors = [torch.from_numpy(a) for a in arrays]
        return DataLoader(TensorDataset(*tensors), batch_size=batch, shuffle=shuffle)

    epochs: list[dict] = []

    class Stamp(L.Callback):
        def on_train_epoch_end(self, trainer, pl_module):  # runs after the validation
            epochs.append({"epoch": trainer.current_epoch + 1, "t": now(),
                           "val": float(trainer.callback_metrics["val_loss"])})

    model = lightning_module(L, workload)
    trainer = L.Trainer(max_epochs=job["epochs"], accelerator="cpu", devices=1,
                        default_root_dir=job["out"], callbacks=[Stamp()])
    ready = now()
    trainer.fit(model, loader(d["train"], shuffle=True), loader(d["val"], d["val"]))
    got = trainer.test(model, loader(d["test_in"], d["test"]), verbose=False)
    return {"epochs": epochs, "ready": ready, "test": float(got[0]["test_loss"])}


def lightning_module(L, workload: str):  # noqa: N803
    import torch
    from torch import nn
    from torch.nn import functional

    encoder, decoder = torch_nets(workload)

    class AutoEncoder(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.encoder, self.decoder = encoder, decoder
            if workload == "vae":
                self.fc_mu, self.fc_logvar = nn.Linear(256, LATENT), nn.Linear(256, LATENT)

        def loss(self, x, target, train: bool):
            if workload == "vae":
                h = self.encoder(x)
                mu, logvar = self.fc_mu(h), self.fc_logvar(h)
                z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if train else mu
                return elbo(self.decoder(z), target, mu, logvar)
            x = corrupt(x) if train and workload == "conv" else x
            loss = functional.binary_cross_entropy(self.decoder(self.encoder(x)), target)
            return loss + l2_penalty([self]) if workload == "conv" else loss

        def training_step(self, batch, batch_idx):
            loss = self.loss(batch[0], batch[0], True)
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch, batch_idx):
            self.log("val_loss", self.loss(batch[0], batch[1], False),
                     batch_size=len(batch[0]))

        def test_step(self, batch, batch_idx):
            self.log("test_loss", self.loss(batch[0], batch[1], False),
                     batch_size=len(batch[0]))

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=LR)

    return AutoEncoder()


# ---------------------------------------------------------------- pythae


def run_pythae(workload: str, job: dict) -> dict:
    import torch
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    d = load(workload, job.get("limit"))
    torch.manual_seed(0)  # pythae seeds at training (config.seed), after the model's init
    model = pythae_model(workload)
    config = BaseTrainerConfig(
        output_dir=str(Path(job["out"]) / "pythae"), num_epochs=job["epochs"],
        learning_rate=LR, per_device_train_batch_size=BATCH[workload],
        per_device_eval_batch_size=BATCH[workload], optimizer_cls="Adam", seed=0)
    epochs: list[dict] = []
    probe = [0.0]

    class Stamp(TrainingCallback):
        """pythae's own eval loss averages batch means of a sampled z: the validation loss
        in aespec's terms is measured here, and its seconds taken out of the clock."""

        def on_epoch_end(self, training_config, **kwargs):
            start = time.perf_counter()
            t = now() - probe[0]
            val = pythae_loss(kwargs["model"], workload, d["val"], d["val"])
            epochs.append({"epoch": len(epochs) + 1, "t": t, "val": val})
            probe[0] += time.perf_counter() - start

    pipeline = TrainingPipeline(model=model, training_config=config)
    ready = now()
    pipeline(train_data=d["train"], eval_data=d["val"], callbacks=[Stamp()])
    best = pipeline.trainer._best_model  # the weights pythae keeps and saves
    return {"epochs": epochs, "ready": ready, "probe_s": probe[0],
            "test": pythae_loss(best, workload, d["test_in"], d["test"])}


def pythae_model(workload: str):
    from pythae.models import AE, VAE, AEConfig, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from torch import nn
    from torch.nn import functional

    net, dec = torch_nets(workload)

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.net = net
            if workload == "vae":
                self.mu, self.log_var = nn.Linear(256, LATENT), nn.Linear(256, LATENT)

        def forward(self, x):
            if workload == "vae":
                h = self.net(x)
                return ModelOutput(embedding=self.mu(h), log_covariance=self.log_var(h))
            if workload == "conv" and self.training:
                x = corrupt(x)
            return ModelOutput(embedding=self.net(x))

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.net = dec

        def forward(self, z):
            return ModelOutput(reconstruction=self.net(z))

    if workload == "vae":
        config = VAEConfig(input_dim=(784,), latent_dim=LATENT, reconstruction_loss="bce")
        return VAE(config, encoder=Encoder(), decoder=Decoder())

    class BceAE(AE):
        """pythae's AE has one loss, squared error summed per example: the spec's is bce
        (mean over the values), plus l2(1e-5) on the denoiser's kernels."""

        def loss_function(self, recon_x, x):
            loss = functional.binary_cross_entropy(recon_x.reshape(len(x), -1),
                                                   x.reshape(len(x), -1))
            return loss + l2_penalty([self]) if workload == "conv" else loss

    shape = (1, 28, 28) if workload == "conv" else (784,)
    config = AEConfig(input_dim=shape, latent_dim=128 * 49 if workload == "conv" else 32)
    return BceAE(config, encoder=Encoder(), decoder=Decoder())


def pythae_loss(model, workload: str, x_in, target) -> float:
    """The loss in aespec's terms over a split, eval mode, exact mean: z = mu for the VAE."""
    import torch

    was = model.training
    model.eval()
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(x_in), EVAL_BATCH):
            xb = torch.from_numpy(x_in[i:i + EVAL_BATCH])
            tb = torch.from_numpy(target[i:i + EVAL_BATCH])
            out = model.encoder(xb)
            recon = model.decoder(out.embedding)["reconstruction"]
            loss = elbo(recon, tb, out.embedding, out.log_covariance) if workload == "vae" \
                else model.loss_function(recon, tb)
            total += float(loss) * len(xb)
    model.train(was)
    return total / len(x_in)


def run_aespec_fp32(workload: str, job: dict) -> dict:
    """aespec with `train.precision fp32`: what its speed is without the CPU's bf16 engine."""
    return run_aespec(workload, {**job, "precision": "fp32"})


RUNNERS = {"aespec": run_aespec, "aespec_fp32": run_aespec_fp32, "keras": run_keras,
           "lightning": run_lightning, "pythae": run_pythae}


def main() -> None:
    system, workload, job = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    Path(job["out"]).mkdir(parents=True, exist_ok=True)
    got = RUNNERS[system](workload, job)
    got["end"] = now()
    print(json.dumps(got))


if __name__ == "__main__":
    main()
