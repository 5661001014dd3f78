"""solver="auto": per half-step, the cheapest of exact, cg and sketched by a cost model.

Seconds per half-step, with n rows, N_i weighted entries per row (dense: N_i = m, the products run
over whole rows), s the sketch size and T the inner iterations:

    exact      Σ N_i·k²/2 / R_gram + n·k³/6 / R_lin
    cg         T_cg · (2·Σ N_i·k / R_iter + overhead)
    sketched   (Σ min(N_i, s)·k² / R_sketch + n·k³/3 / R_lin) + T_sk · (2·Σ N_i·k / R_iter + n·k² / R_iter + overhead)

T_cg ≈ κ̂/2 · ln(2/η) (CG on AᵀA contracts by (κ−1)/(κ+1) per step) with κ̂ = κ(A_i) measured on a
few sampled rows; T_sk ≈ 1.5·ln(2/η) (κ(A_i R⁻¹) ≈ 3 after preconditioning). From a warm start
CG needs far fewer iterations than that bound (the start is already close, and the spectrum is
clustered), so a warm half-step runs CG on the sampled rows themselves and takes their mean
iterations as T_cg. Once a method has run on a side, its measured mean inner iterations replace
the model's T. The rates are this machine's order of magnitude on one core (FMA per second);
only their ratios matter.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..problem import DenseSide
from . import cg, exact, sketched
from .cg import estimate_kappa

R_GRAM = 6e9          # BLAS products of the Gram matrices (dense) or gathered designs (sparse)
R_ITER = 3e9          # the inner iterations' products
R_LIN = 2e9           # small factorisations
# sparse rows: per-row Grams of gathered designs run slower than one dense product, the compiled
# inner iterations faster than their dense BLAS counterparts (CPU time per half-step, one thread,
# at the MovieLens-1M shape, k = 32: exact 125 ms, cg 101 ms at 7 iterations)
R_GRAM_SPARSE = 4.3e9
R_ITER_SPARSE = 4.1e9
OVERHEAD = 1.5e-4     # seconds per inner iteration spent outside the products
SAMPLE_ROWS = 8       # rows of the cg trial
TRIAL_MARGIN = 1.5    # the trial is repeated while cg's prediction is within this factor of the best


def costs(side, k, s, eta, kappa, t_cg=None, t_sk=None, max_inner=100):
    """Predicted seconds of one half-step for each method, and the iteration counts used."""
    n = side.shape[0]
    N = side.counts.astype(np.float64)
    if isinstance(side, DenseSide):
        N = np.full(n, float(side.shape[1]))
        r_gram, r_iter = R_GRAM, R_ITER
        sketch_rate = 2 * R_GRAM if k >= 32 else R_GRAM / 2          # float32 shared sample
    else:
        r_gram, r_iter = R_GRAM_SPARSE, R_ITER_SPARSE
        sketch_rate = R_GRAM_SPARSE / 2
    nnz = float(N.sum())
    log = math.log(2.0 / max(eta, 1e-16))
    T_cg = t_cg if t_cg is not None else min(max_inner, max(1.0, 0.5 * kappa * log))
    T_sk = t_sk if t_sk is not None else min(max_inner, max(1.0, 1.5 * log))
    iteration = 2 * nnz * k / r_iter + OVERHEAD
    long = N > s
    return {
        "exact": nnz * k * k / 2 / r_gram + n * k ** 3 / 6 / R_LIN,
        "cg": T_cg * iteration,
        "sketched": (float(np.minimum(N, s)[long].sum()) * k * k / sketch_rate
                     + float(N[~long].sum()) * k * k / 2 / r_gram
                     + int(long.sum()) * k ** 3 / 3 / R_LIN
                     + T_sk * (iteration + int(long.sum()) * k * k / r_iter)),
    }, {"cg": T_cg, "sketched": T_sk}


def sampled_cg_iterations(side, Y, X0, o, kappa):
    """Mean inner iterations of cg from the warm start X0 on a few evenly spaced rows with N_i > k
    (picked as estimate_kappa picks them: no random draw), with cg's own tolerance; None without
    such rows."""
    from .inner import iterate_rows
    from .layouts import DenseBlock, SparseBlock
    k = Y.shape[1]
    long = np.flatnonzero(side.counts > k)
    if not len(long):
        return None
    pick = long[np.unique(np.linspace(0, len(long) - 1, min(SAMPLE_ROWS, len(long))).astype(int))]
    if isinstance(side, DenseSide):
        blk = DenseBlock(*side.block(pick), Y, side.counts[pick])
    else:
        blk = SparseBlock(side, pick, Y)
    oc = replace(o, solver="cg", eps=max(o.eps / kappa, 1e-15) if o.adaptive else o.eps)
    rhs = blk.rhs()
    _, iters, _ = iterate_rows(blk, X0[pick], rhs, np.sqrt(blk.bnorm2()), None, oc)
    return max(1.0, float(iters.mean()))


def half_step(side, Y, X0, o, rng, memo):
    k = Y.shape[1]
    key = side.shape
    seen = memo.setdefault(key, {})
    if "kappa" not in seen:
        # its own stream, so that the sketches' draws do not depend on this estimate
        seen["kappa"] = estimate_kappa(side, Y)
    # the first half-step has no warm start: the model's T; later ones what was measured, or for
    # cg, until it has run, its iterations on the sampled rows at the first warm half-step
    t = {m: seen.get(m) if X0 is not None else None for m in ("cg", "sketched")}
    if X0 is not None and t["cg"] is None:
        # the sampled rows' iterations, again at each half-step while cg is a contender (they fall
        # as the outer iterations converge), else the first warm half-step's
        if "cg_trial" not in seen or seen["cg_close"]:
            seen["cg_trial"] = sampled_cg_iterations(side, Y, X0, o, seen["kappa"])
        t["cg"] = seen["cg_trial"]
    predicted, T = costs(side, k, o.s, o.eps, seen["kappa"], t["cg"], t["sketched"], o.max_inner)
    choice = min(predicted, key=predicted.get)
    seen["cg_close"] = predicted["cg"] <= TRIAL_MARGIN * predicted[choice]
    module = {"exact": exact, "cg": cg, "sketched": sketched}[choice]
    X, stats = module.half_step(side, Y, X0, replace(o, solver=choice), rng)
    if choice != "exact" and stats["iterative_rows"]:
        seen[choice] = max(1.0, stats["inner_iterations_total"] / stats["iterative_rows"])
    order = sorted(predicted, key=predicted.get)
    stats["choice"] = choice
    stats["reason"] = (f"{choice}: predicted {predicted[choice] * 1e3:.3g} ms against "
                       + ", ".join(f"{m} {predicted[m] * 1e3:.3g} ms" for m in order[1:])
                       + f" (κ̂ = {seen['kappa']:.3g}, T_cg ≈ {T['cg']:.3g}, T_sk ≈ {T['sketched']:.3g})")
    return X, stats
