"""The inner iterations of a row, fused: every step of preconditioned CG (or the paper's gradient
descent) for one row in one compiled loop, so that a small problem pays no numpy call per step.
The per-row logic is inner.iterate_block's, written for one row.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .factor import cho_subst
from .jit import CACHE, REASSOC, ROW_CHUNK

__all__ = ["pcg_dense", "pcg_dense_reference", "pcg_csr", "pcg_csr_reference"]

_PCG_MATH = dict(nogil=True, cache=CACHE, error_model="numpy", fastmath=REASSOC)


@njit(**_PCG_MATH)
def _ata(AT, wts, v, ridge, t, out):
    """out = Σ_j wts[j] ⟨a_j, v⟩ a_j + ridge·v for the columns a_j of AT (k × N): axpys, a
    scaling, dot products, all contiguous in N (t: a buffer of N), four rows of AT per pass so
    that each load and store of t serves four rows."""
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
    """(L Lᵀ)⁻¹ v with the float32 factor L, or v itself."""
    if use_L:
        cho_subst(L, v, out)
    else:
        out[:] = v


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
    for c in prange((b + ROW_CHUNK - 1) // ROW_CHUNK):    # scratch once per chunk of rows
        ws = np.empty((6, k))
        ws_n = np.empty(m)
        for r in range(c * ROW_CHUNK, min(b, (c + 1) * ROW_CHUNK)):
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
    for c in prange((b + ROW_CHUNK - 1) // ROW_CHUNK):    # scratch once per chunk of rows
        r0, r1 = c * ROW_CHUNK, min(b, (c + 1) * ROW_CHUNK)
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
