"""wlra_core.init: the starting factor, orthonormalise, LLR16 clipping."""
import numpy as np
import pytest

from wlra_core import init
from wlra_core.problem import validate


def orthonormal(Q, tol=1e-10):
    return np.allclose(Q.T @ Q, np.eye(Q.shape[1]), atol=tol)


def test_orthonormalise_spans_x_row_by_row_and_leaves_x_alone(rng):
    X = rng.standard_normal((50, 4))
    X[7] *= 1e-12                    # a row far smaller than the others stays accurate
    X[9] = 0.0                       # and a zero row stays exactly zero
    before = X.copy()
    Q = init.orthonormalise(X, np.random.default_rng(1))
    assert np.array_equal(X, before)
    assert orthonormal(Q)
    assert np.allclose(Q @ (Q.T @ X), X, atol=1e-12)             # the span of X
    assert np.all(Q[9] == 0.0)
    R = np.linalg.lstsq(Q, X, rcond=None)[0]                      # X = Q R, so row 7 is that relation
    assert np.allclose(Q[7] @ R, X[7], rtol=1e-6, atol=0)


@pytest.mark.parametrize("dead", [[1], [0, 3], [0, 1, 2, 3]])
def test_orthonormalise_refills_columns_x_does_not_span(rng, dead):
    X = rng.standard_normal((30, 4))
    for j in dead:
        X[:, j] = 0.0 if j != 1 else X[:, 0]       # a zero column, or a copy of another
    Q = init.orthonormalise(X, np.random.default_rng(2))
    assert Q.shape == (30, 4) and orthonormal(Q)
    assert np.allclose(Q @ (Q.T @ X), X, atol=1e-10)


def test_orthonormalise_keeps_a_small_column_beside_a_huge_one(rng):
    X = rng.standard_normal((20, 2)) * np.array([1e16, 1.0])
    Q = init.orthonormalise(X, np.random.default_rng(3))
    assert orthonormal(Q)
    assert np.allclose(Q @ (Q.T @ X[:, 1]), X[:, 1], atol=1e-8)     # not replaced by a random direction


@pytest.mark.parametrize("how", ["svd", "random"])
def test_initial_factor_is_orthonormal_and_seeded(planted, how):
    M, W = planted(40, 30, 3, seed=4)
    prob = validate(M, W, 3)
    Y = init.initial_factor(prob, how, np.random.default_rng(5))
    assert Y.shape == (30, 3) and orthonormal(Y, 1e-8)
    assert np.array_equal(Y, init.initial_factor(prob, how, np.random.default_rng(5)))


def test_svd_start_is_the_top_right_singular_subspace_of_w_m(planted):
    M, W = planted(40, 30, 3, seed=6)
    Y = init.initial_factor(validate(M, W, 3), "svd", np.random.default_rng(0))
    vt = np.linalg.svd(W * M)[2][:3].T
    assert np.allclose(Y @ Y.T, vt @ vt.T, atol=1e-8)


def test_incoherence_and_clip(rng):
    n, k = 50, 2
    Q = np.linalg.qr(rng.standard_normal((n, k)))[0]
    assert init.incoherence(Q) == pytest.approx(np.sqrt(np.max(np.sum(Q * Q, axis=1)) * n / k))
    spiked = np.zeros((n, k))
    spiked[0, 0] = 1.0
    spiked[1:, 1] = 1 / np.sqrt(n - 1)
    assert init.incoherence(spiked) == pytest.approx(np.sqrt(n / k))              # the most coherent
    clipped = init.clip(spiked, 2.0, np.random.default_rng(1))
    assert orthonormal(clipped) and abs(clipped[0, 0]) < 1 - 1e-6                  # row 0 was zeroed
    assert init.clip(Q, 100.0, np.random.default_rng(1)) is Q                     # nothing to clip
