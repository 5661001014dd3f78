"""Per-row Cholesky factorisations and solves of small SPD systems: the exact solver's normal
equations (float64, checked by one step of iterative refinement) and the sketched solver's
float32 preconditioner factors with their application.

Matrices are read from their lower triangles only. Up to LAPACK_K the factorisations are compiled
loops; from it on, LAPACK's own (numba's binding to scipy's LAPACK, by symbol, so that kernels
using it are cached) on a scratch copy per row: no (b, k, k) batch is formed, no allocation, no
exception.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange
from numba.np.linalg import _LAPACK, ensure_lapack

from .grams import unpack_reference
from .jit import LAPACK_K, PARALLEL, REASSOC, ROW_CHUNK, SERIAL

__all__ = ["spd_solve", "spd_solve_reference", "spd_solve_packed", "spd_solve_packed_reference",
           "cholesky32", "cholesky32_reference", "cho_apply", "cho_apply_reference", "cho_apply_rows",
           "cho_apply_rows_reference"]

ensure_lapack()
_dpotrf = _LAPACK().numba_xxpotrf(numba.types.float64)
_spotrf = _LAPACK().numba_xxpotrf(numba.types.float32)
F32_MAX = float(np.finfo(np.float32).max)


@njit(**SERIAL, error_model="numpy", fastmath=REASSOC)
def cho_subst(L, b, x):
    """x = (L Lᵀ)⁻¹ b by a forward and a backward substitution with the lower factor L (any float
    dtype), accumulated in x's dtype; b and x may be one array. The backward pass runs along the
    rows of L (the columns of Lᵀ), which are contiguous."""
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


@njit(**SERIAL, fastmath=REASSOC)
def cholesky_into(H, shift, L, cap):
    """L (lower) with L Lᵀ = H + shift·I from H's lower triangle, in L's dtype; False when a pivot
    is not in (0, cap] (H not numerically SPD, or beyond the range L is stored in)."""
    k = H.shape[0]
    for a in range(k):
        for c in range(a + 1):
            acc = H[a, c] + (shift if a == c else 0.0)
            for t in range(c):
                acc -= L[a, t] * L[c, t]
            if a == c:
                if not (acc > 0.0 and acc <= cap):
                    return False
                L[a, a] = np.sqrt(acc)
            else:
                L[a, c] = acc / L[c, c]
    return True


@njit(**SERIAL, fastmath=REASSOC)
def _solve_checked(S, C, rhs, x, res, d, tol):
    """x = S⁻¹ rhs (S: the system, ridge included, in its lower triangle; C: scratch for its
    factor), kept when the factorisation succeeds, x is finite and one step of iterative
    refinement, d = S⁻¹(rhs − Sx), moves it by at most tol relative. Returns whether it is kept."""
    k = S.shape[0]
    if k >= LAPACK_K:
        for a in range(k):
            for c in range(a + 1):
                C[a, c] = S[a, c]
        # Fortran's upper triangle is our lower one: C's lower triangle becomes L, L Lᵀ = S
        if _dpotrf(ord("d"), ord("U"), k, C.ctypes, k) != 0:
            return False
    elif not cholesky_into(S, 0.0, C, np.inf):
        return False
    cho_subst(C, rhs, x)
    for a in range(k):
        if not np.isfinite(x[a]):
            return False
    for a in range(k):                  # res = rhs − S x from S's lower triangle
        res[a] = 0.0
    for a in range(k):
        xa = x[a]
        acc = S[a, a] * xa
        for c in range(a):
            acc += S[a, c] * x[c]
            res[c] += S[a, c] * xa
        res[a] += acc
    for a in range(k):
        res[a] = rhs[a] - res[a]
    cho_subst(C, res, d)
    nd = 0.0
    nx = 0.0
    for a in range(k):
        nd += d[a] * d[a]
        nx += x[a] * x[a]
    return np.isfinite(nd) and nd <= tol * tol * nx


@njit(**PARALLEL, fastmath=REASSOC)
def spd_solve(H, rhs, ridge, tol, which):
    """x_r = (H_r + λI)⁻¹ rhs_r for the rows `which` (H: (b, k, k), lower triangles read); ok_r
    when the solution passes `_solve_checked`'s test (x_r is 0 otherwise)."""
    b, k = rhs.shape
    x = np.zeros((b, k))
    ok = np.zeros(b, np.bool_)
    nw = which.shape[0]
    for ch in prange((nw + ROW_CHUNK - 1) // ROW_CHUNK):    # scratch once per chunk of rows
        S, C = np.empty((k, k)), np.empty((k, k))
        xr, res, d = np.empty(k), np.empty(k), np.empty(k)
        for t in range(ch * ROW_CHUNK, min(nw, (ch + 1) * ROW_CHUNK)):
            r = which[t]
            for a in range(k):
                for c in range(a + 1):
                    S[a, c] = H[r, a, c]
                S[a, a] += ridge
            if _solve_checked(S, C, rhs[r], xr, res, d, tol):
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


@njit(**PARALLEL, fastmath=REASSOC)
def spd_solve_packed(P, rhs, ridge, tol, which):
    """spd_solve for Gram matrices given packed (P: (b, k(k+1)/2)): each row's matrix is unpacked
    into a k × k scratch, so no (b, k, k) batch is ever formed."""
    b, k = rhs.shape
    x = np.zeros((b, k))
    ok = np.zeros(b, np.bool_)
    nw = which.shape[0]
    for ch in prange((nw + ROW_CHUNK - 1) // ROW_CHUNK):
        S, C = np.empty((k, k)), np.empty((k, k))
        xr, res, d = np.empty(k), np.empty(k), np.empty(k)
        for t in range(ch * ROW_CHUNK, min(nw, (ch + 1) * ROW_CHUNK)):
            r = which[t]
            p = 0
            for a in range(k):                  # the lower triangle only: nothing reads the upper
                for c in range(a, k):
                    S[c, a] = P[r, p]
                    p += 1
                S[a, a] += ridge
            if _solve_checked(S, C, rhs[r], xr, res, d, tol):
                x[r] = xr
                ok[r] = True
    return x, ok


def spd_solve_packed_reference(P, rhs, ridge, tol, which):
    return spd_solve_reference(unpack_reference(P, rhs.shape[1]), rhs, ridge, tol, which)


@njit(**PARALLEL, fastmath=REASSOC)
def cholesky32(H, shift):
    """Lower Cholesky factors of H_r + shift_r·I (lower triangles of H read, any float dtype),
    stored as float32 (zero upper triangles); ok_r False where not numerically SPD in float32.
    Below LAPACK_K computed in float64 by compiled loops, from it on by LAPACK in float32."""
    b, k, _ = H.shape
    out = np.zeros((b, k, k), np.float32)
    ok = np.zeros(b, np.bool_)
    for ch in prange((b + ROW_CHUNK - 1) // ROW_CHUNK):     # scratch once per chunk of rows
        L = np.empty((k, k))
        S = np.empty((k, k), np.float32)
        for r in range(ch * ROW_CHUNK, min(b, (ch + 1) * ROW_CHUNK)):
            if k < LAPACK_K:
                if not cholesky_into(H[r], shift[r], L, F32_MAX):
                    continue
                for a in range(k):
                    for c in range(a + 1):
                        out[r, a, c] = L[a, c]
                ok[r] = True
                continue
            for a in range(k):
                for c in range(a + 1):
                    S[a, c] = np.float32(H[r, a, c])
                S[a, a] += np.float32(shift[r])
            if _spotrf(ord("s"), ord("U"), k, S.ctypes, k) != 0:
                continue
            good = True
            for a in range(k):
                for c in range(a + 1):
                    good &= np.isfinite(S[a, c])
            if good:
                for a in range(k):
                    for c in range(a + 1):
                        out[r, a, c] = S[a, c]
                ok[r] = True
    return out, ok


def cholesky32_reference(H, shift):
    k = H.shape[-1]
    full = np.tril(H) + np.swapaxes(np.tril(H, -1), 1, 2) + shift[:, None, None] * np.eye(k)
    return np.linalg.cholesky(full).astype(np.float32)


@njit(**PARALLEL, fastmath=REASSOC)
def cho_apply(L, V):
    """z_r = (L_r L_rᵀ)⁻¹ v_r with the float32 factors L, accumulated in float64."""
    b, k = V.shape
    out = np.empty((b, k))
    for r in prange(b):
        cho_subst(L[r], V[r], out[r])
    return out


def cho_apply_reference(L, V):
    L = L.astype(np.float64)
    return np.stack([np.linalg.solve(Lr @ Lr.T, v) for Lr, v in zip(L, V)]) if len(V) else V.copy()


@njit(**PARALLEL, fastmath=REASSOC)
def cho_apply_rows(L, rows, V):
    """z_j = (L_r L_rᵀ)⁻¹ v_j with r = rows[j]: cho_apply on some of the factors, read in place
    (gathering them would copy k² floats per row at every inner iteration)."""
    b, k = V.shape
    out = np.empty((b, k))
    for j in prange(b):
        cho_subst(L[rows[j]], V[j], out[j])
    return out


def cho_apply_rows_reference(L, rows, V):
    return cho_apply_reference(L[rows], V)
