"""Shared fixtures of the library tests: the planted problems of tests/problems.py (one definition
each), a seeded Generator, and a solve that keeps ConvergenceWarning quiet for tests that stop at
max_iter on purpose."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import wlra_core as wc
from tests import problems


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def planted():
    """planted(n, m, k, p, seed, graded) -> (truth, W), noiseless."""
    return problems.planted


@pytest.fixture
def planted_noisy():
    """planted_noisy(n, m, k, density, noise, seed) -> (M, W)."""
    return problems.planted_noisy


@pytest.fixture
def planted_biased():
    """planted_biased(n, m, k, density, noise, seed) -> (M, W, truth, b, c)."""
    return problems.planted_biased


@pytest.fixture
def quiet_solve():
    """wc.solve without the ConvergenceWarning of a run capped by max_iter."""
    def solve(M, W, k, **options):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wc.ConvergenceWarning)
            return wc.solve(M, W, k, **options)
    return solve
