"""Where a sketched iteration's time goes, with and without kept preconditioners, in one run.

For one dense planted problem (solvers.py's dense or log-normal case at size n) this runs, back to back from
the same start: exact; sketched with each sketch size asked for, sketching afresh at every
half-step; the same with its preconditioners kept across iterations (the default, sketched.py);
and cg. It prints, per run, the median seconds per iteration after the first, the ratio to exact's,
the mean inner iterations and the seconds its timers put in each part (sketch, factorisation,
inner iterations; summed over the timed iterations and divided by their number), and the rows that
reused a preconditioner.

    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/sketch_parts.py --n 3072 --k 256 \\
        --sizes 4,3,2 --iters 6 --memory-budget 4294967296
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import wlra_core as wc  # noqa: E402
from solvers import bounded_pattern, lognormal_pattern, planted  # noqa: E402  (solvers.py's problems)
from wlra_core.solvers import sketched  # noqa: E402


def problem(n, k, weights, seed):
    """solvers.py's problem of case dense<n> / lognormal<n> (the same draws at n = 3072, 4096)."""
    name = f"dense{n}" if weights == "bounded" else f"lognormal{n}"
    rng = np.random.default_rng([seed, len(name)])
    pattern = bounded_pattern(n, n, 0.5, rng) if weights == "bounded" else lognormal_pattern(n, n, 0.5, 2.0, rng)
    return planted(pattern, k, seed)


def run(M, W, k, args, solver, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wc.ConvergenceWarning)
        return list(wc.iterate(M, W, k, solver=solver, eps=1e-8, max_iter=args.iters, seed=0,
                               memory_budget=args.memory_budget, **options))


def row(name, steps, exact_median):
    timed = steps[1:]
    median = statistics.median(s.seconds for s in timed)
    parts = [sum(getattr(s.inner, f"{p}_seconds") for s in timed) / len(timed) for p in ("sketch", "factor", "inner")]
    its = statistics.fmean(s.inner.inner_iterations for s in timed)
    reused = sum(s.inner.reused_rows for s in timed)
    rows = sum(s.inner.iterative_rows for s in timed)
    ratio = median / exact_median if exact_median else 1.0
    return (f"| {name} | {median:.3g} | {ratio:.3f} | {its:.2f} | " + " | ".join(f"{p:.3g}" for p in parts)
            + f" | {100 * reused / rows if rows else 0:.0f} % | {steps[-1].objective:.8g} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--weights", choices=("bounded", "lognormal"), default="bounded")
    parser.add_argument("--sizes", default="4", help="sketch sizes as multiples of k, comma-separated")
    parser.add_argument("--iters", type=int, default=6)
    parser.add_argument("--memory-budget", type=int, default=2**30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    M, W = problem(args.n, args.k, args.weights, args.seed)
    k = args.k
    print(f"dense {args.n}², W {args.weights} · Bernoulli(0.5), k = {k}, {args.iters} iterations "
          f"(the first untimed), memory_budget {args.memory_budget}; load {os.getloadavg()[0]:.2f}")
    print("\n| run | s/iter | × exact | inner it. | sketch s | factor s | inner s | reused | objective |")
    print("|---|---|---|---|---|---|---|---|---|")
    exact = run(M, W, k, args, "exact")
    e = statistics.median(s.seconds for s in exact[1:])
    print(row("exact", exact, e), flush=True)
    for factor in (float(x) for x in args.sizes.split(",")):
        s = int(factor * k)
        sketched.RECYCLE = False                        # every half-step sketches afresh
        print(row(f"sketched s = {factor:g}k, fresh", run(M, W, k, args, "sketched", sketch_size=s), e), flush=True)
        sketched.RECYCLE = True
        print(row(f"sketched s = {factor:g}k, kept", run(M, W, k, args, "sketched", sketch_size=s), e), flush=True)
    print(row("cg", run(M, W, k, args, "cg"), e))
    print(f"\nload at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
