"""`data images("folder")`: a folder of PNG, JPEG or BMP images, resized to the spec's input.

Images in sub-folders take their class from the sub-folder's name (`cats/`, `dogs/` ->
labels 0, 1 in name order); images directly in the folder have no labels. Each image is
converted to the input's channels (1: grayscale, 3: RGB), resized bilinearly to its height
and width, and scaled to [0, 1]. A folder whose images would not fit in memory (or
`stream=true`) is read on demand: each batch decodes its own files.

The folder may come from someone else, so reading it is bounded and confined: a file is
decoded only as the format its first bytes name, and only as PNG, JPEG or BMP (Pillow would
otherwise hand an EPS file to Ghostscript, whatever its name); its size and pixel count are
checked before it is decoded (E511); symbolic links are followed only to image files inside
the folder (E512); and the listing stops at MAX_ENTRIES names and MAX_DEPTH levels (E513).
"""

from __future__ import annotations

import math
import os
import pathlib
import stat
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from aespec.data.base import Ctx, Raw, fmt_bytes
from aespec.data.lazy import Rows
from aespec.data.mmap import should_map
from aespec.data.sources import ImagesArgs
from aespec.errors import AespecError

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
MODES = {1: "L", 3: "RGB"}
# A file's first bytes -> the one Pillow format it may be opened as.
MAGIC = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"BM": "BMP"}
MAX_ENTRIES = 2_000_000  # names listed in the whole folder (ImageNet's training set: 1.3M)
MAX_DEPTH = 32  # folders within the class folders
MAX_FILE_BYTES = 256 << 20  # one image file
MAX_PIXELS = 1 << 26  # one decoded image (8192 x 8192), or 4 inputs' worth where that is more
_LINK_HINT = ("copy the file or folder into the image folder, or point images(...) at a "
              "folder that holds both the links and what they lead to")


def images_raw(args: ImagesArgs, ctx: Ctx) -> Raw:
    """The folder's images, decoded now or (large, or stream=true) on demand."""
    import numpy as np

    folder = _folder(args.path, ctx)
    files, labels, names = find_images(folder, ctx)
    if args.limit is not None:
        files, labels = files[:args.limit], labels[:args.limit] if labels is not None else None
    channels, size = _target(ctx)
    rows = ImageRows(tuple(files), size, channels, ctx)
    nbytes = len(files) * channels * math.prod(size) * 4
    x: Any = rows if should_map(args.stream, nbytes) else rows.take(np.arange(len(files)))
    return Raw(str(folder), x, labels=labels, class_names=names)


def _folder(path: str, ctx: Ctx) -> pathlib.Path:
    folder = pathlib.Path(path).expanduser()
    if not folder.is_absolute():
        folder = (ctx.base_dir or pathlib.Path.cwd()) / folder
    if not folder.exists():
        raise ctx.error("E501", f"image folder not found: {folder}",
                        "relative paths are read from the spec file's folder")
    if not folder.is_dir():
        raise ctx.error("E513", f"{folder} is a file, not a folder",
                        "images(...) takes a folder of image files, or of class folders")
    return folder


def _image_name(name: str) -> bool:
    return name.lower().endswith(EXTENSIONS)


def find_images(folder: pathlib.Path, ctx: Ctx
                ) -> tuple[list[pathlib.Path], np.ndarray | None, tuple[str, ...] | None]:
    """The image files in name order; with sub-folders, their labels and class names."""
    import numpy as np

    walk = _Walk(os.path.realpath(folder), ctx)
    top = [(entry, walk.kind(entry)) for entry in walk.entries(str(folder))]
    per_class = [(entry.name, walk.images_under(found[1]))
                 for entry, found in top if found is not None and found[0] == "folder"]
    per_class = [(name, files) for name, files in per_class if files]
    loose = _in_name_order([(entry.path, found[1]) for entry, found in top
                            if found is not None and found[0] == "image"])
    walk.refuse_links()
    if per_class and loose:
        raise ctx.error("E510", f"{folder} holds images both in sub-folders (the classes) and "
                        f"beside them ({loose[0].name}, ...)",
                        "move the loose images into a class folder, or the class folders out")
    if per_class:
        files = [p for _, group in per_class for p in group]
        labels = np.concatenate([np.full(len(group), k, dtype=np.int64)
                                 for k, (_, group) in enumerate(per_class)])
        return files, labels, tuple(name for name, _ in per_class)
    if not loose:
        raise ctx.error("E510", f"{folder} holds no images ({', '.join(EXTENSIONS)})",
                        "point images(...) at a folder of image files, or of class folders")
    return loose, None, None


def _in_name_order(found: list[tuple[str, str]]) -> list[pathlib.Path]:
    """(listed path, path to read) pairs -> the paths to read, in the listed paths' order."""
    return [pathlib.Path(read) for _, read in sorted(found, key=lambda f: pathlib.Path(f[0]))]


@dataclass
class _Walk:
    """A bounded listing of one image folder, and the symbolic links it would not follow."""

    root: str  # the folder with its own links resolved: what a link must lead into
    ctx: Ctx
    listed: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (link, where it leads)

    def entries(self, folder: str) -> list[os.DirEntry[str]]:
        """`folder`'s entries but hidden ones, by name; E513 when it cannot be listed or the
        whole folder holds too many."""
        kept = []
        try:
            with os.scandir(folder) as listing:
                for entry in listing:
                    self.listed += 1
                    if self.listed > MAX_ENTRIES:
                        raise self.ctx.error(
                            "E513", f"{self.root} holds more than {MAX_ENTRIES:,} files and "
                            "folders", "split the data, or point images(...) at a part of it")
                    if not entry.name.startswith("."):
                        kept.append(entry)
        except OSError as exc:
            raise self.ctx.error("E513", f"cannot list the image folder {folder}: "
                                 f"{exc.strerror or exc}",
                                 "make the folder readable, or leave it out") from None
        return sorted(kept, key=lambda entry: entry.name)  # classes are numbered in name order

    def kind(self, entry: os.DirEntry[str]) -> tuple[str, str] | None:
        """("folder", path), ("image", the path to read), or None: not read."""
        try:
            if entry.is_symlink():
                return self._link(entry)
            if entry.is_dir(follow_symlinks=False):
                return "folder", entry.path
            if entry.is_file(follow_symlinks=False) and _image_name(entry.name):
                return "image", entry.path
        except OSError:  # gone since it was listed: nothing to read
            pass
        return None

    def _link(self, entry: os.DirEntry[str]) -> tuple[str, str] | None:
        """A link is read only where it leads to an image file inside the folder; links to
        folders are never followed (one to a parent folder would loop)."""
        target = os.path.realpath(entry.path)
        inside = os.path.commonpath([self.root, target]) == self.root
        if inside and _image_name(entry.name) and os.path.isfile(target):
            return "image", target
        if _image_name(entry.name) or os.path.isdir(target):
            self.refused.append((entry.path, target))
        return None

    def images_under(self, folder: str) -> list[pathlib.Path]:
        """The image files anywhere under a class folder, in name order."""
        found: list[tuple[str, str]] = []
        todo = [(folder, 0)]
        while todo:
            here, depth = todo.pop()
            if depth > MAX_DEPTH:
                raise self.ctx.error("E513", f"{here} lies more than {MAX_DEPTH} folders deep "
                                     "in a class folder", "flatten the class folders")
            for entry in self.entries(here):
                kind = self.kind(entry)
                if kind is not None and kind[0] == "folder":
                    todo.append((kind[1], depth + 1))
                elif kind is not None:
                    found.append((entry.path, kind[1]))
        return _in_name_order(found)

    def refuse_links(self) -> None:
        """E512 naming the links that lead out of the folder, to a folder, or nowhere."""
        if self.refused:
            shown = "; ".join(f"{link} -> {target}" for link, target in sorted(self.refused)[:3])
            more = f" (and {len(self.refused) - 3} more)" if len(self.refused) > 3 else ""
            raise self.ctx.error("E512", f"{self.root} holds links that are not followed: "
                                 f"{shown}{more}", _LINK_HINT)


def _target(ctx: Ctx) -> tuple[int, tuple[int, int]]:
    """(channels, (height, width)) of the input: image(C, H, W), or a square vector."""
    from aespec.data.prepare import image_side

    shape = ctx.input_shape
    side = image_side(shape)
    channels = shape[0] if len(shape) == 3 else 1
    if side is None or channels not in MODES:
        raise ctx.error("E510", f"images cannot fill the input {shape}: it must be "
                        "image(1, H, W), image(3, H, W) or a square vector(H*W)",
                        "write `input image(1, 28, 28)` (grayscale) or `image(3, 32, 32)`")
    return channels, side


@dataclass(eq=False)
class ImageRows(Rows):
    """Image files decoded on demand: float32 (len(idx), C, H, W) in [0, 1]."""

    files: tuple[pathlib.Path, ...]
    size: tuple[int, int]
    channels: int
    ctx: Ctx
    known_range = (0.0, 1.0)  # pixels / 255: no scan needed

    @property
    def example(self) -> tuple[int, ...]:  # type: ignore[override]
        return (self.channels, *self.size)

    def __len__(self) -> int:
        return len(self.files)

    def subset(self, idx: np.ndarray) -> ImageRows:
        return ImageRows(tuple(self.files[i] for i in idx), self.size, self.channels, self.ctx)

    def take(self, idx: np.ndarray) -> np.ndarray:
        import numpy as np

        out = np.empty((len(idx), *self.example), dtype=np.float32)
        for row, i in enumerate(idx):
            out[row] = self._decode(self.files[int(i)])
        return out

    def _decode(self, path: pathlib.Path) -> np.ndarray:
        import numpy as np
        from PIL import Image

        max_pixels = max(MAX_PIXELS, 4 * math.prod(self.size))
        img = read_image(path, MODES[self.channels], max_pixels, self.ctx)
        if img.size != (self.size[1], self.size[0]):
            img = img.resize((self.size[1], self.size[0]), Image.Resampling.BILINEAR)
        pixels = np.asarray(img, dtype=np.float32)
        pixels /= np.float32(255)
        return pixels[None] if pixels.ndim == 2 else np.moveaxis(pixels, -1, 0)


def read_image(path: pathlib.Path, mode: str, max_pixels: int, ctx: Ctx) -> Image.Image:
    """One image file decoded in `mode`: E511 for a file that is not a PNG, JPEG or BMP or
    is too large, E510 for one that cannot be decoded."""
    # O_NOFOLLOW: listed paths are never links (see _Walk._link); O_NONBLOCK: a FIFO put in a
    # file's place does not hang the open
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise ctx.error("E510", f"cannot read the image {path}: {exc.strerror or exc}",
                        "remove or replace the file") from None
    with open(fd, "rb") as fh:
        fmt = _check_file(fh, path, ctx)
        return _decode_file(fh, path, fmt, mode, max_pixels, ctx)


def _check_file(fh: IO[bytes], path: pathlib.Path, ctx: Ctx) -> str:
    """The Pillow format the file's first bytes name; E511 for anything else, or too big."""
    info = os.fstat(fh.fileno())
    if not stat.S_ISREG(info.st_mode):
        raise ctx.error("E511", f"{path} is not a regular file", "remove it from the folder")
    if info.st_size > MAX_FILE_BYTES:
        raise ctx.error("E511", f"the image {path} takes {fmt_bytes(info.st_size)}, more than "
                        f"the {fmt_bytes(MAX_FILE_BYTES)} an image file may",
                        "shrink the image, or remove it")
    head = fh.read(8)
    fmt = next((name for magic, name in MAGIC.items() if head.startswith(magic)), None)
    if fmt is None:
        raise ctx.error("E511", f"{path} is not a PNG, JPEG or BMP file, whatever its name "
                        "says", "convert it to PNG, or remove it")
    fh.seek(0)
    return fmt


def _decode_file(fh: IO[bytes], path: pathlib.Path, fmt: str, mode: str, max_pixels: int,
                 ctx: Ctx) -> Image.Image:
    import struct
    import warnings
    import zlib

    from PIL import Image

    try:
        with warnings.catch_warnings():  # Pillow's own limit warns; ours decides (below)
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(fh, formats=[fmt])  # reads the header only
        with opened:
            if opened.size[0] * opened.size[1] > max_pixels:
                raise _too_many_pixels(path, f"{opened.size[0]} x {opened.size[1]}", max_pixels,
                                       ctx)
            return opened.convert(mode)
    except Image.DecompressionBombError as exc:  # Pillow's own limit, checked on open
        raise ctx.error("E511", f"the image {path} claims too many pixels: {exc}",
                        "shrink the image, or remove it") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, struct.error,
            zlib.error) as exc:
        raise ctx.error("E510", f"cannot read the image {path}: {exc}",
                        "remove or replace the file") from None


def _too_many_pixels(path: pathlib.Path, claim: str, max_pixels: int,
                     ctx: Ctx) -> AespecError:
    """E511 for an image of more pixels than `max_pixels`, found from its header alone (a
    decompression bomb: a few bytes of file can claim gigabytes of pixels)."""
    return ctx.error("E511", f"the image {path} claims {claim} pixels, more than the "
                     f"{max_pixels:,} an image may have here", "shrink the image, or remove it")
