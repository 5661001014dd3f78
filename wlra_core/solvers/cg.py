"""Unpreconditioned conjugate gradients on each row's normal equations (the approach of the
`implicit` library), stopped when ‖A_iᵀ(b_i − A_i x) − λx‖ ≤ η·‖b_i‖·√(tr(A_iᵀA_i)/k): the
sketched solver's criterion with the rms singular value of A_i in place of the preconditioner.
Cost 4·N_i·k per iteration and row; the iterations grow like κ(A_i). Rows with fewer than k
weights are solved exactly (minimum norm).
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..problem import DenseSide
from . import iterative

SAMPLE_ROWS = 4


def half_step(side, Y, X0, o, rng):
    if o.adaptive:
        # the criterion bounds ‖A_i(x − x*)‖ only up to κ(A_i): the adaptive tolerance, meant for
        # the fitted values, is divided by κ̂
        o = replace(o, eps=max(o.eps / estimate_kappa(side, Y), 1e-15))
    return iterative.half_step(side, Y, X0, o, rng, cut=Y.shape[1] - 1, build=None, solver="cg")


def estimate_kappa(side, Y):
    """κ(A_i) = √(λ_max/λ_min of A_iᵀA_i), the median over a few evenly spaced rows with N_i > k
    (no random draw: the solvers' stream is left alone)."""
    k = Y.shape[1]
    long = np.flatnonzero(side.counts > k)
    if not len(long):
        return 1.0
    pick = long[np.unique(np.linspace(0, len(long) - 1, min(SAMPLE_ROWS, len(long))).astype(int))]
    vals = []
    for i in pick:
        blk = _row_block(side, Y, int(i))
        ev = np.linalg.eigvalsh(blk.full_gram()[0])
        vals.append(math.sqrt(ev[-1] / ev[0]) if ev[0] > 0 else 1e8)
    return float(np.median(vals))


def _row_block(side, Y, i):
    from .layouts import DenseBlock, SparseBlock
    if isinstance(side, DenseSide):
        return DenseBlock(*side.block(slice(i, i + 1)), Y, side.counts[i:i + 1])
    return SparseBlock(side, np.array([i]), Y)


