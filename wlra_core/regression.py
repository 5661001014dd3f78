"""The half-step: one weighted least-squares problem per row of a side, all solved together.

Row i of a side regresses b_i = D_√W_i M_iᵀ on A_i = D_√W_i Y (only the N_i entries with W_ij > 0
matter), with an optional ridge λ‖x‖²:

    x_i = argmin ‖A_i x − b_i‖² + λ‖x‖²,   i.e.   (A_iᵀA_i + λI) x_i = A_iᵀ b_i.

Every solver has ONE signature, `half_step(side, Y, X0, opts)`, and works on blocks of rows so that
working memory stays within `opts.budget` bytes (a third for the rows of a block, a quarter for
the packed outer products of Y, a sixth for sketches, a sixteenth per batch of k×k systems):

* "exact" (LLR16): the normal equations. Dense W: every row's Gram matrix at once, as one matrix
  product of W with the row-wise symmetric outer products of Y (m × k(k+1)/2, in column chunks),
  then a batched Cholesky solve: O(nnz(W)·k² + n·k³). Sparse W: rows sorted by length and padded
  into blocks, A_iᵀA_i by batched matrix products: the same cost, never densified.
* "sketched" (SYYZ): a sketch S·A_i of each row (see sketches.py) gives R with RᵀR = (SA_i)ᵀSA_i + λI;
  then preconditioned iterations from the warm start until the paper's criterion

      ‖R⁻ᵀ (A_iᵀ(b_i − A_i x) − λx)‖ ≤ eps·‖b_i‖

  holds (it bounds ‖A_i(x − x*)‖ by about eps·‖b_i‖) or `max_inner` iterations are spent.
  inner="pcg" uses conjugate gradients on the preconditioned system (the labelled variant PAPER.md
  allows); inner="gd" the paper's gradient descent with step 1, z ← z + R⁻ᵀA_iᵀ(b − A_iR⁻¹z),
  with one safeguard: where step 1 overshoots the minimum along the step, the step is that
  minimum's, ‖g‖²/gᵀCg with g = R⁻ᵀA_iᵀ(b − A_ix), C = R⁻ᵀA_iᵀA_iR⁻¹ (so never longer than 1, and
  exactly 1 for a perfect embedding). Step 1 diverges when σ_max(A_iR⁻¹)² ≥ 2, which a sketch of
  s = 4k rows allows; the former safeguard (halve the step when the residual grows) left rows with
  σ_max² just under 2/step converging by 0.998 per iteration (5 000 iterations for eps = 1e-3).
  Each iteration costs O(N_i·k + k²) per row: for dense W two n×m×k matrix products in all.
  Rows with N_i ≤ s (the sketch size) gain nothing from a sketch and are solved exactly.
* "cg": the same iterations without a preconditioner (the approach of the `implicit` library),
  stopped when ‖A_iᵀ(b_i − A_i x) − λx‖ ≤ eps·‖b_i‖·√(tr(A_iᵀA_i)/k), the same criterion with the
  rms singular value of A_i in place of the preconditioner.

Under-determined rows (fewer than k positive weights, λ = 0) get the minimum-norm least-squares
solution, and empty rows get 0, in every solver: never NaN, never an exception. The exact solves
(the "exact" solver, and the short rows of the others) use the normal equations only where they are
accurate (see _solve_spd: weights spanning many orders of magnitude, or nearly parallel rows of
the other factor, make them fail); the other rows, and the under-determined ones, are solved from
A_i itself by a batched SVD, which never fits round-off.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.linalg.blas import dsymv
from scipy.linalg.lapack import dposv, dpotrs, dtrtri
from threadpoolctl import ThreadpoolController

from .problem import DenseSide
from .sketches import gram, sketch_gram

_DIAG_ROWS = 12

# Batched small-matrix work (n factorisations of k×k, n products of k×N by N×k) runs one matrix at
# a time inside LAPACK/BLAS calls that are too small to share between threads: measured here on
# 2 busy cores, a batch of 512 Cholesky factorisations of 128×128 took 5.7 s with 2 OpenBLAS
# threads and 0.075 s with 1. Those calls run single-threaded; the large products (W times the
# packed outer products, the n×m×k products of the iterations) keep every thread.
_BLAS = []


def blas_single_thread():
    """A context in which BLAS/LAPACK use one thread."""
    if not _BLAS:                       # made on first use, once numpy's and scipy's BLAS are loaded
        _BLAS.append(ThreadpoolController())
    return _BLAS[0].limit(limits=1, user_api="blas")


def _single_threaded(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with blas_single_thread():
            return fn(*args, **kwargs)
    return wrapper


@dataclass(frozen=True)
class Options:
    solver: str
    eps: float
    ridge: float
    sketch: str
    s: int                 # sketch size
    inner: str             # "pcg" or "gd"
    max_inner: int
    budget: int            # bytes of working memory
    diagnostics: bool


# ----------------------------------------------------------------------------------------------
# blocks of rows: two layouts behind one small interface

class _PackedOuter:
    """Row-wise symmetric outer products of Y, vec_sym(y_j y_jᵀ), as an m × k(k+1)/2 matrix in
    column chunks (kept if they fit in the budget, recomputed per use otherwise)."""

    def __init__(self, Y, budget):
        m, k = Y.shape
        self.Y = Y
        self.k = k
        self.iu, self.ju = np.triu_indices(k)
        K2 = len(self.iu)
        per = max(1, min(K2, budget // (8 * m)))
        self.slices = [slice(c0, min(c0 + per, K2)) for c0 in range(0, K2, per)]
        self.cached = None         # made on first use, and kept only when it is one chunk

    def _make(self, c):
        return self.Y[:, self.iu[c]] * self.Y[:, self.ju[c]]

    def chunks(self):
        if len(self.slices) == 1:
            if self.cached is None:
                self.cached = self._make(self.slices[0])
            yield self.slices[0], self.cached
            return
        for c in self.slices:
            yield c, self._make(c)


class _DenseBlock:
    """Rows r0:r1 of a dense side: scaled contiguous copies (DenseSide.block), so the inner
    iterations also run on contiguous rows for the transposed side (2.4× faster, measured)."""

    def __init__(self, W, M, Y, counts):
        self.W, self.M, self.Y, self.counts = W, M, Y, counts

    def take(self, sel):
        return _DenseBlock(self.W[sel], self.M[sel], self.Y, self.counts[sel])

    def rhs(self):
        WM = self.W * self.M
        self._bnorm2 = np.einsum("ij,ij->i", WM, self.M)
        return WM @ self.Y

    def bnorm2(self):
        if getattr(self, "_bnorm2", None) is None:
            self._bnorm2 = np.einsum("ij,ij,ij->i", self.W, self.M, self.M)
        return self._bnorm2

    def trace(self):
        return self.W @ np.einsum("ij,ij->i", self.Y, self.Y)

    def apply(self, V):
        """Σ_j W_ij ⟨v_i, y_j⟩ y_j for every row: two matrix products, in sub-blocks of rows whose
        n×m intermediate stays in cache (256 rows at m = 4096 ran 2× faster than one product
        over all rows, measured here)."""
        out = np.empty_like(V)
        step = max(16, (1 << 21) // max(self.W.shape[1], 1))
        for r0 in range(0, V.shape[0], step):
            T = V[r0:r0 + step] @ self.Y.T
            T *= self.W[r0:r0 + step]
            out[r0:r0 + step] = T @ self.Y
        return out

    def gram(self, packed):
        k = self.Y.shape[1]
        P = np.empty((self.W.shape[0], len(packed.iu)))
        for c, YY in packed.chunks():
            P[:, c] = self.W @ YY
        return P

    @_single_threaded
    def sketch(self, o, rng):
        return sketch_gram(o.sketch, o.s, self.Y, None, self.W, rng, budget=o.budget // 6)

    def design(self, local):
        """A_i = D_√W_i Y and b_i for the rows `local`, restricted to their positive weights and
        padded with zero rows to the longest: ((c, N, k), (c, N))."""
        W = self.W[local]
        pos = W > 0
        cnt = pos.sum(axis=1)
        N = max(int(cnt.max(initial=0)), 1)
        order = np.argsort(~pos, axis=1, kind="stable")[:, :N]          # weighted entries first
        valid = np.arange(N)[None, :] < cnt[:, None]
        sw = np.sqrt(np.where(valid, np.take_along_axis(W, order, axis=1), 0.0))
        return self.Y[order] * sw[:, :, None], sw * np.take_along_axis(self.M[local], order, axis=1)


class _RaggedBlock:
    """Rows of a sparse side, padded to the longest: A (b, N, k) materialised once per block."""

    def __init__(self, side, rows, Y):
        counts = side.counts[rows]
        N = max(int(counts.max()), 1)
        pos = side.indptr[rows][:, None] + np.arange(N)[None, :]
        valid = np.arange(N)[None, :] < counts[:, None]
        pos = np.where(valid, pos, 0)
        self.idx = np.where(valid, side.indices[pos] if len(side.indices) else 0, 0)
        self.w = np.where(valid, side.w[pos] if len(side.w) else 0.0, 0.0)
        sw = np.sqrt(self.w)
        self.b = sw * np.where(valid, side.mv[pos] if len(side.mv) else 0.0, 0.0)
        self.A = Y[self.idx] * sw[:, :, None]
        self.Y = Y
        self.counts = counts

    def take(self, sel):
        new = object.__new__(_RaggedBlock)
        new.idx, new.w, new.b, new.A = self.idx[sel], self.w[sel], self.b[sel], self.A[sel]
        new.Y, new.counts = self.Y, self.counts[sel]
        return new

    @_single_threaded
    def rhs(self):
        return np.einsum("bnk,bn->bk", self.A, self.b)

    def bnorm2(self):
        return np.einsum("ij,ij->i", self.b, self.b)

    def trace(self):
        return np.einsum("ijk,ijk->i", self.A, self.A)

    @_single_threaded
    def apply(self, V):
        """A_iᵀ(A_i v_i) for every row: batched matrix-vector products, memory-bound (einsum ran
        them 3× faster than stacked matmul, measured here)."""
        t = np.einsum("bnk,bk->bn", self.A, V)
        return np.einsum("bnk,bn->bk", self.A, t)

    @_single_threaded
    def full_gram(self):
        return gram(self.A)

    @_single_threaded
    def sketch(self, o, rng):
        return sketch_gram(o.sketch, o.s, self.Y, self.idx, self.w, rng, budget=o.budget // 6)

    def design(self, local):
        """A_i and b_i for the rows `local` (already padded with zero rows)."""
        return self.A[local], self.b[local]


def _unpack(P, k, iu, ju):
    """Lower triangles of the Gram matrices from their packed upper parts: every consumer
    (LAPACK's Cholesky solves, eigh, eigvalsh) reads the lower triangle only. The upper triangle
    is zero, not uninitialised: G + λI reads it, and stale memory holding a signalling NaN made
    that addition raise "invalid value encountered" (found by the property tests)."""
    G = np.zeros((P.shape[0], k, k))
    G[:, ju, iu] = P
    return G


def _mirror(G):
    """The full symmetric matrices from their lower triangles."""
    lo = np.tril_indices(G.shape[-1], -1)
    G[:, lo[1], lo[0]] = G[:, lo[0], lo[1]]
    return G


def _blocks(side, Y, o, per_row_bytes):
    """Yield (rows, block): rows is a slice (dense) or an index array (sparse) into the side."""
    n = side.shape[0]
    k = Y.shape[1]
    if isinstance(side, DenseSide):
        b = int(max(1, min(n, (o.budget // 3) // max(per_row_bytes, 1))))
        for r0 in range(0, n, b):
            r = slice(r0, min(r0 + b, n))
            yield r, _DenseBlock(*side.block(r), Y, side.counts[r])
        return
    counts = side.counts
    order = np.argsort(counts, kind="stable")
    # padded blocks of rows of similar length: b·N_max·k·8 bytes of design each, a few MB so
    # that the iterations run in cache
    target = max(1, min(o.budget // 8, 48 << 20) // (8 * (k + 3)))
    sc = counts[order]
    start = 0
    while start < n:
        nmax_fit = np.arange(1, n - start + 1) * np.maximum(sc[start:], 1)
        stop = start + max(1, int(np.searchsorted(nmax_fit, target, side="right")))
        stop = min(stop, n, start + 8192)
        rows = order[start:stop]
        yield rows, _RaggedBlock(side, rows, Y)
        start = stop


# ----------------------------------------------------------------------------------------------
# batched solves

# The normal equations square the condition number of A_i, so each row's system is checked before
# its solution is kept; the rows that fail are solved from A_i itself (`_lstsq`). Two cheap tests:
# * the diagonal of G + λI (the squared column norms of A_i) spans at most _DIAGONAL_SPAN: a column
#   1e-5 times shorter than another may be round-off that the normal equations would fit with a
#   huge coefficient (an orthonormal factor's column that is ~1e-17 on a row's support got 1e32,
#   and the next orthonormalisation could no longer represent the factor);
# * one step of iterative refinement, δ = (G + λI)⁻¹(rhs − (G + λI)x), moves x by at most
#   _FORWARD_ERROR relative (its forward error, about κ·ε_mach: κ ≲ 5e9).
# Found by the property tests: weights spanning 1e-12 … 1e12 gave Gram matrices with κ ≈ 3e17
# whose solve returned coefficients 1e9× off (finite, so accepted) and the exact solver's objective
# jumped from 1e-19·T to 0.6·T. Rows that pass lose at most about ε_mach²·κ ≈ 1e-21 relative.
_DIAGONAL_SPAN = 1e10
_FORWARD_ERROR = 1e-6


@_single_threaded
def _solve_spd(G, rhs, ridge, counts, k):
    """x_i = (G_i + λI)⁻¹ rhs_i for the well-conditioned rows of a batch.

    Returns (x, redo): `redo` marks the rows with a positive weight that the normal equations
    cannot solve accurately, for a least-squares solve of A_i itself (`_lstsq`):
    fewer than k positive weights with λ = 0 (under-determined: the minimum-norm solution), a
    diagonal spanning more than _DIAGONAL_SPAN, a matrix that is singular or not positive definite,
    or an estimated forward error above _FORWARD_ERROR. Empty rows get 0. G holds lower
    triangles (the upper ones are not read)."""
    b = G.shape[0]
    x = np.zeros((b, k))
    if b == 0:
        return x, np.zeros(0, bool)
    H = G + ridge * np.eye(k) if ridge > 0 else G
    regular = (counts >= k) if ridge == 0 else np.ones(b, bool)
    regular &= counts > 0
    diag = np.diagonal(H, axis1=1, axis2=2)
    regular &= diag.min(axis=1) * _DIAGONAL_SPAN >= diag.max(axis=1)
    where = np.flatnonzero(regular)
    if len(where) and k >= 32:
        # LAPACK's Cholesky solve per row, on the lower triangle: half the flops of a batched LU
        # and no mirroring (0.48 s against 0.91 s for 4096 systems of 64×64, measured here)
        for i in where:
            c, xi, info = dposv(H[i], rhs[i], lower=1)
            if info == 0 and np.all(np.isfinite(xi)):
                with np.errstate(invalid="ignore", over="ignore"):
                    d, info = dpotrs(c, rhs[i] - dsymv(1.0, H[i], xi, lower=1), lower=1)
                    small = np.linalg.norm(d) <= _FORWARD_ERROR * np.linalg.norm(xi)
                if info == 0 and small:
                    x[i] = xi
                    continue
            regular[i] = False
    elif len(where):
        Hw = _mirror(H[where])
        try:
            with np.errstate(invalid="ignore", over="ignore"):   # a wild x is caught just below
                xr = np.linalg.solve(Hw, rhs[where][..., None])
                d = np.linalg.solve(Hw, rhs[where][..., None] - Hw @ xr)[..., 0]
                xr = xr[..., 0]
                ok = (np.all(np.isfinite(xr), axis=1) & np.all(np.isfinite(d), axis=1)
                      & (np.linalg.norm(d, axis=1) <= _FORWARD_ERROR * np.linalg.norm(xr, axis=1)))
            x[where[ok]] = xr[ok]
            regular[where[~ok]] = False
        except np.linalg.LinAlgError:         # an exactly singular matrix in the batch
            regular[where] = False
    short = np.flatnonzero((counts > 0) & (counts < k)) if ridge == 0 else np.zeros(0, np.int64)
    if len(short):
        xs, ok = _min_norm(H[short], rhs[short], counts[short])
        x[short[ok]] = xs[ok]
        regular[short[ok]] = True
    return x, ~regular & (counts > 0)


def _min_norm(H, rhs, counts):
    """Minimum-norm solutions for under-determined rows (N_i < k, λ = 0) from the eigenvectors of
    their Gram matrices, kept only where that is accurate: exactly N_i eigenvalues above
    1/_DIAGONAL_SPAN of the largest (A_i has full row rank N_i and κ(A_i)² ≤ _DIAGONAL_SPAN; the
    other k − N_i are round-off). Returns (x, ok); the rest are left to `_lstsq`."""
    vals, vecs = np.linalg.eigh(H)
    keep = vals > vals[:, -1:] / _DIAGONAL_SPAN
    ok = (keep.sum(axis=1) == counts) & (vals[:, -1] > 0)
    inv = np.where(keep, 1.0 / np.where(keep, vals, 1.0), 0.0)
    c = np.matmul(vecs.transpose(0, 2, 1), rhs[..., None])[..., 0] * inv
    return np.matmul(vecs, c[..., None])[..., 0], ok


@_single_threaded
def _lstsq(A, b, ridge):
    """argmin ‖A_i x − b_i‖² + λ‖x‖² for a batch (c, N, k) from A_i itself, by SVD: singular values
    below max(N, k)·ε_mach·σ_max count as zero (numpy's lstsq rule), so the solution is the
    minimum-norm one where A_i is (numerically) rank deficient, and round-off is never fitted."""
    c, N, k = A.shape
    if ridge > 0:
        A = np.concatenate([A, np.broadcast_to(np.sqrt(ridge) * np.eye(k), (c, k, k))], axis=1)
        b = np.concatenate([b, np.zeros((c, k))], axis=1)
    try:
        u, sv, vt = np.linalg.svd(A, full_matrices=False)
    except np.linalg.LinAlgError:             # one matrix of the batch did not converge: row by row
        return np.stack([_lstsq_row(Ai, bi) for Ai, bi in zip(A, b)]) if c else np.zeros((0, k))
    cut = sv[:, :1] * max(A.shape[1], k) * np.finfo(float).eps
    inv = np.where(sv > cut, 1.0 / np.where(sv > cut, sv, 1.0), 0.0)
    coef = np.einsum("cnr,cn->cr", u, b) * inv
    return np.einsum("crk,cr->ck", vt, coef)


def _lstsq_row(A, b):
    """numpy's lstsq of one row; 0 (the minimum-norm answer to no information) if its SVD fails."""
    try:
        return np.linalg.lstsq(A, b, rcond=None)[0]
    except np.linalg.LinAlgError:
        return np.zeros(A.shape[1])


def _solve_exact(blk, sub, G, rhs, ridge, k):
    """The exact regressions of the rows `sub` of a block, from their Gram matrices G: the
    normal equations where they are accurate, a least-squares solve of A_i elsewhere."""
    x, redo = _solve_spd(G, rhs, ridge, blk.counts[sub], k)
    local = np.arange(len(blk.counts))[sub][redo]
    where = np.flatnonzero(redo)
    step = max(1, (32 << 20) // (8 * k * max(int(blk.counts[local].max(initial=0)) + k, 1)))
    for c0 in range(0, len(local), step):       # in chunks of about 32 MB of designs
        x[where[c0:c0 + step]] = _lstsq(*blk.design(local[c0:c0 + step]), ridge)
    return x


@_single_threaded
def _solve_pinv(H, rhs):
    """Minimum-norm solutions of symmetric semi-definite systems, by eigendecomposition."""
    vals, vecs = np.linalg.eigh(H)
    cutoff = vals.max(axis=1, keepdims=True) * H.shape[-1] * np.finfo(float).eps
    inv = np.where(vals > cutoff, 1.0 / np.where(vals > cutoff, vals, 1.0), 0.0)
    c = np.matmul(vecs.transpose(0, 2, 1), rhs[..., None])[..., 0] * inv
    return np.matmul(vecs, c[..., None])[..., 0]


@_single_threaded
def _preconditioner(H):
    """R⁻¹ for every row, with RᵀR = H (the sketched Gram + λI), as a batch of upper-triangular
    k×k matrices, so that applying it is a batched product (a C loop, not a Python one)."""
    L = _cholesky_shifted(H)
    k = H.shape[-1]
    if k < 32:
        return np.linalg.inv(L).transpose(0, 2, 1)
    # LAPACK's triangular inverse: a third of the flops of a general inverse (0.13 s against
    # 0.31 s for 256 factors of 128×128, measured here)
    Linv = np.empty_like(L)
    for i in range(len(L)):
        Linv[i] = dtrtri(L[i], lower=1)[0]       # the zero upper triangle of L is kept
    return Linv.transpose(0, 2, 1)


def _cholesky_shifted(H):
    """Cholesky factors of a batch of (nearly) SPD matrices, shifting the diagonal if needed."""
    k = H.shape[-1]
    scale = np.maximum(np.trace(H, axis1=1, axis2=2) / k, np.finfo(float).tiny)
    for shift in (0.0, 1e-12, 1e-9, 1e-6, 1e-3):
        try:
            L = np.linalg.cholesky(H + (shift * scale)[:, None, None] * np.eye(k) if shift else H)
            if np.all(np.isfinite(L)):
                return L
        except np.linalg.LinAlgError:
            pass
    return np.linalg.cholesky(H + scale[:, None, None] * np.eye(k))


# ----------------------------------------------------------------------------------------------
# the half-step

def half_step(side, Y, X0, o, rng):
    """Solve every row's regression of `side` against the factor Y (m×k).

    X0 (n×k or None) is the warm start of the iterative solvers. Returns (X, stats)."""
    n = side.shape[0]
    m, k = Y.shape
    X = np.zeros((n, k))
    st = _Stats(n)
    iterative = o.solver in ("sketched", "cg")
    counts = side.counts
    if iterative and o.diagnostics:
        eligible = np.flatnonzero(counts > (o.s if o.solver == "sketched" else k))
        take = np.unique(np.linspace(0, len(eligible) - 1, min(_DIAG_ROWS, len(eligible))).astype(int))
        diag_rows = set(eligible[take].tolist()) if len(eligible) else set()
    else:
        diag_rows = set()

    dense = isinstance(side, DenseSide)
    # the packed outer products of Y serve every dense Gram product of this half-step
    packed = _PackedOuter(Y, o.budget // 4) if dense else None
    if o.solver == "exact" and dense:
        per_row = 8 * (len(packed.iu) + 3 * m + 2 * k)     # P, and the block's W, M, W∘M rows
    else:
        per_row = 8 * (3 * m + 3 * k * k + 4 * k) if dense else 0

    for rows, blk in _blocks(side, Y, o, per_row):
        rhs = blk.rhs()
        if o.solver == "exact":
            G = _block_grams(blk, packed, k, o.budget)
            for sub, Gs in G:
                X[_at(rows, sub)] = _solve_exact(blk, sub, Gs, rhs[sub], o.ridge, k)
            continue
        x0 = np.zeros((len(rhs), k)) if X0 is None else X0[rows]
        cut = o.s if o.solver == "sketched" else k - 1
        exact_rows = np.flatnonzero(blk.counts <= cut)
        if len(exact_rows):
            eb = blk.take(exact_rows)
            for sub, Gs in _block_grams(eb, packed, k, o.budget):
                X[_at(rows, exact_rows[sub])] = _solve_exact(eb, sub, Gs, rhs[exact_rows][sub], o.ridge, k)
            st.exact_rows += len(exact_rows)
        it_rows = np.flatnonzero(blk.counts > cut)
        if not len(it_rows):
            continue
        ib = blk.take(it_rows) if len(it_rows) < len(rhs) else blk
        L = None
        if o.solver == "sketched":
            Gs = ib.sketch(o, rng)
            # a sketch that missed most of a row's mass (possible with few samples) would give a
            # near-singular preconditioner: such rows take their exact Gram matrix instead
            weak = ~(np.trace(Gs, axis1=1, axis2=2) >= 1e-3 * ib.trace())
            if weak.any():
                for sub, Ge in _block_grams(ib.take(np.flatnonzero(weak)), packed, k, o.budget):
                    Gs[np.flatnonzero(weak)[sub]] = Ge
                st.weak_sketches += int(weak.sum())
            L = _preconditioner(Gs + o.ridge * np.eye(k))
        bnorm = np.sqrt(ib.bnorm2())
        x, iters, res = _iterate(ib, x0[it_rows], rhs[it_rows], bnorm, L, o)
        X[_at(rows, it_rows)] = x
        st.add_iterations(iters, res)
        if diag_rows:
            glob = _at(rows, it_rows)
            pick = np.flatnonzero([g in diag_rows for g in glob])
            if len(pick):
                st.add_diagnostics(ib.take(pick), packed, x[pick], rhs[it_rows][pick],
                                   None if L is None else L[pick], o.ridge, k)
    return X, st.summary(o)


def _at(rows, sub):
    if isinstance(rows, slice):
        return np.arange(rows.start, rows.stop)[sub]
    return rows[sub]


def _block_grams(blk, packed, k, budget=1 << 30):
    """Yield (sub-batch, its Gram matrices (c, k, k)): unpacked in sub-batches to bound memory."""
    b = len(blk.counts)
    if isinstance(blk, _RaggedBlock):
        yield slice(0, b), blk.full_gram()
        return
    P = blk.gram(packed)
    step = max(1, budget // (16 * 8 * k * k))       # G and the solve's copies of it
    for r0 in range(0, b, step):
        sub = slice(r0, min(r0 + step, b))
        yield sub, _unpack(P[sub], k, packed.iu, packed.ju)


def _iterate(blk, x0, rhs, bnorm, L, o):
    """Preconditioned CG (or the paper's gradient descent) for a block of rows, with the rows that
    have met the stopping rule dropped from the block as they converge."""
    b, k = x0.shape
    x = x0.copy()
    with np.errstate(over="ignore", invalid="ignore"):
        r = rhs - blk.apply(x) - o.ridge * x
        # φ(x) = xᵀ(AᵀA + λ)x − 2xᵀrhs = −xᵀ(rhs + r): a warm start worse than x = 0 (φ > 0) is
        # dropped. With a large ridge (values 1e-149, weights 1e-12, λ = 1: 1e161 on the scaled
        # problem) an O(1) start made (AᵀA + λ)p overflow, NaN reached the factors, and the next
        # SVD raised LinAlgError (found by the fuzzing).
        worse = ~(np.einsum("ij,ij->i", x, rhs + r) >= 0)
    if worse.any():
        x[worse] = 0.0
        r[worse] = rhs[worse]
    gd = o.inner == "gd" and L is not None

    @_single_threaded
    def precond(v, Rinv):
        """(RᵀR)⁻¹ v = R⁻¹ R⁻ᵀ v."""
        if Rinv is None:
            return v.copy()
        u = np.matmul(v[:, None, :], Rinv)                       # (R⁻ᵀ v)ᵀ
        return np.matmul(Rinv, u.transpose(0, 2, 1))[..., 0]

    z = precond(r, L)
    rz = np.einsum("ij,ij->i", r, z)
    if L is None:
        thresh = (o.eps * bnorm) ** 2 * blk.trace() / k
        measure = lambda r_, z_: np.einsum("ij,ij->i", r_, r_)
    else:
        thresh = (o.eps * bnorm) ** 2
        measure = lambda r_, z_: np.einsum("ij,ij->i", r_, z_)
    meas = measure(r, z)
    iters = np.zeros(b, np.int64)
    p = z.copy()
    live = np.arange(b)          # rows of the original block that `cur` (and Lc) hold
    cur, Lc = blk, L
    active = meas > thresh
    for _ in range(o.max_inner):
        act = np.flatnonzero(active)
        if not len(act):
            break
        if len(act) <= len(live) // 2:          # compress the block to the rows still working
            sub = np.searchsorted(live, act)
            cur = cur.take(sub)
            Lc = None if Lc is None else Lc[sub]
            live = act
        # the products run on every row `cur` holds (no copy of its data); converged rows are
        # then dropped from the update
        P_live = p[live]
        Q_live = cur.apply(P_live)
        if len(act) == len(live):
            P_, q, Lb = P_live, Q_live, Lc
        else:
            pos = np.searchsorted(live, act)
            P_, q, Lb = P_live[pos], Q_live[pos], (None if Lc is None else Lc[pos])
        with np.errstate(over="ignore", invalid="ignore"):   # a row that overflows stops below
            if o.ridge:
                q = q + o.ridge * P_
            pq = np.einsum("ij,ij->i", P_, q)
            alpha = np.where(pq > 0, rz[act] / np.where(pq > 0, pq, 1.0), 0.0)
            if gd:                               # step 1, or shorter where 1 overshoots
                alpha = np.minimum(alpha, 1.0)
            x_a = x[act] + alpha[:, None] * P_
            r_a = r[act] - alpha[:, None] * q
            z_a = precond(r_a, Lb)
            rz_new = np.einsum("ij,ij->i", r_a, z_a)
            meas_a = measure(r_a, z_a)
        ok = np.isfinite(x_a).all(axis=1) & np.isfinite(z_a).all(axis=1) & np.isfinite(meas_a)
        if not ok.all():                         # keep the last finite iterate of such rows
            active[act[~ok]] = False
            act, alpha, P_, x_a, r_a, z_a, rz_new, meas_a = (
                act[ok], alpha[ok], P_[ok], x_a[ok], r_a[ok], z_a[ok], rz_new[ok], meas_a[ok])
        x[act] = x_a
        r[act] = r_a
        beta = 0.0 if gd else np.where(rz[act] > 0, rz_new / np.where(rz[act] > 0, rz[act], 1.0), 0.0)
        p[act] = z_a + (beta[:, None] * P_ if not gd else 0.0)
        rz[act] = rz_new
        iters[act] += 1
        meas[act] = meas_a
        active[act] = (meas[act] > thresh[act]) & (alpha != 0)
    rel = np.sqrt(np.maximum(meas, 0.0)) / np.where(bnorm > 0, bnorm, 1.0)
    if L is None:
        rel = rel / np.sqrt(np.maximum(blk.trace() / k, np.finfo(float).tiny))
    return x, iters, rel


def _cond(ev):
    """Condition numbers of A from the eigenvalues of AᵀA (ascending, per row)."""
    lo, hi = ev[:, 0], ev[:, -1]
    return np.where(lo > 0, np.sqrt(np.abs(hi) / np.where(lo > 0, lo, 1.0)), np.inf)


class _Stats:
    def __init__(self, n):
        self.n = n
        self.exact_rows = 0
        self.weak_sketches = 0
        self.iters = []
        self.res = []
        self.cond_before, self.cond_after, self.fwd = [], [], []

    def add_iterations(self, iters, res):
        self.iters.append(iters)
        self.res.append(res)

    @_single_threaded
    def add_diagnostics(self, blk, packed, x, rhs, Rinv, ridge, k):
        """κ(A_i) and κ(A_i R⁻¹) from the exact Gram (A_iᵀA_i + λI), and the forward error of x
        against the exact regression, for a few rows."""
        if isinstance(blk, _RaggedBlock):
            G = blk.full_gram()
        else:
            G = _mirror(_unpack(blk.gram(packed), k, packed.iu, packed.ju))
        H = G + ridge * np.eye(k)
        fine = np.all(np.isfinite(x), axis=1) & np.all(np.isfinite(H), axis=(1, 2))
        if Rinv is not None:
            fine &= np.all(np.isfinite(Rinv), axis=(1, 2))
        H, x, rhs = H[fine], x[fine], rhs[fine]
        Rinv = None if Rinv is None else Rinv[fine]
        if not len(H):
            return
        xs = _solve_pinv(H, rhs)
        ev = np.linalg.eigvalsh(H)
        self.cond_before.extend(_cond(ev))
        if Rinv is not None:
            C = np.matmul(Rinv.transpose(0, 2, 1), np.matmul(H, Rinv))
            self.cond_after.extend(_cond(np.linalg.eigvalsh((C + C.transpose(0, 2, 1)) / 2)))
        nx = np.linalg.norm(xs, axis=1)
        err = np.linalg.norm(x - xs, axis=1)
        self.fwd.extend(np.where(nx > 0, err / np.where(nx > 0, nx, 1.0), err))

    def summary(self, o):
        its = np.concatenate(self.iters) if self.iters else np.zeros(0, np.int64)
        res = np.concatenate(self.res) if self.res else np.zeros(0)
        return {
            "rows": self.n,
            "iterative_rows": int(its.size),
            "exact_rows": int(self.exact_rows) if o.solver != "exact" else self.n,
            "weak_sketches": int(self.weak_sketches),
            "inner_iterations_total": int(its.sum()),
            "inner_iterations_max": int(its.max()) if its.size else 0,
            "residual": float(res.max()) if res.size else 0.0,
            "cond_before": np.asarray(self.cond_before),
            "cond_after": np.asarray(self.cond_after),
            "forward_error": np.asarray(self.fwd),
        }
