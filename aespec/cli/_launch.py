"""`aespec run --nproc N`: the launcher's options, and the relaunch of the same command
under torch's elastic launcher (docs/distributed.md)."""

from __future__ import annotations

import os
from typing import Optional

import typer

NprocOption = typer.Option(1, "--nproc", min=1, metavar="N",
                           help="Processes on this node (DistributedDataParallel through "
                                "torch.distributed.run; gloo on CPU, nccl on CUDA).")
NnodesOption = typer.Option(None, "--nnodes", metavar="N", help="Nodes (with --nproc).")
NodeRankOption = typer.Option(None, "--node-rank", metavar="R", help="This node's rank.")
MasterAddrOption = typer.Option(None, "--master-addr", metavar="HOST",
                                help="Rank 0's node (multi-node).")
MasterPortOption = typer.Option(None, "--master-port", metavar="PORT",
                                help="Rank 0's port (multi-node).")
RdzvOption = typer.Option(None, "--rdzv-endpoint", metavar="HOST:PORT",
                          help="A c10d rendezvous endpoint (multi-node, elastic).")
LAUNCH = ("nproc", "nnodes", "node_rank", "master_addr", "master_port", "rdzv_endpoint")


def rank() -> int:
    """This process's rank under torch's launcher (0 alone)."""
    return int(os.environ.get("RANK", "0") or 0)


def relaunch(ctx: typer.Context) -> Optional[int]:
    """When --nproc or a multi-node option asks for it (and this process is not already a
    launched worker), run the same command under torch.distributed.run; its exit status.
    None: train here."""
    params = ctx.params
    wanted = params["nproc"] > 1 or (params["nnodes"] or "1") not in ("1", 1)
    if not wanted or "LOCAL_RANK" in os.environ:
        return None
    from aespec.cli.common import print_diagnostics
    from aespec.errors import AespecError
    from aespec.train import dist

    options = {k: params[k] for k in LAUNCH[1:] if params[k] is not None}
    if params["rdzv_endpoint"]:
        options["rdzv_backend"] = "c10d"
    try:
        return dist.launch(params["nproc"], command_args(ctx, LAUNCH),
                           params.get("resume") or params.get("out_dir"), **options)
    except AespecError as error:  # a busy port (E624), a killed process (E623)
        print_diagnostics(error.diagnostics, None)
        return 1


def command_args(ctx: typer.Context, leave_out: tuple[str, ...]) -> list[str]:
    """The command's arguments, rebuilt from its parsed parameters (every option it was
    given, whoever added it), less those in `leave_out`."""
    argv: list[str] = []
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if param.name in leave_out or value is None or value == param.default:
            continue
        if param.param_type_name == "argument":
            argv.append(str(value))
        elif getattr(param, "is_flag", False):
            argv.append(param.opts[0] if value else (param.secondary_opts or [""])[0])
        else:
            for one in value if isinstance(value, (list, tuple)) else [value]:
                argv += [param.opts[0], str(one)]
    return [a for a in argv if a]
