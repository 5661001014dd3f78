"""The cost of one alternating iteration, predicted before running: `estimate(M, W, k, ...)`.

Flops per row of a half-step, with N_i the row's weighted
entries (m for every row of a dense W: the products run over whole rows), s the sketch size and T
the inner iterations:

    exact      gram N_i·k²                     factor k³/3
    sketched   gram s·k²  (N_i·k² if N_i ≤ s)  factor k³/3    inner 4·T·N_i·k
    cg         inner 4·T·N_i·k  (rows with N_i < k: exact)
    auto       per side, the cheapest of the three
    em         dense SVD 4·n·m·min(n, m) up to solvers.em.EXACT_SVD_ENTRIES entries, above that
               one subspace sweep 4·nnz·k + 2·(n + m)·k²

summed over the rows of both half-steps, plus the objective 2·nnz·k. T is the model of
solvers/auto.py: sketched 1.5·ln(2/η), cg ½·κ̂·ln(2/η) with κ̂ measured on a few rows against a
random orthonormal factor (η = 1e-3, the first iteration's tolerance under inner_eps="adaptive",
or inner_eps), at most max_inner.

Seconds are flops / rate, two calibration constants (not a probe: an estimate is the same on
every call). Dense W, RATE = 2e10 flop/s: this engine's speed on one core of the project's
machine (the exact Gram of 3072², k = 256, ran at 1.9e10 flop/s and one inner iteration at
2.4e10 flop/s; benchmarks/results/solvers_dense3072/ holds this engine's timings). Sparse W,
RATE_SPARSE = 2e9 flop/s: the compiled per-row kernels gather scattered rows of the factor and
run far below BLAS speed (benchmarks/results/estimate.md: 8192 × 4096 at 2 %, 0.85e9–2.6e9 flop/s
at k = 96 and 32 on a machine loaded 7–8 deep on 2 cores, where dense ran 1.9–4× slower than
RATE). A loaded machine, or several solvers at once, take proportionally longer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from .problem import InputError

RATE = 2e10                 # flop/s, dense W (module docstring)
RATE_SPARSE = 2e9           # flop/s, sparse W
LONG_SECONDS = 3.0          # "a few seconds": above it the CLI prints the estimate, the app warns
ETA_FIRST = 1e-3            # alternating.ETA_MAX: the first iteration's inner tolerance


@dataclass(frozen=True)
class Estimate:
    """The predicted cost of one alternating iteration (both half-steps and the objective)."""

    solver: str
    n: int
    m: int
    k: int
    nnz: int                      # weighted entries (n·m for dense W)
    dense: bool
    sketch_size: int
    inner_iterations: MappingProxyType   # T assumed per iterative method
    flops: MappingProxyType       # per part: gram, factor, inner, svd, objective
    bytes: int                    # memory the run holds beyond the inputs (at most)
    rate: float                   # flop/s used for seconds

    @property
    def total_flops(self) -> float:
        return float(sum(self.flops.values()))

    @property
    def seconds(self) -> float:
        """Predicted seconds of one iteration on one core of the reference machine."""
        return self.total_flops / self.rate

    def advice(self) -> str:
        """How to make an iteration cheaper, for messages."""
        tips = ["a smaller rank k (the cost grows like k² for exact, k for the iterative parts)",
                "a smaller matrix (crop or downscale the image, fewer rows or columns)"]
        if self.dense:
            tips.append("sparse weights (only the observed entries cost: scipy.sparse W)")
        if self.solver == "exact" and self.k >= 32:
            tips.append('solver="sketched" or "auto" (linear in k on long rows)')
        return "; ".join(tips)

    def __str__(self) -> str:
        parts = ", ".join(f"{name} {value:.2g}" for name, value in self.flops.items() if value)
        return (f"one iteration of {self.solver} on a {self.n}×{self.m} problem, k = {self.k}, "
                f"{self.nnz:,} weighted entries: about {self.total_flops:.2g} flops ({parts}), "
                f"{self.bytes / 2**20:.0f} MiB, {_duration(self.seconds)} at {self.rate:.2g} flop/s")


def _duration(seconds):
    if seconds < 1:
        return f"{seconds * 1e3:.2g} ms"
    if seconds < 120:
        return f"{seconds:.2g} s"
    return f"{seconds / 60:.3g} min"


def row_flops(solver, N, k, s, T):
    """Flops per part of one half-step whose rows have N (array) weighted entries."""
    N = np.asarray(N, dtype=np.float64)
    n = float(len(N))
    if solver == "exact":
        return {"gram": float(N.sum()) * k * k, "factor": n * k ** 3 / 3, "inner": 0.0}
    if solver == "sketched":
        long = N > s
        return {"gram": (float(long.sum()) * s + float(N[~long].sum())) * k * k,
                "factor": n * k ** 3 / 3,
                "inner": 4.0 * T * float(N[long].sum()) * k}
    if solver == "cg":
        short = N < k
        return {"gram": float(N[short].sum()) * k * k, "factor": float(short.sum()) * k ** 3 / 3,
                "inner": 4.0 * T * float(N[~short].sum()) * k}
    raise ValueError(f"no per-row model for {solver!r}")


def inner_iterations(solver, eta, kappa, max_inner):
    """T of the cost model (solvers/auto.py)."""
    log = math.log(2.0 / max(eta, 1e-16))
    if solver == "sketched":
        return float(min(max_inner, max(1.0, 1.5 * log)))
    return float(min(max_inner, max(1.0, 0.5 * kappa * log)))


def _sum(a, b):
    return {key: a.get(key, 0.0) + b.get(key, 0.0) for key in dict.fromkeys([*a, *b])}


def estimate(M, W, k, *, solver="sketched", **options) -> Estimate:
    """The predicted cost of one iteration of `solve(M, W, k, solver=solver, **options)`.

    Takes the same keywords as `solve` and validates them the same way (InputError), without
    running anything but the validation (and, for "cg" and "auto", κ on a few rows). The flop
    counts are the cost model of the module docstring; `seconds` divides them by RATE."""
    from .problem import layout_bytes
    from .settings import prepare, run_options
    from .solvers import factors_bytes, products_bytes

    options = dict(options, solver=solver)
    keep_factors = options.pop("keep_factors", True)      # solve's own keyword: no bearing on the cost
    if not isinstance(keep_factors, (bool, np.bool_)):
        raise InputError(f"keep_factors: found {keep_factors!r}, need True or False.")
    try:
        opts = run_options("estimate", options)
    except TypeError as exc:
        raise InputError(f"estimate: {exc}; it takes the keywords of solve.") from None
    prob, o, *_rest = prepare(M, W, k, opts)
    k = prob.k
    inner_eps = opts.inner_eps
    eta = ETA_FIRST if isinstance(inner_eps, str) else float(inner_eps)
    sides = (prob.rows, prob.cols)
    counts = [np.full(side.shape[0], side.shape[1], np.float64) if not prob.sparse
              else side.counts.astype(np.float64) for side in sides]
    nnz = prob.n * prob.m if not prob.sparse else prob.nnz
    T = {"sketched": inner_iterations("sketched", eta, 1.0, o.max_inner)}
    if solver in ("cg", "auto"):
        T["cg"] = inner_iterations("cg", eta, _kappa(prob, opts.seed), o.max_inner)
    flops = {"gram": 0.0, "factor": 0.0, "inner": 0.0, "svd": 0.0}
    if solver == "em":
        from .solvers.em import EXACT_SVD_ENTRIES
        if prob.n * prob.m <= EXACT_SVD_ENTRIES:
            flops["svd"] = 4.0 * prob.n * prob.m * min(prob.n, prob.m)
        else:
            flops["svd"] = 4.0 * nnz * k + 2.0 * (prob.n + prob.m) * k * k
        T = {}
    else:
        for N in counts:
            if solver == "auto":
                options_ = {name: row_flops(name, N, k, o.s, T.get(name, 0.0))
                            for name in ("exact", "cg", "sketched")}
                part = min(options_.values(), key=lambda f: sum(f.values()))
            else:
                part = row_flops(solver, N, k, o.s, T.get(solver, 0.0))
            flops = _sum(flops, part)
        if solver == "exact":
            T = {}
        elif solver != "auto":
            T = {solver: T[solver]}
    flops["objective"] = 2.0 * nnz * k
    factors = 8 * 6 * (prob.n + prob.m) * k          # X, X̃, Y, Ỹ, the warm start, the step's copies
    layout = layout_bytes(nnz, prob.n, prob.m) if prob.sparse else 0
    kept = products_bytes(prob, solver, o.budget, plain=not (opts.bias or opts.ridge_scaling != "none"))
    kept += factors_bytes(prob, solver, o.budget - kept, k + 1 if opts.bias else k)
    working = min(o.budget, kept + 8 * max(prob.n, prob.m) * (2 * k * k + 3 * max(N.max() for N in counts)))
    return Estimate(solver=solver, n=prob.n, m=prob.m, k=k, nnz=int(nnz), dense=not prob.sparse,
                    sketch_size=o.s, inner_iterations=MappingProxyType(T),
                    flops=MappingProxyType({key: float(v) for key, v in flops.items()}),
                    bytes=int(layout + factors + working), rate=RATE_SPARSE if prob.sparse else RATE)


def _kappa(prob, seed):
    """κ̂ of the row regressions against a random orthonormal factor (a few rows; solvers/cg.py)."""
    from .solvers.cg import estimate_kappa

    key = seed if isinstance(seed, int) else 0
    # Gaussian columns scaled to unit norm in expectation: nearly orthonormal for m ≫ k, without the
    # QR (0.8 s for 2048 × 256 on a busy machine)
    Y = np.random.default_rng(key).standard_normal((prob.m, prob.k)) / math.sqrt(prob.m)
    return estimate_kappa(prob.rows, Y)


def announce(say, M, W, k, options, threshold=None):
    """For the CLI: `say` the estimate when one iteration is predicted above `threshold` seconds
    (default LONG_SECONDS)."""
    est = estimate(M, W, k, **options)
    if est.seconds > (LONG_SECONDS if threshold is None else threshold):
        say(f"estimate: {est}; up to {options.get('max_iter', 100)} iterations. To make it "
            f"faster: {est.advice()}.")
    return est
