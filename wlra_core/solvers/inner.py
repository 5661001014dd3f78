"""The inner iterations shared by the iterative solvers ("sketched", "cg"), and the statistics
every half-step reports.

Stopping rule per row (inner tolerance η, the half-step's `o.eps`):

    sketched   ‖R⁻ᵀ (A_iᵀ(b_i − A_i x) − λx)‖ ≤ η·‖b_i‖                 (bounds ‖A_i(x − x*)‖ ≲ η‖b_i‖)
    cg         ‖A_iᵀ(b_i − A_i x) − λx‖ ≤ η·‖b_i‖·√(tr(A_iᵀA_i)/k)      (the rms singular value of A_i
                                                                     in place of the preconditioner)

or `o.max_inner` iterations. inner="pcg": conjugate gradients on the preconditioned system;
inner="gd": the paper's gradient descent with step 1, shortened to the exact line minimum where
step 1 overshoots (step 1 diverges when σ_max(A_iR⁻¹)² ≥ 2, which a sketch of 4k rows allows).
Each iteration costs O(N_i·k + k²) per row.
"""
from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np

from . import kernels as K
from .layouts import SparseBlock
from .linalg import single_threaded, solve_pinv


FUSED_DENSE_K = 24     # below it, dense rows iterate in the fused kernel (their BLAS products are
                       # too small to pay for a dozen numpy calls per step); sparse rows always do


def iterate_rows(blk, x0, rhs, bnorm, Minv, o):
    """Preconditioned CG (or the paper's gradient descent) for a block of rows. Minv: the rows'
    preconditioner factors L = Rᵀ (float32, L Lᵀ = RᵀR), a pair (L, T⁻¹) for factors made for
    the basis Y T⁻¹ (the preconditioner Tᵀ L Lᵀ T; sketched.py), or None for plain CG.

    Sparse rows and dense rows with k < FUSED_DENSE_K run every step of a row in one compiled
    loop (kernels.pcg_csr / pcg_dense); wide dense rows run `iterate_block`, whose steps are BLAS
    products over the whole block. Both apply the same per-row rule."""
    k = x0.shape[1]
    sparse = isinstance(blk, SparseBlock)
    if (sparse or k < FUSED_DENSE_K) and not isinstance(Minv, tuple):
        use_L = Minv is not None
        L = Minv if use_L else np.zeros((1, k, k), np.float32)
        args = (np.ascontiguousarray(blk.Y), np.ascontiguousarray(x0, dtype=np.float64),
                np.ascontiguousarray(rhs), np.ascontiguousarray(bnorm, dtype=np.float64),
                np.ascontiguousarray(blk.trace(), dtype=np.float64), np.ascontiguousarray(L), use_L,
                float(o.ridge), float(o.eps), int(o.max_inner), o.inner == "gd" and use_L)
        if sparse:
            s = blk.side
            return K.pcg_csr(s.indptr, s.indices, s.w, args[0], blk.rows, *args[1:])
        return K.pcg_dense(blk.contiguous_W(), *args)
    return iterate_block(blk, x0, rhs, bnorm, Minv, o)


def iterate_block(blk, x0, rhs, bnorm, Minv, o):
    """iterate_rows by BLAS products over the block, with the rows that have met the stopping
    rule dropped from the block as they converge."""
    b, k = x0.shape
    x = x0.copy()
    with np.errstate(over="ignore", invalid="ignore"):
        r = rhs - blk.apply(x) - o.ridge * x
        # φ(x) = xᵀ(AᵀA + λ)x − 2xᵀrhs = −xᵀ(rhs + r): a warm start worse than x = 0 (φ > 0) is
        # dropped, so that a start far off the problem's scale cannot overflow (AᵀA + λ)p
        worse = ~(np.einsum("ij,ij->i", x, rhs + r) >= 0)
    if worse.any():
        x[worse] = 0.0
        r[worse] = rhs[worse]
    L, Tinv = Minv if isinstance(Minv, tuple) else (Minv, None)
    gd = o.inner == "gd" and L is not None

    def precond(v, rows=None):
        """(RᵀR)⁻¹ v for the block's rows `rows` (all: None), by two substitutions with their
        float32 factors, read in place (and T⁻¹ (RᵀR)⁻¹ T⁻ᵀ v with a change of basis: rows
        v ↦ v T⁻¹ before and after by T⁻ᵀ)."""
        if L is None:
            return v.copy()
        u = np.ascontiguousarray(v if Tinv is None else v @ Tinv)
        z = K.cho_apply(L, u) if rows is None else K.cho_apply_rows(L, rows, u)
        return z if Tinv is None else z @ Tinv.T

    z = precond(r)
    rz = np.einsum("ij,ij->i", r, z)
    if L is None:
        thresh = (o.eps * bnorm) ** 2 * blk.trace() / k
        measure = lambda r_, z_: np.einsum("ij,ij->i", r_, r_)
    else:
        thresh = (o.eps * bnorm) ** 2
        measure = lambda r_, z_: np.einsum("ij,ij->i", r_, z_)
    meas = measure(r, z)
    iters = np.zeros(b, np.int64)
    p = z.copy()
    live = np.arange(b)          # rows of the original block that `cur` holds
    cur = blk
    active = meas > thresh
    for _ in range(o.max_inner):
        act = np.flatnonzero(active)
        if not len(act):
            break
        if len(act) <= len(live) // 2:          # compress the block to the rows still working
            sub = np.searchsorted(live, act)
            cur = cur.take(sub)
            live = act
        # the products run on every row `cur` holds (no copy of its data); converged rows are
        # then dropped from the update
        P_live = p[live]
        Q_live = cur.apply(P_live)
        if len(act) == len(live):
            P_, q = P_live, Q_live
        else:
            pos = np.searchsorted(live, act)
            P_, q = P_live[pos], Q_live[pos]
        with np.errstate(over="ignore", invalid="ignore"):   # a row that overflows stops below
            if o.ridge:
                q = q + o.ridge * P_
            pq = np.einsum("ij,ij->i", P_, q)
            alpha = np.where(pq > 0, rz[act] / np.where(pq > 0, pq, 1.0), 0.0)
            if gd:                               # step 1, or shorter where 1 overshoots
                alpha = np.minimum(alpha, 1.0)
            x_a = x[act] + alpha[:, None] * P_
            r_a = r[act] - alpha[:, None] * q
            z_a = precond(r_a, None if len(act) == b else act)
            rz_new = np.einsum("ij,ij->i", r_a, z_a)
            meas_a = measure(r_a, z_a)
        ok = np.isfinite(x_a).all(axis=1) & np.isfinite(z_a).all(axis=1) & np.isfinite(meas_a)
        if not ok.all():                         # keep the last finite iterate of such rows
            active[act[~ok]] = False
            act, alpha, P_, x_a, r_a, z_a, rz_new, meas_a = (
                act[ok], alpha[ok], P_[ok], x_a[ok], r_a[ok], z_a[ok], rz_new[ok], meas_a[ok])
        x[act] = x_a
        r[act] = r_a
        beta = 0.0 if gd else np.where(rz[act] > 0, rz_new / np.where(rz[act] > 0, rz[act], 1.0), 0.0)
        p[act] = z_a + (beta[:, None] * P_ if not gd else 0.0)
        rz[act] = rz_new
        iters[act] += 1
        meas[act] = meas_a
        active[act] = (meas[act] > thresh[act]) & (alpha != 0)
    rel = np.sqrt(np.maximum(meas, 0.0)) / np.where(bnorm > 0, bnorm, 1.0)
    if L is None:
        rel = rel / np.sqrt(np.maximum(blk.trace() / k, np.finfo(float).tiny))
    return x, iters, rel


def _cond(ev):
    """Condition numbers of A from the eigenvalues of AᵀA (ascending, per row)."""
    lo, hi = ev[:, 0], ev[:, -1]
    return np.where(lo > 0, np.sqrt(np.abs(hi) / np.where(lo > 0, lo, 1.0)), np.inf)


PARTS = ("sketch", "factor", "inner", "exact")     # the timed parts of a half-step (Stats.timed)


class Stats:
    def __init__(self, n):
        self.n = n
        self.exact_rows = 0
        self.seconds = dict.fromkeys(PARTS, 0.0)
        self.weak_sketches = 0
        self.reused_rows = 0
        self.iters = []
        self.res = []
        self.cond_before, self.cond_after, self.fwd = [], [], []

    @contextmanager
    def timed(self, part):
        """Add the wall time of the `with` body to `part` (one of PARTS)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[part] += time.perf_counter() - t0

    def add_iterations(self, iters, res):
        self.iters.append(iters)
        self.res.append(res)

    @single_threaded
    def add_diagnostics(self, blk, x, rhs, Minv, ridge, k):
        """κ(A_i) and κ(A_i R⁻¹) from the exact Gram (A_iᵀA_i + λI) of these rows only, and the
        forward error of x against the exact regression."""
        H = blk.full_gram() + ridge * np.eye(k)
        fine = np.all(np.isfinite(x), axis=1) & np.all(np.isfinite(H), axis=(1, 2))
        if Minv is not None:
            fine &= np.all(np.isfinite(Minv), axis=(1, 2))
        H, x, rhs = H[fine], x[fine], rhs[fine]
        if Minv is not None:                     # (RᵀR)⁻¹ = (L Lᵀ)⁻¹ from the factors
            L = Minv[fine].astype(np.float64)
            Li = np.linalg.inv(L)
            Minv = np.matmul(Li.transpose(0, 2, 1), Li)
        if not len(H):
            return
        xs = solve_pinv(H, rhs)
        ev = np.linalg.eigvalsh(H)
        self.cond_before.extend(_cond(ev))
        if Minv is not None:
            # κ(A R⁻¹)² = κ((RᵀR)⁻¹ AᵀA): the eigenvalues of H·Minv, via the symmetric
            # Minv^½ H Minv^½
            vals, vecs = np.linalg.eigh(Minv)
            half = np.matmul(vecs * np.sqrt(np.maximum(vals, 0.0))[:, None, :], vecs.transpose(0, 2, 1))
            C = np.matmul(half, np.matmul(H, half))
            self.cond_after.extend(_cond(np.linalg.eigvalsh((C + C.transpose(0, 2, 1)) / 2)))
        nx = np.linalg.norm(xs, axis=1)
        err = np.linalg.norm(x - xs, axis=1)
        self.fwd.extend(np.where(nx > 0, err / np.where(nx > 0, nx, 1.0), err))

    def summary(self, solver, o):
        """The half-step's statistics (see alternating.merge_inner for the per-iteration record)."""
        its = np.concatenate(self.iters) if self.iters else np.zeros(0, np.int64)
        res = np.concatenate(self.res) if self.res else np.zeros(0)
        return {
            "solver": solver,
            "rows": self.n,
            "iterative_rows": int(its.size),
            "exact_rows": int(self.exact_rows),
            "weak_sketches": int(self.weak_sketches),
            "reused_rows": int(self.reused_rows),
            "inner_iterations_total": int(its.sum()),
            "inner_iterations_max": int(its.max()) if its.size else 0,
            "residual": float(res.max()) if res.size else 0.0,
            "inner_eps": float(o.eps) if solver != "exact" else None,
            "cond_before": np.asarray(self.cond_before),
            "cond_after": np.asarray(self.cond_after),
            "forward_error": np.asarray(self.fwd),
            **{f"{part}_seconds": self.seconds[part] for part in PARTS},
        }
