"""Alternating minimisation for weighted low-rank approximation (LLR16, made fast by SYYZ).

    Y ← init(M, W, k)                          (orthonormal, m×k)
    repeat up to max_iter:
        X̃ ← regress(M, W, Y)                    n weighted least-squares problems (solvers/)
        X ← orthonormalise(clip(X̃))
        Ỹ ← regress(Mᵀ, Wᵀ, X)
        Y ← orthonormalise(clip(Ỹ))
        yield Step(X, Ỹ, f(X, Ỹ), ...)          M̂ = X Ỹᵀ

Stopping rule, checked after every iteration t, with f_t = f(X_t, Ỹ_t) and T = Σ W_ij M_ij²:

    "fit"     f_t ≤ eps² · T                     (the weighted residual is below eps relative to M)
    "stalled" |f_{t−1} − f_t| ≤ eps · f_{t−1}     (t ≥ 2: the objective no longer moves)
    "max_iter reached" otherwise after max_iter iterations (a warning, not an exception).

With ridge λ > 0 each regression minimises its data term + λ‖x_i‖², so the loop minimises
f(X, Y) + λ‖X‖_F² + λ‖Y‖_F² (plain, unscaled λ); the factors are then not orthonormalised (that
would change the penalty) and clipping is not available. The reported objective is always the
data term f alone; `Step.penalised` adds the ridge terms.

solver="em" replaces the two regressions by one EM step (solvers/em.py); with ridge λ its M-step
is the singular-value soft threshold, with momentum (restarted whenever the penalised objective
rises).

bias=True and ridge_scaling="count" (models.py) run the same half-steps on adjusted sides; holdout
(holdout.py) keeps a seeded share of the weighted entries out of the fit and reports the error on
them per step (Step.holdout_rmse, Step.is_best, Result.best).

Inner accuracy (the iterative solvers, inner_eps="adaptive"): the regressions of iteration t are
solved to the relative tolerance

    η_t = min(1e-3, max(η_floor, 0.03·√d_t)),   η_floor = 0.03·√(eps · max(r_{t−1}, eps)),

with r_{t−1} = f_{t−1}/T the last relative objective and d_t = (f_{t−2} − f_{t−1})/T the last
relative decrease (r_1 for t = 2; η_1 = 1e-3). An inexact regression adds at most about η²·‖b‖² to
its objective, so the loss is about 0.1 % of the last decrease (the robust analysis of SYYZ lets the
regression error scale with the outer progress) and of what the stopping rule resolves (eps·f, or
eps²·T for "fit"). Measured on planted problems: the same outer iterations as exact regressions
to within 5 %, with 2–4× fewer inner iterations. "cg", whose criterion bounds the fitted values
only up to κ(A_i), divides η_t by κ̂ measured on a few rows. A number for inner_eps fixes η_t.
"""
from __future__ import annotations

import contextlib
import inspect
import threading
import time
import warnings
from dataclasses import replace
from types import MappingProxyType
from typing import Iterator

import numpy as np

from . import init as _init
from . import models as _models
from .diagnostics import exact_diagnostics
from .problem import InputError, side_objective, unscale
from .records import EMStats, Result, Step, StopReason, regression_stats, strip
from .settings import (DEFAULT_SKETCH, INNER, OPTION_SOLVERS, RIDGE_CAP, SOLVERS,  # noqa: F401
                       RunOptions, prepare, run_options, scaled_ridge, signature)
from .solvers import half_step, with_kept_products
from .solvers.em import em_model_step, em_step

ETA_MAX = 1e-3
FORCING = 0.03


class ConvergenceWarning(UserWarning):
    """The loop reached max_iter before its stopping rule held."""


def iterate(M, W, k, **options) -> Iterator[Step]:
    """Run the alternating loop lazily, yielding one frozen `Step` per iteration.

    Every option is validated before any work (InputError). See the module docstring for the
    loop, the stopping rule and the meaning of ridge; `solve` documents the options. Takes the
    keywords of `solve` (settings.RunOptions) except keep_factors: every yielded step carries its
    factors, and the caller keeps what it wants.

    Dense M and W are read in place between steps, not copied (they can be most of the memory):
    changing them before the run ends raises InputError at the next step (a checksum of them,
    `_fingerprint`, is compared before every iteration). The returned iterator may be advanced
    from several threads: each gets the next step in turn."""
    t_start = time.perf_counter()
    opts = run_options("iterate", options)
    prob, o, max_iter, init, clip, settings, inner_eps, held = prepare(M, W, k, opts)
    return _Steps(_loop(prob, o, max_iter, init, clip, opts.seed, t_start, inner_eps, held, settings["bias"],
                        settings["ridge_scaling"], _fingerprint(prob)))


iterate.__signature__ = signature()


class _Steps:
    """What `iterate` returns: the loop's steps, handed out one thread at a time (two threads
    advancing one run each get the next step in turn, instead of "generator already executing")."""

    def __init__(self, steps):
        self._steps, self._lock = steps, threading.Lock()

    def __iter__(self):
        return self

    def __next__(self):
        with self._lock:
            return next(self._steps)

    def close(self):
        with self._lock:
            self._steps.close()


def _fingerprint(prob):
    """A checksum of the dense arrays the loop reads in place between steps (the caller's M and W
    when they are float64), None for a sparse problem, whose layout is the loop's own copy.

    The bits of every entry as uint64, summed (mod 2**64) per row and per column, each sum
    weighted by its row's or column's number: any change of one entry, and any exchange of
    entries between rows or columns, changes it. Memory-bound and without a copy, so a few per cent
    of an iteration at most (a crc32 of the same bytes costs several times more)."""
    if prob.sparse:
        return None
    n, m = prob.n, prob.m
    sums = []
    for A in (prob.rows.M, prob.rows.W):
        by_row = np.zeros(1, np.uint64)          # arrays: their sums wrap silently, scalars warn
        by_col = np.zeros(m, np.uint64)
        for r in prob.rows.row_blocks():
            U = A[r].view(np.uint64)
            weights = np.arange(r.start + 1, min(r.stop, n) + 1, dtype=np.uint64)
            by_row += np.sum(U.sum(axis=1, dtype=np.uint64) * weights, dtype=np.uint64)
            by_col += U.sum(axis=0, dtype=np.uint64)
        sums += [int(by_row[0]), int(np.sum(by_col * np.arange(1, m + 1, dtype=np.uint64), dtype=np.uint64))]
    return tuple(sums)


def _loop(prob, o, max_iter, init, clip, seed, t_start, inner_eps="adaptive", held=None, bias=False,
          ridge_scaling="none", fingerprint=None):
    threads = _thread_policy(prob)
    with threads():
        loop = _Loop(prob, o, init, clip, seed, inner_eps, held, bias, ridge_scaling)
    for t in range(1, max_iter + 1):
        if fingerprint is not None and _fingerprint(prob) != fingerprint:
            raise InputError(f"M, W: found them changed in place after iterate() was called (before "
                             f"iteration {t}); the loop reads them without copying, so a change makes its "
                             "state wrong. Change a copy, or start a new iterate() with the new arrays.")
        with threads():                       # released while the caller holds the step
            step = loop.advance(t, t == max_iter, t_start)
        yield step
        if step.stop_reason is not None:
            return


# Small problems run with one BLAS thread: their many small LAPACK calls lose more to thread
# hand-offs than they gain. Large ones keep every thread for their big products.
_SMALL_WORK = 5e7


def _thread_policy(prob):
    work = (prob.nnz if prob.sparse else prob.n * prob.m) * prob.k
    if work >= _SMALL_WORK:
        return contextlib.nullcontext
    from .threads import single_thread
    return single_thread


def solver_rng(seed):
    """The solvers' own stream for an integer seed. Not default_rng(seed) itself: data drawn by the
    caller with default_rng(seed) would share the sketches' uniforms, and the sketch could then
    keep exactly the entries the data left out."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x574C5241,)))


def _own_stream(seed):
    """The run's generator. A Generator passed as seed gives one draw (numpy serialises it) that
    seeds the run's own stream: runs sharing one Generator from several threads then never
    interleave their draws, and each run is reproducible from the Generator's state at its start."""
    if isinstance(seed, np.random.Generator):
        return solver_rng(int(seed.integers(0, 2**63 - 1)))
    return solver_rng(seed)


class _Loop:
    """The state of the alternating loop between two iterations."""

    def __init__(self, prob, o, init, clip, seed, inner_eps="adaptive", held=None, bias=False,
                 ridge_scaling="none"):
        self.prob, self.o = prob, o
        self.held = held
        # None: the plain loop, without the model's adjusted sides
        self.model = (_models.Model(prob, bias, ridge_scaling, o.ridge > 0)
                      if bias or ridge_scaling != "none" else None)
        self.o = o = with_kept_products(prob, o, plain=self.model is None)
        self.best_score = np.inf                 # the lowest holdout_rmse (or objective) so far
        self.inner_eps = None if isinstance(inner_eps, str) else float(inner_eps)
        self.f_prev2 = None
        self.memo = {}                           # per side: what "auto" measured, "sketched"'s kept factors
        self.rng = _own_stream(seed)
        self.start = self.model.initial_problem() if self.model is not None else prob   # W∘(M − μ) with bias
        self.Y = _init.initial_factor(self.start, init, self.rng)
        self.c_clip = 2.0 * _init.incoherence(self.Y) if clip else None
        self.orth = o.ridge == 0 and o.solver != "em"
        self.X = np.zeros((prob.n, prob.k))
        self.X_model = self.Yt_model = None      # the model X Ỹᵀ after the last iteration
        self.em_prev, self.em_theta, self.em_t, self.em_pen = None, 0.0, 0, np.inf   # EM momentum
        self.f_prev = None

    def _inner_tolerance(self):
        """η_t, the regression tolerance of this iteration (module docstring)."""
        if self.inner_eps is not None:
            return self.inner_eps
        eps, total = self.o.eps, self.prob.total
        if self.f_prev is None or total <= 0:
            return ETA_MAX
        r = self.f_prev / total
        d = (self.f_prev2 - self.f_prev) / total if self.f_prev2 is not None else r
        floor = FORCING * np.sqrt(eps * max(r, eps))
        return float(min(ETA_MAX, max(floor, FORCING * np.sqrt(max(d, 0.0)))))

    def _normalise(self, Z):
        if not self.orth:
            return Z
        Q = _init.orthonormalise(Z, self.rng)
        return _init.clip(Q, self.c_clip, self.rng) if self.c_clip is not None else Q

    def advance(self, t, last, t_start):
        prob, o = self.prob, self.o
        t0 = time.perf_counter()
        if o.solver == "em":
            if t == 1:                        # M̂_0 = (W∘M) Y0 Y0ᵀ, the start shared with the others
                # ... with Y0 zero on columns without weight: EM keeps M̂ where nothing is observed,
                # so those columns get 0, the regressions' minimum-norm fit, not the start's values
                self.Y = np.where((prob.cols.counts > 0)[:, None], self.Y, 0.0)
                self.X = _init.weighted_matrix(self.start) @ self.Y
            if self.model is None and o.ridge == 0:
                X, Yt = em_step(prob, self.X, self.Y, self._em_clip())
            else:
                X, Yt = self._em_model_step()
            halves = None                     # EM: no regressions, EMStats
            sx, sy = time.perf_counter() - t0, 0.0
        elif self.model is not None:
            X, Yt, halves, sx, sy = self._model_half_steps(t0)
        else:
            Y = self.Y
            oi = replace(o, eps=self._inner_tolerance(), adaptive=self.inner_eps is None)
            Xt, stats_x = half_step(prob.rows, Y, _warm(self.X_model, self.Yt_model, Y), oi, self.rng,
                                    self.memo, "rows")
            if o.diagnostics:
                stats_x = exact_diagnostics(stats_x, prob.rows, Y, Xt, o.ridge)
            sx = time.perf_counter() - t0
            X = self._normalise(Xt)
            t1 = time.perf_counter()
            Yt, stats_y = half_step(prob.cols, X, _warm(Y, Xt, X), oi, self.rng, self.memo, "cols")  # X̃ Yᵀ
            if o.diagnostics:
                stats_y = exact_diagnostics(stats_y, prob.cols, X, Yt, o.ridge)
            sy = time.perf_counter() - t1
            self.X_model, self.Yt_model = X, Yt
            halves = (stats_x, stats_y)
        f = side_objective(prob.rows, X, Yt) if self.model is None else self.model.objective(X, Yt)
        self.X, self.Y = X, self._normalise(Yt)
        reason = None
        if f <= o.eps ** 2 * prob.total:
            reason = StopReason.FIT
        elif self.f_prev is not None and abs(self.f_prev - f) <= o.eps * self.f_prev:
            reason = StopReason.STALLED
        elif last:
            reason = StopReason.MAX_ITER
        self.f_prev2, self.f_prev = self.f_prev, f
        # back to the caller's units: M̂ = X Ỹᵀ·m_scale; with ridge the scale is split evenly
        if o.ridge == 0:
            Xo, Yo = X.copy(), Yt * prob.m_scale
        else:
            Xo, Yo = X * np.sqrt(prob.m_scale), Yt * np.sqrt(prob.m_scale)
        if not (np.isfinite(Xo).all() and np.isfinite(Yo).all()):
            raise InputError(f"M: found values up to {prob.m_scale:.3g}, too near the float range: the "
                             f"factors of iteration {t} overflowed (Y = Mᵀ X sums up to {prob.n} values). "
                             "Scale M down (e.g. M / 1e300) and the result back up.")
        Xo.flags.writeable = False
        Yo.flags.writeable = False
        stats = (EMStats(seconds_x=sx, seconds_y=sy) if halves is None
                 else regression_stats(*halves, o.solver, o.sketch, o.s, (sx, sy)))
        # in the caller's units, inf only beyond the float range (problem.unscale); the ridge
        # terms of the scaled factors scale the same way as f
        objective = unscale(f, prob.m_scale, prob.w_scale)
        if self.model is not None:
            pen = f + o.ridge * self.model.penalty(X, Yt) if o.ridge else f
        else:
            pen = f + o.ridge * (float(np.sum(X * X)) + float(np.sum(Yt * Yt))) if o.ridge else f
        if o.solver == "em":
            # momentum restarts whenever the penalised objective goes up (O'Donoghue & Candès 2015)
            self.em_t = self.em_t + 1 if pen <= self.em_pen else 0
            self.em_theta = (self.em_t - 1) / (self.em_t + 2) if self.em_t > 0 else 0.0
            self.em_pen = pen
        pen = unscale(pen, prob.m_scale, prob.w_scale)
        offsets = {}
        if self.model is not None and self.model.bias:
            offsets = dict(mean=self.model.mean * prob.m_scale, row_offsets=_frozen(self.model.b * prob.m_scale),
                           col_offsets=_frozen(self.model.c * prob.m_scale))
        step = Step(iteration=t, objective=objective,
                    relative_objective=f / prob.total if prob.total > 0 else 0.0,
                    penalised=pen, seconds=0.0, elapsed=0.0, X=Xo, Y=Yo,
                    inner=stats, stop_reason=reason, **offsets)
        return self._finish(step, f, t0, t_start)

    def _em_clip(self):
        """EM's LLR16 clipping of its M-step's orthonormal left factor (None without clip)."""
        if self.c_clip is None:
            return None
        return lambda Q: _init.clip(Q, self.c_clip, self.rng)

    def _em_model_step(self):
        """EM with a ridge (singular-value soft threshold) and/or offsets (solvers/em.py)."""
        model, o = self.model, self.o
        bias = model is not None and model.bias
        X, Y = self.X, self.Y
        b, c = (model.b, model.c) if bias else (None, None)
        prev = self.em_prev
        if prev is not None and self.em_theta > 0:
            # Nesterov extrapolation of the model (accelerated SoftImpute, Yao & Kwok 2015): the
            # E-step fills from Z + θ(Z − Z_prev), a rank-2k model
            th = self.em_theta
            X = np.hstack([(1 + th) * X, -th * prev[0]])
            Y = np.hstack([Y, prev[1]])
            if bias:
                b, c = b + th * (b - prev[2]), c + th * (c - prev[3])
        self.em_prev = (self.X, self.Y, model.b, model.c) if bias else (self.X, self.Y, None, None)
        Xn, Yt, off = em_model_step(self.prob, X, Y, o.ridge, (model.mean, b, c) if bias else None,
                                    o.ridge / model.one ** 2 if bias else 0.0, self._em_clip())
        if bias:
            model.b, model.c = off
        return Xn, Yt

    def _model_half_steps(self, t0):
        """The two half-steps of the biased and/or count-scaled model (models.py): the same
        solvers on adjusted sides, with a column of ones in the design when bias=True."""
        model, o = self.model, self.o
        oi = replace(o, eps=self._inner_tolerance(), adaptive=self.inner_eps is None)
        Y = self.Y
        Yd = model.design(Y)
        side = model.x_side()
        Zx, stats_x = half_step(side, Yd, _warm(self.X_model, self.Yt_model, Yd), oi, self.rng, self.memo,
                                "rows")
        if o.diagnostics:
            stats_x = exact_diagnostics(stats_x, side, Yd, Zx, o.ridge)
        Xt, b = model.split(Zx)
        if model.bias:
            Xt = model.centre(Xt, Y, "rows")
        sx = time.perf_counter() - t0
        X = self._normalise(Xt)
        Xd = model.design(X)
        if model.bias:
            model.b = b
            # the X half-step's model of (M − μ − b)ᵀ is Y X̃ᵀ + c 1ᵀ: the warm start on [X, 1]
            warm = _warm(np.hstack([Y, model.coef(model.c)]), model.design(Xt), Xd)
        else:
            warm = _warm(Y, Xt, X)
        t1 = time.perf_counter()
        side = model.y_side()
        Zy, stats_y = half_step(side, Xd, warm, oi, self.rng, self.memo, "cols")
        if o.diagnostics:
            stats_y = exact_diagnostics(stats_y, side, Xd, Zy, o.ridge)
        Yt, c = model.split(Zy)
        if model.bias:
            Yt = model.centre(Yt, X, "cols")
        sy = time.perf_counter() - t1
        if model.bias:
            model.c = c
            self.X_model, self.Yt_model = np.hstack([X, model.coef(model.b)]), model.design(Yt)
        else:
            self.X_model, self.Yt_model = X, Yt
        return X, Yt, (stats_x, stats_y), sx, sy

    def _finish(self, step, f, t0, t_start):
        """The step's held-out error, whether it is the best so far, and its times."""
        rmse = None
        if self.held is not None:
            rmse = self.held.rmse(step.predict)
            score = rmse
        else:
            score = f
        best = bool(score < self.best_score) or self.best_score == np.inf
        if best:
            self.best_score = score
        now = time.perf_counter()
        return replace(step, holdout_rmse=rmse, is_best=best, seconds=now - t0, elapsed=now - t_start)


def _frozen(a):
    a = np.array(a, dtype=np.float64)
    a.flags.writeable = False
    return a


def _warm(Xt_prev, Y_prev, Y):
    """X̃_prev Y_prevᵀ Y (YᵀY)⁻¹: the model X̃_prev Y_prevᵀ expressed on the new factor Y."""
    if Xt_prev is None:
        return None
    if Y_prev is Y:               # not normalised (ridge): exactly the previous factor, no round-off
        return Xt_prev
    C = Y_prev.T @ Y
    G = Y.T @ Y
    try:
        C = np.linalg.solve(G, C.T).T
    except np.linalg.LinAlgError:
        C = C @ np.linalg.pinv(G)
    return Xt_prev @ C


def solve(M, W, k, *, keep_factors=True, **options) -> Result:
    """Weighted low-rank approximation: X (n×k), Y (m×k) minimising Σ W_ij (M_ij − (X Yᵀ)_ij)².

    Parameters
    ----------
    M, W : the data and the weights, same shape n×m; dense arrays, or W scipy.sparse (its stored
        positive entries are the weighted ones) with M dense or sparse. NaN in M only where W = 0.
    k : the rank, 1 ≤ k ≤ min(n, m).
    solver : "exact" (LLR16 normal equations), "sketched" (SYYZ: sketch-preconditioned iterations),
        "cg" (unpreconditioned conjugate gradients), "em" (Srebro–Jaakkola EM), "auto" (the cheapest
        of exact, cg and sketched per half-step by a cost model; Step.inner.choice and .reason
        say which and why). Step.inner holds the typed statistics of the solver's family
        (records.RegressionStats, AutoStats or EMStats).
    eps : in (0, 1); the stopping rule of the loop (module docstring).
    inner_eps : the regression tolerance of the iterative solvers: "adaptive" (the forcing
        sequence in the module docstring) or a number in (0, 1) used in every half-step.
    max_iter : alternating iterations at most; reaching it warns (ConvergenceWarning).
    init : "svd" (top-k right singular vectors of W∘M) or "random".
    ridge : λ ≥ 0; minimises f + λ‖X‖² + λ‖Y‖² (plain, unscaled).
    clip : LLR16 clipping of the orthonormal factors at 2μ̂√(k/n), μ̂ the initial incoherence.
    seed : an int or a numpy Generator; the same seed and inputs give the same result, bit for bit.
        A Generator gives one draw at the start, which seeds the run's own stream: runs sharing a
        Generator (even from several threads) never interleave their draws.
    sketch, sketch_size, inner, max_inner : the sketched solver's sketch (one of SKETCHES; default
        "rownorm"), its rows (default 4k), its iteration ("pcg" or the paper's "gd") and the cap on
        inner iterations per regression (default 100; also used by "cg").
    memory_budget : bytes of memory beyond the inputs (default 1 GiB): the sparse layout (40 bytes
        per weighted entry; dense inputs are read in place) and the working arrays, blocked over
        rows and over columns of the Gram products to stay within it. A sparse problem whose
        layout leaves under 32 MiB to work in is refused with an InputError. "sketched" on dense W
        with k ≥ 24 keeps its preconditioners between iterations ((n + m)·k² float32) when they
        fit in half of it (solvers/sketched.py, Recycling). A large dense run (over 2**21
        entries, M finite) of exact, sketched, cg or auto without bias or count scaling keeps
        W∘M for its right-hand sides (8·n·m bytes) when it fits in a quarter of it and leaves
        sketched's kept preconditioners their half (solvers.products_bytes); the half-steps
        work within the rest.
    max_entries : the size cap of one problem (default limits.MAX_ENTRIES = 2**25), counted as n·m
        for dense W, nnz(W) for sparse W, and (n + m)·k for the factors; a larger problem is
        refused with an InputError before anything is allocated. None: no cap.
    diagnostics : record condition numbers and forward errors on a sample of rows (sketched, cg);
        off by default: they cost an exact Gram matrix and eigendecompositions per sampled row.
    keep_factors : keep X, Y in every history step (False keeps them on the last step and, with
        holdout, on the best one only).
    bias : fit M̂ = μ + b_i + c_j + X Yᵀ (models.py): μ the weighted mean of the fitted entries, the
        offsets solved inside each regression (Step/Result .mean, .row_offsets, .col_offsets).
    ridge_scaling : "none" (λ‖x_i‖²) or "count" (λ·N_i‖x_i‖², N_i the row's weighted entries; needs
        ridge > 0; not with "em", whose M-step has no per-row ridge).
    holdout : a fraction in [0, 1) of the entries with positive weight held out of the fit (weight
        0), drawn from `seed` by a stream of its own; each Step reports `holdout_rmse` on them and
        `is_best`, and `Result.best` is the step with the lowest holdout_rmse. 0 (default): none,
        and `Result.best` is the last step.
    """
    t0 = time.perf_counter()
    history = []
    last = None
    best = None                      # index of the best step in history (holdout > 0)
    if not isinstance(keep_factors, (bool, np.bool_)):
        raise InputError(f"keep_factors: found {keep_factors!r}, need True or False.")
    opts = run_options("solve", options)
    prob, o, max_iter, init, clip, settings, inner_eps, held = prepare(M, W, k, opts)
    for step in _loop(prob, o, max_iter, init, clip, opts.seed, t0, inner_eps, held, settings["bias"],
                      settings["ridge_scaling"]):
        if last is not None and not keep_factors:
            prev = len(history) - 1
            if held is None or prev != best or step.is_best:
                history[prev] = strip(history[prev])
            if held is not None and step.is_best and best is not None and best != prev:
                history[best] = strip(history[best])
        history.append(step)
        if held is not None and step.is_best:
            best = len(history) - 1
        last = step
    if last.stop_reason is StopReason.MAX_ITER:
        warnings.warn(f"solve: reached max_iter={max_iter} before the stopping rule held "
                      f"(relative objective {last.relative_objective:.3g}); raise max_iter or eps.",
                      ConvergenceWarning, stacklevel=2)
    return Result(X=last.X, Y=last.Y, history=tuple(history), objective=last.objective,
                  relative_objective=last.relative_objective,
                  converged=last.stop_reason.converged, stop_reason=last.stop_reason,
                  seconds=time.perf_counter() - t0, settings=MappingProxyType(settings),
                  best=history[best] if best is not None else last, mean=last.mean,
                  row_offsets=last.row_offsets, col_offsets=last.col_offsets)


solve.__signature__ = signature((inspect.Parameter("keep_factors", inspect.Parameter.KEYWORD_ONLY, default=True,
                                                   annotation="bool"),))
