"""The cost guard: a Step runs one iteration of every selected solver in the page's own run, which
freezes the page (Pause included) until it ends, so a Step predicted above REFUSE_SECONDS is
refused before it starts and one above WARN_SECONDS is announced."""
from __future__ import annotations

from ui.models.lab.measurements import _secs


REFUSE_SECONDS = 3.0
WARN_SECONDS = 1.0
_COSTS: dict = {}            # key → StepCost; the estimate validates M and W, so not on every rerun
_COSTS_KEPT = 64


class StepCost:
    """The predicted seconds of one Step (every selected solver), and what to tell the user."""

    def __init__(self, seconds: float, per_solver: dict, message: str | None, refused: bool):
        self.seconds, self.per_solver, self.message, self.refused = seconds, per_solver, message, refused


def step_cost(M, W, k: int, solvers, options: dict, key=None, estimate=None) -> StepCost:
    """wlra_core.estimate for each solver of a Step, summed, with a message above WARN_SECONDS
    (refused above REFUSE_SECONDS). Input the library refuses is left to the Step itself (its
    message says what is wrong), so no estimate then. `key` (the problem's identity and settings)
    memoises the answer across reruns."""
    if key is not None and key in _COSTS:
        return _COSTS[key]
    if estimate is None:
        from wlra_core import estimate
    from wlra_core import InputError
    per = {}
    from wlra_core import OPTION_SOLVERS
    try:
        for name in solvers:
            # solver-specific options go only to the solvers that take them (the others refuse them)
            own = {key: v for key, v in options.items() if key not in OPTION_SOLVERS or name in OPTION_SOLVERS[key]}
            per[name] = estimate(M, W, k, solver=name, **own)
    except InputError:
        return StepCost(0.0, {}, None, False)
    seconds = float(sum(e.seconds for e in per.values()))
    message, refused = None, seconds > REFUSE_SECONDS
    if seconds > WARN_SECONDS and per:
        first = next(iter(per.values()))
        parts = ", ".join(f"{name} {_secs(e.seconds)}" for name, e in per.items())
        head = (f"One Step would take about {_secs(seconds)} here ({parts}; predicted by wlra_core.estimate "
                f"for a {first.n}×{first.m} problem at k = {k})")
        tips = first.advice() + ("; fewer solvers side by side" if len(per) > 1 else "")
        if refused:
            message = (f"{head}, above the {REFUSE_SECONDS:g} s this page allows per Step: the page would "
                       f"not respond (not even to Pause) until it ended. To make it smaller: {tips}.")
        else:
            message = f"{head}. To make it faster: {tips}."
    cost = StepCost(seconds, {name: e.seconds for name, e in per.items()}, message, refused)
    if key is not None:
        if len(_COSTS) >= _COSTS_KEPT:
            _COSTS.pop(next(iter(_COSTS)))
        _COSTS[key] = cost
    return cost


SWEEP_REFUSE_SECONDS = 20.0    # a sweep shows a progress bar, but the page is frozen meanwhile


def sweep_cost(M, W, ks, solvers, n_iter: int, options: dict, key=None, estimate=None) -> StepCost:
    """The predicted seconds of a k-sweep (n_iter iterations of every solver at every k), refused
    above SWEEP_REFUSE_SECONDS with the estimate and how to make it smaller."""
    if key is not None and ("sweep", key) in _COSTS:
        return _COSTS[("sweep", key)]
    if estimate is None:
        from wlra_core import estimate
    from wlra_core import InputError
    per = {}
    try:
        for k in ks:
            for name in solvers:
                per[(int(k), name)] = n_iter * estimate(M, W, int(k), solver=name, **options).seconds
    except InputError:
        return StepCost(0.0, {}, None, False)
    seconds = float(sum(per.values()))
    refused = seconds > SWEEP_REFUSE_SECONDS
    message = None
    if refused:
        worst = max(per, key=per.get)
        message = (f"This sweep would take about {_secs(seconds)} here ({n_iter} iterations of each solver "
                   f"at each k; the largest part, {worst[1]} at k = {worst[0]}, {_secs(per[worst])}; "
                   f"predicted by wlra_core.estimate), above the {SWEEP_REFUSE_SECONDS:g} s this page "
                   "allows: it would not respond until it ended. To make it smaller: drop the largest k "
                   "values, fewer iterations each, fewer solvers, or a smaller matrix.")
    cost = StepCost(seconds, per, message, refused)
    if key is not None:
        if len(_COSTS) >= _COSTS_KEPT:
            _COSTS.pop(next(iter(_COSTS)))
        _COSTS[("sweep", key)] = cost
    return cost
