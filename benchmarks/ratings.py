"""wlra_core's recommender model against scikit-surprise on rating matrices, in one run.

Cases (issue 10, item 6):

* ``100k`` and ``1m``: planted rating sets shaped like MovieLens-100k (943 users x 1682 items,
  100 000 ratings) and -1M (6 040 x 3 706, 1 000 209), with the heavy-tailed activity and
  popularity of benchmarks/peers.py (log-normal ratings per user, at least 20; Zipf-like items):

      rating = MU + b_user + c_item + <u, v> (rank PLANTED_RANK) + noise,  noise ~ N(0, NOISE_SD²)

  not rounded or clipped, split 90/10 at random (seeded). The noise floor is the RMSE of the
  planted truth itself on the test ratings: no estimator beats it on average.
* ``sample``: the shipped assets/ratings/sample_ratings.csv (synthetic, half stars), split 90/10
  by ui.models.ratings.split_ratings' rule; no truth, so no noise floor.

Contenders, back to back on the same split:

* wlra_core "plain" (ratings centred by the training mean, plain ridge), "bias" (bias=True, plain
  ridge) and "bias+count" (bias=True, ridge_scaling="count"), solver "exact", each with
  holdout=HOLDOUT of the training ratings for early stopping: the reported RMSE is the test RMSE
  at `Result.best` (lowest held-out error), and the table also gives the true best test RMSE
  over the run (early stopping is judged by the gap); plus wc.fit_biases (biases only, the
  baseline the low-rank part must beat).
* scikit-surprise BaselineOnly (ALS baselines), SVD (its defaults: 100 factors, 20 epochs; and
  with k factors), SVD++ (100k and the sample only: it is slow). A Surprise not importable here is
  reported as a missing row; the wlra_core rows run regardless.

Every contender's predictions are clipped to the training rating range (Surprise clips its own).
Writes results/ratings.md and .csv (``--quick``: results/ratings_quick.*: small planted cases and
the sample, few iterations; every case runs; nothing depends on the clock).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import math
import os
import platform
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)  # run from a checkout without installing
sys.path.insert(0, HERE)

from machine import blas as blas_info, cpu, usable_cores, write_csv  # noqa: E402
import wlra_core as wc  # noqa: E402

MU, USER_SD, ITEM_SD, LOW_RANK_SD, NOISE_SD = 3.5, 0.4, 0.5, 0.5, 0.9
PLANTED_RANK = 5
TEST_SHARE = 0.1
HOLDOUT = 0.05
SAMPLE = os.path.join(ROOT, "assets", "ratings", "sample_ratings.csv")


@dataclass(frozen=True)
class Case:
    n: int
    m: int
    nnz: int
    k: int
    max_iter: int
    svdpp: bool


CASES = {
    "100k": Case(943, 1682, 100_000, 5, 30, True),
    "1m": Case(6040, 3706, 1_000_209, 5, 12, False),
}
QUICK = {"100k": Case(200, 300, 6000, 3, 6, True), "1m": Case(400, 300, 12000, 3, 4, False)}
# ridge λ: plain (per row λ‖x‖²) and count-scaled (λ·N_i‖x‖²); set once from the planted model's
# signal-to-noise ratio (Bayes: λ ≈ σ²/τ² plain, that over the median count when count-scaled)
RIDGE_PLAIN = 5.0
RIDGE_COUNT = 0.1
RIDGE_GRID = (0.01, 0.03, 0.1, 0.3)
FIELDS = ["case", "contender", "k", "ridge", "fit_seconds", "iterations", "test_rmse", "best_iteration",
          "true_best_rmse", "true_best_iteration", "stopping_gap", "floor", "ratio_to_floor", "note",
          "rmse_curve"]


# ----------------------------------------------------------------------------------------------
# problems
# ----------------------------------------------------------------------------------------------

@dataclass
class Problem:
    name: str
    n: int
    m: int
    train_u: np.ndarray
    train_i: np.ndarray
    train_r: np.ndarray
    test_u: np.ndarray
    test_i: np.ndarray
    test_r: np.ndarray
    floor: float | None
    lo: float
    hi: float
    description: str
    case: Case
    truth: dict | None = None


def pattern(case, rng):
    """(rows, cols): case.nnz distinct pairs, heavy-tailed as in benchmarks/peers.py (its constants:
    log-normal activity, at least 20 ratings per user, Zipf-like popularity)."""
    from peers import rating_pattern
    return rating_pattern(case, rng)


def planted(name, case, seed):
    rng_p, rng_v, rng_s = (np.random.default_rng(s) for s in
                           np.random.SeedSequence([seed, case.n, case.m, case.nnz]).spawn(3))
    rows, cols = pattern(case, rng_p)
    scale = (LOW_RANK_SD ** 2 / PLANTED_RANK) ** 0.25       # entries of U Vᵀ have sd LOW_RANK_SD
    U = rng_v.normal(0.0, scale, (case.n, PLANTED_RANK))
    V = rng_v.normal(0.0, scale, (case.m, PLANTED_RANK))
    b = rng_v.normal(0.0, USER_SD, case.n)
    c = rng_v.normal(0.0, ITEM_SD, case.m)
    truth = MU + b[rows] + c[cols] + np.einsum("ij,ij->i", U[rows], V[cols])
    ratings = truth + rng_v.normal(0.0, NOISE_SD, rows.size)
    test = np.zeros(rows.size, bool)
    test[rng_s.permutation(rows.size)[:round(TEST_SHARE * rows.size)]] = True
    floor = float(np.sqrt(np.mean((truth[test] - ratings[test]) ** 2)))
    per_user = np.bincount(rows, minlength=case.n)
    per_item = np.bincount(cols, minlength=case.m)
    description = (f"planted, {case.n} users x {case.m} items, {rows.size} ratings; per user min "
                   f"{per_user.min()}, median {int(np.median(per_user))}, max {per_user.max()}; per item "
                   f"median {int(np.median(per_item))}, max {per_item.max()}; rank {PLANTED_RANK} "
                   f"(sd {LOW_RANK_SD}), biases sd {USER_SD}/{ITEM_SD}, noise sd {NOISE_SD}")
    return Problem(name, case.n, case.m, rows[~test], cols[~test], ratings[~test], rows[test], cols[test],
                   ratings[test], floor, float(ratings[~test].min()), float(ratings[~test].max()),
                   description, case, dict(V=V, c=c))


def sample(quick):
    from ui.models.ratings import split_ratings        # the page's split rule (no Streamlit inside)
    data = wc.io.load_ratings(SAMPLE)
    M = sp.csr_array(data.M)
    W = sp.csr_array(data.W)
    split = split_ratings(W, TEST_SHARE, seed=0)
    def coords(mask):
        coo = sp.coo_array(mask)
        order = np.lexsort((coo.col, coo.row))
        r, c = coo.row[order].astype(np.int64), coo.col[order].astype(np.int64)
        return r, c, np.asarray(M[r, c]).ravel()
    tu, ti, tr = coords(split.W_train)
    su, si, sr = coords(split.W_test)
    n, m = W.shape
    case = Case(n, m, int(W.nnz), 4, 6 if quick else 25, True)
    return Problem("sample", n, m, tu, ti, tr, su, si, sr, None, float(tr.min()), float(tr.max()),
                   f"assets/ratings/sample_ratings.csv: {n} users x {m} items, {W.nnz} ratings (synthetic, "
                   "half stars)", case)


def rmse(pred, prob):
    return float(np.sqrt(np.mean((np.clip(pred, prob.lo, prob.hi) - prob.test_r) ** 2)))


def matrices(prob, values):
    shape = (prob.n, prob.m)
    M = sp.csr_array((values, (prob.train_u, prob.train_i)), shape=shape)
    W = sp.csr_array((np.ones(values.size), (prob.train_u, prob.train_i)), shape=shape)
    return M, W


# ----------------------------------------------------------------------------------------------
# contenders
# ----------------------------------------------------------------------------------------------

def log(text):
    print(text, file=sys.stderr, flush=True)


def run_wlra(prob, label, seed, **options):
    centre = 0.0 if options.get("bias") else float(prob.train_r.mean())
    M, W = matrices(prob, prob.train_r - centre)
    k, max_iter = prob.case.k, prob.case.max_iter
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wc.ConvergenceWarning)
        res = wc.solve(M, W, k, solver="exact", eps=1e-10, max_iter=max_iter, holdout=HOLDOUT, seed=seed,
                       **options)
    fit = time.perf_counter() - start
    curve = [rmse(s.predict(prob.test_u, prob.test_i) + centre, prob) for s in res.history]
    best = res.history.index(res.best)
    true_best = int(np.argmin(curve))
    return {"contender": f"wlra_core {label}", "k": k, "ridge": _ridge_label(options), "fit_seconds": fit,
            "iterations": len(curve), "test_rmse": curve[best], "best_iteration": best + 1,
            "true_best_rmse": curve[true_best], "true_best_iteration": true_best + 1,
            "stopping_gap": curve[best] - curve[true_best], "rmse_curve": curve,
            "holdout_rmse": res.best.holdout_rmse,
            "note": f"exact solver, holdout {HOLDOUT} of the training ratings for early stopping"}


def select(prob, seed):
    """bias+count with λ chosen on the held-out training ratings (never on the test set)."""
    runs = [run_wlra(prob, "bias+count", seed, ridge=lam, ridge_scaling="count", bias=True) for lam in RIDGE_GRID]
    best = min(runs, key=lambda r: r["holdout_rmse"])
    grid = ", ".join(f"{lam:g}" for lam in RIDGE_GRID)
    scores = ", ".join(f"{r['holdout_rmse']:.4f}" for r in runs)
    best["note"] += f"; λ from {grid} by held-out RMSE ({scores})"
    return best


def oracle_items(prob, bayes=False):
    """A reference, not a contender: each user's u_i and b_i fitted knowing the planted item side
    (V, c, μ) exactly -- by least squares, or (bayes) as the posterior mean under the planted priors
    and noise, the best any estimator can do for that user given the item side. Their excess over
    the floor is the price of estimating PLANTED_RANK + 1 numbers per user from that user's ratings."""
    V, c = prob.truth["V"], prob.truth["c"]
    var_u = (LOW_RANK_SD ** 2 / PLANTED_RANK) ** 0.5                  # variance of an entry of U
    prior = np.r_[np.full(PLANTED_RANK, NOISE_SD ** 2 / var_u), NOISE_SD ** 2 / USER_SD ** 2]
    pred = np.empty(prob.test_u.size)
    order = np.argsort(prob.train_u, kind="stable")
    starts = np.searchsorted(prob.train_u[order], np.arange(prob.n + 1))
    t_order = np.argsort(prob.test_u, kind="stable")
    t_starts = np.searchsorted(prob.test_u[t_order], np.arange(prob.n + 1))
    for u in range(prob.n):
        idx = order[starts[u]:starts[u + 1]]
        A = np.hstack([V[prob.train_i[idx]], np.ones((idx.size, 1))])
        y = prob.train_r[idx] - MU - c[prob.train_i[idx]]
        if bayes:
            x = np.linalg.solve(A.T @ A + np.diag(prior), A.T @ y)
        else:
            x = np.linalg.lstsq(A, y, rcond=None)[0]
        t = t_order[t_starts[u]:t_starts[u + 1]]
        pred[t] = MU + c[prob.test_i[t]] + np.hstack([V[prob.test_i[t]], np.ones((t.size, 1))]) @ x
    how = ("posterior mean under the planted priors and noise" if bayes else "per-user least squares")
    return {"contender": f"reference: true item side{', Bayes' if bayes else ''}", "k": PLANTED_RANK,
            "test_rmse": rmse(pred, prob),
            "note": f"{how} given the planted V, c, μ (not a contender: it knows the truth)"}


def _ridge_label(options):
    return f"{options.get('ridge', 0):g}" + (" x N_i" if options.get("ridge_scaling") == "count" else "")


def run_biases(prob):
    M, W = matrices(prob, prob.train_r)
    start = time.perf_counter()
    fit = wc.fit_biases(M, W, ridge=RIDGE_COUNT, ridge_scaling="count")
    return {"contender": "wlra_core fit_biases", "k": 0, "ridge": f"{RIDGE_COUNT:g} x N_i",
            "fit_seconds": time.perf_counter() - start, "iterations": fit.iterations,
            "test_rmse": rmse(fit.predict(prob.test_u, prob.test_i), prob),
            "note": "μ + b_i + c_j only: the baseline of the low-rank part"}


def run_surprise(prob, name, seed):
    try:
        import pandas as pd
        import surprise
    except Exception as error:  # noqa: BLE001 -- any import failure only drops this row
        return {"contender": f"surprise {name}", "note": f"not run: not importable here ({type(error).__name__})"}
    frame = pd.DataFrame({"user": prob.train_u, "item": prob.train_i, "rating": prob.train_r})
    data = surprise.Dataset.load_from_df(frame, surprise.Reader(rating_scale=(prob.lo, prob.hi)))
    trainset = data.build_full_trainset()
    testset = list(zip(prob.test_u.tolist(), prob.test_i.tolist(), prob.test_r.tolist()))
    algo, note, k = {
        "BaselineOnly": (lambda: surprise.BaselineOnly(verbose=False), "ALS baselines, its defaults", 0),
        "SVD": (lambda: surprise.SVD(random_state=seed), "defaults: 100 factors, 20 epochs, reg 0.02", 100),
        "SVD k": (lambda: surprise.SVD(n_factors=prob.case.k, random_state=seed),
                  f"{prob.case.k} factors, otherwise defaults", prob.case.k),
        "SVD++": (lambda: surprise.SVDpp(random_state=seed, cache_ratings=True),
                  "defaults: 20 factors, 20 epochs", 20),
    }[name]
    model = algo()
    start = time.perf_counter()
    model.fit(trainset)
    fit = time.perf_counter() - start
    pred = np.array([p.est for p in model.test(testset)])
    return {"contender": f"surprise {name}", "k": k, "fit_seconds": fit, "test_rmse": rmse(pred, prob),
            "note": note}


def bench(prob, seed):
    rows = [
        run_wlra(prob, "plain", seed, ridge=RIDGE_PLAIN),
        run_wlra(prob, "bias", seed, ridge=RIDGE_PLAIN, bias=True),
        select(prob, seed),
        run_biases(prob),
    ]
    if prob.truth is not None:
        rows += [oracle_items(prob), oracle_items(prob, bayes=True)]
    for name in ("BaselineOnly", "SVD", "SVD k") + (("SVD++",) if prob.case.svdpp else ()):
        log(f"  {prob.name}: surprise {name}")
        rows.append(run_surprise(prob, name, seed))
    for r in rows:
        r["case"] = prob.name
        if prob.floor is not None and r.get("test_rmse") is not None:
            r["floor"] = prob.floor
            r["ratio_to_floor"] = r["test_rmse"] / prob.floor
    return rows


# ----------------------------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------------------------

def _num(v, spec):
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def acceptance(rows, problems):
    """The issue's checks, per planted case: bias+count within 2 % of the floor and at least as
    good as Surprise's SVD (both variants); early stopping within 0.002 of the true best."""
    out = []
    for prob in problems:
        mine = {r["contender"]: r for r in rows if r["case"] == prob.name}
        ours = mine["wlra_core bias+count"]
        svd = [mine[n]["test_rmse"] for n in ("surprise SVD", "surprise SVD k") if "test_rmse" in mine.get(n, {})]
        gaps = [r["stopping_gap"] for r in mine.values() if "stopping_gap" in r]
        parts = [f"{prob.name}:"]
        if prob.floor is not None:
            ratio = ours["test_rmse"] / prob.floor
            parts.append(f"bias+count / floor = {ratio:.4f} ({'met' if ratio <= 1.02 else 'MISSED'}: ≤ 1.02);")
            bayes = mine.get("reference: true item side, Bayes")
            if bayes:
                parts.append(f"the Bayes reference given the planted item side reaches {bayes['ratio_to_floor']:.4f};")
        if svd:
            parts.append(f"vs best Surprise SVD {min(svd):.4f}: "
                         f"{'met' if ours['test_rmse'] <= min(svd) else 'MISSED'};")
        else:
            parts.append("Surprise not run;")
        parts.append(f"early stopping gap max {max(gaps):.4f} ({'met' if max(gaps) <= 0.002 else 'MISSED'}: ≤ 0.002)")
        out.append("- " + " ".join(parts))
    return out


def report(rows, problems, args, load_start, total):
    load = os.getloadavg()
    lines = [f"# Ratings: wlra_core's recommender model against scikit-surprise" + (" (--quick)" if args.quick else ""),
             "",
             f"- date: {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC; total {total:.0f} s",
             f"- machine: {cpu()}, {usable_cores()} usable cores, {platform.python_version()}; "
             f"load average {load_start[0]:.2f} at start, {load[0]:.2f} at the end (shared machine)",
             f"- BLAS (threadpoolctl): {blas_info()}",
             f"- command: `python benchmarks/ratings.py {' '.join(args.argv)}`",
             f"- wlra_core ridge: plain {RIDGE_PLAIN:g}, count-scaled {RIDGE_COUNT:g}·N_i; holdout {HOLDOUT} "
             f"of the training ratings; test share {TEST_SHARE}",
             ""]
    for p in problems:
        lines.append(f"- {p.name}: {p.description}" + (f"; noise floor {p.floor:.4f}" if p.floor else ""))
    lines += ["", "| case | contender | k | ridge | fit s | iters | test RMSE (at best) | best iter | true best "
              "(iter) | gap | / floor | note |", "|" + "---|" * 12]
    for r in rows:
        lines.append(f"| {r['case']} | {r['contender']} | {r.get('k', '-')} | {r.get('ridge', '-')} | "
                     f"{_num(r.get('fit_seconds'), '.3g')} | {r.get('iterations', '-')} | "
                     f"{_num(r.get('test_rmse'), '.4f')} | {r.get('best_iteration', '-')} | "
                     f"{_num(r.get('true_best_rmse'), '.4f')} ({r.get('true_best_iteration', '-')}) | "
                     f"{_num(r.get('stopping_gap'), '.4f')} | {_num(r.get('ratio_to_floor'), '.4f')} | "
                     f"{r.get('note', '')} |")
    lines += ["", "Acceptance (issue 10):", *acceptance(rows, problems), ""]
    return "\n".join(lines) + "\n"


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="benchmarks/ratings.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--cases", default="100k,1m,sample", help="comma-separated subset of 100k, 1m, sample")
    parser.add_argument("--quick", action="store_true", help="small planted cases, few iterations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    args.argv = list(argv)
    args.case_list = [c.strip() for c in args.cases.split(",") if c.strip()]
    bad = [c for c in args.case_list if c not in (*CASES, "sample")]
    if bad or not args.case_list:
        parser.error(f"--cases: {bad or 'nothing'} given; choose from 100k, 1m, sample")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    load_start = os.getloadavg()
    started = time.perf_counter()
    rows, problems = [], []
    for name in args.case_list:
        log(f"building {name}")
        prob = sample(args.quick) if name == "sample" else planted(name, (QUICK if args.quick else CASES)[name],
                                                                   args.seed)
        problems.append(prob)
        rows += bench(prob, args.seed)
    text = report(rows, problems, args, load_start, time.perf_counter() - started)
    print(text)
    os.makedirs(args.out_dir, exist_ok=True)
    stem = os.path.join(args.out_dir, "ratings_quick" if args.quick else "ratings")
    with open(stem + ".md", "w") as handle:
        handle.write(text)
    write_csv(stem + ".csv", rows, FIELDS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
