"""Loaders for images, masks, rating files and matrices, and synthetic problem generators.

Every loader takes a path (``str`` or ``os.PathLike``), ``bytes`` or a binary file-like object
(anything with ``.read()`` returning bytes, such as Streamlit's ``UploadedFile``; it is read from
its current position).  Bad content raises :class:`~wlra_core.problem.InputError` whose message
names the input, what was found and what is needed; raw Pillow, NumPy or pandas exceptions never
escape a loader.

Conventions
-----------
* Images are float64 arrays in [0, 1]: ``(h, w)`` for grey, ``(h, w, 3)`` for colour.
* A colour image becomes the matrix ``(h, 3w)`` with its channels side by side ``[R | G | B]``
  (:func:`image_to_matrix`); a mask ``(h, w)`` becomes weights in the same layout
  (:func:`mask_to_weights`).
* Rating files become sparse CSR matrices M (ratings) and W (1.0 at every observed pair) with the
  same sparsity structure.
* Generators draw from ``np.random.default_rng(seed)`` only; the same seed gives the same data.
"""
from __future__ import annotations

import csv
import io
import math
import os
import re
import stat
import warnings
from pathlib import Path
from typing import BinaryIO, NamedTuple, Union

import numpy as np
import pandas as pd
import scipy.sparse as sp
from PIL import Image, ImageOps, UnidentifiedImageError

from . import limits
from .problem import InputError

__all__ = [
    "Planted",
    "Ratings",
    "PATTERNS",
    "DUPLICATE_POLICIES",
    "load_image",
    "image_size",
    "load_mask",
    "load_ratings",
    "load_matrix",
    "matrix_problem",
    "image_to_matrix",
    "matrix_to_image",
    "mask_to_weights",
    "planted",
    "make_ratings",
]

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]

PATTERNS = ("bernoulli", "graded", "blocks", "heavy_tailed", "full")
DUPLICATE_POLICIES = ("mean", "last", "error")

_IMAGE_FORMATS = "an image file (PNG, JPEG, GIF, TIFF, BMP or WebP)"
# The Pillow formats read (a phone's multi-picture JPEG opens as JPEG). Others (EPS, ICO, PSD, ...) are
# refused by name: some need outside programs (EPS asks for Ghostscript) and none is expected.
_PILLOW_FORMATS = ("PNG", "JPEG", "GIF", "TIFF", "BMP", "DIB", "WEBP")
Image.init()  # register every plugin, so that the refusals can name the rest
# Exceptions Pillow, NumPy, pandas and SciPy raise on damaged input; converted to InputError.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError,
                  KeyError, OverflowError, MemoryError, RuntimeError)
# Confidence weights of the "heavy_tailed" pattern: 1 + alpha * log(1 + count).
_CONFIDENCE_ALPHA = 1.0
# planted(sparse=True) returns truth=None above this many entries (n * m), see its docstring.
_DENSE_TRUTH_LIMIT = 2**24
# Entries processed at a time when evaluating U V^T at a list of positions.
_CHUNK = 2**18


# --------------------------------------------------------------------------------------------
# Reading sources
# --------------------------------------------------------------------------------------------

def _too_large(what: str, found: int, max_bytes: int, *, at_least: bool = False) -> InputError:
    size = f"{'more than ' if at_least else ''}{found / 2**20:.1f} MB"
    return InputError(f"{what}: found a file of {size}, need at most "
                      f"{max_bytes / 2**20:g} MB (the size cap of one file, max_bytes); "
                      "use a smaller file")


def _read_source(src: Source, what: str, max_bytes: int | None = limits.MAX_FILE_BYTES) -> tuple[bytes, str | None]:
    """Return the raw bytes of ``src`` and its file name (None when it has none).

    A source above ``max_bytes`` is refused without reading it whole (a path by its size on disk,
    a file object by reading one byte past the cap)."""
    if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer))
                                  or max_bytes < 1):
        raise InputError(f"max_bytes: found {max_bytes!r}, need a positive integer or None")
    if isinstance(src, (bytes, bytearray, memoryview)):
        if max_bytes is not None and len(src) > max_bytes:
            raise _too_large(what, len(src), max_bytes)
        return bytes(src), None
    if isinstance(src, (str, os.PathLike)):
        path = Path(src)
        try:
            # A device or a pipe reports size 0 and may never end (/dev/zero) or block (a FIFO):
            # the file is opened without blocking and read only if it is a regular file, and the
            # read itself is capped, since a regular file can under-report its size (/proc files).
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
            try:
                info = os.fstat(fd)
                if stat.S_ISDIR(info.st_mode):
                    raise IsADirectoryError
                if not stat.S_ISREG(info.st_mode):
                    raise InputError(f"{what}: found {_file_kind(info.st_mode)} at {str(path)!r}, need a "
                                     "regular file (save the data to a file first)")
                if max_bytes is not None and info.st_size > max_bytes:
                    raise _too_large(what, info.st_size, max_bytes)
                with open(fd, "rb", closefd=False) as handle:
                    data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
            finally:
                os.close(fd)
        except FileNotFoundError:
            raise InputError(f"{what}: found no file at {str(path)!r}, need an existing file") from None
        except IsADirectoryError:
            raise InputError(f"{what}: found a directory at {str(path)!r}, need a file") from None
        except OSError as exc:
            raise InputError(f"{what}: could not read {str(path)!r} ({exc}), need a readable file") from None
        if max_bytes is not None and len(data) > max_bytes:
            raise _too_large(what, len(data), max_bytes, at_least=True)
        return data, path.name
    read = getattr(src, "read", None)
    if callable(read):
        data = read() if max_bytes is None else read(max_bytes + 1)
        if isinstance(data, str):
            raise InputError(f"{what}: found a text-mode file object, need a binary one "
                             "(open the file with mode 'rb')")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InputError(f"{what}: .read() returned {type(data).__name__}, need bytes")
        if max_bytes is not None and len(data) > max_bytes:
            raise _too_large(what, len(data), max_bytes, at_least=True)
        name = getattr(src, "name", None)
        return bytes(data), (Path(name).name if isinstance(name, str) else None)
    raise InputError(f"{what}: found {type(src).__name__}, need a path, bytes or a binary file object")


def _file_kind(mode: int) -> str:
    """What a non-regular file is, in words, for messages."""
    for test, kind in ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "a file that is not a regular file"


def _check_entries(what: str, count: int, described: str, max_entries: int | None) -> None:
    """Refuse data that would hold more than ``max_entries`` entries, before it is allocated."""
    if max_entries is not None and count > max_entries:
        raise InputError(f"{what}: found {described}, need at most {max_entries:,} entries (the size "
                         "cap of one problem, max_entries); use a smaller problem")


# Files users hand to a text loader by mistake, known by their first bytes: (pattern at the
# start, what it is, what to do instead). Patterns long enough that no text file starts so.
_BINARY_KINDS = tuple((re.compile(pattern, re.S), kind, instead) for pattern, kind, instead in (
    (rb"PK\x03\x04", "a ZIP archive (an .npz, .xlsx or .zip file)",
     "save the sheet as CSV, or the array with numpy.save (.npy)"),
    (rb"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (.xls)", "save the sheet as CSV"),
    (rb"\x1f\x8b\x08", "a gzip-compressed file", "decompress it first (gunzip)"),
    (rb"BZh[1-9]1AY&SY", "a bzip2-compressed file", "decompress it first"),
    (rb"\xfd7zXZ\x00", "an xz-compressed file", "decompress it first"),
    (rb"\x89HDF\r\n\x1a\n", "an HDF5 file", "export the matrix as .npy or CSV"),
    (rb"PAR1.*PAR1\Z", "a Parquet file", "export the table as CSV"),
    (rb"MATLAB 5\.0 MAT-file", "a MATLAB .mat file", "export the matrix as CSV (writematrix) or .npy"),
    (rb"%PDF-\d", "a PDF document", "export the data as CSV"),
    (rb"\x93NUMPY", "a NumPy .npy array", "give it to the matrix loader, named .npy"),
    (rb"\x89PNG\r\n", "an image (PNG)", "give images to the image loader"),
    (rb"\xff\xd8\xff", "an image (JPEG)", "give images to the image loader"),
    (rb"GIF8[79]a", "an image (GIF)", "give images to the image loader"),
    (rb"....ftyp(heic|heix|hevc|hevx|heim|heis|mif1|msf1)", "an HEIC/HEIF image (as phones save photos)",
     "convert it to JPEG or PNG first"),
))


def _binary_kind(data: bytes) -> tuple[str, str] | None:
    for pattern, kind, instead in _BINARY_KINDS:
        if pattern.match(data):
            return kind, instead
    return None


def _utf16_without_bom(head: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' when every other byte is NUL, as in ASCII text saved as UTF-16."""
    if len(head) < 4:
        return None
    odd, even = head[1::2], head[0::2]
    if odd.count(0) >= 0.9 * len(odd) and even.count(0) == 0:
        return "utf-16-le"
    if even.count(0) >= 0.9 * len(even) and odd.count(0) == 0:
        return "utf-16-be"
    return None


def _decode_text(data: bytes, what: str, *, strict: bool, need: str = "a text file") -> str:
    """Decode a text file: UTF-8 (with or without BOM) or UTF-16 (as Excel and Notepad save
    "Unicode text"); Latin-1 as a fallback unless ``strict``."""
    known = _binary_kind(data)
    if known:
        raise InputError(f"{what}: found {known[0]}, need {need}; {known[1]}")
    head = data[:4096]
    encoding = "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else _utf16_without_bom(head)
    if encoding:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            raise InputError(f"{what}: found bytes that are not UTF-8 text nor complete UTF-16 text, "
                             "need a UTF-8 text file") from None
    if b"\x00" in head:
        raise InputError(f"{what}: found binary data (NUL bytes in the first {len(head):,}), need a "
                         "text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        if strict:
            raise InputError(f"{what}: found bytes that are not UTF-8 text, need a UTF-8 text file") from None
        return data.decode("latin-1")


def _first_line(text: str, *, tabs_are_data: bool = False) -> tuple[int, str] | None:
    """The 1-based number and content of the first non-blank line, or None. With
    ``tabs_are_data`` a line of tabs is not blank: it is a row of empty cells of a TSV file."""
    blank = " \r\n\f\v" if tabs_are_data else None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip(blank):
            return number, line
    return None


def _nonblank_line_number(text: str, row: int) -> int:
    """1-based file line number of the ``row``-th (0-based) non-blank line; for error messages."""
    seen = -1
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            seen += 1
            if seen == row:
                return number
    return -1


# What pandas reads as a missing value (its default na_values), compared in lower case.
_MISSING = {"", "#n/a", "#n/a n/a", "#na", "-1.#ind", "-1.#qnan", "-nan", "1.#ind", "1.#qnan", "<na>",
            "n/a", "na", "null", "nan", "none"}
_DECIMAL_COMMA = re.compile(r"[+-]?(\d+,\d*|,\d+)([eE][+-]?\d+)?")


def _sniff_separator(line: str) -> str | None:
    """The field separator of a delimited text line; None means runs of whitespace.

    Quoted fields are ignored ("Smith, J" is one id). A semicolon wins over a comma: in a
    semicolon-separated file a comma is a decimal comma (1,5 = 1.5), as spreadsheets write it."""
    bare = re.sub(r'"[^"]*"', "", line)
    for sep in ("\t", ";", ","):
        if sep in bare:
            return sep
    return None


def _fields(lines: list[str], sep: str | None):
    """The fields of each line, quotes honoured; ``sep`` None splits at runs of spaces."""
    if sep is None:
        return csv.reader((ln.strip() for ln in lines), delimiter=" ", skipinitialspace=True)
    return csv.reader(lines, delimiter=sep, skipinitialspace=True)


def _split(line: str, sep: str | None) -> list[str]:
    return [f.strip() for f in next(_fields([line], sep), [])]


def _is_number(text: str, decimal_comma: bool = False) -> bool:
    if decimal_comma and _DECIMAL_COMMA.fullmatch(text.strip()):
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_header(fields: list[str], decimal_comma: bool) -> bool:
    """A first line is a header when it holds names only: no number and no missing-value mark
    (a first row "NA, 2, 3" is data with a missing entry, never a header to drop)."""
    named = [f for f in fields if f]
    return bool(named) and not any(_is_number(f, decimal_comma) or f.lower() in _MISSING for f in named)


def _numbers(column: pd.Series, decimal_comma: bool) -> np.ndarray:
    """A column of strings as float64, NaN where a field is not a number."""
    if decimal_comma:
        column = column.where(~column.str.fullmatch(_DECIMAL_COMMA.pattern), column.str.replace(",", "."))
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)


def _read_table(text: str, sep: str | None, what: str, empty: str, **kwargs) -> pd.DataFrame:
    """pandas.read_csv on ``text``; parser errors become InputError, no data the message ``empty``."""
    try:
        return pd.read_csv(io.StringIO(text), sep=sep if sep else r"\s+", header=None,
                           engine="c", skip_blank_lines=True, skipinitialspace=True, **kwargs)
    except pd.errors.EmptyDataError:
        raise InputError(empty) from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(f"{what}: could not parse the file ({str(exc).strip()}); need the same "
                         "number of separated values on every line") from None


# --------------------------------------------------------------------------------------------
# Images and masks
# --------------------------------------------------------------------------------------------

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


def _check_image_array(img: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(img)
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)) or arr.size == 0:
        raise InputError(f"{name}: found an array of shape {arr.shape}, need (h, w) for grey or "
                         "(h, w, 3) for colour")
    return arr


def image_to_matrix(img: np.ndarray) -> np.ndarray:
    """The matrix of an image: grey (h, w) is copied; colour (h, w, 3) becomes (h, 3w) = [R | G | B]."""
    arr = _check_image_array(img, "img")
    if arr.ndim == 2:
        return np.array(arr, dtype=np.float64, copy=True)
    return np.concatenate([arr[..., c] for c in range(3)], axis=1).astype(np.float64, copy=False)


def matrix_to_image(mat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`image_to_matrix`, clipped to [0, 1]: (h, w) or (h, 3w) -> ``shape``."""
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] != 3):
        raise InputError(f"shape: found {shape}, need (h, w) for grey or (h, w, 3) for colour")
    mat = np.asarray(mat, dtype=np.float64)
    h, w = shape[:2]
    need = (h, w) if len(shape) == 2 else (h, 3 * w)
    if mat.shape != need:
        raise InputError(f"mat: found shape {mat.shape}, need {need} for an image of shape {shape}")
    if len(shape) == 2:
        out = mat.copy()
    else:
        out = np.stack([mat[:, c * w:(c + 1) * w] for c in range(3)], axis=2)
    return np.clip(out, 0.0, 1.0)


def mask_to_weights(mask: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """Weights in the matrix layout of :func:`image_to_matrix`: the (h, w) mask, tiled ×3 for colour."""
    image_shape = tuple(int(s) for s in image_shape)
    if len(image_shape) not in (2, 3) or (len(image_shape) == 3 and image_shape[2] != 3):
        raise InputError(f"image_shape: found {image_shape}, need (h, w) or (h, w, 3)")
    mask = np.asarray(mask, dtype=np.float64)
    if mask.shape != image_shape[:2]:
        raise InputError(f"mask: found shape {mask.shape}, need the image's shape {image_shape[:2]}")
    if len(image_shape) == 2:
        return mask.copy()
    return np.tile(mask, (1, 3))


def _resolve_duplicates(keys: np.ndarray, values: np.ndarray, policy: str, what: str, *, unit: str,
                        example) -> tuple[np.ndarray, np.ndarray, int]:
    """One value per position: (sorted unique keys, their values, positions given more than once).

    The one rule for entries given twice, in rating files and Matrix Market files alike: ``policy``
    "mean" averages them, "last" keeps the one nearest the end of the file, "error" refuses the
    file naming one of them (``example(key, count)`` describes it)."""
    if keys.size == 0:
        return keys, values, 0
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    counts = np.diff(np.r_[starts, keys.size])
    repeated = int(np.count_nonzero(counts > 1))
    if repeated and policy == "error":
        first = np.flatnonzero(counts > 1)[0]
        raise InputError(f"{what}: found {repeated} {unit} given more than once, e.g. "
                         f"{example(keys[starts[first]], counts[first])}; need each once, or "
                         "duplicates='mean' or 'last'")
    if policy == "mean":
        combined = np.add.reduceat(values, starts) / counts
    else:  # "last": the stable sort keeps file order within a position
        combined = values[starts + counts - 1]
    return keys[starts], combined, repeated


def _csr_from_keys(keys: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """CSR from sorted unique row-major keys (row·m + column), without a dense intermediate."""
    n, m = shape
    index_dtype = np.int32 if max(n, m, keys.size) < 2**31 - 1 else np.int64
    indices = (keys % m).astype(index_dtype)
    indptr = np.r_[0, np.cumsum(np.bincount(keys // m, minlength=n))].astype(index_dtype)
    return sp.csr_matrix((values.astype(np.float64), indices, indptr), shape=shape)


# --------------------------------------------------------------------------------------------
# Ratings
# --------------------------------------------------------------------------------------------

class Ratings(NamedTuple):
    """A rating matrix: M holds the ratings, W = 1.0 at every observed (user, item) pair.

    M and W are n_users × n_items ``scipy.sparse.csr_matrix`` (float64) with the same sparsity
    structure; ``users`` and ``items`` are the original ids in row and column order;
    ``duplicates`` counts the (user, item) pairs that appeared more than once in the file.
    """
    M: sp.csr_matrix
    W: sp.csr_matrix
    users: np.ndarray
    items: np.ndarray
    duplicates: int


_USER_NAMES = {"user", "userid", "uid", "users", "customer", "customerid", "reviewer", "reviewerid"}
_ITEM_NAMES = {"item", "itemid", "iid", "items", "movie", "movieid", "product", "productid",
               "asin", "isbn", "book", "bookid"}
_RATING_NAMES = {"rating", "ratings", "score", "stars", "value", "bookrating"}


def _header_column(names: list[str], wanted: set[str]) -> int | None:
    keys = [n.lower().replace("_", "").replace("-", "").replace(" ", "").strip("\"'") for n in names]
    for index, key in enumerate(keys):
        if key in wanted:
            return index
    return None


def _ids(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes (0-based, in sorted id order) and the sorted unique ids.

    Ids that are all plain integers (written without leading zeros or "+") are compared as
    integers and returned as int64; anything else is kept as strings and sorted as strings.
    Only the distinct ids are examined, so this costs one hash pass over the column.
    """
    codes, uniques = pd.factorize(column)
    ids = np.asarray(uniques, dtype=str)
    as_number = pd.to_numeric(pd.Series(ids), errors="coerce").to_numpy()
    if not np.isnan(as_number).any() and np.all(np.abs(as_number) < 2**53) \
            and np.all(as_number == np.round(as_number)):
        ints = as_number.astype(np.int64)
        if np.array_equal(ints.astype(str), ids):
            ids = ints
    order = np.argsort(ids, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[codes], ids[order]


def load_ratings(src: Source, *, duplicates: str = "mean", max_bytes: int | None = limits.MAX_FILE_BYTES,
                 max_entries: int | None = limits.MAX_ENTRIES) -> Ratings:
    """Load (user, item, rating) triplets into sparse M and W (see :class:`Ratings`).

    Formats, detected from the content:

    * MovieLens 100k ``u.data``: tab-separated ``user item rating timestamp``, no header;
    * MovieLens ``ratings.csv``: ``userId,movieId,rating,timestamp`` with a header;
    * MovieLens 1M/10M ``ratings.dat``: ``user::item::rating::timestamp``;
    * generic CSV / TSV / semicolon- or whitespace-separated triplets ``user, item, rating`` with
      an optional fourth column, with or without a header.

    The first non-blank line is a header when its rating field is not a number.  With a header
    that names the user, item and rating columns (``userId``, ``movie_id``, ``rating``, ...) those
    columns are used and others ignored; otherwise there must be 3 or 4 columns, in the order
    user, item, rating[, timestamp].  Ids may be any strings; ids that are all integers sort
    numerically (MovieLens user 1 is row 0), others sort as strings.

    ``duplicates`` says what a (user, item) pair given more than once means: ``"mean"`` (default)
    averages its ratings, ``"last"`` keeps the one nearest the end of the file, ``"error"``
    raises InputError.  ``Ratings.duplicates`` reports how many pairs were repeated.

    A rating of 0 is kept as an explicitly stored entry of M (its W is 1).
    Size caps (wlra_core.limits): a file above ``max_bytes``, or with more lines than
    ``max_entries`` (each line is at most one rating), is refused before it is parsed.

    Raises InputError on an empty or header-only file, a wrong column count, an empty id, a
    non-numeric or non-finite rating, or duplicates under ``"error"``.
    """
    if duplicates not in DUPLICATE_POLICIES:
        raise InputError(f"duplicates: found {duplicates!r}, need one of {DUPLICATE_POLICIES}")
    need = "lines 'user, item, rating[, timestamp]'"
    data, _ = _read_source(src, "ratings", max_bytes)
    text = _decode_text(data, "ratings", strict=False,
                        need="a text file of lines 'user, item, rating[, timestamp]'")
    first = _first_line(text)
    if first is None:
        raise InputError(f"ratings: found an empty file, need {need}")
    lines = text.count("\n") + (not text.endswith("\n"))
    _check_entries("ratings", lines, f"{lines:,} lines (up to one rating each)", max_entries)
    first_number, line = first
    if "::" in line:
        text = text.replace("::", "\t")
        line = line.replace("::", "\t")
    sep = _sniff_separator(line)
    decimal_comma = sep == ";"
    fields = _split(line, sep)
    found = [_header_column(fields, names) for names in (_USER_NAMES, _ITEM_NAMES, _RATING_NAMES)]
    columns = found if None not in found else None
    header = columns is not None or _is_header(fields, decimal_comma)
    if len(fields) not in (3, 4) and columns is None:
        raise InputError(f"ratings: found {len(fields)} column(s) on line {first_number}, need 3 "
                         "(user, item, rating) or 4 (user, item, rating, timestamp)")
    columns = columns or [0, 1, 2]
    table = _read_table(text, sep, "ratings",
                        f"ratings: found only a header line, need at least one rating ({need})",
                        dtype=str, keep_default_na=False, na_filter=False,
                        skiprows=first_number if header else first_number - 1)
    if table.shape[1] != len(fields):
        raise InputError(f"ratings: found {table.shape[1]} columns in the data but {len(fields)} on "
                         f"line {first_number}; need the same number of columns on every line")
    offset = 1 if header else 0  # data row r is non-blank line r + offset

    def line_of(row: int) -> int:
        return _nonblank_line_number(text, row + offset)

    user_col, item_col, rating_col = (table.iloc[:, c].astype(str).str.strip() for c in columns)
    for label, col in (("user", user_col), ("item", item_col), ("rating", rating_col)):
        empty = np.flatnonzero((col == "").to_numpy())
        if empty.size:
            raise InputError(f"ratings: found an empty {label} on line {line_of(empty[0])} "
                             f"(a missing column?), need {need}")
    ratings = _numbers(rating_col, decimal_comma)
    bad = np.flatnonzero(~np.isfinite(ratings))
    if bad.size:
        value = rating_col.iloc[bad[0]]
        kind = "non-finite" if _is_number(value, decimal_comma) else "non-numeric"
        raise InputError(f"ratings: found a {kind} rating {value!r} on line {line_of(bad[0])}, "
                         "need a finite number")
    rows, users = _ids(user_col)
    cols, items = _ids(item_col)
    n_users, n_items = len(users), len(items)

    keys = rows.astype(np.int64) * n_items + cols
    keys, values, repeated = _resolve_duplicates(
        keys, ratings, duplicates, "ratings", unit="(user, item) pair(s)",
        example=lambda key, count: (f"user {users[key // n_items].item()!r} and item "
                                    f"{items[key % n_items].item()!r} ({count} times)"))
    M = _csr_from_keys(keys, values, (n_users, n_items))
    W = _csr_from_keys(keys, np.ones(keys.size), (n_users, n_items))
    return Ratings(M, W, users, items, repeated)


# --------------------------------------------------------------------------------------------
# Matrices
# --------------------------------------------------------------------------------------------

_NPY_MAGIC = b"\x93NUMPY"
# Sanity limits on the size a Matrix Market header may declare (it is allocated up front).
_MAX_SIDE = 10**8
_MAX_DENSE = 10**9
_TEXT_SUFFIXES = {".csv", ".tsv", ".txt", ".dat", ".tab"}


def _matrix_format(data: bytes, name: str | None) -> str:
    suffix = Path(name).suffix.lower() if name else ""
    if suffix == ".npy":
        return "npy"
    if suffix == ".mtx":
        return "mtx"
    if suffix in _TEXT_SUFFIXES:
        return "text"
    if data.startswith(_NPY_MAGIC):
        return "npy"
    if data.lstrip()[:14].lower() == b"%%matrixmarket":
        return "mtx"
    return "text"


def _check_finite(values: np.ndarray, what: str) -> None:
    if np.isinf(values).any():
        raise InputError(f"{what}: found infinite values, need finite numbers (NaN marks a missing entry)")


def _load_npy(data: bytes, what: str, max_entries: int | None) -> np.ndarray:
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
        else:  # other versions: np.load below still refuses pickles
            shape, dtype = None, None
    except _DECODE_ERRORS as exc:
        raise InputError(f"{what}: found data that is not a valid .npy file ({exc}), need an array "
                         "saved with numpy.save") from None
    if dtype is not None:
        _check_npy_dtype(dtype, what)
        if len(shape) != 2:
            raise InputError(f"{what}: found a {len(shape)}-D array of shape {shape}, need a 2-D matrix")
        _check_entries(what, shape[0] * shape[1], f"a {shape[0]:,}×{shape[1]:,} array "
                       f"({shape[0] * shape[1]:,} entries)", max_entries)
        # np.load allocates the declared array before reading: a header must match the data.
        need = shape[0] * shape[1] * dtype.itemsize
        found = len(data) - stream.tell()
        if found != need:
            raise InputError(f"{what}: found a .npy header declaring a {shape[0]:,}×{shape[1]:,} {dtype} "
                             f"array ({need:,} bytes of data) followed by {found:,} bytes; the .npy file "
                             "is damaged or truncated, need a complete file saved with numpy.save")
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise InputError(f"{what}: found an object array (pickled Python objects), need a numeric "
                             "array; object arrays are refused because loading them can run code") from None
        raise InputError(f"{what}: the .npy file is damaged or truncated ({exc})") from None
    except _DECODE_ERRORS as exc:
        raise InputError(f"{what}: the .npy file is damaged or truncated ({exc})") from None
    _check_npy_dtype(arr.dtype, what)
    if arr.ndim != 2:
        raise InputError(f"{what}: found a {arr.ndim}-D array of shape {arr.shape}, need a 2-D matrix")
    return np.array(arr, dtype=np.float64)


def _check_npy_dtype(dtype: np.dtype, what: str) -> None:
    if dtype.hasobject:
        raise InputError(f"{what}: found an object array (dtype {dtype}), need a numeric array; object "
                         "arrays are refused because loading them can run code")
    if dtype.kind not in "biuf":
        raise InputError(f"{what}: found dtype {dtype}, need a real numeric array (bool, int or float)")


_MTX_FORMATS = ("coordinate", "array")
_MTX_FIELDS = ("real", "integer", "pattern", "double", "complex")
_MTX_SYMMETRIES = ("general", "symmetric", "skew-symmetric", "hermitian")


class _MtxHeader(NamedTuple):
    rows: int
    cols: int
    entries: int          # declared entries (coordinate) or rows·cols (array)
    fmt: str
    field: str
    symmetry: str
    body: str             # the text after the size line


def _mtx_header(data: bytes, what: str) -> _MtxHeader:
    """The banner and size line of a Matrix Market file, parsed here rather than by SciPy, whose
    reader crashes the process on some damaged files (a value cut off as '1.5E-' at the end)."""
    malformed = "need a valid .mtx file (see scipy.io.mmwrite)"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{what}: found a malformed Matrix Market file (bytes that are not text), "
                         f"{malformed}") from None
    lines = text.split("\n", 1)
    banner = lines[0].split()
    if len(banner) != 5 or banner[0].lower() != "%%matrixmarket" or banner[1].lower() != "matrix":
        raise InputError(f"{what}: found a malformed Matrix Market header ({lines[0][:60]!r}), need "
                         "'%%MatrixMarket matrix <coordinate|array> <real|integer|pattern> <general|"
                         "symmetric|skew-symmetric>' on the first line")
    fmt, field, symmetry = (word.lower() for word in banner[2:])
    for word, allowed, name in ((fmt, _MTX_FORMATS, "format"), (field, _MTX_FIELDS, "field"),
                                (symmetry, _MTX_SYMMETRIES, "symmetry")):
        if word not in allowed:
            raise InputError(f"{what}: found a malformed Matrix Market header ({name} {word!r}), need one "
                             f"of {allowed}")
    if field == "complex" or symmetry == "hermitian":
        raise InputError(f"{what}: found a complex Matrix Market file, need real values")
    if fmt == "array" and field == "pattern":
        raise InputError(f"{what}: found a malformed Matrix Market header (an array of pattern), "
                         f"{malformed}")
    rest = lines[1] if len(lines) > 1 else ""
    offset = 0
    while True:  # comment and blank lines, then the size line
        end = rest.find("\n", offset)
        line = rest[offset:] if end < 0 else rest[offset:end]
        offset = len(rest) if end < 0 else end + 1
        if line.strip() and not line.lstrip().startswith("%"):
            break
        if end < 0:
            raise InputError(f"{what}: found a Matrix Market file without a size line, {malformed}")
    sizes = line.split()
    if len(sizes) != (2 if fmt == "array" else 3) or not all(t.isdigit() for t in sizes):
        raise InputError(f"{what}: found the size line {line.strip()[:60]!r}, need "
                         + ("'rows columns'" if fmt == "array" else "'rows columns entries'")
                         + " as non-negative integers")
    rows, cols = int(sizes[0]), int(sizes[1])
    entries = rows * cols if fmt == "array" else int(sizes[2])
    return _MtxHeader(rows, cols, entries, fmt, field, symmetry, rest[offset:])


def _mtx_values_declared(h: _MtxHeader) -> int:
    """How many values a Matrix Market file declares it stores (before symmetric expansion)."""
    if h.fmt != "array" or h.symmetry == "general":
        return h.entries
    return h.rows * (h.rows + 1) // 2 if h.symmetry == "symmetric" else h.rows * (h.rows - 1) // 2


def _mtx_body(h: _MtxHeader, what: str) -> np.ndarray:
    """The body's numbers as a (values, width) float array: width 1 (array), 2 (pattern) or 3."""
    width = 1 if h.fmt == "array" else (2 if h.field == "pattern" else 3)
    declared = _mtx_values_declared(h)
    try:  # numpy's reader is strict: a short or long line is an error, not a NaN
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            table = np.loadtxt(io.StringIO(h.body), comments="%", dtype=np.float64, ndmin=2)
    except (ValueError, OverflowError) as exc:
        reason = str(exc).split(";")[0].strip()
        raise InputError(f"{what}: found a malformed Matrix Market file ({reason}), need {width} "
                         "number(s) per line") from None
    if table.size == 0:
        table = np.empty((0, width))
    if table.shape[1] != width:
        raise InputError(f"{what}: found {table.shape[1]} numbers per line, need {width} for a "
                         f"{h.fmt} {h.field} Matrix Market file")
    if table.shape[0] != declared:
        raise InputError(f"{what}: found {table.shape[0]:,} entry lines where the header declares "
                         f"{declared:,}; need a complete file whose header matches its data")
    return table


def _load_mtx(data: bytes, what: str, max_entries: int | None,
              duplicates: str) -> np.ndarray | sp.csr_matrix:
    """A Matrix Market file: ``array`` format as a dense ndarray, ``coordinate`` as CSR.

    Everything the header declares is checked against the file before anything is allocated:
    the memory the shape alone takes (see :func:`load_matrix`) against ``max_entries``, and the
    declared number of values against the bytes that follow the header."""
    h = _mtx_header(data, what)
    rows, cols, entries = h.rows, h.cols, h.entries
    if rows < 1 or cols < 1:
        raise InputError(f"{what}: found a {rows}×{cols} matrix, need at least one row and column")
    if max(rows, cols) > _MAX_SIDE or (h.fmt == "array" and rows * cols > _MAX_DENSE):
        raise InputError(f"{what}: found a declared size of {rows:,}×{cols:,}, need at most "
                         f"{_MAX_SIDE:,} rows and columns ({_MAX_DENSE:,} entries when dense)")
    if h.symmetry != "general" and rows != cols:
        raise InputError(f"{what}: found a {h.symmetry} {rows}×{cols} matrix, need a square one")
    if h.fmt == "array":
        _check_entries(what, rows * cols, f"a dense {rows:,}×{cols:,} Matrix Market array "
                       f"({rows * cols:,} entries)", max_entries)
    else:
        stored = entries if h.symmetry == "general" else 2 * entries
        if rows + cols > stored:  # the row and column arrays outweigh the entries
            described = (f"a Matrix Market header declaring a {rows:,}×{cols:,} matrix with {entries:,} "
                         f"entr{'y' if entries == 1 else 'ies'}, whose rows and columns alone take "
                         f"n + m = {rows + cols:,} entries of memory")
        else:
            described = f"a Matrix Market file declaring {stored:,} entries ({rows:,}×{cols:,})"
        _check_entries(what, max(stored, rows + cols), described, max_entries)
    declared = _mtx_values_declared(h)
    # The shortest line of a value is 2 bytes ("1\n"), of an entry 4 ("1 1\n") or 6 ("1 1 1\n").
    shortest = 2 if h.fmt == "array" else (4 if h.field == "pattern" else 6)
    if declared * shortest > len(data):
        raise InputError(f"{what}: found a Matrix Market header declaring {declared:,} values in a file "
                         f"of {len(data):,} bytes, which holds at most {len(data) // shortest:,}; need "
                         "a complete file whose header matches its data")
    table = _mtx_body(h, what)
    values = np.ones(table.shape[0]) if h.field == "pattern" else table[:, -1].copy()
    _check_finite(values, what)
    skew = -1.0 if h.symmetry == "skew-symmetric" else 1.0
    if h.fmt == "array":
        arr = np.empty((rows, cols))
        if h.symmetry == "general":
            arr[:] = values.reshape(cols, rows).T  # column-major
        else:  # the lower triangle, column by column (without the diagonal when skew)
            i, j = np.tril_indices(rows, 0 if h.symmetry == "symmetric" else -1)
            order = np.lexsort((i, j))
            i, j = i[order], j[order]
            arr[:] = 0.0
            arr[j, i] = skew * values
            arr[i, j] = values
        return arr
    r, c = table[:, 0], table[:, 1]
    bad = np.flatnonzero((r != np.round(r)) | (c != np.round(c)) | (r < 1) | (r > rows) | (c < 1) | (c > cols))
    if bad.size:
        line = bad[0]
        raise InputError(f"{what}: found the entry ({table[line, 0]:g}, {table[line, 1]:g}) outside the "
                         f"declared {rows:,}×{cols:,} matrix (entry {line + 1}); need 1-based row and "
                         "column numbers within the declared size")
    r, c = r.astype(np.int64) - 1, c.astype(np.int64) - 1
    if h.symmetry != "general":
        off = r != c
        r, c, values = np.r_[r, c[off]], np.r_[c, r[off]], np.r_[values, skew * values[off]]
    keys = r * cols + c
    keys, values, repeated = _resolve_duplicates(
        keys, values, duplicates, what, unit="entry position(s)",
        example=lambda key, count: f"row {key // cols + 1}, column {key % cols + 1} ({count} times)")
    if repeated:
        warnings.warn(f"{what}: found {repeated:,} entr{'y' if repeated == 1 else 'ies'} given more than once; "
                      + ("each holds the mean of its values" if duplicates == "mean"
                         else "each holds its last value in the file") + f" (duplicates={duplicates!r})",
                      stacklevel=3)
    return _csr_from_keys(keys, values, (rows, cols))


def _load_dense_text(data: bytes, what: str, max_entries: int | None) -> np.ndarray:
    text = _decode_text(data, what, strict=True, need="a .npy, CSV/TSV or .mtx matrix")
    first = _first_line(text, tabs_are_data=True)
    if first is None:
        raise InputError(f"{what}: found an empty file, need a matrix: one line of numbers per row")
    first_number, line = first
    sep = _sniff_separator(line)
    decimal_comma = sep == ";"
    header = _is_header(_split(line, sep), decimal_comma)
    lines = [ln for ln in text.splitlines()[first_number - 1 + header:] if ln.strip(" \r\n\f\v")]
    if not lines:
        raise InputError(f"{what}: found only a header line, need at least one row of numbers")
    width = len(_split(lines[0], sep))
    _check_entries(what, len(lines) * width, f"{len(lines):,} rows of {width:,} values "
                   f"({len(lines) * width:,} entries)", max_entries)
    widths = np.array([len(row) for row in _fields(lines, sep)])
    if np.any(widths != widths[0]):
        bad = int(np.flatnonzero(widths != widths[0])[0])
        raise InputError(f"{what}: found {widths[bad]} values on data row {bad + 1} but {widths[0]} on "
                         "the first; need the same number of values on every row (leave a missing "
                         "entry empty or write NaN)")
    table = _read_table("\n".join(lines), sep, what, f"{what}: found no rows of numbers",
                        decimal="," if decimal_comma else ".")
    # Columns pandas parsed as numbers are taken as they are; the others hold a word, or both
    # decimal commas and points, and are converted here.
    values = np.column_stack([table[c].to_numpy(dtype=np.float64) if pd.api.types.is_numeric_dtype(table[c])
                              else _numbers(table[c].astype("string").str.strip(), decimal_comma)
                              for c in table.columns])
    given = table.notna().to_numpy()
    bad = np.argwhere(np.isnan(values) & given)
    if bad.size:
        r, c = bad[0]
        hint = " (a header line holds names only)" if r == 0 and not header else ""
        raise InputError(f"{what}: found the non-numeric value {table.iat[r, c]!r} at data row {r + 1}, "
                         f"column {c + 1}{hint}; need numbers (an empty cell or NaN marks a missing "
                         "entry)")
    _check_finite(values, what)
    return values


def load_matrix(src: Source, name: str | None = None, *, duplicates: str = "mean",
                max_bytes: int | None = limits.MAX_FILE_BYTES,
                max_entries: int | None = limits.MAX_ENTRIES) -> np.ndarray | sp.csr_matrix:
    """Load a matrix: a dense float64 ndarray, or a ``scipy.sparse.csr_matrix`` for a Matrix Market
    file in coordinate format.

    The format comes from the file name's suffix (the path, else ``name``, else the file object's
    ``.name``): ``.npy``; ``.csv``/``.tsv``/``.txt``/``.dat``/``.tab`` (dense text);  ``.mtx``
    (Matrix Market). Without a known suffix the content decides: the .npy magic bytes,
    ``%%MatrixMarket``, otherwise dense text.

    * ``.npy`` is read with ``allow_pickle=False``; object arrays are refused before anything is
      unpickled, and so are non-numeric dtypes, arrays that are not 2-D, and a header whose
      declared shape does not match the bytes that follow it.
    * Dense text: comma, tab, semicolon or whitespace separated, one row per line (quoted fields
      may hold the separator; with semicolons a comma is a decimal comma, 1,5 = 1.5). UTF-8 or
      UTF-16. The first line is a header, and skipped, when it holds names only: a first line with
      a number or a missing-value mark (``NA``) is data. Empty cells, ``NaN`` and ``NA`` read as NaN.
    * Matrix Market: ``array`` format gives a dense matrix (every entry stored, zeros included);
      ``coordinate`` format gives CSR storing exactly the file's entries (explicit zeros kept;
      ``pattern`` files store 1.0). An entry given more than once follows ``duplicates``, the rule
      of :func:`load_ratings`: "mean" (default, with a warning saying how many), "last" or "error".
    * NaN is allowed everywhere (it marks a missing entry, also a stored one in Matrix Market);
      ±inf is refused.
    * Size caps (wlra_core.limits): a file above ``max_bytes``, or a matrix above ``max_entries``,
      is refused from its header (.npy, .mtx) or its line count (text) before the matrix is
      allocated. A dense matrix counts rows × columns; a Matrix Market coordinate file counts its
      declared entries, or n + m when more (its row and column arrays, and the factors of any
      problem made from it, grow with n + m).

    What a loaded matrix means as a problem (which entries are observed) is decided by
    :func:`matrix_problem`, for the command line and the app alike.
    """
    if duplicates not in DUPLICATE_POLICIES:
        raise InputError(f"duplicates: found {duplicates!r}, need one of {DUPLICATE_POLICIES}")
    what = "matrix"
    data, file_name = _read_source(src, what, max_bytes)
    if not data:
        raise InputError(f"{what}: found an empty file (0 bytes), need a .npy, CSV/TSV or .mtx matrix")
    fmt = _matrix_format(data, name or file_name)
    if fmt == "npy":
        mat = _load_npy(data, what, max_entries)
    elif fmt == "mtx":
        return _load_mtx(data, what, max_entries, duplicates)
    else:
        mat = _load_dense_text(data, what, max_entries)
    if mat.size == 0:
        raise InputError(f"{what}: found an empty matrix of shape {mat.shape}, need at least one entry")
    _check_finite(mat, what)
    return mat


def matrix_problem(M: np.ndarray | sp.spmatrix, W: np.ndarray | sp.spmatrix | None = None, *,
                   names: tuple[str, str] = ("matrix", "weights")
                   ) -> tuple[np.ndarray | sp.csr_matrix, np.ndarray | sp.csr_matrix]:
    """(M, W) ready for :func:`wlra_core.solve` from a loaded matrix and optional weights: the one
    place that says what a matrix file means as a problem (the command line, the app and the tests
    all call it).

    Without ``W``, the observed entries get weight 1:

    * dense M (.npy, text, Matrix Market ``array``): its finite entries; NaN marks a missing one
      (replaced by 0 in the returned copy of M);
    * sparse M (Matrix Market ``coordinate``): its stored finite entries, explicit zeros included,
      as in a rating matrix; an unstored entry is missing, not a zero, and so is a stored NaN.

    With ``W``: the same shape as M, finite, ≥ 0; a NaN in M where W > 0 is refused; an unstored
    entry of a sparse M is a 0 wherever W weights it (a dense W makes M dense). ``names`` name the
    two inputs in messages (e.g. the files they came from). Inputs are never modified.
    """
    m_name, w_name = names
    if W is None:
        if sp.issparse(M):
            M = sp.csr_matrix(M, dtype=np.float64, copy=True)
            M.sum_duplicates()
            keep = np.isfinite(M.data)
            if not keep.all():  # stored NaNs are missing entries: drop them from M and W alike
                M = _drop_stored(M, keep)
            W = M.copy()
            W.data = np.ones_like(W.data)
            return M, W
        M = np.asarray(M, dtype=np.float64)
        finite = np.isfinite(M)
        return np.where(finite, M, 0.0), finite.astype(np.float64)
    if W.shape != M.shape:
        raise InputError(f"{w_name}: found shape {W.shape[0]}×{W.shape[1]}, need the shape of the "
                         f"{m_name}, {M.shape[0]}×{M.shape[1]}")
    values = W.data if sp.issparse(W) else np.asarray(W)
    if not np.all(np.isfinite(values)):
        raise InputError(f"{w_name}: found NaN or infinite weights, need finite weights ≥ 0 "
                         "(0 marks a missing entry)")
    if values.size and values.min() < 0:
        raise InputError(f"{w_name}: found a negative weight ({values.min():g}), need weights ≥ 0")
    if sp.issparse(M) and not sp.issparse(W):
        M = M.toarray()  # W is dense already, so M's dense copy is no larger
    if not sp.issparse(M):
        M = np.asarray(M, dtype=np.float64)
        Wd = W.toarray() if sp.issparse(W) else np.asarray(W, dtype=np.float64)
        bad = np.argwhere(~np.isfinite(M) & (Wd > 0))
        if bad.size:
            i, j = bad[0]
            raise InputError(f"{m_name}: found a missing value (NaN) at row {i + 1}, column {j + 1} where "
                             f"the weight is {Wd[i, j]:g}; need a value wherever the weight is positive")
        M = np.where(np.isfinite(M), M, 0.0)
        return M, (sp.csr_matrix(W, dtype=np.float64) if sp.issparse(W) else Wd.astype(np.float64))
    M = sp.csr_matrix(M, dtype=np.float64, copy=True)
    M.sum_duplicates()
    W = sp.csr_matrix(W, dtype=np.float64, copy=True)
    nan = ~np.isfinite(M.data)
    if nan.any():
        rows = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))
        weight = np.asarray(W[rows[nan], M.indices[nan]]).ravel()
        if (weight > 0).any():
            first = np.flatnonzero(weight > 0)[0]
            i, j = rows[nan][first], M.indices[nan][first]
            raise InputError(f"{m_name}: found a missing value (NaN) at row {i + 1}, column {j + 1} "
                             f"where the weight is {weight[first]:g}; need a value wherever the weight "
                             "is positive")
        M = _drop_stored(M, ~nan)
    return M, W


def _drop_stored(A: sp.csr_matrix, keep: np.ndarray) -> sp.csr_matrix:
    """A CSR copy of ``A`` storing only the entries where ``keep`` is True."""
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))[keep]
    indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=A.shape[0]))]
    return sp.csr_matrix((A.data[keep], A.indices[keep], indptr), shape=A.shape)


# --------------------------------------------------------------------------------------------
# Synthetic problems
# --------------------------------------------------------------------------------------------

class Planted(NamedTuple):
    """A planted WLRA problem: M = truth + noise observed with weights W, truth = U Vᵀ."""
    M: np.ndarray | sp.csr_matrix
    W: np.ndarray | sp.csr_matrix
    truth: np.ndarray | None
    U: np.ndarray
    V: np.ndarray


def _check_count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name}: found {value!r}, need a positive integer")
    return int(value)


def _check_real(value, name: str, low: float, high: float, *, low_open: bool) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    inside = (number > low if low_open else number >= low) and number <= high
    if isinstance(value, bool) or not inside:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise InputError(f"{name}: found {value!r}, need a number in {interval}")
    return number


def _check_seed(seed) -> None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise InputError(f"seed: found {seed!r}, need a non-negative integer or None")


def _bernoulli_support(rng: np.random.Generator, m: int, p_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (rows, cols) where independent Bernoulli(p_rows[i]) draws succeed, row-major.

    Costs O(nnz + n·sqrt(m p)) time and memory, never O(n·m): within row i the gaps between
    successes are Geometric(p_i), so the positions are cumulative sums of geometric draws.
    Enough gaps are drawn to pass the end of the row with overwhelming probability; a row that
    does not is drawn again with twice as many.
    """
    rows_out, cols_out = [], []
    pending = np.flatnonzero(p_rows > 0)
    factor = 1.0
    while pending.size:
        p = p_rows[pending]
        mean = m * p
        k = np.minimum(m + 1, np.ceil(factor * (mean + 6.0 * np.sqrt(mean) + 10.0))).astype(np.int64)
        gaps = rng.geometric(np.repeat(p, k))
        ends = np.cumsum(k)
        starts = ends - k
        total = np.cumsum(gaps)
        before = np.repeat(total[starts] - gaps[starts], k)
        pos = total - before - 1
        done = pos[ends - 1] >= m
        keep = (pos < m) & np.repeat(done, k)
        rows_out.append(np.repeat(pending, k)[keep])
        cols_out.append(pos[keep])
        pending = pending[~done]
        factor *= 2.0
    return np.concatenate(rows_out), np.concatenate(cols_out)


def _blocks_support(rng: np.random.Generator, n: int, m: int, p: float) -> tuple[np.ndarray, np.ndarray]:
    """All entries except a few random rectangular holes covering about 1 - p of the matrix.

    Rectangles of area about (1 - p)·n·m / 4 (random aspect) are cut until the holes cover
    1 - p; a rectangle that would overshoot is shrunk to the area still missing.
    """
    observed = np.ones((n, m), dtype=bool)
    target = (1.0 - p) * n * m
    covered = 0
    for _ in range(200):
        remaining = target - covered
        if remaining < 0.5:
            break
        area = min((1.0 - p) * n * m / 4.0, remaining)
        aspect = np.exp(rng.uniform(-0.7, 0.7))
        h = int(np.clip(round(math.sqrt(area * aspect * n / m)), 1, n))
        w = int(np.clip(round(area / h), 1, m))
        top = int(rng.integers(0, n - h + 1))
        left = int(rng.integers(0, m - w + 1))
        observed[top:top + h, left:left + w] = False
        covered = observed.size - int(np.count_nonzero(observed))
    return np.nonzero(observed)


def _cover_rows_and_columns(rng: np.random.Generator, n: int, m: int, rows: np.ndarray,
                            cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Add one random entry to every empty row, then to every empty column; sort row-major."""
    empty_rows = np.flatnonzero(np.bincount(rows, minlength=n) == 0)
    rows = np.r_[rows, empty_rows]
    cols = np.r_[cols, rng.integers(0, m, size=empty_rows.size)]
    empty_cols = np.flatnonzero(np.bincount(cols, minlength=m) == 0)
    rows = np.r_[rows, rng.integers(0, n, size=empty_cols.size)]
    cols = np.r_[cols, empty_cols]
    keys = np.sort(rows.astype(np.int64) * m + cols)
    return keys // m, keys % m


def _scale_to_mean(propensity: np.ndarray, mean: float) -> np.ndarray:
    """Probabilities min(1, s·propensity) whose average is ``mean`` (bisection on s)."""
    low, high = 0.0, 1.0 / propensity.min()
    for _ in range(100):
        s = 0.5 * (low + high)
        if np.minimum(1.0, s * propensity).mean() < mean:
            low = s
        else:
            high = s
    return np.minimum(1.0, high * propensity)


def _low_rank_at(U: np.ndarray, V: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(U Vᵀ)[rows, cols] in O(len(rows)·k), in chunks to bound memory."""
    out = np.empty(rows.size)
    for start in range(0, rows.size, _CHUNK):
        r, c = rows[start:start + _CHUNK], cols[start:start + _CHUNK]
        out[start:start + _CHUNK] = np.einsum("ij,ij->i", U[r], V[c])
    return out


def planted(n: int, m: int, k: int, *, noise: float = 0.0, pattern: str = "bernoulli",
            p: float = 0.4, seed: int | None = 0, sparse: bool = False,
            max_entries: int | None = limits.MAX_ENTRIES) -> Planted:
    """A planted rank-k problem with known truth.

    U (n×k) and V (m×k) have i.i.d. Gaussian entries of standard deviation k^(-1/4), so the
    entries of truth = U Vᵀ have mean 0 and variance 1.
    M = truth + noise·N(0, 1). Weight patterns (``p`` is the observed fraction):

    * ``"bernoulli"``: W ∈ {0, 1}, each entry observed independently with probability p;
    * ``"graded"``: the same support, weights uniform in (0, 1];
    * ``"blocks"``: ones except a few random rectangular holes covering about 1 - p;
    * ``"heavy_tailed"``: row i observed with probability p_i ∝ a Pareto(1.2) activity (averaging
      p, capped at 1), so row degrees are heavy-tailed as in rating data; confidence weights
      1 + log(1 + c) with c Zipf(2) counts (Hu–Koren–Volinsky style), so W ≥ 1 + log 2;
    * ``"full"``: all ones (p is ignored).

    Every row and every column gets at least one positive weight: an empty row or column gets one
    random entry (with a weight drawn as for the pattern), so for tiny p the observed fraction is
    slightly above p.

    ``sparse=False``: M, W and truth are dense n×m arrays (M holds noisy values everywhere,
    also where W is 0). ``sparse=True``: M and W are CSR with the same structure, storing only
    the weighted entries; the work is O(nnz·k), never O(n·m), and ``truth`` is the dense U Vᵀ
    only when n·m ≤ 2**24, else None (use U and V). For one seed both agree exactly at the stored
    entries. Randomness comes from ``np.random.default_rng(seed)`` (with independent child streams
    for the factors, the support, the weights and the noise).
    ``max_entries`` (wlra_core.limits) caps the stored entries before anything is drawn: n·m
    when dense or for the "full" and "blocks" patterns, about p·n·m otherwise.
    """
    n, m, k = _check_count(n, "n"), _check_count(m, "m"), _check_count(k, "k")
    if k > min(n, m):
        raise InputError(f"k: found {k}, need 1 ≤ k ≤ min(n, m) = {min(n, m)}")
    noise = _check_real(noise, "noise", 0.0, math.inf, low_open=False)
    if not math.isfinite(noise):
        raise InputError(f"noise: found {noise!r}, need a finite number ≥ 0")
    if pattern not in PATTERNS:
        raise InputError(f"pattern: found {pattern!r}, need one of {PATTERNS}")
    p = _check_real(p, "p", 0.0, 1.0, low_open=True)
    _check_seed(seed)
    if not isinstance(sparse, (bool, np.bool_)):
        raise InputError(f"sparse: found {sparse!r}, need True or False")
    if not sparse or pattern in ("full", "blocks"):
        _check_entries("planted", n * m, f"{n:,}×{m:,} = {n * m:,} entries", max_entries)
    else:  # expected entries; the cover of empty rows and columns adds at most n + m
        expected = math.ceil(p * n * m) + n + m
        _check_entries("planted", expected, f"about {expected:,} entries ({p:g} of {n:,}×{m:,})",
                       max_entries)

    rng_factors, rng_support, rng_weights, rng_noise = np.random.default_rng(seed).spawn(4)
    scale = k ** -0.25
    U = rng_factors.standard_normal((n, k)) * scale
    V = rng_factors.standard_normal((m, k)) * scale

    if pattern == "full":
        rows, cols = np.divmod(np.arange(n * m, dtype=np.int64), m)
    elif pattern == "blocks":
        rows, cols = _blocks_support(rng_support, n, m, p)
    elif pattern == "heavy_tailed":
        activity = 1.0 + rng_support.pareto(1.2, size=n)
        rows, cols = _bernoulli_support(rng_support, m, _scale_to_mean(activity, p))
    else:
        rows, cols = _bernoulli_support(rng_support, m, np.full(n, p))
    rows, cols = _cover_rows_and_columns(rng_support, n, m, rows.astype(np.int64), cols.astype(np.int64))

    nnz = rows.size
    if pattern == "graded":
        weights = 1.0 - rng_weights.random(nnz)
    elif pattern == "heavy_tailed":
        weights = 1.0 + _CONFIDENCE_ALPHA * np.log1p(rng_weights.zipf(2.0, size=nnz).astype(np.float64))
    else:
        weights = np.ones(nnz)
    observed_noise = noise * rng_noise.standard_normal(nnz) if noise else np.zeros(nnz)

    if sparse:
        values = _low_rank_at(U, V, rows, cols) + observed_noise
        indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=n))]
        M = sp.csr_matrix((values, cols.copy(), indptr.copy()), shape=(n, m))
        W = sp.csr_matrix((weights, cols.copy(), indptr.copy()), shape=(n, m))
        truth = U @ V.T if n * m <= _DENSE_TRUTH_LIMIT else None
        return Planted(M, W, truth, U, V)

    truth = U @ V.T
    W = np.zeros((n, m))
    W[rows, cols] = weights
    M = truth.copy()
    if noise:
        E = np.empty((n, m))
        E[rows, cols] = observed_noise
        unobserved = np.ones((n, m), dtype=bool)
        unobserved[rows, cols] = False
        E[unobserved] = noise * rng_noise.standard_normal(int(np.count_nonzero(unobserved)))
        M += E
    return Planted(M, W, truth, U, V)


def make_ratings(n_users: int, n_items: int, k: int, *, density: float, seed: int,
                 scale: tuple[float, float] = (1, 5)) -> pd.DataFrame:
    """A SYNTHETIC rating set with columns user, item, rating, timestamp (one row per rating).

    rating = round_to_half(centre + spread·(b_user + b_item + 0.8·⟨u, v⟩ + ε)), clipped to
    ``scale`` (default [1, 5]), where centre = midpoint + spread/4, spread = (high - low)/4,
    ⟨u, v⟩ is a rank-k term with variance 1, b_user ~ N(0, 0.35²), b_item ~ N(0, 0.6²),
    ε ~ N(0, 0.4²).  Who rated what is heavy-tailed: user u rates item i with probability
    min(1, s·a_u·b_i), a_u Pareto-distributed activity, b_i Zipf-like popularity (rank^-0.8),
    s chosen so the average is ``density``; every user and every item has at least one rating.
    Ids are 1-based integers, timestamps Unix seconds in 2020–2021.  ``df.attrs["source"]``
    records that the data is synthetic and how it was made.  Memory is O(n_users·n_items).
    """
    n_users = _check_count(n_users, "n_users")
    n_items = _check_count(n_items, "n_items")
    k = _check_count(k, "k")
    if k > min(n_users, n_items):
        raise InputError(f"k: found {k}, need 1 ≤ k ≤ min(n_users, n_items) = {min(n_users, n_items)}")
    if n_users * n_items > 10**8:
        raise InputError(f"n_users × n_items: found {n_users * n_items:,}, need at most 100,000,000")
    density = _check_real(density, "density", 0.0, 1.0, low_open=True)
    _check_seed(seed)
    try:
        low, high = (float(s) for s in scale)
    except (TypeError, ValueError):
        low, high = math.nan, math.nan
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise InputError(f"scale: found {scale!r}, need (low, high) with low < high")

    rng_factors, rng_support, rng_values, rng_times = np.random.default_rng(seed).spawn(4)
    U = rng_factors.standard_normal((n_users, k)) * k ** -0.25
    V = rng_factors.standard_normal((n_items, k)) * k ** -0.25
    user_bias = rng_factors.normal(0.0, 0.35, n_users)
    item_bias = rng_factors.normal(0.0, 0.6, n_items)

    activity = 1.0 + rng_support.pareto(1.5, size=n_users)
    popularity = rng_support.permutation(np.arange(1, n_items + 1) ** -0.8)
    propensity = np.outer(activity, popularity).ravel()
    prob = _scale_to_mean(propensity, density).reshape(n_users, n_items)
    rows, cols = np.nonzero(rng_support.random((n_users, n_items)) < prob)
    rows, cols = _cover_rows_and_columns(rng_support, n_users, n_items, rows.astype(np.int64),
                                         cols.astype(np.int64))

    spread = (high - low) / 4.0
    centre = (low + high) / 2.0 + spread / 4.0
    score = (user_bias[rows] + item_bias[cols] + 0.8 * _low_rank_at(U, V, rows, cols)
             + rng_values.normal(0.0, 0.4, rows.size))
    rating = np.clip(np.round(2.0 * (centre + spread * score)) / 2.0, low, high)
    start = 1_577_836_800  # 2020-01-01 UTC
    timestamp = start + rng_times.integers(0, 2 * 365 * 86_400, size=rows.size)
    frame = pd.DataFrame({"user": rows + 1, "item": cols + 1, "rating": rating,
                          "timestamp": timestamp.astype(np.int64)})
    frame.attrs["source"] = (f"SYNTHETIC ratings from wlra_core.data.make_ratings(n_users={n_users}, "
                             f"n_items={n_items}, k={k}, density={density}, seed={seed}, "
                             f"scale=({low:g}, {high:g})); not real user data")
    return frame
