"""Measurements for the solver lab page: histories, timing sweeps, regression diagnostics.

No Streamlit here. Each function takes the solver entry point (`iterate`, normally
wlra_core.iterate) as an argument, so the page passes the real one and tests may pass a stub;
every number the page shows comes out of these functions, measured on this machine.
"""
from __future__ import annotations

import math
import platform
import time
from datetime import date
from typing import Callable, Iterator

import numpy as np
import pandas as pd

HISTORY_COLUMNS = [
    "solver", "iteration", "objective", "relative_objective", "seconds", "elapsed",
    "inner_iterations", "truth_error",
]


def measured_label() -> str:
    """The caption every lab figure carries."""
    return f"Measured here, on this machine ({platform.machine()}, {_cores()} cores), {date.today().isoformat()}."


def _cores() -> int:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _inner(step, key, default=math.nan):
    inner = getattr(step, "inner", None) or {}
    value = inner.get(key, default)
    return default if value is None else value


def relative_truth_error(X, Y, truth) -> float:
    """‖X Yᵀ − M*‖_F / ‖M*‖_F (dense; planted problems are small)."""
    if truth is None:
        return math.nan
    return float(np.linalg.norm(X @ Y.T - truth) / (np.linalg.norm(truth) or 1.0))


def step_record(step, solver: str, truth=None) -> dict:
    """One row of the convergence history from a wlra_core Step."""
    return {
        "solver": solver,
        "iteration": int(step.iteration),
        "objective": float(step.objective),
        "relative_objective": float(step.relative_objective),
        "seconds": float(step.seconds),
        "elapsed": float(getattr(step, "elapsed", math.nan)),
        "inner_iterations": float(_inner(step, "inner_iterations")),
        "truth_error": relative_truth_error(step.X, step.Y, truth),
    }


def run_history(iterate: Callable, M, W, k: int, solver: str, *, truth=None, on_step=None,
                **options) -> tuple[pd.DataFrame, object]:
    """Run one solver to its stop and return (history frame, last step).

    on_step(step) is called after each iteration (for a progress bar).
    """
    rows, last = [], None
    for step in iterate(M, W, k, solver=solver, **options):
        rows.append(step_record(step, solver, truth))
        last = step
        if on_step is not None:
            on_step(step)
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS), last


def summary(history: pd.DataFrame, max_iter: int) -> pd.DataFrame:
    """Per solver: iterations to stop, whether it stopped before max_iter, time, final errors."""
    out = []
    for solver, h in history.groupby("solver", sort=False):
        last = h.iloc[-1]
        out.append({
            "solver": solver,
            "iterations": int(last["iteration"]),
            "stopped before max_iter": bool(last["iteration"] < max_iter),
            "total seconds": float(h["seconds"].sum()),
            "seconds / iteration": float(h["seconds"].median()),
            "final relative objective": float(last["relative_objective"]),
            "relative error vs truth": float(last["truth_error"]),
        })
    return pd.DataFrame(out)


def time_per_iteration(iterate: Callable, M, W, k: int, solver: str, *, n_iter: int = 3,
                       **options) -> float:
    """Median wall time of one alternating iteration (Step.seconds) over n_iter iterations.

    Diagnostics are off so the timing is the solver's own. A run that converges sooner
    contributes fewer samples.
    """
    options = {**options, "max_iter": n_iter, "diagnostics": False}
    seconds = [float(s.seconds) for s in iterate(M, W, k, solver=solver, **options)]
    return float(np.median(seconds)) if seconds else math.nan


def k_sweep(iterate: Callable, M, W, ks, solvers, *, n_iter: int = 3,
            **options) -> Iterator[tuple[float, dict]]:
    """Yield (fraction done, {"k", "solver", "seconds_per_iteration"}) for every (k, solver)."""
    jobs = [(k, s) for k in ks for s in solvers]
    for done, (k, solver) in enumerate(jobs, start=1):
        t = time_per_iteration(iterate, M, W, k, solver, n_iter=n_iter, **options)
        yield done / len(jobs), {"k": int(k), "solver": solver, "seconds_per_iteration": t}


def crossover(sweep: pd.DataFrame, fast: str = "sketched", reference: str = "exact"):
    """Smallest k from which `fast` is faster than `reference` at every larger k measured.

    Returns None when it never is (the honest answer for small k).
    """
    table = sweep.pivot_table(index="k", columns="solver", values="seconds_per_iteration")
    if fast not in table or reference not in table:
        return None
    faster = (table[fast] < table[reference]).to_numpy()
    ks = table.index.to_numpy()
    for j in range(len(ks)):
        if faster[j:].all():
            return int(ks[j])
    return None


def diagnostics_frame(steps) -> pd.DataFrame:
    """Long table of the sampled-row diagnostics of a sketched run, one row per sampled regression.

    Columns: iteration, cond_before (κ(A_i)), cond_after (κ(A_i R⁻¹)), forward_error.
    """
    frames = []
    for step in steps:
        parts = {key: np.atleast_1d(np.asarray(_inner(step, key, np.array([])), dtype=float))
                 for key in ("cond_before", "cond_after", "forward_error")}
        size = max(len(v) for v in parts.values())
        if size == 0:
            continue
        cols = {key: v if len(v) == size else np.full(size, np.nan) for key, v in parts.items()}
        frames.append(pd.DataFrame({"iteration": int(step.iteration), **cols}))
    if not frames:
        return pd.DataFrame(columns=["iteration", "cond_before", "cond_after", "forward_error"])
    return pd.concat(frames, ignore_index=True)


def forward_error_vs_eps(iterate: Callable, M, W, k: int, eps_values, *, max_iter: int = 3,
                         **options) -> pd.DataFrame:
    """Per-regression relative forward error of the sketched solver, for each eps.

    Runs the sketched solver for max_iter iterations at each eps (diagnostics on) and collects
    the forward errors on the sampled rows of every iteration: columns eps, forward_error.
    """
    frames = []
    for eps in eps_values:
        steps = list(iterate(M, W, k, solver="sketched", eps=float(eps), max_iter=max_iter,
                             diagnostics=True, **options))
        d = diagnostics_frame(steps)
        frames.append(pd.DataFrame({"eps": float(eps), "forward_error": d["forward_error"]}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["eps", "forward_error"])


def wall_seconds(fn: Callable, *args, **kwargs) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0

