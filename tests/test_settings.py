"""wlra_core.settings: the keywords of solve and iterate defined once (RunOptions), and prepare,
which checks every option before any work and refuses one the chosen solver would not use."""
from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pytest

import wlra_core as wc
from wlra_core import settings
from wlra_core.problem import InputError
from wlra_core.settings import OPTION_SOLVERS, RunOptions, prepare, run_options, scaled_ridge

M = np.arange(12.0).reshape(4, 3) + 1.0
W = np.ones((4, 3))


def test_run_options_takes_every_keyword_and_refuses_an_unknown_one_as_python_does():
    assert run_options("solve", {"eps": 1e-3}) == RunOptions(eps=1e-3)
    with pytest.raises(TypeError, match=r"^solve\(\) got an unexpected keyword argument 'tolerance'$"):
        run_options("solve", {"tolerance": 1e-3})


def test_the_signature_is_m_w_k_then_every_option_keyword_only_with_its_default():
    sig = settings.signature()
    assert list(sig.parameters)[:3] == ["M", "W", "k"]
    for field in dataclasses.fields(RunOptions):
        param = sig.parameters[field.name]
        assert param.kind is inspect.Parameter.KEYWORD_ONLY and param.default == field.default
    assert list(inspect.signature(wc.iterate).parameters) == list(sig.parameters)


def test_prepare_fills_in_the_defaults():
    ready = prepare(M, W, 2, RunOptions())
    assert ready.settings["sketch"] == settings.DEFAULT_SKETCH and ready.settings["sketch_size"] == 8
    assert ready.settings["max_inner"] == 100 and ready.held is None and ready.inner_eps == "adaptive"
    assert ready.max_iter == 100 and ready.init == "svd" and ready.clip is False


@pytest.mark.parametrize("bad, message", [
    (dict(solver="newton"), "solver"),
    (dict(eps=0.0), "eps"),
    (dict(eps=1.0), "eps"),
    (dict(inner_eps="fixed"), r"inner_eps: found 'fixed', need 'adaptive' or a number in \(0, 1\)"),
    (dict(inner_eps=1e-3, solver="exact"), "inner_eps: found 0.001 with solver='exact'"),
    (dict(inner_eps=1e-3, solver="em"), "inner_eps: found 0.001 with solver='em'"),
    (dict(max_iter=0), "max_iter"),
    (dict(init="zeros"), "init"),
    (dict(ridge=-1.0), "ridge"),
    (dict(clip="yes"), "clip: found 'yes', need True or False"),
    (dict(clip=True, ridge=0.5), "clip: found clip=True with ridge=0.5"),
    (dict(bias=1), "bias: found 1, need True or False"),
    (dict(ridge_scaling="rows"), "ridge_scaling"),
    (dict(ridge_scaling="count"), "ridge_scaling: found 'count' with ridge=0"),
    (dict(ridge_scaling="count", ridge=0.1, solver="em"), "ridge_scaling: found 'count' with solver='em'"),
    (dict(seed=-1), "seed"),
    (dict(sketch="fourier"), "sketch"),
    (dict(inner="newton"), "inner"),
    (dict(max_inner=0), "max_inner"),
    (dict(memory_budget=1000), "memory_budget"),
    (dict(max_entries=0), "max_entries"),
    (dict(holdout=1.0), "holdout"),
    (dict(sketch_size=1), r"sketch_size.*at least k = 2"),
    (dict(sketch_size=2, bias=True), r"sketch_size.*at least k \+ 1 = 3"),
])
def test_prepare_refuses_each_bad_option_naming_it(bad, message):
    with pytest.raises(InputError, match=message):
        prepare(M, W, 2, RunOptions(**bad))


@pytest.mark.parametrize("name, value", [("sketch", "gaussian"), ("inner", "gd"), ("max_inner", 5),
                                         ("sketch_size", 8), ("inner_eps", 1e-3), ("diagnostics", True)])
def test_a_solver_specific_option_is_refused_by_exactly_the_solvers_that_do_not_use_it(name, value):
    for solver in settings.SOLVERS:
        options = RunOptions(solver=solver, **{name: value})
        if solver in OPTION_SOLVERS[name]:
            prepare(M, W, 2, options)
        else:
            with pytest.raises(InputError, match=rf"{name}: found .* with solver='{solver}'"):
                prepare(M, W, 2, options)


def test_scaled_ridge_is_zero_for_zero_positive_when_tiny_and_capped_when_huge():
    prob = prepare(M, W, 2, RunOptions()).prob
    assert scaled_ridge(0.0, prob) == 0.0
    assert scaled_ridge(1.0, prob) == pytest.approx(1.0 / prob.w_scale / prob.m_scale)
    assert scaled_ridge(1e-320, prob) > 0
    assert scaled_ridge(1e308, prob) <= settings.RIDGE_CAP
