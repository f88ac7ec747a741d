"""Train and report settings: each key's value model, in one table per block (sections 8, 9)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from aespec.ops import Args, NoArgs
from aespec.ops.optimizers import OPTIMIZERS, SCHEDULES, Adam, ArgModels


class EarlyStop(Args):
    patience: int = Field(5, ge=1)
    min_delta: float = Field(0.0, ge=0)


class Layerwise(Args):
    epochs: int = Field(5, ge=1)
    lr: Optional[float] = Field(None, gt=0)
    # each stage's throwaway decoder: its output activation (an activation op's name; None:
    # linear) and the loss it is trained with (bce needs an output in [0, 1]: sigmoid)
    output: Optional[str] = None
    loss: Literal["mse", "bce"] = "mse"


class RBMStages(Args):
    """`pretrain rbm(...)`: each dense layer an RBM trained by CD-k (a deep belief net)."""

    epochs: int = Field(5, ge=1)
    lr: Optional[float] = Field(None, gt=0)
    k: int = Field(1, ge=1)  # Gibbs steps of each negative phase
    visible: Literal["bernoulli", "gaussian"] = "bernoulli"  # the first stage's (the data's)


class ClipNorm(Args):
    """`clip norm(max)`: the gradients scaled so that their total L2 norm is at most `max`."""

    max: float = Field(gt=0)


class ClipValue(Args):
    """`clip value(max)`: each gradient value clamped into [-max, max]."""

    max: float = Field(gt=0)


CLIPS: dict[str, type[Args]] = {"norm": ClipNorm, "value": ClipValue}


class Count(Args):
    n: int = Field(16, gt=0)


class Samples(Args):
    n: int = Field(64, gt=0)


class SampleQuality(Args):
    n: int = Field(1000, gt=1, le=10_000)  # samples drawn; the floor and ceilings use as many
    min_share: float = Field(0.02, gt=0, lt=1)  # a class is covered from this share on


class Filters(Args):
    n: int = Field(64, gt=0)
    layer: Optional[str] = None  # a tensor name from `NAME = ...`; None: the first layer


class Manifold(Args):
    n: int = Field(15, gt=1)


class Anomaly(Args):
    quantile: float = Field(0.95, gt=0, lt=1)


class Interpolate(Args):
    """`interpolate(n=8, pairs=4, path=auto)`: n decoded points from one test example's
    code to another's, for `pairs` seeded pairs; `auto` is slerp for a gaussian latent."""

    n: int = Field(8, gt=1, le=32)
    pairs: int = Field(4, gt=0, le=32)
    path: Literal["auto", "linear", "slerp"] = "auto"


class Traverse(Args):
    """`traverse(dims=8, steps=9, range=3)`: one code, one dimension varied at a time."""

    dims: int = Field(8, gt=0, le=64)
    steps: int = Field(9, gt=1, le=32)
    range: float = Field(3.0, gt=0, allow_inf_nan=False)


@dataclass(frozen=True)
class Setting:
    """One key of a `train` or `report` block.

    `kind`: `int`, `float`, `bool`, `symbol` (one of `choices`), `op` (an op from `ops`,
    written after the key), or `self` (the key itself takes the arguments: `early_stop(...)`).
    """

    kind: str
    doc: str
    choices: tuple[str, ...] = ()
    ops: Mapping[str, type[Args]] | None = None
    args: type[Args] = NoArgs
    minimum: float | None = None
    maximum: float | None = None


# `train { init_weights ... }`: how compile/init.py sets the layers' first weights
INIT_WEIGHTS = ("glorot", "torch")

TRAIN: dict[str, Setting] = {
    "epochs": Setting("int", "passes over the training data", minimum=1),
    "batch": Setting("int", "examples per step", minimum=1),
    # the choices are the entries of aespec/ops/optimizers.py, read when asked
    "optimizer": Setting("op", "how the weights are updated: an optimizer and its arguments "
                         "(`aespec ops optimizers` lists them)", ops=ArgModels(OPTIMIZERS)),
    "schedule": Setting("op", "the learning rate over the epochs (`aespec ops schedules` "
                        "lists them)", ops=ArgModels(SCHEDULES)),
    "early_stop": Setting("self", "stop when validation loss has not improved for `patience` "
                          "epochs", args=EarlyStop),
    "split": Setting("float", "share of the training data used to train; the rest validates",
                     minimum=0.0, maximum=1.0),
    "seed": Setting("int", "seed of every random draw", minimum=0),
    "device": Setting("symbol", "auto, cpu, cuda, cuda:N, mps",
                      choices=("auto", "cpu", "cuda", "mps")),
    "precision": Setting("symbol", "auto, fp32, bf16, fp16 (autocast); auto: bf16 on a CPU "
                         "with a bf16 matrix engine for the models measured to gain, else "
                         "fp32", choices=("auto", "fp32", "bf16", "fp16")),
    "pretrain": Setting("op", "greedy layer-wise pretraining of the dense encoder layers: "
                        "`layerwise` as small autoencoders, `rbm` as RBMs (a deep belief "
                        "net, unrolled into the mirror)",
                        ops={"layerwise": Layerwise, "rbm": RBMStages}),
    "compile": Setting("bool", "compile the training step with torch.compile (slow start)"),
    "channels_last": Setting("bool", "channels-last memory format for conv models "
                             "(default: on for conv models on CPU)"),
    # a GAN's (`discriminator { ... }`); `optimizer` is then the generator's
    "discriminator_optimizer": Setting("op", "a GAN's discriminator's optimizer (default: "
                                       "the generator's `optimizer`)",
                                       ops=ArgModels(OPTIMIZERS)),
    "discriminator_steps": Setting("int", "a GAN's discriminator steps per generator step",
                                   minimum=1),
    "freeze": Setting("names", "blocks (encoder, bottleneck, decoder) or named layers "
                      "(`NAME = ...`) whose weights are not trained; they run as in "
                      "evaluation (batchnorm keeps its running statistics)"),
    "init_weights": Setting("symbol", "the layers' initial weights: `glorot` (Glorot/Xavier "
                            "uniform weights and zero biases for dense, conv and deconv "
                            "layers, as Keras) or `torch` (torch's own: kaiming uniform "
                            "with a=sqrt(5), uniform biases)", choices=INIT_WEIGHTS),
    "init": Setting("string", "start from another run's weights: a run directory (its "
                    "best.pt) or a .pt file, checked to have the same tensors and shapes"),
    "clip": Setting("op", "gradient clipping before each update: `norm(max)` scales the "
                    "gradients to a total L2 norm of at most `max`, `value(max)` clamps each "
                    "gradient value into [-max, max]", ops=CLIPS),
    "log": Setting("symbol", "a measure added to the metrics: `grad_norm`, the gradients' "
                   "total L2 norm before clipping (each epoch's mean and max)",
                   choices=("grad_norm",)),
}

# the train keys a `phase NAME { ... }` may set (as lines of their own, beside `noise` and
# `loss` statements); the others hold for the whole run
PHASE_KEYS = ("epochs", "optimizer", "schedule", "freeze", "early_stop")

REPORT: dict[str, Setting] = {
    "reconstructions": Setting("self", "inputs (noisy inputs, for denoisers) beside their "
                               "reconstructions", args=Count),
    "samples": Setting("self", "decoded draws from the prior; stochastic latents only",
                       args=Samples),
    "sample_quality": Setting("self", "Frechet distance of n samples to the test data in a "
                              "small reference classifier's features (FID's method, not "
                              "Inception: compare only within aespec on one data set), the "
                              "classes the samples cover and their entropy, beside real data, "
                              "noise and the mean image; stochastic latents on digits, mnist "
                              "or fashion_mnist", args=SampleQuality),
    "manifold": Setting("self", "decoder over a grid of a 2-D latent", args=Manifold),
    "latent_scatter": Setting("self", "codes of the test set in 2-D (PCA above two "
                              "dimensions), coloured by label"),
    "filters": Setting("self", "weights of the first layer (or of `layer=NAME`) drawn as "
                       "images", args=Filters),
    "anomaly": Setting("self", "histogram of per-example reconstruction error, threshold, "
                       "ROC AUC where labels allow", args=Anomaly),
    "interpolate": Setting("self", "decoded codes on the path from one test example's code "
                           "to another's: linear, or spherical (slerp) for a gaussian latent; "
                           "how evenly the pictures change along it", args=Interpolate),
    "traverse": Setting("self", "one test example's code with one dimension varied at a "
                        "time (the dimensions the test codes spread most over), decoded",
                        args=Traverse),
    "som_maps": Setting("self", "a som's U-matrix (mean prototype distance to the grid "
                        "neighbours), hits per unit and, for images, the prototypes; "
                        "quantization and topographic errors"),
    "probe": Setting("self", "a linear probe (multinomial logistic regression) fitted on "
                     "the training codes' class labels, its test accuracy beside the same "
                     "probe on PCA codes of as many values and on the raw inputs; data with "
                     "class labels"),
    "baseline": Setting("op", "PCA with as many components as z, same data, same metric",
                        ops={"pca": NoArgs}),
}


class OpChoice(BaseModel):
    """A validated op-valued setting, e.g. `adam(lr=0.001)`."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    name: str
    args: Args


class TrainSpec(BaseModel):
    """Resolved `train` block with every default filled in."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    epochs: int = 10
    batch: int = 128
    optimizer: OpChoice = OpChoice(name="adam", args=Adam())
    schedule: OpChoice = OpChoice(name="none", args=NoArgs())
    early_stop: Optional[EarlyStop] = None
    split: float = 0.9
    seed: int = 0
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    pretrain: Optional[OpChoice] = None
    compile: bool = False
    channels_last: Optional[bool] = None
    discriminator_optimizer: Optional[OpChoice] = None  # None: a copy of `optimizer`'s
    discriminator_steps: int = 1
    freeze: tuple[str, ...] = ()  # block names or `NAME = ...` labels
    init: Optional[str] = None  # a run directory or .pt file to start from
    init_weights: Literal["glorot", "torch"] = "glorot"  # compile/init.py
    clip: Optional[OpChoice] = None  # gradient clipping: norm(max) or value(max)
    log: Optional[Literal["grad_norm"]] = None  # measures added to the metrics


class ReportSpec(BaseModel):
    """Resolved `report` block: each present key maps to its arguments."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    items: dict[str, Args] = {}
    baseline: Optional[str] = None
