"""`aespec decode RUN_DIR codes.npy -o decoded.npy`: reconstructions of given codes z."""

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


@app.command("decode")
def decode_command(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="A directory from aespec run."),
    codes: Path = typer.Argument(..., metavar="CODES",
                                 help="An .npy array of codes shaped (N, *z shape), as "
                                      "aespec encode writes."),
    output: Path = typer.Option(Path("decoded.npy"), "-o", "--output", metavar="FILE",
                                help="Where to write the (N, *output shape) float32 array "
                                     "(exactly this path: no .npy is added)."),
    which: str = CheckpointOption,
    device: Optional[str] = DeviceOption,
) -> None:
    """Decode an array of codes z with the run's decoder into reconstructions."""
    try:
        z = read_codes(codes)
        loaded = open_run(run_dir, which, device)
        import torch

        from aespec.train.evaluate import decode

        z_shape = tuple(loaded.model.info.z_shape)
        check_shape(z, z_shape, codes)
        x = decode(loaded.model, torch.from_numpy(z).to(loaded.device)).numpy()
    except AespecError as error:
        raise fail(in_run(error, run_dir)) from None
    save_array(output, x)
    out.print(f"wrote {output}: {plural(len(x), 'reconstruction')} of shape {tuple(x.shape[1:])}",
              markup=False)


def read_codes(path: Path) -> Any:
    """The codes as a float32 array: one .npy array of real, finite numbers, else E607."""
    import numpy as np

    def bad(why: str, hint: str | None = None) -> AespecError:
        return AespecError.of("E607", f"cannot use {path} as codes: {why}", hint=hint,
                              file=str(path))

    if not path.is_file():
        raise bad("no such file" if not path.exists() else "not a file",
                  "write codes with `aespec encode RUN_DIR -o codes.npy`")
    try:
        with open(path, "rb") as fh:
            _check_header(fh, path)
            z = np.load(fh, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise bad(f"not an .npy array of numbers ({exc})") from None
    if not isinstance(z, np.ndarray):  # an .npz archive holds several arrays
        z.close()
        raise bad("an .npz archive, not one array", "save one array with numpy.save")
    if z.dtype.kind not in "buif":
        raise bad(f"its values are {z.dtype}, not real numbers")
    if z.ndim == 0 or len(z) == 0:
        raise bad("it holds no codes")
    if not np.isfinite(z).all():
        raise bad("it holds NaN or infinite values")
    return np.ascontiguousarray(z, dtype=np.float32)


def _check_header(fh: Any, path: Path) -> None:
    """An .npy header's shape and type against the file's size and the memory free, as the
    data files' (E504, E508): a header that claims 10**9 rows is refused unread."""
    from aespec.data.base import Ctx
    from aespec.data.files import check_npy_header

    if fh.read(6) == b"\x93NUMPY":  # anything else is left to np.load's own refusal
        fh.seek(0)
        check_npy_header(fh, path.stat().st_size, str(path), Ctx("codes", (), None, None,
                                                                  str(path)))
    fh.seek(0)


def check_shape(z: Any, z_shape: tuple[int, ...], path: Path) -> None:
    """Codes shaped (N, *z_shape), else E607 naming both shapes and the reshape that fits."""
    if tuple(z.shape[1:]) == z_shape:
        return
    want = f"(N, {', '.join(map(str, z_shape))})"
    if tuple(z.shape) == z_shape:
        hint = f"a single code: save it with shape (1, {', '.join(map(str, z_shape))})"
    elif z.ndim >= 2 and math.prod(z.shape[1:]) == math.prod(z_shape):
        hint = f"reshape the codes to {want}"
    else:
        hint = f"encode with this run: `aespec encode RUN_DIR -o {path.name}`"
    raise AespecError.of("E607", f"{path} holds codes of shape {tuple(z.shape)}, but this "
                         f"run's decoder reads codes shaped {want}", hint=hint, file=str(path))

