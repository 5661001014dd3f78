"""The row-norm sketch of each row's design: Poisson sampling of its entries with inclusion
probabilities π_j = min(1, c·w_ij‖y_j‖²), Σ_j π_j ≈ s, and the sketched Gram Σ_{j kept}
(w_ij/π_j) y_j y_jᵀ, for sparse (CSR) and dense rows.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .grams import gram_into, layout, put
from .jit import PARALLEL, REASSOC, ROW_CHUNK, SERIAL

__all__ = ["csr_rownorm_gram", "dense_rownorm_gram", "dense_rownorm_gram_reference",
           "inclusion_reference"]


@njit(**SERIAL, error_model="numpy", fastmath=REASSOC)
def inclusion(q, s, pi):
    """π = min(1, c·q) with c such that Σπ ≈ s; entries that carry a large share of the mass are
    kept for sure (a few rounds of moving them out of the proportional part). q/max(q) is formed
    once, in pi, so that the rounds run on multiplications and comparisons only."""
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


def inclusion_reference(q, s):
    """numpy form of `inclusion` for one row."""
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


@njit(**PARALLEL)
def csr_rownorm_gram(indptr, indices, w, Y, ynorm2, rows, s, u, uptr):
    """The sketched Grams of the CSR rows `rows`, entry j kept when u_j < π_j (u: uniforms of the
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
        inclusion(q, s, pi)
        kept = 0
        for t in range(N):
            if u[uptr[r] + t] < pi[t]:
                kept += 1
        if kept == 0:
            continue
        D = layout(np.empty(k * kept), k, kept)
        row = 0
        for t in range(N):
            if u[uptr[r] + t] < pi[t]:
                put(D, row, np.sqrt(w[lo + t] / pi[t]), Y, indices[lo + t])
                row += 1
        gram_into(D, G[r])
    return G


@njit(**PARALLEL)
def dense_rownorm_gram(W, Y, ynorm2, s, u):
    """The same sketch for dense rows of W (b, m), with uniforms u (b, m)."""
    b, m = W.shape
    k = Y.shape[1]
    G = np.zeros((b, k, k))
    for c in prange((b + ROW_CHUNK - 1) // ROW_CHUNK):    # scratch once per chunk of rows
        q = np.empty(m)
        pi = np.empty(m)
        idx = np.empty(m, np.int64)
        flat = np.empty(k * m)
        for r in range(c * ROW_CHUNK, min(b, (c + 1) * ROW_CHUNK)):
            for j in range(m):
                q[j] = W[r, j] * ynorm2[j]
            inclusion(q, s, pi)
            kept = 0
            for j in range(m):          # without branches: which entries pass is a coin flip
                idx[kept] = j
                kept += (W[r, j] > 0.0) & (u[r, j] < pi[j])
            if kept == 0:
                continue
            D = layout(flat, k, kept)
            for t in range(kept):
                j = idx[t]
                put(D, t, np.sqrt(W[r, j] / pi[j]), Y, j)
            gram_into(D, G[r])
    return G


def dense_rownorm_gram_reference(W, Y, ynorm2, s, u):
    out = np.zeros((W.shape[0], Y.shape[1], Y.shape[1]))
    for r in range(W.shape[0]):
        pi = inclusion_reference(W[r] * ynorm2, s)
        keep = (W[r] > 0) & (u[r] < pi)
        A = np.sqrt(W[r, keep] / pi[keep])[:, None] * Y[keep]
        out[r] = A.T @ A
    return out
