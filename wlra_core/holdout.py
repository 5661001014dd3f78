"""Held-out entries for early stopping: a seeded fraction of the weighted entries is kept out of
the fit (weight 0) and the fit's error on them is reported after every iteration.

    holdout_rmse = √( Σ_h W_h (M_h − M̂_h)² / Σ_h W_h )     over the held-out entries h,

in the caller's units. The entries are drawn from the run's seed by a stream of their own, so the
solvers' stream (sketches, random starts) is the one a run without holdout uses.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .problem import InputError, _as_float_array, _canonical_csr, _values_at, check_float

# spawn key of the holdout stream ("HOLD"); the solvers' stream uses another (alternating.solver_rng)
_HOLDOUT_KEY = 0x484F4C44
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Held:
    """The held-out entries (caller's units): coordinates, weights and values."""

    rows: np.ndarray
    cols: np.ndarray
    w: np.ndarray
    m: np.ndarray

    def rmse(self, predict):
        """√(Σ w (m − p)² / Σ w) with p = predict(rows, cols), in chunks."""
        num = 0.0
        for a in range(0, len(self.rows), _CHUNK):
            s = slice(a, a + _CHUNK)
            r = self.m[s] - predict(self.rows[s], self.cols[s])
            num += float(np.dot(self.w[s], r * r))
        return float(np.sqrt(num / float(self.w.sum())))


def check_holdout(holdout):
    return check_float("holdout", holdout, low=0.0, high=1.0, high_open=True,
                       what=" (the fraction of weighted entries held out, in [0, 1); 0 for none)")


def holdout_rng(seed):
    """The holdout stream of a run: independent of the solvers' stream of the same seed."""
    if isinstance(seed, np.random.Generator):
        try:
            return seed.spawn(1)[0]           # leaves the Generator's own draws untouched
        except (TypeError, ValueError):       # a bit generator without a seed sequence
            return np.random.default_rng(seed.integers(2**63))
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_HOLDOUT_KEY,)))


def split(M, W, fraction, seed):
    """(W_fit, Held): a copy of W with round(fraction·N) of its N positive entries set to 0, and
    those entries. The inputs are not modified."""
    sparse = sp.issparse(W)
    shape_m = M.shape if sp.issparse(M) else np.shape(M)
    shape_w = W.shape if sparse else np.shape(W)
    if len(shape_w) != 2 or tuple(shape_m) != tuple(shape_w) or 0 in shape_w:
        return W, None                        # validate() names the problem
    if sparse:
        Wf = _canonical_csr(W).copy()
        data = Wf.data
    else:
        Wf = np.array(_as_float_array("W", W), dtype=np.float64, copy=True)
        data = Wf.reshape(-1)                 # a view: Wf is a fresh contiguous copy
    positive = np.flatnonzero(data > 0)
    count = int(round(fraction * len(positive)))
    if count < 1 or count >= len(positive):
        raise InputError(f"holdout: found {fraction:g} of {len(positive)} weighted entries, which holds out "
                         f"{count}; need a fraction that holds out at least one entry and keeps at least one.")
    rng = holdout_rng(seed)
    pick = np.sort(positive[rng.choice(len(positive), size=count, replace=False)])
    w = data[pick].copy()
    data[pick] = 0.0
    if sparse:
        rows = np.repeat(np.arange(Wf.shape[0]), np.diff(Wf.indptr))[pick]
        cols = Wf.indices[pick].astype(np.int64)
    else:
        rows, cols = np.divmod(pick, Wf.shape[1])
    if sp.issparse(M):
        m = _values_at(M, rows, cols)
    else:
        m = _as_float_array("M", M)[rows, cols].copy()
    if not np.all(np.isfinite(m)):
        bad = np.flatnonzero(~np.isfinite(m))[0]
        raise InputError(f"M: found a non-finite value ({m[bad]}) at ({rows[bad]}, {cols[bad]}) where the "
                         "weight is positive; NaN is allowed only where W is 0.")
    return Wf, Held(rows=rows.astype(np.int64), cols=cols.astype(np.int64), w=w, m=m)
