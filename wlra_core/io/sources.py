"""Reading a source (path, bytes or binary file object) under the size caps, and the text and
duplicate-entry helpers the ratings and matrix loaders share."""
from __future__ import annotations

import csv
import io
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Union

import numpy as np
import scipy.sparse as sp

from .. import limits
from ..problem import InputError

if TYPE_CHECKING:  # pandas is imported when a loader needs it
    import pandas as pd

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]

DUPLICATE_POLICIES = ("mean", "last", "error")

# Exceptions Pillow, NumPy, pandas and SciPy raise on damaged input; converted to InputError.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError,
                  KeyError, OverflowError, MemoryError, RuntimeError)


def _pandas():
    """pandas, imported when a text loader first needs it (it is an optional dependency)."""
    try:
        import pandas
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("reading text tables needs pandas: pip install 'wlra_core[app]' "
                          "(or pip install pandas)") from exc
    return pandas


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
    pd = _pandas()
    if decimal_comma:
        column = column.where(~column.str.fullmatch(_DECIMAL_COMMA.pattern), column.str.replace(",", "."))
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)


def _read_table(text: str, sep: str | None, what: str, empty: str, **kwargs) -> pd.DataFrame:
    """pandas.read_csv on ``text``; parser errors become InputError, no data the message ``empty``."""
    pd = _pandas()
    try:
        return pd.read_csv(io.StringIO(text), sep=sep if sep else r"\s+", header=None,
                           engine="c", skip_blank_lines=True, skipinitialspace=True, **kwargs)
    except pd.errors.EmptyDataError:
        raise InputError(empty) from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(f"{what}: could not parse the file ({str(exc).strip()}); need the same "
                         "number of separated values on every line") from None



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
