"""Preprocessing steps as data, and the one function that applies them (`apply_steps`).

A dataset records how one sample, as the user holds it, becomes the stored (C, H, W) image:
``DataSplits.steps``, a list of ``{"op": name, **arguments}`` (what each op does: `STEP_OPS`). The
image readers here decode files by applying those very steps, so the ``preprocessing.json`` an export
ships is what training saw, and a server reproduces the network's input with `apply_steps` (or by
reading the steps: they are plain numpy / Pillow calls).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas.data.splits import STEP_OPS, DataError, Step
from nas.errors import one_line

RESIZE_STEP: Step = {  # what `resize` does, as a preprocessing step (its size added)
    "op": "resize",
    "library": "torchvision.transforms.v2.functional.resize, on the uint8 (C, H, W) tensor",
    "interpolation": "bilinear",
    "antialias": True,
}
PIL_RESIZE = "PIL: image.resize((width, height), Image.Resampling.BILINEAR)"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
_RESIZE_CHUNK = 4096  # images resized per call, to bound temporary memory


def image_steps(size: int) -> tuple[Step, ...]:
    """How an image file becomes a uint8 RGB (3, size, size) image: decode (at a reduced JPEG scale where that
    still leaves at least size x size), undo the EXIF rotation, RGB, bilinear resize without keeping aspect."""
    return (
        {"op": "open_image", "library": "PIL", "mode": "RGB", "draft": [size, size], "exif_transpose": True},
        {"op": "resize", "library": PIL_RESIZE, "interpolation": "bilinear", "antialias": True, "size": [size, size]},
        {"op": "to_array", "dtype": "uint8"},
        {"op": "transpose", "axes": [2, 0, 1]},
    )


def read_image(path: Path, size: int) -> np.ndarray:
    """One image file as uint8 RGB (3, size, size) (`image_steps`); a file Pillow cannot read is a DataError
    naming it. Greyscale, palette, RGBA (alpha dropped), CMYK and 16-bit images convert as Pillow converts."""
    from PIL import Image

    try:
        return apply_steps(path, image_steps(size))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise DataError(f"{path}: cannot read image ({one_line(e)})") from e


def apply_steps(sample: Any, steps: Sequence[Step]) -> Any:
    """``sample`` (a file path, an image, an array) after each step in turn; the ops are `STEP_OPS`."""
    x = sample
    for step in steps:
        x = _apply(x, step)
    return x


def _apply(x: Any, step: Step) -> Any:
    op = step.get("op")
    if op == "multiply":
        return np.asarray(x) * step["by"]
    if op == "round":
        return np.rint(x)
    if op == "clip":
        return np.clip(x, step["min"], step["max"])
    if op == "cast":
        return np.asarray(x).astype(step["dtype"])
    if op == "expand_dims":
        return np.expand_dims(x, step["axis"])
    if op == "transpose":
        return np.asarray(x).transpose(step["axes"])
    if op == "open_image":
        return _open_image(x, step)
    if op == "resize":
        return _resize_one(x, step)
    if op == "to_array":
        return np.asarray(x, dtype=step.get("dtype"))
    if op == "normalize":
        x = np.asarray(x)
        shape = [1] * x.ndim
        shape[step.get("axis", 0)] = -1
        mean = np.asarray(step["mean"], dtype=np.float32).reshape(shape)
        std = np.asarray(step["std"], dtype=np.float32).reshape(shape)
        return ((x - mean) / std).astype(np.float32)
    raise DataError(f"unknown preprocessing op {op!r}; known: {', '.join(STEP_OPS)}")


def _open_image(path: Any, step: Step) -> Any:
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        mode = step.get("mode", "RGB")
        if step.get("draft") and im.format == "JPEG":
            h, w = step["draft"]
            im.draft(mode, (w, h))  # DCT scaling by 1/2, 1/4 or 1/8 while both sides stay >= the asked size
        if step.get("exif_transpose"):
            im = ImageOps.exif_transpose(im)
        out = im.convert(mode)
        out.load()
        return out


def _resize_one(x: Any, step: Step) -> Any:
    h, w = step["size"]
    if hasattr(x, "resize") and hasattr(x, "getbands"):  # a PIL image
        from PIL import Image

        return x.resize((w, h), Image.Resampling.BILINEAR)
    return resize(np.asarray(x)[None], h, w)[0]


def resize(x: np.ndarray, height: int, width: int | None = None) -> np.ndarray:
    """Bilinear (antialiased) resize of uint8 images (N, C, H, W) to height x width, in chunks (`RESIZE_STEP`)."""
    from torchvision.transforms.v2 import functional as F

    width = height if width is None else width
    out = np.empty((len(x), x.shape[1], height, width), dtype=np.uint8)
    for i in range(0, len(x), _RESIZE_CHUNK):
        chunk = torch.from_numpy(np.require(x[i : i + _RESIZE_CHUNK], requirements=("C", "W")))  # (IDX: read-only)
        out[i : i + _RESIZE_CHUNK] = F.resize(chunk, [height, width], antialias=True).numpy()
    return out
