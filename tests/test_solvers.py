"""The solver contract, once for every solver (STYLE.md §6), and the loop's exits (§4)."""
import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import wlra_core as wc
from tests.problems import planted


@pytest.mark.parametrize("solver", wc.SOLVERS)
class TestContract:
    def test_shapes_and_finite(self, solver):
        M, W = planted()
        res = wc.solve(M, W, 3, solver=solver, max_iter=20)
        assert res.X.shape == (60, 3) and res.Y.shape == (40, 3)
        assert np.all(np.isfinite(res.X)) and np.all(np.isfinite(res.Y))
        assert len(res.history) >= 1
        assert [s.iteration for s in res.history] == list(range(1, len(res.history) + 1))
        assert res.objective == pytest.approx(wc.objective(M, W, res.X, res.Y), rel=1e-9, abs=1e-12)
        assert np.allclose(res.low_rank(), res.X @ res.Y.T)

    def test_same_seed_same_result_bit_for_bit(self, solver):
        M, W = planted(graded=True)
        a = wc.solve(M, W, 3, solver=solver, init="random", seed=7, max_iter=8)
        b = wc.solve(M, W, 3, solver=solver, init="random", seed=7, max_iter=8)
        assert np.array_equal(a.X, b.X) and np.array_equal(a.Y, b.Y)
        assert [s.objective for s in a.history] == [s.objective for s in b.history]

    def test_inputs_unchanged(self, solver):
        M, W = planted()
        M[W == 0] = np.nan                        # NaN marks missing entries: allowed where W = 0
        M0, W0 = M.copy(), W.copy()
        Ws = sp.csr_array(W)
        Ws0 = Ws.copy()
        wc.solve(M, W, 3, solver=solver, max_iter=5)
        wc.solve(np.nan_to_num(M), Ws, 3, solver=solver, max_iter=5)
        assert np.array_equal(M, M0, equal_nan=True) and np.array_equal(W, W0)
        assert (Ws != Ws0).nnz == 0

    def test_planted_recovery(self, solver):
        # the acceptance problem: n=300, m=200, k=5, 40% observed, no noise
        M, W = planted(300, 200, 5, p=0.4, seed=3)
        res = wc.solve(M, W, 5, solver=solver, eps=1e-10, max_iter=500)
        err = np.linalg.norm(res.low_rank() - M) / np.linalg.norm(M)
        assert err < (1e-3 if solver == "em" else 1e-6)
        assert res.converged and len(res.history) <= 500

    def test_dense_and_sparse_agree(self, solver):
        M, W = planted(graded=True, seed=4)
        eps = 1e-12
        a = wc.solve(M, W, 3, solver=solver, eps=eps, max_iter=60)
        b = wc.solve(M, sp.csr_array(W), 3, solver=solver, eps=eps, max_iter=60)
        c = wc.solve(sp.csr_array(M * (W > 0)), sp.csr_array(W), 3, solver=solver, eps=eps, max_iter=60)
        La = a.low_rank()
        tol = 1e-8 if solver in ("exact", "cg", "em") else 1e-6
        for r in (b, c):
            assert np.linalg.norm(r.low_rank() - La) / np.linalg.norm(La) < tol

    def test_all_ones_weights_give_truncated_svd(self, solver):
        rng = np.random.default_rng(5)
        M = rng.standard_normal((50, 30))
        s = np.linalg.svd(M, compute_uv=False)
        res = wc.solve(M, np.ones_like(M), 4, solver=solver, eps=1e-12, max_iter=300)
        tail = float(np.sum(s[4:] ** 2))
        assert res.objective == pytest.approx(tail, rel=1e-6)

    def test_empty_and_short_rows_give_no_nan(self, solver):
        M, W = planted(40, 30, 4, p=0.6, seed=6)
        W[0] = 0                      # an empty row
        W[1] = 0
        W[1, :2] = 1                  # fewer non-zeros than k: under-determined
        W[:, 0] = 0                   # an empty column
        res = wc.solve(M, W, 4, solver=solver, max_iter=10)
        assert np.all(np.isfinite(res.X)) and np.all(np.isfinite(res.Y))
        assert np.allclose(res.low_rank()[0], 0) or solver == "em" or res.X.shape[0] == 40

    def test_iterate_yields_frozen_steps(self, solver):
        M, W = planted()
        steps = list(wc.iterate(M, W, 3, solver=solver, max_iter=4, eps=1e-15))
        assert len(steps) == 4 and steps[-1].stop_reason == "max_iter reached"
        assert all(s.stop_reason is None for s in steps[:-1])
        with pytest.raises(Exception):
            steps[0].objective = 0.0
        with pytest.raises(ValueError):
            steps[0].X[0, 0] = 1.0
        assert all(s.elapsed >= s.seconds > 0 for s in steps)
        family = {"em": wc.EMStats, "auto": wc.AutoStats}.get(solver, wc.RegressionStats)
        assert all(type(s.inner) is family for s in steps)
        keys = ("seconds_x", "seconds_y") if solver == "em" else (
            "inner_iterations", "inner_iterations_max", "sketch_size", "residual", "exact_rows",
            "cond_before", "cond_after", "forward_error", "seconds_x", "seconds_y")
        for key in keys:    # the typed record reads like the mapping it replaced
            assert key in steps[0].inner and steps[0].inner[key] is getattr(steps[0].inner, key)


def test_exact_objective_never_increases():
    M, W = planted(80, 60, 4, p=0.3, seed=8, graded=True)
    M = M + 0.3 * np.random.default_rng(0).standard_normal(M.shape)     # noisy: no exact fit
    res = wc.solve(M, W, 4, solver="exact", eps=1e-14, max_iter=60, init="random")
    f = np.array([s.objective for s in res.history])
    assert np.all(np.diff(f) <= 1e-10 * f[:-1])


def test_exact_ridge_penalised_objective_never_increases():
    M, W = planted(50, 40, 3, p=0.3, seed=9)
    res = wc.solve(M, W, 3, solver="exact", ridge=0.5, eps=1e-14, max_iter=40, init="random")
    f = np.array([s.penalised for s in res.history])
    assert np.all(np.diff(f) <= 1e-10 * f[:-1])
    assert res.objective == pytest.approx(wc.objective(M, W, res.X, res.Y))


def test_em_objective_never_increases():
    M, W = planted(50, 40, 3, p=0.5, seed=10, graded=True)
    M = M + 0.1 * np.random.default_rng(1).standard_normal(M.shape)
    res = wc.solve(M, W * 7.0, 3, solver="em", eps=1e-14, max_iter=40)
    f = np.array([s.objective for s in res.history])
    assert np.all(np.diff(f) <= 1e-10 * f[:-1])


def test_stop_fit_stalled_and_max_iter_exits():
    M, W = planted()
    fit = wc.solve(M, W, 3, solver="exact", eps=1e-6)
    assert fit.stop_reason == "fit" and fit.converged
    assert fit.relative_objective <= 1e-12
    noisy = M + np.random.default_rng(2).standard_normal(M.shape)
    stalled = wc.solve(noisy, W, 3, solver="exact", eps=1e-3)
    assert stalled.stop_reason == "stalled" and stalled.converged
    f = [s.objective for s in stalled.history]
    assert abs(f[-2] - f[-1]) <= 1e-3 * f[-2]
    with pytest.warns(wc.ConvergenceWarning, match="max_iter=2"):
        capped = wc.solve(noisy, W, 3, solver="exact", eps=1e-12, max_iter=2)
    assert capped.stop_reason == "max_iter reached" and not capped.converged


def test_trivial_zero_matrix_returns_zero_fit():
    W = np.ones((10, 8))
    res = wc.solve(np.zeros((10, 8)), W, 2, solver="sketched")
    assert res.objective == 0 and res.stop_reason == "fit" and len(res.history) == 1
    assert np.allclose(res.low_rank(), 0)


def test_values_near_1e150_do_not_overflow():
    M, W = planted(30, 20, 2, seed=11)
    res = wc.solve(M * 1e150, W, 2, solver="exact", eps=1e-10, max_iter=200)
    assert np.all(np.isfinite(res.X)) and np.all(np.isfinite(res.Y))
    assert np.isfinite(res.objective) and np.isfinite(res.relative_objective)
    assert np.linalg.norm(res.low_rank() / 1e150 - M) / np.linalg.norm(M) < 1e-8


@pytest.mark.parametrize("solver", wc.SOLVERS)
def test_weights_spanning_1e_minus12_to_1e12_stay_finite(solver):
    M, W = planted(30, 20, 2, seed=11)
    W = W * np.exp(np.random.default_rng(3).uniform(np.log(1e-12), np.log(1e12), W.shape))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wc.ConvergenceWarning)
        res = wc.solve(M, W, 2, solver=solver, eps=1e-8, max_iter=30)
    assert np.all(np.isfinite(res.X)) and np.all(np.isfinite(res.Y))
    rel = [s.relative_objective for s in res.history]
    assert np.all(np.isfinite(rel))
    # EM is slow when the weights span 24 orders of magnitude; the others fit within 30 steps
    assert rel[-1] < (0.9 * rel[0] if solver == "em" else 1e-2)


def test_keep_factors_false_keeps_only_the_last():
    M, W = planted()
    res = wc.solve(M, W, 3, solver="cg", max_iter=5, eps=1e-15, keep_factors=False)
    assert all(s.X is None for s in res.history[:-1]) and res.history[-1].X is not None


def test_seed_generator_accepted():
    M, W = planted()
    a = wc.solve(M, W, 3, init="random", seed=np.random.default_rng(3), max_iter=3)
    b = wc.solve(M, W, 3, init="random", seed=np.random.default_rng(3), max_iter=3)
    assert np.array_equal(a.X, b.X)


@pytest.mark.parametrize("sketch", wc.SKETCHES)
@pytest.mark.parametrize("inner", wc.INNER)
def test_every_sketch_and_inner_method_converges(sketch, inner):
    M, W = planted(80, 60, 3, p=0.6, seed=12, graded=True)
    res = wc.solve(M, W, 3, solver="sketched", sketch=sketch, inner=inner, sketch_size=24,
                   eps=1e-9, max_iter=300)
    assert np.linalg.norm(res.low_rank() - M) / np.linalg.norm(M) < 1e-6
    st = res.history[1].inner
    assert st["sketch_size"] == 24 and st["sketch"] == sketch
    assert st["inner_iterations"] > 0


def test_clip_keeps_factors_orthonormal_and_converges():
    M, W = planted(80, 60, 3, p=0.6, seed=13)
    res = wc.solve(M, W, 3, solver="exact", clip=True, eps=1e-9, max_iter=300)
    assert np.allclose(res.X.T @ res.X, np.eye(3), atol=1e-10)
    assert np.linalg.norm(res.low_rank() - M) / np.linalg.norm(M) < 1e-6


def test_sketched_diagnostics_show_preconditioning():
    # heavy-tailed weights make each row's design ill-conditioned; every sketch must bring
    # κ(A_i R⁻¹) down to a small constant
    rng = np.random.default_rng(14)
    n, m, k = 60, 400, 6
    M = rng.standard_normal((n, k)) @ rng.standard_normal((k, m))
    W = rng.pareto(0.5, (n, m))
    for sketch in wc.SKETCHES:
        st = next(wc.iterate(M, W, k, solver="sketched", sketch=sketch, sketch_size=8 * k,
                             eps=1e-10, inner_eps=1e-10, diagnostics=True)).inner
        before, after = st["cond_before"], st["cond_after"]
        assert len(before) == len(after) > 0
        assert np.median(after) < 2.5 < 8 < np.median(before), sketch
        assert np.max(st["forward_error"]) < 1e-5


def test_sparse_large_problem_runs_without_densifying():
    # the acceptance case: 100 000 × 100 000, 2 M observed entries, k = 32 (n·m dense would be 80 GB)
    import tracemalloc
    rng = np.random.default_rng(15)
    n = m = 100_000
    nnz = 2_000_000
    rows = rng.integers(0, n, nnz)
    cols = rng.integers(0, m, nnz)
    W = sp.csr_array((np.ones(nnz), (rows, cols)), shape=(n, m))
    W.data[:] = 1.0
    M = sp.csr_array((rng.standard_normal(W.nnz), W.indices, W.indptr), shape=(n, m))
    tracemalloc.start()
    step = next(wc.iterate(M, W, 32, solver="sketched", init="random", eps=1e-4, diagnostics=False,
                           memory_budget=256 << 20))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert step.X.shape == (n, 32) and np.all(np.isfinite(step.Y))
    # beyond the inputs: the layout and the blocks within the 256 MiB budget, plus factor-sized
    # (n + m)×k arrays (the factors, their warm starts, the step's frozen copies, the init's
    # subspace): about a dozen of them. A dense n×m array alone would be 80 GB.
    factor = (n + m) * 32 * 8
    assert peak < (256 << 20) + 12 * factor


def test_mask_drawn_with_the_solver_seed_does_not_starve_the_sketch():
    # regression: a dropout mask from default_rng(0) and the sketch's own default_rng(0) shared
    # their uniforms, so row-norm sampling kept no entry and the preconditioner overflowed
    rng = np.random.default_rng(0)
    n, m, k = 64, 256, 4
    hidden = np.random.default_rng(0).random((n, m)) < 0.25
    W = (~hidden).astype(float)
    M = (rng.standard_normal((n, k)) @ rng.standard_normal((k, m))) * W
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        steps = list(wc.iterate(M, W, k, solver="sketched", sketch="rownorm", seed=0, eps=1e-8,
                                max_iter=50, diagnostics=True))
    assert steps[-1].stop_reason == "fit"
    assert all(s.inner["weak_sketches"] == 0 for s in steps)
    assert np.median(steps[0].inner["cond_after"]) < 5


def _iterations_to(res, target, rel=1e-8):
    return next((s.iteration for s in res.history if s.objective - target <= rel * target), None)


@pytest.mark.parametrize("n, m, k, p, noise, sparse", [
    (200, 150, 5, 0.5, 1e-2, False),
    (300, 300, 8, 0.3, 1e-2, True),
    (200, 200, 6, 0.5, 0.3, False),
])
@pytest.mark.parametrize("solver", ["sketched", "cg"])
def test_adaptive_inner_eps_reaches_the_exact_objective_in_at_most_ten_percent_more_iterations(
        solver, n, m, k, p, noise, sparse):
    rng = np.random.default_rng(21)
    M = rng.standard_normal((n, k)) @ rng.standard_normal((k, m)) + noise * rng.standard_normal((n, m))
    W = (rng.random((n, m)) < p) * rng.uniform(0.1, 1.0, (n, m))
    W = sp.csr_array(W) if sparse else W
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wc.ConvergenceWarning)
        exact = wc.solve(M, W, k, solver="exact", eps=1e-13, max_iter=300)
        fixed = wc.solve(M, W, k, solver=solver, eps=1e-13, max_iter=300, inner_eps=1e-10)
        adaptive = wc.solve(M, W, k, solver=solver, eps=1e-13, max_iter=300)
    target = exact.objective
    n_exact = _iterations_to(exact, target)
    n_adaptive = _iterations_to(adaptive, target)
    assert n_adaptive is not None and n_adaptive <= math.ceil(1.1 * n_exact), (n_adaptive, n_exact)
    # and it is cheaper: fewer inner iterations than regressions solved to 1e-10 on the way
    inner = lambda res, t: sum(s.inner["inner_iterations"] for s in res.history[:t])
    assert inner(adaptive, n_adaptive) < inner(fixed, _iterations_to(fixed, target))


@pytest.mark.parametrize("sparse", [False, True])
def test_float32_preconditioner_leaves_the_final_accuracy_unchanged(sparse):
    # k ≥ 32: the shared-sample sketch (dense) and the LAPACK factorisation, all in float32; the
    # iterations are float64, so regressions solved to 1e-12 reach exact's objective to round-off
    rng = np.random.default_rng(22)
    n, m, k = 120, 300, 40
    M = rng.standard_normal((n, k)) @ rng.standard_normal((k, m)) + 0.1 * rng.standard_normal((n, m))
    W = (rng.random((n, m)) < 0.8) * rng.uniform(0.1, 1.0, (n, m))
    W = sp.csr_array(W) if sparse else W
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wc.ConvergenceWarning)
        exact = wc.solve(M, W, k, solver="exact", eps=1e-14, max_iter=6)
        sketched = wc.solve(M, W, k, solver="sketched", eps=1e-14, max_iter=6, inner_eps=1e-12,
                            sketch_size=2 * k)
    assert sketched.history[-1].inner["iterative_rows"] > 0
    for a, b in zip(exact.history, sketched.history):
        assert b.objective == pytest.approx(a.objective, rel=1e-10)


def test_auto_records_its_choice_and_reason_and_matches_the_method_it_chose():
    M, W = planted(80, 60, 3, p=0.6, seed=23)
    steps = list(wc.iterate(M, W, 3, solver="auto", eps=1e-10, max_iter=3))
    for step in steps:
        choices, reasons = step.inner["choice"], step.inner["reason"]
        assert len(choices) == len(reasons) == 2              # the X and the Y half-step
        for choice, reason in zip(choices, reasons):
            assert choice in ("exact", "cg", "sketched") and reason.startswith(f"{choice}: predicted")
    # small k: the normal equations are cheapest, and auto is then the exact solver itself
    assert all(c == "exact" for s in steps for c in s.inner["choice"])
    exact = list(wc.iterate(M, W, 3, solver="exact", eps=1e-10, max_iter=3))
    assert [s.objective for s in steps] == [s.objective for s in exact]


def test_auto_cost_model_prefers_iterations_for_long_rows_at_large_k():
    from wlra_core.problem import validate
    from wlra_core.solvers import auto
    rng = np.random.default_rng(24)
    W = (rng.random((50, 4000)) < 0.5) * rng.uniform(0.1, 1.0, (50, 4000))
    side = validate(rng.standard_normal((50, 4000)), W, 40).rows
    well, _ = auto.costs(side, k=256, s=1024, eta=1e-3, kappa=3.0)
    assert min(well, key=well.get) != "exact"
    ill, _ = auto.costs(side, k=256, s=1024, eta=1e-3, kappa=1e4)
    assert min(ill, key=ill.get) == "sketched"                 # cg's iterations grow like κ
    small, _ = auto.costs(side, k=4, s=16, eta=1e-3, kappa=3.0)
    assert min(small, key=small.get) == "exact"


@pytest.mark.parametrize("sparse", [False, True])
def test_auto_cg_trial_counts_the_iterations_from_the_warm_start(sparse):
    """auto's T_cg from a warm start: cg run on a few sampled rows; a start at the solution needs
    none (reported as 1), a start at zero more, never more than max_inner."""
    from dataclasses import replace
    from wlra_core.problem import validate
    from wlra_core.solvers import Options, auto, half_step
    rng = np.random.default_rng(25)
    n, m, k = 40, 90, 5
    W = (rng.random((n, m)) < 0.6) * rng.uniform(0.1, 1.0, (n, m))
    M = rng.standard_normal((n, k)) @ rng.standard_normal((k, m)) + 0.1 * rng.standard_normal((n, m))
    side = validate(M, sp.csr_array(W) if sparse else W, k).rows
    Y = rng.standard_normal((m, k))
    o = Options(solver="exact", eps=1e-10, ridge=0.0, sketch="rownorm", s=4 * k, inner="pcg", max_inner=30,
                budget=1 << 28, diagnostics=False)
    solution, _ = half_step(side, Y, None, o, np.random.default_rng(0))
    at_solution = auto.sampled_cg_iterations(side, Y, solution, o, 1.0)
    from_zero = auto.sampled_cg_iterations(side, Y, np.zeros((n, k)), o, 1.0)
    capped = auto.sampled_cg_iterations(side, Y, np.zeros((n, k)), replace(o, max_inner=2), 1.0)
    assert at_solution == 1.0 and from_zero > 2.0 and capped == 2.0


def _view_and_copy_blocks(monkeypatch, M, W, k):
    """The blocks of each side of (M, W) read through views (as for a large side) and as scaled
    copies, for the same factor Y."""
    from wlra_core import problem as P
    from wlra_core.solvers.layouts import blocks
    prob = P.validate(M, W, k)
    rng = np.random.default_rng(7)
    out = []
    for side in (prob.rows, prob.cols):
        Y = rng.standard_normal((side.shape[1], k))
        copies = list(blocks(side, Y, 1 << 30, 1))
        with monkeypatch.context() as mp:
            mp.setattr(P, "CACHED_ENTRIES", 10)
            assert side.viewable
            views = list(blocks(side, Y, 1 << 30, 1))
        out.append((copies, views))
    return out


def test_blocks_of_views_give_the_designs_and_targets_of_scaled_copies(monkeypatch):
    """Large dense sides are read through read-only views of the caller's arrays, the scales moved
    onto Y and the targets: every quantity the exact solver reads agrees with the scaled copies."""
    rng = np.random.default_rng(3)
    n, m, k = 13, 17, 3
    W = rng.uniform(0.1, 0.8, (n, m)) * (rng.random((n, m)) < 0.6)     # max W ≠ 1
    M = 40.0 * rng.standard_normal((n, m))                              # max |M| ≠ 1
    M0, W0 = M.copy(), W.copy()
    from wlra_core.solvers.layouts import PackedOuter
    for copies, views in _view_and_copy_blocks(monkeypatch, M, W, k):
        for (rc, bc), (rv, bv) in zip(copies, views):
            assert rc == rv and not bv.W.flags.writeable and not bv.M.flags.writeable
            assert np.shares_memory(bv.W, W) and np.shares_memory(bv.M, M)        # no copy
            close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())
            close(bv.rhs(), bc.rhs())
            close(bv.bnorm2(), bc.bnorm2())
            close(bv.trace(), bc.trace())
            close(bv.gram(PackedOuter(bv.Y, 1 << 30)), bc.gram(PackedOuter(bc.Y, 1 << 30)))
            local = np.arange(len(bc.counts))
            for a, b in zip(bv.design(local), bc.design(local)):
                close(a, b)
            close(bv.take(local[::2]).rhs(), bc.take(local[::2]).rhs())
            V = rng.standard_normal((len(local), k))
            close(bv.apply(V), bc.apply(V))
            close(bv.take(local[1::2]).take([0, 2]).apply(V[:2]), bc.take(local[1::2]).take([0, 2]).apply(V[:2]))
            for a, b in zip(bv.take(local[1::2]).take([0, 2]).design(np.arange(2)),
                            bc.take(local[1::2]).take([0, 2]).design(np.arange(2))):
                close(a, b)
    assert np.array_equal(M, M0) and np.array_equal(W, W0)


@pytest.mark.parametrize("solver,k,s,w_scale", [
    ("cg", 3, None, 0.7), ("sketched", 3, 12, 0.7), ("cg", 26, None, 0.7), ("sketched", 26, 60, 0.7),
    ("sketched", 33, 66, 0.7), ("sketched", 3, 12, 1e40), ("sketched", 33, 66, 1e40), ("sketched", 33, 66, 1e-60)])
def test_iterative_solvers_read_a_large_side_through_views_with_the_same_result(monkeypatch, solver, k, s, w_scale):
    """cg and sketched on a large side (views of the caller's arrays, W∘M kept for the run) reach
    the objectives of the scaled copies, through each inner path: the fused kernel (k < 24), the
    BLAS iterations with kept preconditioners (k ≥ 24) and the shared column sample (k ≥ 32),
    also with weights far outside float32's range (the sample's float32 Grams stay in unit
    scale: none falls back to an exact Gram, none overflows)."""
    from wlra_core import problem as P
    M, W = planted(90, 160, k, p=0.7, seed=12, graded=True)
    M, W = 25.0 * M, w_scale * W
    M0, W0 = M.copy(), W.copy()
    opts = dict(solver=solver, max_iter=6, eps=1e-15, inner_eps=1e-13, init="random", seed=3,
                sketch_size=s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wc.ConvergenceWarning)
        ref = wc.solve(M, W, k, **opts)
        monkeypatch.setattr(P, "CACHED_ENTRIES", 10)
        got = wc.solve(M, W, k, **opts)
    assert np.array_equal(M, M0) and np.array_equal(W, W0)
    if solver == "sketched" and k >= 24:
        assert sum(h.inner.reused_rows for h in got.history) > 0
    if solver == "sketched":
        assert sum(h.inner.weak_sketches for h in got.history) == 0
        its = [sum(h.inner.inner_iterations for h in r.history) for r in (got, ref)]
        assert abs(its[0] - its[1]) <= 0.1 * its[1]
    np.testing.assert_allclose([h.objective for h in got.history], [h.objective for h in ref.history], rtol=1e-8)
    np.testing.assert_allclose(got.low_rank(), ref.low_rank(), rtol=0, atol=1e-7 * np.abs(M).max())


def test_a_run_keeps_w_times_m_only_where_it_applies_and_never_at_the_cost_of_sketched_factors(monkeypatch):
    """The plain model of the regression solvers keeps W∘M when it fits in a quarter of the budget;
    not em, not the adjusted sides of bias or count scaling, not a side read as scaled copies, and
    not where it would take the sketched solver's kept preconditioners out of their half."""
    from wlra_core import problem as P
    from wlra_core.solvers import products_bytes, sketched
    rng = np.random.default_rng(5)
    n, m, k = 30, 40, 24
    W = rng.uniform(0.1, 1.0, (n, m))
    M = rng.standard_normal((n, m))
    assert products_bytes(P.validate(M, W, k), "exact", 1 << 30) == 0            # small: copies
    monkeypatch.setattr(P, "CACHED_ENTRIES", 10)
    prob = P.validate(M, W, k)
    kept = 8 * n * m
    assert products_bytes(prob, "exact", 4 * kept) == kept
    assert products_bytes(prob, "exact", 4 * kept - 1) == 0
    assert products_bytes(prob, "em", 1 << 30) == 0 and products_bytes(prob, "cg", 1 << 30, plain=False) == 0
    factors = (n + m) * k * k * 4
    tight = 2 * factors + kept - 1          # the factors fit in half of it, not once W∘M is taken out
    assert sketched.factors_fit(n, m, k, tight) and not sketched.factors_fit(n, m, k, tight - kept)
    assert products_bytes(prob, "sketched", tight) == 0 and products_bytes(prob, "cg", tight) == kept
    assert products_bytes(prob, "sketched", tight + 1) == kept          # both fit: 2·factors + kept
    monkeypatch.setattr(sketched, "RECYCLE", False)                     # no factors kept: nothing to protect
    assert products_bytes(prob, "sketched", tight) == kept
    # the estimate counts the kept bytes
    with_kept = wc.estimate(M, W, k, solver="cg", memory_budget=1 << 30).bytes
    assert wc.estimate(M, W, k, solver="cg", memory_budget=1 << 30, bias=True).bytes == with_kept - kept
    monkeypatch.setattr(P, "CACHED_ENTRIES", 1 << 21)
    assert with_kept == wc.estimate(M, W, k, solver="cg", memory_budget=1 << 30).bytes + kept


def test_estimate_counts_the_preconditioner_factors_sketched_keeps(monkeypatch):
    """A dense "sketched" run with a design at least FUSED_DENSE_K wide keeps (n + m)·width²
    float32 factors across its half-steps (width k, or k + 1 with bias): the estimate's bytes
    include exactly what a run keeps, and nothing where it keeps none."""
    import scipy.sparse as sp
    from wlra_core import problem as P
    from wlra_core.solvers import factors_bytes, sketched
    rng = np.random.default_rng(6)
    n, m, k = 30, 40, 24
    W = rng.uniform(0.1, 1.0, (n, m))
    M = rng.standard_normal((n, m))
    prob = P.validate(M, W, k)
    factors = 4 * (n + m) * k * k
    assert factors_bytes(prob, "sketched", 2 * factors, k) == factors
    assert factors_bytes(prob, "sketched", 2 * factors - 1, k) == 0     # not in half of the budget
    assert factors_bytes(prob, "cg", 1 << 30, k) == 0 and factors_bytes(prob, "auto", 1 << 30, k) == 0
    assert factors_bytes(prob, "sketched", 1 << 30, k - 1) == 0        # fused kernel: none kept
    assert factors_bytes(P.validate(M, sp.csr_matrix(W), k), "sketched", 1 << 30, k) == 0

    kept = {}
    half_step = sketched.half_step

    def recording(side, Y, X0, o, rng_, cache=None):
        out = half_step(side, Y, X0, o, rng_, cache)
        if cache is not None and cache.get("L") is not None:
            kept[id(cache)] = cache["L"].nbytes
        return out

    monkeypatch.setattr(sketched, "half_step", recording)
    for rank, options in ((k, {}), (k - 1, {"bias": True}), (k - 1, {})):
        kept.clear()
        list(wc.iterate(M, W, rank, solver="sketched", max_iter=2, seed=0, **options))
        est = wc.estimate(M, W, rank, solver="sketched", **options).bytes
        with monkeypatch.context() as off:
            off.setattr(sketched, "RECYCLE", False)
            assert est - wc.estimate(M, W, rank, solver="sketched", **options).bytes == sum(kept.values())
        assert sum(kept.values()) == (factors if rank == k or options else 0), options


def test_apply_in_sub_blocks_on_both_memory_orders_matches_the_scaled_copies(monkeypatch):
    """DenseBlock.apply runs in sub-blocks of rows, its intermediate in W's memory order: on the
    rows' views, the columns' (transposed) views and the copies, several sub-blocks each."""
    from wlra_core.solvers import layouts
    rng = np.random.default_rng(8)
    n, m, k = 70, 50, 4
    W = rng.uniform(0.1, 0.9, (n, m)) * (rng.random((n, m)) < 0.7)
    M = 3.0 * rng.standard_normal((n, m))
    monkeypatch.setattr(layouts, "APPLY_CHUNK", 16 * 8)          # 16 rows per sub-block
    for copies, views in _view_and_copy_blocks(monkeypatch, M, W, k):
        for (_, bc), (_, bv) in zip(copies, views):
            assert len(bv.counts) > 3 * 16
            V = rng.standard_normal((len(bv.counts), k))
            ref = np.stack([(bc.W[i] * (bc.Y @ V[i])) @ bc.Y for i in range(len(V))])    # Σ_j w_ij ⟨v_i, y_j⟩ y_j
            np.testing.assert_allclose(bc.apply(V), ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
            np.testing.assert_allclose(bv.apply(V), ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())


def test_kept_products_are_w_times_m_for_both_sides_and_only_within_a_quarter_of_the_budget(monkeypatch):
    """A large dense run keeps W∘M (once: the columns' is its transpose) and Σ W M² per row and per
    column for its right-hand sides, when they fit in a quarter of the budget; the blocks then
    give the same right-hand sides and ‖b_i‖² as without them."""
    from wlra_core import problem as P
    from wlra_core.solvers.layouts import blocks, keep_products, products_fit
    rng = np.random.default_rng(4)
    n, m, k = 15, 11, 3
    W = rng.uniform(0.1, 0.8, (n, m)) * (rng.random((n, m)) < 0.6)
    M = 30.0 * rng.standard_normal((n, m))
    monkeypatch.setattr(P, "CACHED_ENTRIES", 10)
    prob = P.validate(M, W, k)
    sides = ((prob.rows, rng.standard_normal((m, k))), (prob.cols, rng.standard_normal((n, k))))
    plain = [[(blk.rhs(), blk.bnorm2()) for _, blk in blocks(side, Y, 1 << 30, 1)] for side, Y in sides]
    assert not products_fit(prob, 4 * 8 * n * m - 1) and products_fit(prob, 4 * 8 * n * m)
    assert prob.rows.products(slice(0, 2)) is None
    assert keep_products(prob) == 8 * n * m
    WM, by_row = prob.rows.products(slice(None))
    WMt, by_col = prob.cols.products(slice(None))
    np.testing.assert_array_equal(WM, W * M)
    assert np.shares_memory(WM, WMt) and not WM.flags.writeable
    np.testing.assert_allclose(by_row, (W * M * M).sum(axis=1), rtol=1e-13)
    np.testing.assert_allclose(by_col, (W * M * M).sum(axis=0), rtol=1e-13)
    for (side, Y), ref in zip(sides, plain):
        for (_, blk), (rhs, bn2) in zip(blocks(side, Y, 1 << 30, 1), ref):
            assert blk.kept is not None
            np.testing.assert_allclose(blk.rhs(), rhs, rtol=1e-12, atol=1e-12 * np.abs(rhs).max())
            np.testing.assert_allclose(blk.bnorm2(), bn2, rtol=1e-12)
    assert np.array_equal(M * W, WM)


def test_exact_reads_a_large_side_through_views_with_the_same_result(monkeypatch):
    from wlra_core import problem as P
    M, W = planted(60, 50, 3, p=0.5, seed=11, graded=True)
    M = 25.0 * M
    W = 0.7 * W
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wc.ConvergenceWarning)
        ref = wc.solve(M, W, 3, solver="exact", max_iter=6, eps=1e-15, init="random")
    warnings.simplefilter("ignore", wc.ConvergenceWarning)      # (pytest restores the filters)
    monkeypatch.setattr(P, "CACHED_ENTRIES", 10)
    got = wc.solve(M, W, 3, solver="exact", max_iter=6, eps=1e-15, init="random")
    f_ref = [s.objective for s in ref.history]
    np.testing.assert_allclose([s.objective for s in got.history], f_ref, rtol=1e-9)
    np.testing.assert_allclose(got.low_rank(), ref.low_rank(), rtol=0, atol=1e-9 * np.abs(M).max())
    # values or weights near the float range's ends: scaled copies (W·M² unscaled would overflow)
    assert not P.validate(M * 1e200, W, 3).rows.viewable and not P.validate(M, W * 1e-150, 3).rows.viewable
    # NaN where W = 0 (a placeholder): masked scaled copies, the result of those entries zero (views)
    Mnan = np.where(W > 0, M, np.nan)
    assert not P.validate(Mnan, W, 3).rows.viewable
    nan = wc.solve(Mnan, W, 3, solver="exact", max_iter=6, eps=1e-15, init="random")
    zero = wc.solve(np.where(W > 0, M, 0.0), W, 3, solver="exact", max_iter=6, eps=1e-15, init="random")
    np.testing.assert_allclose(nan.low_rank(), zero.low_rank(), rtol=0, atol=1e-9 * np.abs(M).max())
