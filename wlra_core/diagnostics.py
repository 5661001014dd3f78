"""Diagnostics of exactly solved half-steps (diagnostics=True with solver "exact", or when "auto"
picks it): the iterative solvers record κ(A_i), κ(A_i R⁻¹) and the forward error on sampled rows
(solvers/inner.py); the exact solver has no preconditioner (R = I, so both κ are κ(A_i)) but its
normal equations square κ(A_i), and the forward error against the SVD reference shows what that
costs."""
from __future__ import annotations

import numpy as np

from .problem import DenseSide
from .solvers.reference import regression

SAMPLED_ROWS = 12


def exact_diagnostics(stats, side, Y, X, ridge):
    """`stats` of an exact half-step with cond_before, cond_after and forward_error filled in on up
    to SAMPLED_ROWS rows spread evenly over the rows that have weights (no random draw: the
    solvers' stream stays that of the run without diagnostics)."""
    if stats.get("solver") != "exact":
        return stats
    rows = np.flatnonzero(side.counts > 0)
    rows = rows[np.unique(np.linspace(0, len(rows) - 1, min(SAMPLED_ROWS, len(rows))).astype(int))]
    cond, fwd = [], []
    for i in rows:
        if isinstance(side, DenseSide):
            w, mv = side.block(slice(i, i + 1))
            idx = np.flatnonzero(w[0] > 0)
            w, mv = w[0, idx], mv[0, idx]
        else:
            sl = slice(side.indptr[i], side.indptr[i + 1])
            idx, w, mv = side.indices[sl], side.w[sl], side.mv[sl]
        sw = np.sqrt(w)
        A = sw[:, None] * Y[idx]
        x_ref = regression(A, sw * mv, ridge)
        sv = np.linalg.svd(np.vstack([A, np.sqrt(ridge) * np.eye(Y.shape[1])]) if ridge > 0 else A,
                           compute_uv=False)
        cond.append(sv[0] / sv[-1] if len(sv) == Y.shape[1] and sv[-1] > 0 else np.inf)
        nx = np.linalg.norm(x_ref)
        err = np.linalg.norm(X[i] - x_ref)
        fwd.append(err / nx if nx > 0 else err)
    out = dict(stats)
    out["cond_before"] = np.asarray(cond)
    out["cond_after"] = np.asarray(cond)
    out["forward_error"] = np.asarray(fwd)
    return out
