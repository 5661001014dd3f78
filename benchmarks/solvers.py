"""Time per alternating iteration and time to accuracy of the WLRA solvers, against the product floors.

For every case and rank k this script builds one planted problem (seeded) and then, back to back in
one process so that the ratios are fair on a noisy machine:

1. times the floors: one plain product (dense: ``M @ Y``, the n*m*k work; sparse: ``W @ Y``, the
   nnz*k work), median of 3 before and 3 after the solvers, and the exact solver's Gram product
   alone, ``W @ P(Y) + W.T @ P(X)`` with P the row-wise symmetric outer products;
2. runs ``exact`` until its stopping rule holds (or ``--max-iter``); its final objective is f*;
3. runs every other solver (sketched with every sketch, the default one first; cg; auto when
   wlra_core has it) from the same init and seed at the same eps, until its objective is within
   ``--target`` of f*, its own stopping rule holds, or ``--max-iter``.

Per iteration: the median of ``step.seconds`` over the iterations after the first (the first
includes the init), with their min-max. Time to accuracy: ``step.elapsed`` (init included) at the
first iteration with (f - f*)/f* <= target; exact's own is measured against its own final f*.

With ``--quick`` (tiny sizes) every case and solver runs to its iteration cap whatever the machine's
load: no clock decides what runs. Full runs have a per-configuration budget (``--budget``) so that
the large ranks cannot run for hours: a configuration predicted to need more than the budget for
two iterations is skipped (its prediction shown with ``~``), one that runs past it stops early,
and the notes say which.
"""
from __future__ import annotations

import argparse
import collections
import datetime as _dt
import gc
import inspect
import math
import os
import platform
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass, field

import numpy as np
import scipy
import scipy.sparse as sp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # run from a checkout without installing

from machine import blas as blas_info, cpu, usable_cores, write_csv as shared_write_csv  # noqa: E402
import wlra_core as wc  # noqa: E402

EPS = 1e-8
NOISE = 1e-2
GRAM = "exact: Gram product only"
FLOOR = "floor: plain product"
DEFAULT_SKETCH = getattr(wc, "DEFAULT_SKETCH", wc.SKETCHES[0])
HAS_AUTO = "auto" in wc.SOLVERS
ITERATE_PARAMS = inspect.signature(wc.iterate).parameters
HAS_INNER_EPS = "inner_eps" in ITERATE_PARAMS
CSV_FIELDS = (
    "case", "n", "m", "nnz", "k", "solver", "sketch", "s_per_iter", "s_min", "s_max",
    "timed_iterations", "ratio_exact", "ratio_floor", "exact_rows_pct", "inner_mean", "iterations",
    "stop", "tta_s", "tta_iteration", "tta_status", "tta_ratio_exact", "objective_vs_exact",
    "compared_at", "relative_objective", "f_star_relative", "floor_s", "estimate", "peak_mb",
    "choice", "inner_eps", "note", "per_nnz",
)


# ----------------------------------------------------------------------------------------------
# Problems: W patterns built directly (CSR index arrays for sparse W), planted values on them
# ----------------------------------------------------------------------------------------------

@dataclass
class Pattern:
    """Where W is non-zero and its weights: a dense array, or CSR index arrays (weights all 1)."""

    n: int
    m: int
    description: str
    dense: np.ndarray | None = None
    indptr: np.ndarray | None = None
    indices: np.ndarray | None = None

    @property
    def nnz(self) -> int:
        return int(np.count_nonzero(self.dense)) if self.dense is not None else int(self.indices.size)

    @property
    def entries(self) -> int:
        """Entries a dense-layout solver touches per row sweep: n*m dense, nnz sparse."""
        return self.n * self.m if self.dense is not None else self.nnz


def bounded_pattern(n: int, m: int, p: float, rng: np.random.Generator) -> Pattern:
    W = (rng.random((n, m)) < p) * rng.uniform(0.1, 1.0, (n, m))
    return Pattern(n, m, f"dense, W = U(0.1, 1)·Bernoulli({p:g}), n={n}, m={m}", dense=W)


def lognormal_pattern(n: int, m: int, p: float, sigma: float, rng: np.random.Generator) -> Pattern:
    """Log-normal weights make each row's weighted design ill-conditioned: the preconditioner's case."""
    W = (rng.random((n, m)) < p) * np.exp(sigma * rng.standard_normal((n, m)))
    return Pattern(n, m, f"dense, W = exp({sigma:g}·N(0, 1))·Bernoulli({p:g}), n={n}, m={m}",
                   dense=W)


def binary_pattern(n: int, m: int, p: float, rng: np.random.Generator, what: str) -> Pattern:
    W = (rng.random((n, m)) < p).astype(np.float64)
    return Pattern(n, m, f"{what}, W = Bernoulli({p:g}) 0/1, n={n}, m={m}", dense=W)


def sparse_rows_pattern(n: int, m: int, per_row: int, rng: np.random.Generator) -> Pattern:
    """Exactly ``per_row`` distinct columns per row: one uniform column in each of per_row equal
    strata of 0..m-1 (sorted, no duplicates, no dense intermediate)."""
    per_row = min(per_row, m)
    bounds = (np.arange(per_row + 1, dtype=np.int64) * m) // per_row
    low, width = bounds[:-1], np.diff(bounds)
    indices = np.empty((n, per_row), dtype=np.int32)
    block = max(1, 2**22 // per_row)
    for start in range(0, n, block):
        stop = min(start + block, n)
        indices[start:stop] = low + (rng.random((stop - start, per_row)) * width).astype(np.int64)
    indptr = np.arange(n + 1, dtype=np.int64) * per_row
    return Pattern(n, m, f"sparse, {per_row} non-zeros in every row (one uniform column per "
                         f"stratum of width m/{per_row}), 0/1 weights, n={n}, m={m}",
                   indptr=indptr, indices=indices.ravel())


def ratings_pattern(n: int, m: int, nnz: int, rng: np.random.Generator) -> Pattern:
    """Heavy-tailed rows (log-normal counts, at least 5) over Zipf(0.8)-popular items; duplicate
    (row, item) draws are dropped, so nnz comes out near, not exactly at, the target."""
    counts = rng.lognormal(mean=0.0, sigma=1.3, size=n)
    draws = 1.1 * nnz  # about a tenth of the draws repeat a (row, item) pair and are dropped
    counts = np.clip(np.rint(counts * (draws / counts.sum())), 5, m // 2).astype(np.int64)
    popularity = 1.0 / np.arange(1, m + 1) ** 0.8
    popularity /= popularity.sum()
    item_of_rank = rng.permutation(m)
    rows = np.repeat(np.arange(n, dtype=np.int64), counts)
    cols = item_of_rank[rng.choice(m, size=rows.size, p=popularity)]
    keys = np.unique(rows * m + cols)  # sorted by row, then column; duplicates dropped
    rows, cols = keys // m, (keys % m).astype(np.int32)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    per = np.diff(indptr)
    return Pattern(n, m, f"rating-like sparse, log-normal row counts (median {int(np.median(per))}, "
                         f"max {int(per.max())}), Zipf(0.8) item popularity, 0/1 weights, n={n}, m={m}",
                   indptr=indptr, indices=cols)


def planted(pattern: Pattern, k: int, seed: int, values: str = "gaussian"):
    """(M, W) with M of rank k plus noise on the pattern.

    "gaussian": M = U V^T + 1e-2 N(0, 1), entries of U V^T ~ N(0, 1). "image": smooth rank-k
    profiles scaled into [0.1, 0.9] plus 0.02 N(0, 1), clipped to [0, 1] (what the app's pictures
    look like to the solver). Sparse: CSR values computed in chunks, never through a dense matrix."""
    rng = np.random.default_rng([seed, k])
    if values == "image":
        U = np.cumsum(rng.standard_normal((pattern.n, k)), axis=0) / math.sqrt(pattern.n)
        V = np.cumsum(rng.standard_normal((pattern.m, k)), axis=0) / math.sqrt(pattern.m)
        L = U @ V.T
        L = 0.1 + 0.8 * (L - L.min()) / max(L.max() - L.min(), 1e-300)
        M = np.clip(L + 0.02 * rng.standard_normal(L.shape), 0.0, 1.0)
        return M, pattern.dense
    U = rng.standard_normal((pattern.n, k))
    V = rng.standard_normal((pattern.m, k)) / math.sqrt(k)
    if pattern.dense is not None:
        M = U @ V.T
        M += NOISE * rng.standard_normal(M.shape)
        return M, pattern.dense
    nnz = pattern.indices.size
    rows = np.repeat(np.arange(pattern.n, dtype=np.int64), np.diff(pattern.indptr))
    vals = np.empty(nnz)
    chunk = max(1, 2**22 // k)
    for start in range(0, nnz, chunk):
        stop = min(start + chunk, nnz)
        vals[start:stop] = np.einsum("ij,ij->i", U[rows[start:stop]], V[pattern.indices[start:stop]])
    del rows
    vals += NOISE * rng.standard_normal(nnz)
    shape = (pattern.n, pattern.m)
    M = sp.csr_matrix((vals, pattern.indices, pattern.indptr), shape=shape)
    W = sp.csr_matrix((np.ones(nnz), pattern.indices, pattern.indptr), shape=shape)
    return M, W


# ----------------------------------------------------------------------------------------------
# Floors: one plain product, and the exact solver's Gram product alone
# ----------------------------------------------------------------------------------------------

def time_gemm(M, W, k: int, repeats: int = 3) -> list:
    """Seconds of M @ Y (dense: the n*m*k floor) or W @ Y (sparse: the nnz*k floor), each repeat."""
    A = W if sp.issparse(W) else M
    Y = np.random.default_rng(1).standard_normal((A.shape[1], k))
    A @ Y  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        A @ Y
        times.append(time.perf_counter() - start)
    return times


def _gram_half(W, F: np.ndarray, chunk_bytes: int, deadline: float) -> tuple[float, int, int]:
    """Seconds of W @ P(F) in column chunks; past ``deadline`` (full runs only) it stops and
    extrapolates by columns, the chunks sized from the measured rate so as not to overrun much."""
    a, b = np.triu_indices(F.shape[1])
    total = a.size
    widest = max(1, min(total, chunk_bytes // (8 * max(F.shape[0], W.shape[0]))))
    chunk = widest if math.isinf(deadline) else min(widest, 8)
    done, seconds = 0, 0.0
    while done < total:
        stop = min(done + chunk, total)
        start = time.perf_counter()
        P = F[:, a[done:stop]] * F[:, b[done:stop]]
        W @ P
        seconds += time.perf_counter() - start
        done = stop
        if math.isinf(deadline):
            continue
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        chunk = int(max(1, min(widest, done / max(seconds, 1e-9) * left / 2)))
    return seconds * total / done, done, total


def time_gram(W, k: int, budget: float, chunk_bytes: int = 2**27) -> tuple[float, str]:
    """Seconds of one iteration's Gram products (both half-steps); extrapolated past ``budget``
    (math.inf: never)."""
    n, m = W.shape
    rng = np.random.default_rng(2)
    Y = np.linalg.qr(rng.standard_normal((m, k)))[0]
    X = np.linalg.qr(rng.standard_normal((n, k)))[0]
    WT = W.T.tocsr() if sp.issparse(W) else W.T
    s_y, done_y, total = _gram_half(W, Y, chunk_bytes, time.perf_counter() + budget / 2)
    s_x, done_x, _ = _gram_half(WT, X, chunk_bytes, time.perf_counter() + budget / 2)
    if done_y < total or done_x < total:
        return s_y + s_x, (f"extrapolated from {done_y}/{total} and {done_x}/{total} columns of P "
                           f"(budget {budget:.0f} s)")
    return s_y + s_x, ""


def rng_rate() -> float:
    """Standard normals per second (for the Gaussian sketch's prediction)."""
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    rng.standard_normal(2_000_000)
    return 2_000_000 / max(time.perf_counter() - start, 1e-9)


# ----------------------------------------------------------------------------------------------
# Solver runs
# ----------------------------------------------------------------------------------------------

# The record of each step, from wlra_core.step_row (objective replaced by penalised with a ridge).
TRACE_FIELDS = ("iteration", "objective", "relative_objective", "seconds", "elapsed")


@dataclass
class Run:
    solver: str
    sketch: str = ""
    trace: list = field(default_factory=list)  # TRACE_FIELDS of each step (f: penalised with a ridge)
    inner_weighted: float = 0.0
    iterative_rows: int = 0
    exact_rows: int = 0
    choices: collections.Counter = field(default_factory=collections.Counter)
    stop: str = ""            # the solver's stop_reason, "target", "budget" or "failed"
    peak_mb: float = math.nan
    predicted: float = math.nan
    estimate: str = ""        # "" when measured; else how s_per_iter was predicted
    notes: list = field(default_factory=list)

    @property
    def timed(self) -> list:
        return [t[3] for t in self.trace[1:]]

    @property
    def s_per_iter(self) -> float:
        if self.timed:
            return statistics.median(self.timed)
        return self.predicted

    @property
    def iterations(self) -> int:
        return self.trace[-1][0] if self.trace else 0

    def f_at(self, iteration: int) -> float:
        return next((t[1] for t in self.trace if t[0] == iteration), math.nan)


def solver_options(args, solver: str, sketch: str, ridge: float, max_iter: int) -> dict:
    options = dict(solver=solver, eps=EPS, max_iter=max_iter, init=args.init, ridge=ridge,
                   seed=args.seed, memory_budget=args.memory_budget, diagnostics=False)
    if solver == "sketched":
        options["sketch"] = sketch
        if "inner" in ITERATE_PARAMS:
            options["inner"] = "pcg"
    # exact (and em) have no inner loop, and exact refuses an inner_eps
    if args.inner_eps is not None and solver not in ("exact", "em"):
        options["inner_eps"] = args.inner_eps
    return options


def run_solver(M, W, k: int, solver: str, sketch: str, args, *, ridge: float, max_iter: int,
               f_star: float | None, budget: float) -> Run:
    """Iterate until the solver stops, ``max_iter``, (f - f*)/f* <= target once at least
    ``--min-iters`` ran (f_star given), or past ``budget`` seconds (math.inf in --quick runs)."""
    run = Run(solver, sketch)
    gc.collect()
    steps = None
    try:
        steps = wc.iterate(M, W, k, **solver_options(args, solver, sketch, ridge, max_iter))
        for step in steps:
            row = wc.step_row(step, TRACE_FIELDS + ("penalised", "iterative_rows", "inner_iterations",
                                                    "exact_rows", "choice", "stop_reason"))
            if ridge:
                row["objective"] = row["penalised"]
            run.trace.append((row["iteration"], *(float(row[name]) for name in TRACE_FIELDS[1:])))
            if step.iteration > 1:  # the timed iterations
                rows = int(row["iterative_rows"] or 0)
                run.iterative_rows += rows
                run.inner_weighted += rows * float(row["inner_iterations"] or 0.0)
                run.exact_rows += int(row["exact_rows"] or 0)
            if row["choice"] is not None:
                run.choices[_choice_text(row["choice"])] += 1
            if row["stop_reason"] is not None:
                run.stop = row["stop_reason"]
                break
            if (f_star is not None and step.iteration >= args.min_iters
                    and reached(run.trace[-1][1], f_star, args.target)):
                run.stop = "target"
                break
            # not before the second iteration: s/iter needs one after the first (the skip rule
            # keeps configurations whose iterations alone exceed the budget from starting)
            if step.iteration >= 2 and step.elapsed + step.seconds > budget:
                run.stop = "budget"
                run.notes.append(f"budget: stopped after {step.elapsed:.0f} s of its {budget:.0f} s")
                break
    except Exception as exc:  # noqa: BLE001 -- a failing solver is a row in the table, not the end
        run.stop = "failed"
        run.notes.append(f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
    finally:
        if steps is not None and hasattr(steps, "close"):
            steps.close()
    return run


def _choice_text(choice) -> str:
    if isinstance(choice, (tuple, list)):  # one per half-step
        return "/".join(map(str, choice))
    if isinstance(choice, dict):
        return ", ".join(f"{key}={value}" for key, value in choice.items())
    return str(choice)


def warm_up(args) -> None:
    """Two iterations of every configuration on tiny dense, sparse and ridge problems, untimed, so
    that JIT compilation and other first-call costs stay out of the first configuration's times."""
    rng = np.random.default_rng(12345)
    problems = [(bounded_pattern(40, 30, 0.6, rng), 0.0), (sparse_rows_pattern(60, 50, 12, rng), 0.0),
                (sparse_rows_pattern(60, 50, 12, rng), 1e-2)]
    for pattern, ridge in problems:
        M, W = planted(pattern, 3, args.seed)
        for solver, sketch in configurations(args):
            try:
                for _ in wc.iterate(M, W, 3, **solver_options(args, solver, sketch, ridge, 2)):
                    pass
            except Exception:  # noqa: BLE001 -- the timed run reports failures
                pass


def peak_memory(M, W, k: int, solver: str, sketch: str, args, ridge: float) -> float:
    """tracemalloc peak (MiB) over the init and one iteration, in a run of its own so that the
    tracing does not slow the timed runs."""
    gc.collect()
    tracemalloc.start()
    try:
        for _ in wc.iterate(M, W, k, **solver_options(args, solver, sketch, ridge, 1)):
            pass
        return tracemalloc.get_traced_memory()[1] / 2**20
    except Exception:  # noqa: BLE001 -- the timed run reports the failure
        return math.nan
    finally:
        tracemalloc.stop()


def inner_eps_text(args) -> str:
    """The inner accuracy the regressions ran at: '' when the keyword does not exist (then = eps)."""
    if not HAS_INNER_EPS:
        return ""
    return str(args.inner_eps if args.inner_eps is not None else ITERATE_PARAMS["inner_eps"].default)


def reached(f: float, f_star: float, target: float) -> bool:
    return f - f_star <= target * abs(f_star) if f_star > 0 else f <= f_star


def time_to_accuracy(run: Run, f_star: float | None, target: float) -> tuple[float, int, str]:
    """(elapsed seconds, iteration, status) at the first iteration within target of f*."""
    if f_star is None:
        return math.nan, 0, "no f* (exact did not run)"
    for iteration, f, _, _, elapsed in run.trace:
        if reached(f, f_star, target):
            return elapsed, iteration, "reached"
    why = {"budget": " (budget)", "failed": " (failed)"}.get(run.stop, "")
    if run.stop in ("fit", "stalled"):
        why = f" (the solver stopped: {run.stop})"
    return math.nan, 0, f"not reached in {run.iterations} iterations{why}"


# ----------------------------------------------------------------------------------------------
# Predictions (full runs only: they decide what is skipped under --budget)
# ----------------------------------------------------------------------------------------------

def predict(solver: str, sketch: str, k: int, case: str, past: dict, gram: float,
            exact: float, pattern: Pattern, rate: float) -> tuple[float, str]:
    """(predicted s/iter, how) before running a configuration; (nan, '') if unknown."""
    key = (case, solver, sketch)
    if sketch == "gaussian" and math.isfinite(exact):
        s = 4 * k  # the default sketch size
        value = 4 * exact + 2 * pattern.entries * s / rate
        return value, ("predicted for the Gaussian sketch: a dense s x N_i Gaussian per row, "
                       "2 s N_i k flops (4x the Gram's) and s N_i normals per row, s = 4k")
    if key in past:  # nnz k^2 + n k^3 terms, with overheads: about k^1.5 in practice
        k0, t0 = past[key]
        return t0 * (k / k0) ** 1.5, f"predicted from k={k0} as t * (k/{k0})^1.5"
    if solver == "exact" and math.isfinite(gram):
        return gram, "predicted from the Gram product alone"
    return math.nan, ""


# ----------------------------------------------------------------------------------------------
# One case at one k
# ----------------------------------------------------------------------------------------------

def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def configurations(args) -> list:
    out = [("exact", "")]
    for solver in args.solver_list:
        if solver == "sketched":
            out += [("sketched", s) for s in args.sketch_list]
        elif solver != "exact":
            out.append((solver, ""))
    return out


class Clock:
    """The full run's budgets: per configuration, and what is left of --max-minutes. In --quick
    runs both are infinite, so nothing is skipped or cut whatever the load."""

    def __init__(self, args):
        self.quick = args.quick
        self.per_config = math.inf if args.quick or not args.budget else args.budget
        self.end = (math.inf if args.quick or not args.max_minutes
                    else time.perf_counter() + 60 * args.max_minutes)

    def budget(self) -> float:
        return min(self.per_config, self.end - time.perf_counter())


def bench_problem(name: str, case, pattern: Pattern, k: int, args, clock: Clock, past: dict,
                  rate: float) -> list:
    """Every row for one planted problem, timed back to back."""
    M, W = planted(pattern, k, args.seed, case.values)
    log(f"{name} k={k}: floors")
    floor_times = time_gemm(M, W, k)
    budget = clock.budget()
    gram, gram_note = time_gram(W, k, budget=max(budget / 4, 1.0))
    gram_run = Run(GRAM, predicted=gram, estimate="extrapolated" if gram_note else "",
                   notes=[gram_note or "W @ P(Y) + W.T @ P(X), P = row-wise symmetric outer products"])
    runs, f_star, exact_run = [], None, None
    for solver, sketch in configurations(args):
        label = solver + (f" ({sketch})" if sketch else "")
        budget = clock.budget()
        exact_s = exact_run.s_per_iter if exact_run is not None else math.nan
        if not clock.quick:
            predicted, how = predict(solver, sketch, k, name, past, gram, exact_s, pattern, rate)
            if budget <= 0 or (math.isfinite(predicted) and 2 * predicted > budget):
                run = Run(solver, sketch, predicted=predicted, estimate=how, stop="skipped")
                run.notes.append("skipped: --max-minutes is used up" if budget <= 0 else
                                 f"skipped: {how}; 2 iterations > its {budget:.0f} s budget")
                runs.append(run)
                if solver == "exact":
                    exact_run = run
                continue
        log(f"{name} k={k}: {label}" + ("" if math.isinf(budget) else f" (budget {budget:.0f} s)"))
        run = run_solver(M, W, k, solver, sketch, args, ridge=case.ridge,
                         max_iter=args.max_iter if solver == "exact" else args.max_iter_others,
                         f_star=f_star, budget=budget)
        if args.peak_memory and run.stop != "failed":
            run.peak_mb = peak_memory(M, W, k, solver, sketch, args, case.ridge)
        if run.timed and run.stop != "failed":
            past[(name, solver, sketch)] = (k, run.s_per_iter)
        if solver == "exact":
            exact_run = run
            if run.trace and run.stop != "failed":
                f_star = run.trace[-1][1]
        runs.append(run)
    floor_times += time_gemm(M, W, k)
    del M, W
    gc.collect()
    return rows_for(name, pattern, k, runs, gram_run, floor_times, f_star, args)


def rows_for(name, pattern, k, runs, gram_run, floor_times, f_star, args) -> list:
    floor = statistics.median(floor_times)
    exact = runs[0]
    exact_s = exact.s_per_iter
    tta_exact = time_to_accuracy(exact, f_star, args.target)[0]
    base = dict(case=name, n=pattern.n, m=pattern.m, nnz=pattern.nnz, k=k, floor_s=floor)
    first, second = min(floor_times[:3]), min(floor_times[3:])
    floor_note = (f"machine noise: {first:.3g} s before the solvers, {second:.3g} s after"
                  if abs(first - second) > 0.3 * min(first, second) and first + second > 2e-3
                  else "")  # microsecond products always jitter
    rows = [dict(base, solver=FLOOR, sketch="", s_per_iter=floor, s_min=min(floor_times),
                 s_max=max(floor_times), timed_iterations=len(floor_times),
                 ratio_exact=floor / exact_s, ratio_floor=1.0,
                 note="; ".join(x for x in ("W @ Y (nnz·k)" if pattern.dense is None
                                            else "M @ Y (n·m·k)", floor_note) if x)),
            dict(base, solver=GRAM, sketch="", s_per_iter=gram_run.s_per_iter,
                 ratio_exact=gram_run.s_per_iter / exact_s, ratio_floor=gram_run.s_per_iter / floor,
                 estimate=gram_run.estimate, note="; ".join(gram_run.notes))]
    for run in runs:
        notes = list(run.notes)
        if run.estimate and run.estimate != "extrapolated":
            notes.insert(0, f"~ = {run.estimate}")
        if math.isfinite(run.peak_mb):
            notes.append(f"peak {run.peak_mb:.0f} MB")
        if run.choices:
            notes.append("auto chose: " + ", ".join(f"{c} x{n}" for c, n in run.choices.most_common()))
        if run is exact and f_star is not None:
            notes.insert(0, f"f* = {f_star:.6g} (relative {run.trace[-1][2]:.4e})" + (
                "" if run.stop in ("fit", "stalled") else
                f", not converged (stop: {run.stop})"))
        tta, tta_it, status = (time_to_accuracy(run, f_star, args.target) if run.trace
                               else (math.nan, 0, run.stop or "did not run"))
        compared_at, versus = 0, math.nan
        if run.trace and exact.trace:
            compared_at = min(run.iterations, exact.iterations)
            fe = exact.f_at(compared_at)
            if fe > 0:
                versus = run.f_at(compared_at) / fe - 1
        timed = run.timed
        exact_pct = (100.0 * run.exact_rows / (run.exact_rows + run.iterative_rows)
                     if run.exact_rows + run.iterative_rows else math.nan)
        s = run.s_per_iter
        rows.append(dict(
            base, solver=run.solver, sketch=run.sketch, s_per_iter=s,
            s_min=min(timed) if timed else math.nan, s_max=max(timed) if timed else math.nan,
            timed_iterations=len(timed), ratio_exact=s / exact_s if exact_s > 0 else math.nan,
            ratio_floor=s / floor, exact_rows_pct=exact_pct,
            inner_mean=run.inner_weighted / run.iterative_rows if run.iterative_rows else math.nan,
            iterations=run.iterations, stop=run.stop, tta_s=tta, tta_iteration=tta_it or "",
            tta_status=status, tta_ratio_exact=tta / tta_exact if tta_exact > 0 else math.nan,
            objective_vs_exact=versus, compared_at=compared_at or "",
            relative_objective=run.trace[-1][2] if run.trace else math.nan,
            f_star_relative=exact.trace[-1][2] if exact.trace else math.nan,
            estimate=run.estimate, peak_mb=run.peak_mb, inner_eps=inner_eps_text(args),
            exact_estimate=bool(exact.estimate),
            choice="; ".join(f"{c} x{n}" for c, n in run.choices.most_common()),
            note="; ".join(x for x in notes if x)))
    return rows


# ----------------------------------------------------------------------------------------------
# Time per iteration against nnz (sketched, default sketch)
# ----------------------------------------------------------------------------------------------

def linearity_sizes(quick: bool) -> tuple[int, int, list]:
    """(k, non-zeros per row and per column, n = m for each point) of the time-vs-nnz check."""
    return (4, 20, [100, 200, 400]) if quick else (64, 1000, [5000, 10000, 20000])


def bench_linearity(args, clock: Clock) -> list:
    """Rows and columns of a fixed count, n = m = nnz / count: s/iter should grow like nnz."""
    k, per_row, sizes = linearity_sizes(args.quick)
    if args.ks:
        k = args.ks[0]
    rows, previous = [], None
    for size in sizes:
        nnz = size * per_row
        base = dict(case="linearity", n=size, m=size, nnz=nnz, k=k, solver="sketched",
                    sketch=DEFAULT_SKETCH)
        budget = clock.budget()
        predicted = previous[1] * nnz / previous[0] if previous else math.nan
        if not clock.quick and (budget <= 0 or (math.isfinite(predicted) and 2 * predicted > budget)):
            rows.append(dict(base, s_per_iter=predicted, estimate="predicted linearly in nnz",
                             note="~ = predicted linearly in nnz; skipped: "
                                  + ("--max-minutes is used up" if budget <= 0 else
                                     f"2 iterations > its {budget:.0f} s budget")))
            continue
        pattern = sparse_rows_pattern(size, size, per_row, np.random.default_rng([args.seed, size]))
        M, W = planted(pattern, k, args.seed)
        log(f"linearity nnz={nnz} k={k}")
        floor = statistics.median(time_gemm(M, W, k))
        run = run_solver(M, W, k, "sketched", DEFAULT_SKETCH, args, ridge=0.0,
                         max_iter=max(2, args.min_iters), f_star=None, budget=budget)
        del M, W, pattern
        gc.collect()
        timed = run.timed
        if timed:
            previous = (nnz, run.s_per_iter)
        rows.append(dict(base, s_per_iter=run.s_per_iter, s_min=min(timed) if timed else math.nan,
                         s_max=max(timed) if timed else math.nan, timed_iterations=len(timed),
                         ratio_floor=run.s_per_iter / floor, iterations=run.iterations,
                         stop=run.stop, inner_mean=(run.inner_weighted / run.iterative_rows
                                                    if run.iterative_rows else math.nan),
                         exact_rows_pct=(100.0 * run.exact_rows / (run.exact_rows + run.iterative_rows)
                                         if run.exact_rows + run.iterative_rows else math.nan),
                         relative_objective=run.trace[-1][2] if run.trace else math.nan,
                         floor_s=floor, note="; ".join(run.notes)))
    first = next((r for r in rows if not r.get("estimate") and math.isfinite(r["s_per_iter"])), None)
    for row in rows:
        if first is not None and math.isfinite(row["s_per_iter"]):
            row["per_nnz"] = (row["s_per_iter"] / row["nnz"]) / (first["s_per_iter"] / first["nnz"])
    return rows


# ----------------------------------------------------------------------------------------------
# Cases
# ----------------------------------------------------------------------------------------------

@dataclass
class Case:
    build: object       # callable(rng) -> Pattern
    ks: list
    ridge: float = 0.0
    values: str = "gaussian"
    fixed_k: bool = False  # the app cases keep the app's rank whatever --ks says
    note: str = ""


def cases_for(quick: bool) -> dict:
    app = ", the app's inpainting size" if not quick else ""
    if quick:  # tiny: one k each, so that the whole run takes seconds on a quiet machine
        return {
            "dense3072": Case(lambda rng: bounded_pattern(96, 80, 0.5, rng), [4]),
            "dense4096": Case(lambda rng: bounded_pattern(112, 96, 0.5, rng), [6]),
            "lognormal3072": Case(lambda rng: lognormal_pattern(96, 80, 0.5, 2.0, rng), [4]),
            "sparse20000": Case(lambda rng: sparse_rows_pattern(300, 300, 20, rng), [4]),
            "app170x768": Case(lambda rng: binary_pattern(42, 192, 0.75, rng, "dense image, the "
                                                          "app's 170×768 scaled by 1/4"),
                               [3], values="image", fixed_k=True),
            "app256x256": Case(lambda rng: binary_pattern(64, 64, 0.75, rng, "dense image, the "
                                                          "app's 256×256 scaled by 1/4"),
                               [5], values="image", fixed_k=True),
            "ratings": Case(lambda rng: ratings_pattern(500, 200, 3_000, rng), [4], ridge=1e-2),
        }
    return {
        "dense3072": Case(lambda rng: bounded_pattern(3072, 3072, 0.5, rng), [32, 64, 128, 256]),
        "dense4096": Case(lambda rng: bounded_pattern(4096, 4096, 0.5, rng), [32, 64, 128, 256]),
        "lognormal3072": Case(lambda rng: lognormal_pattern(3072, 3072, 0.5, 2.0, rng),
                              [32, 64, 128, 256]),
        # the same at half the size: time to accuracy within a session on a shared machine
        "dense1536": Case(lambda rng: bounded_pattern(1536, 1536, 0.5, rng), [64, 128]),
        "lognormal1536": Case(lambda rng: lognormal_pattern(1536, 1536, 0.5, 2.0, rng), [64, 128]),
        "sparse20000": Case(lambda rng: sparse_rows_pattern(20_000, 20_000, 1000, rng), [32, 64, 128]),
        "app170x768": Case(lambda rng: binary_pattern(170, 768, 0.75, rng, "dense image" + app),
                           [12], values="image", fixed_k=True),
        "app256x256": Case(lambda rng: binary_pattern(256, 256, 0.75, rng, "dense image" + app),
                           [20], values="image", fixed_k=True),
        "ratings": Case(lambda rng: ratings_pattern(100_000, 20_000, 5_000_000, rng),
                        [16, 64, 128], ridge=1e-2),
    }


CASE_NAMES = tuple(cases_for(False)) + ("linearity",)


# ----------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------

def machine() -> dict:
    usable = usable_cores()
    blas = blas_info()
    return {
        "date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cores": f"{usable} usable cores of {os.cpu_count()} ({cpu()})",
        "blas": blas,
        "versions": f"Python {platform.python_version()}, numpy {np.__version__}, "
                    f"scipy {scipy.__version__}",
        "load": "%.2f %.2f %.2f" % os.getloadavg() if hasattr(os, "getloadavg") else "?",
    }


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _num(value, spec: str, estimate: bool = False) -> str:
    if not _finite(value):
        return "-"
    text = format(value, spec)
    return f"~{text}" if estimate else text


def _label(row: dict) -> str:
    return row["solver"] + (f" ({row['sketch']})" if row.get("sketch") else "")


def _tta_cell(row: dict) -> str:
    if _finite(row.get("tta_s")):
        return f"{row['tta_s']:.3g} (it {row['tta_iteration']})"
    return row.get("tta_status") or "-"


def markdown_table(rows: list, target: float) -> list:
    lines = [f"| case | k | solver | s/iter | min–max | × exact | × floor | exact rows % | inner it. "
             f"| iters (stop) | s to {target:g} (it) | its × exact | vs exact (at it) | note |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        own = bool(r.get("estimate"))
        either = own or bool(r.get("exact_estimate"))
        spread = (f"{r['s_min']:.3g}–{r['s_max']:.3g}" if _finite(r.get("s_min")) else "-")
        iters = f"{r['iterations']} ({r.get('stop') or '-'})" if r.get("iterations") else "-"
        versus = (f"{r['objective_vs_exact']:+.1e} ({r['compared_at']})"
                  if _finite(r.get("objective_vs_exact")) else "-")
        lines.append(
            f"| {r['case']} | {r['k']} | {_label(r)} | {_num(r.get('s_per_iter'), '.3g', own)} | "
            f"{spread} | {_num(r.get('ratio_exact'), '.3g', either)} | "
            f"{_num(r.get('ratio_floor'), '.3g', own)} | {_num(r.get('exact_rows_pct'), '.0f')} | "
            f"{_num(r.get('inner_mean'), '.1f')} | {iters} | "
            f"{_tta_cell(r) if r['solver'] not in (GRAM, FLOOR) else '-'} | "
            f"{_num(r.get('tta_ratio_exact'), '.3g')} | {versus} | {r.get('note', '')} |")
    return lines


def linearity_table(rows: list) -> list:
    lines = ["| n = m | nnz | k | s/iter | min–max | (s/iter)/nnz, relative to the first | "
             "× W @ Y | iters | inner it. | exact rows % | note |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        own = bool(r.get("estimate"))
        spread = (f"{r['s_min']:.3g}–{r['s_max']:.3g}" if _finite(r.get("s_min")) else "-")
        lines.append(
            f"| {r['n']} | {r['nnz']} | {r['k']} | {_num(r.get('s_per_iter'), '.3g', own)} | "
            f"{spread} | {_num(r.get('per_nnz'), '.2f', own)} | "
            f"{_num(r.get('ratio_floor'), '.3g', own)} | {r.get('iterations') or '-'} | "
            f"{_num(r.get('inner_mean'), '.1f')} | {_num(r.get('exact_rows_pct'), '.0f')} | "
            f"{r.get('note', '')} |")
    return lines


def report(rows: list, linear: list, info: dict, args, descriptions: dict, total: float) -> str:
    command = " ".join(["python", "benchmarks/solvers.py"] + args.argv)
    if HAS_INNER_EPS:
        inner = (f"inner_eps = {args.inner_eps!r} (solvers with an inner loop)"
                 if args.inner_eps is not None else
                 f"inner_eps = the solvers' default ({ITERATE_PARAMS['inner_eps'].default!r})")
    else:
        inner = "inner accuracy = eps (this wlra_core has no inner_eps)"
    budget = ("none (--quick: every case and solver runs to its iteration cap)" if args.quick else
              f"{args.budget:g} s per configuration" if args.budget else "none")
    out = [
        "# WLRA solvers: time per iteration and time to accuracy"
        + (" (--quick sizes)" if args.quick else ""),
        "",
        f"- date: {info['date']}; whole run {total / 60:.1f} min",
        f"- machine: {info['cores']}; load average {info['load_start']} at the start, "
        f"{info['load']} at the end",
        f"- BLAS (threadpoolctl): {info['blas']}",
        f"- {info['versions']}; command: `{command}`",
        f"- every solver: eps = {EPS:g}, {inner}, init = {args.init!r}, seed = {args.seed}, "
        f"memory_budget = {args.memory_budget}, diagnostics off, at most {args.max_iter} "
        f"iterations" + ("" if args.max_iter_others == args.max_iter else
                         f" for exact and {args.max_iter_others} for the others")
        + "; sketched with inner = 'pcg' and the default sketch size 4k; the solvers: "
        f"{', '.join(_label(dict(solver=s, sketch=k)) for s, k in configurations(args))}",
        "- warm-up: every solver first ran 2 untimed iterations on tiny dense, sparse and ridge "
        "problems (JIT compilation and first-call costs kept out of the timings)",
        f"- wall-clock budget: {budget}"
        + ("" if args.quick or not args.max_minutes else f"; whole run capped at {args.max_minutes:g} min"),
        "- s/iter: median of step.seconds over the iterations after the first (the first includes "
        "the init); min–max: their range (floor row: 3 products before and 3 after the solvers)",
        "- × exact: s/iter over exact's on the same problem; × floor: over one plain product "
        "(dense: M @ Y, n·m·k; sparse: W @ Y, nnz·k). An iteration has two half-steps, so even an "
        "ideal solver is a few floors",
        f"- '{GRAM}': W @ P(Y) + Wᵀ @ P(X), P = row-wise symmetric outer products (k(k+1)/2 "
        "columns) in column chunks: the nnz·k² product of the normal equations alone, by BLAS "
        "(scipy's single-threaded product for sparse W), the textbook cost of one exact "
        "iteration; exact's × floor over this row's shows how close it comes (below 1: its own "
        "kernels beat the generic product)",
        "- exact rows %: exact_rows / (exact_rows + iterative_rows) over the timed iterations "
        "(rows the iterative solvers solve directly because they are short); inner it.: mean "
        "inner iterations per iteratively solved regression over the timed iterations",
        "- iters (stop): iterations run, and why they ended: fit / stalled (the solver's rule), "
        "max_iter reached, target (within the target of f*, after at least "
        f"{args.min_iters} iterations), budget, skipped, failed",
        f"- time to accuracy: f* = exact's objective when it stopped (penalised with a ridge); "
        f"'s to {args.target:g}' = step.elapsed (init included) at the first iteration with "
        f"(f − f*)/f* ≤ {args.target:g}, exact's own against its final f*; 'its × exact' = that over "
        "exact's. 'not reached in N iterations' when it was not",
        "- vs exact (at it): f / f_exact − 1 at the last iteration both ran: regressions solved "
        "to eps show a tiny number; a looser inner accuracy takes another path on the way",
        "- `~`: a prediction (the note says how), not a timed iteration; only full runs skip",
        "",
        "Problems (planted, seeded; 'gaussian' values: M = U Vᵀ + 1e-2 N(0, 1), entries of U Vᵀ "
        "~ N(0, 1), truth of rank k; 'image' values: smooth rank-k profiles in [0.1, 0.9] + "
        "0.02 N(0, 1), clipped to [0, 1]):",
        "",
    ]
    out += [f"- {name}: {text}" for name, text in descriptions.items()]
    out += [""] + markdown_table(rows, args.target)
    if linear:
        per_row = linearity_sizes(args.quick)[1]
        out += ["", f"## Time per iteration against nnz (sketched, {DEFAULT_SKETCH})", "",
                f"Sparse rows with {per_row} non-zeros in each row and about as many in each column "
                f"(n = m = nnz / {per_row}), so every regression stays in the same regime and the "
                f"time should grow in proportion to nnz: the (s/iter)/nnz column stays near 1. "
                f"{max(2, args.min_iters)} iterations each, per-iteration timing only.",
                ""] + linearity_table(linear)
    return "\n".join(out) + "\n"


def write_csv(path: str, rows: list) -> None:
    shared_write_csv(path, rows, CSV_FIELDS)


# ----------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------

def _list(text: str) -> list:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_args(argv: list) -> argparse.Namespace:
    default_solvers = ["exact", "sketched", "cg"] + (["auto"] if HAS_AUTO else [])
    parser = argparse.ArgumentParser(
        prog="benchmarks/solvers.py",
        description="Time per iteration and time to accuracy of exact, sketched (every sketch), "
                    "cg and auto on planted WLRA problems, in one run, against the product floors.")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, every case and solver to its iteration cap, no time "
                             "budget; writes solvers_quick.md/.csv")
    parser.add_argument("--cases", default=",".join(CASE_NAMES),
                        help=f"comma-separated subset of {', '.join(CASE_NAMES)} (default: all)")
    parser.add_argument("--ks", default=None,
                        help="ranks for every case but the app ones (which keep k = 12 and 20), "
                             "e.g. 32,64 (default: dense 32,64,128,256; sparse 32,64,128; ratings "
                             "16,64,128; --quick 4 or 6); linearity uses the first")
    parser.add_argument("--solvers", default=",".join(default_solvers),
                        help="solvers to run (default: exact, sketched, cg, and auto when wlra_core has it); "
                             "exact always runs first (it gives f*)")
    parser.add_argument("--sketches", default=",".join(wc.SKETCHES),
                        help="sketches for the sketched solver (default: every one in wlra_core.SKETCHES; "
                             "the default sketch runs first)")
    parser.add_argument("--inner-eps", default=None,
                        help="inner_eps passed to every solver with an inner loop (a number or a "
                             "name such as 'adaptive'); default: not passed, the solvers' own")
    parser.add_argument("--max-iter", type=int, default=None,
                        help="iterations at most for every solver (default 60; 10 with --quick)")
    parser.add_argument("--max-iter-others", type=int, default=None,
                        help="iterations at most for every solver but exact (default: --max-iter); "
                             "more than exact's lets a solver that lags exact's path by a few "
                             "iterations still reach f* when exact stops at its cap")
    parser.add_argument("--min-iters", type=int, default=3,
                        help="iterations at least before a solver stops at the target, so that "
                             "s/iter has iterations after the first to time (default 3)")
    parser.add_argument("--target", type=float, default=1e-6,
                        help="time to accuracy: (f - f*)/f* at most this, f* exact's final objective "
                             "(default 1e-6)")
    parser.add_argument("--init", default="svd", help="init of every solver: svd (default) or random")
    parser.add_argument("--budget", type=float, default=None,
                        help="full runs: most seconds for one configuration (0: none; default "
                             "1800); not allowed with --quick")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="full runs: cap on the whole run, configurations after it are "
                             "skipped (default none); not allowed with --quick")
    parser.add_argument("--peak-memory", action="store_true",
                        help="also measure each solver's tracemalloc peak over init + one "
                             "iteration, in an extra untimed run")
    parser.add_argument("--memory-budget", type=int, default=2**30,
                        help="memory_budget passed to the solvers, in bytes (default 2**30)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the problems and the solvers (default 0)")
    parser.add_argument("--out-dir", default=os.path.join(HERE, "results"),
                        help="where solvers.md/.csv (solvers_quick.* with --quick) are written "
                             "(default: benchmarks/results)")
    args = parser.parse_args(argv)
    args.argv = list(argv)
    if args.quick and (args.budget is not None or args.max_minutes is not None):
        parser.error("--budget and --max-minutes do not apply to --quick: quick runs run every "
                     "case and solver to its iteration cap")
    if args.budget is None and not args.quick:
        args.budget = 1800.0
    args.max_iter = args.max_iter or (10 if args.quick else 60)
    args.max_iter_others = args.max_iter_others or args.max_iter
    if min(args.max_iter, args.max_iter_others, args.min_iters) < 2:
        parser.error("--max-iter, --max-iter-others and --min-iters must be at least 2 (the first "
                     "iteration is not timed)")
    if not 0 < args.target < 1:
        parser.error("--target must be in (0, 1)")
    if args.inner_eps is not None:
        if not HAS_INNER_EPS:
            parser.error("--inner-eps: this wlra_core's iterate has no inner_eps keyword")
        try:
            args.inner_eps = float(args.inner_eps)
        except ValueError:
            pass
    args.case_list = _list(args.cases)
    args.solver_list = _list(args.solvers)
    args.sketch_list = sorted(_list(args.sketches), key=lambda s: s != DEFAULT_SKETCH)
    for what, given, known in (("case", args.case_list, CASE_NAMES),
                               ("solver", args.solver_list, wc.SOLVERS),
                               ("sketch", args.sketch_list, wc.SKETCHES)):
        unknown = [name for name in given if name not in known]
        if unknown or not given:
            parser.error(f"--{what}s: {unknown or 'nothing'} given; choose from {', '.join(known)}")
    if args.ks is not None:
        try:
            args.ks = [int(v) for v in _list(args.ks)]
        except ValueError:
            parser.error(f"--ks: {args.ks!r} is not a comma-separated list of integers")
        if not args.ks or min(args.ks) < 1:
            parser.error("--ks: give positive integers")
    return args


def main(argv: list | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    info = machine()
    info["load_start"] = info["load"]
    started = time.perf_counter()
    log("warm-up")
    warm_up(args)
    clock = Clock(args)
    rate = rng_rate()
    rows, descriptions, past = [], {}, {}
    for name, case in cases_for(args.quick).items():
        if name not in args.case_list:
            continue
        ks = case.ks if case.fixed_k or not args.ks else args.ks
        log(f"building {name}")
        pattern = case.build(np.random.default_rng([args.seed, len(name)]))
        descriptions[name] = (f"{pattern.description}, nnz(W) = {pattern.nnz}, "
                              f"{case.values} values, k = {', '.join(map(str, ks))}"
                              + (f"; ridge {case.ridge:g} for every solver" if case.ridge else ""))
        for k in ks:
            rows += bench_problem(name, case, pattern, k, args, clock, past, rate)
        del pattern
        gc.collect()
    linear = bench_linearity(args, clock) if "linearity" in args.case_list else []
    info["load"] = machine()["load"]
    text = report(rows, linear, info, args, descriptions, time.perf_counter() - started)
    print(text)
    os.makedirs(args.out_dir, exist_ok=True)
    stem = os.path.join(args.out_dir, "solvers_quick" if args.quick else "solvers")
    with open(stem + ".md", "w") as handle:
        handle.write(text)
    write_csv(stem + ".csv", rows + linear)
    log(f"wrote {stem}.md and {stem}.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
