"""Blocks of rows of one side, in two layouts behind one small interface.

A block holds some rows of a side (the regressions of a half-step) and the other factor Y (m×k),
and offers what the solvers need of row i's design A_i = D_√W_i Y and target b_i = D_√W_i M_iᵀ:

    rhs()          A_iᵀ b_i for every row (and caches ‖b_i‖², tr(A_iᵀA_i))
    apply(V)       A_iᵀ(A_i v_i) for every row
    gram(packed)   A_iᵀA_i (dense: one matrix product with the packed outer products of Y)
    sketch(o, rng) (S A_i)ᵀ(S A_i), the sketched Gram matrices
    design(local)  A_i and b_i themselves, padded (for the few rows solved by a least-squares SVD)
    take(sel)      the block of a subset of its rows

Dense rows are read-only views of a large side's W and M (the scales moved onto Y and the
targets), or scaled copies where views do not apply (DenseSide.viewable); their products are BLAS
matrix products.
Sparse rows are read in place from the side's CSR arrays by the compiled kernels (kernels.py):
no padded copies of the designs.
"""
from __future__ import annotations

import math

import numpy as np

from ..problem import DenseSide
from ..sketches import sketch_gram
from ..threads import blas_single_thread
from . import kernels as K


APPLY_CHUNK = 1 << 21     # entries of W per sub-block of DenseBlock.apply (its intermediate stays in cache)


class PackedOuter:
    """Row-wise symmetric outer products of Y, vec_sym(y_j y_jᵀ), as an m × k(k+1)/2 matrix in
    column chunks (kept if they fit in the budget, recomputed per use otherwise)."""

    def __init__(self, Y, budget):
        m, k = Y.shape
        self.Y = Y
        self.k = k
        self.iu, self.ju = (np.ascontiguousarray(a, dtype=np.int64) for a in np.triu_indices(k))
        K2 = len(self.iu)
        per = max(1, min(K2, budget // (8 * m)))
        self.slices = [slice(c0, min(c0 + per, K2)) for c0 in range(0, K2, per)]
        self.cached = None         # made on first use, and kept only when it is one chunk

    def _make(self, c):
        return K.packed_pairs(self.Y, self.iu[c], self.ju[c])

    def chunks(self):
        if len(self.slices) == 1:
            if self.cached is None:
                self.cached = self._make(self.slices[0])
            yield self.slices[0], self.cached
            return
        for c in self.slices:
            yield c, self._make(c)


def narrow_product(A, Y):
    """A @ Y for a narrow Y (m × k, k ≪ m), computed as (Yᵀ Aᵀ)ᵀ: OpenBLAS's faster shape for it,
    by 10–50 % at k ≤ 256 whichever A's memory order (measured at m = 3072 and 4096)."""
    return np.ascontiguousarray((Y.T @ A.T).T)


def unpack(P, k):
    """Gram matrices (both triangles) from their packed upper parts."""
    return K.unpack(np.ascontiguousarray(P), k)


class DenseBlock:
    """Rows r0:r1 of a dense side: read-only views of the caller's rows (DenseSide.views) with the
    scales moved onto the small factors: Y/√w_scale in place of Y and the targets times
    `b_scale` = 1/(m_scale·√w_scale), which gives the same designs A_i and targets b_i without
    copying W or M (`w_unit` = 1/w_scale takes W back to unit scale where float32 needs it); or
    scaled copies (DenseSide.block) where views do not apply. `kept`: the rows' W∘M and Σ W M²
    when the run keeps them (keep_products below), in the views' units."""

    def __init__(self, W, M, Y, counts, b_scale=1.0, kept=None, w_unit=1.0):
        self.W, self.Y, self.counts, self.b_scale, self.w_unit = W, Y, counts, b_scale, w_unit
        self.kept = kept
        self._M, self._parent = M, None
        self._bnorm2 = self._trace = self._Wc = None

    def take(self, sel):
        """The block of the rows `sel`: W copied, M only when read (the inner iterations, which
        take converged rows out, read W alone); ‖b_i‖² and the traces carried over when already
        computed, so that only a right-hand side asked of a taken block would form W∘M again."""
        new = DenseBlock(self.W[sel], None, self.Y, self.counts[sel], self.b_scale, w_unit=self.w_unit)
        idx = np.arange(len(self.counts))[sel]
        # indexed from the block that holds the data (a chain of takes keeps no copy alive)
        new._parent = (self._parent[0], self._parent[1][idx]) if self._parent else (self, idx)
        if self._bnorm2 is not None:
            new._bnorm2 = self._bnorm2[idx]
        if self._trace is not None:
            new._trace = self._trace[idx]
        return new

    def contiguous_W(self):
        """W as one C-contiguous array for the compiled kernels (a view of the transposed side is
        copied once per block, not per kernel)."""
        if self._Wc is None:
            self._Wc = np.ascontiguousarray(self.W)
        return self._Wc

    @property
    def M(self):
        if self._M is None:
            self._M = self._parent[0].M[self._parent[1]]
        return self._M

    def rhs(self):
        if self.kept is not None:
            WM, raw = self.kept
        else:
            WM = self.W * self.M
            raw = np.einsum("ij,ij->i", WM, self.M)
        self._bnorm2 = raw * self.b_scale ** 2
        out = narrow_product(WM, self.Y)
        if self.b_scale != 1.0:
            out *= self.b_scale
        return out

    def bnorm2(self):
        if self._bnorm2 is None:
            raw = (self.kept[1] if self.kept is not None
                   else np.einsum("ij,ij,ij->i", self.W, self.M, self.M))
            self._bnorm2 = raw * self.b_scale ** 2
        return self._bnorm2

    def trace(self):
        if self._trace is None:
            self._trace = self.W @ np.einsum("ij,ij->i", self.Y, self.Y)
        return self._trace

    def apply(self, V):
        """Σ_j W_ij ⟨v_i, y_j⟩ y_j for every row: two matrix products, in sub-blocks of rows whose
        intermediate stays in cache. The intermediate follows W's memory order (a view of the
        transposed side holds the caller's columns), so that ∘W reads W contiguously."""
        out = np.empty_like(V)
        W = self.W
        step = max(16, APPLY_CHUNK // max(W.shape[1], 1))
        by_cols = W.shape[0] > 1 and W.strides[0] < W.strides[1]
        for r0 in range(0, V.shape[0], step):
            r = slice(r0, r0 + step)
            if by_cols:
                T = self.Y @ V[r].T
                T *= W[r].T
                out[r] = (self.Y.T @ T).T
            else:
                T = V[r] @ self.Y.T
                T *= W[r]
                out[r] = narrow_product(T, self.Y)
        return out

    def gram(self, packed):
        """Packed A_iᵀA_i (b × k(k+1)/2): W times the packed outer products of Y."""
        P = np.empty((self.W.shape[0], len(packed.iu)))
        for c, YY in packed.chunks():
            if c.start == 0 and c.stop == P.shape[1]:
                np.matmul(self.W, YY, out=P)      # in place: no temporary of P's size, no copy
            else:
                P[:, c] = self.W @ YY
        return P

    def full_gram(self):
        """A_iᵀA_i, both triangles, from the rows' designs (for a few rows: diagnostics)."""
        A, _ = self.design(np.arange(len(self.counts)))
        return np.matmul(A.transpose(0, 2, 1), A)

    def sketch(self, o, rng, shared=None):
        if o.sketch == "rownorm":
            if shared is not None:
                return shared.gram(self.W, self.w_unit)
            ynorm2 = np.einsum("ij,ij->i", self.Y, self.Y)
            u = rng.random(self.W.shape, dtype=np.float32)     # a coin flip needs no more bits
            with blas_single_thread():
                return K.dense_rownorm_gram(self.contiguous_W(), self.Y, ynorm2, float(o.s), u)
        with blas_single_thread():
            return sketch_gram(o.sketch, o.s, self.Y, None, self.W, rng)

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
        b = sw * np.take_along_axis(self.M[local], order, axis=1)
        return self.Y[order] * sw[:, :, None], (b * self.b_scale if self.b_scale != 1.0 else b)


class SparseBlock:
    """Rows of a sparse side, read in place from its CSR arrays by the compiled kernels."""

    def __init__(self, side, rows, Y):
        self.side = side
        self.rows = np.ascontiguousarray(rows, dtype=np.int64)
        self.Y = Y
        self.counts = side.counts[self.rows]
        self._bnorm2 = self._trace = None

    def take(self, sel):
        new = SparseBlock(self.side, self.rows[sel], self.Y)
        if self._bnorm2 is not None:
            new._bnorm2, new._trace = self._bnorm2[sel], self._trace[sel]
        return new

    def _stats(self):
        s = self.side
        rhs, self._bnorm2, self._trace = K.csr_rhs(s.indptr, s.indices, s.w, s.mv, self.Y, self.rows)
        return rhs

    def rhs(self):
        return self._stats()

    def bnorm2(self):
        if self._bnorm2 is None:
            self._stats()
        return self._bnorm2

    def trace(self):
        if self._trace is None:
            self._stats()
        return self._trace

    def apply(self, V):
        s = self.side
        return K.csr_apply(s.indptr, s.indices, s.w, self.Y, self.rows, np.ascontiguousarray(V))

    def full_gram(self):
        s = self.side
        with blas_single_thread():
            return K.csr_gram(s.indptr, s.indices, s.w, self.Y, self.rows)

    def sketch(self, o, rng, shared=None):
        s = self.side
        if o.sketch == "rownorm":
            uptr = np.zeros(len(self.rows) + 1, np.int64)
            np.cumsum(self.counts, out=uptr[1:])
            u = rng.random(int(uptr[-1]))
            ynorm2 = np.einsum("ij,ij->i", self.Y, self.Y)
            with blas_single_thread():
                return K.csr_rownorm_gram(s.indptr, s.indices, s.w, self.Y, ynorm2, self.rows,
                                          float(o.s), u, uptr)
        idx, w, _ = self._padded(np.arange(len(self.rows)))
        with blas_single_thread():
            return sketch_gram(o.sketch, o.s, self.Y, idx, w, rng)

    def _padded(self, local):
        """Column indices, weights and values of the rows `local`, padded to the longest."""
        s = self.side
        rows = self.rows[local]
        counts = s.counts[rows]
        N = max(int(counts.max(initial=0)), 1)
        valid = np.arange(N)[None, :] < counts[:, None]
        pos = np.where(valid, s.indptr[rows][:, None] + np.arange(N)[None, :], 0)
        take = (lambda a: np.where(valid, a[pos], 0)) if len(s.indices) else (lambda a: np.zeros(pos.shape))
        return take(s.indices).astype(np.int64), take(s.w).astype(float), take(s.mv).astype(float)

    def design(self, local):
        idx, w, mv = self._padded(local)
        sw = np.sqrt(w)
        return self.Y[idx] * sw[:, :, None], sw * mv


def blocks(side, Y, budget, per_row_bytes):
    """Yield (rows, block): rows is a slice into the side (dense), an index array (sparse). A
    large dense side that allows it (DenseSide.viewable) gives blocks of views, with the run's
    kept W∘M when there is one."""
    n = side.shape[0]
    b = int(max(1, min(n, (budget // 3) // max(per_row_bytes, 1))))
    dense = isinstance(side, DenseSide)
    views = dense and side.viewable
    if views:
        Yv = Y * (1.0 / math.sqrt(side.w_scale))
        b_scale = 1.0 / (side.m_scale * math.sqrt(side.w_scale))
    for r0 in range(0, n, b):
        r = slice(r0, min(r0 + b, n))
        if views:
            yield r, DenseBlock(*side.views(r), Yv, side.counts[r], b_scale, side.products(r),
                                1.0 / side.w_scale)
        elif dense:
            yield r, DenseBlock(*side.solver_block(r), Y, side.counts[r])
        else:
            yield r, SparseBlock(side, np.arange(r.start, r.stop), Y)


def products_fit(prob, budget):
    """Whether a run may keep W∘M (keep_products): a large dense problem read through views, W∘M
    (8·n·m bytes) within a quarter of `budget`."""
    rows, cols = prob.rows, prob.cols
    return (isinstance(rows, DenseSide) and rows.viewable and cols.viewable
            and 8 * rows.shape[0] * rows.shape[1] <= budget // 4)


def keep_products(prob):
    """Keep W∘M (n×m, once for both sides: the columns' is its transpose) and both sides' Σ W M²
    for the run (see products_fit): every half-step's right-hand sides are then one matrix
    product, not a pass that makes W∘M afresh. Returns the bytes kept."""
    rows, cols = prob.rows, prob.cols
    n, m = rows.shape
    WM = np.empty((n, m))
    by_row, by_col = np.empty(n), np.zeros(m)
    for r in rows.row_blocks():
        W, M = rows.views(r)
        np.multiply(W, M, out=WM[r])
        by_row[r] = np.einsum("ij,ij->i", WM[r], M)
        by_col += np.einsum("ij,ij->j", WM[r], M)
    WM.flags.writeable = False
    rows._cache["products"] = (WM, by_row)
    cols._cache["products"] = (WM.T, by_col)
    return 8 * n * m


# ----------------------------------------------------------------------------------------------
# the dense sketch as one product: a sample of columns shared by the rows of a block

SHARED_SAMPLE_K = 32       # below it the per-row compiled sketch is cheaper than one large product
SAMPLE_FACTOR = 1.0        # |S| = SAMPLE_FACTOR · s / density
HEAVY_FRACTION = 0.25      # each row's s·HEAVY_FRACTION heaviest entries are added exactly


class SharedSample:
    """Row-norm sketched Grams of dense rows from ONE sample S of columns shared by every row of
    a half-step.

    S is Poisson-sampled with π_j ∝ ‖y_j‖² × (the side's mean weight in column j), of expected
    size s / (the side's density), so that each row keeps about s of its weighted entries; each
    row's s/4 heaviest entries (w_ij‖y_j‖²) are added exactly. Row i's Gram is then

        Σ_{j∈S} (w_ij/π_j) y_j y_jᵀ  +  Σ_{j∈H_i} w_ij (1 − [j∈S]/π_j) y_j y_jᵀ,

    the first term for a block of rows at once as (W[:, S]/π_S)·P[S] (P the packed outer products
    of Y, made once per half-step when they fit in a third of `budget`, else in chunks per
    block), all in float32: the preconditioner is needed only to a constant factor. Y is the
    half-step's factor in unit scale (not a view block's Y/√w_scale) and `gram` takes W back to
    unit scale before the float32 cast, so that no weight scale meets float32's range."""

    def __init__(self, side, Y, s, rng, budget=1 << 30):
        n, m = side.shape
        k = Y.shape[1]
        self.Y, self.s, self.budget = Y, s, budget
        self.ynorm2 = np.einsum("ij,ij->i", Y, Y)
        density = max(float(side.counts.sum()) / (n * m), 1.0 / m)
        size = min(float(m), math.ceil(SAMPLE_FACTOR * s / density))
        mean_w = np.asarray(side.W.mean(axis=0), dtype=np.float64) / side.w_scale
        self.pi = K.inclusion_reference(self.ynorm2 * mean_w, size)
        self.S = np.flatnonzero(rng.random(m) < self.pi)
        self.Y32 = Y.astype(np.float32)
        self.iu, self.ju = (np.ascontiguousarray(a, dtype=np.int64) for a in np.triu_indices(k))
        self.step = max(1, (budget // 3) // (4 * len(self.iu)))       # sampled columns per chunk
        self.PS = self._outer(self.S) if len(self.S) <= self.step else None

    def _outer(self, cols):
        """The packed outer products (float32) of the rows `cols` of Y."""
        return K.packed_pairs(self.Y32[cols], self.iu, self.ju)

    def gram(self, W, w_unit=1.0):
        """The sketched Grams (b, k, k) float32 of the dense rows W (b × m) times `w_unit` (1 for
        scaled copies, 1/w_scale for views)."""
        b, m = W.shape
        k = self.Y.shape[1]
        S, pi = self.S, self.pi
        if self.PS is not None:
            packed = (W[:, S] * (w_unit / pi[S])).astype(np.float32) @ self.PS
        else:
            packed = np.zeros((b, k * (k + 1) // 2), np.float32)
            for c0 in range(0, len(S), self.step):
                Sc = S[c0:c0 + self.step]
                packed += (W[:, Sc] * (w_unit / pi[Sc])).astype(np.float32) @ self._outer(Sc)
        G = K.unpack(packed, k)
        h = min(max(1, int(self.s * HEAVY_FRACTION)), m)
        heavy = np.argpartition(-(W * self.ynorm2), h - 1, axis=1)[:, :h]
        wh = np.take_along_axis(W, heavy, axis=1) * w_unit
        in_s = np.zeros(m, bool)
        in_s[S] = True
        ph = pi[heavy]
        coef = wh * (1.0 - np.where(in_s[heavy], 1.0 / np.where(ph > 0, ph, 1.0), 0.0))
        with blas_single_thread():
            K.add_weighted_outer(G, self.Y32, np.ascontiguousarray(heavy), coef.astype(np.float32))
        return G
