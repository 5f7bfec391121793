"""Reading and validating plate photographs (PNG, JPEG, TIFF, BMP) as RGB arrays."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from decidua.errors import InputError


def load_image(path: str | Path) -> np.ndarray:
    """Read a PNG / JPEG / TIFF / BMP photograph as an RGB ``uint8`` array.

    Raises
    ------
    InputError
        If the file is missing, not an image, truncated or empty.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import cv2, numpy as np
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "plate.png"
    >>> grid = np.indices((80, 100)).sum(axis=0) % 2 * 255
    >>> _ = cv2.imwrite(str(path), grid.astype(np.uint8))
    >>> load_image(path).shape
    (80, 100, 3)
    >>> load_image(path.with_name("missing.png"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    decidua.errors.InputError: ...missing.png...: image file not found
    """
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise InputError("image file not found", file=str(p))
    if p.stat().st_size == 0:
        raise InputError("image file is empty (0 bytes)", file=str(p))
    try:
        with Image.open(p) as im:
            im.load()
            arr = _pil_to_rgb8(im)
    except UnidentifiedImageError:
        raise InputError("not an image (PNG, JPEG, TIFF or BMP expected)", file=str(p)) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"cannot read image (truncated or corrupt?): {exc}", file=str(p)) from None
    return check_image(arr, file=str(p))


def _pil_to_rgb8(im: Any) -> np.ndarray:
    """Convert a PIL image of any common mode to RGB uint8."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        hi = float(a.max()) if a.size else 0.0
        a = a / hi * 255.0 if hi > 0 else a
        g = np.clip(a, 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


def check_image(image: np.ndarray, *, file: str | None = None) -> np.ndarray:
    """Validate an image array and return it as RGB ``uint8``.

    Raises
    ------
    InputError
        For empty, tiny, blank or wrongly shaped arrays.

    Examples
    --------
    >>> import numpy as np
    >>> grey = (np.arange(100 * 100).reshape(100, 100) % 256).astype(np.uint16)
    >>> check_image(grey).shape, check_image(grey).dtype
    ((100, 100, 3), dtype('uint8'))
    >>> check_image(np.zeros((100, 100), np.uint8))
    Traceback (most recent call last):
    ...
    decidua.errors.InputError: image is blank (no contrast)
    """
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise InputError(f"unsupported image shape {a.shape}", file=file)
    a = a[..., :3]
    if a.shape[0] < 64 or a.shape[1] < 64:
        raise InputError(f"image too small ({a.shape[1]}x{a.shape[0]} px)", file=file)
    if a.dtype != np.uint8:
        af = a.astype(np.float64)
        hi = float(np.nanmax(af)) if af.size else 0.0
        a = np.clip(af / hi * 255.0 if hi > 0 else af, 0, 255).astype(np.uint8)
    if int(a.max()) - int(a.min()) < 8:
        raise InputError("image is blank (no contrast)", file=file)
    return np.ascontiguousarray(a)



def image_sha256(path: str | Path) -> str:
    """SHA-256 of a file (recorded in the sidecar).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "empty.txt"
    >>> _ = path.write_bytes(b"")
    >>> image_sha256(path)[:16]
    'e3b0c44298fc1c14'
    """
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
