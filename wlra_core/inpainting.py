"""Image inpainting by weighted low-rank approximation of a lifted image.

    held ← a seeded fraction `holdout` of the known pixels (weight > 0), set to weight 0
    M, W ← lift(image, weights − held)             (lifting.py: pixels or overlapping patches)
    for each alternating step (X, Ỹ) of wc.iterate(M, W, k):
        Î ← average(X Ỹᵀ); image ← weights·image + (1 − weights)·Î    (known pixels kept)
        holdout_rmse ← √(Σ_held w (image − Î)² / Σ_held w)
        yield InpaintStep(image, holdout_rmse, is_best = holdout_rmse < (1 + STEP_TIE)·lowest so far)
    stop after `patience` steps without a held-out gain of PROGRESS (0.1 %), or by wc.iterate's rule

The held-out pixels are chosen per pixel, not per matrix entry: a pixel sits in up to
(patch/stride)² rows of the patch matrix, so an entry held out of one row would still be fitted
through the others and its error would say nothing about unseen pixels.

lift="groups" (the default; non-local, blockmatch.py): rounds of block matching on the current
estimate (the smooth guess at first), one rank-k WLRA per group of similar windows (all groups at
once by the batched exact solver), the groups' estimates averaged back; one step per round, the
estimate of round t the guide of round t + 1. A round within GROUP_TIE (1 %) of the lowest
held-out error so far still counts as the best: the rounds do not overfit, and inside large holes
they keep improving while the held-out error, measured elsewhere, stays flat.

Defaults (DEFAULTS; benchmarks/inpainting.py, results in benchmarks/results/inpainting*.md; camera,
50 % dropout, one default changed at a time unless said). groups: 8×8 windows, a reference every
6 px, 40 windows per group within ±12 px, rank 6, one alternating iteration per group and round,
4 rounds: 30.1 dB at 256 px and 29.6 dB at 512 px (biharmonic 27.66 / 28.44); a fifth round:
+0.03 dB (dropout) to +0.18 dB (text mask, 256 px) for 1.25× the time; two iterations per group
and round: +0.07 dB at 256 px (6 rounds) for 1.5× the time; rank 8 (one iteration) against rank 6
(two), equal group weights: +0.1 dB at 256 px, −0.1 dB at 512 px; a reference every 4 px: +0.07 dB
at 512 px for 2× the time; 60 windows per group or ±16 px: +0.03 dB at 512 px; the groups' means
removed before the fit: +0.01 dB; groups weighted equally in the average: −0.24 dB at 256 px. patches: 8×8, stride 2, k = 12, no ridge:
26.8 dB at 256 px, 27.9 dB at 512 px (k 16: 26.9 / 27.7 and 4× slower at 512; k 20: 24.2 / 25.2,
overfitted; 6×6 windows: 20.7 / 21.4; stride 1: +0.3 dB for 4–10× the time; ridge 0.3: −0.6 /
−0.8 dB); holdout 5 % (2 %: the same picture, 10 %: −0.2 dB); prior 0.05 (none: 26.8 dB; on the
text mask 11.6 dB against 20.2); colour windows as rows (+0.6 dB chelsea, +1.0 dB astronaut).
Pixels: k = 40 with ridge 1 (24.0 dB at 512 px against 23.3 without ridge).
Headline: ``wc.inpaint(image, weights)`` on camera at 256 px with 50 % dropout gives 30.09 dB on
the hidden pixels, best at round 4 after 1.6 s under load 2.5–3 (biharmonic: 27.66 dB); 29.64 dB at
512 px (28.44); text mask 21.35 / 19.67 dB (20.44 / 19.26; benchmarks/results/inpainting.md).
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
           "smooth_fill", "lifted_problem", "group_stride", "group_rank_limit",
           "DEFAULTS"]

# k per lifting, and the other defaults of inpaint(); chosen by benchmarks/inpainting.py
DEFAULTS = MappingProxyType({
    "k": MappingProxyType({"pixels": 40, "patches": 12, "groups": 6}),
    "ridge": MappingProxyType({"pixels": 1.0, "patches": 0.0, "groups": 0.0}),
    "holdout": 0.05,
    "prior": MappingProxyType({"pixels": 0.0, "patches": 0.05, "groups": 0.05}),
    "patience": 4,
    "max_iter": 30,
    "rounds": 4,
    "step": 6,
    "group_size": 40,
    "window": 12,
    "group_iter": 1,
})
PROGRESS = 1e-3   # relative held-out gain that counts as progress for `patience`
# A step within STEP_TIE (alternating steps) or GROUP_TIE (rounds of lift="groups") of the lowest
# held-out error so far still counts as the best: the held-out pixels lie among the known ones, so
# inside large holes later steps keep improving while that error stays flat; rounds do not overfit
# as alternating steps can, hence the wider tie.
STEP_TIE = 0.0025
GROUP_TIE = 0.01


@dataclass(frozen=True)
class InpaintStep:
    """One step of an inpainting run: the inpainted image after it, and how good it looks on the
    held-out pixels."""

    iteration: int
    image: np.ndarray | None        # inpainted, known pixels kept; None in a result's history except best and last
    holdout_rmse: float | None      # on the held-out pixels; None when holdout = 0
    is_best: bool                   # held-out error within STEP_TIE / GROUP_TIE of the lowest so far
                                    # (holdout = 0: the lowest objective so far)
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


def inpaint(image, weights, k=None, *, lift="groups", solver="auto", **options) -> InpaintResult:
    """Inpaint ``image`` where ``weights`` is below 1, by WLRA of a lifted image.

    Parameters
    ----------
    image : (h, w) grey or (h, w, 3) colour, floats in [0, 1]; values at weight-0 pixels are never read.
    weights : (h, w) in [0, 1]: 1 = known (kept as is in the output), 0 = missing; graded weights
        blend the input and the estimate.
    k : the rank; default DEFAULTS["k"][lift] (capped by the matrix's smaller side). With
        lift="groups" the rank of each group's WLRA.
    lift : "groups" (default: block-matched groups of windows, one WLRA each, in rounds;
        blockmatch.py), "patches" (the matrix of all overlapping patch × patch windows), "pixels"
        (the image matrix, [R | G | B]); lifting.py.
    solver : any of wc.SOLVERS; passed to wc.iterate. lift="groups" runs the batched exact solver:
        "auto" or "exact" only.
    patch, stride, colour : the patch lifting (lifting.PATCH, STRIDE, COLOUR); refused with "pixels".
        With "groups": the window side, the step between reference windows (default
        DEFAULTS["step"]), and "rows" only (a group's colour channels are rows of its matrix).
    ridge, eps, max_iter, init, seed : as wc.solve (seed also draws the holdout). With "groups":
        max_iter is the number of rounds at most (default DEFAULTS["rounds"]), eps stops the rounds
        when the summed group objective changes by less than eps relative, ridge must be 0 and
        init "svd" (each group starts near its top singular vectors, by two power steps).
    holdout : fraction in [0, 1) of the known pixels held out to pick the best step (default 0.05).
    prior : weight in [0, 1] of a smooth guess (smooth_fill) at the pixels that are not fully known
        (default 0.05 for patches and groups, where the guess is the last round's estimate and
        must be > 0; 0, none, for pixels: the paper's problem, whose rows
        are rarely all hidden). Without it a window inside a hole wider than the patch has no
        weighted entry and comes back black (camera 256 px, text mask: 11.6 dB, with it 20.2 dB).
    patience : stop after this many steps without a gain of PROGRESS (0.1 %) in the held-out error
        (default 4; needs holdout > 0); the best step is the last within STEP_TIE (groups:
        GROUP_TIE) of the lowest error of all steps run. None runs until wc.iterate's stopping rule or max_iter.
    group_size, window, group_iter : lift="groups" only: windows per group, the search radius of
        block matching in pixels, and alternating iterations per group and round.

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


def inpaint_steps(image, weights, k=None, *, lift="groups", solver="auto", **options) -> Iterator[InpaintStep]:
    """The steps of :func:`inpaint` lazily, each with its inpainted image (for live views).
    Every option is validated at the call, before any work; same keywords as :func:`inpaint`."""
    return _start(image, weights, k, lift, solver, options)[2]


_GROUP_ONLY = ("group_size", "window", "group_iter")
_ITERATE_ONLY = ("ridge", "init")


def _check_options(img, lift, k, solver, options):
    allowed = {"patch", "stride", "colour", "prior", "ridge", "eps", "max_iter", "init", "seed", "holdout", "patience",
               *_GROUP_ONLY}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise InputError(f"{unknown[0]}: not an option of inpaint; need one of {', '.join(sorted(allowed))}")
    check_choice("lift", lift, _lifting.LIFTS)
    check_choice("solver", solver, SOLVERS)
    grouped = lift == "groups"
    for name in _GROUP_ONLY:
        if not grouped and options.get(name) is not None:
            raise InputError(f"{name}: found {options[name]!r} with lift={lift!r}; it applies to lift='groups' only")
    if grouped:
        # the groups' fits are the batched exact solver (blockmatch.batched_wlra), without a ridge
        if solver not in ("auto", "exact"):
            raise InputError(f"solver: found {solver!r} with lift='groups', whose thousands of small group fits "
                             "run the batched exact solver; need 'auto' or 'exact'")
        if options.get("ridge") not in (None, 0, 0.0):
            raise InputError(f"ridge: found {options['ridge']!r} with lift='groups'; the group fits have no ridge, "
                             "need 0 (or leave it out)")
        if options.get("init") not in (None, "svd"):
            raise InputError(f"init: found {options['init']!r} with lift='groups'; each group starts near its top "
                             "singular vectors, need 'svd' (or leave it out)")
        if options.get("colour") not in (None, "rows"):
            raise InputError(f"colour: found {options['colour']!r} with lift='groups', whose groups hold each "
                             "colour channel's windows as rows; need 'rows' (or leave it out)")
    geometry = {name: options.get(name) for name in ("patch", "stride", "colour")}
    if grouped and geometry["stride"] is None:
        geometry["stride"] = group_stride(img.shape, geometry["patch"])
    lf = _lifting.lifting(img.shape, "pixels" if lift == "pixels" else "patches", **geometry)
    n, m = lf.matrix_shape
    kmax = min(n, m)
    if grouped:
        group_size = check_int("group_size", options.get("group_size", DEFAULTS["group_size"]), low=1,
                               what=" (windows per group)")
        longest = max(img.shape[:2])
        window = (check_int("window", options["window"], low=0, high=longest,
                            what=" (the search radius of block matching, in pixels, at most the image's longer "
                                 "side)") if "window" in options else min(DEFAULTS["window"], longest))
        span = _blockmatch().candidates(img.shape, lf.patch, window)
        if group_size > span:
            raise InputError(f"group_size: found {group_size}, more than the {span} windows a corner window has "
                             f"within ±{window} px; need fewer, or a larger window")
        kmax = group_rank_limit(lf, group_size)
    if k is None:
        k = min(DEFAULTS["k"][lift], kmax)
    bound = (f"a group's matrix of {lf.patch}×{lf.patch} pixels by {group_size} windows allows {kmax}" if grouped
             else f"the lifted matrix's smaller side is {kmax}")
    k = check_int("k", k, low=1, high=kmax, what=f" (the rank; {bound})")
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
    prior = check_float("prior", options.get("prior", DEFAULTS["prior"][lift]), low=0.0, high=1.0,
                        what=" (the weight of the smooth guess at unknown pixels; 0 for none)")
    if grouped and prior <= 0:
        raise InputError("prior: found 0 with lift='groups'; every group fit needs a weight on each of its "
                         "pixels (the guide's, at the unknown ones), need prior > 0")
    max_iter = options.get("max_iter", DEFAULTS["max_iter"] if not grouped else DEFAULTS["rounds"])
    settings = dict(lift=lift, k=k, solver=solver, patch=lf.patch if lf.kind == "patches" else None,
                    stride=lf.stride if lf.kind == "patches" else None,
                    colour=lf.colour if lf.kind == "patches" else None,
                    ridge=options.get("ridge", DEFAULTS["ridge"][lift]), eps=options.get("eps", 1e-6),
                    max_iter=max_iter, init=options.get("init", "svd"),
                    seed=seed, holdout=holdout, patience=patience, prior=prior)
    if grouped:
        settings.update(max_iter=check_int("max_iter", max_iter, low=1, what=" (rounds at most)"),
                        eps=check_float("eps", settings["eps"], low=0.0, high=1.0, low_open=True, high_open=True,
                                        what=" (the objective's relative change below which the rounds stop; "
                                             "open interval (0, 1))"),
                        group_size=group_size, window=window,
                        group_iter=check_int("group_iter", options.get("group_iter", DEFAULTS["group_iter"]),
                                             low=1, what=" (alternating iterations per group and round)"))
    return lf, settings


def group_stride(shape, patch=None) -> int:
    """The default step between reference windows of lift="groups" for an image of `shape`."""
    return min(DEFAULTS["step"], patch or _lifting.PATCH, *shape[:2])


def group_rank_limit(lf: _lifting.Lifting, group_size=None) -> int:
    """The largest rank of one group's matrix: its windows (channels each) by a window's pixels."""
    return min(lf.patch ** 2, (group_size or DEFAULTS["group_size"]) * lf.channels)


def _blockmatch():
    """The grouped model's module, imported when a group run needs it: it compiles numba kernels,
    and `import wlra_core` stays light."""
    from . import blockmatch
    return blockmatch


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
    """Blends an estimate with the known pixels and measures it on the held-out ones. A step is
    the best so far when its held-out error is below (1 + tie) × the lowest so far (tie = 0: a
    new lowest), or, without held-out pixels, when its objective is a new lowest."""

    def __init__(self, img, wts, held, tie=0.0):
        self.img, self.wts, self.held, self.tie = img, wts, held, tie
        self.best = math.inf

    def __call__(self, estimate, objective):
        image = fill_in(self.img, self.wts, estimate)
        rmse = holdout_rmse(self.img, estimate, self.wts, self.held)
        score = objective if rmse is None else rmse
        is_best = score < self.best * (1.0 + (self.tie if rmse is not None else 0.0))
        self.best = min(self.best, score)
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
    if lift == "groups":
        return lf, settings, _group_steps(img, wts, fit_w, held, settings)
    M, W = lifted_problem(img, fit_w, lf, settings["prior"])
    # wc.iterate validates its options at the call, so bad input fails here, not at the first step
    steps = iterate(M, W, settings["k"], solver=solver, eps=settings["eps"], max_iter=settings["max_iter"],
                    init=settings["init"], ridge=settings["ridge"], seed=settings["seed"])
    return lf, settings, _run(img, wts, held, lf, M, W, steps, settings)


class _Patience:
    """Counts steps without a held-out gain of at least PROGRESS: slow creeping (about 1e-4 per
    step with the prior) ran to max_iter for the last hundredth of a dB."""

    def __init__(self, patience):
        self.patience, self.since, self.mark = patience, 0, math.inf

    def stalled(self, rmse, is_best) -> bool:
        if rmse is not None and rmse < self.mark * (1.0 - PROGRESS):
            self.since, self.mark = 0, rmse
        elif rmse is None:
            self.since = 0 if is_best else self.since + 1
        else:
            self.since += 1
        return self.patience is not None and self.since >= self.patience


def _run(img, wts, held, lf, M, W, steps, settings):
    score = _Scorer(img, wts, held, tie=STEP_TIE)
    stage = "pixels" if lf.kind == "pixels" else "patches"
    patience = _Patience(settings["patience"])
    t_start = time.perf_counter()
    for st in steps:
        image, rmse, is_best = score(lf.average(st.low_rank()), st.objective)
        stalled = patience.stalled(rmse, is_best)
        reason = st.stop_reason
        if reason is None and stalled:
            reason = "holdout stalled"
        yield InpaintStep(iteration=st.iteration, image=image, holdout_rmse=rmse, is_best=is_best,
                          objective=st.objective, seconds=st.seconds, elapsed=time.perf_counter() - t_start,
                          stage=stage, step=st, stop_reason=reason)
        if reason is not None:
            break


def _group_steps(img, wts, fit_w, held, settings):
    """lift="groups": the rounds of the non-local model (blockmatch.py), one step each. The guide
    of round 1 is the smooth guess; of round t + 1, round t's estimate at the pixels not fitted
    (the held-out pixels too, so their error stays a fair test)."""
    score = _Scorer(img, wts, held, tie=GROUP_TIE)
    patience = _Patience(settings["patience"])
    t_start = time.perf_counter()
    guide = smooth_fill(img, fit_w)
    previous = None
    for t in range(1, settings["max_iter"] + 1):
        t0 = time.perf_counter()
        estimate, objective = _blockmatch().group_round(
            guide, img, fit_w, settings["prior"], settings["k"], patch=settings["patch"], step=settings["stride"],
            window=settings["window"], count=settings["group_size"], iterations=settings["group_iter"])
        image, rmse, is_best = score(estimate, objective)
        stalled = patience.stalled(rmse, is_best)
        reason = None
        if previous is not None and abs(previous - objective) <= settings["eps"] * previous:
            reason = "stalled"
        elif stalled:
            reason = "holdout stalled"
        elif t == settings["max_iter"]:
            reason = "max_iter reached"
        now = time.perf_counter()
        yield InpaintStep(iteration=t, image=image, holdout_rmse=rmse, is_best=is_best, objective=objective,
                          seconds=now - t0, elapsed=now - t_start, stage="groups", stop_reason=reason)
        if reason is not None:
            return
        guide, previous = fill_in(img, fit_w, estimate), objective
