"""Where and how a run computes: the device, autocast precision, seeding, allocator tuning.

Each choice here was measured by `bench/train_throughput.py` on the hardware it targets;
see `bench/RESULTS.md`.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import math
import os
import pathlib
import platform
from collections.abc import Iterator
from typing import Any

import torch

from aespec.data.base import available_memory
from aespec.errors import AespecError
from aespec.graph.ir import IR
from aespec.ops import get_op

# "auto" is resolved per run (resolve_precision); a path given it unresolved runs fp32
PRECISIONS = {"fp32": None, "auto": None, "bf16": torch.bfloat16, "fp16": torch.float16}
# the CPU flags of a bf16 matrix engine: AVX512-BF16 (Zen 4 on, Cooper Lake), AMX (Sapphire
# Rapids on). Without one, oneDNN emulates bf16 products, slower than fp32.
BF16_ENGINES = ("amx_bf16", "avx512_bf16")
# ops whose models `auto` leaves in fp32: not measured in bf16 (bench/WHOLE_RUN.md measures
# the dense AE, the conv denoiser and the FC-VAE), or numerically touchy (an RBM's Gibbs
# chain, a SOM's distances, a codebook's nearest-neighbour search, a GAN's game)
AUTO_FP32_OPS = frozenset({"rbm", "som", "vq"})
# bf16 autocast pays where a training step's matrix work is large: below about 1e8
# multiply-accumulates a step (weights x positions x batch), its casts cost more than the
# products save, and the shipped digits specs ran at 0.3-0.9x fp32's samples/s; above it,
# 1.2-2.2x (bench/PRECISION_SPECS.md)
AUTO_BF16_MACS = 100_000_000

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_MALLOC = {_M_MMAP_THRESHOLD: 32 << 20, _M_TRIM_THRESHOLD: 1 << 30, _M_TOP_PAD: 64 << 20}
_tuned: bool | None = None


def tune_allocator() -> bool:
    """Keep freed memory in the process instead of returning it to the OS every step.

    glibc serves each large tensor (over 128 KiB to start) with a fresh mmap and unmaps it
    on free, and trims the heap's top back to the OS, so training steps page-fault their
    activations and gradients in again. A fixed mmap threshold of 32 MiB and a 1 GiB trim
    threshold keep that memory in the heap for reuse: faster on the conv denoiser, no gain
    on the dense autoencoder (the figures: bench/RESULTS.md, its `malloc tuning` rows).
    Idempotent; a no-op off glibc, or with AESPEC_TUNE_MALLOC=0. Returns whether the tuning
    is in effect.
    """
    global _tuned
    if _tuned is not None:
        return _tuned
    _tuned = False
    if os.environ.get("AESPEC_TUNE_MALLOC", "1") == "0" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _tuned = all(libc.mallopt(key, value) == 1 for key, value in _MALLOC.items())
    except (OSError, AttributeError):
        pass
    return _tuned


def resolve_device(name: str) -> torch.device:
    """`auto` picks cuda, then mps, then cpu; an unavailable device is an E605 error. A CUDA
    device is tuned for the run (`tune_cuda`)."""
    device = _pick_device(name)
    tune_cuda(device)
    return device


def _pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise _unavailable(name, "torch sees no CUDA device")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise _unavailable(name, f"there are {torch.cuda.device_count()} CUDA devices")
    if device.type == "mps" and not _mps_available():
        raise _unavailable(name, "the MPS backend is not available")
    return device


def tune_cuda(device: torch.device) -> None:
    """On CUDA: let cuDNN pick its fastest convolution for the run's shapes, which stay the
    same from step to step (the last, shorter batch adds one more pick). Numerics are
    unchanged (fp32 stays fp32; bf16 is `train.precision bf16`). Nothing elsewhere."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def _unavailable(name: str, why: str) -> AespecError:
    return AespecError.of("E605", f"device {name} is not available: {why}",
                          hint="use `device auto` (or --device cpu)", file="train.device")


def autocast(device: torch.device, precision: str
             ) -> contextlib.AbstractContextManager[Any]:
    """The autocast context of a precision: fp32 is no autocast at all."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@functools.cache
def bf16_engine() -> str | None:
    """The CPU's bf16 matrix engine (a flag of /proc/cpuinfo), or None; AESPEC_BF16_ENGINE
    (0 or 1) says instead, for tests and machines whose flags lie."""
    said = os.environ.get("AESPEC_BF16_ENGINE")
    if said is not None:
        return "AESPEC_BF16_ENGINE" if said == "1" else None
    try:
        text = pathlib.Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines()
                  if line.startswith("flags")), [])
    return next((f for f in BF16_ENGINES if f in flags), None)


def resolve_precision(setting: str, device: torch.device, graph: IR, spec: Any) -> str:
    """`train.precision` for this run: `auto` is bf16 autocast on a CPU with a bf16 matrix
    engine, for the models measured to train faster there at the same test loss (dense,
    conv and variational autoencoders whose step does at least AUTO_BF16_MACS of matrix
    work; bench/PRECISION_SPECS.md), and fp32 everywhere else (GPUs included: `precision
    bf16` asks for it there)."""
    if setting != "auto":
        return setting
    if device.type != "cpu" or bf16_engine() is None or not auto_kind(graph, spec):
        return "fp32"
    return "bf16" if step_macs(graph) * spec.train.batch >= AUTO_BF16_MACS else "fp32"


def auto_kind(graph: IR, spec: Any) -> bool:
    """Whether the model is of a kind `auto` may run in bf16 (whatever its size): not one
    with an op of AUTO_FP32_OPS, a discriminator or pretraining."""
    ops = {node.op for node in graph.nodes.values()}
    return not (ops & AUTO_FP32_OPS or spec.is_adversarial or spec.is_aae or spec.is_vae_gan
                or spec.train.pretrain is not None)


def step_macs(graph: IR) -> int:
    """Multiply-accumulates of one example's forward pass through the layers' weights: a
    layer's parameters times the positions it is applied at (1 for a dense layer; the
    smaller of its input's and output's for a convolution: its output's for a strided one,
    its input's for a transposed one)."""
    def positions(shape: Any) -> int:
        return math.prod(shape[1:]) if shape is not None and len(shape) > 1 else 1

    return sum(node.params * min(positions(node.in_shape), positions(node.out_shape))
               for node in graph.nodes.values() if node.params and node.kind == "layer")


def grad_scaler(device: torch.device, precision: str) -> Any:
    """A GradScaler for fp16 (its small exponent range underflows gradients); None otherwise."""
    if precision != "fp16":
        return None
    return torch.amp.GradScaler(device.type)


def set_threads(threads: int) -> None:
    """Torch's intra-op threads (and OMP_NUM_THREADS for the libraries read it later): a
    sweep's points running side by side share the cores this way."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)


@contextlib.contextmanager
def flushed_denormals() -> Iterator[None]:
    """Denormal floats flushed to zero on the CPU while a run trains, the caller's mode
    given back after.

    Values below 1.2e-38 (an FC-VAE's shrinking gradients and Adam moments) make every
    multiply that touches them tens of times slower on x86: the FC-VAE's epochs grew from
    3.5 s to 5.4 s over ten epochs, and stayed at 3.6 s flushed, with the same validation
    losses (docs/training.md, "Speed"). torch's flag is the CPU's (MXCSR's FTZ and DAZ
    bits): per thread, inherited by threads started after it. So it is set in the thread
    that trains, before the run loads its data: in `aespec run`'s own process that is
    before torch starts its worker threads, which then flush too; in a user's process
    whose torch threads already run, only the training thread flushes. A DDP rank or a
    sweep's worker process sets its own (each runs `aespec.train`; a batched sweep's
    group sets it in train/batched.py). It is set back on leaving, so `aespec.train` in
    a user's process leaves the mode as it found it.
    """
    before = flushing_denormals()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)


def flushing_denormals() -> bool:
    """Whether this thread flushes denormal floats to zero (torch has no getter: a
    denormal times one reads zero when it does)."""
    return bool((torch.tensor([1e-39]) * 1.0).item() == 0.0)


def seed_everything(seed: int) -> None:
    """Seed torch's global generators (the model's initial weights, noise, latent draws)."""
    torch.manual_seed(seed)


def rng_state(device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def use_channels_last(setting: bool | None, graph: IR, device: torch.device) -> bool:
    """channels_last by default for 2-D conv models on CPU, where it is faster
    (bench/RESULTS.md, its `channels_last` rows)."""
    if setting is not None:
        return setting
    has_conv = any(get_op("layer", d.op).channels_last
                   and len(d.in_shape or ()) == 3
                   for d in graph.nodes.values() if d.place == "layer")
    return has_conv and device.type == "cpu"


def free_memory(device: torch.device) -> int | None:
    """Bytes the device can still give: CUDA's free memory, the machine's available
    memory for the CPU; None where it cannot be known (mps)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    return available_memory() if device.type == "cpu" else None
