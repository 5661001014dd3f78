"""The inpainting page's problem: the WLRA problem of an image and its mask, and its metrics.

An image becomes a matrix by a lifting (wlra_core.lifting): its overlapping patches (the default)
or the pixel matrix M = [R | G | B]; its mask becomes W in the same layout. Pixels with weight 0
are zeroed in M, so a hidden pixel's value never reaches a solver, and a seeded 5 % of the known
pixels are held out of W (wlra_core.inpainting.held_out): their error picks the best iteration,
the picture shown by default. PSNR is measured against the original image on the hidden pixels
(weight < 0.5) and on all pixels.

"groups" is wlra_core.inpaint's own model (blockmatch.py): rounds of block matching and one small
exact WLRA per group of similar windows, one run named "groups" whose steps are the rounds of
wlra_core.inpaint_steps, each kept as its image (there is no global X, Y).
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

import wlra_core as wc
from ui import images, mask
from ui.controls import SolverSettings

LIFTS = ("patches", "pixels", "groups")   # the page's choices of matrix (wlra_core.lifting, blockmatch)
GROUPS = "groups"   # the one run of lift="groups": it has no solver choice
# The group fits are the batched exact solver with no ridge, started from the SVD, and have no clip
# (wlra_core.inpainting._check_options): these settings do not apply and are refused, not ignored.
GROUP_REFUSED = {"ridge": 0.0, "init": "svd", "clip": False, "seed": 0}
PATCH_SIZES = [4, 6, 8, 10, 12, 16]
HOLDOUT = wc.inpainting.DEFAULTS["holdout"]
SHOW = ("best", "inpainted", "raw")   # what the pictures show (image_items)


@dataclass(frozen=True)
class Problem:
    image: np.ndarray      # the truth, (h, w) grey or (h, w, 3) colour, in [0, 1]
    weights: np.ndarray    # (h, w) in [0, 1]
    hidden: np.ndarray     # (h, w) bool: weight below mask.HIDDEN_BELOW
    M: np.ndarray          # lifting.lift(image), zero where the weight is 0
    W: np.ndarray          # lifting.lift_weights(weights without the held-out pixels)
    identity: str          # which image, at which resolution, under which mask and lifting
    original_uri: str      # the image and the masked input as data URIs, encoded once
    lifting: wc.lifting.Lifting | None = None   # None: the pixel matrix
    held: np.ndarray | None = None               # (h, w) bool: known pixels held out of W
    grouped: bool = False                        # lift="groups": M, W are the windows at the group step

    @property
    def group_rank_limit(self) -> int:
        """The largest rank of a group's matrix (windows × pixels per window)."""
        return wc.inpainting.group_rank_limit(self.lifting)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.image.shape

    def estimate(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """The image of the lifted estimate X Yᵀ, in [0, 1]."""
        return images.reconstruct(X, Y, self.shape, self.lifting)


def build_problem(image: np.ndarray, weights: np.ndarray, image_identity: str, lift: str = "patches",
                  patch: int | None = None, seed: int = 0) -> Problem:
    """The page's problem: ``lift`` "patches" (``patch`` × ``patch`` windows, stride 2), "pixels",
    or "groups" (its windows at the reference step, wlra_core.inpainting.DEFAULTS["step"]); a
    seeded HOLDOUT of the known pixels is held out of W (the same pixels inpaint_steps holds out)."""
    if min(image.shape[:2]) < 2:   # no window fits a one-pixel-wide image
        lift = "pixels"
    if lift != "pixels" and patch is not None:
        patch = min(patch, *image.shape[:2])   # a window never larger than a small image
    grouped = lift == GROUPS
    stride = wc.inpainting.group_stride(image.shape, patch) if grouped else None
    lifting = wc.lifting.lifting(image.shape, "patches" if grouped else lift,
                                 patch=patch if lift != "pixels" else None, stride=stride)
    held = wc.inpainting.held_out(weights, HOLDOUT, seed)
    # inpaint's smooth guess at unknown pixels for patches (a hole wider than a window is not left black)
    M, W = wc.inpainting.lifted_problem(image, np.where(held, 0.0, weights), lifting,
                                        prior=wc.inpainting.DEFAULTS["prior"][lifting.kind])
    digest = hashlib.md5(np.ascontiguousarray(weights, dtype=np.float64).tobytes()).hexdigest()[:12]
    geometry = f"{lift}:{lifting.patch}/{lifting.stride}" if lift != "pixels" else "pixels"
    return Problem(image=image, weights=weights, hidden=mask.hidden_pixels(weights), M=M, W=W,
                   identity=f"{image_identity}|{image.shape}|mask:{digest}|{geometry}|held:{seed}",
                   original_uri=images.data_uri(image), lifting=lifting, held=held, grouped=grouped)


def describe_matrix(problem: Problem) -> str:
    """What M is, for the page's caption."""
    n, m = problem.M.shape
    lf = problem.lifting
    if lf is None or lf.kind == "pixels":
        kind = "[R | G | B]" if problem.image.ndim == 3 else "the grey image"
        return f"M = {kind}, {n}×{m}"
    if problem.grouped:
        d = wc.inpainting.DEFAULTS
        return (f"groups of {d['group_size']} similar {lf.patch}×{lf.patch} windows (a reference every "
                f"{lf.stride} px, matched within ±{d['window']} px), one rank-k WLRA each, one round per step; "
                f"{100 * HOLDOUT:g} % of the known pixels held out to pick the best round")
    return (f"M has one row per {lf.patch}×{lf.patch} window (stride {lf.stride}): {n}×{m}; "
            f"{100 * HOLDOUT:g} % of the known pixels held out to pick the best iteration")


def signature(problem: Problem, settings: SolverSettings) -> tuple:
    return (problem.identity, settings.problem_signature())


def starter(problem: Problem, settings: SolverSettings) -> Callable[[str], Iterator]:
    """start(solver) → wlra_core.iterate over this problem; every solver gets the same init and seed."""
    M, W, k, kwargs = problem.M, problem.W, settings.k, settings.iterate_kwargs()

    def start(solver: str) -> Iterator:
        return wc.iterate(M, W, k, solver=solver, diagnostics=False, **kwargs)

    return start


def group_starter(problem: Problem, settings: SolverSettings) -> Callable[[str], Iterator]:
    """start("groups") → wlra_core.inpaint_steps(lift="groups"): settings.k is each group's rank,
    max_iter the rounds at most, eps the rounds' stopping rule; the held-out pixels are the page's."""
    refused = [f"{name} = {getattr(settings, name)!r}" for name, value in GROUP_REFUSED.items()
               if getattr(settings, name) != value]
    lf = problem.lifting
    kwargs = dict(lift="groups", patch=lf.patch, stride=lf.stride, eps=settings.eps, max_iter=settings.max_iter,
                  holdout=HOLDOUT, seed=0)

    def start(name: str) -> Iterator:   # refusals raised here reach the page as the run's error
        if refused:
            raise wc.InputError(f"{', '.join(refused)} with Matrix = groups, whose group fits are the batched "
                                "exact solver with no ridge, started from the SVD, without clipping, drawing nothing at random (the "
                                "held-out pixels are the page's); need "
                                + ", ".join(f"{n} = {v!r}" for n, v in GROUP_REFUSED.items()) + " (or another Matrix)")
        if name != GROUPS:
            raise wc.InputError(f"solver: found {name!r} with Matrix = groups; its one run is {GROUPS!r}")
        return wc.inpaint_steps(problem.image, problem.weights, min(settings.k, problem.group_rank_limit), **kwargs)

    return start


def _psnr(truth: np.ndarray, estimate: np.ndarray, selected: np.ndarray | None) -> float:
    if selected is not None and not selected.any():
        return math.nan
    return wc.metrics.psnr(truth, estimate, mask=selected)


def measurer(problem: Problem) -> Callable[[object], dict[str, float]]:
    """Per-step metrics against the original image."""
    truth, hidden = problem.image, problem.hidden

    def measure(step: object) -> dict[str, float]:
        estimate = problem.estimate(step.X, step.Y)
        held = None if problem.held is None else wc.inpainting.holdout_rmse(truth, estimate, problem.weights,
                                                                             problem.held)
        return {"psnr_hidden": _psnr(truth, estimate, hidden), "psnr_all": _psnr(truth, estimate, None),
                "holdout_rmse": math.nan if held is None else held}

    return measure


def group_measurer(problem: Problem) -> Callable[[object], dict[str, float]]:
    """Per-round metrics of a groups run from its inpainted image (known pixels kept, so PSNR on the
    hidden pixels is that of the estimate wherever the weight is 0), and the held-out error and
    best-so-far mark of wlra_core (its tie rule for rounds, GROUP_TIE)."""
    truth, hidden = problem.image, problem.hidden

    def measure(step: object) -> dict[str, float]:
        held = step.holdout_rmse
        return {"psnr_hidden": _psnr(truth, step.image, hidden), "psnr_all": _psnr(truth, step.image, None),
                "holdout_rmse": math.nan if held is None else held, "is_best": float(step.is_best)}

    return measure


def masked_view(image: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The image as the solver sees it: hidden pixels faded to the 'missing' colour."""
    return images.overlay_missing(image, weights, mask.MISSING_RGB)
