"""The sketched solver (SYYZ): a sketch S·A_i of each row's design gives a preconditioner R with
RᵀR = (SA_i)ᵀSA_i + λI; then preconditioned iterations from the warm start until

    ‖R⁻ᵀ (A_iᵀ(b_i − A_i x) − λx)‖ ≤ η·‖b_i‖

(see inner.py). Cost per row: the sketch's Gram s·k², its factorisation k³/3, and 4·N_i·k per
inner iteration, against the exact solver's N_i·k². The sketch, its Gram and the preconditioner
are float32 (a preconditioner is needed only to a constant factor); the iterations and their
residuals are float64, so the final accuracy is the float64 one. Rows with N_i ≤ s gain nothing
from a sketch and are solved exactly.

Recycling. Row i's design A_i = D_i Y changes between outer iterations only through Y, and the
loop re-orthonormalises Y, so most of a change is a k×k change of basis: with T the least-squares
fit Y ≈ Y_ref T of the new factor on the one the preconditioners were made for,
A_iᵀA_i ≈ Tᵀ (A_iᵀA_i)_ref T, and R_ref T preconditions the new design. A half-step of a dense side
(k ≥ inner.FUSED_DENSE_K, where the iterations are BLAS products that can apply T) keeps its rows'
factors when they fit in a quarter of the memory budget (its half-steps then work within the
other half), and reuses them unless

    ‖Y − Y_ref T‖_F > RECYCLE_DRIFT·‖Y‖_F                 (not a change of basis any more),
    the preconditioner is RECYCLE_AGE half-steps old, or
    (t_last − t_fresh)·4mk > s·k²/2 + k³/3                (the last reuse's extra inner iterations
                                                          cost more than a fresh float32 sketch
                                                          and factorisation would have),

t the mean inner iterations per row of the fresh build and of the last reuse, m the row length
(the dense products run over whole rows). The rule counts work, not time, so a run stays
reproducible. A reused half-step skips the sketch and the factorisation; the iterations still stop
on the same rule, so the accuracy is unchanged, only their number can grow as the preconditioner
ages. `Step.inner.reused_rows` counts the rows that reused one.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..problem import DenseSide
from . import iterative
from .exact import block_grams
from .inner import FUSED_DENSE_K, Stats
from .layouts import SHARED_SAMPLE_K, SharedSample
from .linalg import preconditioner

RECYCLE_DRIFT = 0.3       # the part of Y outside the reference basis beyond which a sketch is redone
RECYCLE_AGE = 10          # half-steps a preconditioner is reused at most


def half_step(side, Y, X0, o, rng, cache=None):
    """`cache`: a dict kept by the loop for this side across its half-steps (see Recycling), or
    None to sketch every time."""
    shared = None
    st = Stats(side.shape[0])
    k = Y.shape[1]
    keep = (cache is not None and isinstance(side, DenseSide) and k >= FUSED_DENSE_K
            and side.shape[0] * k * k * 4 <= o.budget // 4)
    if keep:                      # the two sides' kept factors take up to half of the budget
        o = replace(o, budget=o.budget // 2)
    basis = _reusable(cache, Y, side.shape[1], o.s) if keep else None
    if basis is None:
        if (o.sketch == "rownorm" and isinstance(side, DenseSide) and k >= SHARED_SAMPLE_K
                and np.any(side.counts > o.s)):
            with st.timed("sketch"):
                shared = SharedSample(side, Y, o.s, rng, o.budget)
        store = None
        if keep:
            if cache.get("L") is None or cache["L"].shape != (side.shape[0], k, k):
                cache["L"] = np.empty((side.shape[0], k, k), np.float32)
            store = cache["L"]

        def make(blk, o, rng, st, rows):
            L = build(blk, o, rng, st, shared)
            if store is not None:
                store[_span(rows)] = L
            return L
    else:
        L_all, Tinv = cache["L"], basis

        def make(blk, o, rng, st, rows):
            st.reused_rows += len(rows)
            return L_all[_span(rows)], Tinv
    X, stats = iterative.half_step(side, Y, X0, o, rng, cut=o.s, solver="sketched", st=st, build=make)
    if keep:
        its = stats["inner_iterations_total"] / max(stats["iterative_rows"], 1)
        if basis is None:
            cache.update(Y=Y.copy(), age=0, fresh_its=its, last_its=its)
        else:
            cache.update(age=cache["age"] + 1, last_its=its)
    return X, stats


def _reusable(cache, Y, m, s):
    """T⁻¹ for the kept preconditioners (Y ≈ Y_ref T), or None when they are to be made afresh
    (the rule in the module docstring)."""
    Y_ref = cache.get("Y")
    if Y_ref is None or Y_ref.shape != Y.shape or cache["age"] + 1 >= RECYCLE_AGE:
        return None
    k = Y.shape[1]
    if (cache["last_its"] - cache["fresh_its"]) * 4 * m * k > s * k * k / 2 + k ** 3 / 3:
        return None
    T, *_ = np.linalg.lstsq(Y_ref, Y, rcond=None)
    if not np.linalg.norm(Y - Y_ref @ T) <= RECYCLE_DRIFT * np.linalg.norm(Y):
        return None
    try:
        return np.linalg.inv(T)
    except np.linalg.LinAlgError:
        return None


def _span(rows):
    """A slice for consecutive row indices (a view of the kept factors, not a copy), else rows."""
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return rows


def build(blk, o, rng, st, shared=None):
    """The rows' preconditioner factors from their sketched Grams."""
    with st.timed("sketch"):
        Gs = blk.sketch(o, rng, shared)
        # a sketch that missed most of a row's mass (possible with few samples) would give a
        # near-singular preconditioner: such rows take their exact Gram matrix instead
        weak = np.flatnonzero(~(np.trace(Gs, axis1=1, axis2=2) >= 1e-3 * blk.trace()))
        if len(weak):
            Gs = Gs.astype(np.float64)
            k = Gs.shape[-1]
            for sub, G in block_grams(blk.take(weak), None, k, o.budget):
                Gs[weak[sub]] = G
            st.weak_sketches += len(weak)
    with st.timed("factor"):
        return preconditioner(Gs, o.ridge)
