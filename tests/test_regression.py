"""The half-step solvers against a slow, readable per-row reference (STYLE.md §5)."""
import numpy as np
import pytest
import scipy.sparse as sp

from wlra_core.problem import validate
from wlra_core.sketches import SKETCHES, sketch_gram
from wlra_core.solvers import Options, half_step
from wlra_core.solvers.reference import half_step as reference_half_step


def problem(n=50, m=40, k=4, p=0.5, seed=0):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, m))
    W = (rng.random((n, m)) < p) * rng.uniform(0.1, 2.0, (n, m))
    W[0] = 0                          # empty row
    W[1] = 0
    W[1, :2] = 1.0                    # fewer non-zeros than k
    Y = np.linalg.qr(rng.standard_normal((m, k)))[0]
    return M, W, Y


def opts(solver, eps=1e-12, ridge=0.0, sketch="rownorm", s=16, budget=1 << 30, inner="pcg"):
    return Options(solver=solver, eps=eps, ridge=ridge, sketch=sketch, s=s, inner=inner, max_inner=200,
                   budget=budget, diagnostics=True)


def run(M, W, Y, o, sparse=False, X0=None):
    prob = validate(M, sp.csr_array(W) if sparse else W, Y.shape[1])
    # validate scales M and W to max 1; undo it to compare with the reference
    X, stats = half_step(prob.rows, Y, X0, o, np.random.default_rng(0))
    return X * prob.m_scale, stats, prob


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("ridge", [0.0, 0.3])
@pytest.mark.parametrize("solver", ["exact", "sketched", "cg"])
def test_half_step_matches_the_per_row_reference(solver, ridge, sparse):
    M, W, Y = problem()
    # half_step works on the scaled problem (M / m_scale, W / w_scale), with the ridge as given
    X, stats, prob = run(M, W, Y, opts(solver, ridge=ridge), sparse)
    Xr = reference_half_step(M / prob.m_scale, W / prob.w_scale, Y, ridge) * prob.m_scale
    assert np.allclose(X, Xr, atol=1e-8 * np.abs(Xr).max())
    assert np.all(X[0] == 0)                              # the empty row gets 0


@pytest.mark.parametrize("ridge", [0.0, 0.3])
@pytest.mark.parametrize("solver,k", [("exact", 66), ("sketched", 30), ("cg", 30), ("sketched", 12)])
def test_half_step_matches_the_reference_on_every_dense_path(solver, k, ridge):
    """The dense paths that k selects: exact's packed Grams with LAPACK per row (k ≥ LAPACK_K),
    the iterative solvers' block products (k ≥ FUSED_DENSE_K) and their fused per-row kernel."""
    M, W, Y = problem(n=k + 4, m=4 * k, k=k, p=0.6, seed=2)
    X, stats, prob = run(M, W, Y, opts(solver, ridge=ridge, s=2 * k), False)
    Xr = reference_half_step(M / prob.m_scale, W / prob.w_scale, Y, ridge) * prob.m_scale
    assert np.allclose(X, Xr, atol=1e-8 * np.abs(Xr).max())
    assert np.all(X[0] == 0)


@pytest.mark.parametrize("sketch", SKETCHES)
@pytest.mark.parametrize("eps", [1e-4, 1e-8])
def test_sketched_regressions_reach_the_requested_accuracy(sketch, eps):
    M, W, Y = problem(n=40, m=300, k=6, p=0.7, seed=1)
    prob = validate(M, W, 6)
    Xe, _ = half_step(prob.rows, Y, None, opts("exact"), np.random.default_rng(0))
    Xs, st = half_step(prob.rows, Y, None, opts("sketched", eps=eps, sketch=sketch, s=24),
                       np.random.default_rng(0))
    Ws, Ms = prob.rows.block(slice(None))
    # the stopping rule bounds the fitted-value error ‖A_i(x − x*)‖ by about eps·‖b_i‖
    for i in range(2, 40):
        sw = np.sqrt(Ws[i])
        err = np.linalg.norm(sw * (Y @ (Xs[i] - Xe[i])))
        bnorm = np.linalg.norm(sw * Ms[i])
        assert err <= 3 * eps * bnorm
    assert st["residual"] <= eps
    assert st["exact_rows"] == 2 and st["iterative_rows"] == 38


def test_warm_start_at_the_solution_needs_no_iteration():
    M, W, Y = problem(n=30, m=200, k=5, p=0.8, seed=2)
    prob = validate(M, W, 5)
    Xe, _ = half_step(prob.rows, Y, None, opts("exact"), np.random.default_rng(0))
    _, st = half_step(prob.rows, Y, Xe, opts("sketched", eps=1e-6, s=20), np.random.default_rng(0))
    assert st["inner_iterations_max"] <= 1


@pytest.mark.parametrize("solver", ["exact", "sketched", "cg"])
@pytest.mark.parametrize("sparse", [False, True])
def test_a_tiny_memory_budget_gives_the_same_answer(solver, sparse):
    M, W, Y = problem(n=120, m=90, k=5, seed=3)
    big, _, _ = run(M, W, Y, opts(solver, budget=1 << 30), sparse)
    small, _, _ = run(M, W, Y, opts(solver, budget=1 << 20), sparse)
    assert np.allclose(big, small, atol=1e-9 * np.abs(big).max())


def test_exact_dense_gram_uses_column_chunks_under_a_small_budget():
    from wlra_core.solvers.layouts import PackedOuter
    rng = np.random.default_rng(4)
    Y = rng.standard_normal((500, 40))
    packed = PackedOuter(Y, 1 << 20)
    assert len(packed.slices) > 1
    full = np.concatenate([c for _, c in packed.chunks()], axis=1)
    i, j = packed.iu[17], packed.ju[17]
    assert np.allclose(full[:, 17], Y[:, i] * Y[:, j])


@pytest.mark.parametrize("sketch", SKETCHES)
def test_sketched_gram_is_unbiased_in_the_mean(sketch):
    rng = np.random.default_rng(5)
    N, k, s = 200, 3, 30
    Y = np.linalg.qr(rng.standard_normal((N, k)))[0]
    w = rng.uniform(0.2, 1.0, (1, N))
    exact = (Y * w[0][:, None]).T @ Y
    mean = np.mean([sketch_gram(sketch, s, Y, None, w, np.random.default_rng(t))[0] for t in range(400)],
                   axis=0)
    assert np.linalg.norm(mean - exact) / np.linalg.norm(exact) < 0.05


@pytest.mark.parametrize("solver", ["exact", "sketched", "cg"])
def test_large_k_paths_match_the_reference(solver):
    # k ≥ 32 takes the syrk Grams and the triangular-inverse preconditioner
    M, W, Y = problem(n=60, m=400, k=40, p=0.6, seed=7)
    X, _, prob = run(M, W, Y, opts(solver, s=160), sparse=False)
    Xr = reference_half_step(M / prob.m_scale, W / prob.w_scale, Y) * prob.m_scale
    assert np.allclose(X[2:], Xr[2:], atol=1e-7 * np.abs(Xr).max())
    Xs, _, _ = run(M, W, Y, opts(solver, s=160), sparse=True)
    assert np.allclose(Xs[2:], Xr[2:], atol=1e-7 * np.abs(Xr).max())
