"""EM for weighted low-rank approximation (Srebro & Jaakkola, ICML 2003), the classical baseline.

With weights scaled into [0, 1] (W/max W has the same minimiser), one EM step fills the matrix with
the current estimate where the weights are low,

    F = M̂ + W ∘ (M − M̂),

and replaces M̂ by a rank-k approximation of F. The E-step never forms W ∘ (M − M̂) outside the
weighted entries: for sparse W, F is applied as "low rank + sparse" in O(nnz·k + (n+m)k²).

The M-step: the exact truncated SVD of F (the textbook algorithm) when F has at most
`EXACT_SVD_ENTRIES` entries and min(n, m) ≤ SVD_RATIO·k, where a full SVD costs little more than
anything else. Otherwise one sweep of subspace iteration warm-started from the previous right
factor V (Q = orth(F V), Ỹ = Fᵀ Q): a generalised EM step, which still never increases the
objective (‖F − QQᵀF‖ ≤ ‖F − FVVᵀ‖ ≤ ‖F − M̂‖) and costs O(nnz·k) instead of a full SVD.

With a ridge λ (the loop's f + λ‖X‖² + λ‖Y‖², whose minimum over X Yᵀ = Z is f + 2λ‖Z‖_*) the
M-step minimises ‖F − Z‖² + 2λ‖Z‖_* over rank ≤ k: the singular values of F soft-thresholded by λ
(SoftImpute with a rank cap, Mazumder, Hastie, Tibshirani, JMLR 2010), returned as the balanced
factors U√σ, V√σ (the pair of least ‖X‖² + ‖Y‖² for that Z).

With offsets (bias=True: M̂ = μ + b_i + c_j + X Yᵀ) the M-step fits G = F − μ: over b, c and a
rank-k L, ‖G − b1ᵀ − 1cᵀ − L‖² is least for L the rank-k part of the double-centred H G H (H the
centring projector; the offsets terms vanish under it) and b, c the row and column means of G − L;
with a ridge the offsets' means shrink by m + λ_b (n + λ_b) and L's singular values by λ.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..problem import DenseSide, Problem

EXACT_SVD_ENTRIES = 4_000_000
SVD_RATIO = 4


def _exact_svd(n, m, k):
    return n * m <= EXACT_SVD_ENTRIES and min(n, m) <= SVD_RATIO * k


def em_step(prob: Problem, X, Y, clip=None):
    """One EM step from M̂ = X Yᵀ. Returns (X with orthonormal columns, Ỹ).

    `clip` (Q ↦ clipped Q, init.clip): LLR16 clipping of the M-step's orthonormal left factor,
    the model then being F projected on it, Q Qᵀ F."""
    side = prob.rows
    k = prob.k
    if isinstance(side, DenseSide):
        F = X @ Y.T                        # EM works on the filled n×m matrix: O(n·m) memory
        for r in side.row_blocks():
            Wb, Mb = side.block(r)
            F[r] += Wb * (Mb - F[r])
        if _exact_svd(prob.n, prob.m, k):
            u, s, vt = np.linalg.svd(F, full_matrices=False)
            if clip is not None:
                Q = clip(u[:, :k].copy())
                return Q, F.T @ Q
            return u[:, :k].copy(), vt[:k].T * s[:k]
        Q = np.linalg.qr(F @ _orth(Y))[0]
        Q = Q if clip is None else clip(Q)
        return Q, F.T @ Q
    rows = np.repeat(np.arange(side.shape[0]), side.counts)
    pred = np.einsum("ij,ij->i", X[rows], Y[side.indices])
    S = sp.csr_array((side.w * (side.mv - pred), side.indices, side.indptr), shape=side.shape)
    if _exact_svd(prob.n, prob.m, k):
        F = X @ Y.T + S.toarray()
        u, s, vt = np.linalg.svd(F, full_matrices=False)
        if clip is not None:
            Q = clip(u[:, :k].copy())
            return Q, F.T @ Q
        return u[:, :k].copy(), vt[:k].T * s[:k]
    V = _orth(Y)
    Q = np.linalg.qr(X @ (Y.T @ V) + S @ V)[0]            # F V with F = X Yᵀ + S
    Q = Q if clip is None else clip(Q)
    return Q, Y @ (X.T @ Q) + S.T @ Q                       # Fᵀ Q


def _orth(Y):
    return np.linalg.qr(Y)[0]


def em_model_step(prob: Problem, X, Y, ridge=0.0, offsets=None, ridge_offsets=0.0, clip=None):
    """One EM step of the model M̂ = X Yᵀ (+ μ + b_i + c_j when `offsets` = (μ, b, c)) with ridge
    λ = `ridge` on the low-rank part (singular-value soft threshold) and `ridge_offsets` on b and c.
    Returns (X, Ỹ, (b, c) or None); X orthonormal when ridge = 0, the balanced factors otherwise."""
    side = prob.rows
    n, m, k = prob.n, prob.m, prob.k
    mu, b, c = offsets if offsets is not None else (0.0, None, None)
    small = _exact_svd(n, m, k)
    if isinstance(side, DenseSide) or small:
        F = _filled(prob, X, Y, mu, b, c)               # n×m: dense EM's memory
        if offsets is not None:
            G = F - mu
            R = G - G.mean(axis=0) - G.mean(axis=1)[:, None] + G.mean()     # H G H
        else:
            G, R = F, F
        if small:
            u, s, vt = np.linalg.svd(R, full_matrices=False)
            U, s, V = u[:, :k], s[:k], vt[:k].T
        else:
            U, s, V = _subspace(lambda Z: R @ Z, lambda Z: R.T @ Z, Y, offsets is not None)
        rowsum, colsum = (G.sum(axis=1), G.sum(axis=0)) if offsets is not None else (None, None)
        bwd = lambda Z: R.T @ Z
    else:
        rows = np.repeat(np.arange(n), side.counts)
        pred = np.einsum("ij,ij->i", X[rows], Y[side.indices])
        if offsets is not None:
            pred = pred + mu + b[rows] + c[side.indices]
        S = sp.csr_array((side.w * (side.mv - pred), side.indices, side.indptr), shape=side.shape)
        centred = offsets is not None
        # H (X Yᵀ + S) H applied to centred blocks (the offset terms of G vanish under H)
        fwd = lambda Z: _centre(X @ (Y.T @ Z) + S @ Z) if centred else X @ (Y.T @ Z) + S @ Z
        bwd = lambda Z: _centre(Y @ (X.T @ Z) + S.T @ Z) if centred else Y @ (X.T @ Z) + S.T @ Z
        U, s, V = _subspace(fwd, bwd, Y, centred)
        if centred:
            ones_n, ones_m = np.ones(n), np.ones(m)
            rowsum = m * b + c.sum() + X @ (Y.T @ ones_m) + S @ ones_m
            colsum = n * c + b.sum() + Y @ (X.T @ ones_n) + S.T @ ones_n
    U, s, V = U[:, :k], s[:k], V[:, :k]
    s = np.maximum(s - ridge, 0.0) if ridge > 0 else s
    if ridge > 0:
        r = np.sqrt(s)
        Xn, Yn = U * r, V * r
    elif clip is not None:                  # (clip and ridge are exclusive) the projection on clipped U
        Xn = clip(np.ascontiguousarray(U))
        Yn = bwd(Xn)
    else:
        Xn, Yn = np.ascontiguousarray(U), V * s
    if offsets is None:
        return Xn, Yn, None
    # L is double-centred, so the row sums of G − L are those of G
    b_new = (rowsum - c.sum()) / (m + ridge_offsets)
    c_new = (colsum - b_new.sum()) / (n + ridge_offsets)
    return Xn, Yn, (b_new, c_new)


def _filled(prob, X, Y, mu, b, c):
    """F = M̂ + W ∘ (M − M̂) as a dense n×m array (scaled units)."""
    side = prob.rows
    F = X @ Y.T
    if b is not None:
        F += mu + b[:, None] + c[None, :]
    if isinstance(side, DenseSide):
        for r in side.row_blocks():
            Wb, Mb = side.block(r)
            F[r] += Wb * (Mb - F[r])
        return F
    rows = np.repeat(np.arange(side.shape[0]), side.counts)
    cols = side.indices
    F[rows, cols] += side.w * (side.mv - F[rows, cols])
    return F


def _centre(Z):
    return Z - Z.mean(axis=0)


def _subspace(fwd, bwd, Y, centred):
    """One sweep of subspace iteration from the previous right factor: (U, σ, V) of the rank-k
    approximation Q Bᵀ of the operator (Q = orth(op V), B = opᵀ Q)."""
    V0 = _centre(Y) if centred else Y
    Q = np.linalg.qr(fwd(_orth(V0)))[0]
    B = bwd(Q)                                                # m×k
    ub, s, vbt = np.linalg.svd(B.T, full_matrices=False)      # Bᵀ = ub s vbt
    return Q @ ub, s, vbt.T
