"""The exact solver (LLR16): every row's normal equations, (A_iᵀA_i + λI) x_i = A_iᵀ b_i.

Dense W: every row's Gram matrix at once, as one matrix product of W with the row-wise symmetric
outer products of Y (m × k(k+1)/2, in column chunks), then batched Cholesky solves:
O(nnz(W)·k² + n·k³). Sparse W: each row's Gram matrix straight from the CSR arrays by a compiled
kernel, the same cost, never densified. Rows where the normal equations are not accurate (see
linalg.py) are solved from A_i itself by a least-squares SVD.
"""
from __future__ import annotations

import numpy as np

from ..problem import DenseSide
from .inner import Stats
from .layouts import PackedOuter, SparseBlock, blocks, unpack
from .linalg import LAPACK_K, solve_exact


def half_step(side, Y, X0, o, rng):
    """Solve every row's regression of `side` exactly against Y (X0 and rng are not used)."""
    n = side.shape[0]
    m, k = Y.shape
    X = np.zeros((n, k))
    dense = isinstance(side, DenseSide)
    per_row = 8 * (k * (k + 1) // 2 + 3 * m + 2 * k) if dense else 8 * (2 * k * k + 4 * k)
    # large k: the packed Grams go to a compiled loop of LAPACK factorisations, never unpacked
    # as a batch (writing (b, k, k) would add a fifth to the Gram product's memory traffic)
    keep = dense and k >= LAPACK_K
    packed = None              # the outer products of the blocks' factor (Y, or Y/√w_scale for views)
    st = Stats(n)
    with st.timed("exact"):
        for rows, blk in blocks(side, Y, o.budget, per_row):
            if dense and packed is None:
                packed = PackedOuter(blk.Y, o.budget // 4)
            rhs = blk.rhs()
            for sub, G in block_grams(blk, packed, k, o.budget, keep_packed=keep):
                X[at(rows, sub)] = solve_exact(blk, sub, G, rhs[sub], o.ridge, k, packed=keep)
    st.exact_rows = n
    return X, st.summary("exact", o)


def block_grams(blk, packed, k, budget, keep_packed=False):
    """Yield (sub-batch, its Gram matrices (c, k, k), both triangles), in sub-batches
    that bound memory; dense blocks with `keep_packed`: the packed upper parts (c, k(k+1)/2)
    themselves, in one batch (the solve unpacks one row at a time)."""
    b = len(blk.counts)
    if isinstance(blk, SparseBlock):
        yield slice(0, b), blk.full_gram()
        return
    if packed is None:
        packed = PackedOuter(blk.Y, budget // 4)
    P = blk.gram(packed)
    if keep_packed:
        yield slice(0, b), P
        return
    step = max(1, budget // (16 * 8 * k * k))       # G and the solve's copies of it
    for r0 in range(0, b, step):
        sub = slice(r0, min(r0 + step, b))
        yield sub, unpack(P[sub], k)


def at(rows, sub):
    """Indices into the side of the rows `sub` of a block that holds `rows`."""
    if isinstance(rows, slice):
        return np.arange(rows.start, rows.stop)[sub]
    return rows[sub]
