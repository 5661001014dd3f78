"""The recommender model of the alternating loop: offsets (bias=True) and count-scaled ridge.

bias=True fits M̂_ij = μ + b_i + c_j + x_iᵀy_j (Koren's biased factor model; Surprise's SVD). μ is
the weighted mean of the fitted entries, fixed; the offsets are solved inside each row's
regression: in the X half-step row i regresses M_ij − μ − c_j on the design [Y, 1], and the last
coordinate of its solution is b_i; the Y half-step is the same on the columns with [X, 1] and
target M_ij − μ − b_i. With a ridge the offsets are penalised like the factors. No solver changes:
a half-step gets a side whose values are shifted (`adjusted`) and a design with a column of ones.
After each half-step the factor's mean row moves into the other offsets (`Model.centre`): without
it the split of μ + b_i + c_j + x_iᵀy_j between offsets and low-rank part is not unique, and the
low-rank part absorbs much of the offsets.

ridge_scaling="count" penalises row i by λ·N_i‖x_i‖² (N_i its weighted entries; ALS-WR, Zhou et
al. 2008, and Spark's ALS). Row i's data term times 1/N_i plus λ‖x_i‖² has the same minimiser, so
each side's weights are divided by their row counts once, inside the half-step only: the reported
objective stays Σ W (M − M̂)².
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .problem import DenseSide, InputError, SparseSide

SCALINGS = ("none", "count")


@dataclass(frozen=True)
class AdjustedDenseSide(DenseSide):
    """A dense side whose blocks have weights times row_scale[i] and values minus col_shift[j]
    (both in the scaled units of the problem; None for no change)."""

    row_scale: np.ndarray | None = None
    col_shift: np.ndarray | None = None

    def block(self, r):
        W, M = DenseSide.block(self, r)
        if self.row_scale is not None:
            W *= self.row_scale[r][:, None]
        if self.col_shift is not None:
            M -= np.where(W > 0, self.col_shift[None, :], 0.0)
        return W, M


def adjusted(side, row_scale=None, col_shift=None, row_of=None):
    """`side` with its weights scaled per row and its values shifted per column. `row_of` (sparse
    sides) is each stored entry's row, made once by the caller."""
    if row_scale is None and col_shift is None:
        return side
    if isinstance(side, DenseSide):
        return AdjustedDenseSide(M=side.M, W=side.W, counts=side.counts, m_scale=side.m_scale,
                                 w_scale=side.w_scale, row_scale=row_scale, col_shift=col_shift)
    w = side.w if row_scale is None else side.w * row_scale[row_of]
    mv = side.mv if col_shift is None else side.mv - col_shift[side.indices]
    return SparseSide(indptr=side.indptr, indices=side.indices, w=w, mv=mv, shape=side.shape)


def weighted_mean(prob):
    """Σ W M / Σ W over the fitted entries of the scaled problem (μ of the biased model)."""
    side = prob.rows
    if isinstance(side, SparseSide):
        return float(np.dot(side.w, side.mv) / side.w.sum())
    num = den = 0.0
    for r in side.row_blocks():
        W, M = side.block(r)
        num += float(np.sum(W * M))
        den += float(W.sum())
    return num / den


def count_scale(side):
    """1/N_i per row of a side (1 for empty rows, which have no data term to scale)."""
    return 1.0 / np.maximum(side.counts, 1).astype(np.float64)


class Model:
    """The loop's view of the model: the sides each half-step regresses and the offsets so far."""

    def __init__(self, prob, bias, scaling, ridge=False):
        self.prob, self.bias, self.count = prob, bool(bias), scaling == "count"
        # the offsets' column in the design: in the caller's units a column of ones, whose
        # coefficient the ridge penalises like the factors' (which carry √m_scale each)
        self.one = 1.0 / np.sqrt(prob.m_scale) if ridge else 1.0
        self.mean = weighted_mean(prob) if self.bias else 0.0
        self.b = np.zeros(prob.n)
        self.c = np.zeros(prob.m)
        sparse = prob.sparse
        self.row_of = (np.repeat(np.arange(prob.n), prob.rows.counts) if sparse else None,
                       np.repeat(np.arange(prob.m), prob.cols.counts) if sparse else None)
        self.scale = (count_scale(prob.rows), count_scale(prob.cols)) if self.count else (None, None)
        # the objective's side: values minus μ, plain weights
        self.objective_side = adjusted(prob.rows, None, np.full(prob.m, self.mean) if self.bias else None,
                                       self.row_of[0])
        if not self.bias:           # count alone: the adjusted sides never change
            self._fixed = (adjusted(prob.rows, self.scale[0], None, self.row_of[0]),
                           adjusted(prob.cols, self.scale[1], None, self.row_of[1]))

    def initial_problem(self):
        """The problem the start (init="svd", EM's first fill) is computed from: with bias, the
        values minus μ. The top singular direction of raw ratings (all near μ) is the constant
        one, which the offsets' column of ones already holds: [Y0, 1] would be nearly singular."""
        if not self.bias:
            return self.prob
        return replace(self.prob, rows=self.objective_side)

    def x_side(self):
        """The rows' regressions: target M − μ − c_j (bias), weights / N_i (count)."""
        if not self.bias:
            return self._fixed[0]
        return adjusted(self.prob.rows, self.scale[0], self.mean + self.c, self.row_of[0])

    def y_side(self):
        """The columns' regressions: target M − μ − b_i (bias), weights / N_j (count)."""
        if not self.bias:
            return self._fixed[1]
        return adjusted(self.prob.cols, self.scale[1], self.mean + self.b, self.row_of[1])

    def design(self, F):
        """The regression design of a half-step: F, and a column of ones with bias."""
        return np.hstack([F, np.full((F.shape[0], 1), self.one)]) if self.bias else F

    def coef(self, offsets):
        """The design coefficient of offsets (inverse of the scaling in `split`)."""
        return (offsets / self.one)[:, None]

    def centre(self, F, G, which):
        """Move the mean row of a half-step's factor F into the other side's offsets:
        F Gᵀ = (F − 1f̄ᵀ) Gᵀ + 1 (G f̄)ᵀ, the same model. The offsets are then the identified ones
        (the low-rank part has centred factors) instead of whatever share of b1ᵀ + 1cᵀ the
        low-rank part happened to absorb. At ridge 0 the next half-step's fit is the same (span of
        [F, 1] unchanged); with a ridge it is a reparametrisation the next half-step re-optimises."""
        fbar = F.mean(axis=0)
        if which == "rows":
            self.c = self.c + G @ fbar
        else:
            self.b = self.b + G @ fbar
        return F - fbar

    def split(self, Z):
        """A half-step's solution: (factor, offsets or None)."""
        if not self.bias:
            return Z, None
        return np.ascontiguousarray(Z[:, :-1]), Z[:, -1] * self.one

    def objective(self, X, Yt):
        """Σ W (M − μ − b_i − c_j − X Ỹᵀ)² on the scaled problem."""
        from .problem import side_objective
        if not self.bias:
            return side_objective(self.prob.rows, X, Yt)
        n, m = X.shape[0], Yt.shape[0]
        return side_objective(self.objective_side, np.hstack([X, self.b[:, None], np.ones((n, 1))]),
                              np.hstack([Yt, np.ones((m, 1)), self.c[:, None]]))

    def penalty(self, X, Yt):
        """The ridge terms of the loop's objective over λ (scaled units): ‖X‖² + ‖b‖² + ‖Ỹ‖² + ‖c‖²
        (offsets as design coefficients), each row times its count N_i with count scaling."""
        nx = np.einsum("ij,ij->i", X, X) + ((self.b / self.one) ** 2 if self.bias else 0.0)
        ny = np.einsum("ij,ij->i", Yt, Yt) + ((self.c / self.one) ** 2 if self.bias else 0.0)
        if self.count:
            nx = nx * self.prob.rows.counts
            ny = ny * self.prob.cols.counts
        return float(np.sum(nx) + np.sum(ny))


@dataclass(frozen=True)
class Biases:
    """The biases-only model M̂_ij = μ + b_i + c_j (fit_biases): the baseline a low-rank part
    has to beat."""

    mean: float
    row_offsets: np.ndarray
    col_offsets: np.ndarray
    iterations: int

    def predict(self, rows, cols):
        rows = np.asarray(rows, dtype=np.intp)
        cols = np.asarray(cols, dtype=np.intp)
        return self.mean + self.row_offsets[rows] + self.col_offsets[cols]

    def low_rank(self):
        """The dense estimate (n×m), named like Step/Result.low_rank for the callers' sake."""
        return self.mean + self.row_offsets[:, None] + self.col_offsets[None, :]


def fit_biases(M, W, *, ridge=0.0, ridge_scaling="none", holdout=0.0, seed=0, eps=1e-10, max_iter=200):
    """Fit μ + b_i + c_j alone: μ the weighted mean, then b and c by exact alternating minimisation
    of Σ W (M − μ − b_i − c_j)² + λ_i b_i² + λ_j c_j² (λ_i = λ, or λ·N_i with
    ridge_scaling="count": the offsets' penalty of solve(..., bias=True)). Dense or sparse W;
    `holdout` and `seed` leave out the same entries as solve with the same values, so the two are
    compared on the same fit. Stops when no offset moves by more than eps × max|M|."""
    from .holdout import check_holdout, split
    from .problem import check_choice, check_float, check_int, validate
    ridge = check_float("ridge", ridge, low=0.0, what=" (the ridge λ; 0 for none)")
    check_choice("ridge_scaling", ridge_scaling, SCALINGS)
    if ridge_scaling == "count" and ridge == 0:
        raise InputError("ridge_scaling: found 'count' with ridge=0; the count scaling multiplies the "
                         "ridge λ of each row by its number of entries, so it needs ridge > 0.")
    eps = check_float("eps", eps, low=0.0, high=1.0, low_open=True, high_open=True,
                      what=" (the tolerance, in the open interval (0, 1))")
    max_iter = check_int("max_iter", max_iter, low=1)
    holdout = check_holdout(holdout)
    if holdout > 0:
        W, _ = split(M, W, holdout, seed)
    prob = validate(M, W, 1)
    rows, cols, w, r = _entries(prob)
    n, m = prob.n, prob.m
    mu = float(np.dot(w, r) / w.sum())
    wr = np.bincount(rows, weights=w, minlength=n)
    wc_ = np.bincount(cols, weights=w, minlength=m)
    # λ of the scaled problem (weights / w_scale, values / m_scale): λ / w_scale
    lam = ridge / prob.w_scale
    lam_r = lam * (prob.rows.counts if ridge_scaling == "count" else 1.0)
    lam_c = lam * (prob.cols.counts if ridge_scaling == "count" else 1.0)
    b, c = np.zeros(n), np.zeros(m)
    for t in range(1, max_iter + 1):
        b_new = _ratio(np.bincount(rows, weights=w * (r - mu - c[cols]), minlength=n), wr + lam_r)
        c_new = _ratio(np.bincount(cols, weights=w * (r - mu - b_new[rows]), minlength=m), wc_ + lam_c)
        move = max(np.abs(b_new - b).max(initial=0.0), np.abs(c_new - c).max(initial=0.0))
        b, c = b_new, c_new
        if move <= eps:
            break
    s = prob.m_scale
    return Biases(mean=mu * s, row_offsets=b * s, col_offsets=c * s, iterations=t)


def _ratio(num, den):
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _entries(prob):
    """(rows, cols, w, values) of the weighted entries of the scaled problem."""
    side = prob.rows
    if isinstance(side, SparseSide):
        return np.repeat(np.arange(prob.n), side.counts), side.indices.astype(np.intp), side.w, side.mv
    parts = []
    for r in side.row_blocks():
        W, M = side.block(r)
        i, j = np.nonzero(W > 0)
        parts.append((i + r.start, j, W[i, j], M[i, j]))
    return tuple(np.concatenate(p) for p in zip(*parts))
