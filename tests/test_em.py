"""wlra_core.solvers.em (through the loop): the EM step of Srebro–Jaakkola."""
import numpy as np
import pytest
import scipy.sparse as sp

import wlra_core as wc
from wlra_core.problem import validate
from wlra_core.solvers.em import em_step


# At these sizes (min(n, m) ≤ SVD_RATIO·k) the M-step is the exact truncated SVD; larger ones take
# one subspace sweep instead (tests/test_em_model.py checks that it reaches the same fixed point).

def test_with_every_entry_observed_one_step_is_the_truncated_svd(rng):
    M = rng.standard_normal((30, 10))
    W = np.ones_like(M)
    prob = validate(M, W, 3)
    X0, Y0 = rng.standard_normal((30, 3)), np.linalg.qr(rng.standard_normal((10, 3)))[0]
    X, Yt = em_step(prob, X0, Y0)               # filled matrix = M wherever W = 1
    u, s, vt = np.linalg.svd(M / prob.m_scale)
    best = (u[:, :3] * s[:3]) @ vt[:3]
    assert np.allclose(X @ Yt.T, best, atol=1e-10)
    assert np.allclose(X.T @ X, np.eye(3), atol=1e-12)


def test_one_step_fills_the_unobserved_entries_from_the_model(rng):
    """EM's E-step: observed entries from M, unobserved from X Yᵀ; the M-step is the SVD of that."""
    M = rng.standard_normal((12, 10))
    W = (rng.random((12, 10)) < 0.6).astype(float)
    prob = validate(M, W, 3)
    X0, Y0 = rng.standard_normal((12, 3)), rng.standard_normal((10, 3))
    X, Yt = em_step(prob, X0, Y0)
    F = np.where(W > 0, M / prob.m_scale, X0 @ Y0.T)
    u, s, vt = np.linalg.svd(F)
    assert np.allclose(X @ Yt.T, (u[:, :3] * s[:3]) @ vt[:3], atol=1e-10)


@pytest.mark.parametrize("layout", ["dense", "sparse"])
def test_em_completes_a_planted_low_rank_matrix(planted, layout):
    M, W = planted(60, 40, 2, p=0.6, seed=7)
    Wl = sp.csr_array(W) if layout == "sparse" else W
    res = wc.solve(M, Wl, 2, solver="em", eps=1e-8, max_iter=2000)
    assert res.converged
    assert np.linalg.norm(res.low_rank() - M) / np.linalg.norm(M) < 1e-3      # the unobserved entries too
    assert isinstance(res.history[-1].inner, wc.EMStats)
