"""Planted problems the library tests share (one definition each; tests/conftest.py serves them as
fixtures too). Each draws from its own `np.random.default_rng(seed)` in a fixed order, so a test's
problem is the same whichever file uses it."""
from __future__ import annotations

import numpy as np


def low_rank(n: int, m: int, k: int, seed: int) -> np.ndarray:
    """A rank-k n×m matrix U Vᵀ with standard normal factors."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, k)) @ rng.standard_normal((k, m))


def planted(n=60, m=40, k=3, p=0.5, seed=0, graded=False):
    """(truth, W): a rank-k truth observed without noise where W > 0, W Bernoulli(p) 0/1 (graded:
    times U(0.05, 1))."""
    rng = np.random.default_rng(seed)
    truth = rng.standard_normal((n, k)) @ rng.standard_normal((k, m))
    W = (rng.random((n, m)) < p).astype(float)
    if graded:
        W *= rng.uniform(0.05, 1.0, (n, m))
    return truth, W


def planted_noisy(n=40, m=30, k=3, density=0.6, noise=0.3, seed=0):
    """(M, W): rank k plus Gaussian noise, W U(0.5, 2) on a Bernoulli(density) support."""
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, k)) @ rng.standard_normal((k, m)) + noise * rng.standard_normal((n, m))
    W = np.where(rng.random((n, m)) < density, rng.uniform(0.5, 2.0, (n, m)), 0.0)
    return M, W


def planted_biased(n=160, m=120, k=3, density=0.5, noise=0.1, seed=0):
    """(M, W, truth, b, c): truth = 3 + b_i + c_j + U Vᵀ with centred U, V (the identified split of
    the biased model), M = truth + noise, W Bernoulli(density) 0/1."""
    rng = np.random.default_rng(seed)
    b, c = rng.standard_normal(n), rng.standard_normal(m)
    U = rng.standard_normal((n, k))
    V = rng.standard_normal((m, k))
    U -= U.mean(axis=0)
    V -= V.mean(axis=0)
    truth = 3.0 + b[:, None] + c[None, :] + U @ V.T
    M = truth + noise * rng.standard_normal((n, m))
    W = (rng.random((n, m)) < density).astype(float)
    return M, W, truth, b, c
