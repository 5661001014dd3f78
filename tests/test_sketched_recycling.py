"""The sketched solver's recycled preconditioners (solvers/sketched.py, "Recycling"): kept across
outer iterations, applied through the change of basis T, redone by a rule that counts work."""
import math
import warnings

import numpy as np
import pytest

import wlra_core as wc
from wlra_core.solvers import Options, auto, sketched
from wlra_core.solvers.inner import FUSED_DENSE_K, iterate_block
from wlra_core.solvers.layouts import DenseBlock
from wlra_core.problem import DenseSide

K = FUSED_DENSE_K          # the smallest rank whose dense rows iterate by BLAS products


def problem(n=240, m=320, k=K, seed=0, weights="bounded"):
    """Rows of about 190 and columns of about 145 weighted entries: longer than the sketch 4k."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n, m)) < 0.6
    W = mask * (rng.uniform(0.1, 1.0, (n, m)) if weights == "bounded"
                else np.exp(1.5 * rng.standard_normal((n, m))))
    M = rng.standard_normal((n, k)) @ rng.standard_normal((k, m)) / np.sqrt(k)
    return M + 1e-2 * rng.standard_normal((n, m)), W


def run(M, W, k=K, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wc.ConvergenceWarning)
        return list(wc.iterate(M, W, k, solver=kw.pop("solver", "sketched"), eps=1e-10, max_iter=300, seed=0,
                              **kw))


# (weights, options, tolerance on the final objective against exact's): with the plain model every
# run converges (stops "stalled") to the same objective; with a ridge the sketched runs, kept or
# fresh alike, stop within 1e-6 (their objective moves by less than eps per iteration on the way)
@pytest.mark.parametrize("weights, options, tol", [
    ("bounded", {}, 1e-8), ("lognormal", {}, 1e-8), ("bounded", {"bias": True}, 1e-8),
    ("lognormal", {"bias": True}, 1e-8), ("bounded", {"ridge": 0.1, "holdout": 0.1}, 1e-6),
    ("lognormal", {"ridge": 0.05, "ridge_scaling": "count"}, 1e-6),
])
def test_recycled_run_reaches_the_objective_of_sketching_every_time(monkeypatch, weights, options, tol):
    M, W = problem(weights=weights)
    kept = run(M, W, **options)
    monkeypatch.setattr(sketched, "RECYCLE", False)          # the solver without recycling
    fresh = run(M, W, **options)
    assert sum(s.inner.reused_rows for s in kept) > 0
    assert all(s.inner.reused_rows == 0 for s in fresh)
    # a reused half-step makes no sketch and no factorisation
    assert all(s.inner.sketch_seconds == 0.0 and s.inner.factor_seconds == 0.0
               for s in kept if s.inner.reused_rows == s.inner.iterative_rows)
    exact = run(M, W, solver="exact", **options)
    if tol == 1e-8:
        assert {kept[-1].stop_reason, fresh[-1].stop_reason, exact[-1].stop_reason} == {wc.StopReason.STALLED}
    f_star = exact[-1].penalised
    assert abs(kept[-1].penalised - f_star) <= tol * f_star
    assert abs(fresh[-1].penalised - f_star) <= tol * f_star


def test_rows_solved_exactly_between_kept_rows():
    # every third row shorter than the sketch (4k = 96): the iterated rows of a block are not
    # consecutive, and their kept factors are gathered by index
    M, W = problem(seed=8)
    W[::3, 60:] = 0.0
    kept = run(M, W)
    assert all(s.inner.exact_rows >= 80 for s in kept)
    assert sum(s.inner.reused_rows for s in kept) > 0
    exact = run(M, W, solver="exact")
    assert abs(kept[-1].objective - exact[-1].objective) <= 1e-8 * exact[-1].objective


def test_recycled_run_is_reproducible_bit_for_bit():
    M, W = problem(seed=2, weights="lognormal")
    a, b = run(M, W), run(M, W)
    assert sum(s.inner.reused_rows for s in a) > 0
    assert [s.inner.reused_rows for s in a] == [s.inner.reused_rows for s in b]
    assert np.array_equal(a[-1].X, b[-1].X) and np.array_equal(a[-1].Y, b[-1].Y)


def test_change_of_basis_makes_the_kept_factor_exact_again():
    # factors made from the exact Gram of the design on Y_ref precondition the design on
    # Y = Y_ref·T exactly once T is applied: CG then ends in one or two iterations
    rng = np.random.default_rng(5)
    n, m, k = 40, 200, K
    W = (rng.random((n, m)) < 0.7) * np.exp(1.5 * rng.standard_normal((n, m)))
    M = rng.standard_normal((n, m))
    Y_ref = np.linalg.qr(rng.standard_normal((m, k)))[0]
    T = np.eye(k) + 0.5 * rng.standard_normal((k, k))
    counts = np.count_nonzero(W, axis=1)
    L = np.linalg.cholesky(DenseBlock(W, M, Y_ref, counts).full_gram()).astype(np.float32)
    blk = DenseBlock(W, M, Y_ref @ T, counts)
    rhs = blk.rhs()
    o = Options(solver="sketched", eps=1e-8, ridge=0.0, sketch="rownorm", s=4 * k, inner="pcg",
                max_inner=200, budget=1 << 30, diagnostics=False)
    x0 = np.zeros((n, k))
    bnorm = np.sqrt(blk.bnorm2())
    x, its, _ = iterate_block(blk, x0, rhs, bnorm, (L, np.linalg.inv(T)), o)
    _, its_stale, _ = iterate_block(blk, x0, rhs, bnorm, L, o)
    assert its.max() <= 2 < np.median(its_stale)
    x_star = np.linalg.solve(blk.full_gram(), rhs[..., None])[..., 0]
    assert np.allclose(x, x_star, rtol=1e-5, atol=1e-8)


def _cache(Y_ref, age=1, fresh=(3.0, 1e-4), last=(3.0, 1e-4)):
    return {"Y": Y_ref, "G": Y_ref.T @ Y_ref, "age": age, "fresh": fresh, "last": last}


def _options(s, budget=1 << 30):
    return Options(solver="sketched", eps=1e-8, ridge=0.0, sketch="rownorm", s=s, inner="pcg",
                   max_inner=100, budget=budget, diagnostics=False)


def test_reuse_rule():
    rng = np.random.default_rng(1)
    m, k, s = 300, 8, 32
    o = _options(s)
    Y_ref = np.linalg.qr(rng.standard_normal((m, k)))[0]
    T = np.eye(k) + 0.3 * rng.standard_normal((k, k))
    Tinv = sketched._reusable(_cache(Y_ref), Y_ref @ T, m, o)
    assert np.allclose(Tinv, np.linalg.inv(T))
    # another subspace is no change of basis
    assert sketched._reusable(_cache(Y_ref), rng.standard_normal((m, k)), m, o) is None
    # nor is one new direction, however small a share of ‖Y‖_F it is
    Y = Y_ref.copy()
    Y[:, 0] = np.linalg.qr(np.column_stack([Y_ref, rng.standard_normal(m)]))[0][:, -1]
    assert sketched._reusable(_cache(Y_ref), Y, m, o) is None
    # served RECYCLE_AGE half-steps already
    assert sketched._reusable(_cache(Y_ref, age=sketched.RECYCLE_AGE), Y_ref @ T, m, o) is None
    assert sketched._reusable(_cache(Y_ref, age=sketched.RECYCLE_AGE - 1), Y_ref @ T, m, o) is not None
    # the last reuse's extra iterations cost more than a fresh sketch and factorisation
    extra = (s * k * k + k ** 3 / 3) / (4 * m * k)
    assert sketched._reusable(_cache(Y_ref, last=(3.0 + 0.9 * extra, 1e-4)), Y_ref @ T, m, o) is not None
    assert sketched._reusable(_cache(Y_ref, last=(3.0 + 1.1 * extra, 1e-4)), Y_ref @ T, m, o) is None
    # ... counted per digit of accuracy: a tighter tolerance alone is no reason to redo the sketch
    digits = math.log(1e8) / math.log(1e4)
    assert sketched._reusable(_cache(Y_ref, last=(3.0 * digits + 0.9 * extra, 1e-8)), Y_ref @ T, m, o) is not None
    assert sketched._reusable(_cache(Y_ref, last=(3.0 * digits + 1.1 * extra, 1e-8)), Y_ref @ T, m, o) is None
    # no factors made yet, or made for another shape
    assert sketched._reusable({}, Y_ref, m, o) is None
    assert sketched._reusable(_cache(Y_ref[:, :4]), Y_ref, m, o) is None


def _side(M, W):
    counts = np.count_nonzero(W, axis=1)
    return DenseSide(M, W, counts, 1.0, 1.0)


def test_factors_kept_only_when_both_sides_fit_in_half_the_budget():
    M, W = problem(n=60, m=200)
    side = _side(M, W)
    Y = np.linalg.qr(np.random.default_rng(0).standard_normal((200, K)))[0]
    need = (60 + 200) * K * K * 4          # both sides' factors, float32
    for budget, kept in ((2 * need, True), (2 * need - 2, False)):
        cache = {}
        sketched.half_step(side, Y, None, _options(4 * K, budget), np.random.default_rng(0), cache)
        assert ("L" in cache) is kept
        _, stats = sketched.half_step(side, Y, None, _options(4 * K, budget), np.random.default_rng(0), cache)
        assert (stats["reused_rows"] > 0) is kept


def test_diagnostics_of_a_reused_preconditioner():
    M, W = problem(seed=3, weights="lognormal")
    steps = run(M, W, diagnostics=True)
    reused = [s for s in steps if s.inner.reused_rows == s.inner.iterative_rows > 0]
    assert reused
    for s in reused:
        before, after = s.inner.cond_before, s.inner.cond_after
        assert len(after) == len(before) > 0 and np.all(np.isfinite(after))
        assert np.median(after) < np.median(before)


@pytest.mark.parametrize("solver", ["exact", "cg", "auto"])
def test_only_sketched_reuses(monkeypatch, solver):
    # auto made to pick sketched at every half-step (at this size its cost model picks exact):
    # its sketched half-steps sketch afresh
    costs = auto.costs
    monkeypatch.setattr(auto, "costs", lambda *a, **kw: (dict(costs(*a, **kw)[0], sketched=0.0),
                                                           costs(*a, **kw)[1]))
    M, W = problem(seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wc.ConvergenceWarning)
        steps = list(wc.iterate(M, W, K, solver=solver, eps=1e-10, max_iter=6, seed=0))
    assert all(s.inner.reused_rows == 0 for s in steps)
    if solver == "auto":
        assert all(choice == "sketched" for s in steps for choice in s.inner.choice)
