"""Accuracy measures: relative objective, PSNR, RMSE (also on held-out sparse entries), relative error.

All functions validate shapes and raise :class:`~wlra_core.problem.InputError` on a mismatch.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .problem import InputError

__all__ = ["relative_objective", "psnr", "rmse", "heldout_rmse", "relative_error", "factor_error"]

# Spectral norms of matrices whose smaller side exceeds this use svds instead of a dense SVD.
_DENSE_SPECTRAL_LIMIT = 512
# Stored entries processed at a time by heldout_rmse.
_CHUNK = 2**18


def _dense(name: str, A) -> np.ndarray:
    try:
        return np.asarray(A, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: found values that are not numbers ({exc}), need a real array") from None


def _factor_pair(X, Y, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    X, Y = _dense("X", X), _dense("Y", Y)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[1] != Y.shape[1] or X.shape[0] != n or Y.shape[0] != m:
        raise InputError(f"X, Y: found shapes {X.shape} and {Y.shape}, need ({n}, k) and ({m}, k)")
    return X, Y


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, with 0/0 = 0 and x/0 = inf."""
    if denominator > 0:
        return numerator / denominator
    return 0.0 if numerator == 0 else math.inf


def _weighted_energy(M, W) -> float:
    """Σ W_ij M_ij² over the entries with W_ij ≠ 0 (M may hold NaN where W is 0)."""
    if sp.issparse(W):
        Wc = sp.coo_matrix(W)
        rows, cols, w = Wc.row, Wc.col, Wc.data.astype(np.float64)
        if sp.issparse(M):
            Mc = sp.csr_matrix(M, dtype=np.float64)
            values = np.asarray(Mc[rows, cols]).ravel() if rows.size else np.zeros(0)
        else:
            values = _dense("M", M)[rows, cols]
        keep = w != 0
        return float(np.dot(w[keep], values[keep] ** 2))
    W = _dense("W", W)
    M = sp.csr_matrix(M).toarray() if sp.issparse(M) else _dense("M", M)
    keep = W != 0
    return float(np.dot(W[keep], M[keep] ** 2))


def relative_objective(M, W, X, Y) -> float:
    """f(X, Y) / Σ W_ij M_ij², with f the weighted objective (dense or sparse W).

    0 when both are 0; inf when only the denominator is 0 (M vanishes where W > 0).
    """
    from .problem import objective  # imported here so this module loads on its own

    if tuple(M.shape) != tuple(W.shape) or len(M.shape) != 2:
        raise InputError(f"W: found shape {tuple(W.shape)}, need the shape of M {tuple(M.shape)}")
    _factor_pair(X, Y, *M.shape)
    return _ratio(float(objective(M, W, X, Y)), _weighted_energy(M, W))


def _check_same_shape(truth, estimate, names: tuple[str, str]) -> None:
    if truth.shape != estimate.shape:
        raise InputError(f"{names[1]}: found shape {estimate.shape}, need the shape of {names[0]} "
                         f"{truth.shape}")
    if truth.size == 0:
        raise InputError(f"{names[0]}: found an empty array, need at least one value")


def psnr(truth, estimate, mask=None, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio 10·log10(data_range² / MSE) in dB, inf when the MSE is 0.

    ``estimate`` is clipped to [0, data_range] first (as it would be when shown as an image);
    ``truth`` is used as given.  ``mask`` selects the pixels to score: a boolean array, or any
    numeric array whose non-zero entries are selected (pass ``W == 0`` to score the hidden
    pixels).  Its shape is that of ``truth`` or, for a colour image (h, w, 3), its (h, w)
    (then every channel of a selected pixel is scored).  Raises InputError on a shape mismatch,
    an empty selection or a data_range that is not a positive finite number.
    """
    truth, estimate = _dense("truth", truth), _dense("estimate", estimate)
    _check_same_shape(truth, estimate, ("truth", "estimate"))
    if isinstance(data_range, bool) or not (isinstance(data_range, (int, float, np.number))
                                            and math.isfinite(data_range) and data_range > 0):
        raise InputError(f"data_range: found {data_range!r}, need a positive finite number")
    error = (truth - np.clip(estimate, 0.0, data_range)) ** 2
    if mask is not None:
        mask = np.asarray(mask)
        selected = mask if mask.dtype == bool else mask != 0
        if selected.shape == truth.shape:
            error = error[selected]
        elif truth.ndim == 3 and selected.shape == truth.shape[:2]:
            error = error[selected, :]
        else:
            need = f"{truth.shape} or {truth.shape[:2]}" if truth.ndim == 3 else f"{truth.shape}"
            raise InputError(f"mask: found shape {selected.shape}, need {need}")
        if error.size == 0:
            raise InputError("mask: found no selected pixel, need at least one pixel to score")
    mse = float(np.mean(error))
    if mse == 0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def rmse(truth_values, estimate_values) -> float:
    """Root mean squared error √(mean((truth − estimate)²)) over arrays of the same shape."""
    truth, estimate = _dense("truth_values", truth_values), _dense("estimate_values", estimate_values)
    _check_same_shape(truth, estimate, ("truth_values", "estimate_values"))
    return float(np.sqrt(np.mean((truth - estimate) ** 2)))


def heldout_rmse(M_test, X, Y) -> float:
    """RMSE of X Yᵀ against the stored entries of the sparse matrix ``M_test`` (held-out ratings).

    Only the stored entries are scored (a stored 0 is a rating of 0); the predictions are
    ⟨X_i, Y_j⟩ at those entries, O(nnz·k) time, X Yᵀ is never formed.
    """
    if not sp.issparse(M_test):
        raise InputError(f"M_test: found {type(M_test).__name__}, need a scipy.sparse matrix whose "
                         "stored entries are the held-out values")
    if len(M_test.shape) != 2:
        raise InputError(f"M_test: found shape {M_test.shape}, need a 2-D matrix")
    X, Y = _factor_pair(X, Y, *M_test.shape)
    test = sp.coo_matrix(M_test)
    test.sum_duplicates()
    if test.nnz == 0:
        raise InputError("M_test: found no stored entry, need at least one held-out value")
    total = 0.0
    for start in range(0, test.nnz, _CHUNK):
        rows = test.row[start:start + _CHUNK]
        cols = test.col[start:start + _CHUNK]
        residual = test.data[start:start + _CHUNK] - np.einsum("ij,ij->i", X[rows], Y[cols])
        total += float(np.dot(residual, residual))
    return math.sqrt(total / test.nnz)


def _norm(A, ord) -> float:
    if sp.issparse(A):
        if ord == "fro":
            return float(spla.norm(A, "fro"))
        if min(A.shape) <= _DENSE_SPECTRAL_LIMIT:
            return float(np.linalg.norm(A.toarray(), 2))
    else:
        if ord == "fro" or min(A.shape) <= _DENSE_SPECTRAL_LIMIT:
            return float(np.linalg.norm(A, ord))
    is_zero = A.count_nonzero() == 0 if sp.issparse(A) else not np.any(A)
    if is_zero:
        return 0.0
    start = np.random.default_rng(0).standard_normal(min(A.shape))  # fixed: same answer every call
    return float(spla.svds(A, k=1, v0=start, return_singular_vectors=False)[0])


def relative_error(estimate, truth, ord="fro") -> float:
    """‖estimate − truth‖ / ‖truth‖ in the Frobenius (``ord="fro"``) or spectral (``ord=2``) norm.

    Dense or sparse inputs.  The spectral norm is exact (``np.linalg.norm(·, 2)``) when the smaller
    side is at most 512, else the top singular value from ``scipy.sparse.linalg.svds``.
    0 when both norms are 0; inf when only ‖truth‖ is 0.
    """
    if not (ord == "fro" or (ord == 2 and not isinstance(ord, bool))):
        raise InputError(f"ord: found {ord!r}, need 'fro' or 2")
    if not sp.issparse(estimate):
        estimate = _dense("estimate", estimate)
    if not sp.issparse(truth):
        truth = _dense("truth", truth)
    if len(truth.shape) != 2:
        raise InputError(f"truth: found shape {truth.shape}, need a 2-D matrix")
    if tuple(estimate.shape) != tuple(truth.shape):
        raise InputError(f"estimate: found shape {tuple(estimate.shape)}, need the shape of truth "
                         f"{tuple(truth.shape)}")
    if min(truth.shape) == 0:
        raise InputError(f"truth: found shape {truth.shape}, need at least one row and one column")
    if sp.issparse(estimate) != sp.issparse(truth):  # mixed: the difference is dense anyway
        estimate = estimate.toarray() if sp.issparse(estimate) else estimate
        truth = truth.toarray() if sp.issparse(truth) else truth
    difference = sp.csr_matrix(estimate - truth) if sp.issparse(truth) else estimate - truth
    return _ratio(_norm(difference, ord), _norm(truth, ord))


def factor_error(X, Y, U, V) -> float:
    """‖X Yᵀ − U Vᵀ‖_F / ‖U Vᵀ‖_F from the factors, never forming an n×m matrix (the error of an
    estimate against a planted truth U Vᵀ; the absolute error when the truth is 0).

    ‖A Bᵀ‖_F = ‖R_A R_Bᵀ‖_F for thin QRs A = Q_A R_A, B = Q_B R_B (Q's columns orthonormal)."""
    X, Y, U, V = (np.asarray(A, dtype=np.float64) for A in (X, Y, U, V))
    if X.shape[0] != U.shape[0] or Y.shape[0] != V.shape[0] or X.shape[1] != Y.shape[1] or U.shape[1] != V.shape[1]:
        raise InputError(f"X, Y, U, V: found shapes {X.shape}, {Y.shape}, {U.shape}, {V.shape}, need X (n×k), "
                         "Y (m×k), U (n×r), V (m×r)")

    def fro(A, B):
        return float(np.linalg.norm(np.linalg.qr(A, mode="r") @ np.linalg.qr(B, mode="r").T))

    truth = fro(U, V)
    error = fro(np.hstack([X, -U]), np.hstack([Y, V]))
    return error / truth if truth > 0 else error
