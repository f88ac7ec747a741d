"""`data images("folder")`: a folder of PNG or JPEG images, resized to the spec's input.

Images in sub-folders take their class from the sub-folder's name (`cats/`, `dogs/` ->
labels 0, 1 in name order); images directly in the folder have no labels. Each image is
converted to the input's channels (1: grayscale, 3: RGB), resized bilinearly to its height
and width, and scaled to [0, 1]. A folder whose images would not fit in memory (or
`stream=true`) is read on demand: each batch decodes its own files.
"""

from __future__ import annotations

import math
import pathlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aespec.data.base import Ctx, Raw
from aespec.data.lazy import Rows
from aespec.data.mmap import should_map
from aespec.data.sources import ImagesArgs

if TYPE_CHECKING:
    import numpy as np

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
MODES = {1: "L", 3: "RGB"}


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
    if not folder.is_dir():
        raise ctx.error("E501", f"image folder not found: {folder}",
                        "relative paths are read from the spec file's folder")
    return folder


def _is_image(path: pathlib.Path) -> bool:
    return path.is_file() and path.suffix.lower() in EXTENSIONS and not path.name.startswith(".")


def find_images(folder: pathlib.Path, ctx: Ctx
                ) -> tuple[list[pathlib.Path], np.ndarray | None, tuple[str, ...] | None]:
    """The image files in name order; with sub-folders, their labels and class names."""
    import numpy as np

    classes = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    per_class = [(d.name, sorted(p for p in d.rglob("*") if _is_image(p))) for d in classes]
    per_class = [(name, files) for name, files in per_class if files]
    loose = sorted(p for p in folder.iterdir() if _is_image(p))
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
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as opened:
                img = opened.convert(MODES[self.channels])
            if img.size != (self.size[1], self.size[0]):
                img = img.resize((self.size[1], self.size[0]), Image.Resampling.BILINEAR)
            pixels = np.asarray(img, dtype=np.float32)
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise self.ctx.error("E510", f"cannot read the image {path}: {exc}",
                                 "remove or replace the file") from None
        pixels /= np.float32(255)
        return pixels[None] if pixels.ndim == 2 else np.moveaxis(pixels, -1, 0)
