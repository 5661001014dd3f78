"""Time per alternating iteration of the WLRA solvers, in one run, against the matrix-product floor.

For every case (dense W, sparse rows, rating-like rows) and rank k this script builds one planted
problem (seeded), then, back to back in one process so that the ratios are fair on a noisy machine:

1. times one plain product -- dense: the n x m by m x k GEMM ``M @ Y`` (the n*m*k work floor);
   sparse: ``W @ Y`` (the nnz*k floor) -- median of 3 after a warm-up, before and after the solvers;
2. times the exact solver's Gram product alone: ``W @ P(Y)`` and ``W.T @ P(X)``, P the row-wise
   symmetric outer products (k(k+1)/2 columns), in column chunks -- one iteration's Gram work;
3. runs ``wlra_core.iterate`` for exact, sketched (every sketch in ``wlra_core.SKETCHES``) and cg,
   all from the same init (same seed) at the same regression accuracy eps = 1e-8: one untimed
   first iteration (it includes the init), then ``--iters`` timed ones; s/iter is their median
   wall time.

Peak memory is the tracemalloc peak over the init and the first iteration: allocations made after
the inputs existed (numpy arrays, so the solver's own copies count, the caller's inputs do not);
BLAS-internal buffers are not seen. The timed iterations run with tracemalloc off.

Time plan: the run is capped at ``--max-minutes`` (36, so that with problem building the whole
run stays under about 40 minutes), shared between the cases (dense 30%,
sparse 30%, ratings 20%, linearity 20%); each configuration gets a budget from what is left of
its case's share (at most ``--budget`` s). A configuration predicted to take more than twice its
budget for one iteration is skipped and its prediction shown with ``~``; one that runs over its
budget stops early, and if not even one timed iteration fits, its untimed first iteration is
reported with ``~``. The notes column says which.
"""
from __future__ import annotations

import argparse
import csv
import datetime as _dt
import gc
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

import wlra_core as wc  # noqa: E402

EPS = 1e-8
NOISE = 1e-2
GRAM = "exact: Gram product only"
CASE_SHARES = {"dense": 0.3, "lognormal": 0.1, "sparse": 0.25, "ratings": 0.15, "linearity": 0.2}
CSV_FIELDS = (
    "case", "n", "m", "nnz", "k", "solver", "sketch", "s_per_iter", "ratio_exact", "ratio_gemm",
    "relative_objective", "objective_vs_exact", "iterations", "timed_iterations", "inner_mean",
    "exact_rows_pct", "peak_mb", "gemm_s", "estimate", "note",
)


# ----------------------------------------------------------------------------------------------
# Problems: W patterns built directly (CSR index arrays for sparse W), planted values on them
# ----------------------------------------------------------------------------------------------

@dataclass
class Pattern:
    """Where W is non-zero: a dense 0/1 array, or CSR index arrays (weights all 1)."""

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


def dense_pattern(n: int, m: int, p: float, rng: np.random.Generator) -> Pattern:
    W = (rng.random((n, m)) < p).astype(np.float64)
    return Pattern(n, m, f"dense W, Bernoulli p={p:g}, n={n}, m={m}", dense=W)


def lognormal_pattern(n: int, m: int, p: float, sigma: float, rng: np.random.Generator) -> Pattern:
    """Bernoulli(p) support with log-normal weights exp(σ·N(0, 1)): each row's weighted design
    D_√W_i Y is ill-conditioned (κ in the hundreds at σ = 2.5), the case the preconditioner is for."""
    W = (rng.random((n, m)) < p) * np.exp(sigma * rng.standard_normal((n, m)))
    return Pattern(n, m, f"dense W, Bernoulli p={p:g} support, log-normal weights exp({sigma:g}·N(0,1)), "
                         f"n={n}, m={m}", dense=W)


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
    return Pattern(n, m, f"sparse W, {per_row} non-zeros in every row (one uniform column per "
                         f"stratum of width m/{per_row}), n={n}, m={m}",
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
    return Pattern(n, m, f"rating-like W, n={n}, m={m}, log-normal row counts (median "
                         f"{int(np.median(per))}, max {int(per.max())}), Zipf(0.8) item popularity",
                   indptr=indptr, indices=cols)


def planted(pattern: Pattern, k: int, seed: int):
    """(M, W): M = U V^T + noise on the pattern (entries of U V^T ~ N(0, 1)), W its 0/1 weights.

    Sparse: M and W are CSR with the pattern's structure; the values are computed in chunks of
    entries, O(nnz k), never through a dense matrix."""
    rng = np.random.default_rng([seed, k])
    U = rng.standard_normal((pattern.n, k))
    V = rng.standard_normal((pattern.m, k)) / math.sqrt(k)
    if pattern.dense is not None:
        M = U @ V.T
        M += NOISE * rng.standard_normal(M.shape)
        return M, pattern.dense
    nnz = pattern.indices.size
    rows = np.repeat(np.arange(pattern.n, dtype=np.int64), np.diff(pattern.indptr))
    values = np.empty(nnz)
    chunk = max(1, 2**22 // k)
    for start in range(0, nnz, chunk):
        stop = min(start + chunk, nnz)
        values[start:stop] = np.einsum("ij,ij->i", U[rows[start:stop]],
                                       V[pattern.indices[start:stop]])
    del rows
    values += NOISE * rng.standard_normal(nnz)
    shape = (pattern.n, pattern.m)
    M = sp.csr_matrix((values, pattern.indices, pattern.indptr), shape=shape)
    W = sp.csr_matrix((np.ones(nnz), pattern.indices, pattern.indptr), shape=shape)
    return M, W


# ----------------------------------------------------------------------------------------------
# Floors: one plain product, and the exact solver's Gram product alone
# ----------------------------------------------------------------------------------------------

def time_gemm(M, W, k: int, repeats: int = 3) -> float:
    """Median seconds of M @ Y (dense: the n*m*k floor) or W @ Y (sparse: the nnz*k floor)."""
    A = W if sp.issparse(W) else M
    Y = np.random.default_rng(1).standard_normal((A.shape[1], k))
    A @ Y  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        A @ Y
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _gram_half(W, F: np.ndarray, chunk_bytes: int, deadline: float) -> tuple[float, int, int]:
    """Seconds of W @ P(F) in column chunks; past ``deadline`` it stops and extrapolates by columns.

    The first chunk is small, later ones are sized from the measured rate to end near the deadline
    (and to stay within ``chunk_bytes``), so a slow product cannot overrun its budget by much."""
    a, b = np.triu_indices(F.shape[1])
    total = a.size
    widest = max(1, min(total, chunk_bytes // (8 * max(F.shape[0], W.shape[0]))))
    chunk = min(widest, 8)
    done, seconds = 0, 0.0
    while done < total:
        stop = min(done + chunk, total)
        start = time.perf_counter()
        P = F[:, a[done:stop]] * F[:, b[done:stop]]
        W @ P
        seconds += time.perf_counter() - start
        done = stop
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        chunk = int(max(1, min(widest, done / max(seconds, 1e-9) * left / 2)))
    return seconds * total / done, done, total


def time_gram(W, k: int, budget: float, chunk_bytes: int = 2**27) -> tuple[float, str]:
    """Seconds of one iteration's Gram products (both half-steps); extrapolated past ``budget``."""
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

@dataclass
class Run:
    solver: str
    sketch: str = ""
    s_per_iter: float = math.nan
    relative_objective: float = math.nan
    iterations: int = 0
    timed_iterations: int = 0
    inner_mean: float = math.nan
    exact_rows_pct: float = math.nan
    peak_mb: float = math.nan
    estimate: str = ""  # "" measured; else how s_per_iter was estimated
    notes: list = field(default_factory=list)


def run_solver(M, W, k: int, solver: str, sketch: str | None, *, iters: int, budget: float,
               init: str, ridge: float, memory_budget: int, seed: int) -> Run:
    """One untimed first iteration (init included, tracemalloc on), then up to ``iters`` timed
    ones, stopping once the next one would end past ``budget`` seconds."""
    run = Run(solver, sketch or "")
    options = dict(solver=solver, eps=EPS, max_iter=1 + iters, init=init, ridge=ridge, seed=seed,
                   memory_budget=memory_budget, diagnostics=False)
    if solver == "sketched":
        options.update(sketch=sketch, inner="pcg")
    n, m = W.shape
    gc.collect()
    started = time.perf_counter()
    first = math.nan
    times, inner, exact_rows, last = [], [], [], None
    tracemalloc.start()
    try:
        steps = wc.iterate(M, W, k, **options)
        while True:
            before = time.perf_counter()
            try:
                step = next(steps)
            except StopIteration:
                break
            spent = time.perf_counter() - before
            if tracemalloc.is_tracing():
                run.peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
                tracemalloc.stop()
                first = spent
            else:
                times.append(spent)
                stats = step.inner or {}
                if stats.get("inner_iterations") is not None and stats.get("iterative_rows", 1):
                    inner.append(float(stats["inner_iterations"]))
                if stats.get("exact_rows") is not None:
                    exact_rows.append(100.0 * float(stats["exact_rows"]) / (n + m))
            last = step
            if len(times) < iters and time.perf_counter() - started + spent > budget:
                run.notes.append(f"stopped after {len(times)} timed iteration(s): "
                                 f"{spent:.1f} s/iter against a {budget:.0f} s budget")
                steps.close()
                break
    except Exception as exc:  # noqa: BLE001 -- a failing solver is a row in the table, not the end
        run.notes.append(f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
    if last is not None:
        run.iterations = last.iteration
        run.relative_objective = float(last.relative_objective)
        reason = getattr(last, "stop_reason", None)
        if reason and reason != "max_iter reached":
            run.notes.append(f"stopped by the solver ({reason}) at iteration {last.iteration}")
    run.timed_iterations = len(times)
    if times:
        run.s_per_iter = statistics.median(times)
    elif math.isfinite(first):
        run.s_per_iter = first
        run.estimate = "first iteration (includes the init, no warm start)"
    if inner:
        run.inner_mean = statistics.fmean(inner)
    if exact_rows:
        run.exact_rows_pct = statistics.fmean(exact_rows)
    return run


# ----------------------------------------------------------------------------------------------
# The time plan
# ----------------------------------------------------------------------------------------------

class Share:
    """A slice of the run's time: configurations get budgets from what is left of it."""

    def __init__(self, seconds: float, configs: int, cap: float, floor: float):
        self.start = time.perf_counter()
        self.seconds = seconds
        self.left = configs
        self.cap = cap
        self.floor = floor

    def remaining(self) -> float:
        return self.seconds - (time.perf_counter() - self.start)

    def budget(self) -> float:
        """Budget of the next configuration: 1.5x an even split of what is left, within limits."""
        even = self.remaining() / max(self.left, 1)
        self.left = max(self.left - 1, 0)
        return max(self.floor, min(self.cap, 1.5 * even))


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


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


def bench_problem(case: str, pattern: Pattern, k: int, args, share: Share, ridge: float,
                  past: dict, rate: float) -> list:
    """Every solver row for one planted problem, timed back to back."""
    M, W = planted(pattern, k, args.seed)
    log(f"[{share.remaining():7.0f} s left in {case}] k={k}: floors")
    gemm = time_gemm(M, W, k)
    budget = share.budget()
    gram, gram_note = time_gram(W, k, budget=max(budget / 3, 1.0))
    runs = [Run(GRAM, s_per_iter=gram, estimate="extrapolated" if gram_note else "",
                notes=[gram_note or "W @ P(Y) + W.T @ P(X), P = row-wise outer products"])]
    exact_time = math.nan
    for solver in args.solver_list:
        for sketch in (args.sketch_list if solver == "sketched" else [""]):
            budget = share.budget()
            predicted, how = predict(solver, sketch, k, case, past, gram, exact_time, pattern, rate)
            if share.remaining() <= 0:
                run = Run(solver, sketch, s_per_iter=predicted, estimate=how if how else "")
                run.notes.append(f"skipped: the {case} share of --max-minutes is used up")
            elif math.isfinite(predicted) and predicted > 2 * budget:
                run = Run(solver, sketch, s_per_iter=predicted, estimate=how)
                run.notes.append(f"skipped: {how}, {predicted:.0f} s/iter > 2x its "
                                 f"{budget:.0f} s budget")
            else:
                log(f"[{share.remaining():7.0f} s left in {case}] k={k}: {solver} {sketch} "
                    f"(budget {budget:.0f} s)")
                run = run_solver(M, W, k, solver, sketch or None, iters=args.iters, budget=budget,
                                 init=args.init, ridge=ridge, memory_budget=args.memory_budget,
                                 seed=args.seed)
                if math.isfinite(run.s_per_iter) and not any(n.startswith("failed") for n in run.notes):
                    past[(case, solver, sketch)] = (k, run.s_per_iter)
            if solver == "exact":
                exact_time = run.s_per_iter
            runs.append(run)
    gemm_after = time_gemm(M, W, k)
    del M, W
    gc.collect()
    gemm_mid = statistics.median([gemm, gemm_after])
    exact = next((r for r in runs if r.solver == "exact"), None)
    rows = []
    for run in runs:
        notes = list(run.notes)
        if run is runs[0] and abs(gemm_after - gemm) > 0.3 * min(gemm, gemm_after):
            notes.append(f"machine noise: the floor product took {gemm:.3g} s before the solvers "
                         f"and {gemm_after:.3g} s after")
        if run.estimate and run.estimate != "extrapolated":
            notes.insert(0, f"~ = {run.estimate}")
        versus = math.nan
        if (exact is not None and run.iterations and run.iterations == exact.iterations
                and exact.relative_objective > 0):
            versus = run.relative_objective / exact.relative_objective - 1
        rows.append(dict(
            case=case, n=pattern.n, m=pattern.m, nnz=pattern.nnz, k=k, solver=run.solver,
            sketch=run.sketch, s_per_iter=run.s_per_iter,
            ratio_exact=run.s_per_iter / exact.s_per_iter if exact and exact.s_per_iter > 0 else math.nan,
            ratio_gemm=run.s_per_iter / gemm_mid, relative_objective=run.relative_objective,
            objective_vs_exact=versus, iterations=run.iterations,
            timed_iterations=run.timed_iterations, inner_mean=run.inner_mean,
            exact_rows_pct=run.exact_rows_pct, peak_mb=run.peak_mb, gemm_s=gemm_mid,
            estimate=run.estimate, exact_estimate=bool(exact and exact.estimate),
            note="; ".join(n for n in notes if n)))
    return rows


def linearity_sizes(quick: bool) -> tuple[int, int, list]:
    """(k, non-zeros per row and per column, n = m for each point) of the time-vs-nnz check."""
    return (8, 40, [500, 1000, 2000]) if quick else (64, 1000, [5000, 10000, 20000])


def bench_linearity(args, share: Share) -> list:
    """Sketched solver (default sketch), rows and columns of a fixed count, n = m = nnz / count."""
    k, per_row, sizes = linearity_sizes(args.quick)
    if args.ks:
        k = args.ks[0]
    rows, previous = [], None
    for size in sizes:
        nnz = size * per_row
        base = dict(case="linearity", n=size, m=size, nnz=nnz, k=k, solver="sketched",
                    sketch="default")
        budget = share.budget()
        predicted = previous[1] * nnz / previous[0] if previous else math.nan
        if share.remaining() <= 0 or (math.isfinite(predicted) and predicted > 2 * budget):
            why = ("the linearity share of --max-minutes is used up" if share.remaining() <= 0
                   else f"{predicted:.0f} s/iter > 2x its {budget:.0f} s budget")
            rows.append(dict(base, s_per_iter=predicted, estimate="predicted linearly in nnz",
                             note=f"~ = predicted linearly in nnz; skipped: {why}"))
            continue
        pattern = sparse_rows_pattern(size, size, per_row,
                                      np.random.default_rng([args.seed, size]))
        M, W = planted(pattern, k, args.seed)
        log(f"[{share.remaining():7.0f} s left in linearity] nnz={nnz} k={k} (budget {budget:.0f} s)")
        gemm = time_gemm(M, W, k)
        run = run_solver(M, W, k, "sketched", None, iters=args.iters, budget=budget,
                         init=args.init, ridge=0.0, memory_budget=args.memory_budget, seed=args.seed)
        del M, W, pattern
        gc.collect()
        if math.isfinite(run.s_per_iter):
            previous = (nnz, run.s_per_iter)
        notes = ([f"~ = {run.estimate}"] if run.estimate else []) + run.notes
        rows.append(dict(base, s_per_iter=run.s_per_iter, ratio_gemm=run.s_per_iter / gemm,
                         relative_objective=run.relative_objective, iterations=run.iterations,
                         timed_iterations=run.timed_iterations, inner_mean=run.inner_mean,
                         exact_rows_pct=run.exact_rows_pct, peak_mb=run.peak_mb, gemm_s=gemm,
                         estimate=run.estimate, note="; ".join(notes)))
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
    build: object  # callable(rng) -> Pattern
    ks: list
    ridge: float = 0.0


def cases_for(quick: bool) -> dict:
    if quick:
        return {
            "dense": Case(lambda rng: dense_pattern(200, 160, 0.5, rng), [4, 8]),
            "lognormal": Case(lambda rng: lognormal_pattern(200, 160, 0.5, 2.5, rng), [4, 8]),
            "sparse": Case(lambda rng: sparse_rows_pattern(1000, 800, 30, rng), [4, 8]),
            "ratings": Case(lambda rng: ratings_pattern(2000, 500, 15_000, rng), [4, 8], ridge=1e-2),
        }
    return {
        "dense": Case(lambda rng: dense_pattern(4096, 4096, 0.5, rng), [16, 32, 64, 128, 256]),
        "lognormal": Case(lambda rng: lognormal_pattern(2048, 2048, 0.5, 2.5, rng), [16, 64, 128]),
        "sparse": Case(lambda rng: sparse_rows_pattern(20_000, 20_000, 1000, rng), [16, 64, 128]),
        "ratings": Case(lambda rng: ratings_pattern(100_000, 20_000, 5_000_000, rng),
                        [16, 64, 128], ridge=1e-2),
    }


# ----------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------

def machine() -> dict:
    from threadpoolctl import threadpool_info

    def owner(path: str) -> str:
        return next((name for name in ("numpy", "scipy") if f"{name}.libs" in path
                     or f"{os.sep}{name}{os.sep}" in path), "other")

    blas = [f"{owner(i.get('filepath', ''))}: {i.get('internal_api')} {i.get('version')} "
            f"({i.get('num_threads')} threads, {i.get('architecture', '?')})"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cores": f"{usable} usable cores of {os.cpu_count()} ({cpu})",
        "blas": "; ".join(blas) or "none found",
        "versions": f"Python {platform.python_version()}, numpy {np.__version__}, "
                    f"scipy {scipy.__version__}",
        "load": "%.2f %.2f %.2f" % os.getloadavg() if hasattr(os, "getloadavg") else "?",
    }


def _num(value, spec: str, estimate: bool = False) -> str:
    if value is None or value == "" or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    text = format(value, spec)
    return f"~{text}" if estimate else text


def markdown_table(rows: list) -> list:
    lines = ["| case | k | solver | sketch | s/iter | ratio to exact | ratio to floor | "
             "rel. objective | vs exact | iters (timed) | inner it. | exact rows % | peak MB | note |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        own = bool(r.get("estimate"))
        either = own or bool(r.get("exact_estimate"))
        lines.append(
            f"| {r['case']} | {r['k']} | {r['solver']} | {r.get('sketch') or '-'} | "
            f"{_num(r.get('s_per_iter'), '.3g', own)} | {_num(r.get('ratio_exact'), '.3g', either)} | "
            f"{_num(r.get('ratio_gemm'), '.3g', own)} | {_num(r.get('relative_objective'), '.4e')} | "
            f"{_num(r.get('objective_vs_exact'), '+.1e')} | "
            f"{r.get('iterations') or '-'} ({r.get('timed_iterations') or 0}) | "
            f"{_num(r.get('inner_mean'), '.1f')} | {_num(r.get('exact_rows_pct'), '.0f')} | "
            f"{_num(r.get('peak_mb'), '.0f')} | {r.get('note', '')} |")
    return lines


def linearity_table(rows: list) -> list:
    lines = ["| n = m | nnz | k | s/iter | (s/iter)/nnz, relative to the first | ratio to W @ Y | "
             "iters (timed) | inner it. | exact rows % | peak MB | note |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        own = bool(r.get("estimate"))
        lines.append(
            f"| {r['n']} | {r['nnz']} | {r['k']} | {_num(r.get('s_per_iter'), '.3g', own)} | "
            f"{_num(r.get('per_nnz'), '.2f', own)} | {_num(r.get('ratio_gemm'), '.3g', own)} | "
            f"{r.get('iterations') or '-'} ({r.get('timed_iterations') or 0}) | "
            f"{_num(r.get('inner_mean'), '.1f')} | {_num(r.get('exact_rows_pct'), '.0f')} | "
            f"{_num(r.get('peak_mb'), '.0f')} | {r.get('note', '')} |")
    return lines


def report(rows: list, linear: list, info: dict, args, descriptions: dict, total: float) -> str:
    command = " ".join(["python", "benchmarks/solvers.py"] + args.argv)
    out = [
        "# WLRA solvers: time per alternating iteration" + (" (--quick sizes)" if args.quick else ""),
        "",
        f"- date: {info['date']}; whole run {total / 60:.1f} min (cap {args.max_minutes:g} min)",
        f"- machine: {info['cores']}; load average {info['load_start']} at the start, "
        f"{info['load']} at the end",
        f"- BLAS (threadpoolctl): {info['blas']}",
        f"- {info['versions']}; command: `{command}`",
        f"- every solver: eps = {EPS:g} (its regression accuracy and stopping rule), init = "
        f"{args.init!r}, seed = {args.seed}, memory_budget = {args.memory_budget}, diagnostics "
        f"off; sketched with inner = 'pcg' and the default sketch size 4k",
        f"- s/iter: median wall time of up to {args.iters} iterations after the first (the first "
        f"includes the init and is not timed); 'iters (timed)' gives how many ran and were timed",
        "- rel. objective: f / sum W M^2 after the last iteration run; 'vs exact': its relative "
        "difference from exact's after the same number of iterations (equal accuracy shows as "
        "a tiny number)",
        "- ratio to floor: s/iter over one plain product timed in the same run (dense: M @ Y, "
        "n*m*k; sparse: W @ Y, nnz*k; median of before and after the solvers). An iteration has "
        "two half-steps, so even an ideal solver is a few floors",
        f"- '{GRAM}': W @ P(Y) + W.T @ P(X), P = row-wise symmetric outer products (k(k+1)/2 "
        "columns) in column chunks -- the nnz*k^2 product of the normal equations. For dense W "
        "the exact solver computes exactly this; for sparse W it forms each row's Gram by batched "
        "products over padded rows instead, so there the row is the textbook cost, not its own",
        "- inner it.: mean inner (PCG / CG) iterations per regression; exact rows %: share of the "
        "rows of both half-steps that the iterative solvers solve exactly (N_i <= sketch size)",
        "- peak MB: tracemalloc peak over the init and the first iteration, allocations made after "
        "the inputs existed (numpy arrays; BLAS-internal buffers not seen)",
        "- `~`: an estimate, not a timed iteration (see the note: a prediction, an extrapolation "
        "or the untimed first iteration); configurations over budget are skipped or cut and say so",
        "",
        "Problems (planted, rank k truth: M = U V^T + 1e-2 noise on the weighted entries, entries "
        "of U V^T ~ N(0, 1); weights 0/1):",
        "",
    ]
    out += [f"- {name}: {text}" for name, text in descriptions.items()]
    out += [""] + markdown_table(rows)
    if linear:
        per_row = linearity_sizes(args.quick)[1]
        out += ["", "## Time per iteration against nnz (sketched, default sketch)", "",
                f"Sparse rows with {per_row} non-zeros in each row and about as many in each column "
                f"(n = m = nnz / {per_row}), so every regression stays in the same regime and the "
                "time should grow in proportion to nnz: the (s/iter)/nnz column stays near 1.",
                ""] + linearity_table(linear)
    return "\n".join(out) + "\n"


def write_csv(path: str, rows: list) -> None:
    fields = CSV_FIELDS + ("exact_estimate", "per_nnz")
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            clean = {}
            for key in fields:
                value = row.get(key)
                clean[key] = "" if value is None or (isinstance(value, float)
                                                     and not math.isfinite(value)) else value
            writer.writerow(clean)


# ----------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------

def _list(text: str) -> list:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_args(argv: list) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/solvers.py",
        description="Time per alternating iteration of exact, sketched (every sketch) and cg on "
                    "planted WLRA problems, in one run, against the GEMM / nnz*k floor.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes (well under a minute); writes solvers_quick.md/.csv")
    parser.add_argument("--cases", default="dense,lognormal,sparse,ratings,linearity",
                        help="comma-separated subset of dense, sparse, ratings, linearity")
    parser.add_argument("--ks", default=None,
                        help="ranks for every case, e.g. 16,64 (default per case: dense "
                             "16,32,64,128,256; sparse and ratings 16,64,128; linearity 64); "
                             "linearity uses the first")
    parser.add_argument("--iters", type=int, default=3,
                        help="timed iterations after the untimed first one; s/iter is their median")
    parser.add_argument("--solvers", default="exact,sketched,cg", help="solvers to time")
    parser.add_argument("--sketches", default=",".join(wc.SKETCHES),
                        help="sketches for the sketched solver")
    parser.add_argument("--init", default="random",
                        help="init of every solver ('random' keeps the init cheap on the big "
                             "sparse problems; 'svd' works too)")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="cap on the whole run, shared dense 30%%, sparse 30%%, ratings 20%%, "
                             "linearity 20%%; problem building and overruns come on top "
                             "(default 36; 1 with --quick)")
    parser.add_argument("--budget", type=float, default=None,
                        help="most seconds for one configuration (default 150; 10 with --quick)")
    parser.add_argument("--memory-budget", type=int, default=2**30,
                        help="memory_budget passed to the solvers, in bytes")
    parser.add_argument("--seed", type=int, default=0, help="seed of the problems and the solvers")
    parser.add_argument("--out-dir", default=os.path.join(HERE, "results"),
                        help="where solvers.md/.csv (solvers_quick.* with --quick) are written")
    args = parser.parse_args(argv)
    args.argv = list(argv)
    if args.iters < 1:
        parser.error("--iters must be at least 1")
    args.max_minutes = args.max_minutes or (1.0 if args.quick else 36.0)
    args.budget = args.budget or (10.0 if args.quick else 150.0)
    args.case_list = _list(args.cases)
    args.solver_list = _list(args.solvers)
    args.sketch_list = _list(args.sketches)
    for what, given, known in (("case", args.case_list, tuple(CASE_SHARES)),
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
    weights = {name: CASE_SHARES[name] for name in args.case_list}
    total_weight = sum(weights.values())
    configs_per_k = 1 + sum(len(args.sketch_list) if s == "sketched" else 1 for s in args.solver_list)
    floor = 2.0 if args.quick else 10.0
    rate = rng_rate()
    rows, descriptions, past = [], {}, {}
    for name, case in cases_for(args.quick).items():
        if name not in weights:
            continue
        ks = args.ks or case.ks
        log(f"building {name}")
        pattern = case.build(np.random.default_rng([args.seed, len(name)]))
        share = Share(60 * args.max_minutes * weights[name] / total_weight,
                      configs_per_k * len(ks), args.budget, floor)
        descriptions[name] = f"{pattern.description}, nnz(W) = {pattern.nnz}" + (
            f"; ridge {case.ridge:g} for every solver (rows with fewer than k ratings)"
            if case.ridge else "")
        for k in ks:
            rows += bench_problem(name, pattern, k, args, share, case.ridge, past, rate)
        del pattern
        gc.collect()
    linear = []
    if "linearity" in weights:
        share = Share(60 * args.max_minutes * weights["linearity"] / total_weight, 3,
                      args.budget, floor)
        linear = bench_linearity(args, share)
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
