"""How it works, one row followed through: every number the page shows for it, the sketch seen
from outside (κ against s, norm preservation), the alternating step frame by frame, and the pixel
and patch matrices of section 9."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

import wlra_core as wc
from wlra_core.solvers import reference
from ui.models.walkthrough.rows import (InnerTrace, RowProblem, Sketch, condition_number,
                                        conjugate_gradients, exact_solution, init_Y, plain_gradient_descent,
                                        precondition_and_iterate, preconditioner, row_problem, singular_values,
                                        sketch, sketch_and_solve)

# --- one row, every number the page shows ------------------------------------------------------

FITS = ("exact solve", "sketch-and-solve (rough)", "after iterating")


class Walk(NamedTuple):
    row: int
    problem: RowProblem
    sketch: Sketch
    R: np.ndarray
    x_star: np.ndarray       # the exact solution of the row's regression
    x_sketch: np.ndarray     # sketch-and-solve
    trace: InnerTrace        # preconditioned iterations from x_sketch
    plain: InnerTrace        # plain gradient descent from 0, for contrast
    cg: InnerTrace           # conjugate gradients from 0, no preconditioner (the "cg" solver)
    sv_before: np.ndarray    # singular values of A_i
    sv_after: np.ndarray     # singular values of A_i R⁻¹

    @property
    def kappa_before(self) -> float:
        return condition_number(self.sv_before)

    @property
    def kappa_after(self) -> float:
        return condition_number(self.sv_after)

    @property
    def converged(self) -> bool:
        return bool(self.trace.forward_error[-1] <= 1e-6)


def walk(M, W, Y, row: int, s: int, *, kind: str = "srht", seed: int = 0, max_iter: int = 60) -> Walk:
    """Row `row`'s regression against Y, sketched with s rows (already clamped, see sketch_size),
    preconditioned and iterated. The row must have at least k observed entries."""
    p = row_problem(M, W, Y, row)
    sk = sketch(kind, s, Y[p.cols], np.asarray(W)[row, p.cols], p.b, seed=seed)
    R = preconditioner(sk.SA)
    x_star = exact_solution(p.A, p.b)
    x_sketch = sketch_and_solve(sk.SA, sk.Sb)
    trace = precondition_and_iterate(p.A, p.b, R, x0=x_sketch, x_star=x_star, eps=1e-12, max_iter=max_iter)
    plain = plain_gradient_descent(p.A, p.b, x_star=x_star, eps=1e-12, max_iter=max_iter)
    cg = conjugate_gradients(p.A, p.b, x_star=x_star, eps=1e-12, max_iter=max_iter)
    return Walk(row, p, sk, R, x_star, x_sketch, trace, plain, cg, singular_values(p.A),
                singular_values(p.A, R))


def fit_frame(w: Walk, Y) -> pd.DataFrame:
    """The fitted values ⟨x, Y_j⟩ at the row's observed columns, for each of FITS (long format:
    column j, value, fit)."""
    Yo = np.asarray(Y)[w.problem.cols]
    xs = (w.x_star, w.x_sketch, w.trace.x)
    return pd.DataFrame({
        "column j": np.tile(w.problem.cols, len(xs)),
        "value": np.concatenate([Yo @ x for x in xs]),
        "fit": np.repeat(FITS, w.problem.N),
    })


def data_range(M, w: Walk, margin: float = 0.3) -> tuple[float, float]:
    """A y range that keeps the row's data in view (a fit may swing far out where a weight is tiny)."""
    values = np.asarray(M)[w.row, w.problem.cols]
    lo, hi = float(values.min()), float(values.max())
    pad = margin * (hi - lo) or 1.0
    return lo - pad, hi + pad


def marker_sizes(w: Walk, smallest: float = 4.0, extra: float = 18.0) -> np.ndarray:
    """Dot sizes ∝ √W_ij, the pull each data point has on the fit."""
    return smallest + extra * w.problem.sqrt_w / w.problem.sqrt_w.max()


def singular_value_frame(w: Walk) -> pd.DataFrame:
    k = w.sv_before.size
    return pd.DataFrame({
        "index": np.tile(np.arange(1, k + 1), 2),
        "singular value": np.concatenate([w.sv_before, w.sv_after]),
        "matrix": np.repeat(["A_i (before)", "A_i R⁻¹ (after)"], k),
    })


ERROR_COLUMN = "relative error ‖x − x*‖/‖x*‖"


def inner_frame(w: Walk) -> pd.DataFrame:
    """Forward error per inner iteration: preconditioned, conjugate gradients and plain gradient
    descent; exact zeros dropped (log axis)."""
    frame = pd.concat([
        pd.DataFrame({"inner iteration": np.arange(w.trace.forward_error.size),
                      ERROR_COLUMN: w.trace.forward_error, "method": "preconditioned (step 1)"}),
        pd.DataFrame({"inner iteration": np.arange(w.cg.forward_error.size),
                      ERROR_COLUMN: w.cg.forward_error, "method": "conjugate gradients, no preconditioner (cg)"}),
        pd.DataFrame({"inner iteration": np.arange(w.plain.forward_error.size),
                      ERROR_COLUMN: w.plain.forward_error, "method": "plain gradient descent (best step)"}),
    ], ignore_index=True)
    return frame[frame[ERROR_COLUMN] > 0]


def library_curves(M, W, k: int, solvers, *, seed: int = 0, max_iter: int = 15) -> dict[str, list[dict]]:
    """wlra_core.iterate on the example: per solver, one record per iteration (iteration,
    relative_objective), the history format of ui.figures. The iterative solvers solve their
    regressions to 1e-10, so that every curve is the same alternating descent."""
    tight = lambda solver: {"inner_eps": 1e-10} if solver in ("sketched", "cg", "auto") else {}
    return {
        solver: [{"iteration": int(step.iteration), "relative_objective": float(step.relative_objective)}
                 for step in wc.iterate(M, W, k, solver=solver, eps=1e-10, max_iter=max_iter, seed=seed,
                                        diagnostics=False, **tight(solver))]
        for solver in solvers
    }


# --- which matrix: pixels or patches (section 9) ------------------------------------------------

class Lifted(NamedTuple):
    image: np.ndarray          # a small grey image
    patches: np.ndarray        # its patch matrix: one row per window
    lifting: "wc.lifting.Lifting"


def lifted_example(path, *, side: int = 32, patch: int = 4, stride: int = 2) -> Lifted:
    """A side × side crop of an image file (its centre, grey, at 2·side px) and its patch matrix."""
    img = wc.data.load_image(path, max_side=2 * side)
    if img.ndim == 3:
        img = img @ np.array([0.299, 0.587, 0.114])
    top, left = (img.shape[0] - side) // 2, (img.shape[1] - side) // 2
    crop = np.ascontiguousarray(img[top:top + side, left:left + side])
    lf = wc.lifting.lifting(crop.shape, "patches", patch=patch, stride=stride)
    return Lifted(crop, lf.lift(crop), lf)


def truncated(A, r: int) -> np.ndarray:
    """The best rank-r approximation of A (with every weight 1, WLRA is the truncated SVD)."""
    U, s, Vt = np.linalg.svd(np.asarray(A, dtype=np.float64), full_matrices=False)
    return (U[:, :r] * s[:r]) @ Vt[:r]


class RankPictures(NamedTuple):
    pixels: np.ndarray         # the rank-r image matrix, clipped to [0, 1]
    patches: np.ndarray        # the rank-r patch matrix averaged back to an image
    psnr_pixels: float
    psnr_patches: float


def rank_pictures(lifted: Lifted, r: int) -> RankPictures:
    """The crop at rank r through either matrix, and each one's PSNR against the crop."""
    by_pixels = np.clip(truncated(lifted.image, r), 0.0, 1.0)   # r beyond a matrix's rank: all of it
    by_patches = lifted.lifting.average(truncated(lifted.patches, r))
    return RankPictures(by_pixels, by_patches, wc.metrics.psnr(lifted.image, by_pixels),
                        wc.metrics.psnr(lifted.image, by_patches))


# --- the sketch seen from outside: κ against s, norm preservation ------------------------------

def kappa_curve(M, W, Y, row: int, kind: str, *, seed: int = 0, repeats: int = 5,
                points: int = 24) -> pd.DataFrame:
    """κ(A_i R⁻¹) against the sketch size s, from s = k to s = N_i (about `points` sizes), each
    over `repeats` seeded sketches: columns s, median, low, high (the smallest and largest κ)."""
    p = row_problem(M, W, Y, row)
    k, N = Y.shape[1], p.N
    sizes = np.unique(np.linspace(k, N, min(points, N - k + 1)).round().astype(int))
    rows = []
    for s in sizes:
        kappas = []
        for r in range(repeats):
            sk = sketch(kind, int(s), Y[p.cols], np.asarray(W)[row, p.cols], p.b, seed=seed + 1000 * r)
            kappas.append(condition_number(singular_values(p.A, preconditioner(sk.SA))))
        kappas = np.array(kappas)
        rows.append({"s": int(s), "median": float(np.median(kappas)), "low": float(kappas.min()),
                     "high": float(kappas.max())})
    return pd.DataFrame(rows)


class NormCheck(NamedTuple):
    frame: pd.DataFrame   # per random x: ‖A_i x‖, ‖S A_i x‖
    low: float            # the smallest ratio ‖S A_i x‖ / ‖A_i x‖
    high: float           # the largest


NORM_COLUMNS = ("‖A_i x‖", "‖S A_i x‖")


def norm_check(w: Walk, count: int = 300, seed: int = 0) -> NormCheck:
    """‖S A_i x‖ against ‖A_i x‖ for `count` random directions x (Gaussian, seeded): a subspace
    embedding keeps every ratio within [1 − ε0, 1 + ε0], which is what makes R a preconditioner."""
    x = np.random.default_rng(seed).standard_normal((w.problem.A.shape[1], count))
    plain = np.linalg.norm(w.problem.A @ x, axis=0)
    sketched = np.linalg.norm(w.sketch.SA @ x, axis=0)
    ratio = sketched / np.where(plain > 0, plain, 1.0)
    return NormCheck(pd.DataFrame({NORM_COLUMNS[0]: plain, NORM_COLUMNS[1]: sketched}),
                     float(ratio.min()), float(ratio.max()))


# --- the alternating step, frame by frame ---------------------------------------------------------

class HalfStep(NamedTuple):
    label: str             # "start", "iteration 1: X", "iteration 1: Y", ...
    side: str              # "start", "X" or "Y": the factor that was just solved for
    fit: np.ndarray        # X Yᵀ after this half-step
    objective: float       # f = Σ W (M − X Yᵀ)²


def alternating_frames(M, W, k: int, iterations: int = 3) -> list[HalfStep]:
    """Alternating minimisation as wlra_core runs it, one record per half-step: with Y
    fixed every row of X is its own weighted regression (the exact per-row reference), then
    X is orthonormalised and every column's Y solved the same way. Starts from init_Y."""
    M, W = np.asarray(M, dtype=float), np.asarray(W, dtype=float)
    Mo = np.where(W > 0, M, 0.0)
    Y = init_Y(Mo, W, k)
    X = np.zeros((M.shape[0], k))
    frames = [HalfStep("start: Y from the SVD of W∘M, X = 0", "start", X @ Y.T, objective(M, W, X @ Y.T))]
    for t in range(1, iterations + 1):
        X = reference.half_step(Mo, W, Y)
        frames.append(HalfStep(f"iteration {t}: X solved, Y fixed", "X", X @ Y.T, objective(M, W, X @ Y.T)))
        X = np.linalg.qr(X)[0]
        Yt = reference.half_step(Mo.T, W.T, X)
        frames.append(HalfStep(f"iteration {t}: Y solved, X fixed", "Y", X @ Yt.T, objective(M, W, X @ Yt.T)))
        Y = np.linalg.qr(Yt)[0]
    return frames


def objective(M, W, fit) -> float:
    """f = Σ W_ij (M_ij − fit_ij)² over the weighted entries."""
    W = np.asarray(W, dtype=float)
    return float(np.sum(W * np.where(W > 0, np.asarray(M) - fit, 0.0) ** 2))
