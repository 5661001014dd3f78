"""Nothing silently ignored (issue 10, item 5): every keyword of solve and iterate, with every
solver, either changes what the run reports or is refused with an InputError.

The walk reads the keywords from the signatures, so a new keyword without a case here fails.
"What the run reports": the objectives, held-out errors, stop reasons, the factors kept in the
history, the final estimate and the solver statistics (times excluded). Two kinds of keywords are
limits rather than choices: `memory_budget` and `max_entries` must NOT change the result (a limit
the problem fits in is invisible) and must refuse a problem above them; they are walked that way."""
import dataclasses
import inspect
import warnings

import numpy as np
import pytest

import wlra_core as wc
import wlra_core.alternating as alt
import wlra_core.solvers.auto as auto

SOLVERS = ("exact", "sketched", "cg", "em", "auto")


def problem(coherent=False):
    rng = np.random.default_rng(0)
    n, m, k = (200, 30, 3) if coherent else (40, 30, 3)
    M = rng.standard_normal((n, k)) @ rng.standard_normal((k, m)) + 0.3 * rng.standard_normal((n, m))
    if coherent:        # one row carries its own direction: LLR16's clipping bites (init.clip)
        M[0] += 20 * rng.standard_normal(m)
    W = np.where(rng.random((n, m)) < 0.6, rng.uniform(0.5, 2.0, (n, m)), 0.0)
    return M, W, k


# keyword: (non-default value, context keywords under which the option has something to act on)
CASES = {
    "solver": None,                               # the axis of the walk
    "eps": (1e-2, dict(max_iter=60)),
    "max_iter": (2, {}),
    "init": ("random", {}),
    "ridge": (0.5, {}),
    "clip": (True, dict(coherent=True)),
    "seed": (5, dict(init="random")),             # the seed drives random starts, sketches, holdout
    "sketch": ("srht", {}),
    "sketch_size": (5, {}),
    "inner": ("gd", {}),
    "max_inner": (1, {}),
    "memory_budget": None,                        # a limit: test_limits_never_change_the_result
    "diagnostics": (True, {}),
    "keep_factors": (False, {}),
    "max_entries": None,                          # a limit: test_limits_never_change_the_result
    "inner_eps": (0.5, {}),
    "holdout": (0.2, {}),
    "bias": (True, {}),
    "ridge_scaling": ("count", dict(ridge=0.5)),
}


def report(res):
    """Everything a run reports, times excluded."""
    steps = [(s.iteration, s.objective, s.penalised, s.holdout_rmse, s.is_best, s.stop_reason,
              s.X is None, s.mean,
              repr({key: (v.tolist() if isinstance(v, np.ndarray) else v)
                    for key, v in s.inner.items() if "seconds" not in key}))
             for s in res.history]
    return steps, res.low_rank().tobytes()


def run(fn, **kw):
    coherent = kw.pop("coherent", False)
    M, W, k = problem(coherent)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wc.ConvergenceWarning)
        if fn == "iterate":
            steps = list(wc.iterate(M, W, k, **kw))
            return report(_as_result(steps))
        return report(wc.solve(M, W, k, **kw))


def _as_result(steps):
    last = steps[-1]
    return type("R", (), dict(history=steps, low_rank=lambda self: last.low_rank()))()


@pytest.fixture
def auto_prefers_sketched(monkeypatch):
    """auto forwards the sketched solver's options to its sketched choice; at test sizes its cost
    model picks exact, so the walk makes it predict sketched cheapest to see them act."""
    costs = auto.costs

    def patched(*args, **kwargs):
        predicted, T = costs(*args, **kwargs)
        return dict(predicted, sketched=0.0), T

    monkeypatch.setattr(auto, "costs", patched)


KEYWORDS = [name for name in inspect.signature(wc.solve).parameters if name not in ("M", "W", "k")]
ITERATE_KEYWORDS = [n for n in inspect.signature(wc.iterate).parameters if n not in ("M", "W", "k")]


def test_every_keyword_has_a_case():
    assert set(KEYWORDS) == set(CASES)
    # iterate takes solve's keywords but keep_factors, which only a kept history has a use for
    assert ITERATE_KEYWORDS + ["keep_factors"] == KEYWORDS
    assert ITERATE_KEYWORDS == [f.name for f in dataclasses.fields(wc.RunOptions)]


@pytest.mark.parametrize("fn, name", [("solve", n) for n in KEYWORDS if CASES[n] is not None]
                         + [("iterate", n) for n in ITERATE_KEYWORDS if CASES[n] is not None])
@pytest.mark.parametrize("solver", SOLVERS)
def test_each_option_changes_the_result_or_is_refused(name, solver, fn, auto_prefers_sketched):
    value, context = CASES[name]
    base_kw = {"solver": solver, "max_iter": 6, **context}
    if name == "max_iter":
        base_kw.pop("max_iter")
    try:
        changed = run(fn, **base_kw, **{name: value})
    except wc.InputError as exc:
        assert name.split("_")[0] in str(exc).split(":")[0], f"{name} refused by {exc}"
        return
    assert changed != run(fn, **base_kw), f"{name}={value!r} with solver={solver!r} changed nothing"


@pytest.mark.parametrize("solver", SOLVERS)
def test_limits_never_change_the_result_and_refuse_what_exceeds_them(solver):
    M, W, k = problem()
    base = run("solve", solver=solver, max_iter=4)
    assert run("solve", solver=solver, max_iter=4, memory_budget=1 << 21) == base
    assert run("solve", solver=solver, max_iter=4, max_entries=M.size) == base
    with pytest.raises(wc.InputError, match="max_entries"):
        wc.solve(M, W, k, solver=solver, max_entries=M.size - 1)
    with pytest.raises(wc.InputError, match="memory_budget"):
        wc.solve(M, W, k, solver=solver, memory_budget=1 << 19)


def test_iterate_has_no_inert_keep_factors_and_solve_refuses_non_booleans():
    M, W, k = problem()
    with pytest.raises(TypeError, match="iterate\\(\\) got an unexpected keyword argument 'keep_factors'"):
        wc.iterate(M, W, k, keep_factors=False)
    with pytest.raises(TypeError, match="solve\\(\\) got an unexpected keyword argument 'tolerance'"):
        wc.solve(M, W, k, tolerance=1e-3)
    with pytest.raises(wc.InputError, match="keep_factors: found 'no'"):
        wc.solve(M, W, k, keep_factors="no")
