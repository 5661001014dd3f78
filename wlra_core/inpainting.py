"""Image inpainting by weighted low-rank approximation of a lifted image.

    held ← a seeded fraction `holdout` of the known pixels (weight > 0), set to weight 0
    M, W ← lift(image, weights − held)             (lifting.py: pixels or overlapping patches)
    for each alternating step (X, Ỹ) of wc.iterate(M, W, k):
        Î ← average(X Ỹᵀ); image ← weights·image + (1 − weights)·Î    (known pixels kept)
        holdout_rmse ← √(Σ_held w (image − Î)² / Σ_held w)
        yield InpaintStep(image, holdout_rmse, is_best = lowest holdout_rmse so far)
    stop after `patience` steps without a held-out gain of PROGRESS (0.1 %), or by wc.iterate's rule

The held-out pixels are chosen per pixel, not per matrix entry: a pixel sits in up to
(patch/stride)² rows of the patch matrix, so an entry held out of one row would still be fitted
through the others and its error would say nothing about unseen pixels.

lift="groups" (non-local): after the patch run, `rounds` rounds of: k-means of the current
estimate's patches (their means removed) into `groups` clusters, one rank-k WLRA per cluster on
the observed patch matrix's rows, the estimates averaged back; one step per round.

Defaults (DEFAULTS; benchmarks/inpainting.py, results in benchmarks/results/inpainting*.md; camera,
50 % dropout, one default changed at a time): patches 8×8, stride 2, k = 12, no ridge: 26.8 dB at
256 px, 27.9 dB at 512 px (k 16: 26.9 / 27.7 and 4× slower at 512; k 20: 24.2 / 25.2, overfitted;
6×6 windows: 20.7 / 21.4; stride 1: +0.3 dB for 4–10× the time; ridge 0.3: −0.6 / −0.8 dB);
holdout 5 % (2 %: the same picture, 10 %: −0.2 dB); prior 0.05 (none: 26.8 dB; on the text mask
11.6 dB against 20.2); colour windows as rows (+0.6 dB chelsea, +1.0 dB astronaut). Pixels: k = 40
with ridge 1 (24.0 dB at 512 px against 23.3 without ridge). groups: 24 clusters of rank 6, 2 rounds.
Headline: ``wc.inpaint(image, weights)`` on camera at 256 px with 50 % dropout gives 26.94 dB on
the hidden pixels, best step 6 (biharmonic: 27.66 dB; benchmarks/results/inpainting.md).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Iterator

import numpy as np

from . import holdout as _holdout
from . import lifting as _lifting
from .alternating import SOLVERS, Step, iterate
from .problem import InputError, check_choice, check_float, check_int

__all__ = ["InpaintStep", "InpaintResult", "inpaint", "inpaint_steps", "held_out", "fill_in", "holdout_rmse",
           "smooth_fill", "lifted_problem",
           "DEFAULTS"]

# k per lifting, and the other defaults of inpaint(); chosen by benchmarks/inpainting.py
DEFAULTS = MappingProxyType({
    "k": MappingProxyType({"pixels": 40, "patches": 12, "groups": 6}),
    "ridge": MappingProxyType({"pixels": 1.0, "patches": 0.0, "groups": 0.0}),
    "holdout": 0.05,
    "prior": MappingProxyType({"pixels": 0.0, "patches": 0.05, "groups": 0.05}),
    "patience": 4,
    "max_iter": 30,
    "groups": 24,
    "rounds": 2,
    "group_iter": 8,
})
PROGRESS = 1e-3   # relative held-out gain that counts as progress for `patience`
_GROUPS_STREAM = 0x47525053   # spawn key: the k-means draws are independent of the solver's


@dataclass(frozen=True)
class InpaintStep:
    """One step of an inpainting run: the inpainted image after it, and how good it looks on the
    held-out pixels."""

    iteration: int
    image: np.ndarray | None        # inpainted, known pixels kept; None in a result's history except best and last
    holdout_rmse: float | None      # on the held-out pixels; None when holdout = 0
    is_best: bool                   # lowest holdout_rmse so far (holdout = 0: lowest objective so far)
    objective: float                # the lifted problem's objective (the sum over groups in a group round)
    seconds: float
    elapsed: float
    stage: str                      # "patches", "pixels" or "groups"
    step: Step | None = field(default=None, repr=False)   # the alternating step (None for a group round)
    stop_reason: str | None = None  # set on the last step only


@dataclass(frozen=True)
class InpaintResult:
    image: np.ndarray               # the inpainted image at the best step
    final_image: np.ndarray         # ... at the last step
    best: InpaintStep
    history: list
    lifting: _lifting.Lifting
    settings: MappingProxyType = field(repr=False)

    @property
    def stop_reason(self) -> str:
        return self.history[-1].stop_reason


def inpaint(image, weights, k=None, *, lift="patches", solver="auto", **options) -> InpaintResult:
    """Inpaint ``image`` where ``weights`` is below 1, by WLRA of a lifted image.

    Parameters
    ----------
    image : (h, w) grey or (h, w, 3) colour, floats in [0, 1]; values at weight-0 pixels are never read.
    weights : (h, w) in [0, 1]: 1 = known (kept as is in the output), 0 = missing; graded weights
        blend the input and the estimate.
    k : the rank; default DEFAULTS["k"][lift] (capped by the matrix's smaller side). With
        lift="groups" the rank of each cluster's WLRA (the patch stage before uses the patches' k).
    lift : "patches" (overlapping patch × patch windows), "pixels" (the image matrix, [R | G | B]),
        "groups" (patches, then clustered non-local rounds); lifting.py.
    solver : any of wc.SOLVERS; passed to wc.iterate.
    patch, stride, colour : the patch lifting (lifting.PATCH, STRIDE, COLOUR); refused with "pixels".
    ridge, eps, max_iter, init, seed : as wc.solve (seed also draws the holdout and the k-means starts).
    holdout : fraction in [0, 1) of the known pixels held out to pick the best step (default 0.05).
    prior : weight in [0, 1] of a smooth guess (smooth_fill) at the pixels that are not fully known
        (default 0.05 for patches and groups; 0, none, for pixels: the paper's problem, whose rows
        are rarely all hidden). Without it a window inside a hole wider than the patch has no
        weighted entry and comes back black (camera 256 px, text mask: 11.6 dB, with it 20.2 dB).
    patience : stop after this many steps without a gain of PROGRESS (0.1 %) in the held-out error
        (default 4; needs holdout > 0); the best step is still the lowest error of all steps run. None runs until wc.iterate's stopping rule or max_iter.
    groups, rounds, group_iter : lift="groups" only: clusters, rounds and alternating iterations
        per cluster WLRA.

    Returns an InpaintResult: ``.image`` at the best step, ``.final_image``, ``.best``, ``.history``
    (InpaintSteps; their images are kept on the best and the last step only).
    """
    lf, settings, steps = _start(image, weights, k, lift, solver, options)
    history: list[InpaintStep] = []
    best = None
    for step in steps:
        if history and history[-1] is not best:
            history[-1] = replace(history[-1], image=None)
        if step.is_best:
            best = step
        history.append(step)
    last = history[-1]
    return InpaintResult(image=best.image, final_image=last.image, best=best, history=history,
                         lifting=lf, settings=MappingProxyType(settings))


def inpaint_steps(image, weights, k=None, *, lift="patches", solver="auto", **options) -> Iterator[InpaintStep]:
    """The steps of :func:`inpaint` lazily, each with its inpainted image (for live views).
    Every option is validated at the call, before any work; same keywords as :func:`inpaint`."""
    return _start(image, weights, k, lift, solver, options)[2]


def _check_options(img, lift, k, solver, options):
    allowed = {"patch", "stride", "colour", "prior", "ridge", "eps", "max_iter", "init", "seed", "holdout", "patience",
               "groups", "rounds", "group_iter"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise InputError(f"{unknown[0]}: not an option of inpaint; need one of {', '.join(sorted(allowed))}")
    check_choice("lift", lift, _lifting.LIFTS)
    check_choice("solver", solver, SOLVERS)
    for name in ("groups", "rounds", "group_iter"):
        if lift != "groups" and options.get(name) is not None:
            raise InputError(f"{name}: found {options[name]!r} with lift={lift!r}; it applies to lift='groups' only")
    geometry = {name: options.get(name) for name in ("patch", "stride", "colour")}
    lf = _lifting.lifting(img.shape, "pixels" if lift == "pixels" else "patches", **geometry)
    n, m = lf.matrix_shape
    kmax = min(n, m)
    if k is None:
        k = min(DEFAULTS["k"][lift], kmax)
    k = check_int("k", k, low=1, high=kmax, what=f" (the rank, at most the lifted matrix's smaller side {kmax})")
    holdout = check_float("holdout", options.get("holdout", DEFAULTS["holdout"]), low=0.0, high=1.0,
                          high_open=True, what=" (the fraction of known pixels held out)")
    patience = options.get("patience", "default")
    if patience == "default":
        patience = DEFAULTS["patience"] if holdout > 0 else None
    elif patience is not None:
        patience = check_int("patience", patience, low=1, what=" (steps without a new best before stopping)")
        if holdout == 0:
            raise InputError(f"patience: found {patience} with holdout=0; stopping on the held-out pixels "
                             "needs holdout > 0 (or patience=None)")
    seed = options.get("seed", 0)
    seed = check_int("seed", seed, low=0)
    settings = dict(lift=lift, k=k, solver=solver, patch=lf.patch if lf.kind == "patches" else None,
                    stride=lf.stride if lf.kind == "patches" else None,
                    colour=lf.colour if lf.kind == "patches" else None,
                    ridge=options.get("ridge", DEFAULTS["ridge"][lift]), eps=options.get("eps", 1e-6),
                    max_iter=options.get("max_iter", DEFAULTS["max_iter"]), init=options.get("init", "svd"),
                    seed=seed, holdout=holdout, patience=patience,
                    prior=check_float("prior", options.get("prior", DEFAULTS["prior"][lift]), low=0.0, high=1.0,
                                      what=" (the weight of the smooth guess at unknown pixels; 0 for none)"))
    if lift == "groups":
        settings.update(k_patches=min(DEFAULTS["k"]["patches"], kmax),
                        groups=check_int("groups", options.get("groups") or DEFAULTS["groups"], low=1),
                        rounds=check_int("rounds", options.get("rounds") or DEFAULTS["rounds"], low=1),
                        group_iter=check_int("group_iter", options.get("group_iter") or DEFAULTS["group_iter"],
                                             low=1))
    return lf, settings


def held_out(weights, fraction: float, seed: int = 0) -> np.ndarray:
    """Boolean (h, w): a seeded ``fraction`` of the pixels with weight > 0 (the pixels inpaint
    holds out of the fit to pick its best step). Drawn from a stream of its own, so the same seed
    in a mask or a solver does not draw the same uniforms."""
    wts = np.asarray(weights, dtype=np.float64)
    fraction = check_float("holdout", fraction, low=0.0, high=1.0, high_open=True)
    held = np.zeros(wts.shape, dtype=bool)
    if fraction <= 0:
        return held
    known = np.flatnonzero(wts > 0)
    rng = _holdout.holdout_rng(check_int("seed", seed, low=0))   # the stream solve's holdout draws from
    held.flat[rng.choice(known, size=int(round(fraction * known.size)), replace=False)] = True
    return held


def fill_in(image, weights, estimate) -> np.ndarray:
    """The inpainted image: weights·image + (1 − weights)·estimate (weight 1 keeps the pixel)."""
    img, wts = np.asarray(image, dtype=np.float64), np.asarray(weights, dtype=np.float64)
    blend = wts if img.ndim == 2 else wts[:, :, None]
    return blend * img + (1.0 - blend) * np.asarray(estimate, dtype=np.float64)


def holdout_rmse(image, estimate, weights, held) -> float | None:
    """√(Σ_held w (image − estimate)² / Σ_held w) over every channel of the held-out pixels; None
    when no held-out pixel has weight."""
    img, est = np.asarray(image, dtype=np.float64), np.asarray(estimate, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)[held]
    total = float(w.sum()) * (1 if img.ndim == 2 else 3)
    if total <= 0:
        return None
    err = img[held] - est[held]
    w = w if img.ndim == 2 else w[:, None]
    return math.sqrt(float(np.sum(w * err * err)) / total)


class _Scorer:
    """Blends an estimate with the known pixels and measures it on the held-out ones."""

    def __init__(self, img, wts, held):
        self.img, self.wts, self.held = img, wts, held
        self.best = math.inf

    def __call__(self, estimate, objective):
        image = fill_in(self.img, self.wts, estimate)
        rmse = holdout_rmse(self.img, estimate, self.wts, self.held)
        score = objective if rmse is None else rmse
        is_best = score < self.best
        if is_best:
            self.best = score
        return image, rmse, is_best


def smooth_fill(image, weights) -> np.ndarray:
    """Every pixel's weighted Gaussian average of the weighted pixels around it (normalised
    convolution), at the smallest width σ = 1, 2, 4, … that reaches a weighted pixel: a smooth
    guess of the hidden pixels, exact nowhere, defined everywhere (even far inside a large hole)."""
    from scipy.ndimage import gaussian_filter

    img, w = np.asarray(image, dtype=np.float64), np.asarray(weights, dtype=np.float64)
    planes = img if img.ndim == 3 else img[:, :, None]
    out = np.zeros_like(planes)
    todo = np.ones(w.shape, dtype=bool)
    sigma = 1.0
    while todo.any():
        den = gaussian_filter(w, sigma, mode="nearest")
        reached = todo & (den > 1e-3)
        if reached.any() or sigma > 2 * max(w.shape):
            for c in range(planes.shape[2]):
                num = gaussian_filter(w * planes[:, :, c], sigma, mode="nearest")
                out[:, :, c][reached] = num[reached] / den[reached]
            todo &= ~reached
        if sigma > 2 * max(w.shape):
            break
        sigma *= 2.0
    return out if img.ndim == 3 else out[:, :, 0]


def lifted_problem(image, fit_weights, lifting: _lifting.Lifting, prior: float = 0.0):
    """(M, W): the lifted matrix and weights inpaint fits, from the weights of the fit (held-out
    pixels already at 0). With ``prior`` > 0 every pixel not fully known also carries the smooth
    guess (smooth_fill, from the fitted pixels only) at weight prior·(1 − weight); either way no
    value of a pixel with fit weight 0 reaches M."""
    img, w = np.asarray(image, dtype=np.float64), np.asarray(fit_weights, dtype=np.float64)
    prior = check_float("prior", prior, low=0.0, high=1.0)
    blend = (lambda a: a) if img.ndim == 2 else (lambda a: a[:, :, None])
    known = np.where(blend(w > 0), img, 0.0)
    if prior > 0:
        extra = prior * (1.0 - w)
        pixel_w = w + extra
        values = (blend(w) * known + blend(extra) * smooth_fill(img, w)) / blend(pixel_w)
    else:
        pixel_w, values = w, known
    W = lifting.lift_weights(pixel_w)
    return np.where(W > 0, lifting.lift(values), 0.0), W


def _start(image, weights, k, lift, solver, options):
    """Validate everything, build the lifted problem; (lifting, settings, the steps' generator)."""
    img, wts = _lifting.check_image(image, weights)
    lf, settings = _check_options(img, lift, k, solver, options)
    held = held_out(wts, settings["holdout"], settings["seed"])
    fit_w = np.where(held, 0.0, wts)
    if not np.any(fit_w > 0):
        raise InputError("weights: found no pixel with positive weight outside the held-out ones; need "
                         "some known pixels")
    M, W = lifted_problem(img, fit_w, lf, settings["prior"])
    k_first = settings["k_patches"] if lift == "groups" else settings["k"]
    # wc.iterate validates its options at the call, so bad input fails here, not at the first step
    steps = iterate(M, W, k_first, solver=solver, eps=settings["eps"], max_iter=settings["max_iter"],
                    init=settings["init"], ridge=settings["ridge"], seed=settings["seed"])
    return lf, settings, _run(img, wts, held, lf, M, W, steps, settings)


def _run(img, wts, held, lf, M, W, steps, settings):
    score = _Scorer(img, wts, held)
    grouped = settings["lift"] == "groups"
    stage = "pixels" if lf.kind == "pixels" else "patches"
    patience, since_best, mark = settings["patience"], 0, math.inf
    t_start = time.perf_counter()
    best_lifted = None
    for st in steps:
        lifted = st.low_rank()
        image, rmse, is_best = score(lf.average(lifted), st.objective)
        # patience counts steps without a gain of at least PROGRESS: slow creeping (about 1e-4 per
        # step with the prior) ran to max_iter for the last hundredth of a dB
        if rmse is not None and rmse < mark * (1.0 - PROGRESS):
            since_best, mark = 0, rmse
        elif rmse is None:
            since_best = 0 if is_best else since_best + 1
        else:
            since_best += 1
        if is_best:
            best_lifted = lifted
        reason = st.stop_reason
        if reason is None and patience is not None and since_best >= patience:
            reason = "holdout stalled"
        yield InpaintStep(iteration=st.iteration, image=image, holdout_rmse=rmse, is_best=is_best,
                          objective=st.objective, seconds=st.seconds, elapsed=time.perf_counter() - t_start,
                          stage=stage, step=st, stop_reason=None if grouped else reason)
        if reason is not None:
            break
    if grouped:
        yield from _group_rounds(lf, M, W, best_lifted, st.iteration, score, settings, t_start)


def _kmeans(X: np.ndarray, count: int, rng: np.random.Generator, iterations: int = 10) -> np.ndarray:
    """Cluster labels of the rows of X (Lloyd's iterations from `count` distinct seeded rows)."""
    count = min(count, len(X))
    centres = X[rng.choice(len(X), size=count, replace=False)].copy()
    sq = np.einsum("ij,ij->i", X, X)
    labels = np.zeros(len(X), dtype=np.intp)
    for _ in range(iterations):
        d = sq[:, None] - 2.0 * X @ centres.T + np.einsum("ij,ij->i", centres, centres)[None, :]
        labels = d.argmin(axis=1)
        counts = np.bincount(labels, minlength=count)
        sums = np.zeros_like(centres)
        np.add.at(sums, labels, X)
        centres = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], centres)
    return labels


def _group_rounds(lf, M, W, lifted, iteration, score, settings, t_start):
    """The non-local rounds of lift="groups", from the patch stage's best estimate."""
    rng = np.random.default_rng(np.random.SeedSequence(settings["seed"], spawn_key=(_GROUPS_STREAM,)))
    rounds = settings["rounds"]
    for r in range(1, rounds + 1):
        t0 = time.perf_counter()
        features = lf.lift(lf.average(lifted))
        features = features - features.mean(axis=1, keepdims=True)   # cluster by shape, not brightness
        labels = _kmeans(features, settings["groups"], rng)
        estimate = lifted.copy()     # a cluster with no weighted entry keeps the previous estimate
        objective = 0.0
        for g in np.unique(labels):
            rows = np.flatnonzero(labels == g)
            Mg, Wg = M[rows], W[rows]
            if not np.any(Wg > 0):
                continue
            kg = min(settings["k"], len(rows), M.shape[1])
            for last in iterate(Mg, Wg, kg, solver=settings["solver"], eps=settings["eps"],
                                max_iter=settings["group_iter"], init=settings["init"], ridge=settings["ridge"],
                                seed=settings["seed"]):
                pass
            estimate[rows] = last.low_rank()
            objective += last.objective      # the clusters partition the rows: the sum is the whole objective
        lifted = estimate
        image, rmse, is_best = score(lf.average(lifted), objective)
        iteration += 1
        yield InpaintStep(iteration=iteration, image=image, holdout_rmse=rmse, is_best=is_best, objective=objective,
                          seconds=time.perf_counter() - t0, elapsed=time.perf_counter() - t_start, stage="groups",
                          stop_reason="rounds done" if r == rounds else None)
