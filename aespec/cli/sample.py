"""`aespec sample RUN_DIR -n 64 -o samples.npy`: decoded draws from the prior."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

import typer

from aespec.cli.app import app
from aespec.cli.common import fail, in_run, out, save_array
from aespec.cli.eval import CheckpointOption, open_run
from aespec.cli.run import DeviceOption
from aespec.errors import AespecError, plural

CHUNK = 4096  # draws decoded at a time: the peak is the result and one chunk


def _draw(loaded: Any, n: int, seed: int) -> Any:
    """n decoded draws, refused (E608) before allocating when the result cannot fit."""
    import numpy as np
    import torch

    from aespec.graph.memory import fmt_bytes
    from aespec.train.device import free_memory

    shape = tuple(loaded.graph.output)
    one = 4 * math.prod(shape)  # float32 bytes of one sample
    free = free_memory(torch.device("cpu"))
    if free is not None and n * one > free:
        raise AespecError.of("E608", f"{n:,} samples of shape {shape} need "
                             f"{fmt_bytes(n * one)}, but the machine has {fmt_bytes(free)} free",
                             hint=f"ask for fewer with -n (at most about {free // one:,})")
    gen = torch.Generator(device=loaded.device).manual_seed(seed)
    x = np.empty((n, *shape), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, n, CHUNK):
            count = min(CHUNK, n - start)
            x[start:start + count] = loaded.model.sample(count, generator=gen).float().cpu()
    return x


@app.command("sample")
def sample_command(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="A directory from aespec run."),
    n: int = typer.Option(64, "-n", min=1, help="How many samples."),
    output: Path = typer.Option(Path("samples.npy"), "-o", "--output", metavar="FILE",
                                help="Where to write the (n, *output shape) float32 array."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the latent draws."),
    which: str = CheckpointOption,
    device: Optional[str] = DeviceOption,
) -> None:
    """Decode n draws z ~ N(0, I) of a stochastic latent into an .npy file."""
    try:
        loaded = open_run(run_dir, which, device)
        x = _draw(loaded, n, seed)
    except AespecError as error:
        raise fail(in_run(error, run_dir)) from None
    save_array(output, x)
    out.print(f"wrote {output}: {plural(n, 'sample')} of shape {tuple(x.shape[1:])}", markup=False)

