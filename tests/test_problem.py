"""Validation: every bad input is an InputError naming the input, what was found and what is needed."""
import numpy as np
import pytest
import scipy.sparse as sp

import wlra_core as wc

M = np.arange(12.0).reshape(4, 3)
W = np.ones((4, 3))


@pytest.mark.parametrize("args, kwargs, match", [
    ((M, W, 0), {}, r"k: found 0, need an integer ≥ 1"),
    ((M, W, 4), {}, r"k: found 4, need an integer ≤ 3 .*min\(n, m\) = 3"),
    ((M, W, 2.5), {}, r"k: found 2.5 \(float\), need an integer"),
    ((M, W, True), {}, r"k: found True"),
    ((M, W, 2), {"eps": 0}, r"eps: found 0, need a number > 0"),
    ((M, W, 2), {"eps": 1.0}, r"eps: found 1, need a number < 1"),
    ((M, W, 2), {"eps": float("nan")}, r"eps: found nan, need a finite number"),
    ((M, W, 2), {"max_iter": 0}, r"max_iter: found 0, need an integer ≥ 1"),
    ((M, W, 2), {"ridge": -1}, r"ridge: found -1, need a number ≥ 0"),
    ((M, W, 2), {"solver": "als"}, r"solver: found 'als', need one of 'exact', 'sketched', 'cg', 'em', 'auto'"),
    ((M, W, 2), {"init": "zeros"}, r"init: found 'zeros', need one of 'svd', 'random'"),
    ((M, W, 2), {"sketch": "fjlt"}, r"sketch: found 'fjlt', need one of"),
    ((M, W, 2), {"inner": "lsqr"}, r"inner: found 'lsqr', need one of 'pcg', 'gd'"),
    ((M, W, 2), {"sketch_size": 1}, r"sketch_size: found 1, need an integer ≥ 2 \(at least k = 2\)"),
    ((M, W, 2), {"max_inner": 0}, r"max_inner: found 0"),
    ((M, W, 2), {"memory_budget": 1000}, r"memory_budget: found 1000, need an integer ≥ 1048576"),
    ((M, W, 2), {"seed": -3}, r"seed: found -3"),
    ((M, W, 2), {"clip": "yes"}, r"clip: found 'yes', need True or False"),
    ((M, W, 2), {"clip": True, "ridge": 0.1}, r"clip: found clip=True with ridge=0.1"),
    ((M, W[:3], 2), {}, r"W: found shape \(3, 3\), need the shape of M \(4, 3\)"),
    ((M.ravel(), W, 2), {}, r"M: found an array with 1 dimension"),
    ((np.zeros((0, 3)), np.zeros((0, 3)), 1), {}, r"M: found shape \(0, 3\), need at least one row"),
    ((M, -W, 2), {}, r"W: found a negative weight \(-1\), need weights ≥ 0"),
    ((M, np.zeros_like(W), 2), {}, r"W: found no positive weight \(nothing is observed\)"),
    ((M, np.where(W > 0, np.nan, 0), 2), {}, r"W: found non-finite weights"),
    ((np.where(M == 4, np.nan, M), W, 2), {}, r"M: found a non-finite value \(nan\) at \(1, 1\) where the weight is positive"),
    ((np.where(M == 4, np.inf, M), W, 2), {}, r"M: found a non-finite value \(inf\)"),
    ((np.array([["a", "b"], ["c", "d"]]), np.ones((2, 2)), 1), {}, r"M: found values that are not numbers"),
    ((M, sp.csr_array(-W), 2), {}, r"W: found a negative weight"),
    ((M, sp.csr_array((3, 3)), 1), {}, r"W: found shape \(3, 3\), need the shape of M"),
    ((M, sp.csr_array((4, 3)), 1), {}, r"W: found no positive weight"),
    ((np.where(M == 4, np.nan, M), sp.csr_array(W), 2), {}, r"M: found a non-finite value \(nan\) at \(1, 1\)"),
])
def test_bad_input_is_an_input_error(args, kwargs, match):
    with pytest.raises(wc.InputError, match=match):
        wc.solve(*args, **kwargs)
    with pytest.raises(wc.InputError, match=match):
        wc.iterate(*args, **kwargs)           # validated at the call, before any iteration


def test_input_error_is_a_value_error():
    assert issubclass(wc.InputError, ValueError)


def test_nan_where_weight_is_zero_is_allowed():
    Mn = M.copy()
    Mn[0, 0] = np.nan
    Wn = W.copy()
    Wn[0, 0] = 0
    res = wc.solve(Mn, Wn, 2, solver="exact", eps=1e-10)
    assert np.all(np.isfinite(res.low_rank()))


def test_objective_matches_definition_dense_and_sparse():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((7, 5))
    Wt = rng.random((7, 5)) * (rng.random((7, 5)) < 0.6)
    X = rng.standard_normal((7, 2))
    Y = rng.standard_normal((5, 2))
    direct = float(np.sum(Wt * (A - X @ Y.T) ** 2))
    assert wc.objective(A, Wt, X, Y) == pytest.approx(direct, rel=1e-12)
    assert wc.objective(A, sp.csr_array(Wt), X, Y) == pytest.approx(direct, rel=1e-12)
    assert wc.objective(sp.csr_array(A * (Wt > 0)), sp.csr_array(Wt), X, Y) == pytest.approx(direct, rel=1e-12)
    with pytest.raises(wc.InputError, match="X, Y: found shapes"):
        wc.objective(A, Wt, X, Y[:3])


def test_sparse_explicit_zero_weights_are_unobserved():
    Ws = sp.csr_array(W)
    Ws.data[0] = 0.0                  # a stored zero weight: not observed
    Mn = M.copy()
    Mn[0, 0] = np.nan                 # so NaN there is fine
    res = wc.solve(Mn, Ws, 2, solver="exact")
    assert np.all(np.isfinite(res.X))


def test_memory_budget_counts_the_sparse_layout():
    # 200 000 weighted entries take 8 MB of layout; 16 MiB leaves too little to work in
    rng = np.random.default_rng(0)
    W = sp.random(2000, 2000, density=0.05, random_state=1, format="csr")
    with pytest.raises(wc.InputError, match=r"memory_budget: found 16777216 bytes, need at least .* \(40 per entry\)"):
        wc.solve(W, W, 2, memory_budget=16 << 20)
    res = wc.solve(W, W, 2, memory_budget=48 << 20, max_iter=2, eps=1e-3)
    assert np.all(np.isfinite(res.X))


def test_sparse_m_with_another_pattern_is_read_at_the_weighted_entries():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((30, 20))
    Wt = (rng.random((30, 20)) < 0.5) * 1.0
    Ms = sp.csr_array(A * (rng.random((30, 20)) < 0.8))     # stores entries W does not weight
    X, Y = rng.standard_normal((30, 2)), rng.standard_normal((20, 2))
    direct = float(np.sum(Wt * (Ms.toarray() - X @ Y.T) ** 2))
    assert wc.objective(Ms, sp.csr_array(Wt), X, Y) == pytest.approx(direct, rel=1e-12)


# --- the per-problem size cap (wlra_core.limits) ------------------------------------------------

def test_a_dense_problem_above_max_entries_is_refused_before_any_work():
    M = np.zeros((300, 200))
    with pytest.raises(wc.InputError, match=r"max_entries: found a dense 300×200 problem \(60,000 entries\), "
                                         r"need at most 59,999 entries"):
        wc.solve(M, np.ones_like(M), 2, max_entries=59_999)
    wc.solve(M + 1, np.ones_like(M), 1, max_entries=60_000, max_iter=1)  # at the cap: accepted


def test_a_sparse_problem_is_counted_by_its_weighted_entries_and_its_factors():
    W = sp.random(2000, 3000, density=0.001, format="csr", random_state=0)  # 6 000 entries
    with pytest.raises(wc.InputError, match=r"sparse 2,000×3,000 problem with 6,000 weighted entries, need at most 5,999"):
        wc.solve(W, W, 1, max_entries=5_999)
    # rank 3: the factors hold (2000 + 3000)·3 = 15 000 entries, more than the data
    with pytest.raises(wc.InputError, match=r"factors hold \(n \+ m\)·k = 15,000 entries, need at most 10,000"):
        wc.solve(W, W, 3, max_entries=10_000)


def test_the_default_cap_is_the_documented_one_and_none_lifts_it():
    import inspect
    assert inspect.signature(wc.solve).parameters["max_entries"].default == wc.limits.MAX_ENTRIES == 2**25
    with pytest.raises(wc.InputError, match="max_entries: found 0"):
        wc.solve(np.ones((4, 4)), np.ones((4, 4)), 1, max_entries=0)
    assert np.isfinite(wc.solve(np.ones((4, 4)), np.ones((4, 4)), 1, max_entries=None, max_iter=1).objective)


@pytest.mark.parametrize("f, m_scale, w_scale, expected", [
    (2.0, 3.0, 5.0, 90.0),                            # f · m_scale² · w_scale
    (0.0, 1e300, 1e300, 0.0),                         # zero stays zero
    (1e-290, 1e150, 1e12, 1e-290 * 1e300 * 1e12),      # m_scale² alone would overflow
    (1.0, 1e200, 1.0, np.inf),                        # beyond the float range: inf, no exception
    (1e-300, 1e-160, 1e-10, 0.0),                     # below it: 0
    (np.inf, 1.0, 1.0, np.inf),
])
def test_unscale_multiplies_without_intermediate_overflow(f, m_scale, w_scale, expected):
    from wlra_core.problem import unscale

    got = unscale(f, m_scale, w_scale)
    assert got == pytest.approx(expected, rel=1e-12) if np.isfinite(expected) and expected else got == expected
