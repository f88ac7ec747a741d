"""`aespec encode RUN_DIR --data SRC -o codes.npy`: the codes z of a data set."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from aespec.cli.app import app
from aespec.cli.common import DataOption, fail, out, save_array
from aespec.cli.eval import CheckpointOption, open_run
from aespec.cli.run import DeviceOption
from aespec.errors import AespecError, plural

SPLITS = ("all", "train", "test")


@app.command("encode")
def encode_command(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="A directory from aespec run."),
    data: Optional[str] = DataOption,
    output: Path = typer.Option(Path("codes.npy"), "-o", "--output", metavar="FILE",
                                help="Where to write the (N, *z shape) float32 array."),
    split: str = typer.Option("all", "--split", metavar="all|train|test",
                              help="Which examples: the training ones, then the test ones "
                                   "(all), or one split."),
    labels: Optional[Path] = typer.Option(None, "--labels", metavar="FILE",
                                          help="Also write the examples' class labels "
                                               "(N,) int64, in the same order."),
    which: str = CheckpointOption,
    device: Optional[str] = DeviceOption,
) -> None:
    """Encode the run's data (or --data) into codes z, in order (a gaussian latent gives mu)."""
    if split not in SPLITS:
        raise typer.BadParameter(f"{split!r} is not one of {', '.join(SPLITS)}",
                                 param_hint="'--split'")
    try:
        loaded = open_run(run_dir, which, device)
        import numpy as np
        import torch

        from aespec.train.evaluate import encode

        ds = loaded.dataset(data)
        parts = {"train": [ds.x_train], "test": [ds.x_test], "all": [ds.x_train, ds.x_test]}
        x = torch.from_numpy(np.concatenate(parts[split])).to(loaded.device)
        known = {"train": [ds.labels_train], "test": [ds.labels_test],
                 "all": [ds.labels_train, ds.labels_test]}[split]
        if labels is not None and any(part is None for part in known):
            raise typer.BadParameter(f"the data ({ds.description}) has no class labels",
                                     param_hint="'--labels'")
        codes = encode(loaded.model, x).numpy()
    except AespecError as error:
        raise fail(error) from None
    save_array(output, codes)
    out.print(f"wrote {output}: {plural(len(codes), 'code')} of shape {tuple(codes.shape[1:])}",
              markup=False)
    if labels is not None:
        save_array(labels, np.concatenate(known).astype(np.int64))
        out.print(f"wrote {labels}: {plural(len(codes), 'label')}", markup=False)
