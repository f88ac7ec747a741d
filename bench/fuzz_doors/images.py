"""The images door: folders of files named .png/.jpg/.bmp that lie (random bytes; EPS, PDF,
TIFF, GIF and other formats under image names; truncated PNGs; PNG headers that claim
huge sizes; links out of the folder, link loops, FIFOs, huge sparse files, deep nesting)
through `load_data("images", ...)`, every image decoded (streamed folders too).

A finding besides an exception: Ghostscript (or any program) started while an image is
read (subprocess.Popen and PIL's EpsImagePlugin.Ghostscript are replaced while a call runs,
to record it), or a folder whose only images lie outside it loading without an error.
"""

from __future__ import annotations

import contextlib
import io
import random
import struct
import subprocess
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from fuzz_doors import HOSTILE, Finding, cycle, fifo, sparse

KINDS = ["loose", "classes", "eps", "formats", "huge", "truncated", "random", "link-out",
         "dir-link-out", "loop", "fifo", "sparse", "dir-named", "deep", "names", "mixed",
         "empty", "many"]
EXTS = [".png", ".jpg", ".bmp", ".jpeg", ".PNG"]
SHAPES = [(1, 8, 8), (3, 8, 8), (64,), (1, 28, 28)]
EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n%%EndComments\n"
       b"newpath 0 0 moveto 8 8 lineto stroke showpage\n%%EOF\n")
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]"
       b"/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int, idat: bytes = b"") -> bytes:
    """A PNG whose header claims `width` x `height` grey pixels, with whatever data."""
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0,
                                                               0, 0, 0))
            + _chunk(b"IDAT", idat or zlib.compress(b"\x00" * 64)) + _chunk(b"IEND", b""))


def _bomb(side: int = 10_000) -> bytes:
    """A real PNG of side x side zero pixels, about 100 KB deflated."""
    squeeze = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    data = b"".join(squeeze.compress(row) for _ in range(side)) + squeeze.flush()
    return png_claiming(side, side, data)


class Door:
    """The files a folder is made of, made once."""

    def __init__(self, folder: Path) -> None:
        from PIL import Image

        def saved(fmt: str, mode: str = "RGB", size: tuple = (8, 8), **kw) -> bytes:
            buf = io.BytesIO()
            Image.new(mode, size, 90).save(buf, fmt, **kw)
            return buf.getvalue()

        self.good = [saved("PNG"), saved("PNG", "L"), saved("PNG", "RGBA", (30, 20)),
                     saved("PNG", "P"), saved("PNG", "I;16"), saved("JPEG"),
                     saved("JPEG", "CMYK"), saved("BMP"), saved("PNG", "1", (1, 1))]
        self.others = [EPS, PDF, b"GIF89a" + bytes(20)]
        for fmt, kw in [("TIFF", {}), ("TIFF", {"compression": "tiff_deflate"}), ("GIF", {}),
                        ("ICO", {}), ("PCX", {}), ("PPM", {}), ("TGA", {}), ("SGI", {}),
                        ("IM", {}), ("WEBP", {}), ("JPEG2000", {}), ("DDS", {}), ("QOI", {})]:
            with contextlib.suppress(Exception):  # a format this Pillow cannot write
                self.others.append(saved(fmt, **kw))
        self.huge = [png_claiming(w, h) for w, h in [(100_000, 100_000), (2**31 - 1, 1),
                                                     (1, 2**31 - 1), (0, 0), (20_000, 20_000)]]
        self.huge.append(_bomb())
        self.huge.append(b"BM" + struct.pack("<IHHIIiiHH", 0, 0, 0, 54, 40, 2**30, 2**30, 1, 24))
        self.outside = folder / "outside"
        self.outside.mkdir()
        for k in range(4):
            (self.outside / f"o{k}.png").write_bytes(self.good[0])

    def file(self, rng: random.Random, kind: str) -> bytes:
        if kind == "eps":
            return EPS
        if kind == "formats":
            return rng.choice(self.others)
        if kind == "huge":
            return rng.choice(self.huge)
        if kind == "truncated":
            data = rng.choice(self.good)
            return data[:rng.randrange(len(data))]
        if kind == "random":
            magic = rng.choice([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM"])
            return magic + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 400)))
        return rng.choice(self.good)

    def fill(self, rng: random.Random, root: Path, kind: str) -> None:
        """Make the folder `root` hold a folder of `kind`."""
        root.mkdir()
        loose = rng.random() < 0.5 or kind in ("mixed", "link-out")
        where = root if loose else root / "cats"
        where.mkdir(exist_ok=True)
        for k in range(rng.randrange(1, 5)):
            (where / f"i{k}{rng.choice(EXTS)}").write_bytes(self.file(rng, kind))
        self._special(rng, root, where, kind)

    def _special(self, rng: random.Random, root: Path, where: Path, kind: str) -> None:
        if kind == "link-out":  # nothing but links out of the folder
            for p in list(where.iterdir()):
                p.unlink()
            for k in range(4):
                (where / f"l{k}.png").symlink_to(self.outside / f"o{k}.png")
        elif kind == "dir-link-out":
            for p in list(root.iterdir()):
                _remove(p)
            (root / "dogs").symlink_to(self.outside, target_is_directory=True)
        elif kind == "loop":
            (where / "loop").symlink_to("..", target_is_directory=True)
            (where / "self.png").symlink_to("self.png")
            (root / "up").symlink_to(root, target_is_directory=True)
        elif kind == "fifo":
            fifo(where / "pipe.png")
        elif kind == "sparse":
            sparse(where / "big.png")
        elif kind == "dir-named":
            (where / "dir.png").mkdir()
        elif kind == "deep":
            deep = root / "cats"
            for _ in range(rng.choice((40, 200))):
                deep = deep / "d"
            deep.mkdir(parents=True)
            (deep / "x.png").write_bytes(self.good[0])
        elif kind == "names":
            for name in rng.sample([s for s in HOSTILE if "/" not in s and "\x00" not in s
                                    and len(s) < 100 and not _surrogate(s)], 3):
                (where / (name + rng.choice(EXTS))).write_bytes(self.good[1])
            (where / ".hidden.png").write_bytes(EPS)
        elif kind == "mixed":
            (root / "cats").mkdir(exist_ok=True)
            (root / "cats" / "c.png").write_bytes(self.good[0])
        elif kind == "empty":
            for p in list(root.iterdir()):
                _remove(p)
        elif kind == "many":
            for k in range(rng.choice((300, 1500))):
                (where / f"m{k}.png").write_bytes(self.good[1])


def _surrogate(s: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in s)


def _remove(p: Path) -> None:
    import shutil

    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    else:
        p.unlink()


@contextlib.contextmanager
def no_programs(started: list[str]) -> Iterator[None]:
    """Record (and refuse) any program started, Ghostscript above all."""
    from PIL import EpsImagePlugin

    def popen(args, *a, **k):
        started.append(f"a program was started: {str(args)[:60]}")
        raise Finding(started[-1])

    def ghostscript(*a, **k):
        started.append("Ghostscript was invoked")
        raise Finding(started[-1])

    saved = subprocess.Popen, EpsImagePlugin.Ghostscript
    subprocess.Popen, EpsImagePlugin.Ghostscript = popen, ghostscript  # type: ignore[misc]
    try:
        yield
    finally:
        subprocess.Popen, EpsImagePlugin.Ghostscript = saved  # type: ignore[misc]


def load(root: Path, args: dict, shape: tuple, kind: str) -> None:
    """Load the folder, decode every image (a streamed folder's too); check the promises."""
    import numpy as np

    from aespec.data import load_data

    started: list[str] = []
    with no_programs(started):
        data = load_data("images", args, shape)
        for part in (data.x_train, data.x_test):
            np.asarray(part)
    if started:
        raise Finding(started[0])
    if kind in ("link-out", "dir-link-out"):
        raise Finding("images outside the folder were read (through a link)")


def inputs(rng: random.Random, n: int, folder: Path
           ) -> Iterator[tuple[str, str, Callable[[], object]]]:
    import shutil

    door = Door(folder)
    for i in range(n):
        kind = cycle(KINDS, i)
        root = folder / f"f{i}"
        door.fill(rng, root, kind)
        args: dict = {"path": str(root)}
        if rng.random() < 0.3:
            args["stream"] = True
        if rng.random() < 0.1:
            args["limit"] = rng.choice([1, 3, 0, -1])
        shape = rng.choice(SHAPES)
        listing = sorted(str(p.relative_to(root)) for p in root.iterdir())[:4]
        yield kind, f"{kind} {args} {shape} {listing}", \
            lambda r=root, a=args, s=shape, k=kind: load(r, a, s, k)
        shutil.rmtree(root)
