"""The recommender model of the alternating loop: offsets (bias=True) and count-scaled ridge.

bias=True fits M̂_ij = μ + b_i + c_j + x_iᵀy_j (Koren's biased factor model; Surprise's SVD). μ is
the weighted mean of the fitted entries, fixed; the offsets are solved inside each row's
regression: in the X half-step row i regresses M_ij − μ − c_j on the design [Y, 1], and the last
coordinate of its solution is b_i; the Y half-step is the same on the columns with [X, 1] and
target M_ij − μ − b_i. With a ridge the offsets are penalised like the factors. No solver changes:
a half-step gets a side whose values are shifted (`adjusted`) and a design with a column of ones.
After each half-step the factor's mean row moves into the other offsets (`Model.centre`): without
it the split of μ + b_i + c_j + x_iᵀy_j between offsets and low-rank part is not unique, and the
low-rank part absorbed most of the offsets (measured: planted offsets off by 1–2.5 at ridge 0).

ridge_scaling="count" penalises row i by λ·N_i‖x_i‖² (N_i its weighted entries; ALS-WR, Zhou et
al. 2008, and Spark's ALS). Row i's data term times 1/N_i plus λ‖x_i‖² has the same minimiser, so
each side's weights are divided by their row counts once, inside the half-step only: the reported
objective stays Σ W (M − M̂)².
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .problem import DenseSide, SparseSide

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

    def centre(self, F, offsets, G, which):
        """Move the mean row of a half-step's factor F into the other side's offsets:
        F Gᵀ = (F − 1f̄ᵀ) Gᵀ + 1 (G f̄)ᵀ, the same model. The offsets are then the identified ones
        (the low-rank part has centred factors) instead of whatever share of b1ᵀ + 1cᵀ the
        low-rank part happened to absorb. At ridge 0 the next half-step's fit is the same (span of
        [F, 1] unchanged); with a ridge it is a reparametrisation the next half-step re-optimises
        (measured on planted problems: offsets to the noise level, test error the same or lower)."""
        fbar = F.mean(axis=0)
        if which == "rows":
            self.c = self.c + G @ fbar
        else:
            self.b = self.b + G @ fbar
        return F - fbar, offsets

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
