"""Batched small linear algebra for the half-step: exact solves of k×k systems, least squares
from the designs themselves, and the preconditioners (RᵀR)⁻¹ of the sketched solver.

The normal equations square the condition number of A_i, so each row's system is checked before
its solution is kept; the rows that fail are solved from A_i itself (`lstsq`). Two cheap tests:
* the diagonal of G + λI (the squared column norms of A_i) spans at most DIAGONAL_SPAN: a column
  1e-5 times shorter than another may be round-off that the normal equations would fit with a
  huge coefficient;
* one step of iterative refinement, δ = (G + λI)⁻¹(rhs − (G + λI)x), moves x by at most
  FORWARD_ERROR relative (its forward error, about κ·ε_mach: κ ≲ 5e9).
Rows that pass lose at most about ε_mach²·κ ≈ 1e-21 relative.
"""
from __future__ import annotations

import functools

import numpy as np

from ..threads import blas_single_thread
from . import kernels as K
from .kernels import LAPACK_K  # noqa: F401  (exact.py's choice of packed Grams)

DIAGONAL_SPAN = 1e10
FORWARD_ERROR = 1e-6


def single_threaded(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with blas_single_thread():
            return fn(*args, **kwargs)
    return wrapper


@single_threaded
def solve_spd(G, rhs, ridge, counts, k, packed=False):
    """x_i = (G_i + λI)⁻¹ rhs_i for the well-conditioned rows of a batch.

    G holds the Gram matrices (b, k, k) (lower triangles read), or with `packed` their packed
    upper parts (b, k(k+1)/2), which are unpacked one row at a time (no (b, k, k) batch; only the
    few under-determined rows are unpacked together, for `min_norm`).

    Returns (x, redo): `redo` marks the rows with a positive weight that the normal equations
    cannot solve accurately, for a least-squares solve of A_i itself (`lstsq`): fewer than k
    positive weights with λ = 0 (under-determined: the minimum-norm solution), a diagonal spanning
    more than DIAGONAL_SPAN, a matrix that is singular or not positive definite, or an estimated
    forward error above FORWARD_ERROR. Empty rows get 0."""
    b = G.shape[0]
    x = np.zeros((b, k))
    if b == 0:
        return x, np.zeros(0, bool)
    regular = (counts >= k) if ridge == 0 else np.ones(b, bool)
    regular &= counts > 0
    if packed:
        a = np.arange(k)
        diag = G[:, a * k - (a * (a - 1)) // 2] + ridge          # (a, a) in triu_indices order
    else:
        diag = np.diagonal(G, axis1=1, axis2=2) + ridge
    regular &= diag.min(axis=1) * DIAGONAL_SPAN >= diag.max(axis=1)
    where = np.flatnonzero(regular)
    if len(where):
        kernel = K.spd_solve_packed if packed else K.spd_solve
        xr, ok = kernel(np.ascontiguousarray(G), np.ascontiguousarray(rhs), float(ridge), FORWARD_ERROR,
                        where.astype(np.int64))
        x[where[ok[where]]] = xr[where[ok[where]]]
        regular[where[~ok[where]]] = False
    short = np.flatnonzero((counts > 0) & (counts < k)) if ridge == 0 else np.zeros(0, np.int64)
    if len(short):
        H = K.unpack(np.ascontiguousarray(G[short]), k) if packed else mirror(G[short].copy())
        xs, ok = min_norm(H, rhs[short], counts[short])
        x[short[ok]] = xs[ok]
        regular[short[ok]] = True
    return x, ~regular & (counts > 0)


def mirror(G):
    """The full symmetric matrices from their lower triangles (in place)."""
    lo = np.tril_indices(G.shape[-1], -1)
    G[:, lo[1], lo[0]] = G[:, lo[0], lo[1]]
    return G


def min_norm(H, rhs, counts):
    """Minimum-norm solutions for under-determined rows (N_i < k, λ = 0) from the eigenvectors of
    their Gram matrices, kept only where that is accurate: exactly N_i eigenvalues above
    1/DIAGONAL_SPAN of the largest (A_i has full row rank N_i and κ(A_i)² ≤ DIAGONAL_SPAN; the
    other k − N_i are round-off). Returns (x, ok); the rest are left to `lstsq`."""
    vals, vecs = np.linalg.eigh(H)
    keep = vals > vals[:, -1:] / DIAGONAL_SPAN
    ok = (keep.sum(axis=1) == counts) & (vals[:, -1] > 0)
    inv = np.where(keep, 1.0 / np.where(keep, vals, 1.0), 0.0)
    c = np.matmul(vecs.transpose(0, 2, 1), rhs[..., None])[..., 0] * inv
    return np.matmul(vecs, c[..., None])[..., 0], ok


@single_threaded
def lstsq(A, b, ridge):
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


@single_threaded
def solve_pinv(H, rhs):
    """Minimum-norm solutions of symmetric semi-definite systems, by eigendecomposition."""
    vals, vecs = np.linalg.eigh(H)
    cutoff = vals.max(axis=1, keepdims=True) * H.shape[-1] * np.finfo(float).eps
    inv = np.where(vals > cutoff, 1.0 / np.where(vals > cutoff, vals, 1.0), 0.0)
    c = np.matmul(vecs.transpose(0, 2, 1), rhs[..., None])[..., 0] * inv
    return np.matmul(vecs, c[..., None])[..., 0]


def solve_exact(blk, sub, G, rhs, ridge, k, packed=False):
    """The exact regressions of the rows `sub` of a block, from their Gram matrices G (lower
    triangles; or packed upper parts, `packed`): the normal equations where they are accurate,
    a least-squares solve of A_i elsewhere."""
    x, redo = solve_spd(G, rhs, ridge, blk.counts[sub], k, packed)
    local = np.arange(len(blk.counts))[sub][redo]
    where = np.flatnonzero(redo)
    step = max(1, (32 << 20) // (8 * k * max(int(blk.counts[local].max(initial=0)) + k, 1)))
    for c0 in range(0, len(local), step):       # in chunks of about 32 MB of designs
        x[where[c0:c0 + step]] = lstsq(*blk.design(local[c0:c0 + step]), ridge)
    return x


_SHIFTS = (0.0, 1e-12, 1e-9, 1e-6, 1e-3, 1.0)


@single_threaded
def preconditioner(Gs, ridge):
    """R_iᵀ = L_i per row as float32, with L_i L_iᵀ = Gs_i + λI (Gs: sketched Grams, lower
    triangles read): applied as a forward and a backward substitution per inner iteration, the
    memory traffic of one product with a k×k matrix. A sketch that is not numerically SPD gets
    its diagonal shifted by a small multiple of its mean eigenvalue."""
    b, k, _ = Gs.shape
    scale = np.trace(Gs, axis1=1, axis2=2).astype(np.float64) / k + ridge
    out = np.zeros((b, k, k), np.float32)
    # a design that is zero (the other factor vanishes on the row's entries) has nothing to
    # precondition: the identity
    blank = ~(scale > np.finfo(np.float32).tiny)
    out[blank] = np.eye(k, dtype=np.float32)
    todo = np.flatnonzero(~blank)
    for shift in _SHIFTS:
        if not len(todo):
            break
        whole = len(todo) == b                    # the usual case: no copy in, none out
        L, ok = K.cholesky32(Gs if whole else np.ascontiguousarray(Gs[todo]),
                             ridge + shift * scale[todo])
        if whole and ok.all():
            out = L
        else:
            out[todo[ok]] = L[ok]
        todo = todo[~ok]
    return out
