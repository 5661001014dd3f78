"""The half-step of the iterative solvers: short rows exactly, the others by inner iterations
from the warm start, with a preconditioner ("sketched") or without ("cg").

Rows no longer than `cut` (the sketch size for "sketched": a sketch of them buys nothing; k − 1
for "cg": under-determined) are solved exactly and counted in `exact_rows`.
"""
from __future__ import annotations

import numpy as np

from ..problem import DenseSide
from .exact import at, block_grams
from .inner import Stats, iterate_rows
from .layouts import PackedOuter, blocks
from .linalg import solve_exact

DIAG_ROWS = 12


def half_step(side, Y, X0, o, rng, *, cut, build=None, solver, st=None):
    """X (n×k) and the statistics; `build(block, o, rng, stats, rows)` returns the preconditioner
    factors of the block's rows (`rows`: their indices in the side; float32 L per row, L Lᵀ = RᵀR,
    or a pair (L, T⁻¹) for factors made for the basis Y T⁻¹, sketched.py), or is None for plain
    CG. `st`: the Stats to add to (a fresh one by default)."""
    n = side.shape[0]
    m, k = Y.shape
    X = np.zeros((n, k))
    st = Stats(n) if st is None else st
    counts = side.counts
    diag_rows = set()
    if o.diagnostics:
        eligible = np.flatnonzero(counts > cut)
        take = np.unique(np.linspace(0, len(eligible) - 1, min(DIAG_ROWS, len(eligible))).astype(int))
        diag_rows = set(eligible[take].tolist()) if len(eligible) else set()
    dense = isinstance(side, DenseSide)
    packed = None                 # the outer products of Y, made once if short dense rows need them
    per_row = 8 * (3 * m + 2 * k * k + 8 * k) if dense else 8 * (2 * k * k + 10 * k)
    for rows, blk in blocks(side, Y, o.budget, per_row):
        rhs = blk.rhs()
        x0 = np.zeros((len(rhs), k)) if X0 is None else X0[rows]
        short = np.flatnonzero(blk.counts <= cut)
        if len(short):
            with st.timed("exact"):
                eb = blk.take(short)
                if dense and packed is None:
                    packed = PackedOuter(eb.Y, o.budget // 4)
                for sub, G in block_grams(eb, packed, k, o.budget):
                    X[at(rows, short[sub])] = solve_exact(eb, sub, G, rhs[short][sub], o.ridge, k)
            st.exact_rows += len(short)
        it_rows = np.flatnonzero(blk.counts > cut)
        if not len(it_rows):
            continue
        ib = blk.take(it_rows) if len(it_rows) < len(rhs) else blk
        glob = at(rows, it_rows)
        Minv = build(ib, o, rng, st, glob) if build is not None else None
        bnorm = np.sqrt(ib.bnorm2())
        with st.timed("inner"):
            x, iters, res = iterate_rows(ib, x0[it_rows], rhs[it_rows], bnorm, Minv, o)
        X[glob] = x
        st.add_iterations(iters, res)
        if diag_rows:
            pick = np.flatnonzero([g in diag_rows for g in glob])
            if len(pick):
                st.add_diagnostics(ib.take(pick), x[pick], rhs[it_rows][pick], _factors(Minv, pick),
                                   o.ridge, k)
    return X, st.summary(solver, o)


def _factors(Minv, pick):
    """The preconditioner factors of rows `pick` as matrices F with F Fᵀ = the preconditioner
    (Tᵀ L for a pair (L, T⁻¹)), or None."""
    if Minv is None:
        return None
    if isinstance(Minv, tuple):
        L, Tinv = Minv
        return np.matmul(np.linalg.inv(Tinv).T, L[pick].astype(np.float64))
    return Minv[pick]
