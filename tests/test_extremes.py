"""Numeric extremes and bad parameters (issue 4, the catalogue's library rows), through the public API.

Each test pins one catalogue row and says so in its name; docs/ROBUSTNESS.md lists them. Where a
test claims that nothing overflows, RuntimeWarnings are turned into errors around the call, so an
overflow or invalid operation anywhere inside the solver fails it.

What the library does at the edges of float64 (decided here, documented in problem.unscale):
* the solvers work on the problem scaled to max|M| = max W = 1, so factors and the relative
  objective f / Σ W M² never overflow for values up to 1e300 and weights up to 1e300;
* the absolute objective f is reported in the caller's units, multiplied without intermediate
  overflow: finite whenever f itself is a float, inf (without a warning) only when f exceeds
  1.8e308. With weights 1e12 and values 1e150, Σ W M² ≈ 1e314: the first iterations report inf,
  the converged ones a finite f (≈ 1e-17 × 1e314), and the relative objective is always finite.
"""
import math
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import wlra_core as wc
from tests.problems import planted

ALL = wc.SOLVERS
LAYOUTS = ("dense", "sparse")


def _solve(M, W, k, layout="dense", **options):
    """solve() with every RuntimeWarning an error and the convergence warning silenced."""
    if layout == "sparse":
        W = sp.csr_array(W)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", wc.ConvergenceWarning)
        return wc.solve(M, W, k, **options)


def _finite(res):
    return (np.all(np.isfinite(res.X)) and np.all(np.isfinite(res.Y))
            and all(math.isfinite(s.relative_objective) for s in res.history))


# ----------------------------------------------------------------------------------------------
# weights spanning 1e-12 … 1e12

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("solver", ALL)
def test_weights_spanning_1e_minus12_to_1e12_give_finite_factors_and_a_fit(solver, layout):
    M, W = planted(30, 20, 2, p=0.6, seed=21)
    W = W * 10.0 ** np.random.default_rng(22).uniform(-12, 12, W.shape)
    res = _solve(M, W, 2, layout, solver=solver, eps=1e-10, max_iter=60)
    assert _finite(res)
    assert all(math.isfinite(s.objective) for s in res.history)
    rel = [s.relative_objective for s in res.history]
    if solver == "em":         # EM fills with W/max W: weights of 1e-24 barely move; it still descends
        assert rel[-1] < 0.9 * rel[0]
        assert np.all(np.diff(rel) <= 1e-9 * np.array(rel[:-1]))
    else:
        # a noise-free rank-2 truth; alternating minimisation is slow when the weights span 24
        # orders of magnitude (entries of weight 1e-24 relative barely pull), the same before and
        # after the robustness fixes: 3e-2 after one iteration, 4e-3 after 60, 1.4e-3 after 300. It
        # must get there without NaN, inf or a warning, and descend.
        assert rel[-1] < 1e-2 and rel[-1] < 0.5 * rel[0]
        direct = float(np.sum(W * (M - res.low_rank()) ** 2)) / float(np.sum(W * M**2))
        assert direct == pytest.approx(rel[-1], rel=1e-6)


# ----------------------------------------------------------------------------------------------
# values near 1e150 and 1e-150 (and beyond: 1e200)

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("solver", ALL)
@pytest.mark.parametrize("scale", [1e150, 1e200, 1e-150])
def test_values_near_1e150_and_1e_minus150_are_fitted_without_overflow(scale, solver, layout):
    M, W = planted(30, 20, 2, p=0.6, seed=23)
    res = _solve(M * scale, W, 2, layout, solver=solver, eps=1e-10, max_iter=200)
    assert _finite(res)
    # Σ W M² is 1e300 … 1e400 times that of M: finite for 1e150 and 1e-150 (there f may underflow
    # to 0, never NaN); for 1e200 the first objectives exceed the float range and are inf
    for step in res.history:
        assert not math.isnan(step.objective) and step.objective >= 0
        if scale != 1e200:
            assert math.isfinite(step.objective)
    err = np.linalg.norm(res.low_rank() / scale - M) / np.linalg.norm(M)
    assert err < (1e-3 if solver == "em" else 1e-8)


# ----------------------------------------------------------------------------------------------
# weights 1e12 with values 1e150: Σ W M² ≈ 1e314 overflows float64

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("solver", ALL)
def test_weights_1e12_with_values_1e150_report_inf_only_beyond_the_float_range(solver, layout):
    M, W = planted(30, 20, 2, p=0.6, seed=24)
    M = M + 1e-5 * np.random.default_rng(24).standard_normal(M.shape)      # converges to f ≈ 1e-11·T
    total_log10 = math.log10(float(np.sum(W * M**2))) + 12 + 300         # log10 Σ (1e12 W)(1e150 M)²
    assert total_log10 > math.log10(sys.float_info.max)                   # Σ W M² itself overflows
    res = _solve(M * 1e150, W * 1e12, 2, layout, solver=solver, eps=1e-12, max_iter=100)
    assert _finite(res)
    seen = set()
    for step in res.history:
        assert 0 <= step.relative_objective < math.inf
        if step.relative_objective == 0:
            assert step.objective == 0
            continue
        true_log10 = math.log10(step.relative_objective) + total_log10   # log10 of the true f
        if true_log10 < math.log10(sys.float_info.max) - 1e-9:            # representable: reported
            assert math.isfinite(step.objective)
            assert math.log10(step.objective) == pytest.approx(true_log10, abs=1e-9)
            seen.add("finite")
        elif true_log10 > math.log10(sys.float_info.max) + 1e-9:
            assert step.objective == math.inf and step.penalised == math.inf
            seen.add("inf")
    assert "finite" in seen                       # the fit brings f back into the float range
    if solver != "em":
        assert seen == {"finite", "inf"}          # … from the first iteration's f ≈ 1e312
    # the objective of the returned factors, through the public function, agrees
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        direct = wc.objective(M * 1e150, W * 1e12, res.X, res.Y)
    assert direct == pytest.approx(res.objective, rel=1e-6)


def test_objective_of_values_above_1e154_is_not_an_overflow_error():
    # regression: m_scale ** 2 raised OverflowError (a Python float power) for max|M| > 1.3e154
    M, W = planted(20, 10, 2, p=0.7, seed=25)
    res = _solve(M * 1e160, W, 2, solver="exact", eps=1e-12, max_iter=50)
    assert _finite(res) and math.isfinite(res.objective)
    X, Y = np.ones((20, 2)), np.ones((10, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert wc.objective(M * 1e160, W, X, Y) == math.inf       # ≈ 1e322: beyond the float range
        assert math.isfinite(wc.objective(M * 1e150, W, X, Y))


# ----------------------------------------------------------------------------------------------
# empty rows and columns

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("init", ["svd", "random"])
@pytest.mark.parametrize("ridge", [0.0, 0.5])
@pytest.mark.parametrize("solver", ALL)
def test_empty_rows_and_columns_get_zero_factor_rows_and_predictions(solver, ridge, init, layout):
    M, W = planted(30, 20, 3, p=0.7, seed=26)
    W[[0, 7]] = 0.0
    W[:, [2, 11]] = 0.0
    res = _solve(M, W, 3, layout, solver=solver, ridge=ridge, init=init, eps=1e-10, max_iter=30)
    assert _finite(res)
    M_hat = res.low_rank()
    if solver == "em":
        # EM's factors come from an SVD of the filled matrix: zero there up to round-off
        assert np.abs(M_hat[[0, 7]]).max() < 1e-10 and np.abs(M_hat[:, [2, 11]]).max() < 1e-10
    else:
        # the regressions of an empty row or column have no data: their minimum-norm (or ridge)
        # solution is exactly 0, and the orthonormalisation keeps zero rows zero
        assert np.all(res.X[[0, 7]] == 0) and np.all(res.Y[[2, 11]] == 0)
        assert np.all(M_hat[[0, 7]] == 0) and np.all(M_hat[:, [2, 11]] == 0)
    # the observed entries are still fitted
    observed = float(np.sum(W * (M - M_hat) ** 2)) / float(np.sum(W * M**2))
    assert observed < (1e-2 if ridge or solver == "em" else 1e-8)


# ----------------------------------------------------------------------------------------------
# weights: all zero, negative, non-finite

A = np.arange(12.0).reshape(4, 3) + 1.0
ONES = np.ones((4, 3))


def _input_error(match, M, W, k=2, **options):
    with pytest.raises(wc.InputError, match=match):
        wc.solve(M, W, k, **options)
    with pytest.raises(wc.InputError, match=match):
        wc.iterate(M, W, k, **options)           # refused at the call, before any iteration


@pytest.mark.parametrize("W", [np.zeros((4, 3)), sp.csr_array((4, 3)),
                               sp.csr_array((np.zeros(3), ([0, 1, 2], [0, 1, 2])), shape=(4, 3))],
                         ids=["dense", "sparse-empty", "sparse-stored-zeros"])
def test_all_zero_weights_are_refused_naming_W(W):
    _input_error(r"^W: found no positive weight \(nothing is observed\), need at least one entry with W > 0",
                 A, W)


@pytest.mark.parametrize("W", [np.where(A == 5, -0.5, 1.0), sp.csr_array(np.where(A == 5, -0.5, 1.0))],
                         ids=["dense", "sparse"])
def test_negative_weights_are_refused_naming_W(W):
    _input_error(r"^W: found a negative weight \(-0.5\), need weights ≥ 0", A, W)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_non_finite_weights_are_refused_naming_W(layout, bad):
    W = np.where(A == 5, bad, 1.0)
    _input_error(r"^W: found non-finite weights \(NaN or inf\), need finite weights ≥ 0",
                 A, sp.csr_array(W) if layout == "sparse" else W)


# ----------------------------------------------------------------------------------------------
# NaN in M: allowed where W = 0, refused where W > 0

@pytest.mark.parametrize("w_layout, m_layout", [("dense", "dense"), ("sparse", "dense"), ("sparse", "sparse")])
@pytest.mark.parametrize("solver", ALL)
def test_nan_in_M_where_W_is_zero_is_allowed(solver, w_layout, m_layout):
    M, W = planted(20, 15, 2, p=0.6, seed=27)
    if m_layout == "dense":
        Mn = np.where(W > 0, M, np.nan)
    else:                                        # values stored where W > 0, and NaN stored where W = 0
        D = np.where(W > 0, M, 0.0)
        D[tuple(np.argwhere(W == 0)[:5].T)] = np.nan
        Mn = sp.csr_array(D)
        assert np.isnan(Mn.data).sum() == 5
    res = _solve(Mn, W, 2, w_layout, solver=solver, eps=1e-10, max_iter=100)
    assert _finite(res) and math.isfinite(res.objective)
    assert np.all(np.isfinite(res.low_rank()))
    assert np.linalg.norm(res.low_rank() - M) / np.linalg.norm(M) < (1e-2 if solver == "em" else 1e-6)


@pytest.mark.parametrize("bad, shown", [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_non_finite_M_where_W_is_positive_is_refused_naming_M_and_the_entry(layout, bad, shown):
    Mb = A.copy()
    Mb[2, 1] = bad
    _input_error(rf"^M: found a non-finite value \({shown}\) at \(2, 1\) where the weight is positive; "
                 r"NaN is allowed only where W is 0", Mb, sp.csr_array(ONES) if layout == "sparse" else ONES)


# ----------------------------------------------------------------------------------------------
# parameters: k, eps, max_iter, ridge, names

@pytest.mark.parametrize("k", [0, -1])
def test_k_of_zero_or_less_is_refused_naming_k(k):
    _input_error(rf"^k: found {k}, need an integer ≥ 1 \(the rank, at most min\(n, m\) = 3\)", A, ONES, k)


@pytest.mark.parametrize("shape", [(4, 3), (3, 4)])
def test_k_above_min_n_m_is_refused_naming_k(shape):
    M = np.ones(shape)
    _input_error(r"^k: found 4, need an integer ≤ 3 \(the rank, at most min\(n, m\) = 3\)", M, np.ones(shape), 4)


@pytest.mark.parametrize("k, shown", [(True, r"True \(bool\)"), (np.True_, r"np.True_ \(bool\)"),
                                      (2.0, r"2.0 \(float\)"), ("2", r"'2' \(str\)")])
def test_k_that_is_not_an_integer_is_refused_naming_k(k, shown):
    # True would otherwise pass as the integer 1
    _input_error(rf"^k: found {shown}, need an integer \(the rank", A, ONES, k)


@pytest.mark.parametrize("eps, found, need", [
    (0, "0", "> 0"), (0.0, "0", "> 0"), (1, "1", "< 1"), (1.0, "1", "< 1"), (-1, "-1", "> 0"),
    (float("nan"), "nan", "finite number"), (float("inf"), "inf", "finite number"),
    (-float("inf"), "-inf", "finite number"), (True, r"True \(bool\)", "real number"),
])
def test_eps_outside_the_open_interval_0_1_is_refused_naming_eps(eps, found, need):
    _input_error(rf"^eps: found {found}, need a .*{need}.* \(the tolerance, in the open interval \(0, 1\)\)",
                 A, ONES, eps=eps)


@pytest.mark.parametrize("max_iter", [0, -5])
def test_max_iter_of_zero_or_less_is_refused_naming_max_iter(max_iter):
    _input_error(rf"^max_iter: found {max_iter}, need an integer ≥ 1 \(alternating iterations at most\)",
                 A, ONES, max_iter=max_iter)


@pytest.mark.parametrize("max_iter, shown", [(2.5, r"2.5 \(float\)"), (True, r"True \(bool\)")])
def test_max_iter_that_is_not_an_integer_is_refused_naming_max_iter(max_iter, shown):
    _input_error(rf"^max_iter: found {shown}, need an integer", A, ONES, max_iter=max_iter)


@pytest.mark.parametrize("ridge, found, need", [(-1, "-1", "≥ 0"), (-1e-300, "-1e-300", "≥ 0"),
                                                (float("nan"), "nan", "finite number"),
                                                (float("inf"), "inf", "finite number")])
def test_negative_or_non_finite_ridge_is_refused_naming_ridge(ridge, found, need):
    _input_error(rf"^ridge: found {found}, need a .*{need} \(the ridge λ; 0 for none\)", A, ONES, ridge=ridge)


@pytest.mark.parametrize("option, value, choices", [
    ("solver", "als", "'exact', 'sketched', 'cg', 'em', 'auto'"),
    ("solver", "EXACT", "'exact', 'sketched', 'cg', 'em', 'auto'"),
    ("solver", None, "'exact', 'sketched', 'cg', 'em', 'auto'"),
    ("init", "zeros", "'svd', 'random'"),
    ("sketch", "fjlt", "'rownorm', 'sparse_sign', 'srht', 'gaussian'"),
    ("inner", "lsqr", "'pcg', 'gd'"),
])
def test_unknown_solver_init_sketch_or_inner_names_are_refused_listing_the_choices(option, value, choices):
    _input_error(rf"^{option}: found {value!r}, need one of {choices}\.$", A, ONES, **{option: value})


def test_bad_option_names_are_refused_before_the_problem_is_looked_at():
    # options are validated before the matrices: a problem above the size cap still hears about
    # its misspelt solver first (validating after the work would report max_entries)
    with pytest.raises(wc.InputError, match=r"^solver: found 'als'"):
        wc.solve(A, ONES, 2, solver="als", max_entries=1)
    with pytest.raises(wc.InputError, match=r"^max_entries: found a dense 4×3 problem"):
        wc.solve(A, ONES, 2, max_entries=1)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("init", ["svd", "random"])
@pytest.mark.parametrize("solver", ["exact", "sketched", "cg"])
def test_a_ridge_that_outweighs_tiny_values_gives_zero_factors_without_overflow(solver, init, layout):
    # values 1e-150 with weights 1e-12: ridge = 1 is 1e161 on the scaled problem, so the minimiser
    # of f + λ(‖X‖² + ‖Y‖²) is X = Y = 0. Regression: a warm start of size 1 made (AᵀA + λ)p
    # overflow inside "cg", NaN reached the factors, and the next SVD raised LinAlgError.
    M, W = planted(40, 19, 4, p=0.6, seed=28)
    res = _solve(M * 1e-150, W * 1e-12, 4, layout, solver=solver, init=init, ridge=1.0, eps=1e-10,
                 max_iter=10)
    assert _finite(res) and math.isfinite(res.objective) and math.isfinite(res.history[-1].penalised)
    assert np.abs(res.low_rank()).max() < 1e-200
    assert res.relative_objective == pytest.approx(1.0, abs=1e-12)
