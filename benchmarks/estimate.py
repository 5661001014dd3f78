"""wc.estimate against the measured time of an iteration: predicted / measured, per solver and size.

The estimate divides the cost model's flops by a constant (wlra_core.cost.RATE); this script shows
how far that is from this machine, now. Short by design (a few minutes): dense and sparse planted
problems, each solver timed on the iterations after the first (the first includes the init and
has no warm start), median.

    .venv/bin/python benchmarks/estimate.py [--out benchmarks/results/estimate.md]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from datetime import datetime, timezone

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import wlra_core as wc  # noqa: E402
from benchmarks import machine  # noqa: E402

CASES = [  # (label, n, m, density, k)
    ("dense", 1024, 1024, 0.5, 32),
    ("dense", 1024, 1024, 0.5, 128),
    ("dense", 2048, 1024, 0.5, 64),
    ("sparse", 8192, 4096, 0.02, 32),
    ("sparse", 8192, 4096, 0.02, 96),
]
SOLVERS = ("exact", "sketched", "cg")


def problem(label, n, m, density, k, seed=0):
    rng = np.random.default_rng(seed)
    U, V = rng.standard_normal((n, k)), rng.standard_normal((m, k))
    mask = rng.random((n, m)) < density
    M = U @ V.T / np.sqrt(k) + 1e-2 * rng.standard_normal((n, m))
    W = mask.astype(float)
    return (M, sp.csr_array(W)) if label == "sparse" else (M, W)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None)
    ap.add_argument("--iters", type=int, default=3)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore", wc.ConvergenceWarning)
    load0 = os.getloadavg()
    started = time.perf_counter()
    rows = []
    for label, n, m, density, k in CASES:
        M, W = problem(label, n, m, density, k)
        for solver in SOLVERS:
            est = wc.estimate(M, W, k, solver=solver, eps=1e-8)
            seconds = [s.seconds for s in wc.iterate(M, W, k, solver=solver, eps=1e-8, max_iter=args.iters)]
            measured = float(np.median(seconds[1:])) if len(seconds) > 1 else seconds[0]
            rows.append((label, n, m, density, k, solver, est.total_flops, est.seconds, measured))
            print(f"{label} {n}x{m} p={density} k={k} {solver}: predicted {est.seconds:.3g} s, "
                  f"measured {measured:.3g} s, measured/predicted {measured / est.seconds:.2f}", flush=True)
    load1 = os.getloadavg()
    lines = [
        "# wc.estimate: predicted against measured seconds per iteration", "",
        f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; whole run {(time.perf_counter() - started) / 60:.1f} min",
        f"- machine: {machine.usable_cores()} usable cores ({machine.cpu()}); load average "
        f"{' '.join(f'{x:.2f}' for x in load0)} at the start, {' '.join(f'{x:.2f}' for x in load1)} at the end",
        f"- BLAS: {machine.blas()}",
        f"- Python {platform.python_version()}, numpy {np.__version__}; command: `python benchmarks/estimate.py`",
        f"- estimate: flops of the cost model (wlra_core/cost.py) / RATE = {wc.cost.RATE:g} flop/s (dense W), "
        f"RATE_SPARSE = {wc.cost.RATE_SPARSE:g} (sparse W); measured: median "
        f"Step.seconds of iterations 2..{args.iters} (eps = 1e-8, init svd, seed 0)", "",
        "| W | n × m | density | k | solver | flops | predicted s | measured s | measured / predicted |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, n, m, density, k, solver, flops, pred, meas in rows:
        lines.append(f"| {label} | {n} × {m} | {density:g} | {k} | {solver} | {flops:.3g} | {pred:.3g} | "
                     f"{meas:.3g} | {meas / pred:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
