"""wlra_core against peer recommender libraries on planted rating matrices shaped like MovieLens.

For every case (``100k``: 943 users x 1682 items, 100 000 ratings; ``1m``: 6 040 x 3 706,
1 000 209 ratings) this script builds one planted, seeded rating set with heavy-tailed activity
(log-normal ratings per user, at least 20 each; Zipf-like item popularity; no repeated pair):

    rating = mu + b_user + c_item + <u, v> (rank 10) + noise,   noise ~ N(0, sigma^2)

(not clipped unless ``--clip``), splits it 90/10 at random (seeded), and then, back to back in one
process on the same split:

1. ``wlra_core.iterate`` for "exact", "cg" (and "auto" when wlra_core offers it), ridge 5, eps
   1e-10, on the training ratings centred by their mean (wlra_core has no bias terms; when
   ``iterate`` takes ``bias=True`` those runs are added on the raw ratings); the held-out RMSE is
   computed after every iteration from the step's factors;
2. scikit-surprise ``SVD`` (biased, its default hyper-parameters, 20 epochs): fit time, test RMSE;
3. implicit's ``AlternatingLeastSquares`` (CPU, factors = k, 15 iterations) on the training
   ratings as confidence weights: seconds per iteration only (it fits implicit feedback, so an
   RMSE against the ratings would mean nothing).

A peer that is not importable is reported as missing; the wlra_core rows run regardless. Writes
``results/peers.md`` (header and table) and ``results/peers.csv`` (the same rows, raw numbers, with
the RMSE curves); ``--quick`` (one tiny case, 3 iterations) writes ``results/peers_quick.*``.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import gc
import inspect
import math
import os
import platform
import statistics
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np
import scipy
import scipy.sparse as sp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # run from a checkout without installing

from machine import blas as blas_info, cpu, usable_cores, version, write_csv as shared_write_csv  # noqa: E402
import wlra_core as wc  # noqa: E402

RIDGE = 5.0
EPS = 1e-10
MIN_PER_USER = 20
TEST_SHARE = 0.1
PLANTED_RANK = 10
MU, USER_SD, ITEM_SD, LOW_RANK_SD, NOISE_SD = 3.5, 0.4, 0.5, 0.6, 0.8
USER_SIGMA = 1.1   # log-normal spread of the ratings per user beyond the minimum
ZIPF = 0.8         # item popularity ~ rank^-ZIPF
SURPRISE_EPOCHS = 20
IMPLICIT_ITERATIONS = 15
SURPRISE = "surprise SVD"
IMPLICIT = "implicit ALS"
CSV_FIELDS = (
    "case", "n", "m", "nnz", "k", "contender", "solver", "bias", "s_per_iter", "s_per_iter_stat",
    "fit_seconds", "final_rmse", "best_rmse", "best_iteration", "time_to_surprise", "iterations",
    "noise_sd", "oracle_rmse", "note", "rmse_curve", "seconds_curve",
)


@dataclass(frozen=True)
class Case:
    n: int
    m: int
    nnz: int
    k: int


CASES = {
    "100k": Case(943, 1682, 100_000, 10),
    "1m": Case(6040, 3706, 1_000_209, 32),
}
QUICK = Case(200, 300, 5000, 5)


# ----------------------------------------------------------------------------------------------
# Problem: who rated what, planted ratings, the split
# ----------------------------------------------------------------------------------------------

def allocate(total: int, weights: np.ndarray, low: int, high: int) -> np.ndarray:
    """Integers low <= c <= high summing to exactly ``total``, c - low about proportional to weights."""
    n = weights.size
    if not n * low <= total <= n * high:
        raise ValueError(f"cannot give {n} rows {total} entries within [{low}, {high}] each")
    extra, room = total - n * low, high - low
    lo, hi = 0.0, 1.0
    while np.minimum(room, hi * weights).sum() < extra:
        hi *= 2.0
    for _ in range(100):  # bisection on the scale: the capped sum is monotone in it
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if np.minimum(room, mid * weights).sum() < extra else (lo, mid)
    share = np.minimum(room, hi * weights)
    counts = np.floor(share).astype(np.int64)
    short = extra - int(counts.sum())
    frac = np.where(counts < room, share - counts, -1.0)
    counts[np.argsort(-frac, kind="stable")[:short]] += 1  # largest remainders first
    return low + counts


def rating_pattern(case: Case, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of case.nnz distinct pairs, sorted by row then column.

    Each user draws their count of distinct items without replacement, weighted by popularity
    (Efraimidis-Spirakis: the smallest Exp(1)/p keys), blocks of users at a time."""
    n, m = case.n, case.m
    counts = allocate(case.nnz, rng.lognormal(0.0, USER_SIGMA, n), MIN_PER_USER, int(0.6 * m))
    popularity = rng.permutation(1.0 / np.arange(1, m + 1) ** ZIPF)
    rows, cols = [], []
    block = max(1, 2**22 // m)
    for start in range(0, n, block):  # blocks keep the n x m keys out of memory
        stop = min(start + block, n)
        keys = rng.exponential(size=(stop - start, m)) / popularity
        order = np.argsort(keys, axis=1)
        take = np.arange(m) < counts[start:stop, None]
        cols.append(order[take])
        rows.append(np.repeat(np.arange(start, stop, dtype=np.int64), counts[start:stop]))
    pairs = np.sort(np.concatenate(rows) * m + np.concatenate(cols))
    return pairs // m, pairs % m


@dataclass
class Problem:
    name: str
    case: Case
    train_u: np.ndarray
    train_i: np.ndarray
    train_r: np.ndarray
    test_u: np.ndarray
    test_i: np.ndarray
    test_r: np.ndarray
    oracle_rmse: float
    lo: float
    hi: float
    description: str


def build(name: str, case: Case, seed: int, clip: bool) -> Problem:
    ss = np.random.SeedSequence([seed, case.n, case.m, case.nnz])
    rng_pattern, rng_values, rng_split = (np.random.default_rng(s) for s in ss.spawn(3))
    rows, cols = rating_pattern(case, rng_pattern)
    scale = (LOW_RANK_SD**2 / PLANTED_RANK) ** 0.25  # entries of U V^T have sd LOW_RANK_SD
    U = rng_values.normal(0.0, scale, (case.n, PLANTED_RANK))
    V = rng_values.normal(0.0, scale, (case.m, PLANTED_RANK))
    b = rng_values.normal(0.0, USER_SD, case.n)
    c = rng_values.normal(0.0, ITEM_SD, case.m)
    truth = MU + b[rows] + c[cols] + np.einsum("ij,ij->i", U[rows], V[cols])
    ratings = truth + rng_values.normal(0.0, NOISE_SD, rows.size)
    if clip:
        truth, ratings = np.clip(truth, 1.0, 5.0), np.clip(ratings, 1.0, 5.0)
    test = np.zeros(rows.size, dtype=bool)
    test[rng_split.permutation(rows.size)[:round(TEST_SHARE * rows.size)]] = True
    train = ~test
    per_user = np.bincount(rows, minlength=case.n)
    per_item = np.bincount(cols, minlength=case.m)
    train_items = np.bincount(cols[train], minlength=case.m)
    oracle = float(np.sqrt(np.mean((truth[test] - ratings[test]) ** 2)))
    lo, hi = (1.0, 5.0) if clip else (float(ratings[train].min()), float(ratings[train].max()))
    description = (
        f"{case.n} users x {case.m} items, {rows.size} ratings ({int(train.sum())} train / "
        f"{int(test.sum())} test); ratings per user min {per_user.min()}, median "
        f"{int(np.median(per_user))}, max {per_user.max()}; per item median "
        f"{int(np.median(per_item))}, max {per_item.max()}, {int((per_item == 0).sum())} items "
        f"unrated, {int((train_items == 0).sum())} with no training rating; ratings "
        + ("clipped to [1, 5]" if clip else f"not clipped (train range [{lo:.2f}, {hi:.2f}])"))
    return Problem(name, case, rows[train], cols[train], ratings[train], rows[test], cols[test],
                   ratings[test], oracle, lo, hi, description)


def rmse(pred: np.ndarray, prob: Problem) -> float:
    # every contender's predictions are clipped to the rating range, as Surprise's are
    return float(np.sqrt(np.mean((np.clip(pred, prob.lo, prob.hi) - prob.test_r) ** 2)))


def train_csr(prob: Problem, values: np.ndarray, cls=sp.csr_array):
    shape = (prob.case.n, prob.case.m)
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(prob.train_u, minlength=shape[0]), out=indptr[1:])
    return cls((values, prob.train_i.astype(np.int32), indptr), shape=shape)  # rows are sorted


# ----------------------------------------------------------------------------------------------
# Contenders
# ----------------------------------------------------------------------------------------------

def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_wlra(prob: Problem, solver: str, k: int, bias: bool, max_iter: int, seed: int) -> dict:
    params = inspect.signature(wc.iterate).parameters
    options = dict(solver=solver, ridge=RIDGE, eps=EPS, max_iter=max_iter, seed=seed)
    if "diagnostics" in params:
        options["diagnostics"] = False  # condition-number sampling is not part of a fit
    offset = 0.0 if bias else float(prob.train_r.mean())
    if bias:
        options["bias"] = True
    M = train_csr(prob, prob.train_r - offset)
    W = train_csr(prob, np.ones(prob.train_r.size))
    curve, seconds, own = [], [], []
    evaluating = 0.0  # the script's own RMSE time, taken out of step.elapsed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wc.ConvergenceWarning)
        for step in wc.iterate(M, W, k, **options):
            start = time.perf_counter()
            own.append(step.elapsed - evaluating)
            seconds.append(step.seconds)
            pred = step.predict(prob.test_u, prob.test_i) + offset   # offsets included with bias
            curve.append(rmse(pred, prob))
            evaluating += time.perf_counter() - start
    best = int(np.argmin(curve))
    label = f"wlra_core {solver}" + (" (bias=True)" if bias else "")
    note = "raw ratings, bias terms fitted by wlra_core" if bias else "ratings centred by the train mean"
    return {"contender": label, "solver": solver, "bias": bias, "k": k,
            "s_per_iter": statistics.median(seconds), "s_per_iter_stat": "median",
            "fit_seconds": own[-1], "final_rmse": curve[-1], "best_rmse": curve[best],
            "best_iteration": best + 1, "iterations": len(curve), "note": note,
            "rmse_curve": curve, "seconds_curve": own}


def missing(contender: str, error: BaseException) -> dict:
    return {"contender": contender, "note": f"not run: not importable here ({type(error).__name__}: "
                                            f"{error}); `make bench-env` installs it"}


def run_surprise(prob: Problem, seed: int) -> dict:
    try:
        import pandas as pd
        from surprise import SVD, Dataset, Reader, accuracy
    except Exception as error:  # noqa: BLE001 -- any import failure only drops this row
        return missing(SURPRISE, error)
    frame = pd.DataFrame({"user": prob.train_u, "item": prob.train_i, "rating": prob.train_r})
    trainset = Dataset.load_from_df(frame, Reader(rating_scale=(prob.lo, prob.hi))).build_full_trainset()
    testset = list(zip(prob.test_u.tolist(), prob.test_i.tolist(), prob.test_r.tolist()))
    algo = SVD(n_epochs=SURPRISE_EPOCHS, random_state=seed)
    start = time.perf_counter()
    algo.fit(trainset)
    fit = time.perf_counter() - start
    score = accuracy.rmse(algo.test(testset), verbose=False)
    return {"contender": SURPRISE, "k": algo.n_factors, "s_per_iter": fit / SURPRISE_EPOCHS,
            "s_per_iter_stat": "mean", "fit_seconds": fit, "final_rmse": score,
            "iterations": SURPRISE_EPOCHS,
            "note": f"defaults (n_factors {algo.n_factors}, lr 0.005, reg 0.02), {SURPRISE_EPOCHS} "
                    "epochs in one Cython call, so s/iter is fit / epochs; one thread; no per-epoch RMSE"}


def run_implicit(prob: Problem, k: int, iterations: int, seed: int) -> dict:
    try:
        from threadpoolctl import threadpool_limits
        from implicit.als import AlternatingLeastSquares
    except Exception as error:  # noqa: BLE001 -- any import failure only drops this row
        return missing(IMPLICIT, error)
    user_items = train_csr(prob, prob.train_r.astype(np.float32), cls=sp.csr_matrix)
    seconds = []
    with threadpool_limits(1, "blas"):  # implicit runs its own threads and asks for one-thread BLAS
        model = AlternatingLeastSquares(factors=k, iterations=iterations, random_state=seed,
                                        use_gpu=False)
        start = time.perf_counter()
        model.fit(user_items, show_progress=False,
                  callback=lambda iteration, elapsed, loss: seconds.append(elapsed))
        fit = time.perf_counter() - start
    return {"contender": IMPLICIT, "k": k, "s_per_iter": statistics.median(seconds),
            "s_per_iter_stat": "median", "fit_seconds": fit, "iterations": len(seconds),
            "note": "implicit feedback: ratings as confidence weights (float32, default regularization "
                    "0.01, BLAS held to 1 thread, its own threads on every core); its predictions "
                    "are preference scores, so no RMSE: time only"}


def bench_case(prob: Problem, k: int, max_iter: int, seed: int) -> list:
    solvers = ["exact", "cg"] + (["auto"] if "auto" in wc.SOLVERS else [])
    biases = [False] + ([True] if "bias" in inspect.signature(wc.iterate).parameters else [])
    rows = []
    for bias in biases:
        for solver in solvers:
            log(f"{prob.name}: wlra_core {solver}{' bias=True' if bias else ''}")
            rows.append(run_wlra(prob, solver, k, bias, max_iter, seed))
            gc.collect()
    log(f"{prob.name}: {SURPRISE}")
    rows.append(run_surprise(prob, seed))
    log(f"{prob.name}: {IMPLICIT}")
    rows.append(run_implicit(prob, k, min(IMPLICIT_ITERATIONS, max_iter), seed))
    target = next((r.get("final_rmse") for r in rows if r["contender"] == SURPRISE), None)
    for r in rows:
        r.update(case=prob.name, n=prob.case.n, m=prob.case.m, nnz=prob.case.nnz,
                 noise_sd=NOISE_SD, oracle_rmse=prob.oracle_rmse)
        curve = r.get("rmse_curve")
        if curve and target is not None:
            hit = next((t for t, value in enumerate(curve) if value <= target), None)
            r["time_to_surprise"] = r["seconds_curve"][hit] if hit is not None else "never"
    return rows


# ----------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------


def machine() -> dict:
    usable = usable_cores()
    blas = blas_info(("numpy", "scipy", "implicit"))
    return {
        "date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cores": f"{usable} usable cores of {os.cpu_count()} ({cpu()})",
        "blas": blas,
        "load": "%.2f %.2f %.2f" % os.getloadavg() if hasattr(os, "getloadavg") else "?",
    }


def _num(value, spec: str) -> str:
    if value is None or value == "" or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return value if isinstance(value, str) else format(value, spec)


def markdown_table(rows: list) -> list:
    lines = ["| case | contender | k | s/iter | fit s | final test RMSE | best test RMSE (iter) | "
             "time to Surprise's RMSE (s) | iters | note |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        best = (f"{r['best_rmse']:.4f} ({r['best_iteration']})" if r.get("best_rmse") is not None
                else "-")
        stat = " (mean)" if r.get("s_per_iter_stat") == "mean" else ""
        lines.append(
            f"| {r['case']} | {r['contender']} | {r.get('k', '-')} | "
            f"{_num(r.get('s_per_iter'), '.3g')}{stat if r.get('s_per_iter') else ''} | "
            f"{_num(r.get('fit_seconds'), '.3g')} | {_num(r.get('final_rmse'), '.4f')} | {best} | "
            f"{_num(r.get('time_to_surprise'), '.3g')} | {r.get('iterations') or '-'} | "
            f"{r.get('note', '')} |")
    return lines


def report(rows: list, info: dict, args, problems: dict, total: float) -> str:
    command = " ".join(["python", "benchmarks/peers.py"] + args.argv)
    extras = [name for name, there in (("auto", "auto" in wc.SOLVERS),
                                       ("bias=True", "bias" in inspect.signature(wc.iterate).parameters))
              if there]
    out = [
        "# wlra_core against peer libraries on MovieLens-shaped planted ratings"
        + (" (--quick sizes)" if args.quick else ""),
        "",
        f"- date: {info['date']}; whole run {total:.0f} s",
        f"- machine: {info['cores']}; load average {info['load_start']} at the start, "
        f"{info['load']} at the end",
        f"- BLAS (threadpoolctl): {info['blas']}",
        f"- Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"scikit-surprise {version('surprise')}, implicit {version('implicit')}; command: `{command}`",
        f"- wlra_core: `iterate(M, W, k, solver=..., ridge={RIDGE:g}, eps={EPS:g}, "
        f"max_iter={args.max_iter}, seed={args.seed})`, init 'svd', diagnostics off; M = the "
        "training ratings minus their mean (csr_array), W = ones on the same pattern; prediction "
        "X[u] @ Y[i] + mean (with bias=True: `step.predict`, the fitted μ + b_u + c_i + X[u] @ Y[i], on "
        "the raw ratings); "
        + (f"also offered and run: {', '.join(extras)}" if extras
           else "no 'auto' solver and no bias keyword in this wlra_core"),
        "- s/iter: median of step.seconds (wlra_core, the first iteration excludes the init) or of "
        "implicit's per-iteration callback times; Surprise fits all epochs in one call, so its "
        "s/iter is the mean (fit / epochs)",
        "- fit s: wlra_core: step.elapsed after the last iteration (validation and init included, "
        "the script's own RMSE evaluation taken out); peers: the fit call",
        "- test RMSE: on the held-out 10 %; every contender's predictions clipped to the rating "
        "range, as Surprise clips its own. wlra_core: after every iteration (best = lowest, its "
        "iteration in brackets); Surprise: after the fit only",
        "- time to Surprise's RMSE: wlra_core's fit seconds up to the first iteration whose test "
        "RMSE is at or below Surprise SVD's final test RMSE in the same case ('never' within "
        "max_iter; '-' when Surprise did not run)",
        "- implicit ALS fits implicit feedback (ratings as confidence weights): its scores are "
        "not ratings, so it has no RMSE here, only its time per iteration",
        "",
        f"Problems (planted, seeded): rating = {MU:g} + b_user + c_item + <u, v> + noise, b ~ "
        f"N(0, {USER_SD:g}^2), c ~ N(0, {ITEM_SD:g}^2), <u, v> rank {PLANTED_RANK} with sd "
        f"{LOW_RANK_SD:g}, noise ~ N(0, {NOISE_SD:g}^2); ratings per user {MIN_PER_USER} + "
        f"log-normal(0, {USER_SIGMA:g}), items drawn without replacement with popularity "
        f"~ rank^-{ZIPF:g}; 90/10 random split. The noise floor is the noise sd {NOISE_SD:g}; "
        "'oracle' is the test RMSE of the planted truth itself (in expectation the best any model "
        "can do); 'train mean' predicts the training mean everywhere. Centred by the mean alone "
        f"the planted matrix has rank {PLANTED_RANK} + 2 (the two bias terms), so a rank-k fit "
        "without bias terms spends two of its k factors on them.",
        "",
    ]
    for name, (prob, mean_rmse) in problems.items():
        out.append(f"- {name}: {prob.description}; noise floor {NOISE_SD:.4f}, oracle "
                   f"{prob.oracle_rmse:.4f}, train mean {mean_rmse:.4f}")
    out += [""] + markdown_table(rows)
    curves = [r for r in rows if r.get("rmse_curve")]
    if curves:
        out += ["", "## Test RMSE after each wlra_core iteration", ""]
        for r in curves:
            out.append(f"- {r['case']}, {r['contender']}: "
                       + " ".join(f"{v:.4f}" for v in r["rmse_curve"]))
    return "\n".join(out) + "\n"


def write_csv(path: str, rows: list) -> None:
    shared_write_csv(path, rows, CSV_FIELDS)


# ----------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------

def parse_args(argv: list) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/peers.py",
        description="wlra_core (exact, cg) against scikit-surprise SVD and implicit ALS on planted, "
                    "MovieLens-shaped rating matrices, in one run: time per iteration and test RMSE.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--cases", default="100k,1m",
                        help=f"comma-separated subset of {', '.join(CASES)} (ignored with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help=f"one tiny case ({QUICK.n} x {QUICK.m}, {QUICK.nnz} ratings, k "
                             f"{QUICK.k}, max_iter 3); writes peers_quick.md/.csv")
    parser.add_argument("--max-iter", type=int, default=None,
                        help="wlra_core iterations (default 25; 3 with --quick)")
    parser.add_argument("--clip", action="store_true",
                        help="clip the planted ratings to [1, 5] (the noise is then no longer Gaussian)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the problems and of every contender")
    parser.add_argument("--out-dir", default=os.path.join(HERE, "results"),
                        help="where peers.md/.csv (peers_quick.* with --quick) are written")
    args = parser.parse_args(argv)
    args.argv = list(argv)
    args.max_iter = args.max_iter or (3 if args.quick else 25)
    if args.max_iter < 1:
        parser.error("--max-iter must be at least 1")
    args.case_list = [part.strip() for part in args.cases.split(",") if part.strip()]
    unknown = [name for name in args.case_list if name not in CASES]
    if unknown or not args.case_list:
        parser.error(f"--cases: {unknown or 'nothing'} given; choose from {', '.join(CASES)}")
    return args


def main(argv: list | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    info = machine()
    info["load_start"] = info["load"]
    started = time.perf_counter()
    cases = {"quick": QUICK} if args.quick else {name: CASES[name] for name in args.case_list}
    rows, problems = [], {}
    for name, case in cases.items():
        log(f"building {name}")
        prob = build(name, case, args.seed, args.clip)
        mean_rmse = rmse(np.full(prob.test_r.size, prob.train_r.mean()), prob)
        problems[name] = (prob, mean_rmse)
        rows += bench_case(prob, case.k, args.max_iter, args.seed)
        gc.collect()
    info["load"] = machine()["load"]
    text = report(rows, info, args, problems, time.perf_counter() - started)
    print(text)
    os.makedirs(args.out_dir, exist_ok=True)
    stem = os.path.join(args.out_dir, "peers_quick" if args.quick else "peers")
    with open(stem + ".md", "w") as handle:
        handle.write(text)
    write_csv(stem + ".csv", rows)
    log(f"wrote {stem}.md and {stem}.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
