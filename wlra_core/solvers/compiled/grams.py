"""Per-row Gram matrices, right-hand sides and products of the rows' designs A_i = D_√W_i Y, and
the packed outer products of Y that the dense Gram product and the shared-sample sketch use.

Sparse rows are given in CSR form (indptr, indices, w, mv: the weighted entries of each row, all
w > 0); `rows` selects the rows a call works on. Packed symmetric matrices hold their upper
parts in `np.triu_indices(k)` order.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .jit import PARALLEL, SERIAL, SMALL_K

__all__ = ["csr_gram", "csr_gram_reference", "csr_rhs", "csr_rhs_reference", "csr_apply",
           "csr_apply_reference", "csr_objective_rows", "csr_objective_rows_reference",
           "packed_pairs", "packed_pairs_reference", "unpack", "unpack_reference",
           "add_weighted_outer", "add_weighted_outer_reference"]


@njit(**SERIAL)
def layout(flat, k, n):
    """The design buffer `gram_into` expects for n entries: (k, n) below SMALL_K, (n, k) above."""
    return flat[:k * n].reshape(k, n) if k < SMALL_K else flat[:k * n].reshape(n, k)


@njit(**SERIAL, inline="always")       # inlined: a call per entry would cost more than its work
def put(D, t, scale, Y, j):
    """Entry t of a design buffer (`layout`): scale·Y[j], column t of Aᵀ or row t of A."""
    k = Y.shape[1]
    if k < SMALL_K:
        for a in range(k):
            D[a, t] = scale * Y[j, a]
    else:
        for a in range(k):
            D[t, a] = scale * Y[j, a]


@njit(nogil=True, cache=SERIAL["cache"], fastmath=True)
def gram_into(D, g):
    """g = AᵀA for a row's gathered design (`layout`): for k < SMALL_K compiled loops over the
    lower triangle of D = Aᵀ, mirrored (a BLAS call per tiny matrix costs more than its flops),
    four entries per pass so that one load of row a serves four; from SMALL_K on one BLAS product."""
    k = g.shape[0]
    if k >= SMALL_K:
        g[:, :] = D.T @ D
        return
    AT = D
    n = AT.shape[1]
    for a in range(k):
        Aa = AT[a]
        c = 0
        while c + 4 <= a + 1:
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
# sparse rows

@njit(**PARALLEL)
def csr_gram(indptr, indices, w, Y, rows):
    """G_r = Σ_j w_ij y_j y_jᵀ = A_iᵀA_i (both triangles) for i = rows[r]."""
    b = rows.shape[0]
    k = Y.shape[1]
    G = np.zeros((b, k, k))
    for r in prange(b):
        i = rows[r]
        lo = indptr[i]
        N = indptr[i + 1] - lo
        if N == 0:
            continue
        D = layout(np.empty(k * N), k, N)
        for t in range(N):
            put(D, t, np.sqrt(w[lo + t]), Y, indices[lo + t])
        gram_into(D, G[r])
    return G


def csr_gram_reference(indptr, indices, w, Y, rows):
    out = np.zeros((len(rows), Y.shape[1], Y.shape[1]))
    for r, i in enumerate(rows):
        sl = slice(indptr[i], indptr[i + 1])
        A = np.sqrt(w[sl])[:, None] * Y[indices[sl]]
        out[r] = A.T @ A
    return out


@njit(**PARALLEL)
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


@njit(parallel=True, nogil=True, cache=PARALLEL["cache"], fastmath=True)
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


@njit(**PARALLEL)
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
# packed outer products (dense Grams as one matrix product, the shared-sample sketch)

@njit(parallel=True, nogil=True, cache=PARALLEL["cache"])
def packed_pairs(Y, iu, ju):
    """out[j, p] = Y[j, iu[p]]·Y[j, ju[p]] (in Y's dtype): with (iu, ju) = np.triu_indices(k), or a
    chunk of them, the row-wise packed outer products vec_sym(y_j y_jᵀ), written once."""
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


@njit(**PARALLEL)
def unpack(P, k):
    """The symmetric matrices (b, k, k), in P's dtype, from their packed upper parts (b, k(k+1)/2)."""
    b = P.shape[0]
    G = np.empty((b, k, k), P.dtype)
    for r in prange(b):
        # written row by row (contiguous), read from the packed row (in cache): entry (a, c),
        # a ≤ c, sits at a·k − a(a−1)/2 + (c − a)
        for c in range(k):
            for a in range(c + 1):
                G[r, c, a] = P[r, a * k - (a * (a - 1)) // 2 + (c - a)]
            top = c * k - (c * (c - 1)) // 2 - c
            for a in range(c + 1, k):
                G[r, c, a] = P[r, top + a]
    return G


def unpack_reference(P, k):
    iu, ju = np.triu_indices(k)
    G = np.zeros((P.shape[0], k, k), P.dtype)
    G[:, iu, ju] = P
    G[:, ju, iu] = P
    return G


@njit(**PARALLEL)
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
