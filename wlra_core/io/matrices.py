"""Matrix files (.npy, delimited text, Matrix Market) and what a loaded matrix means as a problem."""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from .. import limits
from ..problem import InputError
from .sources import (_DECODE_ERRORS, DUPLICATE_POLICIES, Source, _check_entries, _csr_from_keys, _decode_text,
                      _fields, _first_line, _is_header, _numbers, _pandas, _read_source, _read_table,
                      _resolve_duplicates, _sniff_separator, _split)


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
    pd = _pandas()
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
