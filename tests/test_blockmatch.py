"""wlra_core.blockmatch: block matching against its slow reference, the compiled distances against
numpy, the batched exact WLRA against wc.solve, and the aggregation of the groups' windows."""
from __future__ import annotations

import numpy as np
import pytest

import wlra_core as wc
from wlra_core import blockmatch as bm
from wlra_core.lifting import _starts
from wlra_core.problem import InputError


def stack(G, n, m, k, seed=0, noise=0.05):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((G, n, k)) @ rng.standard_normal((G, k, m)) + noise * rng.standard_normal((G, n, m))
    W = rng.uniform(0.05, 1.0, (G, n, m))
    return M, W


@pytest.mark.parametrize("G, n, m, k, iterations", [(3, 20, 16, 3, 4), (2, 12, 25, 5, 2), (4, 40, 64, 6, 1)])
def test_batched_wlra_is_wc_solve_exact_on_each_group(G, n, m, k, iterations):
    M, W = stack(G, n, m, k, seed=G + n)
    X, Yt = bm.batched_wlra(M, W, k, iterations)
    for g in range(G):
        with pytest.warns(wc.ConvergenceWarning):
            ref = wc.solve(M[g], W[g], k, solver="exact", init="svd", max_iter=iterations, eps=1e-15)
        assert ref.stop_reason == "max_iter reached"
        np.testing.assert_allclose(X[g], ref.X, atol=1e-8, rtol=0)
        np.testing.assert_allclose(Yt[g], ref.Y, atol=1e-8, rtol=0)


def test_batched_wlra_from_a_given_start_is_one_group_at_a_time():
    M, W = stack(5, 18, 16, 4, seed=1)
    Y0 = bm.batched_power_init(M, 4)
    np.testing.assert_allclose(np.swapaxes(Y0, 1, 2) @ Y0, np.broadcast_to(np.eye(4), (5, 4, 4)), atol=1e-12)
    X, Yt = bm.batched_wlra(M, W, 4, 3, Y=Y0)
    for g in range(5):
        Xg, Ytg = bm.batched_wlra(M[g:g + 1], W[g:g + 1], 4, 3, Y=Y0[g:g + 1])
        np.testing.assert_allclose(X[g], Xg[0], atol=1e-12)
        np.testing.assert_allclose(Yt[g], Ytg[0], atol=1e-12)


def test_batched_wlra_survives_a_group_of_identical_windows():
    # a flat region: every window alike, the group's matrix of rank 1 while k is 3
    M = np.tile(np.linspace(0, 1, 9), (6, 1))[None]
    W = np.full(M.shape, 0.5)
    X, Yt = bm.batched_wlra(M, W, 3, 3, Y=bm.batched_power_init(M, 3))
    assert np.all(np.isfinite(X)) and np.all(np.isfinite(Yt))
    np.testing.assert_allclose(X[0] @ Yt[0].T, M[0], atol=1e-10)


def test_batched_wlra_refuses_mismatched_stacks():
    with pytest.raises(InputError, match="M, W"):
        bm.batched_wlra(np.zeros((2, 4, 4)), np.ones((2, 4, 5)), 1, 1)


@pytest.mark.parametrize("shape, patch, step, window, count", [((30, 27), 5, 3, 4, 6), ((19, 23), 4, 5, 3, 10),
                                                                ((16, 16), 3, 2, 6, 1)])
def test_match_finds_the_nearest_windows_of_the_slow_reference(shape, patch, step, window, count):
    g = np.random.default_rng(sum(shape)).random(shape)
    refs, members = bm.match(g, patch, step, window, count)
    refs_slow, dist_slow = bm.match_reference(g, patch, step, window, count)
    np.testing.assert_array_equal(refs, refs_slow)
    h, w = shape
    y, x = np.divmod(members, w)
    np.testing.assert_array_equal(members[:, 0], refs[:, 0] * w + refs[:, 1])     # the reference leads
    assert np.all(np.abs(y - refs[:, :1]) <= window) and np.all(np.abs(x - refs[:, 1:]) <= window)
    assert np.all((y >= 0) & (y <= h - patch) & (x >= 0) & (x <= w - patch))
    assert all(len(set(row)) == count for row in members)
    dist = np.array([[np.sum((g[r0:r0 + patch, r1:r1 + patch] - g[a:a + patch, b:b + patch]) ** 2)
                      for a, b in zip(yy, xx)] for (r0, r1), yy, xx in zip(refs, y, x)])
    np.testing.assert_allclose(dist, dist_slow, atol=1e-10)


@pytest.mark.parametrize("window, count", [
    (1, 10),
    (2, 10),        # a corner reference has only (window + 1)² windows within reach, not (2·window + 1)²
])
def test_match_refuses_a_group_larger_than_its_search_window(window, count):
    with pytest.raises(InputError, match="count"):
        bm.match(np.zeros((20, 20)), 4, 2, window, count)


def test_match_takes_a_group_of_exactly_the_corner_windows_within_reach():
    refs, members = bm.match(np.random.default_rng(0).random((20, 20)), 4, 2, 2, 9)
    assert members.max() <= 16 * 20 + 16


def test_aggregating_the_true_windows_gives_the_image_back():
    img = np.random.default_rng(2).random((21, 18, 3))
    _, members = bm.match(img.mean(axis=2), 5, 4, 3, 7)
    windows = bm.gather(img, members, 18, 5)                       # (R, count, c, p, p)
    total, weight = bm.aggregate(img.shape, members, 5, windows)
    assert np.all(weight > 0)                                       # the grid reaches every pixel
    np.testing.assert_allclose(total / weight[:, :, None], img, atol=1e-12)


@pytest.mark.parametrize("shape, patch, step, window", [((30, 27), 5, 3, 4), ((64, 50), 8, 6, 12), ((9, 40), 4, 2, 6)])
def test_compiled_distances_agree_with_numpy(shape, patch, step, window):
    g = np.random.default_rng(shape[1]).random(shape)
    ys, xs = _starts(shape[0], patch, step), _starts(shape[1], patch, step)
    offsets = bm._offsets(window)
    fast, ref = bm._distances(g, ys, xs, offsets, patch), bm.distances_numpy(g, ys, xs, offsets, patch)
    np.testing.assert_array_equal(np.isinf(fast), np.isinf(ref))
    np.testing.assert_allclose(fast[np.isfinite(fast)], ref[np.isfinite(ref)], rtol=1e-10, atol=1e-10)
