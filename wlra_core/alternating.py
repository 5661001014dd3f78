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
import time
import warnings
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Iterator

import numpy as np

from . import holdout as _holdout
from .diagnostics import exact_diagnostics
from . import init as _init
from . import models as _models
from .limits import MAX_ENTRIES
from .problem import (MIN_WORK_BYTES, InputError, check_choice, check_float, check_int, side_objective,
                      unscale, validate)
from .sketches import SKETCHES
from .solvers import Options, half_step
from .solvers.em import em_model_step, em_step

SOLVERS = ("exact", "sketched", "cg", "em", "auto")
ETA_MAX = 1e-3
FORCING = 0.03
INNER = ("pcg", "gd")
DEFAULT_SKETCH = "rownorm"


class ConvergenceWarning(UserWarning):
    """The loop reached max_iter before its stopping rule held."""


def _predict(X, Y, mean, row_offsets, col_offsets, rows, cols):
    """M̂ at the entries (rows[t], cols[t]) without forming M̂."""
    rows = np.asarray(rows, dtype=np.intp)
    cols = np.asarray(cols, dtype=np.intp)
    if rows.shape != cols.shape:
        raise InputError(f"rows, cols: found shapes {rows.shape} and {cols.shape}, need the same shape.")
    n, m = X.shape[0], Y.shape[0]
    if rows.size and (rows.min() < -n or rows.max() >= n or cols.min() < -m or cols.max() >= m):
        raise InputError(f"rows, cols: found indices outside the {n}×{m} matrix, need rows in [0, {n}) "
                         f"and cols in [0, {m}).")
    out = np.einsum("...j,...j->...", X[rows], Y[cols])
    if row_offsets is not None:
        out += mean + row_offsets[rows] + col_offsets[cols]
    return out


def _full(X, Y, mean, row_offsets, col_offsets):
    out = X @ Y.T
    if row_offsets is not None:
        out += mean + row_offsets[:, None] + col_offsets[None, :]
    return out


@dataclass(frozen=True)
class Step:
    """One alternating iteration. M̂ = X @ Y.T (+ mean + row_offsets_i + col_offsets_j with
    bias=True); the arrays are read-only."""

    iteration: int
    objective: float            # Σ W (M − X Yᵀ)², the data term; inf only when it exceeds 1.8e308
    relative_objective: float   # objective / Σ W M², always finite (computed on the scaled problem)
    penalised: float            # objective + ridge (‖X‖² + ‖Y‖²); inf likewise
    seconds: float              # wall time of this iteration
    elapsed: float              # wall time since the call started, initialisation included
    X: np.ndarray | None
    Y: np.ndarray | None
    inner: MappingProxyType = field(repr=False)
    stop_reason: str | None = None   # set on the last step only
    holdout_rmse: float | None = None  # √(Σ_h W (M − M̂)² / Σ_h W) on the held-out entries; None without
    is_best: bool = False            # lowest holdout_rmse so far (holdout=0: lowest objective so far)
    mean: float = 0.0                # μ of the biased model (bias=True), else 0
    row_offsets: np.ndarray | None = field(default=None, repr=False)   # b_i (bias=True), else None
    col_offsets: np.ndarray | None = field(default=None, repr=False)   # c_j (bias=True), else None

    def low_rank(self):
        """The full estimate M̂ (n×m), offsets included."""
        return _full(self.X, self.Y, self.mean, self.row_offsets, self.col_offsets)

    def predict(self, rows, cols):
        """M̂ at the entries (rows[t], cols[t]), without forming M̂."""
        return _predict(self.X, self.Y, self.mean, self.row_offsets, self.col_offsets, rows, cols)


@dataclass(frozen=True)
class Result:
    X: np.ndarray
    Y: np.ndarray
    history: list
    objective: float
    relative_objective: float
    converged: bool
    stop_reason: str
    seconds: float
    settings: MappingProxyType = field(repr=False)
    best: Step | None = None         # the best iteration: lowest holdout_rmse (holdout=0: the last step)
    mean: float = 0.0
    row_offsets: np.ndarray | None = field(default=None, repr=False)
    col_offsets: np.ndarray | None = field(default=None, repr=False)

    def low_rank(self):
        """The dense estimate M̂ = X Yᵀ (+ offsets with bias=True) of the last iteration (n×m: mind
        the size for large problems). `best.low_rank()` is the best iteration's."""
        return _full(self.X, self.Y, self.mean, self.row_offsets, self.col_offsets)

    def predict(self, rows, cols):
        """M̂ of the last iteration at the entries (rows[t], cols[t]), without forming M̂."""
        return _predict(self.X, self.Y, self.mean, self.row_offsets, self.col_offsets, rows, cols)


def _options(M, W, k, solver, eps, max_iter, init, ridge, clip, seed, sketch, sketch_size, inner,
             max_inner, memory_budget, diagnostics, max_entries, inner_eps, holdout=0.0, bias=False,
             ridge_scaling="none"):
    """Validate every option before any work; returns (problem, options, settings, held)."""
    check_choice("solver", solver, SOLVERS)
    eps = check_float("eps", eps, low=0.0, high=1.0, low_open=True, high_open=True,
                      what=" (the tolerance, in the open interval (0, 1))")
    if not (isinstance(inner_eps, str) and inner_eps == "adaptive"):
        if isinstance(inner_eps, str):
            raise InputError(f"inner_eps: found {inner_eps!r}, need 'adaptive' or a number in (0, 1).")
        inner_eps = check_float("inner_eps", inner_eps, low=0.0, high=1.0, low_open=True, high_open=True,
                                what=" (the regression tolerance, in (0, 1); or 'adaptive')")
        if solver in ("exact", "em"):
            raise InputError(f"inner_eps: found {inner_eps:g} with solver={solver!r}, which solves its "
                             "regressions exactly; inner_eps applies to 'sketched', 'cg' and 'auto'.")
    max_iter = check_int("max_iter", max_iter, low=1, what=" (alternating iterations at most)")
    _check_applies(solver, sketch, sketch_size, inner, max_inner, diagnostics)
    check_choice("init", init, _init.INITS)
    ridge = check_float("ridge", ridge, low=0.0, what=" (the ridge λ; 0 for none)")
    if not isinstance(clip, (bool, np.bool_)):
        raise InputError(f"clip: found {clip!r}, need True or False.")
    if clip and ridge > 0:
        raise InputError(f"clip: found clip=True with ridge={ridge:g}; LLR16 clipping needs orthonormal "
                         "factors, which ridge > 0 does not keep. Use ridge=0 or clip=False.")
    if not isinstance(bias, (bool, np.bool_)):
        raise InputError(f"bias: found {bias!r}, need True or False.")
    check_choice("ridge_scaling", ridge_scaling, _models.SCALINGS)
    if ridge_scaling == "count" and ridge == 0:
        raise InputError("ridge_scaling: found 'count' with ridge=0; the count scaling multiplies the "
                         "ridge λ of each row by its number of entries, so it needs ridge > 0.")
    if ridge_scaling == "count" and solver == "em":
        raise InputError("ridge_scaling: found 'count' with solver='em'; EM's M-step is one singular-value "
                         "threshold of the whole filled matrix, which has no per-row ridge. Use "
                         "ridge_scaling='none' or another solver.")
    if seed is not None and not isinstance(seed, np.random.Generator):
        seed = check_int("seed", seed, low=0)
    sketch = DEFAULT_SKETCH if sketch is None else check_choice("sketch", sketch, SKETCHES)
    check_choice("inner", inner, INNER)
    if max_inner is not None:
        max_inner = check_int("max_inner", max_inner, low=1)
    memory_budget = check_int("memory_budget", memory_budget, low=1 << 20,
                              what=" bytes (at least 1 MiB)")
    if max_entries is not None:
        max_entries = check_int("max_entries", max_entries, low=1)
    holdout = _holdout.check_holdout(holdout)
    held = None
    if holdout > 0:
        W, held = _holdout.split(M, W, holdout, seed)
    prob = validate(M, W, k, budget=memory_budget, max_entries=max_entries)
    k = prob.k
    cols = k + 1 if bias else k       # bias adds a column of ones to each regression's design
    s = 4 * k if sketch_size is None else check_int(
        "sketch_size", sketch_size, low=cols,
        what=f" (at least k + 1 = {cols}: k = {k} plus the offset)" if bias else f" (at least k = {k})")
    # the problem is scaled (M/m_scale, W/w_scale); with factors scaled by √m_scale each, the ridge
    # of the scaled problem is λ/(w_scale·m_scale)
    o = Options(solver=solver, eps=eps, ridge=ridge / (prob.w_scale * prob.m_scale), sketch=sketch, s=s, inner=inner,
                max_inner=100 if max_inner is None else max_inner,
                budget=max(memory_budget - prob.layout_bytes, MIN_WORK_BYTES),
                diagnostics=bool(diagnostics))
    settings = dict(solver=solver, eps=eps, max_iter=max_iter, init=init, ridge=ridge, clip=bool(clip),
                    seed=seed if not isinstance(seed, np.random.Generator) else "Generator",
                    sketch=sketch, sketch_size=s, inner=inner, max_inner=o.max_inner,
                    memory_budget=memory_budget, inner_eps=inner_eps, holdout=holdout, bias=bool(bias),
                    ridge_scaling=ridge_scaling)
    return prob, o, max_iter, init, bool(clip), settings, inner_eps, held


# the solver-specific keywords and the solvers that use them; any other solver refuses them
# (callers that offer one setting to several solvers filter with this)
OPTION_SOLVERS = MappingProxyType({
    "sketch": ("sketched", "auto"),
    "inner": ("sketched", "auto"),
    "sketch_size": ("sketched", "auto"),
    "max_inner": ("sketched", "cg", "auto"),
    "inner_eps": ("sketched", "cg", "auto"),
    "diagnostics": ("exact", "sketched", "cg", "auto"),
})

# solvers/warm.py (the kernel warm-up, not this module's) still passes sketch_size to "exact" and
# "cg", which ignore it; refusing it there waits for that call to change
LENIENT_SKETCH_SIZE = True


def _check_applies(solver, sketch, sketch_size, inner, max_inner, diagnostics):
    """Refuse options that the chosen solver would ignore (nothing is silently ignored)."""
    lenient = ("exact", "cg") if LENIENT_SKETCH_SIZE else ()
    given = [(name, value) for name, value in (
        ("sketch", sketch), ("inner", None if inner == "pcg" else inner), ("max_inner", max_inner),
        ("sketch_size", sketch_size), ("diagnostics", diagnostics or None))
        if value is not None and solver not in OPTION_SOLVERS[name]
        and not (name == "sketch_size" and solver in lenient)]
    if given:
        name, value = given[0]
        raise InputError(f"{name}: found {value!r} with solver={solver!r}, which does not use it; "
                         f"leave {name} at its default or pick a solver that uses it "
                         f"({', '.join(OPTION_SOLVERS[name])}).")


def iterate(M, W, k, *, solver="sketched", eps=1e-6, max_iter=100, init="svd", ridge=0.0, clip=False,
            seed=0, sketch=None, sketch_size=None, inner="pcg", max_inner=None, memory_budget=1 << 30,
            diagnostics=False, keep_factors=True, max_entries=MAX_ENTRIES,
            inner_eps="adaptive", holdout=0.0, bias=False, ridge_scaling="none") -> Iterator[Step]:
    """Run the alternating loop lazily, yielding one frozen `Step` per iteration.

    Every option is validated before any work (InputError). See the module docstring for the
    loop, the stopping rule and the meaning of ridge; `solve` documents the options. Takes the
    same keywords as `solve`; every yielded step carries its factors (`keep_factors` applies to
    `solve`, which keeps the history: here only its default True is accepted)."""
    t_start = time.perf_counter()
    if keep_factors is not True:
        raise InputError(f"keep_factors: found {keep_factors!r} in iterate, which yields every step with "
                         "its factors (the caller keeps what it wants); keep_factors applies to solve.")
    prob, o, max_iter, init, clip, _, inner_eps, held = _options(
        M, W, k, solver, eps, max_iter, init, ridge, clip, seed, sketch, sketch_size, inner, max_inner,
        memory_budget, diagnostics, max_entries, inner_eps, holdout, bias, ridge_scaling)
    return _loop(prob, o, max_iter, init, clip, seed, t_start, inner_eps, held, bias, ridge_scaling)


def _loop(prob, o, max_iter, init, clip, seed, t_start, inner_eps="adaptive", held=None, bias=False,
          ridge_scaling="none"):
    threads = _thread_policy(prob)
    with threads():
        loop = _Loop(prob, o, init, clip, seed, inner_eps, held, bias, ridge_scaling)
    for t in range(1, max_iter + 1):
        with threads():                       # released while the caller holds the step
            step = loop.advance(t, t == max_iter, t_start)
        yield step
        if step.stop_reason is not None:
            return


# Small problems run with one BLAS thread: their many small LAPACK calls lose far more to thread
# hand-offs than they gain (measured here on 2 busy cores: a 300×200 SVD took 84 ms with two
# OpenBLAS threads, 17 ms with one). Large ones keep every thread for their big products.
_SMALL_WORK = 5e7


def _thread_policy(prob):
    work = (prob.nnz if prob.sparse else prob.n * prob.m) * prob.k
    if work >= _SMALL_WORK:
        return contextlib.nullcontext
    from .threads import single_thread
    return single_thread


def solver_rng(seed):
    """The solvers' own stream for an integer seed. Not default_rng(seed) itself: a user's mask
    drawn with default_rng(0) and a sketch drawn with default_rng(0) would use the very same
    uniforms, and row-norm sampling then kept no entry at all (the inpainting page hit this:
    dropout kept pixels where u ≥ 0.25, the sketch kept them where u < π ≤ 0.17)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x574C5241,)))


class _Loop:
    """The state of the alternating loop between two iterations."""

    def __init__(self, prob, o, init, clip, seed, inner_eps="adaptive", held=None, bias=False,
                 ridge_scaling="none"):
        self.prob, self.o = prob, o
        self.held = held
        # None keeps the plain loop exactly as it was (bit for bit)
        self.model = (_models.Model(prob, bias, ridge_scaling, o.ridge > 0)
                      if bias or ridge_scaling != "none" else None)
        self.best_score = np.inf                 # the lowest holdout_rmse (or objective) so far
        self.inner_eps = None if isinstance(inner_eps, str) else float(inner_eps)
        self.f_prev2 = None
        self.memo = {}                           # what "auto" measured, per side
        self.rng = seed if isinstance(seed, np.random.Generator) else solver_rng(seed)
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
                # ... with Y0 zero on columns that have no weight: EM keeps M̂ wherever nothing is
                # observed, so a random start left arbitrary values (up to 1.5 on a planted
                # problem) in empty columns for good; the regressions give them 0 (their minimum-
                # norm fit), and so does EM now
                self.Y = np.where((prob.cols.counts > 0)[:, None], self.Y, 0.0)
                self.X = _init.weighted_matrix(self.start) @ self.Y
            if self.model is None and o.ridge == 0:
                X, Yt = em_step(prob, self.X, self.Y, self._em_clip())
            else:
                X, Yt = self._em_model_step()
            stats = dict(_EM_STATS)
            sx, sy = time.perf_counter() - t0, 0.0
        elif self.model is not None:
            X, Yt, stats, sx, sy = self._model_half_steps(t0)
        else:
            Y = self.Y
            oi = replace(o, eps=self._inner_tolerance(), adaptive=self.inner_eps is None)
            Xt, stats_x = half_step(prob.rows, Y, _warm(self.X_model, self.Yt_model, Y), oi, self.rng,
                                    self.memo)
            if o.diagnostics:
                stats_x = exact_diagnostics(stats_x, prob.rows, Y, Xt, o.ridge)
            sx = time.perf_counter() - t0
            X = self._normalise(Xt)
            t1 = time.perf_counter()
            Yt, stats_y = half_step(prob.cols, X, _warm(Y, Xt, X), oi, self.rng, self.memo)  # X̃ Yᵀ
            if o.diagnostics:
                stats_y = exact_diagnostics(stats_y, prob.cols, X, Yt, o.ridge)
            sy = time.perf_counter() - t1
            self.X_model, self.Yt_model = X, Yt
            stats = _merge(stats_x, stats_y, o)
        f = side_objective(prob.rows, X, Yt) if self.model is None else self.model.objective(X, Yt)
        self.X, self.Y = X, self._normalise(Yt)
        reason = None
        if f <= o.eps ** 2 * prob.total:
            reason = "fit"
        elif self.f_prev is not None and abs(self.f_prev - f) <= o.eps * self.f_prev:
            reason = "stalled"
        elif last:
            reason = "max_iter reached"
        self.f_prev2, self.f_prev = self.f_prev, f
        # back to the caller's units: M̂ = X Ỹᵀ·m_scale; with ridge the scale is split evenly
        if o.ridge == 0:
            Xo, Yo = X.copy(), Yt * prob.m_scale
        else:
            Xo, Yo = X * np.sqrt(prob.m_scale), Yt * np.sqrt(prob.m_scale)
        Xo.flags.writeable = False
        Yo.flags.writeable = False
        stats.update(seconds_x=sx, seconds_y=sy)
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
                    inner=MappingProxyType(stats), stop_reason=reason, **offsets)
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
        Zx, stats_x = half_step(side, Yd, _warm(self.X_model, self.Yt_model, Yd), oi, self.rng, self.memo)
        if o.diagnostics:
            stats_x = exact_diagnostics(stats_x, side, Yd, Zx, o.ridge)
        Xt, b = model.split(Zx)
        if model.bias:
            Xt, b = model.centre(Xt, b, Y, "rows")
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
        Zy, stats_y = half_step(side, Xd, warm, oi, self.rng, self.memo)
        if o.diagnostics:
            stats_y = exact_diagnostics(stats_y, side, Xd, Zy, o.ridge)
        Yt, c = model.split(Zy)
        if model.bias:
            Yt, c = model.centre(Yt, c, X, "cols")
        sy = time.perf_counter() - t1
        if model.bias:
            model.c = c
            self.X_model, self.Yt_model = np.hstack([X, model.coef(model.b)]), model.design(Yt)
        else:
            self.X_model, self.Yt_model = X, Yt
        return X, Yt, _merge(stats_x, stats_y, o), sx, sy

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


_EM_STATS = {"inner_iterations": 0.0, "inner_iterations_max": 0, "sketch_size": None, "sketch": None,
             "residual": 0.0, "inner_eps": None, "exact_rows": 0, "weak_sketches": 0, "iterative_rows": 0, "cond_before": np.zeros(0),
             "cond_after": np.zeros(0), "forward_error": np.zeros(0)}


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


def _merge(a, b, o):
    """One iteration's record of its two half-steps (Step.inner)."""
    its = a["inner_iterations_total"] + b["inner_iterations_total"]
    rows = a["iterative_rows"] + b["iterative_rows"]
    sketched = "sketched" in (a["solver"], b["solver"])
    merged = {
        "inner_iterations": its / rows if rows else 0.0,
        "inner_iterations_max": max(a["inner_iterations_max"], b["inner_iterations_max"]),
        "sketch_size": o.s if sketched else None,
        "sketch": o.sketch if sketched else None,
        "residual": max(a["residual"], b["residual"]),
        "inner_eps": a["inner_eps"] if a["inner_eps"] is not None else b["inner_eps"],
        "exact_rows": a["exact_rows"] + b["exact_rows"],
        "weak_sketches": a["weak_sketches"] + b["weak_sketches"],
        "iterative_rows": rows,
        "cond_before": np.concatenate([a["cond_before"], b["cond_before"]]),
        "cond_after": np.concatenate([a["cond_after"], b["cond_after"]]),
        "forward_error": np.concatenate([a["forward_error"], b["forward_error"]]),
    }
    if o.solver == "auto":
        merged["choice"] = (a["choice"], b["choice"])
        merged["reason"] = (a["reason"], b["reason"])
    return merged


def solve(M, W, k, *, solver="sketched", eps=1e-6, max_iter=100, init="svd", ridge=0.0, clip=False,
          seed=0, sketch=None, sketch_size=None, inner="pcg", max_inner=None, memory_budget=1 << 30,
          diagnostics=False, keep_factors=True, max_entries=MAX_ENTRIES,
          inner_eps="adaptive", holdout=0.0, bias=False, ridge_scaling="none") -> Result:
    """Weighted low-rank approximation: X (n×k), Y (m×k) minimising Σ W_ij (M_ij − (X Yᵀ)_ij)².

    Parameters
    ----------
    M, W : the data and the weights, same shape n×m; dense arrays, or W scipy.sparse (its stored
        positive entries are the weighted ones) with M dense or sparse. NaN in M only where W = 0.
    k : the rank, 1 ≤ k ≤ min(n, m).
    solver : "exact" (LLR16 normal equations), "sketched" (SYYZ: sketch-preconditioned iterations),
        "cg" (unpreconditioned conjugate gradients), "em" (Srebro–Jaakkola EM), "auto" (the cheapest
        of exact, cg and sketched per half-step by a cost model; Step.inner["choice"] and
        ["reason"] say which and why).
    eps : in (0, 1); the stopping rule of the loop (module docstring).
    inner_eps : the regression tolerance of the iterative solvers: "adaptive" (the forcing
        sequence in the module docstring) or a number in (0, 1) used in every half-step.
    max_iter : alternating iterations at most; reaching it warns (ConvergenceWarning).
    init : "svd" (top-k right singular vectors of W∘M) or "random".
    ridge : λ ≥ 0; minimises f + λ‖X‖² + λ‖Y‖² (plain, unscaled).
    clip : LLR16 clipping of the orthonormal factors at 2μ̂√(k/n), μ̂ the initial incoherence.
    seed : an int or a numpy Generator; the same seed and inputs give the same result, bit for bit.
    sketch, sketch_size, inner, max_inner : the sketched solver's sketch (one of SKETCHES; default
        "rownorm"), its rows (default 4k), its iteration ("pcg" or the paper's "gd") and the cap on
        inner iterations per regression (default 100; also used by "cg").
    memory_budget : bytes of memory beyond the inputs (default 1 GiB): the sparse layout (40 bytes
        per weighted entry; dense inputs are read in place) and the working arrays, blocked over
        rows and over columns of the Gram products to stay within it. A sparse problem whose
        layout leaves under 32 MiB to work in is refused with an InputError.
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
    prob, o, max_iter, init, clip, settings, inner_eps, held = _options(
        M, W, k, solver, eps, max_iter, init, ridge, clip, seed, sketch, sketch_size, inner, max_inner,
        memory_budget, diagnostics, max_entries, inner_eps, holdout, bias, ridge_scaling)
    for step in _loop(prob, o, max_iter, init, clip, seed, t0, inner_eps, held, settings["bias"],
                      settings["ridge_scaling"]):
        if last is not None and not keep_factors:
            prev = len(history) - 1
            if held is None or prev != best or step.is_best:
                history[prev] = _strip(history[prev])
            if held is not None and step.is_best and best is not None and best != prev:
                history[best] = _strip(history[best])
        history.append(step)
        if held is not None and step.is_best:
            best = len(history) - 1
        last = step
    if last.stop_reason == "max_iter reached":
        warnings.warn(f"solve: reached max_iter={max_iter} before the stopping rule held "
                      f"(relative objective {last.relative_objective:.3g}); raise max_iter or eps.",
                      ConvergenceWarning, stacklevel=2)
    return Result(X=last.X, Y=last.Y, history=history, objective=last.objective,
                  relative_objective=last.relative_objective,
                  converged=last.stop_reason in ("fit", "stalled"), stop_reason=last.stop_reason,
                  seconds=time.perf_counter() - t0, settings=MappingProxyType(settings),
                  best=history[best] if best is not None else last, mean=last.mean,
                  row_offsets=last.row_offsets, col_offsets=last.col_offsets)


def _strip(step):
    """A history step without its arrays (keep_factors=False)."""
    return replace(step, X=None, Y=None, row_offsets=None, col_offsets=None)
