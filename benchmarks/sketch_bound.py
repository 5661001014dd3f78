"""How much sooner than cg any preconditioner could reach exact's objective, in one run.

For one dense planted problem (solvers.py's dense or log-normal case at size n, the problem of
sketch_parts.py), back to back from the same start: exact, run `--iters` iterations, whose last
objective is f*; then cg and sketched (default, and each `--sizes` multiple of k), each until its
objective is within 1e-6 of f*; then the **bound**: the sketched solver with every column in its
"sample" (the exact Gram in float32) made afresh at every half-step, timed without its sketch
and factorisation. The bound's regressions are preconditioned exactly and for free, so no
preconditioner of these inner iterations (sketched or not) reaches f* sooner: its time is what is
left of an iteration once the preconditioner costs nothing (right-hand sides, warm start,
residual, at least one inner iteration, the objective); the preconditioner is exact up to its
float32 Gram and Cholesky factor. "cg ÷" is cg's time to f* over the row's.

    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/sketch_bound.py --n 3072 --k 64 \\
        --weights lognormal --iters 50
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
from sketch_parts import problem  # noqa: E402  (solvers.py's problems)
from wlra_core.solvers import layouts, sketched  # noqa: E402

TARGET = 1e-6


def run(M, W, k, args, solver, max_iter, f_star=None, free_preconditioner=False, **options):
    """(iteration, objective, seconds so far, mean inner iterations) per iteration, until the
    objective is within TARGET of `f_star`; with `free_preconditioner` the seconds leave out the
    sketch and the factorisation."""
    out, elapsed = [], 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wc.ConvergenceWarning)
        for st in wc.iterate(M, W, k, solver=solver, eps=1e-8, max_iter=max_iter, seed=0,
                             memory_budget=args.memory_budget, **options):
            inner = st.inner
            elapsed += st.seconds
            if free_preconditioner:
                elapsed -= inner.sketch_seconds + inner.factor_seconds
            out.append((st.iteration, st.objective, elapsed, inner.inner_iterations if inner else 0.0))
            if f_star is not None and reached(out, f_star):
                break
    return out


def reached(steps, f_star):
    """(iteration, seconds) at the first objective within TARGET of f*, or None."""
    for it, f, seconds, _ in steps:
        if (f - f_star) / f_star <= TARGET:
            return it, seconds
    return None


def row(name, steps, f_star, cg_seconds):
    hit = reached(steps, f_star)
    its = statistics.fmean(s[3] for s in steps[1:]) if len(steps) > 1 else 0.0
    if hit is None:
        return f"| {name} | not reached in {len(steps)} | - | {its:.2f} | - |", None
    ratio = f"{cg_seconds / hit[1]:.2f}" if cg_seconds else "-"
    return f"| {name} | {hit[1]:.3g} | {hit[0]} | {its:.2f} | {ratio} |", hit[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--weights", choices=("bounded", "lognormal"), default="lognormal")
    parser.add_argument("--iters", type=int, default=20, help="exact's iterations (f* is its last objective)")
    parser.add_argument("--extra", type=int, default=15, help="iterations the others may run beyond exact's")
    parser.add_argument("--sizes", default="", help="sketch sizes as multiples of k, comma-separated")
    parser.add_argument("--memory-budget", type=int, default=2**30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.k < layouts.SHARED_SAMPLE_K:
        parser.error(f"--k: found {args.k}, need at least {layouts.SHARED_SAMPLE_K} (the bound's exact "
                     "preconditioner is the shared-sample sketch with every column in it)")
    M, W = problem(args.n, args.k, args.weights, args.seed)
    k = args.k
    print(f"dense {args.n}², W {args.weights} · Bernoulli(0.5), k = {k}, f* = exact's objective after "
          f"at most {args.iters} iterations, memory_budget {args.memory_budget}; "
          f"load {os.getloadavg()[0]:.2f}")
    exact = run(M, W, k, args, "exact", args.iters)
    f_star = exact[-1][1]
    longer = args.iters + args.extra
    print(f"f* = {f_star:.10g} (exact's iteration {exact[-1][0]})\n")
    print("| run | s to 1e-06 | iteration | inner it. | cg ÷ |\n|---|---|---|---|---|")
    print(row("exact", exact, f_star, 0)[0], flush=True)
    cg = run(M, W, k, args, "cg", longer, f_star)
    line, cg_seconds = row("cg", cg, f_star, 0)
    print(line, flush=True)
    steps = run(M, W, k, args, "sketched", longer, f_star)
    print(row("sketched (default)", steps, f_star, cg_seconds)[0], flush=True)
    for factor in (float(x) for x in args.sizes.split(",") if x):
        steps = run(M, W, k, args, "sketched", longer, f_star, sketch_size=int(factor * k))
        print(row(f"sketched, s = {factor:g}k", steps, f_star, cg_seconds)[0], flush=True)
    recycle, inclusion = sketched.RECYCLE, layouts.K.inclusion_reference
    try:
        sketched.RECYCLE = False              # made afresh for every half-step's own factor
        # every column in the shared sample with probability 1: the exact Gram (float32), and no
        # heavy-entry correction (w·(1 − 1/π) = 0)
        layouts.K.inclusion_reference = lambda q, size: np.ones_like(q)
        # s = k: only rows shorter than k are solved directly (as cg does), every other row is
        # iterated with its exact preconditioner (with the patch, s sets nothing else that counts)
        steps = run(M, W, k, args, "sketched", longer, f_star, free_preconditioner=True, sketch_size=k)
    finally:
        sketched.RECYCLE, layouts.K.inclusion_reference = recycle, inclusion
    print(row("bound: exact preconditioner, free", steps, f_star, cg_seconds)[0])
    print(f"\nload at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
