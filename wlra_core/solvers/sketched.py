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
A_iᵀA_i ≈ Tᵀ (A_iᵀA_i)_ref T, and R_ref T preconditions the new design. On a dense problem with
k ≥ inner.FUSED_DENSE_K (where the iterations are BLAS products that can apply T), when both sides'
factors fit in half of the half-steps' memory budget ((n + m)·k² float32, factors_fit; the
half-steps then work within the other half; a run's kept W∘M never takes that half from them,
solvers.products_bytes), a half-step keeps its rows' factors and the next ones reuse them unless

    ‖Y − Y_ref T‖₂ > RECYCLE_DRIFT·σ_min(Y)             (not a change of basis any more),
    they have been reused RECYCLE_AGE − 1 times, or
    (t_last − t_fresh)·4mk > s·k² + k³/3                  (the last reuse's extra inner iterations
                                                          cost more than a fresh sketch and
                                                          factorisation, wlra_core.cost's model),

t the inner iterations per row of the fresh build and of the last reuse, each divided by
ln(1/η) of its own half-step and scaled to the last one's (the adaptive η tightens as the loop
converges, which alone adds iterations), m the row length (the dense products run over whole
rows). The rule counts work, not time, so a run stays reproducible; but whether factors are kept
depends on memory_budget, so with k ≥ 24 on dense W the iterates (not the converged objective)
depend on it. A reused half-step skips the sketch and the factorisation and draws nothing. The
iterations stop on the same rule; it bounds ‖A_i(x − x*)‖ up to σ_min(A_i R⁻¹), which the drift
bound keeps within a constant of a fresh sketch's. `Step.inner.reused_rows` counts the rows that
reused a preconditioner.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..problem import DenseSide
from . import iterative
from .exact import block_grams
from .inner import FUSED_DENSE_K, Stats
from .layouts import SHARED_SAMPLE_K, SharedSample
from .linalg import preconditioner

RECYCLE = True            # False: every half-step sketches afresh (the solver without recycling)
RECYCLE_DRIFT = 0.5       # ‖Y − Y_ref T‖₂ / σ_min(Y) beyond which a sketch is redone
RECYCLE_AGE = 10          # a preconditioner serves at most this many half-steps (made + reused)


def half_step(side, Y, X0, o, rng, cache=None):
    """`cache`: a dict kept by the loop for this side across its half-steps (see Recycling), or
    None to sketch every time."""
    shared = None
    st = Stats(side.shape[0])
    n, m = side.shape
    k = Y.shape[1]
    keep = RECYCLE and cache is not None and isinstance(side, DenseSide) and factors_fit(n, m, k, o.budget)
    if keep:
        o = replace(o, budget=o.budget // 2)
    basis = _reusable(cache, Y, m, o) if keep else None
    if basis is None:
        if (o.sketch == "rownorm" and isinstance(side, DenseSide) and k >= SHARED_SAMPLE_K
                and np.any(side.counts > o.s)):
            with st.timed("sketch"):
                shared = SharedSample(side, Y, o.s, rng, o.budget)
        if keep and (cache.get("L") is None or cache["L"].shape != (n, k, k)):
            cache["L"] = np.empty((n, k, k), np.float32)

        def make(blk, o, rng, st, rows):
            L = build(blk, o, rng, st, shared)
            if keep:
                cache["L"][_span(rows)] = L
            return L
    else:
        # the rows iterated are the same at every half-step of a run (N_i > s, both fixed), so
        # each of them was factored when the kept factors were made
        def make(blk, o, rng, st, rows):
            st.reused_rows += len(rows)
            return cache["L"][_span(rows)], basis
    X, stats = iterative.half_step(side, Y, X0, o, rng, cut=o.s, solver="sketched", st=st, build=make)
    if keep:
        its = stats["inner_iterations_total"] / max(stats["iterative_rows"], 1)
        if basis is None:
            cache.update(Y=Y.copy(), G=Y.T @ Y, age=1, fresh=(its, o.eps), last=(its, o.eps))
        else:
            cache.update(age=cache["age"] + 1, last=(its, o.eps))
    return X, stats


def factors_fit(n, m, k, budget):
    """Whether both sides' kept factors ((n + m)·k² float32) fit in half of `budget`, for k where
    they are used (k ≥ FUSED_DENSE_K)."""
    return k >= FUSED_DENSE_K and (n + m) * k * k * 4 <= budget // 2


def _reusable(cache, Y, m, o):
    """T⁻¹ for the kept preconditioners (Y ≈ Y_ref T), or None when they are to be made afresh
    (the rule in the module docstring)."""
    Y_ref = cache.get("Y")
    if Y_ref is None or Y_ref.shape != Y.shape or cache["age"] >= RECYCLE_AGE:
        return None
    k = Y.shape[1]
    (t_fresh, eta_fresh), (t_last, eta_last) = cache["fresh"], cache["last"]
    digits = lambda eta: max(math.log(1.0 / eta), 1.0)          # noqa: E731
    extra = (t_last / digits(eta_last) - t_fresh / digits(eta_fresh)) * digits(eta_last)
    if extra * 4 * m * k > o.s * k * k + k ** 3 / 3:
        return None
    # by k×k Gram matrices (m·k² products, no m×k factorisation): T from the normal equations,
    # ‖E‖₂² and σ_min(Y)² as extreme eigenvalues
    try:
        T = np.linalg.solve(cache["G"], Y_ref.T @ Y)
        E = Y - Y_ref @ T
        drift2 = np.linalg.eigvalsh(E.T @ E)[-1]
        low2 = np.linalg.eigvalsh(Y.T @ Y)[0]
        if not drift2 <= RECYCLE_DRIFT ** 2 * low2:
            return None
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
