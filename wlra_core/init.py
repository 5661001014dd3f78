"""Initialisation of the alternating loop, orthonormalisation and LLR16 clipping."""
from __future__ import annotations

import contextlib

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.linalg import solve_triangular

from .problem import DenseSide, Problem

INITS = ("svd", "random")

# below this many entries the initial SVD is computed exactly; above it, by a seeded
# randomized range finder with power iterations (Halko, Martinsson, Tropp 2011)
_EXACT_SVD_ENTRIES = 1_000_000


def weighted_matrix(prob: Problem):
    """W ∘ M of the (scaled) problem: a dense array for small problems, a CSR matrix for sparse
    ones, and for large dense ones a linear operator applied in row blocks (never formed)."""
    side = prob.rows
    if isinstance(side, DenseSide):
        if prob.n * prob.m <= _EXACT_SVD_ENTRIES:
            W, M = side.block(slice(None))
            return W * M
        return _BlockedWM(side)
    return sp.csr_array((side.w * side.mv, side.indices, side.indptr), shape=side.shape)


class _BlockedWM(spla.LinearOperator):
    """W ∘ M of a large dense side, applied block by block."""

    def __init__(self, side):
        self.side = side
        super().__init__(dtype=np.float64, shape=side.shape)

    def _matmat(self, V):
        out = np.empty((self.shape[0], V.shape[1]))
        for r in self.side.row_blocks():
            W, M = self.side.block(r)
            out[r] = (W * M) @ V
        return out

    def _rmatmat(self, V):
        out = np.zeros((self.shape[1], V.shape[1]))
        for r in self.side.row_blocks():
            W, M = self.side.block(r)
            out += (W * M).T @ V[r]
        return out

    def _matvec(self, v):
        return self._matmat(v.reshape(-1, 1)).ravel()

    def _rmatvec(self, v):
        return self._rmatmat(v.reshape(-1, 1)).ravel()

    def __matmul__(self, V):
        return self._matmat(np.asarray(V))


def initial_factor(prob: Problem, init: str, rng: np.random.Generator) -> np.ndarray:
    """Y0 (m×k) with orthonormal columns.

    "svd": the top-k right singular vectors of W ∘ M (LLR16's start); "random": the Q factor of a
    Gaussian m×k matrix.

    Entries below ε_mach·max(n, m), the SVD's accuracy, are set to 0: where W ∘ M falls apart into
    blocks, round-off on the blocks a vector does not touch would give rows observed only there
    coefficients near 1e15."""
    m, k = prob.m, prob.k
    if init == "random":
        return orthonormalise(rng.standard_normal((m, k)), rng)
    A = weighted_matrix(prob)
    if prob.n * prob.m <= _EXACT_SVD_ENTRIES:
        dense = A if isinstance(A, np.ndarray) else A.toarray()
        _, _, vt = np.linalg.svd(dense, full_matrices=False)
        Y = np.ascontiguousarray(vt[:k].T)
    else:
        Y = _randomized_right_vectors(A, k, rng)
    Y[np.abs(Y) < max(prob.n, prob.m) * np.finfo(float).eps] = 0.0
    return Y


def _randomized_right_vectors(A, k, rng, oversample=10, power=4):
    """Top-k right singular vectors of A by subspace iteration from a Gaussian start."""
    n, m = A.shape
    p = min(m, n, k + oversample)
    op = spla.aslinearoperator(A)
    Q = np.linalg.qr(rng.standard_normal((m, p)))[0]
    for _ in range(power):
        Z = np.linalg.qr(op.matmat(Q))[0]
        Q = np.linalg.qr(op.rmatmat(Z))[0]
    B = op.matmat(Q)                          # A Q, n×p
    _, _, vt = np.linalg.svd(B, full_matrices=False)
    return np.ascontiguousarray(Q @ vt[:k].T)


def orthonormalise(X, rng):
    """Q with orthonormal columns spanning X (n×k); columns that X does not span are refilled with
    random orthonormal directions so the factor keeps rank k (LLR16 needs an orthonormal basis).

    Q = X R⁻¹ with R from a Householder QR of X, not Householder's own Q, which is accurate only to
    ε_mach·‖X‖ entry by entry and so loses rows of X far smaller than the others. X R⁻¹ is accurate
    row by row and exactly zero on zero rows; its columns are orthonormal to about κ·ε_mach, so a
    second pass (QR of Q, and Q R₂⁻¹) follows when they are not to 1e-10."""
    from .threads import blas_single_thread
    n, k = X.shape
    # a thin QR is small work: BLAS threads cost more in hand-offs than they save
    with blas_single_thread() if n * k ** 2 < 5e8 else contextlib.nullcontext():
        R = np.linalg.qr(X, mode="r")
        # column j is dead when |R_jj| is round-off relative to that column's own norm (not the
        # largest column's: a column of norm 1 beside one of 1e16 still spans a direction)
        d = np.abs(np.diag(R))
        dead = d <= np.linalg.norm(X, axis=0) * n * np.finfo(float).eps
        live = X[:, ~dead] if dead.any() else X
        if dead.all():
            Q = np.zeros((n, 0))
        else:
            Q = _right_solve(live, np.linalg.qr(live, mode="r") if dead.any() else R)
        for _ in range(2):
            if Q.shape[1] == 0 or np.abs(Q.T @ Q - np.eye(Q.shape[1])).max() <= 1e-10:
                break
            Q = _right_solve(Q, np.linalg.qr(Q, mode="r"))
        else:
            if Q.shape[1] and np.abs(Q.T @ Q - np.eye(Q.shape[1])).max() > 1e-6:
                Q = np.linalg.qr(live)[0]    # not even two passes: Householder's Q after all
    if dead.any():
        Z = rng.standard_normal((n, int(dead.sum())))
        Z -= Q @ (Q.T @ Z)
        Q = np.concatenate([Q, np.linalg.qr(Z)[0]], axis=1)
    return Q


def _right_solve(X, R):
    """X R⁻¹ for an upper-triangular R, row by row accurate."""
    return solve_triangular(R, X.T, trans="T", lower=False, check_finite=False).T


def incoherence(Q):
    """μ̂ = max row norm × √(n/k) of an n×k orthonormal factor."""
    n, k = Q.shape
    return float(np.sqrt(np.einsum("ij,ij->i", Q, Q).max() * n / k))


def clip(Q, c, rng):
    """LLR16 clipping: zero the rows of the orthonormal Q whose norm exceeds ξ = c·√(k/n), then
    re-orthonormalise (refilling any lost columns with random orthogonal directions)."""
    n, k = Q.shape
    xi = c * np.sqrt(k / n)
    big = np.sqrt(np.einsum("ij,ij->i", Q, Q)) > xi
    if not big.any():
        return Q
    Qc = Q.copy()
    Qc[big] = 0.0
    return orthonormalise(Qc, rng)
