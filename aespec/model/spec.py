"""The validated spec: frozen pydantic models, plain data, what `resolve_spec` produces.

Plain data: nothing here imports a later stage (not even inside a function), torch or numpy.
The graph stage (`aespec.graph`) reads a `Spec`; the package's top (`aespec.build`,
`aespec.svg`) offers the conveniences that need later stages.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict

from aespec.errors import Span
from aespec.model import settings as cfg
from aespec.ops import Args, get_op

BLOCKS = ("encoder", "bottleneck", "decoder")
STATEMENTS = ("model", "let", "data", "input", "noise", "condition", "latent", "encoder",
              "bottleneck", "decoder", "discriminator", "head", "loss", "regularize", "train",
              "phase", "report")
REPEATABLE = ("let", "regularize", "phase")
# the blocks of layers: an autoencoder's, and a GAN's discriminator (layers as an encoder's)
LAYER_BLOCKS = (*BLOCKS, "discriminator")
# the train keys of an adversarial spec only
ADVERSARIAL_TRAIN = ("discriminator_optimizer", "discriminator_steps")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)


class OpCall(_Frozen):
    """One validated op where it was written: `args` is the op's argument model."""

    op: str
    args: Args
    span: Span
    label: Optional[str] = None  # set on the last op of `NAME = chain`
    # the arguments written as a schedule (aespec.ops.anneal.WeightSchedule), by name; `args`
    # holds each one's settled value
    schedules: tuple[tuple[str, Any], ...] = ()


class InputSpec(_Frozen):
    kind: Literal["vector", "image", "sequence"]
    shape: tuple[int, ...]
    span: Span


class DataSpec(_Frozen):
    source: str
    args: dict[str, Any]
    span: Span
    file: Optional[str] = None  # `<--data TEXT>` for the command line's; None: the spec's


class Mirror(_Frozen):
    output: Optional[str] = None
    tied: bool = False
    span: Span


class LatentSpec(_Frozen):
    """`latent normal(N)`: z ~ N(0, I) of N values feeds the decoder, the generator."""

    prior: Literal["normal"]
    dim: int
    span: Span


class ConditionSpec(_Frozen):
    """`condition labels(N)`: the data's class labels, one-hot of N values, as the tensor
    `y` that any network may join (`concat(y)`): a conditional GAN, a conditional VAE."""

    kind: Literal["labels"]
    classes: int
    span: Span


class AdversarialSpec(_Frozen):
    """`loss adversarial(KIND)`: the game the generator and the discriminator play."""

    kind: Literal["nonsaturating", "minimax", "wasserstein", "hinge", "least_squares"]
    gradient_penalty: float = 0.0  # WGAN-GP's lambda; 0: none
    clip: Optional[float] = None  # WGAN's weight clipping of the critic
    weight: float = 1.0  # an adversarial autoencoder's weight of the term
    span: Span


class HeadSpec(_Frozen):
    """`head on NAME { ... }`: a supervised head, layers that read a tensor of the
    autoencoder (`code`, the bottleneck's output, by default) and end in one logit per class
    of the data's labels; `loss ... + w * xent` trains it (docs/language.md, heads)."""

    on: str = "code"  # `code`, a block's name, or a tensor named `NAME = ...`
    layers: list[OpCall]
    span: Span  # the `head` keyword's
    on_span: Optional[Span] = None


class XentSpec(_Frozen):
    """`loss ... + w * xent`: the cross-entropy of the head's logits on the data's labels."""

    weight: float = 1.0
    span: Span


class LossTermSpec(_Frozen):
    weight: float  # a schedule's settled value
    call: OpCall
    schedule: Optional[Any] = None  # an aespec.ops.anneal.WeightSchedule


class RegSpec(_Frozen):
    call: OpCall
    target: Optional[str] = None
    target_span: Optional[Span] = None


class PhaseSpec(_Frozen):
    """`phase NAME { ... }`: what differs from the top-level statements for its epochs.

    None (and `train`'s own value for the train keys) where the phase does not say: the
    spec's top-level `noise`, `loss` and `train` hold. `noise` is [] for `noise none`."""

    name: str
    epochs: int
    noise: Optional[list[OpCall]] = None
    loss: Optional[list[LossTermSpec]] = None
    xent: Optional[XentSpec] = None  # the head's term in this phase (with `loss` only)
    optimizer: Optional[cfg.OpChoice] = None
    schedule: Optional[cfg.OpChoice] = None
    freeze: Optional[tuple[str, ...]] = None
    early_stop: Optional[cfg.EarlyStop] = None
    span: Span
    spans: dict[str, Span] = {}  # each key's line


class Spec(_Frozen):
    """A whole validated spec: what the graph builder needs, plain data only."""

    name: str
    doc: Optional[str] = None
    path: Optional[str] = None
    source: str = ""
    overrides: tuple[str, ...] = ()  # the --set values it was resolved with (aespec.load's)
    lets: dict[str, Any] = {}
    data: Optional[DataSpec] = None
    input: InputSpec
    noise: list[OpCall] = []
    condition: Optional[ConditionSpec] = None  # the labels every network may join as `y`
    latent: Optional[LatentSpec] = None  # a GAN: its generator's noise
    encoder: list[OpCall] = []  # empty in a GAN
    bottleneck: list[OpCall] = []  # empty in a GAN
    decoder: Union[list[OpCall], Mirror]
    discriminator: list[OpCall] = []  # a GAN's, an adversarial autoencoder's, a VAE-GAN's
    discriminator_on: Optional[Literal["code"]] = None  # `discriminator on code`: an AAE's
    loss: list[LossTermSpec] = []  # reconstruction terms: at least one, but none in a GAN
    adversarial: Optional[AdversarialSpec] = None  # a GAN's loss
    loss_span: Optional[Span] = None
    head: Optional[HeadSpec] = None  # a supervised head on a tensor of the autoencoder
    xent: Optional[XentSpec] = None  # its cross-entropy term on the data's labels
    regularizers: list[RegSpec] = []
    train: cfg.TrainSpec = cfg.TrainSpec()
    train_spans: dict[str, Span] = {}
    report: cfg.ReportSpec = cfg.ReportSpec()
    report_spans: dict[str, Span] = {}
    block_spans: dict[str, Span] = {}
    phases: list[PhaseSpec] = []  # in file order; none: one phase, the top level's

    def __repr__(self) -> str:
        """One line for the Python display: what the spec says, not its whole source."""
        ins = f"{self.input.kind}({', '.join(map(str, self.input.shape))})"
        dec = "mirror" + ("(tied)" if self.decoder.tied else "") if isinstance(
            self.decoder, Mirror) else _ops(self.decoder)
        loss = " + ".join(t.call.op if t.weight == 1 else f"{t.weight:g}*{t.call.op}"
                          for t in self.loss)
        if self.is_adversarial and self.latent is not None and self.adversarial is not None:
            parts = [f"name={self.name!r}", f"input={ins}", f"latent=normal({self.latent.dim})",
                     f"decoder={dec}", f"discriminator={_ops(self.discriminator)}",
                     f"loss='adversarial({self.adversarial.kind})'"]
        else:
            parts = [f"name={self.name!r}", f"input={ins}", f"encoder={_ops(self.encoder)}",
                     f"bottleneck={_ops(self.bottleneck)}", f"decoder={dec}", f"loss={loss!r}"]
        if self.regularizers:
            parts.append(f"regularize={len(self.regularizers)}")
        if self.path:
            parts.append(f"file={self.path!r}")
        return f"Spec({', '.join(parts)})"

    @property
    def total_epochs(self) -> int:
        """Epochs of the whole run: the phases' sum, else `train.epochs`."""
        return sum(p.epochs for p in self.phases) if self.phases else self.train.epochs

    @property
    def is_adversarial(self) -> bool:
        """A GAN: a generator from `latent` and a discriminator, trained against each other."""
        return self.latent is not None

    @property
    def is_aae(self) -> bool:
        """An adversarial autoencoder: a discriminator judges its codes against N(0, I)."""
        return self.latent is None and self.discriminator_on == "code"

    @property
    def is_vae_gan(self) -> bool:
        """A VAE-GAN: a discriminator judges examples, real against the decoder's."""
        return self.latent is None and bool(self.discriminator) and \
            self.discriminator_on is None

    @property
    def needs_unit_output(self) -> bool:
        """A loss term (bce) needs the decoder's output, and so the data, in [0, 1]."""
        return any(get_op("loss", t.call.op).needs_unit_output for t in self.loss)

    def semantic(self) -> dict[str, Any]:
        """The spec as plain JSON without source positions: equal for equal meaning (a
        run's identity, a sweep's batching)."""
        meaning = _without_spans(self.model_dump(mode="json", serialize_as_any=True, exclude={
            "source", "path", "overrides", "train_spans", "report_spans", "block_spans",
            "loss_span"}))
        for phase in meaning.get("phases", []):
            phase.pop("spans", None)
        if not self.phases:  # a spec without phases means what it meant before them
            meaning.pop("phases", None)
        for key, default in (("freeze", []), ("init", None), ("init_weights", "glorot")):
            if meaning["train"].get(key) == default:
                meaning["train"].pop(key, None)
        if self.condition is None:  # a spec means what it meant before conditions
            meaning.pop("condition", None)
        for key in ("head", "xent"):  # and before heads
            if meaning.get(key) is None:
                meaning.pop(key, None)
        if not self.is_adversarial and not self.discriminator:  # as before GANs and AAEs
            for key in ("latent", "discriminator", "discriminator_on", "adversarial"):
                meaning.pop(key, None)
            for key in ADVERSARIAL_TRAIN:
                meaning["train"].pop(key, None)
        for key in ("clip", "log"):  # as before clipping: absent when not written
            if meaning["train"].get(key) is None:
                meaning["train"].pop(key, None)
        return meaning


def _without_spans(value: Any) -> Any:
    """`value` less its spans, and less the schedules of ops and loss terms that have none
    (a spec means what it meant before weights could be scheduled)."""
    if isinstance(value, dict):
        return {k: _without_spans(v) for k, v in value.items()
                if k not in ("span", "target_span")
                and not (k in ("schedules", "schedule") and not v)}
    if isinstance(value, list):
        return [_without_spans(v) for v in value]
    return value


def _ops(calls: list[OpCall]) -> str:
    return f"{len(calls)} op" + ("" if len(calls) == 1 else "s")


def phase_spec(spec: Spec, phase: PhaseSpec) -> Spec:
    """The spec as it trains during `phase`: the phase's noise, loss and train keys in
    place of the top level's, and no phases of its own."""
    keys = {k: getattr(phase, k) for k in cfg.PHASE_KEYS if getattr(phase, k) is not None}
    update: dict[str, Any] = {"train": spec.train.model_copy(update=keys), "phases": []}
    if phase.noise is not None:
        update["noise"] = phase.noise
    if phase.loss is not None:  # the phase's loss line, its xent term or none, in full
        update["loss"], update["xent"] = phase.loss, phase.xent
    return spec.model_copy(update=update)
