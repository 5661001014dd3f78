"""Compiled per-row kernels (numba), each with the numpy reference it must agree with.

Rows are given in CSR form (indptr, indices, w, mv: the weighted entries of each row, all w > 0)
or as dense blocks of W; `rows` selects the rows a call works on. Every kernel is parallel over
rows (`prange`), releases the GIL, and writes each row's result from one thread in a fixed order,
so results do not depend on the number of threads. The references are slow and plain: the tests
check the kernels against them, and they document what each kernel computes.

Cold start: the kernels compile on first use (about 10 s for all of them) and are cached on disk
(numba's cache: beside this file, or in the user's cache directory when the install is read-only).
"""
from __future__ import annotations

import os

# OpenMP workers that spin while waiting took a core from BLAS's threads on a busy machine (a
# parallel call then cost 16 ms instead of 0.02 ms); read when the OpenMP runtime first loads
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402
import numpy as np  # noqa: E402
from numba import njit, prange  # noqa: E402
from numba.np.linalg import _LAPACK, ensure_lapack  # noqa: E402

# Streamlit runs each session in its own thread: a threading layer that is safe when several
# Python threads launch parallel kernels at once (OpenMP or TBB; numba's workqueue is not).
if numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER = "threadsafe"


def _probe():
    return 0


def _can_cache():
    """Whether numba can cache here: beside this file, or in the user's cache directory. A
    read-only install with no writable home compiles on every start instead of failing."""
    try:
        njit(cache=True)(_probe)
        return True
    except RuntimeError:
        return False


CACHE = _can_cache()
_JIT = dict(parallel=True, nogil=True, cache=CACHE)


SMALL_K = 24
_ROW_CHUNK = 32        # rows per scratch allocation (fixed: results do not depend on the threads)


@njit(cache=CACHE, nogil=True)
def _layout(flat, k, n):
    """The design buffer `_gram_into` expects for n entries: (k, n) below SMALL_K, (n, k) above."""
    return flat[:k * n].reshape(k, n) if k < SMALL_K else flat[:k * n].reshape(n, k)


@njit(cache=CACHE, nogil=True, fastmath=True)
def _gram_into(D, g):
    """g = AᵀA for a row's gathered design: for k < SMALL_K, D = Aᵀ (k × n: each entry of g is
    one contiguous dot product kept in registers), compiled loops over the lower triangle,
    mirrored (a BLAS call per tiny matrix cost more than its flops); from SMALL_K on, D = A
    (n × k) and one BLAS product (`_layout` says which)."""
    k = g.shape[0]
    if k >= SMALL_K:
        g[:, :] = D.T @ D
        return
    AT = D
    n = AT.shape[1]
    for a in range(k):
        Aa = AT[a]
        c = 0
        while c + 4 <= a + 1:           # four entries per pass: one load of row a serves four
            C0, C1, C2, C3 = AT[c], AT[c + 1], AT[c + 2], AT[c + 3]
            s0 = s1 = s2 = s3 = 0.0
            for t in range(n):
                x = Aa[t]
                s0 += x * C0[t]
                s1 += x * C1[t]
                s2 += x * C2[t]
                s3 += x * C3[t]
            g[a, c], g[a, c + 1], g[a, c + 2], g[a, c + 3] = s0, s1, s2, s3
            g[c, a], g[c + 1, a], g[c + 2, a], g[c + 3, a] = s0, s1, s2, s3
            c += 4
        while c <= a:
            acc = 0.0
            Cc = AT[c]
            for t in range(n):
                acc += Aa[t] * Cc[t]
            g[a, c] = acc
            g[c, a] = acc
            c += 1


# ----------------------------------------------------------------------------------------------
# sparse rows: Gram matrices, right-hand sides, A_iᵀ(A_i v), the objective

@njit(**_JIT)
def csr_gram(indptr, indices, w, Y, rows):
    """G_r = Σ_j w_ij y_j y_jᵀ = A_iᵀA_i for i = rows[r]: the row's design gathered into a local
    buffer (`_layout`), then its Gram matrix (`_gram_into`)."""
    b = rows.shape[0]
    k = Y.shape[1]
    G = np.zeros((b, k, k))
    for r in prange(b):
        i = rows[r]
        lo = indptr[i]
        N = indptr[i + 1] - lo
        if N == 0:
            continue
        D = _layout(np.empty(k * N), k, N)
        for t in range(N):
            sw = np.sqrt(w[lo + t])
            j = indices[lo + t]
            for a in range(k):
                if k < SMALL_K:
                    D[a, t] = sw * Y[j, a]
                else:
                    D[t, a] = sw * Y[j, a]
        _gram_into(D, G[r])
    return G


def csr_gram_reference(indptr, indices, w, Y, rows):
    out = np.zeros((len(rows), Y.shape[1], Y.shape[1]))
    for r, i in enumerate(rows):
        sl = slice(indptr[i], indptr[i + 1])
        A = np.sqrt(w[sl])[:, None] * Y[indices[sl]]
        out[r] = A.T @ A
    return out


@njit(**_JIT)
def csr_rhs(indptr, indices, w, mv, Y, rows):
    """rhs_r = Σ_j w_ij m_ij y_j, ‖b_i‖² = Σ_j w_ij m_ij² and tr(A_iᵀA_i) = Σ_j w_ij ‖y_j‖²."""
    b = rows.shape[0]
    k = Y.shape[1]
    rhs = np.zeros((b, k))
    bnorm2 = np.zeros(b)
    trace = np.zeros(b)
    for r in prange(b):
        i = rows[r]
        bn = 0.0
        tr = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            wm = w[p] * mv[p]
            bn += wm * mv[p]
            yy = 0.0
            for a in range(k):
                rhs[r, a] += wm * Y[j, a]
                yy += Y[j, a] * Y[j, a]
            tr += w[p] * yy
        bnorm2[r] = bn
        trace[r] = tr
    return rhs, bnorm2, trace


def csr_rhs_reference(indptr, indices, w, mv, Y, rows):
    k = Y.shape[1]
    rhs, bnorm2, trace = np.zeros((len(rows), k)), np.zeros(len(rows)), np.zeros(len(rows))
    for r, i in enumerate(rows):
        sl = slice(indptr[i], indptr[i + 1])
        Yi = Y[indices[sl]]
        rhs[r] = (w[sl] * mv[sl]) @ Yi
        bnorm2[r] = np.dot(w[sl], mv[sl] ** 2)
        trace[r] = np.dot(w[sl], np.einsum("ij,ij->i", Yi, Yi))
    return rhs, bnorm2, trace


@njit(parallel=True, nogil=True, cache=CACHE, fastmath=True)
def csr_apply(indptr, indices, w, Y, rows, V):
    """out_r = A_iᵀ(A_i v_r) = Σ_j w_ij ⟨y_j, v_r⟩ y_j (fastmath lets the dot products vectorise;
    the order is fixed at compile time, so results repeat bit for bit)."""
    b = rows.shape[0]
    k = Y.shape[1]
    out = np.zeros((b, k))
    for r in prange(b):
        i = rows[r]
        acc = np.zeros(k)
        v = V[r]
        for p in range(indptr[i], indptr[i + 1]):
            y = Y[indices[p]]
            t = 0.0
            for a in range(k):
                t += y[a] * v[a]
            t *= w[p]
            for a in range(k):
                acc[a] += t * y[a]
        out[r] = acc
    return out


def csr_apply_reference(indptr, indices, w, Y, rows, V):
    out = np.zeros((len(rows), Y.shape[1]))
    for r, i in enumerate(rows):
        sl = slice(indptr[i], indptr[i + 1])
        Yi = Y[indices[sl]]
        out[r] = (w[sl] * (Yi @ V[r])) @ Yi
    return out


@njit(**_JIT)
def csr_objective_rows(indptr, indices, w, mv, X, Y):
    """Σ_j w_ij (m_ij − ⟨x_i, y_j⟩)² for every row i (summed by the caller, in a fixed order)."""
    n = indptr.shape[0] - 1
    k = Y.shape[1]
    out = np.zeros(n)
    for i in prange(n):
        acc = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            pred = 0.0
            for a in range(k):
                pred += X[i, a] * Y[j, a]
            res = mv[p] - pred
            acc += w[p] * res * res
        out[i] = acc
    return out


def csr_objective_rows_reference(indptr, indices, w, mv, X, Y):
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    res = mv - np.einsum("ij,ij->i", X[rows], Y[indices])
    return np.bincount(rows, weights=w * res * res, minlength=len(indptr) - 1)


# ----------------------------------------------------------------------------------------------
# row-norm sketches: Poisson sampling with π_j = min(1, c·w_ij‖y_j‖²), Σ_j π_j ≈ s

@njit(cache=CACHE, nogil=True, error_model="numpy", fastmath={"reassoc", "contract", "nsz"})
def _inclusion(q, s, pi):
    """π = min(1, c·q) with c such that Σπ ≈ s; entries that carry a large share of the mass are
    kept for sure (a few rounds of moving them out of the proportional part). q/max(q) is formed
    once, in pi, so that the rounds run on multiplications and comparisons only; the sums may be
    reassociated (vectorised: in order, each was a chain of dependent additions)."""
    N = q.shape[0]
    top = 0.0
    for j in range(N):
        top = max(top, q[j])
    if top <= 0.0:
        for j in range(N):
            pi[j] = 0.0
        return
    total = 0.0
    for j in range(N):
        pi[j] = q[j] / top
        total += pi[j]
    c = s / total
    n_sure = -1
    for _ in range(8):
        count = 0
        rest = 0.0
        for j in range(N):              # selects, not branches: the loop vectorises
            sure = c * pi[j] >= 1.0
            count += sure
            rest += 0.0 if sure else pi[j]
        if count == n_sure:
            break
        n_sure = count
        need = s - count
        if rest > 0.0 and need > 0:
            c = need / rest
    for j in range(N):
        pi[j] = min(1.0, c * pi[j])


@njit(**_JIT)
def csr_rownorm_gram(indptr, indices, w, Y, ynorm2, rows, s, u, uptr):
    """Σ_{j kept} (w_ij/π_j) y_j y_jᵀ per row, entry j kept when u_j < π_j (u: uniforms of the
    rows' entries, row r's at u[uptr[r]:uptr[r+1]])."""
    b = rows.shape[0]
    k = Y.shape[1]
    G = np.zeros((b, k, k))
    for r in prange(b):
        i = rows[r]
        lo = indptr[i]
        N = indptr[i + 1] - lo
        q = np.empty(N)
        pi = np.empty(N)
        for t in range(N):
            q[t] = w[lo + t] * ynorm2[indices[lo + t]]
        _inclusion(q, s, pi)
        kept = 0
        for t in range(N):
            if u[uptr[r] + t] < pi[t]:
                kept += 1
        if kept == 0:
            continue
        D = _layout(np.empty(k * kept), k, kept)
        row = 0
        for t in range(N):
            if u[uptr[r] + t] < pi[t]:
                j = indices[lo + t]
                sw = np.sqrt(w[lo + t] / pi[t])
                for a in range(k):
                    if k < SMALL_K:
                        D[a, row] = sw * Y[j, a]
                    else:
                        D[row, a] = sw * Y[j, a]
                row += 1
        _gram_into(D, G[r])
    return G


@njit(**_JIT)
def dense_rownorm_gram(W, Y, ynorm2, s, u):
    """The same sketch for dense rows of W (b, m), with uniforms u (b, m)."""
    b, m = W.shape
    k = Y.shape[1]
    G = np.zeros((b, k, k))
    for c in prange((b + _ROW_CHUNK - 1) // _ROW_CHUNK):    # scratch once per chunk of rows
        q = np.empty(m)
        pi = np.empty(m)
        idx = np.empty(m, np.int64)
        flat = np.empty(k * m)
        for r in range(c * _ROW_CHUNK, min(b, (c + 1) * _ROW_CHUNK)):
            for j in range(m):
                q[j] = W[r, j] * ynorm2[j]
            _inclusion(q, s, pi)
            kept = 0
            for j in range(m):          # without branches: which entries pass is a coin flip
                idx[kept] = j
                kept += (W[r, j] > 0.0) & (u[r, j] < pi[j])
            if kept == 0:
                continue
            D = _layout(flat, k, kept)
            for t in range(kept):
                j = idx[t]
                sw = np.sqrt(W[r, j] / pi[j])
                for a in range(k):
                    if k < SMALL_K:
                        D[a, t] = sw * Y[j, a]
                    else:
                        D[t, a] = sw * Y[j, a]
            _gram_into(D, G[r])
    return G


def inclusion_reference(q, s):
    """numpy form of `_inclusion` for one row."""
    top = q.max()
    if top <= 0:
        return np.zeros_like(q)
    q = q / top
    c = s / q.sum()
    n_sure = -1
    for _ in range(8):
        sure = c * q >= 1.0
        count = int(sure.sum())
        if count == n_sure:
            break
        n_sure = count
        rest = q[~sure].sum()
        if rest > 0 and s - count > 0:
            c = (s - count) / rest
    return np.minimum(1.0, c * q)


def dense_rownorm_gram_reference(W, Y, ynorm2, s, u):
    out = np.zeros((W.shape[0], Y.shape[1], Y.shape[1]))
    for r in range(W.shape[0]):
        pi = inclusion_reference(W[r] * ynorm2, s)
        keep = (W[r] > 0) & (u[r] < pi)
        A = np.sqrt(W[r, keep] / pi[keep])[:, None] * Y[keep]
        out[r] = A.T @ A
    return out


# ----------------------------------------------------------------------------------------------
# batched small dense linear algebra

@njit(cache=CACHE, nogil=True)
def _cholesky(H, ridge, L):
    """Lower Cholesky factor of H + ridge·I (reads the lower triangle of H); False if not SPD."""
    k = H.shape[0]
    for a in range(k):
        for c in range(a + 1):
            acc = H[a, c] + (ridge if a == c else 0.0)
            for t in range(c):
                acc -= L[a, t] * L[c, t]
            if a == c:
                if not acc > 0.0:
                    return False
                L[a, a] = np.sqrt(acc)
            else:
                L[a, c] = acc / L[c, c]
    return True


@njit(cache=CACHE, nogil=True)
def _cho_solve(L, rhs, x):
    k = L.shape[0]
    for a in range(k):
        acc = rhs[a]
        for t in range(a):
            acc -= L[a, t] * x[t]
        x[a] = acc / L[a, a]
    for a in range(k - 1, -1, -1):
        acc = x[a]
        for t in range(a + 1, k):
            acc -= L[t, a] * x[t]
        x[a] = acc / L[a, a]


@njit(**_JIT)
def spd_solve(H, rhs, ridge, tol, which):
    """x_r = (H_r + λI)⁻¹ rhs_r for the rows `which` by Cholesky (lower triangles of H read),
    with one step of iterative refinement as an accuracy test: ok_r when the factorisation
    succeeded, x is finite and the refinement moves it by at most tol relative."""
    b, k = rhs.shape
    x = np.zeros((b, k))
    ok = np.zeros(b, np.bool_)
    for t in prange(which.shape[0]):
        r = which[t]
        L = np.zeros((k, k))
        if not _cholesky(H[r], ridge, L):
            continue
        xr = np.empty(k)
        _cho_solve(L, rhs[r], xr)
        res = np.empty(k)
        finite = True
        for a in range(k):
            acc = rhs[r, a] - ridge * xr[a]
            for c in range(k):
                h = H[r, a, c] if c <= a else H[r, c, a]
                acc -= h * xr[c]
            res[a] = acc
            if not np.isfinite(xr[a]):
                finite = False
        if not finite:
            continue
        d = np.empty(k)
        _cho_solve(L, res, d)
        nd = 0.0
        nx = 0.0
        for a in range(k):
            nd += d[a] * d[a]
            nx += xr[a] * xr[a]
        if np.isfinite(nd) and nd <= tol * tol * nx:
            x[r] = xr
            ok[r] = True
    return x, ok


def spd_solve_reference(H, rhs, ridge, tol, which):
    b, k = rhs.shape
    x, ok = np.zeros((b, k)), np.zeros(b, bool)
    for r in which:
        Hr = np.tril(H[r]) + np.tril(H[r], -1).T + ridge * np.eye(k)
        try:
            np.linalg.cholesky(Hr)
        except np.linalg.LinAlgError:
            continue
        xr = np.linalg.solve(Hr, rhs[r])
        d = np.linalg.solve(Hr, rhs[r] - Hr @ xr)
        if np.all(np.isfinite(xr)) and np.linalg.norm(d) <= tol * np.linalg.norm(xr):
            x[r], ok[r] = xr, True
    return x, ok


_REASSOC = {"reassoc", "contract", "nsz"}     # sums may vectorise; NaN and inf keep their meaning


@njit(cache=CACHE, nogil=True, fastmath=_REASSOC)
def _solve_lower(L, b, x):
    """x = (L Lᵀ)⁻¹ b for a lower (row-major) factor L."""
    k = L.shape[0]
    for a in range(k):
        acc = b[a]
        for t in range(a):
            acc -= L[a, t] * x[t]
        x[a] = acc / L[a, a]
    for a in range(k - 1, -1, -1):
        x[a] /= L[a, a]
        xa = x[a]
        for t in range(a):
            x[t] -= L[a, t] * xa


# LAPACK's Cholesky as numba's own np.linalg.cholesky calls it (scipy's LAPACK, by symbol, so
# kernels using it are cached), here in place on a scratch matrix: no allocation, no exception
ensure_lapack()
_potrf = _LAPACK().numba_xxpotrf(numba.types.float64)


@njit(parallel=True, nogil=True, cache=CACHE, fastmath=_REASSOC)
def spd_solve_packed(P, rhs, ridge, tol, which):
    """spd_solve for Gram matrices given packed (P: (b, k(k+1)/2) in `np.triu_indices(k)` order):
    each row's matrix is unpacked into a k × k scratch and factorised by LAPACK (for large k it
    beats compiled loops, and a Python loop over rows cost a third of the solve in call
    overhead), so no (b, k, k) batch is ever formed."""
    b, k = rhs.shape
    x = np.zeros((b, k))
    ok = np.zeros(b, np.bool_)
    nw = which.shape[0]
    for ch in prange((nw + _ROW_CHUNK - 1) // _ROW_CHUNK):   # scratch once per chunk of rows
        H = np.empty((k, k))
        C = np.empty((k, k))
        xr = np.empty(k)
        res = np.empty(k)
        d = np.empty(k)
        for t in range(ch * _ROW_CHUNK, min(nw, (ch + 1) * _ROW_CHUNK)):
            r = which[t]
            p = 0
            for a in range(k):                  # lower triangles only: nothing reads the upper
                for c in range(a, k):
                    H[c, a] = P[r, p]
                    C[c, a] = P[r, p]
                    p += 1
                H[a, a] += ridge
                C[a, a] += ridge
            # Fortran's upper triangle is our lower one: C's lower triangle becomes L, L Lᵀ = H.
            # A NaN or inf in H fails here or leaves x non-finite below
            if _potrf(ord("d"), ord("U"), k, C.ctypes, k) != 0:
                continue
            _solve_lower(C, rhs[r], xr)
            finite = True
            for a in range(k):
                finite &= np.isfinite(xr[a])
            if not finite:
                continue
            for a in range(k):                  # res = rhs − H x from H's lower triangle
                res[a] = 0.0
            for a in range(k):
                xa = xr[a]
                acc = H[a, a] * xa
                for c in range(a):
                    acc += H[a, c] * xr[c]
                    res[c] += H[a, c] * xa
                res[a] += acc
            for a in range(k):
                res[a] = rhs[r, a] - res[a]
            _solve_lower(C, res, d)
            nd = 0.0
            nx = 0.0
            for a in range(k):
                nd += d[a] * d[a]
                nx += xr[a] * xr[a]
            if np.isfinite(nd) and nd <= tol * tol * nx:
                x[r] = xr
                ok[r] = True
    return x, ok


def spd_solve_packed_reference(P, rhs, ridge, tol, which):
    return spd_solve_reference(unpack_reference(P, rhs.shape[1]), rhs, ridge, tol, which)


_F32_MAX = float(np.finfo(np.float32).max)


@njit(**_JIT)
def unpack(P, k):
    """Lower triangles (zero upper) of the Gram matrices from their packed upper parts in
    `np.triu_indices(k)` order: (b, k(k+1)/2) → (b, k, k)."""
    b = P.shape[0]
    G = np.empty((b, k, k))
    for r in prange(b):
        # written row by row (contiguous), read from the packed row (in cache): entry (a, c),
        # a ≤ c, sits at a·k − a(a−1)/2 + (c − a)
        for c in range(k):
            for a in range(c + 1):
                G[r, c, a] = P[r, a * k - (a * (a - 1)) // 2 + (c - a)]
            for a in range(c + 1, k):
                G[r, c, a] = 0.0
    return G


def unpack_reference(P, k):
    iu, ju = np.triu_indices(k)
    G = np.zeros((P.shape[0], k, k))
    G[:, ju, iu] = P
    return G


# ----------------------------------------------------------------------------------------------
# the shared-sample sketch of dense rows (layouts.SharedSample)

@njit(**_JIT)
def packed_outer(Y, cols):
    """vec_sym(y_j y_jᵀ) for j in cols, in `np.triu_indices(k)` order: (len(cols), k(k+1)/2)."""
    k = Y.shape[1]
    out = np.empty((cols.shape[0], k * (k + 1) // 2), Y.dtype)
    for t in prange(cols.shape[0]):
        y = Y[cols[t]]
        p = 0
        for a in range(k):
            for c in range(a, k):
                out[t, p] = y[a] * y[c]
                p += 1
    return out


@njit(parallel=True, nogil=True, cache=CACHE)
def packed_pairs(Y, iu, ju):
    """out[j, p] = Y[j, iu[p]]·Y[j, ju[p]]: columns iu, ju of the row-wise outer products of Y
    (PackedOuter's chunks), written once, without numpy's two gathered temporaries."""
    m = Y.shape[0]
    P = iu.shape[0]
    out = np.empty((m, P), Y.dtype)
    for j in prange(m):
        y = Y[j]
        for p in range(P):
            out[j, p] = y[iu[p]] * y[ju[p]]
    return out


def packed_pairs_reference(Y, iu, ju):
    return Y[:, iu] * Y[:, ju]


def packed_outer_reference(Y, cols):
    iu, ju = np.triu_indices(Y.shape[1])
    return Y[cols][:, iu] * Y[cols][:, ju]


@njit(**_JIT)
def unpack_symmetric(P, k):
    """Full symmetric matrices (both triangles) from packed upper parts, in P's dtype."""
    b = P.shape[0]
    G = np.empty((b, k, k), P.dtype)
    for r in prange(b):
        p = 0
        for a in range(k):
            for c in range(a, k):
                G[r, a, c] = P[r, p]
                G[r, c, a] = P[r, p]
                p += 1
    return G


def unpack_symmetric_reference(P, k):
    G = unpack_reference(P, k)
    return G + np.swapaxes(np.tril(G, -1), 1, 2)


@njit(**_JIT)
def add_weighted_outer(G, Y, cols, coef):
    """G_r += Σ_t coef[r, t] y_{cols[r, t]} y_{cols[r, t]}ᵀ (coefficients may be negative): the
    rows' own heavy entries, gathered and multiplied by BLAS."""
    b, h = cols.shape
    k = Y.shape[1]
    for r in prange(b):
        A = np.empty((h, k), Y.dtype)
        B = np.empty((h, k), Y.dtype)
        for t in range(h):
            y = Y[cols[r, t]]
            for a in range(k):
                A[t, a] = y[a]
                B[t, a] = coef[r, t] * y[a]
        G[r] += A.T @ B


def add_weighted_outer_reference(G, Y, cols, coef):
    out = G.copy()
    for r in range(G.shape[0]):
        Yr = Y[cols[r]]
        out[r] += (Yr * coef[r][:, None]).T @ Yr
    return out


@njit(parallel=True, nogil=True, cache=CACHE, fastmath=True)
def cholesky32(H, shift):
    """Lower Cholesky factors of H_r + shift_r·I (lower triangles of H read, any float dtype),
    computed in float64 and stored as float32; ok_r False where not numerically SPD."""
    b, k, _ = H.shape
    out = np.zeros((b, k, k), np.float32)
    ok = np.zeros(b, np.bool_)
    for ch in prange((b + _ROW_CHUNK - 1) // _ROW_CHUNK):   # scratch once per chunk of rows
        L = np.empty((k, k))
        for r in range(ch * _ROW_CHUNK, min(b, (ch + 1) * _ROW_CHUNK)):
            good = True
            for a in range(k):
                for c in range(a + 1):
                    acc = H[r, a, c] + (shift[r] if a == c else 0.0)
                    for t in range(c):
                        acc -= L[a, t] * L[c, t]
                    if a == c:
                        if not (acc > 0.0 and acc <= _F32_MAX):
                            good = False
                            break
                        L[a, a] = np.sqrt(acc)
                    else:
                        L[a, c] = acc / L[c, c]
                if not good:
                    break
            if good:
                for a in range(k):
                    for c in range(a + 1):
                        out[r, a, c] = L[a, c]
                ok[r] = True
    return out, ok


def cholesky32_reference(H, shift):
    k = H.shape[-1]
    full = np.tril(H) + np.swapaxes(np.tril(H, -1), 1, 2) + shift[:, None, None] * np.eye(k)
    return np.linalg.cholesky(full).astype(np.float32)


@njit(parallel=True, nogil=True, cache=CACHE, fastmath=True)
def cho_apply(L, V):
    """z_r = (L_r L_rᵀ)⁻¹ v_r: a forward and a backward substitution with the float32 factor
    (its lower triangle read twice: the traffic of one product with a full k×k matrix),
    accumulated in float64."""
    b, k = V.shape
    out = np.empty((b, k))
    for r in prange(b):
        y = np.empty(k)
        for a in range(k):
            acc = V[r, a]
            for t in range(a):
                acc -= L[r, a, t] * y[t]
            y[a] = acc / L[r, a, a]
        for a in range(k - 1, -1, -1):          # Lᵀ x = y by columns of Lᵀ: rows of L, contiguous
            y[a] /= L[r, a, a]
            xa = y[a]
            for t in range(a):
                y[t] -= L[r, a, t] * xa
        out[r] = y
    return out


def cho_apply_reference(L, V):
    L = L.astype(np.float64)
    return np.stack([np.linalg.solve(Lr @ Lr.T, v) for Lr, v in zip(L, V)]) if len(V) else V.copy()


# ----------------------------------------------------------------------------------------------
# the inner iterations of a row, fused (inner.py): every step of preconditioned CG (or the
# paper's gradient descent) for one row in one compiled loop, so that a small problem pays no
# numpy call per step. The per-row logic is inner.iterate_rows's, written for one row.

_PCG_MATH = dict(nogil=True, cache=CACHE, error_model="numpy",
                 fastmath={"reassoc", "contract", "nsz"})     # no nnan/ninf: finiteness is tested


@njit(**_PCG_MATH)
def _ata(AT, wts, v, ridge, t, out):
    """out = Σ_j wts[j] ⟨a_j, v⟩ a_j + ridge·v for the columns a_j of AT (k × N): axpys, a
    scaling, dot products, all contiguous in N (t: a buffer of N), four rows of AT per pass so
    that t stays in registers (a pass per row was bound by loads and stores of t)."""
    k, N = AT.shape
    for j in range(N):
        t[j] = 0.0
    a = 0
    while a + 4 <= k:
        v0, v1, v2, v3 = v[a], v[a + 1], v[a + 2], v[a + 3]
        A0, A1, A2, A3 = AT[a], AT[a + 1], AT[a + 2], AT[a + 3]
        for j in range(N):
            t[j] += v0 * A0[j] + v1 * A1[j] + v2 * A2[j] + v3 * A3[j]
        a += 4
    while a < k:
        va = v[a]
        Aa = AT[a]
        for j in range(N):
            t[j] += va * Aa[j]
        a += 1
    for j in range(N):
        t[j] *= wts[j]
    a = 0
    while a + 4 <= k:
        A0, A1, A2, A3 = AT[a], AT[a + 1], AT[a + 2], AT[a + 3]
        s0 = s1 = s2 = s3 = 0.0
        for j in range(N):
            tj = t[j]
            s0 += A0[j] * tj
            s1 += A1[j] * tj
            s2 += A2[j] * tj
            s3 += A3[j] * tj
        out[a] = s0 + ridge * v[a]
        out[a + 1] = s1 + ridge * v[a + 1]
        out[a + 2] = s2 + ridge * v[a + 2]
        out[a + 3] = s3 + ridge * v[a + 3]
        a += 4
    while a < k:
        Aa = AT[a]
        acc = 0.0
        for j in range(N):
            acc += Aa[j] * t[j]
        out[a] = acc + ridge * v[a]
        a += 1


@njit(**_PCG_MATH)
def _precond(L, use_L, v, out):
    """(L Lᵀ)⁻¹ v with the float32 factor L (cho_apply for one row), or v itself."""
    k = v.shape[0]
    if not use_L:
        for a in range(k):
            out[a] = v[a]
        return
    for a in range(k):
        acc = v[a]
        for t in range(a):
            acc -= L[a, t] * out[t]
        out[a] = acc / L[a, a]
    for a in range(k - 1, -1, -1):
        out[a] /= L[a, a]
        xa = out[a]
        for t in range(a):
            out[t] -= L[a, t] * xa


@njit(**_PCG_MATH)
def _dot(u, v):
    acc = 0.0
    for a in range(u.shape[0]):
        acc += u[a] * v[a]
    return acc


@njit(**_PCG_MATH)
def _pcg_row(AT, wts, x, rhs, bnorm, trace, L, use_L, ridge, eps, max_inner, gd, ws, ws_n):
    """Iterate row x in place, A_iᵀA_i = AT·diag(wts)·ATᵀ (AT: the rows of Y the row weights,
    transposed); returns (inner iterations, the stopping measure relative to ‖b‖). ws (6 × k)
    and ws_n (at least N) are scratch."""
    k = x.shape[0]
    tb = ws_n[:AT.shape[1]]
    r, z, p, q, xn, rn = ws[0], ws[1], ws[2], ws[3], ws[4], ws[5]
    _ata(AT, wts, x, ridge, tb, q)
    warm = 0.0
    for a in range(k):
        r[a] = rhs[a] - q[a]
        warm += x[a] * (rhs[a] + r[a])
    if not warm >= 0.0:              # a warm start worse than x = 0 (or not finite) is dropped
        for a in range(k):
            x[a] = 0.0
            r[a] = rhs[a]
    _precond(L, use_L, r, z)
    rz = _dot(r, z)
    if use_L:
        thresh = (eps * bnorm) ** 2
        meas = rz
    else:
        thresh = (eps * bnorm) ** 2 * trace / k
        meas = _dot(r, r)
    for a in range(k):
        p[a] = z[a]
    iters = 0
    active = meas > thresh
    for _ in range(max_inner):
        if not active:
            break
        _ata(AT, wts, p, ridge, tb, q)
        pq = _dot(p, q)
        alpha = rz / pq if pq > 0.0 else 0.0
        if gd:
            alpha = min(alpha, 1.0)
        finite = True
        for a in range(k):
            xn[a] = x[a] + alpha * p[a]
            rn[a] = r[a] - alpha * q[a]
            finite &= np.isfinite(xn[a])
        _precond(L, use_L, rn, z)
        rz_new = _dot(rn, z)
        meas_new = rz_new if use_L else _dot(rn, rn)
        for a in range(k):
            finite &= np.isfinite(z[a])
        if not (finite and np.isfinite(meas_new)):
            break                        # keep the last finite iterate
        beta = 0.0
        if not gd and rz > 0.0:
            beta = rz_new / rz
        for a in range(k):
            x[a] = xn[a]
            r[a] = rn[a]
            p[a] = z[a] + beta * p[a]
        rz = rz_new
        meas = meas_new
        iters += 1
        active = meas > thresh and alpha != 0.0
    rel = np.sqrt(max(meas, 0.0)) / (bnorm if bnorm > 0.0 else 1.0)
    if not use_L:
        rel /= np.sqrt(max(trace / k, 2.2250738585072014e-308))
    return iters, rel


@njit(parallel=True, **_PCG_MATH)
def pcg_dense(W, Y, x0, rhs, bnorm, trace, L, use_L, ridge, eps, max_inner, gd):
    """The inner iterations of dense rows W (b × m) from x0, each row alone, preconditioned by the
    float32 factors L (b, k, k) when use_L (plain CG otherwise; L is then not read). Returns (x,
    iterations, relative stopping measure). Every row reads the same Yᵀ (no per-row gather: the
    products run over whole rows, as BLAS's would)."""
    b, m = W.shape
    k = Y.shape[1]
    YT = np.ascontiguousarray(Y.T)
    x = x0.copy()
    iters = np.zeros(b, np.int64)
    rel = np.zeros(b)
    for c in prange((b + _ROW_CHUNK - 1) // _ROW_CHUNK):    # scratch once per chunk of rows
        ws = np.empty((6, k))
        ws_n = np.empty(m)
        for r in range(c * _ROW_CHUNK, min(b, (c + 1) * _ROW_CHUNK)):
            Lr = L[r] if use_L else L[0]
            iters[r], rel[r] = _pcg_row(YT, W[r], x[r], rhs[r], bnorm[r], trace[r], Lr, use_L, ridge,
                                        eps, max_inner, gd, ws, ws_n)
    return x, iters, rel


@njit(parallel=True, **_PCG_MATH)
def pcg_csr(indptr, indices, w, Y, rows, x0, rhs, bnorm, trace, L, use_L, ridge, eps, max_inner, gd):
    """pcg_dense for the CSR rows `rows` (read in place; each row's rows of Y gathered once)."""
    b = rows.shape[0]
    k = Y.shape[1]
    x = x0.copy()
    iters = np.zeros(b, np.int64)
    rel = np.zeros(b)
    for c in prange((b + _ROW_CHUNK - 1) // _ROW_CHUNK):    # scratch once per chunk of rows
        r0, r1 = c * _ROW_CHUNK, min(b, (c + 1) * _ROW_CHUNK)
        longest = 0
        for r in range(r0, r1):
            longest = max(longest, indptr[rows[r] + 1] - indptr[rows[r]])
        ws = np.empty((6, k))
        ws_n = np.empty(longest)
        flat = np.empty(k * longest)
        for r in range(r0, r1):
            i = rows[r]
            lo = indptr[i]
            N = indptr[i + 1] - lo
            AT = flat[:k * N].reshape(k, N)
            for t in range(N):
                j = indices[lo + t]
                for a in range(k):
                    AT[a, t] = Y[j, a]
            Lr = L[r] if use_L else L[0]
            iters[r], rel[r] = _pcg_row(AT, w[lo:lo + N], x[r], rhs[r], bnorm[r], trace[r], Lr, use_L,
                                        ridge, eps, max_inner, gd, ws, ws_n)
    return x, iters, rel


def _pcg_row_reference(A, rhs, x, bnorm, trace, L, ridge, eps, max_inner, gd):
    """One row's iterations in numpy, A = D_√w Y restricted to the row's entries."""
    k = len(x)
    ata = lambda v: A.T @ (A @ v) + ridge * v
    if L is None:
        precond = lambda v: v.copy()
    else:
        H = L.astype(np.float64) @ L.astype(np.float64).T
        precond = lambda v: np.linalg.solve(H, v)
    x = x.copy()
    with np.errstate(all="ignore"):
        r = rhs - ata(x)
        if not x @ (rhs + r) >= 0:
            x, r = np.zeros(k), rhs.copy()
        z = precond(r)
        rz = r @ z
        thresh = (eps * bnorm) ** 2 * (1.0 if L is not None else trace / k)
        meas = rz if L is not None else r @ r
        p, iters = z.copy(), 0
        for _ in range(max_inner):
            if not meas > thresh:
                break
            q = ata(p)
            pq = p @ q
            alpha = rz / pq if pq > 0 else 0.0
            alpha = min(alpha, 1.0) if gd else alpha
            xn, rn = x + alpha * p, r - alpha * q
            z = precond(rn)
            rz_new = rn @ z
            meas_new = rz_new if L is not None else rn @ rn
            if not (np.isfinite(xn).all() and np.isfinite(z).all() and np.isfinite(meas_new)):
                break
            beta = rz_new / rz if (not gd and rz > 0) else 0.0
            x, r, p = xn, rn, z + beta * p
            rz, meas, iters = rz_new, meas_new, iters + 1
            if alpha == 0:
                break
        rel = np.sqrt(max(meas, 0.0)) / (bnorm if bnorm > 0 else 1.0)
        if L is None:
            rel /= np.sqrt(max(trace / k, np.finfo(float).tiny))
    return x, iters, rel


def pcg_dense_reference(W, Y, x0, rhs, bnorm, trace, L, use_L, ridge, eps, max_inner, gd):
    out = [_pcg_row_reference(np.sqrt(W[r])[:, None] * Y, rhs[r], x0[r], bnorm[r], trace[r],
                              L[r] if use_L else None, ridge, eps, max_inner, gd)
           for r in range(W.shape[0])]
    k = Y.shape[1]
    return (np.array([o[0] for o in out]).reshape(-1, k), np.array([o[1] for o in out], np.int64),
            np.array([o[2] for o in out], float))


def pcg_csr_reference(indptr, indices, w, Y, rows, x0, rhs, bnorm, trace, L, use_L, ridge, eps, max_inner,
                      gd):
    out = []
    for r, i in enumerate(rows):
        sl = slice(indptr[i], indptr[i + 1])
        A = np.sqrt(w[sl])[:, None] * Y[indices[sl]]
        out.append(_pcg_row_reference(A, rhs[r], x0[r], bnorm[r], trace[r], L[r] if use_L else None,
                                      ridge, eps, max_inner, gd))
    k = Y.shape[1]
    return (np.array([o[0] for o in out]).reshape(-1, k), np.array([o[1] for o in out], np.int64),
            np.array([o[2] for o in out], float))
