"""Early stopping on held-out entries: solve/iterate(..., holdout=...), Step.holdout_rmse,
Step.is_best and Result.best (issue 10, item 3)."""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import wlra_core as wc
from wlra_core.holdout import split
from tests.problems import planted_noisy as planted

SOLVERS = ("exact", "sketched", "cg", "em", "auto")


def run(M, W, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wc.ConvergenceWarning)
        return wc.solve(M, W, kw.pop("k", 4), **kw)


@pytest.mark.parametrize("layout", ["dense", "sparse"])
@pytest.mark.parametrize("solver", SOLVERS)
def test_held_out_entries_get_weight_zero(solver, layout):
    M, W = planted()
    Wl = sp.csr_array(W) if layout == "sparse" else W
    W_fit, held = split(M, Wl, 0.25, 7)
    positive = int((W > 0).sum())
    assert len(held.rows) == round(0.25 * positive)
    assert np.all(W[held.rows, held.cols] > 0)
    np.testing.assert_array_equal(held.w, W[held.rows, held.cols])
    np.testing.assert_array_equal(held.m, M[held.rows, held.cols])
    Wd = W_fit.toarray() if sp.issparse(W_fit) else W_fit
    changed = np.argwhere(Wd != W)
    assert sorted(map(tuple, changed)) == sorted(zip(held.rows, held.cols))
    assert np.all(Wd[held.rows, held.cols] == 0)
    # the fit with holdout is the fit on W with those entries at weight 0, bit for bit: the
    # solvers' own stream is the one the run without holdout uses
    a = run(M, Wl, solver=solver, seed=7, holdout=0.25, max_iter=4)
    b = run(M, W_fit, solver=solver, seed=7, max_iter=4)
    assert [s.objective for s in a.history] == [s.objective for s in b.history]
    np.testing.assert_array_equal(a.low_rank(), b.low_rank())


@pytest.mark.parametrize("layout", ["dense", "sparse"])
@pytest.mark.parametrize("solver", SOLVERS)
def test_holdout_rmse_matches_a_direct_recomputation(solver, layout):
    M, W = planted(seed=1)
    Wl = sp.csr_array(W) if layout == "sparse" else W
    res = run(M, Wl, solver=solver, seed=3, holdout=0.2, max_iter=6)
    _, held = split(M, Wl, 0.2, 3)
    for step in res.history:
        R = M - step.low_rank()
        r = R[held.rows, held.cols]
        direct = np.sqrt(np.sum(held.w * r * r) / np.sum(held.w))
        assert step.holdout_rmse == pytest.approx(direct, rel=1e-12)
        np.testing.assert_allclose(step.predict(held.rows, held.cols), step.low_rank()[held.rows, held.cols],
                                   rtol=1e-12, atol=1e-12)


def test_holdout_rmse_is_in_the_callers_units():
    M, W = planted(seed=2)
    a = run(M, W, solver="exact", holdout=0.3, max_iter=5)
    b = run(1e6 * M, 1e-3 * W, solver="exact", holdout=0.3, max_iter=5)
    for sa, sb in zip(a.history, b.history):
        assert sb.holdout_rmse == pytest.approx(1e6 * sa.holdout_rmse, rel=1e-8)


def test_is_best_and_result_best_follow_the_held_out_error():
    # a noisy problem fitted at a high rank overfits: the held-out error rises again
    M, W = planted(n=50, m=40, k=2, density=0.4, noise=1.0, seed=4)
    res = run(M, W, k=12, solver="exact", holdout=0.3, max_iter=25, eps=1e-12)
    rmse = [s.holdout_rmse for s in res.history]
    assert all(r is not None and np.isfinite(r) for r in rmse)
    for t, s in enumerate(res.history):
        assert s.is_best == (t == 0 or rmse[t] < min(rmse[:t]))
    first_min = int(np.argmin(rmse))
    assert res.best is res.history[first_min]
    assert res.best.holdout_rmse == min(rmse)
    assert first_min < len(rmse) - 1, "the test problem should overfit (its minimum before the end)"


def test_keep_factors_false_keeps_the_best_and_the_last_steps_factors():
    M, W = planted(n=50, m=40, k=2, density=0.4, noise=1.0, seed=4)
    full = run(M, W, k=12, solver="exact", holdout=0.3, max_iter=25, eps=1e-12)
    lean = run(M, W, k=12, solver="exact", holdout=0.3, max_iter=25, eps=1e-12, keep_factors=False)
    kept = [t for t, s in enumerate(lean.history) if s.X is not None]
    assert kept == sorted({full.history.index(full.best), len(full.history) - 1})
    np.testing.assert_array_equal(lean.best.low_rank(), full.best.low_rank())


def test_without_holdout_best_is_the_last_step_and_is_best_follows_the_objective():
    M, W = planted(seed=5)
    res = run(M, W, solver="sketched", max_iter=8)
    assert res.best is res.history[-1]
    obj = [s.objective for s in res.history]
    for t, s in enumerate(res.history):
        assert s.holdout_rmse is None
        assert s.is_best == (t == 0 or obj[t] < min(obj[:t]))


def test_iterate_reports_the_same_steps_as_solve():
    M, W = planted(seed=6)
    res = run(M, W, solver="cg", holdout=0.2, max_iter=5, seed=11)
    steps = list(wc.iterate(M, W, 4, solver="cg", holdout=0.2, max_iter=5, seed=11))
    assert [s.holdout_rmse for s in steps] == [s.holdout_rmse for s in res.history]
    assert [s.is_best for s in steps] == [s.is_best for s in res.history]


def test_same_seed_same_result_other_seed_other_entries():
    M, W = planted(seed=8)
    a = run(M, W, solver="sketched", holdout=0.2, seed=5, max_iter=5)
    b = run(M, W, solver="sketched", holdout=0.2, seed=5, max_iter=5)
    assert [s.holdout_rmse for s in a.history] == [s.holdout_rmse for s in b.history]
    np.testing.assert_array_equal(a.low_rank(), b.low_rank())
    _, h5 = split(M, W, 0.2, 5)
    _, h6 = split(M, W, 0.2, 6)
    assert set(zip(h5.rows, h5.cols)) != set(zip(h6.rows, h6.cols))


def test_generator_seed_keeps_the_solvers_stream():
    M, W = planted(seed=9)
    W_fit, _ = split(M, W, 0.2, np.random.default_rng(21))
    a = run(M, W, solver="sketched", holdout=0.2, seed=np.random.default_rng(21), max_iter=4)
    b = run(M, W_fit, solver="sketched", seed=np.random.default_rng(21), max_iter=4)
    np.testing.assert_array_equal(a.low_rank(), b.low_rank())


@pytest.mark.parametrize("solver", SOLVERS)
def test_holdout_zero_is_the_run_without_holdout_bit_for_bit(solver):
    M, W = planted(seed=10)
    a = run(M, W, solver=solver, max_iter=5, seed=2)
    b = run(M, W, solver=solver, max_iter=5, seed=2, holdout=0.0)
    assert [s.objective for s in a.history] == [s.objective for s in b.history]
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.Y, b.Y)
    assert a.settings["holdout"] == 0.0


def test_inputs_are_not_modified():
    M, W = planted(seed=12)
    Ws = sp.csr_array(W)
    M0, W0, data0 = M.copy(), W.copy(), Ws.data.copy()
    run(M, W, solver="exact", holdout=0.3, max_iter=2)
    run(M, Ws, solver="exact", holdout=0.3, max_iter=2)
    np.testing.assert_array_equal(M, M0)
    np.testing.assert_array_equal(W, W0)
    np.testing.assert_array_equal(Ws.data, data0)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan"), "0.2", True, None])
def test_bad_holdout_values_are_refused(bad):
    M, W = planted()
    with pytest.raises(wc.InputError, match="holdout"):
        wc.solve(M, W, 3, holdout=bad)
    with pytest.raises(wc.InputError, match="holdout"):
        wc.iterate(M, W, 3, holdout=bad)


@pytest.mark.parametrize("bad, message", [
    (0.1, "holdout: found 0.1 of 2 weighted entries"),          # selects no entry
    (0.9, "holdout: found 0.9 of 2 weighted entries"),          # selects every entry
])
def test_a_holdout_that_selects_no_entry_or_every_entry_is_refused(bad, message):
    M = np.ones((3, 3))
    W = np.zeros((3, 3))
    W[0, 0] = W[1, 1] = 1.0
    with pytest.raises(wc.InputError, match=message):
        wc.solve(M, W, 1, holdout=bad)


def test_nan_at_a_held_out_entry_is_refused():
    M, W = planted(seed=13)
    M = M.copy()
    M[W > 0] = np.nan
    with pytest.raises(wc.InputError, match="M: found a non-finite value"):
        wc.solve(M, W, 3, holdout=0.5)
