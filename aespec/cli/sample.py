"""`aespec sample RUN_DIR -n 64 -o samples.npy`: decoded draws from the prior."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from aespec.cli.app import app
from aespec.cli.common import fail, in_run, out, save_array
from aespec.cli.eval import CheckpointOption, open_run
from aespec.cli.run import DeviceOption
from aespec.errors import AespecError


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
        import torch

        gen = torch.Generator(device=loaded.device).manual_seed(seed)
        with torch.no_grad():
            x = loaded.model.sample(n, generator=gen).float().cpu().numpy()
    except AespecError as error:
        raise fail(in_run(error, run_dir)) from None
    save_array(output, x)
    out.print(f"wrote {output}: {n} samples of shape {tuple(x.shape[1:])}", markup=False)

