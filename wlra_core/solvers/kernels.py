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


@njit(cache=CACHE, nogil=True, fastmath=True)
def _gram_into(A, n, g):
    """g = A[:n]ᵀ A[:n]: compiled loops for small k (a BLAS call per tiny matrix cost more than
    its flops), one BLAS product from SMALL_K on."""
    k = A.shape[1]
    if k >= SMALL_K:
        g[:, :] = A[:n].T @ A[:n]
        return
    for a in range(k):
        for c in range(k):
            g[a, c] = 0.0
    for t in range(n):
        for a in range(k):
            v = A[t, a]
            for c in range(k):
                g[a, c] += v * A[t, c]


# ----------------------------------------------------------------------------------------------
# sparse rows: Gram matrices, right-hand sides, A_iᵀ(A_i v), the objective

@njit(**_JIT)
def csr_gram(indptr, indices, w, Y, rows):
    """G_r = Σ_j w_ij y_j y_jᵀ = A_iᵀA_i for i = rows[r]: the row's design gathered into a local
    buffer, then its Gram matrix (`_gram_into`)."""
    b = rows.shape[0]
    k = Y.shape[1]
    G = np.zeros((b, k, k))
    for r in prange(b):
        i = rows[r]
        lo = indptr[i]
        N = indptr[i + 1] - lo
        if N == 0:
            continue
        A = np.empty((N, k))
        for t in range(N):
            sw = np.sqrt(w[lo + t])
            j = indices[lo + t]
            for a in range(k):
                A[t, a] = sw * Y[j, a]
        _gram_into(A, N, G[r])
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

@njit(cache=CACHE, nogil=True)
def _inclusion(q, s, pi):
    """π = min(1, c·q) with c such that Σπ ≈ s; entries that carry a large share of the mass are
    kept for sure (a few rounds of moving them out of the proportional part)."""
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
        total += q[j] / top
    c = s / total
    n_sure = -1
    for _ in range(8):
        count = 0
        rest = 0.0
        for j in range(N):
            if c * (q[j] / top) >= 1.0:
                count += 1
            else:
                rest += q[j] / top
        if count == n_sure:
            break
        n_sure = count
        need = s - count
        if rest > 0.0 and need > 0:
            c = need / rest
    for j in range(N):
        pi[j] = min(1.0, c * (q[j] / top))


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
        A = np.empty((kept, k))
        row = 0
        for t in range(N):
            if u[uptr[r] + t] < pi[t]:
                j = indices[lo + t]
                sw = np.sqrt(w[lo + t] / pi[t])
                for a in range(k):
                    A[row, a] = sw * Y[j, a]
                row += 1
        _gram_into(A, kept, G[r])
    return G


@njit(**_JIT)
def dense_rownorm_gram(W, Y, ynorm2, s, u):
    """The same sketch for dense rows of W (b, m), with uniforms u (b, m)."""
    b, m = W.shape
    k = Y.shape[1]
    G = np.zeros((b, k, k))
    for r in prange(b):
        q = np.empty(m)
        pi = np.empty(m)
        for j in range(m):
            q[j] = W[r, j] * ynorm2[j]
        _inclusion(q, s, pi)
        kept = 0
        for j in range(m):
            if W[r, j] > 0.0 and u[r, j] < pi[j]:
                kept += 1
        if kept == 0:
            continue
        A = np.empty((kept, k))
        row = 0
        for j in range(m):
            if W[r, j] > 0.0 and u[r, j] < pi[j]:
                sw = np.sqrt(W[r, j] / pi[j])
                for a in range(k):
                    A[row, a] = sw * Y[j, a]
                row += 1
        _gram_into(A, kept, G[r])
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


_F32_MAX = float(np.finfo(np.float32).max)


@njit(**_JIT)
def unpack(P, k):
    """Lower triangles (zero upper) of the Gram matrices from their packed upper parts in
    `np.triu_indices(k)` order: (b, k(k+1)/2) → (b, k, k)."""
    b = P.shape[0]
    G = np.zeros((b, k, k))
    for r in prange(b):
        p = 0
        for a in range(k):
            for c in range(a, k):
                G[r, c, a] = P[r, p]
                p += 1
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
    for r in prange(b):
        L = np.zeros((k, k))
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
