"""Reading and validating plate photographs (PNG, JPEG, TIFF, BMP) as RGB arrays."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from decidua.errors import InputError

#: Largest image accepted (pixels). Phone photographs and plate scans are
#: 0.3-40 megapixels; Pillow warns above ~89 MP and refuses above ~179 MP
#: (its decompression-bomb guard); anything above this is refused with a
#: clear message before it is decoded.
MAX_IMAGE_PIXELS = 100_000_000


def load_image(path: str | Path) -> np.ndarray:
    """Read a PNG / JPEG / TIFF / BMP photograph as an RGB ``uint8`` array, turned as it
    is displayed (its EXIF Orientation applied, as image viewers do).

    Raises
    ------
    InputError
        If the file is missing, not an image, truncated or empty, larger
        than :data:`MAX_IMAGE_PIXELS`, has several pages / frames, or has
        non-finite (NaN / infinite) pixels.

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
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise InputError("image file not found", file=str(p))
    if p.stat().st_size == 0:
        raise InputError("image file is empty (0 bytes)", file=str(p))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                w, h = im.size
                if w * h > MAX_IMAGE_PIXELS:
                    raise InputError(_too_big(w, h), file=str(p))
                frames = int(getattr(im, "n_frames", 1) or 1)
                if frames > 1:
                    raise InputError(
                        f"image has {frames} pages / frames (multi-page TIFF or animation); "
                        "save the plate as a single-page image", file=str(p))
                im.load()
                # a phone stores its pixels as the sensor saw them and says in EXIF
                # Orientation how to turn them for display: count the picture as displayed
                # (well names, overlay and correction coordinates all depend on it)
                arr = _pil_to_rgb8(ImageOps.exif_transpose(im), file=str(p))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"image is too large to decode safely: {exc}", file=str(p)) from None
    except UnidentifiedImageError:
        raise InputError("not an image (PNG, JPEG, TIFF or BMP expected)", file=str(p)) from None
    except MemoryError:
        raise InputError("not enough memory to decode the image", file=str(p)) from None
    except (OSError, SyntaxError, ValueError, TypeError, EOFError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"cannot read image (truncated or corrupt?): {exc}", file=str(p)) from None
    return check_image(arr, file=str(p))


def _too_big(w: int, h: int) -> str:
    return (f"image is too large ({w}x{h} px = {w * h / 1e6:.0f} megapixels; at most "
            f"{MAX_IMAGE_PIXELS / 1e6:.0f} accepted): downsample it first")


def _pil_to_rgb8(im: Any, *, file: str | None = None) -> np.ndarray:
    """Convert a PIL image of any common mode to RGB uint8."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        _check_finite(a, file)
        a = a - min(float(a.min()), 0.0) if a.size else a
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
    if a.shape[0] * a.shape[1] > MAX_IMAGE_PIXELS:
        raise InputError(_too_big(a.shape[1], a.shape[0]), file=file)
    if a.dtype == bool or not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
        raise InputError(f"unsupported pixel type {a.dtype}", file=file)
    if a.dtype != np.uint8:
        af = a.astype(np.float64)
        _check_finite(af, file)
        af = af - min(float(af.min()), 0.0)
        hi = float(af.max()) if af.size else 0.0
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


def _check_finite(a: np.ndarray, file: str | None) -> None:
    bad = int(np.count_nonzero(~np.isfinite(a)))
    if bad:
        raise InputError(f"image has {bad} NaN or infinite pixel value(s)", file=file)
