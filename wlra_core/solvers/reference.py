"""The slow, readable specification of a half-step: one least-squares problem per row, solved by
numpy's SVD-based lstsq. The fast solvers must agree with it (tests), and the walkthrough uses it
to show one row's regression.
"""
from __future__ import annotations

import numpy as np


def regression(A, b, ridge=0.0):
    """argmin ‖A x − b‖² + λ‖x‖², the minimum-norm solution where A is rank deficient."""
    k = A.shape[1]
    if ridge > 0:
        A = np.vstack([A, np.sqrt(ridge) * np.eye(k)])
        b = np.concatenate([b, np.zeros(k)])
    return np.linalg.lstsq(A, b, rcond=None)[0]


def half_step(M, W, Y, ridge=0.0):
    """Row by row: x_i = argmin ‖D_√W_i (Y x − M_iᵀ)‖² + λ‖x‖² (dense M, W; NaN in M where W = 0)."""
    n, k = M.shape[0], Y.shape[1]
    X = np.zeros((n, k))
    for i in range(n):
        sw = np.sqrt(W[i])
        X[i] = regression(sw[:, None] * Y, sw * np.where(W[i] > 0, M[i], 0.0), ridge)
    return X
