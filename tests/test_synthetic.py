"""wlra_core.synthetic: planted low-rank problems under each weight pattern, and synthetic rating
sets."""
from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from wlra_core.synthetic import PATTERNS, make_ratings, planted
from wlra_core.problem import InputError


# ------------------------------------------------------------------------------------------------
# planted

@pytest.mark.parametrize("sparse", [False, True])
def test_planted_shapes_and_truth(sparse):
    P = planted(30, 20, 3, noise=0.0, seed=1, sparse=sparse)
    assert P.U.shape == (30, 3) and P.V.shape == (20, 3)
    assert P.M.shape == P.W.shape == P.truth.shape == (30, 20)
    np.testing.assert_allclose(P.truth, P.U @ P.V.T)
    assert sp.issparse(P.M) == sparse and sp.issparse(P.W) == sparse
    M = P.M.toarray() if sparse else P.M
    observed = (P.W.toarray() if sparse else P.W) > 0
    np.testing.assert_allclose(M[observed], P.truth[observed])


def test_planted_truth_entries_are_order_one():
    P = planted(200, 150, 8, pattern="full", seed=0)
    assert 0.7 < P.truth.std() < 1.3


def test_planted_noise_level():
    P = planted(200, 100, 2, noise=0.1, pattern="full", seed=0)
    assert 0.09 < np.std(P.M - P.truth) < 0.11


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("sparse", [False, True])
def test_planted_is_deterministic_for_a_seed(pattern, sparse):
    a = planted(25, 18, 2, noise=0.3, pattern=pattern, seed=7, sparse=sparse)
    b = planted(25, 18, 2, noise=0.3, pattern=pattern, seed=7, sparse=sparse)
    c = planted(25, 18, 2, noise=0.3, pattern=pattern, seed=8, sparse=sparse)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.toarray() if sp.issparse(x) else x, y.toarray() if sp.issparse(y) else y)
    assert not np.array_equal(a.U, c.U)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_planted_sparse_equals_dense_at_stored_entries(pattern):
    d = planted(40, 30, 3, noise=0.2, pattern=pattern, p=0.3, seed=5)
    s = planted(40, 30, 3, noise=0.2, pattern=pattern, p=0.3, seed=5, sparse=True)
    np.testing.assert_array_equal(s.W.toarray(), d.W)
    rows, cols = s.W.nonzero()
    assert s.W.nnz == np.count_nonzero(d.W)
    np.testing.assert_array_equal(s.M.indices, s.W.indices)
    np.testing.assert_allclose(s.M.toarray()[rows, cols], d.M[rows, cols], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(s.U, d.U)


@pytest.mark.parametrize("pattern, low, high, tolerance", [
    ("bernoulli", 1.0, 1.0, 0.02),
    ("graded", 0.0, 1.0, 0.02),
    ("blocks", 1.0, 1.0, 0.02),
    ("heavy_tailed", 1.0 + np.log(2.0), np.inf, 0.04),
    ("full", 1.0, 1.0, None),
])
def test_planted_pattern_properties(pattern, low, high, tolerance):
    p = 0.3
    P = planted(200, 150, 2, pattern=pattern, p=p, seed=2)
    observed = P.W > 0
    fraction = observed.mean()
    if tolerance is None:
        assert fraction == 1.0
    else:
        assert abs(fraction - p) < tolerance
    w = P.W[observed]
    assert w.min() >= low - 1e-12 and w.max() <= high
    assert (observed.sum(axis=1) > 0).all() and (observed.sum(axis=0) > 0).all()
    if pattern in ("bernoulli", "blocks", "full"):
        assert set(np.unique(P.W)) <= {0.0, 1.0}
    if pattern == "graded":
        assert w.min() > 0 and np.unique(w).size > 100


def test_planted_heavy_tailed_rows_have_heavy_tailed_degrees():
    P = planted(400, 300, 2, pattern="heavy_tailed", p=0.1, seed=0, sparse=True)
    degrees = np.diff(P.W.indptr)
    assert degrees.max() > 5 * np.median(degrees)


def test_planted_blocks_are_rectangular_holes():
    P = planted(60, 60, 2, pattern="blocks", p=0.7, seed=4)
    holes = P.W == 0
    # a hole pixel's 4-neighbourhood is mostly holes too (rectangles, not scattered dropout)
    interior = holes[1:-1, 1:-1] & holes[:-2, 1:-1] & holes[2:, 1:-1] & holes[1:-1, :-2] & holes[1:-1, 2:]
    assert interior.sum() > 0.6 * holes[1:-1, 1:-1].sum()


@pytest.mark.parametrize("pattern", ["bernoulli", "heavy_tailed", "blocks"])
def test_planted_covers_every_row_and_column_even_for_tiny_p(pattern):
    P = planted(50, 40, 1, pattern=pattern, p=0.001, seed=0, sparse=True)
    W = P.W.toarray()
    assert (W.sum(axis=1) > 0).all() and (W.sum(axis=0) > 0).all()


def test_planted_sparse_large_problem_is_cheap_and_has_no_dense_truth():
    P = planted(5000, 4000, 2, p=1e-4, seed=0, sparse=True)
    assert P.truth is None
    assert P.W.nnz < 12_000
    np.testing.assert_allclose(P.M.data, np.einsum("ij,ij->i", P.U[P.M.nonzero()[0]], P.V[P.M.indices]))


def test_planted_does_not_touch_global_random_state():
    before = np.random.get_state()
    planted(10, 10, 2, seed=0)
    after = np.random.get_state()
    assert np.array_equal(before[1], after[1]) and before[2:] == after[2:]


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=0, m=5, k=1), "n: found 0"),
    (dict(n=5, m=2.5, k=1), "m: found 2.5"),
    (dict(n=5, m=5, k=True), "k: found True"),
    (dict(n=5, m=3, k=4), r"k: found 4, need 1 ≤ k ≤ min\(n, m\) = 3"),
    (dict(n=5, m=5, k=1, noise=-1.0), "noise"),
    (dict(n=5, m=5, k=1, noise=float("inf")), "noise"),
    (dict(n=5, m=5, k=1, pattern="stripes"), "pattern: found 'stripes'"),
    (dict(n=5, m=5, k=1, p=0.0), r"p: found 0.0, need a number in \(0, 1\]"),
    (dict(n=5, m=5, k=1, p=1.5), "p: found 1.5"),
    (dict(n=5, m=5, k=1, p="half"), "p: found 'half'"),
    (dict(n=5, m=5, k=1, seed=-1), "seed"),
    (dict(n=5, m=5, k=1, sparse="yes"), "sparse"),
])
def test_planted_validates_arguments(kwargs, match):
    with pytest.raises(InputError, match=match):
        planted(**kwargs)


# ------------------------------------------------------------------------------------------------
# make_ratings

def test_make_ratings_looks_like_a_rating_set():
    frame = make_ratings(300, 200, 3, density=0.05, seed=0)
    assert list(frame.columns) == ["user", "item", "rating", "timestamp"]
    assert "SYNTHETIC" in frame.attrs["source"]
    assert abs(len(frame) / (300 * 200) - 0.05) < 0.01
    assert frame.rating.between(1, 5).all()
    np.testing.assert_array_equal(frame.rating * 2, np.round(frame.rating * 2))
    assert set(frame.user) == set(range(1, 301)) and set(frame.item) == set(range(1, 201))
    assert not frame.duplicated(["user", "item"]).any()
    per_user = frame.groupby("user").size()
    assert per_user.max() > 4 * per_user.median()  # heavy-tailed activity
    assert frame.rating.nunique() >= 7


def test_make_ratings_has_low_rank_signal_beyond_biases():
    frame = make_ratings(60, 50, 2, density=0.7, seed=1)
    table = frame.pivot(index="user", columns="item", values="rating").to_numpy()
    centred = table - np.nanmean(table, axis=1, keepdims=True)
    centred -= np.nanmean(centred, axis=0, keepdims=True)
    filled = np.nan_to_num(centred)
    s = np.linalg.svd(filled, compute_uv=False)
    assert s[0] > 2 * s[4]


def test_make_ratings_is_deterministic_and_scalable():
    a = make_ratings(30, 20, 2, density=0.3, seed=9)
    b = make_ratings(30, 20, 2, density=0.3, seed=9)
    pd.testing.assert_frame_equal(a, b)
    c = make_ratings(30, 20, 2, density=0.3, seed=9, scale=(0, 10))
    assert c.rating.between(0, 10).all()


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_users=0, n_items=5, k=1, density=0.1, seed=0), "n_users"),
    (dict(n_users=5, n_items=5, k=6, density=0.1, seed=0), "k: found 6"),
    (dict(n_users=5, n_items=5, k=1, density=0.0, seed=0), "density"),
    (dict(n_users=5, n_items=5, k=1, density=0.1, seed=-2), "seed"),
    (dict(n_users=5, n_items=5, k=1, density=0.1, seed=0, scale=(5, 1)), "scale"),
    (dict(n_users=5, n_items=5, k=1, density=0.1, seed=0, scale=5), "scale"),
])
def test_make_ratings_validates_arguments(kwargs, match):
    with pytest.raises(InputError, match=match):
        make_ratings(**kwargs)


# ------------------------------------------------------------------------------------------------
# size caps (wlra_core.limits): refused before decoding or allocating

def test_planted_refuses_more_entries_than_max_entries_before_drawing():
    with pytest.raises(InputError, match=r"planted: found 100×100 = 10,000 entries, need at most 9,999"):
        planted(100, 100, 2, max_entries=9_999)
    with pytest.raises(InputError, match=r"planted: found about 1,200 entries \(0.1 of 100×100\), need at most 1,000"):
        planted(100, 100, 2, p=0.1, sparse=True, max_entries=1_000)
    assert planted(100, 100, 2, p=0.1, sparse=True, max_entries=1_200).W.nnz <= 1_200
