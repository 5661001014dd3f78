"""The sketched solver's recycled preconditioners (solvers/sketched.py, "Recycling"): kept across
outer iterations, applied through the change of basis T, redone by a rule that counts work."""
import warnings

import numpy as np
import pytest

import wlra_core as wc
from wlra_core.solvers import Options, sketched
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


@pytest.mark.parametrize("weights", ["bounded", "lognormal"])
@pytest.mark.parametrize("bias", [False, True])
def test_recycled_run_reaches_the_objective_of_sketching_every_time(monkeypatch, weights, bias):
    M, W = problem(weights=weights)
    kept = run(M, W, bias=bias)
    monkeypatch.setattr(sketched, "RECYCLE_AGE", 1)          # every half-step sketches afresh
    fresh = run(M, W, bias=bias)
    assert sum(s.inner.reused_rows for s in kept) > 0
    assert all(s.inner.reused_rows == 0 for s in fresh)
    # a reused half-step makes no sketch and no factorisation
    assert all(s.inner.sketch_seconds == 0.0 and s.inner.factor_seconds == 0.0
               for s in kept if s.inner.reused_rows == s.inner.iterative_rows)
    exact = run(M, W, bias=bias, solver="exact")
    assert kept[-1].stop_reason == fresh[-1].stop_reason == exact[-1].stop_reason == "stalled"
    f_star = exact[-1].objective
    assert abs(kept[-1].objective - f_star) <= 1e-8 * f_star
    assert abs(fresh[-1].objective - f_star) <= 1e-8 * f_star


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


def _cache(Y_ref, age=0, fresh=3.0, last=3.0):
    return {"Y": Y_ref, "age": age, "fresh_its": fresh, "last_its": last}


def test_reuse_rule():
    rng = np.random.default_rng(1)
    m, k, s = 300, 8, 32
    Y_ref = np.linalg.qr(rng.standard_normal((m, k)))[0]
    T = np.eye(k) + 0.3 * rng.standard_normal((k, k))
    Tinv = sketched._reusable(_cache(Y_ref), Y_ref @ T, m, s)
    assert np.allclose(Tinv, np.linalg.inv(T))
    # another subspace is no change of basis
    assert sketched._reusable(_cache(Y_ref), rng.standard_normal((m, k)), m, s) is None
    # too old
    assert sketched._reusable(_cache(Y_ref, age=sketched.RECYCLE_AGE - 1), Y_ref @ T, m, s) is None
    # the last reuse's extra iterations cost more than a fresh sketch and factorisation
    fresh_cost = s * k * k / 2 + k ** 3 / 3
    extra = fresh_cost / (4 * m * k)
    assert sketched._reusable(_cache(Y_ref, last=3.0 + 0.9 * extra), Y_ref @ T, m, s) is not None
    assert sketched._reusable(_cache(Y_ref, last=3.0 + 1.1 * extra), Y_ref @ T, m, s) is None
    # no factors made yet, or made for another shape
    assert sketched._reusable({}, Y_ref, m, s) is None
    assert sketched._reusable(_cache(Y_ref[:, :4]), Y_ref, m, s) is None


def _side(M, W):
    counts = np.count_nonzero(W, axis=1)
    return DenseSide(M, W, counts, 1.0, 1.0)


def test_factors_kept_only_within_a_quarter_of_the_budget():
    M, W = problem(n=60, m=200)
    side = _side(M, W)
    Y = np.linalg.qr(np.random.default_rng(0).standard_normal((200, K)))[0]
    need = 60 * K * K * 4
    for budget, kept in ((4 * need, True), (4 * need - 4, False)):
        o = Options(solver="sketched", eps=1e-8, ridge=0.0, sketch="rownorm", s=4 * K, inner="pcg",
                    max_inner=100, budget=budget, diagnostics=False)
        cache = {}
        sketched.half_step(side, Y, None, o, np.random.default_rng(0), cache)
        assert ("L" in cache) is kept
        _, stats = sketched.half_step(side, Y, None, o, np.random.default_rng(0), cache)
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
def test_only_sketched_reuses(solver):
    M, W = problem(seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wc.ConvergenceWarning)
        steps = list(wc.iterate(M, W, K, solver=solver, eps=1e-10, max_iter=6, seed=0))
    assert all(s.inner.reused_rows == 0 for s in steps)
