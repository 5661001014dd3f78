"""EM for weighted low-rank approximation (Srebro & Jaakkola, ICML 2003), the classical baseline.

With weights scaled into [0, 1] (W/max W has the same minimiser), one EM step fills the matrix with
the current estimate where the weights are low,

    F = M̂ + W ∘ (M − M̂),

and replaces M̂ by a rank-k approximation of F. The E-step never forms W ∘ (M − M̂) outside the
weighted entries: for sparse W, F is applied as "low rank + sparse" in O(nnz·k + (n+m)k²).

The M-step: for problems of at most `EXACT_SVD_ENTRIES` entries, the exact truncated SVD of F (the
textbook algorithm). Above that, one sweep of subspace iteration warm-started from the previous
right factor V (Q = orth(F V), Ỹ = Fᵀ Q): a generalised EM step, which still never increases the
objective (‖F − QQᵀF‖ ≤ ‖F − FVVᵀ‖ ≤ ‖F − M̂‖) and costs O(nnz·k) instead of a full SVD.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..problem import DenseSide, Problem

EXACT_SVD_ENTRIES = 4_000_000


def em_step(prob: Problem, X, Y):
    """One EM step from M̂ = X Yᵀ. Returns (X with orthonormal columns, Ỹ)."""
    side = prob.rows
    k = prob.k
    if isinstance(side, DenseSide):
        F = X @ Y.T                        # EM works on the filled n×m matrix: O(n·m) memory
        for r in side.row_blocks():
            Wb, Mb = side.block(r)
            F[r] += Wb * (Mb - F[r])
        if F.size <= EXACT_SVD_ENTRIES:
            u, s, vt = np.linalg.svd(F, full_matrices=False)
            return u[:, :k].copy(), vt[:k].T * s[:k]
        Q = np.linalg.qr(F @ _orth(Y))[0]
        return Q, F.T @ Q
    rows = np.repeat(np.arange(side.shape[0]), side.counts)
    pred = np.einsum("ij,ij->i", X[rows], Y[side.indices])
    S = sp.csr_array((side.w * (side.mv - pred), side.indices, side.indptr), shape=side.shape)
    if prob.n * prob.m <= EXACT_SVD_ENTRIES:
        F = X @ Y.T + S.toarray()
        u, s, vt = np.linalg.svd(F, full_matrices=False)
        return u[:, :k].copy(), vt[:k].T * s[:k]
    V = _orth(Y)
    Q = np.linalg.qr(X @ (Y.T @ V) + S @ V)[0]            # F V with F = X Yᵀ + S
    return Q, Y @ (X.T @ Q) + S.T @ Q                       # Fᵀ Q


def _orth(Y):
    return np.linalg.qr(Y)[0]
