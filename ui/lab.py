"""Measurements for the solver lab page: histories, timing sweeps, regression diagnostics.

No Streamlit here. Each function takes the solver entry point (`iterate`, normally
wlra_core.iterate) as an argument, so the page passes the real one and tests may pass a stub;
every number the page shows comes out of these functions, measured on this machine.
"""
from __future__ import annotations

import math
import os
import platform
from datetime import date
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from wlra_core import OPTION_SOLVERS


def measured_label() -> str:
    """The caption every lab figure carries."""
    return f"Measured here, on this machine ({platform.machine()}, {_cores()} cores), {date.today().isoformat()}."


def _cores() -> int:
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


def summary(histories: dict, stop_reasons: dict | None = None) -> pd.DataFrame:
    """Per run: iterations to stop, why it stopped, time per iteration, final errors.

    histories: {name: [record, ...]} with the keys of `step_record` (or ui.run's records plus a
    "truth_error" measure); stop_reasons: {name: wlra_core's stop reason or None while running}.
    """
    out = []
    for name, records in histories.items():
        if not records:
            continue
        h = pd.DataFrame(records)
        last = h.iloc[-1]
        out.append({
            "solver": name,
            "iterations": int(last["iteration"]),
            "stop reason": (stop_reasons or {}).get(name) or "running",
            "median s / iteration": float(h["seconds"].median()),
            "total s": float(h["seconds"].sum()),
            "final relative objective": float(last["relative_objective"]),
            "relative error vs truth": float(last.get("truth_error", math.nan)),
        })
    return pd.DataFrame(out)


def time_per_iteration(iterate: Callable, M, W, k: int, solver: str, *, n_iter: int = 3,
                       **options) -> float:
    """Median wall time of one alternating iteration (Step.seconds) over n_iter iterations.

    Diagnostics are off so the timing is the solver's own. A run that converges sooner
    contributes fewer samples.
    """
    options = {**options, "max_iter": n_iter, "diagnostics": False}
    # a solver refuses the options it does not use (the sweep offers the sketch to all of them)
    options = {key: v for key, v in options.items()
               if key not in OPTION_SOLVERS or v is None or solver in OPTION_SOLVERS[key] or key == "diagnostics"}
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


def diagnostics_vs_eps(iterate: Callable, M, W, k: int, eps_values, *, max_iter: int = 2,
                       on_done=None, **options) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sketched solver's regression diagnostics for each eps.

    Runs solver="sketched" for max_iter iterations at each eps with diagnostics on. Returns
    (rows, inner): `rows` has one line per sampled regression (eps, iteration, cond_before,
    cond_after, forward_error); `inner` one line per iteration (eps, iteration, inner_iterations,
    inner_iterations_max, seconds). on_done(fraction) is called after each eps.
    """
    eps_values = list(eps_values)
    rows, inner = [], []
    for j, eps in enumerate(eps_values, start=1):
        # the regressions to eps itself: the sweep shows what the regression tolerance buys
        steps = list(iterate(M, W, k, solver="sketched", eps=float(eps), inner_eps=float(eps),
                             max_iter=max_iter, diagnostics=True, **options))
        d = diagnostics_frame(steps)
        d.insert(0, "eps", float(eps))
        rows.append(d)
        inner.extend({"eps": float(eps), "iteration": int(s.iteration),
                      "inner_iterations": float(_inner(s, "inner_iterations")),
                      "inner_iterations_max": float(_inner(s, "inner_iterations_max")),
                      "seconds": float(s.seconds)} for s in steps)
        if on_done is not None:
            on_done(j / len(eps_values))
    rows = pd.concat(rows, ignore_index=True) if rows else diagnostics_frame([])
    return rows, pd.DataFrame(inner)


CONDITION_LABELS = {"cond_before": "A_i (before)", "cond_after": "A_i R⁻¹ (after)"}


def condition_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """log₁₀ κ of the sampled rows before and after preconditioning, long format ("log10 κ",
    "matrix"), for a histogram; infinite or missing condition numbers are left out."""
    frames = [pd.DataFrame({"log10 κ": np.log10(rows[column].to_numpy(dtype=float)), "matrix": label})
              for column, label in CONDITION_LABELS.items()]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = pd.concat(frames, ignore_index=True)
    return out.replace([np.inf, -np.inf], np.nan).dropna().reset_index(drop=True)


INNER_LABELS = {"inner_iterations": "mean over rows", "inner_iterations_max": "max over rows"}


def inner_summary(inner: pd.DataFrame) -> pd.DataFrame:
    """Inner iterations per regression at each eps (averaged over the measured iterations), long
    format (eps, statistic, inner iterations) with readable statistic names."""
    means = inner.groupby("eps", as_index=False)[list(INNER_LABELS)].mean()
    long = means.melt(id_vars="eps", var_name="statistic", value_name="inner iterations")
    return long.assign(statistic=long["statistic"].map(INNER_LABELS))
