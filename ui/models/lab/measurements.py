"""The solver lab's measurements: histories, time per iteration and k-sweeps, regression diagnostics.

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

    histories: {name: [record, ...]} with the keys of `step_record` (or ui.runs' records plus a
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
            "fastest s": float(h["seconds"].min()),
            "slowest s": float(h["seconds"].max()),
            "total s": float(h["seconds"].sum()),
            "final relative objective": float(last["relative_objective"]),
            "relative error vs truth": float(last.get("truth_error", math.nan)),
        })
    return pd.DataFrame(out)


def _solver_options(solver: str, options: dict) -> dict:
    """The options `solver` takes: a solver refuses the options it does not use (the sweep and the
    presets offer the sketch to all of them)."""
    return {key: v for key, v in options.items()
            if key not in OPTION_SOLVERS or v is None or solver in OPTION_SOLVERS[key] or key == "diagnostics"}


def iteration_seconds(iterate: Callable, M, W, k: int, solver: str, *, n_iter: int = 3, **options) -> list[float]:
    """Wall time (Step.seconds) of each of up to n_iter alternating iterations, diagnostics off so
    the timing is the solver's own. A run that converges sooner gives fewer."""
    options = _solver_options(solver, {**options, "max_iter": n_iter, "diagnostics": False})
    return [float(s.seconds) for s in iterate(M, W, k, solver=solver, **options)]


def time_per_iteration(iterate: Callable, M, W, k: int, solver: str, *, n_iter: int = 3,
                       **options) -> float:
    """Median of iteration_seconds (NaN when no iteration ran)."""
    seconds = iteration_seconds(iterate, M, W, k, solver, n_iter=n_iter, **options)
    return float(np.median(seconds)) if seconds else math.nan


def warm_up(iterate: Callable, M, W, k: int, solvers, **options) -> None:
    """One untimed iteration of every solver, so that the first timed point does not carry the
    compiled kernels' first call and cold caches."""
    for solver in solvers:
        iteration_seconds(iterate, M, W, k, solver, n_iter=1, **options)


def k_sweep(iterate: Callable, M, W, ks, solvers, *, n_iter: int = 3, repeats: int = 3, warmup: bool = True,
            **options) -> Iterator[tuple[float, dict]]:
    """Yield (fraction done, row) for every (k, solver), after an untimed warm-up of every solver.

    Each point is `repeats` runs of n_iter iterations; a run's time per iteration is the median of
    its iterations, and the row gives the median over the runs ("seconds_per_iteration") and their
    spread ("seconds_min", "seconds_max")."""
    ks, solvers = [int(k) for k in ks], list(solvers)
    if warmup and ks:
        warm_up(iterate, M, W, min(ks), solvers, **options)
    jobs = [(k, s) for k in ks for s in solvers]
    for done, (k, solver) in enumerate(jobs, start=1):
        per_run = [time_per_iteration(iterate, M, W, k, solver, n_iter=n_iter, **options) for _ in range(repeats)]
        per_run = [t for t in per_run if not math.isnan(t)] or [math.nan]
        yield done / len(jobs), {"k": k, "solver": solver, "seconds_per_iteration": float(np.median(per_run)),
                                 "seconds_min": float(np.min(per_run)), "seconds_max": float(np.max(per_run)),
                                 "repeats": len(per_run)}


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


def faster_at(sweep: pd.DataFrame, fast: str = "sketched", reference: str = "exact") -> list[int]:
    """The k values at which `fast`'s median time per iteration is below `reference`'s."""
    table = sweep.pivot_table(index="k", columns="solver", values="seconds_per_iteration")
    if fast not in table or reference not in table:
        return []
    return [int(k) for k in table.index[(table[fast] < table[reference]).to_numpy()]]


def _overlapping(sweep: pd.DataFrame, fast: str, reference: str) -> list[int]:
    """k values where the two solvers' spreads (min–max over repeats) overlap."""
    if not {"seconds_min", "seconds_max"} <= set(sweep.columns):
        return []
    lo = sweep.pivot_table(index="k", columns="solver", values="seconds_min")
    hi = sweep.pivot_table(index="k", columns="solver", values="seconds_max")
    both = (lo[fast] <= hi[reference]) & (lo[reference] <= hi[fast])
    return [int(k) for k in lo.index[both.to_numpy()]]


def _ks(values) -> str:
    values = [str(v) for v in values]
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " and " + values[-1]


def sweep_reading(sweep: pd.DataFrame, fast: str = "sketched", reference: str = "exact") -> tuple[str, str]:
    """(kind, text): what the sweep's own numbers say about `fast` against `reference`.

    kind is "crossover" (faster from some k on, at every larger k measured), "mixed" (faster at
    some k only), "never" (`reference` at least as fast at every k) or "" (not both measured).
    Every k at which `fast` was faster is named with both medians, so the text cannot contradict
    the table beside it."""
    table = sweep.pivot_table(index="k", columns="solver", values="seconds_per_iteration")
    if fast not in table or reference not in table:
        return "", ""
    wins = faster_at(sweep, fast, reference)
    cross = crossover(sweep, fast, reference)
    where = "; ".join(f"k = {k} ({table.at[k, fast]:.4g} s vs {table.at[k, reference]:.4g} s)" for k in wins)
    if not wins:
        kind = "never"
        text = (f"No crossover up to k = {int(table.index.max())}: {reference} was at least as fast as {fast} "
                f"at every k measured here.")
    elif cross is not None:
        kind = "crossover"
        start = "at every k measured" if cross == int(table.index.min()) else f"from k = {cross} on"
        text = f"Crossover: {fast} was faster than {reference} {start}: {where}."
    else:
        kind = "mixed"
        text = (f"No clean crossover: {fast} was faster than {reference} only at {where}, and not at every "
                f"larger k.")
    noisy = [k for k in _overlapping(sweep, fast, reference)]
    if noisy:
        text += (f" At k = {_ks(noisy)} the two spreads (fastest to slowest repeat) overlap: there the "
                 "difference is within this machine's noise.")
    return kind, text


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


def _secs(seconds: float) -> str:
    return f"{seconds:.2g} s" if seconds >= 0.1 else f"{seconds * 1e3:.2g} ms"


def sweep_wide(sweep: pd.DataFrame) -> pd.DataFrame:
    """The sweep as one row per k: each solver's median seconds per iteration and its spread."""
    wide = {}
    for solver, rows in sweep.groupby("solver", sort=False):
        rows = rows.set_index("k")
        wide[f"{solver} median s"] = rows["seconds_per_iteration"]
        if "seconds_min" in rows:
            wide[f"{solver} min s"] = rows["seconds_min"]
            wide[f"{solver} max s"] = rows["seconds_max"]
    return pd.DataFrame(wide).sort_index()
