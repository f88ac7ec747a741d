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
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import pathlib
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
        return value

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
    destroyed when the run ends."""
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
        tdist.init_process_group("nccl" if cuda else "gloo", timeout=TIMEOUT)
    try:
        yield Ranks(rank, world, local)
    finally:
        if ours and tdist.is_initialized():
            tdist.destroy_process_group()


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
    multi = str(given.get("nnodes", "1")) not in ("1", "1:1") or "rdzv_endpoint" in given or (
        "master_addr" in given)
    if not multi:
        args.append("--standalone")
    for key in LAUNCH_OPTIONS:
        if key in given:
            args.append(f"--{key.replace('_', '-')}={given[key]}")
    return [*args, "-m", "aespec", "run", *argv]


def launch(nproc: int, argv: list[str], **options: Any) -> int:
    """Run `aespec run ARGV` in `nproc` processes through torch.distributed.run; the exit
    status (0 when every process ended well)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    args = get_args_parser().parse_args(launcher_args(nproc, argv, **options))
    try:
        run(args)
    except ChildFailedError as failed:
        codes = [f.exitcode for f in failed.failures.values()]
        return next((c for c in codes if c not in (0, None) and c > 0), 1)
    return 0
