"""Image and mask files, read with Pillow under the byte and pixel caps (the layout of an image as a
matrix is in images.py, which needs no Pillow)."""
from __future__ import annotations

import io
import warnings

import numpy as np

try:
    from PIL import Image, ImageOps, UnidentifiedImageError
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError("reading and writing images needs Pillow: pip install 'wlra_core[app]' "
                      "(or pip install pillow)") from exc

from .. import limits
from ..problem import InputError
from .sources import _DECODE_ERRORS, Source, _binary_kind, _read_source

_IMAGE_FORMATS = "an image file (PNG, JPEG, GIF, TIFF, BMP or WebP)"
# The Pillow formats read (a phone's multi-picture JPEG opens as JPEG). Others (EPS, ICO, PSD, ...) are
# refused by name: some need outside programs (EPS asks for Ghostscript) and none is expected.
_PILLOW_FORMATS = ("PNG", "JPEG", "GIF", "TIFF", "BMP", "DIB", "WEBP")
Image.init()  # register every plugin, so that the refusals can name the rest


def _check_pixels(max_pixels) -> None:
    if max_pixels is not None and (isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer))
                                   or max_pixels < 1):
        raise InputError(f"max_pixels: found {max_pixels!r}, need a positive integer or None")


def _not_an_image(data: bytes, what: str) -> InputError:
    """The message for bytes none of the accepted formats reads, naming the format if Pillow knows it."""
    try:
        with Image.open(io.BytesIO(data)) as other:  # the header only: nothing is decoded
            kind = other.format
    except Exception:  # anything Pillow cannot even identify
        kind = None
    if kind:
        return InputError(f"{what}: found an image in {kind} format, which this loader does not read; need "
                          f"{_IMAGE_FORMATS} (convert it first)")
    known = _binary_kind(data)
    if known:
        return InputError(f"{what}: found {known[0]}, need {_IMAGE_FORMATS}; {known[1]}")
    start = data.lstrip()[:5].lower()
    if start.startswith((b"<svg", b"<?xml")):
        return InputError(f"{what}: found an SVG or XML file (a vector drawing, not pixels), need "
                          f"{_IMAGE_FORMATS} (export it as PNG first)")
    return InputError(f"{what}: found {len(data)} bytes that are not an image Pillow can read "
                      f"(starting {data[:16]!r}), need {_IMAGE_FORMATS}")


def _check_declared_pixels(img: Image.Image, size: int, what: str) -> None:
    """Refuse a PNG whose header declares more pixels than its file can hold, before Pillow
    allocates them: a row takes at least 1 + w/8 bytes (a filter byte, 1 bit per pixel) and deflate
    expands at most 1032:1 (RFC 1951's longest match, 258 bytes, in 2 bits)."""
    if img.format != "PNG":
        return
    w, h = img.size
    least = h * (1 + (w + 7) // 8) // 1032
    if size < least:
        raise InputError(f"{what}: found a PNG header declaring {w:,}×{h:,} pixels in a file of {size:,} "
                         f"bytes, which cannot hold them (it needs at least {least:,}); need a complete "
                         "image file")


def _open_image(data: bytes, what: str, max_pixels: int | None = limits.MAX_IMAGE_PIXELS) -> Image.Image:
    """Decode the first frame of an image, with its EXIF orientation applied.

    Pillow's decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``) is respected: an image above
    it (warning or error level) is refused. So is an image above ``max_pixels``, from the size in
    its header, before anything is decoded.
    """
    if not data:
        raise InputError(f"{what}: found an empty file (0 bytes), need {_IMAGE_FORMATS}")
    limit = Image.MAX_IMAGE_PIXELS
    bomb = (f"{what}: found an image too large to decode safely (more than Pillow's limit of "
            f"{limit:,} pixels, Image.MAX_IMAGE_PIXELS); need a smaller image: downsize it first"
            if limit else "")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS)
            if limit and img.size[0] * img.size[1] > limit:
                raise InputError(f"{bomb} (found {img.size[0]}×{img.size[1]})")
            if max_pixels is not None and img.size[0] * img.size[1] > max_pixels:
                raise InputError(f"{what}: found a {img.size[0]:,}×{img.size[1]:,} image "
                                 f"({img.size[0] * img.size[1]:,} pixels), need at most {max_pixels:,} "
                                 "pixels (the size cap of one image, wlra_core.limits); downsize it first")
            _check_declared_pixels(img, len(data), what)
            img.load()  # the first frame; animated images are not advanced
            return ImageOps.exif_transpose(img)
    except InputError:  # a ValueError: keep it from the handler for damaged data below
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(bomb) from None
    except UnidentifiedImageError:
        raise _not_an_image(data, what) from None
    except _DECODE_ERRORS as exc:
        raise InputError(f"{what}: the image data is damaged or truncated ({exc}); need a "
                         "complete image file") from None


def _int_pixels(img: Image.Image, what: str) -> np.ndarray:
    """Grey levels of a 16-bit ("I;16*") or 32-bit integer ("I") image, scaled by 65535."""
    arr = np.asarray(img)
    if arr.size and (arr.min() < 0 or arr.max() > 65535):
        raise InputError(f"{what}: found integer pixels in [{arr.min()}, {arr.max()}], need "
                         "8- or 16-bit values (0..65535); convert the image to 16 bits first")
    return arr.astype(np.float64) / 65535.0


def _float_pixels(img: Image.Image, what: str) -> np.ndarray:
    """Grey levels of a floating-point ("F") image, which must already lie in [0, 1]."""
    arr = np.asarray(img, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or (arr.size and (arr.min() < 0 or arr.max() > 1)):
        raise InputError(f"{what}: found floating-point pixels outside [0, 1] or not finite, need "
                         "values in [0, 1]")
    return arr


def _normalise_mode(img: Image.Image, what: str) -> Image.Image:
    """Convert to one of L, LA, RGB, RGBA, or F (grey in [0, 1], for 16/32-bit images)."""
    mode = img.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return img
    if mode.startswith("I;16") or mode == "I":
        return Image.fromarray(_int_pixels(img, what).astype(np.float32))
    if mode == "F":
        return Image.fromarray(_float_pixels(img, what).astype(np.float32))
    if mode == "P":
        has_alpha = "transparency" in img.info or (img.palette is not None and img.palette.mode == "RGBA")
        return img.convert("RGBA" if has_alpha else "RGB")
    conversions = {"1": "L", "La": "LA", "PA": "RGBA", "RGBa": "RGBA", "RGBX": "RGB"}
    try:
        return img.convert(conversions.get(mode, "RGB"))  # CMYK, YCbCr, HSV, ... -> RGB
    except _DECODE_ERRORS as exc:
        raise InputError(f"{what}: found image mode {mode!r} that cannot be converted ({exc}); "
                         "need a grey, RGB, palette or CMYK image") from None


def _scaled_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    w, h = size
    scale = max_side / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def load_image(src: Source, max_side: int | None = None, *, max_bytes: int | None = limits.MAX_FILE_BYTES,
               max_pixels: int | None = limits.MAX_IMAGE_PIXELS) -> np.ndarray:
    """Load an image as float64 in [0, 1]: shape (h, w) for grey, (h, w, 3) for colour.

    * The EXIF orientation tag is applied (a phone photo comes out upright).
    * Animated images (GIF, APNG, WebP): the first frame only.
    * Modes: 1 and L are grey; 16-bit grey ("I;16") and 32-bit integer ("I") are divided by
      65535 (the full 16-bit range, not the image's own maximum; "I" values outside 0..65535 are
      refused); float ("F") must lie in [0, 1]; palette ("P") becomes grey when every colour in it
      is grey, RGB otherwise; CMYK, YCbCr and other colour modes become RGB.
    * Transparency (LA, RGBA, PA, palette with a transparent colour) is dropped by compositing the
      image on white: a fully transparent pixel reads as 1.0.
    * ``max_side``: when the longer side exceeds it, the image is downsized (Lanczos after box
      reduction, Pillow's ``reducing_gap=3``) to that length, keeping the aspect ratio; smaller
      images are never enlarged.
    * Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``) applies and is never
      disabled: larger images are refused with an InputError.
    * Size caps (wlra_core.limits): a file above ``max_bytes`` or an image above ``max_pixels``
      (read from its header) is refused before it is decoded; None lifts a cap.

    Raises InputError on an empty, truncated or unreadable file, or on a bad ``max_side``.
    """
    if max_side is not None and (isinstance(max_side, bool) or not isinstance(max_side, (int, np.integer))
                                 or max_side < 1):
        raise InputError(f"max_side: found {max_side!r}, need a positive integer or None")
    _check_pixels(max_pixels)
    data, _ = _read_source(src, "image", max_bytes)
    img = _open_image(data, "image", max_pixels)
    palette = img.mode in ("P", "PA")
    img = _normalise_mode(img, "image")
    if max_side is not None and max(img.size) > max_side:
        img = img.resize(_scaled_size(img.size, int(max_side)), Image.Resampling.LANCZOS,
                         reducing_gap=3.0)
    arr = np.asarray(img, dtype=np.float64)
    if img.mode != "F":
        arr = arr / 255.0
    if img.mode in ("LA", "RGBA"):
        alpha = arr[..., -1:]
        arr = arr[..., :-1] * alpha + (1.0 - alpha)
        if img.mode == "LA":
            arr = arr[..., 0]
    if arr.ndim == 3 and palette and np.array_equal(arr[..., 0], arr[..., 1]) \
            and np.array_equal(arr[..., 0], arr[..., 2]):
        arr = arr[..., 0]
    return np.ascontiguousarray(np.clip(arr, 0.0, 1.0))


def image_size(src: Source, *, max_bytes: int | None = limits.MAX_FILE_BYTES) -> tuple[int, int]:
    """(height, width) of an image as :func:`load_image` would return it (EXIF orientation
    applied), read from the file's header: nothing is decoded, whatever the image's size.

    Raises InputError on an empty or unreadable file or one above ``max_bytes``."""
    data, _ = _read_source(src, "image", max_bytes)
    if not data:
        raise InputError(f"image: found an empty file (0 bytes), need {_IMAGE_FORMATS}")
    try:
        with Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS) as img:
            w, h = img.size
            # EXIF Orientation (5-8 swap the sides). A PNG keeps EXIF in an eXIf chunk, which
            # Pillow finds only by decoding when the chunk follows the pixels: look only if it has one.
            has_exif = img.format != "PNG" or (b"eXIf" in data and w * h <= limits.MAX_IMAGE_PIXELS)
            orientation = img.getexif().get(0x0112, 1) if has_exif else 1
    except UnidentifiedImageError:
        raise _not_an_image(data, "image") from None
    except _DECODE_ERRORS as exc:
        raise InputError(f"image: the image header is damaged ({exc}); need a complete image file") from None
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


def _grey_and_alpha(img: Image.Image, what: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Grey level in [0, 1] (ITU-R 601 luma for colour) and alpha in [0, 1] (None if absent)."""
    mode = img.mode
    if mode.startswith("I;16") or mode == "I":
        return _int_pixels(img, what), None
    if mode == "F":
        return _float_pixels(img, what), None
    img = _normalise_mode(img, what)
    arr = np.asarray(img, dtype=np.float64) / 255.0
    alpha = None
    if img.mode in ("LA", "RGBA"):
        arr, alpha = arr[..., :-1], arr[..., -1]
    if arr.ndim == 3:
        if arr.shape[2] == 1:
            arr = arr[..., 0]
        elif np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 0], arr[..., 2]):
            arr = arr[..., 0]
        else:
            arr = arr @ np.array([0.299, 0.587, 0.114])
    return arr, alpha


def load_mask(src: Source, shape: tuple[int, ...], *, max_bytes: int | None = limits.MAX_FILE_BYTES,
              max_pixels: int | None = limits.MAX_IMAGE_PIXELS) -> np.ndarray:
    """Load a weight mask: float64 weights in [0, 1] of shape ``shape[:2]`` (the image's h, w).

    Which channel carries the weight:

    * no alpha channel, or a constant alpha: the grey level (level / 255 for 8 bits, / 65535 for
      16 bits; colour is reduced to its ITU-R 601 luma), so graded weights are allowed;
    * a constant colour with a varying alpha (an "alpha-only" mask, e.g. strokes painted on a
      transparent canvas): the alpha;
    * both varying: grey level × alpha (the mask composited on black: transparent means 0).

    The EXIF orientation is applied before the size check, as for :func:`load_image`.
    Raises InputError when the mask's size differs from ``shape[:2]`` (naming both) or the file
    is not a readable image.
    """
    try:
        h, w = (int(s) for s in tuple(shape)[:2])
        if len(tuple(shape)) < 2 or h < 1 or w < 1:
            raise ValueError
    except (TypeError, ValueError):
        raise InputError(f"shape: found {shape!r}, need the image's shape (h, w) or (h, w, 3)") from None
    _check_pixels(max_pixels)
    data, _ = _read_source(src, "mask", max_bytes)
    img = _open_image(data, "mask", max_pixels)
    if (img.size[1], img.size[0]) != (h, w):
        raise InputError(f"mask: found shape ({img.size[1]}, {img.size[0]}), need the image's "
                         f"shape ({h}, {w}); resize the mask to the image")
    grey, alpha = _grey_and_alpha(img, "mask")
    if alpha is not None and np.ptp(alpha) > 0:
        weights = alpha if np.ptp(grey) == 0 else grey * alpha
    else:
        weights = grey
    return np.ascontiguousarray(np.clip(weights, 0.0, 1.0), dtype=np.float64)
