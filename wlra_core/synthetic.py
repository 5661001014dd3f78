"""Synthetic problems: planted low-rank matrices under several weight patterns, and rating sets."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import scipy.sparse as sp

from . import limits
from .io.sources import _check_entries
from .problem import InputError

if TYPE_CHECKING:  # pandas is imported when a loader needs it
    import pandas as pd

PATTERNS = ("bernoulli", "graded", "blocks", "heavy_tailed", "full")

# Confidence weights of the "heavy_tailed" pattern: 1 + alpha * log(1 + count).
_CONFIDENCE_ALPHA = 1.0
# planted(sparse=True) returns truth=None above this many entries (n * m), see its docstring.
_DENSE_TRUTH_LIMIT = 2**24
# Entries processed at a time when evaluating U V^T at a list of positions.
_CHUNK = 2**18


class Planted(NamedTuple):
    """A planted WLRA problem: M = truth + noise observed with weights W, truth = U Vᵀ."""
    M: np.ndarray | sp.csr_matrix
    W: np.ndarray | sp.csr_matrix
    truth: np.ndarray | None
    U: np.ndarray
    V: np.ndarray


def _check_count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name}: found {value!r}, need a positive integer")
    return int(value)


def _check_real(value, name: str, low: float, high: float, *, low_open: bool) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    inside = (number > low if low_open else number >= low) and number <= high
    if isinstance(value, bool) or not inside:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise InputError(f"{name}: found {value!r}, need a number in {interval}")
    return number


def _check_seed(seed) -> None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise InputError(f"seed: found {seed!r}, need a non-negative integer or None")


def _bernoulli_support(rng: np.random.Generator, m: int, p_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (rows, cols) where independent Bernoulli(p_rows[i]) draws succeed, row-major.

    Costs O(nnz + n·sqrt(m p)) time and memory, never O(n·m): within row i the gaps between
    successes are Geometric(p_i), so the positions are cumulative sums of geometric draws.
    Enough gaps are drawn to pass the end of the row with overwhelming probability; a row that
    does not is drawn again with twice as many.
    """
    rows_out, cols_out = [], []
    pending = np.flatnonzero(p_rows > 0)
    factor = 1.0
    while pending.size:
        p = p_rows[pending]
        mean = m * p
        k = np.minimum(m + 1, np.ceil(factor * (mean + 6.0 * np.sqrt(mean) + 10.0))).astype(np.int64)
        gaps = rng.geometric(np.repeat(p, k))
        ends = np.cumsum(k)
        starts = ends - k
        total = np.cumsum(gaps)
        before = np.repeat(total[starts] - gaps[starts], k)
        pos = total - before - 1
        done = pos[ends - 1] >= m
        keep = (pos < m) & np.repeat(done, k)
        rows_out.append(np.repeat(pending, k)[keep])
        cols_out.append(pos[keep])
        pending = pending[~done]
        factor *= 2.0
    return np.concatenate(rows_out), np.concatenate(cols_out)


def _blocks_support(rng: np.random.Generator, n: int, m: int, p: float) -> tuple[np.ndarray, np.ndarray]:
    """All entries except a few random rectangular holes covering about 1 - p of the matrix.

    Rectangles of area about (1 - p)·n·m / 4 (random aspect) are cut until the holes cover
    1 - p; a rectangle that would overshoot is shrunk to the area still missing.
    """
    observed = np.ones((n, m), dtype=bool)
    target = (1.0 - p) * n * m
    covered = 0
    for _ in range(200):
        remaining = target - covered
        if remaining < 0.5:
            break
        area = min((1.0 - p) * n * m / 4.0, remaining)
        aspect = np.exp(rng.uniform(-0.7, 0.7))
        h = int(np.clip(round(math.sqrt(area * aspect * n / m)), 1, n))
        w = int(np.clip(round(area / h), 1, m))
        top = int(rng.integers(0, n - h + 1))
        left = int(rng.integers(0, m - w + 1))
        observed[top:top + h, left:left + w] = False
        covered = observed.size - int(np.count_nonzero(observed))
    return np.nonzero(observed)


def _cover_rows_and_columns(rng: np.random.Generator, n: int, m: int, rows: np.ndarray,
                            cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Add one random entry to every empty row, then to every empty column; sort row-major."""
    empty_rows = np.flatnonzero(np.bincount(rows, minlength=n) == 0)
    rows = np.r_[rows, empty_rows]
    cols = np.r_[cols, rng.integers(0, m, size=empty_rows.size)]
    empty_cols = np.flatnonzero(np.bincount(cols, minlength=m) == 0)
    rows = np.r_[rows, rng.integers(0, n, size=empty_cols.size)]
    cols = np.r_[cols, empty_cols]
    keys = np.sort(rows.astype(np.int64) * m + cols)
    return keys // m, keys % m


def _scale_to_mean(propensity: np.ndarray, mean: float) -> np.ndarray:
    """Probabilities min(1, s·propensity) whose average is ``mean`` (bisection on s)."""
    low, high = 0.0, 1.0 / propensity.min()
    for _ in range(100):
        s = 0.5 * (low + high)
        if np.minimum(1.0, s * propensity).mean() < mean:
            low = s
        else:
            high = s
    return np.minimum(1.0, high * propensity)


def _low_rank_at(U: np.ndarray, V: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(U Vᵀ)[rows, cols] in O(len(rows)·k), in chunks to bound memory."""
    out = np.empty(rows.size)
    for start in range(0, rows.size, _CHUNK):
        r, c = rows[start:start + _CHUNK], cols[start:start + _CHUNK]
        out[start:start + _CHUNK] = np.einsum("ij,ij->i", U[r], V[c])
    return out


def planted(n: int, m: int, k: int, *, noise: float = 0.0, pattern: str = "bernoulli",
            p: float = 0.4, seed: int | None = 0, sparse: bool = False,
            max_entries: int | None = limits.MAX_ENTRIES) -> Planted:
    """A planted rank-k problem with known truth.

    U (n×k) and V (m×k) have i.i.d. Gaussian entries of standard deviation k^(-1/4), so the
    entries of truth = U Vᵀ have mean 0 and variance 1.
    M = truth + noise·N(0, 1). Weight patterns (``p`` is the observed fraction):

    * ``"bernoulli"``: W ∈ {0, 1}, each entry observed independently with probability p;
    * ``"graded"``: the same support, weights uniform in (0, 1];
    * ``"blocks"``: ones except a few random rectangular holes covering about 1 - p;
    * ``"heavy_tailed"``: row i observed with probability p_i ∝ a Pareto(1.2) activity (averaging
      p, capped at 1), so row degrees are heavy-tailed as in rating data; confidence weights
      1 + log(1 + c) with c Zipf(2) counts (Hu–Koren–Volinsky style), so W ≥ 1 + log 2;
    * ``"full"``: all ones (p is ignored).

    Every row and every column gets at least one positive weight: an empty row or column gets one
    random entry (with a weight drawn as for the pattern), so for tiny p the observed fraction is
    slightly above p.

    ``sparse=False``: M, W and truth are dense n×m arrays (M holds noisy values everywhere,
    also where W is 0). ``sparse=True``: M and W are CSR with the same structure, storing only
    the weighted entries; the work is O(nnz·k), never O(n·m), and ``truth`` is the dense U Vᵀ
    only when n·m ≤ 2**24, else None (use U and V). For one seed both agree exactly at the stored
    entries. Randomness comes from ``np.random.default_rng(seed)`` (with independent child streams
    for the factors, the support, the weights and the noise).
    ``max_entries`` (wlra_core.limits) caps the stored entries before anything is drawn: n·m
    when dense or for the "full" and "blocks" patterns, about p·n·m otherwise.
    """
    n, m, k = _check_count(n, "n"), _check_count(m, "m"), _check_count(k, "k")
    if k > min(n, m):
        raise InputError(f"k: found {k}, need 1 ≤ k ≤ min(n, m) = {min(n, m)}")
    noise = _check_real(noise, "noise", 0.0, math.inf, low_open=False)
    if not math.isfinite(noise):
        raise InputError(f"noise: found {noise!r}, need a finite number ≥ 0")
    if pattern not in PATTERNS:
        raise InputError(f"pattern: found {pattern!r}, need one of {PATTERNS}")
    p = _check_real(p, "p", 0.0, 1.0, low_open=True)
    _check_seed(seed)
    if not isinstance(sparse, (bool, np.bool_)):
        raise InputError(f"sparse: found {sparse!r}, need True or False")
    if not sparse or pattern in ("full", "blocks"):
        _check_entries("planted", n * m, f"{n:,}×{m:,} = {n * m:,} entries", max_entries)
    else:  # expected entries; the cover of empty rows and columns adds at most n + m
        expected = math.ceil(p * n * m) + n + m
        _check_entries("planted", expected, f"about {expected:,} entries ({p:g} of {n:,}×{m:,})",
                       max_entries)

    rng_factors, rng_support, rng_weights, rng_noise = np.random.default_rng(seed).spawn(4)
    scale = k ** -0.25
    U = rng_factors.standard_normal((n, k)) * scale
    V = rng_factors.standard_normal((m, k)) * scale

    if pattern == "full":
        rows, cols = np.divmod(np.arange(n * m, dtype=np.int64), m)
    elif pattern == "blocks":
        rows, cols = _blocks_support(rng_support, n, m, p)
    elif pattern == "heavy_tailed":
        activity = 1.0 + rng_support.pareto(1.2, size=n)
        rows, cols = _bernoulli_support(rng_support, m, _scale_to_mean(activity, p))
    else:
        rows, cols = _bernoulli_support(rng_support, m, np.full(n, p))
    rows, cols = _cover_rows_and_columns(rng_support, n, m, rows.astype(np.int64), cols.astype(np.int64))

    nnz = rows.size
    if pattern == "graded":
        weights = 1.0 - rng_weights.random(nnz)
    elif pattern == "heavy_tailed":
        weights = 1.0 + _CONFIDENCE_ALPHA * np.log1p(rng_weights.zipf(2.0, size=nnz).astype(np.float64))
    else:
        weights = np.ones(nnz)
    observed_noise = noise * rng_noise.standard_normal(nnz) if noise else np.zeros(nnz)

    if sparse:
        values = _low_rank_at(U, V, rows, cols) + observed_noise
        indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=n))]
        M = sp.csr_matrix((values, cols.copy(), indptr.copy()), shape=(n, m))
        W = sp.csr_matrix((weights, cols.copy(), indptr.copy()), shape=(n, m))
        truth = U @ V.T if n * m <= _DENSE_TRUTH_LIMIT else None
        return Planted(M, W, truth, U, V)

    truth = U @ V.T
    W = np.zeros((n, m))
    W[rows, cols] = weights
    M = truth.copy()
    if noise:
        E = np.empty((n, m))
        E[rows, cols] = observed_noise
        unobserved = np.ones((n, m), dtype=bool)
        unobserved[rows, cols] = False
        E[unobserved] = noise * rng_noise.standard_normal(int(np.count_nonzero(unobserved)))
        M += E
    return Planted(M, W, truth, U, V)


def make_ratings(n_users: int, n_items: int, k: int, *, density: float, seed: int,
                 scale: tuple[float, float] = (1, 5)) -> pd.DataFrame:
    """A SYNTHETIC rating set with columns user, item, rating, timestamp (one row per rating).

    rating = round_to_half(centre + spread·(b_user + b_item + 0.8·⟨u, v⟩ + ε)), clipped to
    ``scale`` (default [1, 5]), where centre = midpoint + spread/4, spread = (high - low)/4,
    ⟨u, v⟩ is a rank-k term with variance 1, b_user ~ N(0, 0.35²), b_item ~ N(0, 0.6²),
    ε ~ N(0, 0.4²).  Who rated what is heavy-tailed: user u rates item i with probability
    min(1, s·a_u·b_i), a_u Pareto-distributed activity, b_i Zipf-like popularity (rank^-0.8),
    s chosen so the average is ``density``; every user and every item has at least one rating.
    Ids are 1-based integers, timestamps Unix seconds in 2020–2021.  ``df.attrs["source"]``
    records that the data is synthetic and how it was made.  Memory is O(n_users·n_items).
    """
    n_users = _check_count(n_users, "n_users")
    n_items = _check_count(n_items, "n_items")
    k = _check_count(k, "k")
    if k > min(n_users, n_items):
        raise InputError(f"k: found {k}, need 1 ≤ k ≤ min(n_users, n_items) = {min(n_users, n_items)}")
    if n_users * n_items > 10**8:
        raise InputError(f"n_users × n_items: found {n_users * n_items:,}, need at most 100,000,000")
    density = _check_real(density, "density", 0.0, 1.0, low_open=True)
    _check_seed(seed)
    try:
        low, high = (float(s) for s in scale)
    except (TypeError, ValueError):
        low, high = math.nan, math.nan
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise InputError(f"scale: found {scale!r}, need (low, high) with low < high")

    rng_factors, rng_support, rng_values, rng_times = np.random.default_rng(seed).spawn(4)
    U = rng_factors.standard_normal((n_users, k)) * k ** -0.25
    V = rng_factors.standard_normal((n_items, k)) * k ** -0.25
    user_bias = rng_factors.normal(0.0, 0.35, n_users)
    item_bias = rng_factors.normal(0.0, 0.6, n_items)

    activity = 1.0 + rng_support.pareto(1.5, size=n_users)
    popularity = rng_support.permutation(np.arange(1, n_items + 1) ** -0.8)
    propensity = np.outer(activity, popularity).ravel()
    prob = _scale_to_mean(propensity, density).reshape(n_users, n_items)
    rows, cols = np.nonzero(rng_support.random((n_users, n_items)) < prob)
    rows, cols = _cover_rows_and_columns(rng_support, n_users, n_items, rows.astype(np.int64),
                                         cols.astype(np.int64))

    spread = (high - low) / 4.0
    centre = (low + high) / 2.0 + spread / 4.0
    score = (user_bias[rows] + item_bias[cols] + 0.8 * _low_rank_at(U, V, rows, cols)
             + rng_values.normal(0.0, 0.4, rows.size))
    rating = np.clip(np.round(2.0 * (centre + spread * score)) / 2.0, low, high)
    start = 1_577_836_800  # 2020-01-01 UTC
    timestamp = start + rng_times.integers(0, 2 * 365 * 86_400, size=rows.size)
    from .io.sources import _pandas

    frame = _pandas().DataFrame({"user": rows + 1, "item": cols + 1, "rating": rating,
                          "timestamp": timestamp.astype(np.int64)})
    frame.attrs["source"] = (f"SYNTHETIC ratings from wlra_core.data.make_ratings(n_users={n_users}, "
                             f"n_items={n_items}, k={k}, density={density}, seed={seed}, "
                             f"scale=({low:g}, {high:g})); not real user data")
    return frame
