"""The entries of the sources that read a user's files: npz, npy, csv and images.

Their readers live with the file formats (files.py, mmap.py, images.py); what aespec knows
of each source as a whole is its entry here. None has an emitted loader: `aespec emit`
writes random stand-in data of the input's shape for them.
"""

from __future__ import annotations

from aespec.data.base import Ctx, Raw
from aespec.data.entry import DataSource, register
from aespec.data.files import read_csv
from aespec.data.images import images_raw
from aespec.data.mmap import npy_source, npz_source
from aespec.data.sources import CsvArgs, ImagesArgs, NpyArgs, NpzArgs


def csv_raw(args: CsvArgs, ctx: Ctx) -> Raw:
    return ctx.read(args.file, lambda p: read_csv(p, args.label, ctx, args.missing))


register(
    DataSource("npz", NpzArgs, npz_source, labels="named", paths=("file",)),
    DataSource("npy", NpyArgs, npy_source, paths=("file", "y")),
    DataSource("csv", CsvArgs, csv_raw, labels="named", paths=("file",)),
    DataSource("images", ImagesArgs, images_raw, unit=True, labels="folders",
               paths=("path",)),
)
