"""The sketched solver (SYYZ): a sketch S·A_i of each row's design gives a preconditioner R with
RᵀR = (SA_i)ᵀSA_i + λI; then preconditioned iterations from the warm start until

    ‖R⁻ᵀ (A_iᵀ(b_i − A_i x) − λx)‖ ≤ η·‖b_i‖

(see inner.py). Cost per row: the sketch's Gram s·k², its factorisation k³/3, and 4·N_i·k per
inner iteration, against the exact solver's N_i·k². The sketch, its Gram and the preconditioner
are float32 (a preconditioner is needed only to a constant factor); the iterations and their
residuals are float64, so the final accuracy is the float64 one. Rows with N_i ≤ s gain nothing
from a sketch and are solved exactly.
"""
from __future__ import annotations

import numpy as np

from ..problem import DenseSide
from . import iterative
from .layouts import SHARED_SAMPLE_K, SharedSample
from .exact import block_grams
from .inner import Stats
from .linalg import preconditioner


def half_step(side, Y, X0, o, rng):
    shared = None
    st = Stats(side.shape[0])
    if (o.sketch == "rownorm" and isinstance(side, DenseSide) and Y.shape[1] >= SHARED_SAMPLE_K
            and np.any(side.counts > o.s)):
        with st.timed("sketch"):
            shared = SharedSample(side, Y, o.s, rng, o.budget)
    return iterative.half_step(side, Y, X0, o, rng, cut=o.s, solver="sketched", st=st,
                               build=lambda blk, o, rng, st: build(blk, o, rng, st, shared))


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
