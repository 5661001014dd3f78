"""Measurements for the solver lab page: histories, timing sweeps, regression diagnostics.

No Streamlit here. Each function takes the solver entry point (`iterate`, normally
wlra_core.iterate) as an argument, so the page passes the real one and tests may pass a stub;
every number the page shows comes out of these functions, measured on this machine.
"""
from __future__ import annotations

import math
import os
import platform
from dataclasses import dataclass
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


# ----------------------------------------------------------------------------------------------
# the cost guard: a Step runs one iteration of every selected solver in the page's own run, which
# freezes the page (Pause included) until it ends, so a Step predicted above REFUSE_SECONDS is
# refused before it starts and one above WARN_SECONDS is announced

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


def _secs(seconds: float) -> str:
    return f"{seconds:.2g} s" if seconds >= 0.1 else f"{seconds * 1e3:.2g} ms"


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


# ----------------------------------------------------------------------------------------------
# the comparison explained: where each solver's operations go, whether the sketch was used at all,
# and a one-line reading computed from the numbers shown

PARTS = ("sketch", "factorisation", "inner iterations", "exact rows")
BYPASS_SHARE = 0.5     # above this share of rows solved exactly, "sketched" is mostly the exact solver


def row_counts(W) -> tuple[np.ndarray, np.ndarray]:
    """Weighted entries N_i of every row and every column: the regressions of the two half-steps.
    Dense W: every entry takes part in the products (wlra_core.cost), so n and m."""
    n, m = W.shape
    if hasattr(W, "getnnz"):
        return np.asarray(W.getnnz(axis=1), dtype=float), np.asarray(W.getnnz(axis=0), dtype=float)
    return np.full(n, float(m)), np.full(m, float(n))


def cost_parts(solver: str, counts, k: int, sketch_size, inner_iterations) -> dict:
    """Operations of one iteration per part (wlra_core.cost's model, with the inner iterations T
    measured): the sketched Gram s·k² of long rows, k³/3 per factorised row, 4·T·N_i·k per
    iteratively solved row, N_i·k² per row solved exactly. None for em (one SVD, no rows)."""
    T = 0.0 if inner_iterations is None or math.isnan(inner_iterations) else float(inner_iterations)
    out = dict.fromkeys(PARTS, 0.0)
    for N in counts:
        N = np.asarray(N, dtype=float)
        if solver == "exact":
            exact = np.ones(len(N), bool)
        elif solver == "sketched":
            exact = N <= (sketch_size or 4 * k)
            out["sketch"] += float((~exact).sum()) * (sketch_size or 4 * k) * k * k
            out["factorisation"] += float((~exact).sum()) * k ** 3 / 3
        elif solver == "cg":
            exact = N < k
        else:
            return None
        out["exact rows"] += float(N[exact].sum()) * k * k + float(exact.sum()) * k ** 3 / 3
        out["inner iterations"] += 4.0 * T * float(N[~exact].sum()) * k
    return out


def _last(records, key):
    values = [r.get(key) for r in records if r.get(key) is not None and not _isnan(r.get(key))]
    return float(values[-1]) if values else math.nan


def _mean(records, key):
    values = [float(r[key]) for r in records if r.get(key) is not None and not _isnan(r.get(key))]
    return float(np.mean(values)) if values else math.nan


def _isnan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


def breakdown(histories: dict, W, k: int, sketch_size=None) -> pd.DataFrame:
    """Per solver: its median time per iteration with the spread over iterations (min, max), the
    share of rows it solved exactly, its mean inner iterations, and the share of its operations in
    each part of PARTS (cost_parts with its measured inner iterations)."""
    counts = row_counts(W)
    rows_total = float(sum(len(c) for c in counts))
    out = []
    for name, records in histories.items():
        if not records:
            continue
        seconds = np.array([r["seconds"] for r in records], dtype=float)
        s = _last(records, "sketch_size")
        s = int(s) if not math.isnan(s) else (sketch_size or 4 * k)
        T = _mean(records, "inner_iterations")
        parts = cost_parts(name, counts, k, s, T)
        exact = _mean(records, "exact_rows")
        if name == "exact":
            exact = rows_total
        row = {"solver": name, "iterations": len(records),
               "median s / iteration": float(np.median(seconds)),
               "fastest s": float(seconds.min()), "slowest s": float(seconds.max()),
               "rows solved exactly %": 100.0 * exact / rows_total if not math.isnan(exact) else math.nan,
               "inner iterations": T if name in ("sketched", "cg") else math.nan,
               "sketch size s": s if name == "sketched" else math.nan}
        total = sum(parts.values()) if parts else 0.0
        row["operations"] = total if parts else math.nan
        for part in PARTS:
            row[f"{part} %"] = 100.0 * parts[part] / total if total else math.nan
        out.append(row)
    return pd.DataFrame(out)


def bypass_note(table: pd.DataFrame) -> str | None:
    """The note shown when the sketched solver solved most rows exactly (N_i ≤ s): it then times
    the exact solver with some overhead, not the sketch."""
    row = table[table["solver"] == "sketched"] if "solver" in table else table.iloc[0:0]
    if row.empty:
        return None
    share = float(row["rows solved exactly %"].iloc[0])
    if math.isnan(share) or share <= 100 * BYPASS_SHARE:
        return None
    return (f"The sketch is bypassed for {share:.0f}% of the rows: a row with no more weighted entries "
            f"than the sketch (s = {int(row['sketch size s'].iloc[0])}) is solved exactly, so here "
            "\"sketched\" is mostly the exact solver. Use longer rows (more columns, a larger observed "
            "fraction) or a smaller k to see the sketch at work.")


def reading(table: pd.DataFrame, W, k: int, fast: str = "sketched", reference: str = "exact") -> str | None:
    """One line on `fast` against `reference`, computed from `table` (breakdown's) and the
    problem's row lengths: the ratio of median times per iteration, and why."""
    by = table.set_index("solver") if "solver" in table else None
    if by is None or fast not in by.index or reference not in by.index:
        return None
    a, b = float(by.at[fast, "median s / iteration"]), float(by.at[reference, "median s / iteration"])
    if not (a > 0 and b > 0):
        return None
    ratio = a / b
    head = (f"{fast} is {ratio:.1f}× slower per iteration than {reference} here" if ratio >= 1 else
            f"{fast} is {1 / ratio:.1f}× faster per iteration than {reference} here")
    head += f" (median {_secs(a)} against {_secs(b)})"
    if fast != "sketched":
        return head + "."
    if reference == "cg":
        T, T_cg = float(by.at[fast, "inner iterations"]), float(by.at[reference, "inner iterations"])
        if T < T_cg:
            return (f"{head}: preconditioned by the sketch it needs {T:.1f} inner iterations per row against "
                    f"{T_cg:.1f} for plain CG, at the price of the sketch and a factorisation per row.")
        return (f"{head}: it needs {T:.1f} inner iterations per row, plain CG {T_cg:.1f}: the rows are well "
                "conditioned and the preconditioner has nothing to fix.")
    counts = row_counts(W)
    N = float(np.mean(np.concatenate(counts)))
    s = int(by.at[fast, "sketch size s"]) if not math.isnan(by.at[fast, "sketch size s"]) else 4 * k
    T = float(by.at[fast, "inner iterations"])
    exact_share = float(by.at[fast, "rows solved exactly %"])
    ops = float(by.at[fast, "operations"]) / float(by.at[reference, "operations"])
    model = f"cost model with its measured {T:.1f} inner iterations per row"
    if not math.isnan(exact_share) and exact_share > 100 * BYPASS_SHARE:
        why = (f"{exact_share:.0f}% of its rows are no longer than the sketch (s = {s}) and are solved "
               "exactly, so the sketch is bypassed" +
               (" and it pays the exact cost plus its own overhead" if ratio >= 1 else
                ": the difference lies in how the two codes solve those short rows, not in the sketch"))
    elif ratio >= 1 and ops >= 1:
        why = (f"it does {ops:.1f}× the operations of {reference} ({model}): rows of N ≈ {N:.0f} entries, "
               f"N/s = {N / s:.1f} with s = {s}, at k = {k} are below the regime where the sketch pays "
               "(rows many times longer than s = 4k, and k large); see the presets")
    elif ratio >= 1:
        why = (f"it does {1 / ops:.1f}× fewer operations than {reference} ({model}) but runs them more slowly: "
               f"at N ≈ {N:.0f}, k = {k} the exact solver's batched products are the more efficient code")
    elif ops < 1:
        why = (f"it does {1 / ops:.1f}× fewer operations ({model}): rows of N ≈ {N:.0f} entries, "
               f"{N / s:.1f}× the sketch s = {s}, at k = {k}, the regime where the sketch pays")
    else:
        why = (f"although it does {ops:.1f}× the operations of {reference} ({model}): its code runs faster "
               "at this size")
    return f"{head}: {why}."


# ----------------------------------------------------------------------------------------------
# the paper's regime as presets: dense problems chosen with benchmarks/solvers.py
# (benchmarks/results/solvers_dense3072: 3072², k = 128 and 256, sketched 1.9× faster than exact
# per iteration; solvers_dense_rerun: log-normal weights, k = 64, cg needs 69 inner iterations
# against sketched's 10), shrunk until every solver runs in well under a minute here

@dataclass(frozen=True)
class Preset:
    """A problem where one method should beat another (`fast` against `reference`), and how to run it."""

    key: str
    title: str
    n: int
    m: int
    k: int
    weights: str                 # "full" (all ones) or "lognormal" (Bernoulli(p) × exp(sigma·N(0, 1)))
    fast: str
    reference: str
    solvers: tuple
    max_iter: int
    about: str
    sigma: float = 0.0
    p: float = 1.0
    rank: int = 10

    def size(self, scale: float) -> tuple[int, int, int]:
        """(n, m, k) at a fraction `scale` of the preset's size (tests run a reduced one)."""
        return (max(8, int(self.n * scale)), max(8, int(self.m * scale)), max(2, int(self.k * scale)))


PRESETS = {
    "wide_dense": Preset(
        "wide_dense", "Sketched vs exact: wide dense matrix, large k", 1024, 2048, 128, "full",
        "sketched", "exact", ("exact", "sketched", "cg"), 4,
        "All weights one (dense W), 1024 × 2048, k = 128: every row is longer than the sketch "
        "(s = 4k = 512), and k is large, so the sketched Gram s·k² plus a few inner iterations should "
        "cost less than the exact Gram N·k². The engine benchmark measured sketched 1.9× faster per "
        "iteration at 3072², k = 128 (benchmarks/results/solvers_dense3072); at this size the margin "
        "is smaller, and other work on the machine can erase it."),
    "lognormal": Preset(
        "lognormal", "Preconditioning vs CG: heavy-tailed (log-normal) weights", 1024, 1024, 64, "lognormal",
        "sketched", "cg", ("exact", "sketched", "cg"), 3,
        "Half the entries observed, with log-normal weights exp(2.5·g), g ~ N(0, 1): the weights span "
        "several orders of magnitude, so every row's regression is ill-conditioned. Plain CG needs "
        "many inner iterations; the sketch preconditioner should bring them down to a few.",
        sigma=2.5, p=0.5),
}


def preset_problem(preset: Preset, scale: float = 1.0, seed: int = 0):
    """(M, W, truth, k) of a preset at `scale`: dense arrays, a planted rank-`rank` truth with
    noise 0.01; log-normal weights are drawn from their own child stream of `seed`."""
    from wlra_core import data

    n, m, k = preset.size(scale)
    pattern = "full" if preset.weights == "full" else "bernoulli"
    problem = data.planted(n, m, min(preset.rank, k), noise=0.01, pattern=pattern, p=preset.p, seed=seed)
    W = problem.W
    if preset.weights == "lognormal":
        rng = np.random.default_rng([seed, 1])
        W = W * np.exp(preset.sigma * rng.standard_normal(W.shape))
    return problem.M, W, problem.truth, k


def run_preset(iterate: Callable, preset: Preset, scale: float = 1.0, seed: int = 0, on_done=None):
    """Run every solver of the preset for max_iter iterations from the same start, after an untimed
    warm-up iteration of each. Returns (histories {solver: [record]}, W, k); a record has iteration,
    seconds, cumulative_seconds, relative_objective and the Step.inner counts breakdown reads."""
    options = {"eps": 1e-8, "seed": seed}
    # compiling the kernels and warming the caches needs the same kind of problem, not its size
    warm_M, warm_W, _truth, warm_k = preset_problem(preset, scale / 8, seed)
    warm_up(iterate, warm_M, warm_W, warm_k, preset.solvers, **options)
    M, W, _truth, k = preset_problem(preset, scale, seed)
    histories = {}
    for j, solver in enumerate(preset.solvers, start=1):
        records, so_far = [], 0.0
        for step in iterate(M, W, k, solver=solver, max_iter=preset.max_iter, diagnostics=False, **options):
            so_far += float(step.seconds)
            inner = step.inner or {}
            records.append({"iteration": int(step.iteration), "seconds": float(step.seconds),
                            "cumulative_seconds": so_far, "relative_objective": float(step.relative_objective),
                            **{key: float(inner[key]) for key in ("inner_iterations", "sketch_size", "exact_rows")
                               if isinstance(inner.get(key), (int, float, np.integer, np.floating))}})
        histories[solver] = records
        if on_done is not None:
            on_done(j / len(preset.solvers), solver)
    return histories, W, k


ACCURACY_SLACK = 1e-3   # "reached" = within 0.1 % of the target objective (round-off of the inner solves)


def to_accuracy(histories: dict) -> tuple[float, dict]:
    """(target, {solver: seconds}): the target is the worst of the solvers' final relative
    objectives (an accuracy every solver reached), and each solver's time is its own compute time
    until its relative objective was within ACCURACY_SLACK of it."""
    finals = [records[-1]["relative_objective"] for records in histories.values() if records]
    target = max(finals)
    out = {}
    for name, records in histories.items():
        hit = [r["cumulative_seconds"] for r in records if r["relative_objective"] <= target * (1 + ACCURACY_SLACK)]
        out[name] = hit[0] if hit else math.nan
    return target, out


def preset_table(histories: dict, W, k: int) -> pd.DataFrame:
    """breakdown's table plus the final relative objective and the seconds to the common accuracy."""
    table = breakdown(histories, W, k)
    target, seconds = to_accuracy(histories)
    table.insert(2, "final relative objective", [histories[s][-1]["relative_objective"] for s in table["solver"]])
    table.insert(3, "s to accuracy", [seconds[s] for s in table["solver"]])
    table.attrs["target"] = target
    return table


def preset_reading(table: pd.DataFrame, preset: Preset) -> tuple[bool, str]:
    """(won, text): whether `preset.fast` beat `preset.reference` per iteration and to accuracy in
    `table`, said with the numbers of the table; and whether a third solver was faster still."""
    by = table.set_index("solver")
    fast, ref = preset.fast, preset.reference
    a, b = float(by.at[fast, "median s / iteration"]), float(by.at[ref, "median s / iteration"])
    ta, tb = float(by.at[fast, "s to accuracy"]), float(by.at[ref, "s to accuracy"])
    per_it = a < b
    to_acc = ta < tb
    won = per_it and to_acc
    target = table.attrs.get("target", math.nan)
    it_text = (f"{b / a:.1f}× faster" if per_it else f"{a / b:.1f}× slower") + \
        f" per iteration ({_secs(a)} against {_secs(b)}, medians)"
    acc_text = (f"reached the relative objective {target:.3e} in {_secs(ta)} against {_secs(tb)}"
                if not (math.isnan(ta) or math.isnan(tb)) else "did not both reach the common accuracy")
    if won:
        text = f"Shown here: {fast} is {it_text} than {ref}, and {acc_text}."
    else:
        text = (f"Not shown on this machine at this size: {fast} is {it_text} than {ref}, and {acc_text}"
                f"{' — faster to accuracy' if to_acc else ''}{' — not faster to accuracy' if per_it and not to_acc else ''}.")
    if fast == "sketched" and ref == "cg" and "inner iterations" in by:
        text += (f" Inner iterations per regression: {by.at[ref, 'inner iterations']:.1f} for {ref}, "
                 f"{by.at[fast, 'inner iterations']:.1f} for {fast}.")
    best = by["median s / iteration"].idxmin()
    if best not in (fast, ref):
        text += (f" {best} was faster still ({_secs(float(by.at[best, 'median s / iteration']))} per iteration): "
                 "this preset compares two methods, it is not a race of every solver.")
    return won, text


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
