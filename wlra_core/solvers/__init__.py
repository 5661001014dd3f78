"""The half-step: one weighted least-squares problem per row of a side, all solved together.

Row i of a side regresses b_i = D_√W_i M_iᵀ on A_i = D_√W_i Y (only the N_i entries with W_ij > 0
matter), with an optional ridge λ‖x‖²:

    x_i = argmin ‖A_i x − b_i‖² + λ‖x‖²,   i.e.   (A_iᵀA_i + λI) x_i = A_iᵀ b_i.

Every solver has ONE interface, `half_step(side, Y, X0, o, rng) -> (X, stats)`, one module each
(the two that remember across half-steps take one more argument: auto what it measured, sketched
the preconditioners it keeps; `half_step` below hands them the loop's memo):
exact.py (LLR16 normal equations), sketched.py (SYYZ: sketch-preconditioned iterations), cg.py
(unpreconditioned conjugate gradients) and auto.py (picks one of them per half-step from a cost
model). em.py is the Srebro–Jaakkola EM step, which replaces both half-steps. Rows come in blocks
(layouts.py) that keep working memory within `o.budget` bytes; the per-row work of sparse rows and
of small batched systems runs in compiled kernels (compiled/, one module per concept, gathered in
kernels.py; each kernel with its numpy reference); reference.py is the slow per-row specification
they are tested against.

Under-determined rows (fewer than k positive weights, λ = 0) get the minimum-norm least-squares
solution, and empty rows get 0, in every solver: never NaN, never an exception.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Options:
    """What a half-step needs to know. `eps` is the regression tolerance η of this half-step
    (the iterative solvers' stopping rule, inner.py)."""

    solver: str
    eps: float
    ridge: float
    sketch: str
    s: int                 # sketch size
    inner: str             # "pcg" or "gd"
    max_inner: int
    budget: int            # bytes of working memory
    diagnostics: bool
    adaptive: bool = False  # eps is the loop's forcing term (alternating.py), not a fixed tolerance


def half_step(side, Y, X0, o, rng, memo=None, slot=None):
    """Solve every row's regression of `side` against the factor Y (m×k) with solver `o.solver`.

    X0 (n×k or None) is the warm start of the iterative solvers; `memo` (a dict kept by the loop)
    lets "auto" remember what it measured and, with `slot` naming the side ("rows" or "cols"),
    "sketched" keep its preconditioners (sketched.py, Recycling). Returns (X, stats)."""
    from . import auto, cg, exact, sketched
    Y = np.ascontiguousarray(Y, dtype=np.float64)
    X0 = None if X0 is None else np.ascontiguousarray(X0, dtype=np.float64)
    if o.solver == "auto":
        return auto.half_step(side, Y, X0, o, rng, memo if memo is not None else {})
    if o.solver == "sketched":
        cache = memo.setdefault(("recycle", slot), {}) if memo is not None and slot else None
        return sketched.half_step(side, Y, X0, o, rng, cache)
    module = {"exact": exact, "cg": cg}[o.solver]
    return module.half_step(side, Y, X0, o, rng)


def products_bytes(prob, solver, budget, plain=True):
    """The bytes of W∘M a run keeps for its right-hand sides (layouts.keep_products), 0 when it
    keeps none: only the plain model (`plain`; the biased and count-scaled ones solve adjusted
    sides) of the regression solvers (not em), when layouts.products_fit allows it and, for
    sketched, not where it would push the kept preconditioners out of their half of the budget."""
    from . import layouts
    if not plain or solver == "em" or not layouts.products_fit(prob, budget):
        return 0
    kept = 8 * prob.n * prob.m
    if factors_bytes(prob, solver, budget, prob.k) and not factors_bytes(prob, solver, budget - kept, prob.k):
        return 0
    return kept


def factors_bytes(prob, solver, budget, width):
    """The bytes of preconditioner factors a "sketched" run keeps across its half-steps
    (sketched.py's recycling, (n + m)·width² float32), 0 when it keeps none; `width`: the
    regressions' design width (k, or k + 1 with bias's column of ones); `budget`: the half-steps'
    budget once a kept W∘M is taken out of it."""
    from . import sketched
    if solver != "sketched" or prob.sparse or not sketched.RECYCLE:
        return 0
    if not sketched.factors_fit(prob.n, prob.m, width, budget):
        return 0
    return 4 * (prob.n + prob.m) * width * width


def with_kept_products(prob, o, plain=True):
    """Keep W∘M for the run when products_bytes says so: returns `o` with those bytes out of the
    half-steps' budget."""
    from .layouts import keep_products
    kept = products_bytes(prob, o.solver, o.budget, plain)
    if not kept:
        return o
    keep_products(prob)
    return replace(o, budget=o.budget - kept)
