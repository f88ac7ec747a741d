"""Distributed data-parallel training: one run over several processes (torch's launcher).

`torchrun --nproc-per-node N -m aespec run SPEC` (or `aespec run --nproc N`, which starts
the same through `torch.distributed.run`) gives each process the environment torch's
launcher sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT); `joined()` turns
it into a process group (gloo on CPU, nccl on CUDA) and a `Ranks`.

How a DDP run stays the single-process run (docs/distributed.md):

- Every rank draws the same permutation of the training split (the batch-order generator
  is seeded alike), takes the same global batch, and trains on its contiguous shard of it.
- The shard's loss is scaled by `world * n_rank / n_batch` before backward, so that DDP's
  average of the gradients is the gradient of the global batch's mean loss, also for
  uneven shards, and a batch-independent term (an `l2` weight penalty) counts once.
- The logged terms of a step are reduced over the ranks (one small all-reduce per step,
  which carries the Ctrl-C flag too, so every rank stops at the same step).
- Validation is computed on every rank and rank 0's numbers are broadcast, so decisions
  (best epoch, early stopping, the plateau schedule) agree everywhere.
- Rank 0 alone writes the run directory; the other ranks get a `QuietRunDir`.
- Random draws inside the model (noise, dropout, latent samples) use each rank's own
  generator: rank 0 keeps the single-process stream, rank r > 0 is reseeded from
  (seed, rank, epoch) at each epoch. Noisy or stochastic specs are therefore equal to
  the single-process run in distribution only; a deterministic spec gives the same
  weights within float rounding.
- A GAN (train/adversarial.py's GANTrainer) is not wrapped in DDP: its networks take
  turns, D frozen while G learns through it, and its gradient penalty goes through
  `torch.autograd.grad`, neither of which DDP's hooks follow. Each update averages its
  network's gradients itself (`average_grads`), and rank 0's buffers are broadcast before
  each step. Its z and penalty weights come from a generator of the trainer's own: every
  rank draws the global batch's and takes its rows (`rows`), so they are the
  single-process run's exactly. An adversarial autoencoder and a VAE-GAN train the same
  way (their draws of the prior, and the VAE-GAN's reparameterization noise, from that
  generator too).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import pathlib
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from aespec.errors import AespecError
from aespec.train.rundir import RunDir

T = TypeVar("T")
TIMEOUT = dt.timedelta(minutes=10)  # a rank that waits this long for the others fails


@dataclass(frozen=True)
class Ranks:
    """This process's place in a distributed run."""

    rank: int
    world: int
    local_rank: int

    @property
    def writer(self) -> bool:
        """Rank 0 writes the run directory and reports progress."""
        return self.rank == 0

    def shard(self, idx: torch.Tensor) -> tuple[torch.Tensor, float]:
        """This rank's contiguous part of a global batch, and the loss scale that makes the
        averaged gradient the global batch's. A rank whose part is empty (a last batch
        smaller than the world) trains on one example with scale 0: DDP needs every rank
        to take part in each backward."""
        part = idx.tensor_split(self.world)[self.rank]
        if len(part) == 0:
            return idx[:1], 0.0
        return part, self.world * len(part) / len(idx)

    def rows(self, n: int) -> slice:
        """The rows of a global batch of `n` that `shard` gives this rank (the first row
        where its part is empty): its share of draws made for the whole batch."""
        part, _ = self.shard(torch.arange(n))
        return slice(int(part[0]), int(part[-1]) + 1)

    def average_grads(self, params: list[torch.Tensor]) -> None:
        """Each gradient of `params` replaced by its mean over the ranks, in one all-reduce:
        DDP's reduction, done by hand for a trainer whose networks take turns (a GAN's:
        its steps freeze D while G learns through it, and D's gradient penalty goes
        through torch.autograd.grad, neither of which DDP's hooks follow). Every rank runs
        the same code on the same model, so the same parameters have a gradient everywhere."""
        import torch.distributed as tdist

        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])  # (sum of sizes,)
        tdist.all_reduce(flat)
        flat /= self.world
        for g, mean in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
            g.copy_(mean.view_as(g))

    def broadcast_buffers(self, model: Any) -> None:
        """Rank 0's buffers (batch norm's running statistics) everywhere, as DDP broadcasts
        them before each forward."""
        import torch.distributed as tdist

        with torch.no_grad():
            for buffer in model.buffers():
                tdist.broadcast(buffer, src=0)

    def reduce_step(self, vals: torch.Tensor, weight: float, stop: bool
                    ) -> tuple[torch.Tensor, bool]:
        """The step's terms as the global batch's mean (each rank's mean weighted by its
        share `weight` of the batch, summed), and whether any rank was asked to stop."""
        import torch.distributed as tdist

        packed = torch.cat([vals.float() * weight, vals.new_tensor([float(stop)])])
        tdist.all_reduce(packed)
        return packed[:-1], bool(packed[-1].item() > 0)

    def agree(self, value: T) -> T:
        """Rank 0's `value` on every rank (a picklable object)."""
        import torch.distributed as tdist

        box = [value]
        tdist.broadcast_object_list(box, src=0)
        return box[0]

    def on_writer(self, make: Callable[[], T]) -> T:
        """`make()` on rank 0, its result (or its AespecError) on every rank."""
        result: Any = None
        if self.writer:
            try:
                result = ("ok", make())
            except AespecError as error:
                result = ("error", error.diagnostics)
        kind, value = self.agree(result)
        if kind == "error":
            raise AespecError(list(value))
        made: T = value  # what `make` returned on the writer
        return made

    def wrap(self, model: Any, device: torch.device) -> Any:
        """The model under DistributedDataParallel (its weights broadcast from rank 0)."""
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def broadcast_weights(self, model: Any) -> None:
        """Rank 0's weights everywhere (after a phase each rank ran alone: pretraining)."""
        import torch.distributed as tdist

        with torch.no_grad():
            for tensor in model.state_dict().values():
                tdist.broadcast(tensor, src=0)

    def reseed(self, seed: int, epoch: int) -> None:
        """The model's own random draws (noise, dropout, latents) for this rank and epoch:
        rank 0 keeps the single-process stream; the others draw their own."""
        if self.rank:
            torch.manual_seed(seed * 1_000_003 + self.rank * 7919 + epoch)

    def device(self, device: torch.device) -> torch.device:
        """A CUDA run puts each local rank on its own GPU."""
        if device.type == "cuda":
            return torch.device("cuda", self.local_rank % max(torch.cuda.device_count(), 1))
        return device


def from_env() -> tuple[int, int, int] | None:
    """(rank, world, local rank) that torch's launcher set, or None outside it."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return None
    return (int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


@contextlib.contextmanager
def joined(device_name: str = "auto") -> Iterator[Ranks | None]:
    """The process group of a launched run (None for a single process). It is created
    here when the launcher's environment asks for one and no group exists yet, and
    destroyed when the run ends. While joined, the launcher's SIGTERM (it sends one to
    every process when another has ended) is E623, so that run.json says `failed`."""
    import torch.distributed as tdist

    place = from_env()
    if place is None:
        yield None
        return
    rank, world, local = place
    ours = not tdist.is_initialized()
    if ours:
        cuda = device_name.startswith("cuda") or (device_name == "auto"
                                                  and torch.cuda.is_available())
        if cuda:
            torch.cuda.set_device(local % max(torch.cuda.device_count(), 1))
        _init_group("nccl" if cuda else "gloo")
    try:
        ranks = Ranks(rank, world, local)
        with _terminated_is_lost(ranks):
            yield ranks
    finally:
        if ours and tdist.is_initialized():
            tdist.destroy_process_group()


def _init_group(backend: str) -> None:
    """init_process_group; E624 when the rendezvous (MASTER_ADDR:MASTER_PORT) fails."""
    import torch.distributed as tdist

    try:
        tdist.init_process_group(backend, timeout=TIMEOUT)
    except tdist.DistError as exc:
        where = f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')}"
        raise cannot_meet(where, exc) from None


# ---------------------------------------------------------------- a lost process


class _Lost:
    """This process's state as a distributed run: the run directory once training began,
    and whether it already ends because the run lost a process (the launcher's SIGTERM
    then comes on top, and must not interrupt the ending: run.json, the report)."""

    run_path: pathlib.Path | None = None
    ending = False


def lost_error(ranks: Ranks, why: str) -> AespecError:
    """E623: this process stops because another process of the run ended; this process
    ends from here (the launcher's SIGTERM is ignored)."""
    _Lost.ending = True
    path = _Lost.run_path
    kept = f"; the last checkpoint in {path} is kept" if path is not None else ""
    return AespecError.of(
        "E623", f"rank {ranks.rank} stopped: {why}{kept}", file=str(path or "--nproc"),
        hint="see the other process's error (or why it was killed), then continue with "
        f"`aespec run --resume {path or 'RUN_DIR'} --nproc {ranks.world}`")


@contextlib.contextmanager
def _terminated_is_lost(ranks: Ranks) -> Iterator[None]:
    """SIGTERM raises E623 in the main thread (once; none while already ending)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: Any) -> None:
        if not _Lost.ending:
            raise lost_error(ranks, "the launcher stopped it (SIGTERM), as it does when "
                             "another process of the run has ended")

    _Lost.ending, _Lost.run_path = False, None
    old = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        # a process ending for a lost one ignores the launcher's SIGTERM from here, which
        # would cut its error message short (the launcher kills it after a timeout anyway)
        signal.signal(signal.SIGTERM, signal.SIG_IGN if _Lost.ending else old)


# what gloo and nccl say when the other end of a collective is gone
_PEER_GONE = ("Connection reset", "Connection closed", "Broken pipe", "pair.cc",
              "NCCL communicator was aborted", "ProcessGroup")


@contextlib.contextmanager
def lost_ranks(ranks: Ranks | None, run_path: pathlib.Path) -> Iterator[None]:
    """In a distributed run, a collective that fails because another process ended (killed,
    or out of memory) is E623 naming the run to resume, not torch's RuntimeError."""
    if ranks is None:
        yield
        return
    import torch.distributed as tdist

    _Lost.run_path = run_path
    try:
        yield
    except RuntimeError as exc:
        if not (isinstance(exc, tdist.DistError) or any(s in str(exc) for s in _PEER_GONE)):
            raise  # not the transport: a bug, with its traceback
        raise lost_error(ranks, "another process of the run ended or stopped answering "
                         f"({_first_line(exc)})") from None


def _first_line(exc: BaseException, limit: int = 160) -> str:
    """torch's reason, without the C++ source it came from or the advice after it:
    `[.../pair.cc:537] Read error [127.0.0.1]:8601: Connection reset by peer. This is
    typically ...` is `Read error [127.0.0.1]:8601: Connection reset by peer`."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if first.startswith("[") and "] " in first:
        first = first.partition("] ")[2]
    first = first.split(". ")[0]
    return first if len(first) <= limit else first[:limit - 3] + "..."


class QuietRunDir(RunDir):
    """The run directory as ranks other than 0 see it: read, never written."""

    writes = False

    def update(self, **fields: Any) -> None:
        pass

    def write_start(self, spec: Any, info: dict[str, Any], resolved: dict[str, Any]) -> None:
        pass

    def append_metrics(self, record: dict[str, Any]) -> None:
        pass

    def rewrite_metrics(self, history: list[dict[str, Any]]) -> None:
        pass

    def write_metrics_csv(self, history: list[dict[str, Any]]) -> None:
        pass

    def info(self) -> dict[str, Any]:
        try:
            return super().info()
        except AespecError:
            return {}


def run_dir_for(ranks: Ranks | None, path: pathlib.Path) -> RunDir:
    return RunDir(path) if ranks is None or ranks.writer else QuietRunDir(path)


# ---------------------------------------------------------------- launching


LAUNCH_OPTIONS = ("nnodes", "node_rank", "master_addr", "master_port", "rdzv_endpoint",
                  "rdzv_backend", "rdzv_id")


def launcher_args(nproc: int, argv: list[str], **options: Any) -> list[str]:
    """torchrun's arguments for `aespec run --nproc N ...`: the multi-node options passed
    through, `--standalone` (a rendezvous on a free local port) for one node."""
    given = {k: v for k, v in options.items() if v is not None}
    unknown = set(given) - set(LAUNCH_OPTIONS)
    if unknown:
        raise TypeError(f"unknown launcher options: {sorted(unknown)}")
    args = [f"--nproc-per-node={nproc}"]
    # --standalone picks a free port of its own: a --master-port given is used instead
    multi = str(given.get("nnodes", "1")) not in ("1", "1:1") or "rdzv_endpoint" in given or (
        "master_addr" in given) or "master_port" in given
    if not multi:
        args.append("--standalone")
    for key in LAUNCH_OPTIONS:
        if key in given:
            args.append(f"--{key.replace('_', '-')}={given[key]}")
    return [*args, "-m", "aespec", "run", *argv]


def launch(nproc: int, argv: list[str], run_dir: pathlib.Path | None = None,
           **options: Any) -> int:
    """Run `aespec run ARGV` in `nproc` processes through torch.distributed.run; the exit
    status (0 when every process ended well; a process's own error is printed by it).
    E624 when the rendezvous cannot start (a busy --master-port), E623 when a process
    was killed (a signal: nothing of ours could say why); when that was rank 0, the run's
    writer, its run.json (`run_dir`: --out or --resume) is marked `failed` here."""
    import torch.distributed as tdist
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.elastic.rendezvous.api import RendezvousError
    from torch.distributed.run import get_args_parser, run

    check_master_port(options)
    args = get_args_parser().parse_args(launcher_args(nproc, argv, **options))
    try:
        with _quiet_launcher():
            run(args)
    except ChildFailedError as failed:
        return _failed_status(failed.failures, run_dir, nproc)
    except (tdist.DistError, RendezvousError) as exc:
        where = f"{options.get('master_addr') or '127.0.0.1'}:{options.get('master_port')}"
        raise cannot_meet(options.get("rdzv_endpoint") or where, exc) from None
    return 0


def _failed_status(failures: dict[int, Any], run_dir: pathlib.Path | None, nproc: int) -> int:
    """The first positive exit status (that process printed its own error); E623 for a
    process a signal ended (SIGKILL: killed, or out of memory)."""
    codes = [f.exitcode for f in failures.values()]
    # the launcher SIGTERMs the others once one has ended: the cause is another signal
    signalled = sorted(((f.exitcode == -signal.SIGTERM, rank, f)
                        for rank, f in failures.items() if f.exitcode < 0),
                       key=lambda t: t[:2])
    if signalled:
        _, rank, f = signalled[0]
        error = AespecError.of(
            "E623", f"the process of rank {rank} (pid {f.pid}) was ended by "
            f"{f.signal_name()}; the launcher stopped the others", file="--nproc",
            hint="SIGKILL often means the machine ran out of memory; then continue from "
            f"the last checkpoint with `aespec run --resume {run_dir or 'RUN_DIR'} --nproc "
            f"{nproc}`")
        if 0 in failures and failures[0].exitcode < 0:
            _mark_failed(run_dir, error.diagnostics[0].message)
        raise error
    return next((c for c in codes if c not in (0, None) and c > 0), 1)


def _mark_failed(run_dir: pathlib.Path | None, message: str) -> None:
    """run.json `failed` for a writer that could not say so (killed): best effort."""
    if run_dir is None or not (run_dir / "run.json").is_file():
        return
    run = RunDir(run_dir)
    with contextlib.suppress(AespecError, OSError):
        if run.info().get("status") == "running":
            run.update(status="failed", error=message)


@contextlib.contextmanager
def _quiet_launcher() -> Iterator[None]:
    """torch's launcher logs a failure as warnings and errors of its own; E623 says it."""
    log = logging.getLogger("torch.distributed.elastic")
    old = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(old)


LOCAL = ("127.0.0.1", "localhost", "::1", "0.0.0.0")


def check_master_port(options: dict[str, Any]) -> None:
    """E624 before anything starts when --master-port is taken on this machine and rank
    0's rendezvous would listen on it here (no other machine is contacted)."""
    port, addr = options.get("master_port"), options.get("master_addr")
    if port is None or (addr is not None and str(addr) not in LOCAL) or int(
            options.get("node_rank") or 0) != 0 or options.get("rdzv_endpoint"):
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is free
        try:
            probe.bind(("", int(port)))
        except (OSError, OverflowError) as exc:  # in use, not ours to take, not a port
            raise AespecError.of(
                "E624", f"--master-port {port} cannot be used on this machine: "
                f"{getattr(exc, 'strerror', None) or exc}", file="--master-port",
                hint="choose a free port, or leave --master-port out on one machine (a "
                "free port is picked)") from None


def cannot_meet(where: str, exc: BaseException) -> AespecError:
    """E624: the processes of a run cannot meet at `where` (HOST:PORT)."""
    return AespecError.of(
        "E624", f"the processes of the run cannot meet at {where}: {_first_line(exc)}",
        file="--master-port", hint="choose a free --master-port (or leave it out on one "
        "machine); on several machines, check --master-addr and that rank 0's node is up")
