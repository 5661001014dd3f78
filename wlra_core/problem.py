"""Validation of a weighted low-rank approximation problem, its internal layout, and the objective.

The problem: given M (n×m), weights W ≥ 0 (n×m) and a rank k, minimise

    f(X, Y) = Σ_ij W_ij (M_ij − ⟨X_i, Y_j⟩)²

W multiplies the *squared* residual (the Srebro–Jaakkola / LLR16 convention). A user who wants the
literal ‖W ∘ (M − XYᵀ)‖_F² of the paper's abstract passes W² instead.

Two layouts are supported, and every solver works on both through `Side` objects (one per
orientation: the rows of a side are the independent regressions of one half-step):

* dense: M and W are n×m numpy arrays; entries with W = 0 are ignored (M may hold NaN there);
* sparse: W is a scipy.sparse matrix whose stored positive entries are the weighted entries; M is
  dense or sparse and only its values at those entries are read. Nothing is ever densified.

Input types: anything numpy converts to a real 2-D float array (ints, bools, float16/32, np.matrix,
memmaps, objects with `__array__`, object arrays of numbers, with None read as NaN), pandas
DataFrames (NA and nullable dtypes read as NaN, so allowed only where W = 0), and scipy.sparse
matrices or arrays. Refused with InputError: complex values (even with a zero imaginary part:
pass `M.real`), dates and durations, non-numbers, anything not 2-D. A numpy masked array's masked
entries (in M or W) get weight 0: they are not observed, whatever the data under the mask.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from . import limits


class InputError(ValueError):
    """Bad input: the message names the input, what was found and what is needed."""


# ----------------------------------------------------------------------------------------------
# option validation (cheap; done before any work)

def check_int(name, value, *, low=None, high=None, what=""):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name}: found {value!r} ({type(value).__name__}), need an integer{what}.")
    value = int(value)
    if low is not None and value < low:
        raise InputError(f"{name}: found {value}, need an integer ≥ {low}{what}.")
    if high is not None and value > high:
        raise InputError(f"{name}: found {value}, need an integer ≤ {high}{what}.")
    return value


def check_float(name, value, *, low=None, high=None, low_open=False, high_open=False, what=""):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name}: found {value!r} ({type(value).__name__}), need a real number{what}.")
    value = float(value)
    if not np.isfinite(value):
        raise InputError(f"{name}: found {value}, need a finite number{what}.")
    if low is not None and (value < low or (low_open and value == low)):
        raise InputError(f"{name}: found {value:g}, need a number {'>' if low_open else '≥'} {low:g}{what}.")
    if high is not None and (value > high or (high_open and value == high)):
        raise InputError(f"{name}: found {value:g}, need a number {'<' if high_open else '≤'} {high:g}{what}.")
    return value


def check_choice(name, value, choices):
    if value not in choices:
        raise InputError(f"{name}: found {value!r}, need one of {', '.join(map(repr, choices))}.")
    return value


# ----------------------------------------------------------------------------------------------
# the two orientations of a problem

@dataclass(frozen=True)
class DenseSide:
    """Rows of W and M are the regressions: row i regresses M[i] on the other factor with weights W[i].

    M and W are the caller's arrays (or transposed views of them), never copied whole: `block`
    returns scaled, contiguous copies of a few rows, with M set to 0 wherever W is 0 (so NaN
    placeholders never propagate). Working memory stays proportional to the block."""

    M: np.ndarray
    W: np.ndarray
    counts: np.ndarray  # positive weights per row
    m_scale: float
    w_scale: float
    _cache: dict = field(default_factory=dict, compare=False, repr=False)
    finite: bool = False    # M is finite everywhere, also where W = 0 (`views` may be used)

    @property
    def shape(self):
        return self.W.shape

    @property
    def viewable(self):
        """Whether to read blocks through `views`: a side too large for a cached scaled copy, M
        finite everywhere (no NaN placeholder to mask), blocks not adjusted by a subclass, and
        scales far from the float range's ends (W·M², unscaled, must neither overflow nor
        underflow)."""
        return (self.finite and type(self) is DenseSide and self.W.size > CACHED_ENTRIES
                and 1e-100 <= self.w_scale <= 1e100 and 1e-50 <= self.m_scale <= 1e50)

    def views(self, r):
        """Read-only views (W[r], M[r]) of the caller's rows, unscaled (see `viewable`): no copy,
        for the large problems whose blocks are not cached."""
        W, M = self.W[r].view(), self.M[r].view()
        W.flags.writeable = M.flags.writeable = False
        return W, M

    def products(self, r):
        """(W∘M)[r] and Σ_j W_ij M_ij² of the rows r, unscaled like `views`, when `keep_products`
        made them for this run, else None."""
        kept = self._cache.get("products")
        return None if kept is None else (kept[0][r], kept[1][r])

    def block(self, r):
        W = np.array(self.W[r], dtype=np.float64, order="C")
        W /= self.w_scale
        M = np.where(W > 0, self.M[r], 0.0)
        M /= self.m_scale
        return W, M

    def solver_block(self, r):
        """`block(r)`, kept for the next half-step when r is the whole side of a
        small problem (a transposed copy is a large share of a small iteration). The solvers
        only read these arrays."""
        whole = r.start in (0, None) and (r.stop is None or r.stop >= self.shape[0])
        if not whole or self.W.size > CACHED_ENTRIES:
            return self.block(r)
        if "whole" not in self._cache:
            W, M = self.block(slice(None))
            self._cache["whole"] = (W, M)
        return self._cache["whole"]

    def row_blocks(self, target_bytes=4 << 20):
        b = max(1, min(self.shape[0], target_bytes // (8 * max(self.shape[1], 1))))
        for r0 in range(0, self.shape[0], b):
            yield slice(r0, min(r0 + b, self.shape[0]))


@dataclass(frozen=True)
class SparseSide:
    """CSR layout of the weighted entries: row i has columns indices[indptr[i]:indptr[i+1]]
    with weights w and values mv there (all weights > 0)."""

    indptr: np.ndarray
    indices: np.ndarray
    w: np.ndarray
    mv: np.ndarray
    shape: tuple

    @property
    def counts(self):
        return np.diff(self.indptr)


@dataclass(frozen=True)
class Problem:
    """A validated problem, scaled internally so that max|M| and max W are 1 (no overflow for
    values near 1e150, no underflow for weights near 1e-12). `m_scale`, `w_scale` undo it."""

    rows: DenseSide | SparseSide      # regressions of the X-update (rows of W)
    cols: DenseSide | SparseSide      # regressions of the Y-update (columns of W)
    n: int
    m: int
    k: int
    m_scale: float
    w_scale: float
    total: float                      # Σ W M² of the scaled problem (the reference of relative f)
    layout_bytes: int = 0             # what the sides hold beyond the caller's arrays

    @property
    def sparse(self):
        return isinstance(self.rows, SparseSide)

    @property
    def nnz(self):
        return int(self.rows.counts.sum())


def _refuse_kind(name, dtype):
    """Complex values are refused, not cast (a cast keeps the real part with only a warning), and
    so are dates and durations (their float value is a count of some unit)."""
    kind = np.dtype(dtype).kind
    if kind == "c":
        raise InputError(f"{name}: found complex values (dtype {dtype}), need a real matrix; pass "
                         f"{name}.real (or abs({name})) if that is what you mean.")
    if kind in "mM":
        raise InputError(f"{name}: found dates or durations (dtype {dtype}), need a real matrix of numbers.")


def _as_float_array(name, A):
    if hasattr(A, "to_numpy") and not isinstance(A, np.ndarray):     # pandas: NA becomes NaN
        try:
            A = A.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{name}: found values that are not numbers ({exc}), need a real matrix.") from None
    dtype = getattr(A, "dtype", None)
    if dtype is not None:
        _refuse_kind(name, dtype)
    try:
        A = np.asarray(A, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: found values that are not numbers ({exc}), need a real matrix.") from None
    return A


def _unmask(M, W):
    """(M, W, mask): numpy masked arrays' data, and their masks combined (None when nothing is
    masked). A masked entry of M or W is not observed: it gets weight 0."""
    mask = None
    out = []
    for A in (M, W):
        if isinstance(A, np.ma.MaskedArray):
            m_ = np.ma.getmaskarray(A)
            if m_.any():
                mask = m_ if mask is None or mask.shape != m_.shape else (mask | m_)
            A = np.ma.getdata(A)
        out.append(A)
    return out[0], out[1], mask


def _check_2d(name, shape):
    if len(shape) != 2:
        raise InputError(f"{name}: found an array with {len(shape)} dimension(s) {tuple(shape)}, "
                         "need a 2-D matrix.")
    if shape[0] == 0 or shape[1] == 0:
        raise InputError(f"{name}: found shape {tuple(shape)}, need at least one row and one column.")


# dense sides up to this many entries keep their scaled copies between half-steps
CACHED_ENTRIES = 1 << 21

# below this much working memory the blocks get too small to run at speed
MIN_WORK_BYTES = 32 << 20


def layout_bytes(nnz, n, m):
    """Bytes of the sparse layout: both orientations of the weighted entries, each with an index,
    a weight and a value per entry (int32 indices while the shape allows), and the row pointers."""
    index = 4 if max(n, m) < 2**31 - 1 else 8
    return 2 * nnz * (index + 16) + 8 * (n + m + 2)


def check_size(n, m, nnz, k, max_entries):
    """Refuse a problem above `max_entries` (see limits.problem_entries) before any allocation."""
    if max_entries is None:
        return
    count, what = limits.problem_entries(n, m, nnz, k)
    if count > max_entries:
        raise InputError(f"max_entries: found {what}, need at most {max_entries:,} entries per "
                         "problem. Use a smaller matrix (or rank), or raise max_entries.")


def check_range(m_scale, n, m):
    """Refuse values whose factors cannot be floats: Ỹ = Mᵀ X sums up to n values of M (X̃ up to
    m), so max|M|·2√max(n, m) must stay below the largest float (1.8e308)."""
    top = np.finfo(np.float64).max / (2.0 * math.sqrt(max(n, m)))
    if m_scale > top:
        raise InputError(f"M: found a value of magnitude {m_scale:.3g}, need |M| ≤ {top:.3g} for a {n}×{m} "
                         "matrix (the factors sum up to max(n, m) values and must stay finite). Scale M "
                         "down (e.g. M / 1e300) and the result back up.")


def validate(M, W, k, budget=None, max_entries=limits.MAX_ENTRIES):
    """Check M, W and k and return a scaled `Problem`. Inputs are never modified.

    A problem above `max_entries` (n·m dense, nnz(W) sparse, (n + m)·k for the factors; None for
    no cap) is refused first. With a memory `budget` (bytes), a sparse problem whose own layout
    would leave less than MIN_WORK_BYTES of it for working memory is refused before the layout is
    built."""
    M, W, mask = _unmask(M, W)
    w_sparse = sp.issparse(W)
    m_sparse = sp.issparse(M)
    for name, A in (("M", M), ("W", W)):
        if sp.issparse(A):
            _refuse_kind(name, A.dtype)
    if not w_sparse:
        W = _as_float_array("W", W)
    if not m_sparse:
        M = _as_float_array("M", M)
    _check_2d("M", M.shape)
    _check_2d("W", W.shape)
    if M.shape != W.shape:
        raise InputError(f"W: found shape {tuple(W.shape)}, need the shape of M {tuple(M.shape)}.")
    if mask is not None:
        if mask.shape != M.shape:
            raise InputError(f"M, W: found a mask of shape {mask.shape}, need the shape of M {tuple(M.shape)}.")
        # masked entries get weight 0 (a new W: the caller's is never changed)
        W = sp.csr_array(W).multiply(~mask).tocsr() if w_sparse else np.where(mask, 0.0, W)
    n, m = M.shape
    k = check_int("k", k, low=1, high=min(n, m), what=f" (the rank, at most min(n, m) = {min(n, m)})")
    check_size(n, m, W.nnz if w_sparse else None, k, max_entries)

    if w_sparse:
        need = layout_bytes(W.nnz, n, m) + MIN_WORK_BYTES
        if budget is not None and need > budget:
            raise InputError(f"memory_budget: found {budget} bytes, need at least {need} for this "
                             f"problem: {W.nnz} weighted entries take {layout_bytes(W.nnz, n, m)} bytes "
                             f"of layout (40 per entry) plus {MIN_WORK_BYTES >> 20} MiB to work in. "
                             "Raise memory_budget.")
        Wc = _canonical_csr(W)
        wdata = Wc.data
        if not np.all(np.isfinite(wdata)):
            raise InputError("W: found non-finite weights (NaN or inf), need finite weights ≥ 0.")
        if np.any(wdata < 0):
            raise InputError(f"W: found a negative weight ({wdata.min():g}), need weights ≥ 0.")
        keep = wdata > 0
        itype = np.int32 if max(n, m) < 2**31 - 1 else np.int64
        rows_of = np.repeat(np.arange(n, dtype=itype), np.diff(Wc.indptr))[keep]
        cols_of = Wc.indices[keep].astype(itype, copy=False)
        w = wdata[keep]
        if m_sparse:
            Mc = _canonical_csr(M)
            if (keep.all() and np.array_equal(Mc.indptr, Wc.indptr)
                    and np.array_equal(Mc.indices, Wc.indices)):
                mv = Mc.data.copy()          # the same pattern (ratings): no search needed
            else:
                mv = _values_at(Mc, rows_of, cols_of)
            del Mc
        else:
            mv = M[rows_of, cols_of]
        if not np.all(np.isfinite(mv)):
            bad = np.flatnonzero(~np.isfinite(mv))[0]
            raise InputError(f"M: found a non-finite value ({mv[bad]}) at ({rows_of[bad]}, {cols_of[bad]}) "
                             "where the weight is positive; NaN is allowed only where W is 0.")
        if w.size == 0:
            raise InputError("W: found no positive weight (nothing is observed), need at least one "
                             "entry with W > 0.")
        w_scale = float(w.max())
        m_scale = float(np.abs(mv).max()) or 1.0
        check_range(m_scale, n, m)
        w = w / w_scale
        mv = mv / m_scale
        del Wc, wdata, keep
        # (row, column) order already: the row side is the coordinate lists themselves
        rows = SparseSide(indptr=_indptr(rows_of, n), indices=cols_of, w=w, mv=mv, shape=(n, m))
        order = np.argsort(cols_of, kind="stable")      # stable: rows stay sorted within a column
        cols = SparseSide(indptr=_indptr(cols_of, m), indices=rows_of[order], w=w[order],
                          mv=mv[order], shape=(m, n))
        del order, rows_of
        total = float(np.dot(w, mv * mv))
    else:
        if m_sparse:
            M = M.toarray().astype(np.float64)  # W is dense, so n×m storage is already the input's size
        # checked and summarised in row blocks: no input-sized temporaries
        probe = DenseSide(M=M, W=W, counts=np.zeros(n, np.int64), m_scale=1.0, w_scale=1.0)
        counts = np.zeros(n, np.int64)
        col_counts = np.zeros(m, np.int64)
        w_max = m_max = 0.0
        finite = True
        for r in probe.row_blocks():
            Wb = W[r]
            if not np.all(np.isfinite(Wb)):
                raise InputError("W: found non-finite weights (NaN or inf), need finite weights ≥ 0.")
            if np.any(Wb < 0):
                raise InputError(f"W: found a negative weight ({W.min():g}), need weights ≥ 0.")
            observed = Wb > 0
            bad = observed & ~np.isfinite(M[r])
            if bad.any():
                i, j = np.argwhere(bad)[0]
                i += r.start
                raise InputError(f"M: found a non-finite value ({M[i, j]}) at ({i}, {j}) where the "
                                 "weight is positive; NaN is allowed only where W is 0.")
            finite = finite and bool(np.isfinite(M[r]).all())
            counts[r] = observed.sum(axis=1)
            col_counts += observed.sum(axis=0)
            if observed.any():
                w_max = max(w_max, float(Wb.max()))
                m_max = max(m_max, float(np.abs(np.where(observed, M[r], 0.0)).max()))
        if w_max == 0:
            raise InputError("W: found no positive weight (nothing is observed), need at least one "
                             "entry with W > 0.")
        w_scale, m_scale = w_max, (m_max or 1.0)
        check_range(m_scale, n, m)
        rows = DenseSide(M=M, W=W, counts=counts, m_scale=m_scale, w_scale=w_scale, finite=finite)
        cols = DenseSide(M=M.T, W=W.T, counts=col_counts, m_scale=m_scale, w_scale=w_scale, finite=finite)
        total = 0.0
        for r in rows.row_blocks():
            Wb, Mb = rows.block(r)
            total += float(np.einsum("ij,ij,ij->", Wb, Mb, Mb))
    layout = layout_bytes(len(rows.w), n, m) if w_sparse else 0
    return Problem(rows=rows, cols=cols, n=n, m=m, k=k, m_scale=m_scale, w_scale=w_scale, total=total,
                   layout_bytes=layout)


def _canonical_csr(A):
    """A as a float64 CSR array with sorted indices and no duplicates, never sharing a mutated
    array with the caller (`sp.csr_array(A)` of a float64 CSR input shares its index arrays, which
    sorting would reorder in place). Canonical inputs are read in place; anything else is copied
    first."""
    C = sp.csr_array(A, dtype=np.float64)
    if not C.has_canonical_format:
        C = C.copy() if _shares(C, A) else C
        C.sum_duplicates()                       # sorts the indices too
    return C


def _shares(C, A):
    """Whether C holds any array of A (a CSR input converted without a copy, even when only its
    dtype changed: the index arrays are still the caller's)."""
    theirs = [a for a in (getattr(A, name, None) for name in ("data", "indices", "indptr"))
              if isinstance(a, np.ndarray)]
    return any(np.shares_memory(a, b) for a in theirs for b in (C.data, C.indices, C.indptr))


def _values_at(A, rows, cols):
    """Values of the CSR matrix A at (rows, cols), 0 where A stores nothing: one search over keys
    row·m + column, which are sorted in a canonical CSR matrix. O((nnz + len(rows)) log nnz)."""
    A = _canonical_csr(A)
    out = np.zeros(len(rows))
    if not A.nnz:
        return out
    m = A.shape[1]
    key_a = np.repeat(np.arange(A.shape[0], dtype=np.int64), np.diff(A.indptr)) * m + A.indices
    key_q = rows.astype(np.int64) * m + cols
    pos = np.minimum(np.searchsorted(key_a, key_q), len(key_a) - 1)
    hit = key_a[pos] == key_q
    out[hit] = A.data[pos[hit]]
    return out


def _indptr(r, n):
    """CSR row pointers of sorted row indices."""
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=n), out=indptr[1:])
    return indptr


# ----------------------------------------------------------------------------------------------
# the objective

def side_objective(side, X, Y):
    """Σ_ij W_ij (M_ij − ⟨X_i, Y_j⟩)² over one side, in row blocks (never forms X Yᵀ whole)."""
    n = side.shape[0]
    k = X.shape[1]
    total = 0.0
    if isinstance(side, DenseSide):
        views = side.viewable
        for r in side.row_blocks():
            if views:                       # unscaled rows: the scales applied to R and the sum
                Wb, Mb = side.views(r)
                R = np.divide(Mb, side.m_scale)
                R -= X[r] @ Y.T
                total += float(np.einsum("ij,ij,ij->", Wb, R, R)) / side.w_scale
            else:
                Wb, Mb = side.solver_block(r)
                R = Mb - X[r] @ Y.T
                total += float(np.einsum("ij,ij,ij->", Wb, R, R))
        return total
    from .solvers.kernels import csr_objective_rows      # here: `import wlra_core` stays light
    X = np.ascontiguousarray(X, dtype=np.float64)
    Y = np.ascontiguousarray(Y, dtype=np.float64)
    return float(np.sum(csr_objective_rows(side.indptr, side.indices, side.w, side.mv, X, Y)))


def unscale(f, m_scale, w_scale):
    """f · m_scale² · w_scale: a value of the scaled problem in the caller's units.

    Multiplied as mantissas and exponents, so no intermediate overflows (m_scale² alone overflows
    above 1.3e154): the result is finite whenever f·m_scale²·w_scale itself is a float. Beyond the
    float range it is inf, without a warning: the relative objective stays the finite measure."""
    f = float(f)
    if f == 0.0 or not math.isfinite(f):
        return f
    mf, ef = math.frexp(f)
    mm, em = math.frexp(m_scale)
    mw, ew = math.frexp(w_scale)
    try:
        return math.ldexp(mf * mm * mm * mw, ef + 2 * em + ew)
    except OverflowError:
        return math.copysign(math.inf, f)


def objective(M, W, X, Y):
    """f(X, Y) = Σ_ij W_ij (M_ij − (X Yᵀ)_ij)², for dense or sparse W (entries with W = 0 ignored)."""
    X = _as_float_array("X", X)
    Y = _as_float_array("Y", Y)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[1] != Y.shape[1]:
        raise InputError(f"X, Y: found shapes {X.shape} and {Y.shape}, need (n, k) and (m, k).")
    if tuple(M.shape) != (X.shape[0], Y.shape[0]):
        raise InputError(f"X, Y: found shapes {X.shape} and {Y.shape}, need ({M.shape[0]}, k) and "
                         f"({M.shape[1]}, k) to match M {tuple(M.shape)}.")
    prob = validate(M, W, X.shape[1]) if X.shape[1] <= min(M.shape) else validate(M, W, 1)
    return unscale(side_objective(prob.rows, X / prob.m_scale, Y), prob.m_scale, prob.w_scale)
