"""wlra_core.alternating: the loop itself — its stopping rule, the adaptive inner tolerance, the
warm start, the solvers' own random stream, and iterate as solve's lazy twin."""
import warnings

import numpy as np
import pytest

import wlra_core as wc
from wlra_core import alternating as alt
from wlra_core.records import StopReason


def test_fit_stops_as_soon_as_the_residual_is_below_eps(planted):
    M, W = planted(40, 30, 2, p=1.0, seed=1)           # exactly rank 2, fully observed
    res = wc.solve(M, W, 2, solver="exact", eps=1e-6)
    assert res.stop_reason is StopReason.FIT and res.converged
    assert res.relative_objective <= 1e-12
    assert all(s.relative_objective > 1e-12 for s in res.history[:-1])


def test_stalled_when_the_objective_no_longer_moves(planted_noisy):
    M, W = planted_noisy(40, 30, seed=2)                # noise: no exact fit, the loop levels off
    res = wc.solve(M, W, 3, solver="exact", eps=1e-4, max_iter=500)
    f = [s.objective for s in res.history]
    assert res.stop_reason is StopReason.STALLED
    assert abs(f[-2] - f[-1]) <= 1e-4 * f[-2]
    assert all(abs(a - b) > 1e-4 * a for a, b in zip(f[:-2], f[1:-1]))


def test_max_iter_is_a_stop_reason_and_a_warning(planted_noisy):
    M, W = planted_noisy(seed=3)
    with pytest.warns(wc.ConvergenceWarning, match="max_iter=3"):
        res = wc.solve(M, W, 3, solver="exact", eps=1e-15, max_iter=3)
    assert res.stop_reason is StopReason.MAX_ITER and not res.converged and len(res.history) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")               # iterate never warns: its caller sees the reason
        steps = list(wc.iterate(M, W, 3, solver="exact", eps=1e-15, max_iter=3))
    assert [s.stop_reason for s in steps] == [None, None, StopReason.MAX_ITER]


def test_iterate_yields_what_solve_keeps(planted_noisy):
    M, W = planted_noisy(seed=4)
    res = wc.solve(M, W, 3, solver="sketched", eps=1e-6)
    steps = list(wc.iterate(M, W, 3, solver="sketched", eps=1e-6))
    assert [s.objective for s in steps] == [s.objective for s in res.history]
    assert np.array_equal(steps[-1].X, res.X) and np.array_equal(steps[-1].Y, res.Y)


def test_adaptive_inner_tolerance_starts_at_its_cap_and_follows_the_progress(planted_noisy):
    M, W = planted_noisy(60, 40, seed=5)
    res = wc.solve(M, W, 3, solver="sketched", eps=1e-8, max_iter=40)
    eta = [s.inner.inner_eps for s in res.history]
    assert eta[0] == alt.ETA_MAX
    assert all(0 < e <= alt.ETA_MAX for e in eta)
    assert eta[-1] < eta[0]                             # tightened as the decrease shrank
    with pytest.warns(wc.ConvergenceWarning):
        fixed = wc.solve(M, W, 3, solver="sketched", eps=1e-8, max_iter=5, inner_eps=1e-5)
    assert {s.inner.inner_eps for s in fixed.history} == {1e-5}


def test_the_warm_start_expresses_the_old_model_on_the_new_factor(rng):
    Xt, Y_prev = rng.standard_normal((20, 3)), rng.standard_normal((15, 3))
    Y = np.linalg.qr(rng.standard_normal((15, 3)))[0]
    X0 = alt._warm(Xt, Y_prev, Y)
    # X0 Yᵀ is the projection of the old model X̃ Y_prevᵀ on the span of Y
    assert np.allclose(X0 @ Y.T, Xt @ Y_prev.T @ Y @ Y.T)
    assert alt._warm(Xt, Y, Y) is Xt and alt._warm(None, Y_prev, Y) is None


def test_the_solvers_stream_is_not_the_callers(rng):
    """Data drawn with default_rng(seed) and the sketches of seed must not share their uniforms."""
    assert not np.array_equal(alt.solver_rng(0).random(8), np.random.default_rng(0).random(8))
    assert np.array_equal(alt.solver_rng(7).random(8), alt.solver_rng(7).random(8))


def test_changing_m_in_place_during_iterate_is_refused(planted):
    M, W = planted(seed=6)
    M = M.copy()
    steps = wc.iterate(M, W, 3, solver="exact", eps=1e-15, max_iter=5)
    next(steps)
    M[0, 0] += 1.0
    with pytest.raises(wc.InputError, match="changed in place"):
        next(steps)
