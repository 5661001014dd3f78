"""The recommender model: bias=True (μ + b_i + c_j + x_iᵀy_j) and ridge_scaling="count" (issue 10,
item 4), for every regression solver, dense and sparse W."""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import wlra_core as wc
from tests.problems import planted_biased

REGRESSION_SOLVERS = ("exact", "sketched", "cg", "auto")


def run(M, W, k, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wc.ConvergenceWarning)
        return wc.solve(M, W, k, **kw)


def centred_rms(a, b):
    return float(np.sqrt(np.mean(((a - a.mean()) - (b - b.mean())) ** 2)))


@pytest.mark.parametrize("layout", ["dense", "sparse"])
@pytest.mark.parametrize("solver", REGRESSION_SOLVERS)
@pytest.mark.parametrize("ridge, scaling", [(0.0, "none"), (0.01, "count")])
def test_planted_offsets_are_recovered_to_the_noise_level(solver, layout, ridge, scaling):
    M, W, truth, b, c = planted_biased()
    Wl = sp.csr_array(W) if layout == "sparse" else W
    res = run(M, Wl, 3, solver=solver, bias=True, ridge=ridge, ridge_scaling=scaling, max_iter=40)
    noise = 0.1
    # each b_i is an average over about m·density = 60 entries: its error is about noise/√60
    assert centred_rms(res.row_offsets, b) < 2.5 * noise / np.sqrt(60)
    assert centred_rms(res.col_offsets, c) < 2.5 * noise / np.sqrt(80)
    total = res.mean + res.row_offsets.mean() + res.col_offsets.mean()
    assert total == pytest.approx(3.0 + b.mean() + c.mean(), abs=0.02)
    assert np.sqrt(np.mean((res.low_rank() - truth) ** 2)) < 0.5 * noise
    assert res.mean == pytest.approx(np.sum(W * M) / W.sum(), rel=1e-12)


def test_without_bias_the_low_rank_part_cannot_fit_the_offsets_at_the_same_rank():
    M, W, truth, _, _ = planted_biased(seed=1)
    plain = run(M, W, 3, solver="exact", max_iter=40)
    biased = run(M, W, 3, solver="exact", bias=True, max_iter=40)
    err = lambda r: np.sqrt(np.mean((r.low_rank() - truth) ** 2))
    assert err(biased) < 0.05 < err(plain)
    assert plain.row_offsets is None and plain.mean == 0.0


@pytest.mark.parametrize("layout", ["dense", "sparse"])
@pytest.mark.parametrize("scaling", ["none", "count"])
def test_objective_penalised_and_predict_include_the_offsets(layout, scaling):
    M, W, _, _, _ = planted_biased(n=50, m=40, seed=2)
    W = W * np.random.default_rng(0).uniform(0.5, 2.0, W.shape)
    Wl = sp.csr_array(W) if layout == "sparse" else W
    lam = 0.3
    res = run(M, Wl, 2, solver="exact", bias=True, ridge=lam, ridge_scaling=scaling, max_iter=5)
    N_rows = (W > 0).sum(axis=1) if scaling == "count" else np.ones(W.shape[0])
    N_cols = (W > 0).sum(axis=0) if scaling == "count" else np.ones(W.shape[1])
    for s in res.history:
        R = M - s.low_rank()
        assert s.objective == pytest.approx(np.sum(W * R * R), rel=1e-10)
        pen = (np.sum(N_rows * (np.sum(s.X ** 2, axis=1) + s.row_offsets ** 2))
               + np.sum(N_cols * (np.sum(s.Y ** 2, axis=1) + s.col_offsets ** 2)))
        assert s.penalised == pytest.approx(s.objective + lam * pen, rel=1e-10)
    rows, cols = np.nonzero(W)
    np.testing.assert_allclose(res.predict(rows, cols), res.low_rank()[rows, cols], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layout", ["dense", "sparse"])
@pytest.mark.parametrize("scaling", ["none", "count"])
def test_count_scaling_is_lambda_times_the_row_count(layout, scaling):
    """The last Y half-step is exact: each y_j is stationary for Σ_i W_ij (M_ij − x_iᵀy_j)² +
    λ·N_j‖y_j‖² (N_j = 1 without count scaling) given the step's X."""
    rng = np.random.default_rng(3)
    M = rng.standard_normal((40, 30))
    W = np.where(rng.random((40, 30)) < 0.5, rng.uniform(0.5, 2.0, (40, 30)), 0.0)
    Wl = sp.csr_array(W) if layout == "sparse" else W
    lam = 0.7
    res = run(M, Wl, 3, solver="exact", ridge=lam, ridge_scaling=scaling, max_iter=3)
    X, Y = res.X, res.Y
    N = (W > 0).sum(axis=0) if scaling == "count" else np.ones(W.shape[1])
    R = W * (M - X @ Y.T)
    grad = -R.T @ X + lam * N[:, None] * Y
    assert np.max(np.abs(grad)) < 1e-8 * max(1.0, np.max(np.abs(R.T @ X)))
    other = run(M, Wl, 3, solver="exact", ridge=lam, ridge_scaling="none" if scaling == "count" else "count",
                max_iter=3)
    assert not np.allclose(other.low_rank(), res.low_rank())


def test_bias_with_holdout_reports_the_biased_models_error():
    M, W, truth, _, _ = planted_biased(seed=4)
    res = run(M, W, 3, solver="exact", bias=True, holdout=0.2, max_iter=20)
    plain = run(M, W, 3, solver="exact", holdout=0.2, max_iter=20)
    assert res.best.holdout_rmse < 0.13 < plain.best.holdout_rmse


def test_same_seed_same_result_and_inputs_untouched():
    M, W, _, _, _ = planted_biased(n=60, m=50, seed=5)
    Ws = sp.csr_array(W)
    M0, d0 = M.copy(), Ws.data.copy()
    a = run(M, Ws, 3, solver="sketched", bias=True, ridge=0.05, ridge_scaling="count", max_iter=5, seed=3)
    b = run(M, Ws, 3, solver="sketched", bias=True, ridge=0.05, ridge_scaling="count", max_iter=5, seed=3)
    np.testing.assert_array_equal(a.low_rank(), b.low_rank())
    np.testing.assert_array_equal(M, M0)
    np.testing.assert_array_equal(Ws.data, d0)
    assert a.settings["bias"] is True and a.settings["ridge_scaling"] == "count"


def test_offsets_are_read_only():
    M, W, _, _, _ = planted_biased(n=30, m=20, seed=6)
    res = run(M, W, 2, solver="exact", bias=True, max_iter=2)
    with pytest.raises(ValueError):
        res.row_offsets[0] = 1.0


@pytest.mark.parametrize("kw, match", [
    (dict(bias="yes"), "bias: found 'yes'"),
    (dict(bias=1), "bias: found 1"),
    (dict(ridge_scaling="rows"), "ridge_scaling: found 'rows'"),
    (dict(ridge_scaling="count"), "ridge_scaling: found 'count' with ridge=0"),
    (dict(ridge_scaling="count", ridge=0.1, solver="em"), "ridge_scaling: found 'count' with solver='em'"),
    (dict(bias=True, sketch_size=3), "sketch_size: found 3, need an integer ≥ 4"),
])
def test_bad_model_options_are_refused(kw, match):
    M, W, _, _, _ = planted_biased(n=20, m=15)
    with pytest.raises(wc.InputError, match=match):
        wc.solve(M, W, 3, **kw)
    with pytest.raises(wc.InputError, match=match):
        wc.iterate(M, W, 3, **kw)


@pytest.mark.parametrize("scaling, lam", [("none", 0.0), ("none", 2.0), ("count", 0.5)])
def test_fit_biases_is_the_stationary_point_of_its_objective(scaling, lam):
    M, W, _, _, _ = planted_biased(n=50, m=40, seed=7)
    W = W * np.random.default_rng(1).uniform(0.5, 2.0, W.shape)
    fit = wc.fit_biases(M, W, ridge=lam, ridge_scaling=scaling)
    fit_sparse = wc.fit_biases(M, sp.csr_array(W), ridge=lam, ridge_scaling=scaling)
    np.testing.assert_allclose(fit.row_offsets, fit_sparse.row_offsets, atol=1e-10)
    assert fit.mean == pytest.approx(np.sum(W * M) / W.sum(), rel=1e-12)
    R = W * (M - fit.low_rank())
    Nr = (W > 0).sum(axis=1) if scaling == "count" else 1.0
    Nc = (W > 0).sum(axis=0) if scaling == "count" else 1.0
    np.testing.assert_allclose(R.sum(axis=1), lam * Nr * fit.row_offsets, atol=1e-7)
    np.testing.assert_allclose(R.sum(axis=0), lam * Nc * fit.col_offsets, atol=1e-7)
    rows, cols = np.nonzero(W)
    np.testing.assert_allclose(fit.predict(rows, cols), fit.low_rank()[rows, cols])


def test_fit_biases_holds_out_the_entries_solve_holds_out():
    M, W, _, _, _ = planted_biased(n=50, m=40, seed=8)
    from wlra_core.holdout import split
    W_fit, _ = split(M, W, 0.3, 4)
    a = wc.fit_biases(M, W, holdout=0.3, seed=4)
    b = wc.fit_biases(M, W_fit)
    np.testing.assert_array_equal(a.row_offsets, b.row_offsets)


def test_the_low_rank_part_beats_the_biases_alone_on_a_biased_low_rank_problem():
    M, W, truth, _, _ = planted_biased(seed=9)
    base = wc.fit_biases(M, W, ridge=0.01, ridge_scaling="count")
    full = run(M, W, 3, solver="exact", bias=True, ridge=0.01, ridge_scaling="count", max_iter=30)
    err = lambda est: np.sqrt(np.mean((est - truth) ** 2))
    assert err(full.low_rank()) < 0.2 * err(base.low_rank())


@pytest.mark.parametrize("kw, match", [(dict(ridge=-1.0), "ridge: found -1"),
                                       (dict(ridge_scaling="count"), "ridge_scaling: found 'count' with ridge=0"),
                                       (dict(holdout=1.0), "holdout: found 1"),
                                       (dict(ridge_scaling="x"), "ridge_scaling: found 'x'")])
def test_fit_biases_refuses_bad_options(kw, match):
    M, W, _, _, _ = planted_biased(n=20, m=15)
    with pytest.raises(wc.InputError, match=match):
        wc.fit_biases(M, W, **kw)
