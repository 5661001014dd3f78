"""wlra_core.metrics against values computed by hand on tiny arrays."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from wlra_core import metrics
from wlra_core.metrics import heldout_rmse, psnr, relative_error, relative_objective, rmse
from wlra_core.problem import InputError

# M, W, X, Y with X Yᵀ = [[1, 2], [1, 2]]; residual [[0, 0], [2, 2]]
M = np.array([[1.0, 2.0], [3.0, 4.0]])
W = np.array([[1.0, 0.0], [2.0, 1.0]])
X = np.array([[1.0], [1.0]])
Y = np.array([[1.0], [2.0]])
# f = 1·0 + 0·0 + 2·4 + 1·4 = 12 ; Σ W M² = 1 + 0 + 18 + 16 = 35


@pytest.mark.parametrize("make", [
    lambda: (M, W),
    lambda: (M, sp.csr_matrix(W)),
    lambda: (sp.csr_matrix(M), sp.csr_matrix(W)),
    lambda: (np.array([[1.0, np.nan], [3.0, 4.0]]), W),  # NaN where W = 0 is ignored
])
def test_relative_objective_by_hand(make):
    Mi, Wi = make()
    assert relative_objective(Mi, Wi, X, Y) == pytest.approx(12 / 35, rel=1e-12)


def test_relative_objective_zero_denominator():
    assert relative_objective(np.zeros((2, 2)), W, np.zeros((2, 1)), Y) == 0.0
    assert relative_objective(np.zeros((2, 2)), W, X, Y) == math.inf


@pytest.mark.parametrize("args, match", [
    ((M, W[:, :1], X, Y), "W: found shape"),
    ((M, W, X[:1], Y), r"X, Y: found shapes \(1, 1\) and \(2, 1\), need \(2, k\) and \(2, k\)"),
    ((M, W, X, np.ones((2, 2))), "X, Y"),
])
def test_relative_objective_checks_shapes(args, match):
    with pytest.raises(InputError, match=match):
        relative_objective(*args)


def test_psnr_by_hand():
    truth = np.zeros((2, 2))
    assert psnr(truth, np.full((2, 2), 0.1)) == pytest.approx(20.0)  # MSE 0.01
    assert psnr(truth * 255, np.full((2, 2), 25.5), data_range=255) == pytest.approx(20.0)
    assert psnr(truth, truth) == math.inf


def test_psnr_clips_the_estimate_first():
    truth = np.array([[0.0, 1.0]])
    assert psnr(truth, np.array([[-3.0, 7.0]])) == math.inf


def test_psnr_scores_only_the_selected_pixels():
    truth = np.zeros((2, 2))
    estimate = np.array([[0.1, 0.5], [0.5, 0.5]])
    selected = np.array([[True, False], [False, False]])
    assert psnr(truth, estimate, mask=selected) == pytest.approx(20.0)
    weights = np.array([[0.0, 1.0], [0.5, 1.0]])  # hidden pixels: W == 0
    assert psnr(truth, estimate, mask=weights == 0) == pytest.approx(20.0)
    assert psnr(truth, estimate, mask=1.0 - weights.astype(bool)) == pytest.approx(20.0)


def test_psnr_colour_image_with_a_pixel_mask():
    truth = np.zeros((1, 2, 3))
    estimate = np.zeros((1, 2, 3))
    estimate[0, 0] = 0.1
    estimate[0, 1] = 0.9
    assert psnr(truth, estimate, mask=np.array([[True, False]])) == pytest.approx(20.0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(truth=np.zeros((2, 2)), estimate=np.zeros((2, 3))), r"estimate: found shape \(2, 3\)"),
    (dict(truth=np.zeros((2, 2)), estimate=np.zeros((2, 2)), mask=np.zeros((2, 2), bool)), "no selected pixel"),
    (dict(truth=np.zeros((2, 2)), estimate=np.zeros((2, 2)), mask=np.ones((3, 3), bool)), "mask: found shape"),
    (dict(truth=np.zeros((2, 2)), estimate=np.zeros((2, 2)), data_range=0), "data_range"),
    (dict(truth=np.zeros(0), estimate=np.zeros(0)), "empty"),
])
def test_psnr_refuses_bad_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        psnr(**kwargs)


def test_rmse_by_hand():
    assert rmse([1.0, 2.0, 3.0], [1.0, 2.0, 5.0]) == pytest.approx(math.sqrt(4 / 3))
    with pytest.raises(InputError, match="estimate_values: found shape"):
        rmse([1.0, 2.0], [1.0])


def test_heldout_rmse_by_hand():
    test = sp.csr_matrix((np.array([3.0, 1.0, 0.0]), (np.array([0, 1, 1]), np.array([1, 0, 1]))),
                         shape=(2, 2))
    Xh = np.array([[1.0], [2.0]])
    Yh = np.array([[1.0], [1.0]])
    # predictions 1, 2, 2 at (0,1), (1,0), (1,1): residuals 2, -1, -2 (a stored 0 is scored)
    assert heldout_rmse(test, Xh, Yh) == pytest.approx(math.sqrt(9 / 3))
    assert heldout_rmse(test.tocoo(), Xh, Yh) == heldout_rmse(test, Xh, Yh)


def test_heldout_rmse_never_forms_the_dense_product():
    n = m = 1_000_000  # X Yᵀ would need 8 TB
    rng = np.random.default_rng(0)
    Xh, Yh = rng.standard_normal((n, 2)), rng.standard_normal((m, 2))
    rows, cols = np.array([5, 999_999]), np.array([7, 3])
    values = np.einsum("ij,ij->i", Xh[rows], Yh[cols])
    test = sp.csr_matrix((values, (rows, cols)), shape=(n, m))
    assert heldout_rmse(test, Xh, Yh) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("args, match", [
    ((np.ones((2, 2)), np.ones((2, 1)), np.ones((2, 1))), "M_test: found ndarray, need a scipy.sparse"),
    ((sp.csr_matrix((2, 2)), np.ones((2, 1)), np.ones((2, 1))), "no stored entry"),
    ((sp.csr_matrix(np.eye(2)), np.ones((3, 1)), np.ones((2, 1))), r"need \(2, k\) and \(2, k\)"),
])
def test_heldout_rmse_refuses_bad_input(args, match):
    with pytest.raises(InputError, match=match):
        heldout_rmse(*args)


@pytest.mark.parametrize("to", [np.asarray, sp.csr_matrix])
def test_relative_error_by_hand(to):
    truth = to(np.eye(2))
    estimate = to(np.array([[1.0, 0.0], [0.0, 0.0]]))
    assert relative_error(estimate, truth) == pytest.approx(1 / math.sqrt(2))  # ‖diag(0, 1)‖_F / √2
    assert relative_error(estimate, truth, ord=2) == pytest.approx(1.0)
    assert relative_error(truth, truth, ord=2) == 0.0


@pytest.mark.parametrize("to", [np.asarray, sp.csr_matrix])
def test_relative_error_spectral_norm_of_a_large_matrix_uses_svds(monkeypatch, to):
    monkeypatch.setattr(metrics, "_DENSE_SPECTRAL_LIMIT", 10)  # "large" = smaller side above 10
    calls = []
    real_svds = metrics.spla.svds
    monkeypatch.setattr(metrics.spla, "svds", lambda *a, **k: calls.append(1) or real_svds(*a, **k))
    rng = np.random.default_rng(0)
    truth = rng.standard_normal((60, 50))
    estimate = truth + 1e-2 * np.outer(rng.standard_normal(60), rng.standard_normal(50))
    expected = np.linalg.norm(estimate - truth, 2) / np.linalg.norm(truth, 2)
    assert relative_error(to(estimate), to(truth), ord=2) == pytest.approx(expected, rel=1e-8)
    assert len(calls) == 2


def test_relative_error_of_a_zero_truth():
    assert relative_error(np.zeros((2, 2)), np.zeros((2, 2))) == 0.0
    assert relative_error(np.ones((2, 2)), np.zeros((2, 2))) == math.inf


@pytest.mark.parametrize("args, kwargs, match", [
    ((np.eye(2), np.eye(3)), {}, r"estimate: found shape \(2, 2\), need the shape of truth \(3, 3\)"),
    ((np.eye(2), np.eye(2)), dict(ord=1), "ord: found 1, need 'fro' or 2"),
    ((np.eye(2), np.eye(2)), dict(ord="nuc"), "ord"),
    ((np.ones(3), np.ones(3)), {}, "2-D"),
])
def test_relative_error_refuses_bad_input(args, kwargs, match):
    with pytest.raises(InputError, match=match):
        relative_error(*args, **kwargs)
