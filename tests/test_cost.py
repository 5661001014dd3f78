"""wc.estimate (issue 12, finding 9): the flop counts follow the cost model in
wlra_core/cost.py's docstring exactly; seconds are flops / RATE. Never timed: the model is what is tested."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

import wlra_core as wc
from wlra_core import cost
from wlra_core.__main__ import main


def dense(n=120, m=90, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, m)), np.ones((n, m))


def T_sketched(eta):
    return 1.5 * math.log(2 / eta)


def test_estimate_is_exported_with_its_record():
    assert wc.estimate is cost.estimate and "estimate" in wc.__all__
    e = wc.estimate(*dense(), 4, solver="exact")
    assert isinstance(e, wc.Estimate)
    with pytest.raises(AttributeError):
        e.k = 5                                   # frozen


@pytest.mark.parametrize("k", [2, 4, 8])
def test_exact_costs_m_k_squared_per_row_plus_k_cubed_over_3(k):
    n, m = 120, 90
    e = wc.estimate(*dense(n, m), k, solver="exact")
    assert e.flops["gram"] == pytest.approx(n * m * k * k + m * n * k * k)     # both half-steps
    assert e.flops["factor"] == pytest.approx((n + m) * k ** 3 / 3)
    assert e.flops["inner"] == 0 and e.flops["objective"] == pytest.approx(2 * n * m * k)
    assert e.seconds == pytest.approx(e.total_flops / cost.RATE) and e.rate == cost.RATE == 2e10


def test_exact_gram_flops_grow_like_k_squared_and_the_inner_iterations_of_sketched_like_k():
    M, W = dense(200, 180)
    ex = [wc.estimate(M, W, k, solver="exact").flops["gram"] for k in (5, 10, 20)]
    assert ex[1] / ex[0] == pytest.approx(4) and ex[2] / ex[1] == pytest.approx(4)
    sk = [wc.estimate(M, W, k, solver="sketched", sketch_size=40).flops["inner"] for k in (5, 10, 20)]
    assert sk[1] / sk[0] == pytest.approx(2) and sk[2] / sk[1] == pytest.approx(2)


@pytest.mark.parametrize("inner_eps, eta", [("adaptive", 1e-3), (1e-6, 1e-6)])
def test_sketched_costs_s_k_squared_plus_4_T_m_k_per_long_row(inner_eps, eta):
    n, m, k, s = 150, 100, 5, 20
    e = wc.estimate(*dense(n, m), k, solver="sketched", sketch_size=s, inner_eps=inner_eps)
    T = T_sketched(eta)
    assert e.inner_iterations["sketched"] == pytest.approx(T)
    assert e.flops["gram"] == pytest.approx((n + m) * s * k * k)
    assert e.flops["inner"] == pytest.approx(4 * T * (n * m + m * n) * k)
    assert e.flops["factor"] == pytest.approx((n + m) * k ** 3 / 3)


def test_sketched_solves_rows_no_longer_than_s_exactly_in_the_model_too():
    rng = np.random.default_rng(3)
    n, m, k, s = 60, 50, 3, 12
    W = sp.csr_array((rng.random((n, m)) < 0.3).astype(float))
    e = wc.estimate(rng.standard_normal((n, m)), W, k, solver="sketched", sketch_size=s)
    T = e.inner_iterations["sketched"]
    gram = inner = 0.0
    for counts in (W.count_nonzero(axis=1), W.count_nonzero(axis=0)):
        long = counts > s
        gram += (long.sum() * s + counts[~long].sum()) * k * k
        inner += 4 * T * counts[long].sum() * k
    assert e.nnz == W.nnz and not e.dense and e.rate == cost.RATE_SPARSE
    assert e.flops["gram"] == pytest.approx(gram) and e.flops["inner"] == pytest.approx(inner)


def test_cg_costs_4_T_m_k_per_row():
    n, m, k = 100, 80, 4
    e = wc.estimate(*dense(n, m), k, solver="cg", inner_eps=1e-4)
    T = e.inner_iterations["cg"]
    assert 1 <= T <= 100
    assert e.flops["inner"] == pytest.approx(4 * T * 2 * n * m * k)
    assert e.flops["gram"] == 0 and e.flops["factor"] == 0


def test_auto_costs_the_cheapest_of_the_three_on_each_side():
    M, W = dense(150, 120)
    k = 6
    each = {s: wc.estimate(M, W, k, solver=s).total_flops for s in ("exact", "sketched", "cg")}
    auto = wc.estimate(M, W, k, solver="auto").total_flops
    assert auto <= min(each.values()) * (1 + 1e-12)


def test_em_costs_a_dense_svd_for_small_problems():
    n, m, k = 70, 50, 3
    e = wc.estimate(*dense(n, m), k, solver="em")
    assert e.flops["svd"] == pytest.approx(4 * n * m * min(n, m)) and e.flops["gram"] == 0


@pytest.mark.parametrize("bad, message", [
    ({"solver": "als"}, "solver"),
    ({"eps": 0}, "eps"),
    ({"memory_budget": 10}, "memory_budget"),
])
def test_estimate_refuses_what_solve_refuses_with_the_same_message(bad, message):
    M, W = dense()
    with pytest.raises(wc.InputError, match=message) as a:
        wc.solve(M, W, 3, **bad)
    with pytest.raises(wc.InputError) as b:
        wc.estimate(M, W, 3, **bad)
    assert str(a.value) == str(b.value)


def test_estimate_refuses_an_unknown_keyword_naming_itself():
    M, W = dense()
    with pytest.raises(wc.InputError, match=r"^estimate: .*unexpected keyword argument 'bogus'"):
        wc.estimate(M, W, 3, bogus=1)


def test_the_estimate_names_its_parts_and_the_advice_names_the_ways_to_make_it_smaller():
    e = wc.estimate(*dense(), 40, solver="exact")
    text = str(e)
    assert text.startswith("one iteration of exact on a 120×90 problem, k = 40, 10,800 weighted entries")
    assert "gram" in text and "flop/s" in text
    advice = e.advice()
    assert "smaller rank k" in advice and "sparse weights" in advice and 'solver="sketched"' in advice


def test_the_cli_prints_the_estimate_before_a_long_run_only(monkeypatch, capsys):
    args = ["--planted", "40", "30", "2", "--p", "0.7", "--solver", "exact", "--max-iter", "2"]
    assert main(args) == 0
    assert "estimate:" not in capsys.readouterr().out        # microseconds: nothing to announce
    monkeypatch.setattr(cost, "LONG_SECONDS", 0.0)
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    line = next(i for i, text in enumerate(out) if text.startswith("estimate: one iteration of exact on a 40×30"))
    assert "To make it faster: a smaller rank k" in out[line]
    assert not any(text.split()[:1] == ["1"] for text in out[:line])    # before the first iteration
