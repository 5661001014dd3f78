"""The numbers of the "How it works" page: one row's regression, its sketch, the preconditioner,
the inner iterations, and the library's own run on the same small example.

Pure functions (numpy, scipy, pandas, wlra_core; no Streamlit), so the page only draws. The
sketch S·A_i and the Gram matrix behind R are wlra_core's own (`wlra_core.sketches.sketch_rows`,
`gram`), so the page shows the operator the sketched solver applies. The inner iterations are a
readable single-row loop on purpose (it is what the page teaches); wlra_core runs the same
iteration vectorised over all rows. Names follow PAPER.md:

    row i of the X-update:  A_i = D_√W_i Y,  b_i = D_√W_i M_iᵀ,  x_i = argmin ‖A_i x − b_i‖²
    sketch:                 S·A_i with s rows (S random, see SKETCH_NOTES)
    precondition:           RᵀR = (S A_i)ᵀ(S A_i)   ⇒   A_i R⁻¹ has singular values close to 1
    iterate:                z ← z + R⁻ᵀ A_iᵀ (b_i − A_i R⁻¹ z),   x_i = R⁻¹ z
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy.linalg

import wlra_core as wc
from wlra_core.sketches import gram, sketch_rows
from wlra_core.solvers import reference

# Sketches whose S does not depend on A_i: the page can draw S itself as a matrix. (The library's
# default, "rownorm", samples rows of A_i with probabilities that depend on A_i; the Solver lab
# compares it with the others.)
DRAWABLE_SKETCHES = tuple(k for k in ("srht", "sparse_sign", "gaussian") if k in wc.SKETCHES)

SKETCH_NOTES = {
    "srht": (r"S = \sqrt{N/s}\; P\,H\,D",
             "D: random signs ±1; H: an orthonormal fast transform (here the DCT); P: keeps s of the N "
             "rows, chosen at random. The signs and the transform spread every row's information over "
             "all rows, so sampling a few keeps the geometry. Applied with the fast transform it costs "
             "O(N_i log N_i) per column of A_i, never forming S."),
    "sparse_sign": (r"S_{tj} = \pm 1/\sqrt{\zeta}\ \text{ at } \zeta \text{ random rows } t \text{ of column } j",
                    "Each of the N rows of A_i is added, with a random sign, to ζ = min(4, s) random rows of "
                    "S·A_i. Applying it costs O(ζ·N_i·k): no transform at all, only additions."),
    "gaussian": (r"S_{tj} \sim \mathcal{N}(0,\, 1/s)",
                 "Every entry of S is an independent Gaussian. The easiest sketch to analyse, but "
                 "applying it costs O(s·N_i·k): for small problems and teaching."),
}


class Example(NamedTuple):
    M: np.ndarray  # observed values (noisy low-rank); meaningless where W == 0
    W: np.ndarray  # non-negative weights, zero = missing
    truth: np.ndarray  # the planted low-rank matrix


def example(n: int = 12, m: int = 60, k: int = 3, *, noise: float = 0.1, spread: float = 3.0,
            seed: int = 0) -> Example:
    """A small planted problem with heavy-tailed weights (some entries missing).

    Weights are log-normal, W_ij = exp(spread · g_ij), spanning several orders of magnitude, so the
    weighted regressions are ill-conditioned and preconditioning has something to do; about 20%
    of entries are missing (W_ij = 0).
    """
    rng = np.random.default_rng(seed)
    truth = rng.standard_normal((n, k)) @ rng.standard_normal((k, m))
    M = truth + noise * rng.standard_normal((n, m))
    W = np.exp(spread * rng.standard_normal((n, m)))
    W[rng.random((n, m)) < 0.2] = 0.0
    return Example(M, W, truth)


def log_weights(W) -> np.ndarray:
    """log₁₀ W, NaN where W = 0 (drawn blank: missing)."""
    W = np.asarray(W, dtype=float)
    return np.where(W > 0, np.log10(np.where(W > 0, W, 1.0)), np.nan)


def observed(M, W) -> np.ndarray:
    """M where W > 0, NaN elsewhere."""
    return np.where(np.asarray(W) > 0, M, np.nan)


def weight_summary(W) -> tuple[float, float]:
    """(orders of magnitude the positive weights span, fraction of entries missing)."""
    W = np.asarray(W, dtype=float)
    positive = W[W > 0]
    decades = float(np.log10(positive.max() / positive.min())) if positive.size else 0.0
    return decades, float(np.mean(W == 0))


def colour_limit(z, percentile: float = 95.0) -> float:
    """A symmetric colour range ±limit for signed pictures: the percentile of |z|, so one huge entry
    (a heavy weight) does not wash out the rest."""
    return float(np.nanpercentile(np.abs(np.asarray(z, dtype=float)), percentile)) or 1.0


def init_Y(M, W, k: int) -> np.ndarray:
    """SVD initialisation: top-k right singular vectors of W∘M (orthonormal columns), as wlra_core's
    init="svd"."""
    _, _, vt = np.linalg.svd(W * M, full_matrices=False)
    return vt[:k].T.copy()


class RowProblem(NamedTuple):
    A: np.ndarray  # (N_i, k)  rows of Y scaled by √W_ij, observed j only
    b: np.ndarray  # (N_i,)    √W_ij M_ij
    cols: np.ndarray  # the observed columns j (W_ij > 0)
    sqrt_w: np.ndarray

    @property
    def N(self) -> int:
        return int(self.cols.size)


def row_problem(M, W, Y, i: int) -> RowProblem:
    """The weighted least-squares problem of row i: only columns with W_ij > 0 take part."""
    cols = np.flatnonzero(W[i] > 0)
    sqrt_w = np.sqrt(W[i, cols])
    return RowProblem(sqrt_w[:, None] * Y[cols], sqrt_w * M[i, cols], cols, sqrt_w)


def sketch_size(s: int, k: int, N: int) -> int:
    """The sketch size actually used: s clamped to [k, N] (fewer than k rows cannot precondition;
    more than N_i rows buy nothing)."""
    return int(min(max(s, k), N))


def exact_solution(A, b, ridge: float = 0.0) -> np.ndarray:
    """argmin ‖A x − b‖² + λ‖x‖², the exact solve (the library's per-row reference)."""
    return reference.regression(A, b, ridge)


class Sketch(NamedTuple):
    kind: str
    S: np.ndarray   # (s, N) the sketch as a matrix, for drawing
    SA: np.ndarray  # (s, k) S·A_i, computed by wlra_core.sketches.sketch_rows
    Sb: np.ndarray  # (s,)   S·b_i


def sketch(kind: str, s: int, Y, w, b, seed: int = 0) -> Sketch:
    """wlra_core's sketch of one row's design A = D_√w Y (Y: the N observed rows of the factor,
    w: their weights), and the same S drawn as a matrix and applied to b.

    S is the library's sketch of the identity (A = I_N) from an identically seeded generator: for
    the sketches in DRAWABLE_SKETCHES the random draws do not depend on A, so it is the very
    operator that produced S·A (tests check S @ A == S·A)."""
    if kind not in DRAWABLE_SKETCHES:
        raise ValueError(f"sketch must be one of {DRAWABLE_SKETCHES} to be drawn; got {kind!r}.")
    Y, w = np.asarray(Y, dtype=float), np.asarray(w, dtype=float)
    N = Y.shape[0]
    one_row = slice(0, 1)
    SA = sketch_rows(kind, s, Y, None, w[None, :], one_row, np.random.default_rng(seed))[0]
    S = sketch_rows(kind, s, np.eye(N), None, np.ones((1, N)), one_row, np.random.default_rng(seed))[0]
    return Sketch(kind, S, SA, S @ b)


def preconditioner(SA) -> np.ndarray:
    """Upper-triangular R with RᵀR = (SA)ᵀ(SA) (the R of a QR of S·A), from wlra_core's Gram
    matrix, as wlra_core.regression builds it (a tiny diagonal shift if the sketch is singular)."""
    G = gram(np.asarray(SA, dtype=float)[None])[0]
    k = G.shape[0]
    scale = max(np.trace(G) / k, np.finfo(float).tiny)
    for shift in (0.0, 1e-12, 1e-9, 1e-6):
        try:
            return np.linalg.cholesky(G + shift * scale * np.eye(k)).T
        except np.linalg.LinAlgError:
            continue
    return np.linalg.cholesky(G + 1e-3 * scale * np.eye(k)).T


def sketch_and_solve(SA, Sb) -> np.ndarray:
    """x = argmin ‖S A x − S b‖: the cheap, rough answer the iteration starts from."""
    return np.linalg.lstsq(SA, Sb, rcond=None)[0]


def singular_values(A, R=None) -> np.ndarray:
    """Singular values of A, or of A R⁻¹ when R is given."""
    if R is not None:
        A = scipy.linalg.solve_triangular(R, A.T, trans="T").T  # A R⁻¹
    return np.linalg.svd(A, compute_uv=False)


def condition_number(singular) -> float:
    """κ = σ_max / σ_min (∞ for a singular matrix)."""
    singular = np.asarray(singular)
    return float(singular[0] / singular[-1]) if singular[-1] > 0 else float("inf")


class InnerTrace(NamedTuple):
    x: np.ndarray
    residual: np.ndarray  # ‖R⁻ᵀ Aᵀ (b − A x_t)‖ / ‖b‖ per iteration t (t = 0 is the start)
    forward_error: np.ndarray  # ‖x_t − x*‖ / ‖x*‖ per iteration


def precondition_and_iterate(A, b, R, *, eps: float = 1e-10, max_iter: int = 50,
                             x0=None, x_star=None) -> InnerTrace:
    """Gradient descent with step 1 on the preconditioned problem min ‖(A R⁻¹) z − b‖.

    Starts from x0 (for example the sketch-and-solve point, `sketch_and_solve`), or from 0.
    Stops when the preconditioned gradient is ≤ eps·‖b‖, after max_iter steps, or once it has
    grown a million-fold (step 1 diverges when σ_max(A R⁻¹)² ≥ 2: a too small sketch). Each step
    contracts the error by about the preconditioned condition number's (κ² − 1)/κ²-like factor,
    so a κ(A R⁻¹) near 1 means a handful of steps.
    """
    # One row at a time, for reading: this mirrors wlra_core.regression._iterate with inner="gd"
    # (the paper's iteration; the library runs it on all rows at once, and by default uses
    # conjugate gradients on the same preconditioned system), with the same stopping rule
    # ‖R⁻ᵀ Aᵀ(b − A x)‖ ≤ eps·‖b‖.
    k = A.shape[1]
    x_star = exact_solution(A, b) if x_star is None else x_star
    z = np.zeros(k) if x0 is None else R @ x0
    nb = np.linalg.norm(b) or 1.0
    ns = np.linalg.norm(x_star) or 1.0
    res, fwd = [], []
    for t in range(max_iter + 1):
        x = scipy.linalg.solve_triangular(R, z)
        grad = scipy.linalg.solve_triangular(R, A.T @ (b - A @ x), trans="T")
        res.append(np.linalg.norm(grad) / nb)
        fwd.append(np.linalg.norm(x - x_star) / ns)
        if res[-1] <= eps or t == max_iter or not res[-1] <= 1e6 * max(res[0], eps):
            break
        z = z + grad
    return InnerTrace(x, np.array(res), np.array(fwd))


def plain_gradient_descent(A, b, *, eps: float = 1e-10, max_iter: int = 50, x_star=None) -> InnerTrace:
    """The same iteration without the preconditioner, with the best fixed step 2/(σ_max² + σ_min²).

    Its rate is (κ² − 1)/(κ² + 1) (`plain_rate`): with an ill-conditioned A_i it crawls. Shown
    for contrast.
    """
    x_star = exact_solution(A, b) if x_star is None else x_star
    sv = np.linalg.svd(A, compute_uv=False)
    step = 2.0 / (sv[0] ** 2 + sv[-1] ** 2)
    x = np.zeros(A.shape[1])
    nb = np.linalg.norm(b) or 1.0
    ns = np.linalg.norm(x_star) or 1.0
    res, fwd = [], []
    for t in range(max_iter + 1):
        grad = A.T @ (b - A @ x)
        res.append(np.linalg.norm(grad) / (sv[0] * nb))
        fwd.append(np.linalg.norm(x - x_star) / ns)
        if res[-1] <= eps or t == max_iter:
            break
        x = x + step * grad
    return InnerTrace(x, np.array(res), np.array(fwd))


def plain_rate(kappa: float) -> float:
    """Error contraction per step of plain gradient descent with the best step: (κ² − 1)/(κ² + 1)."""
    return (kappa ** 2 - 1.0) / (kappa ** 2 + 1.0) if np.isfinite(kappa) else 1.0


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
    return Walk(row, p, sk, R, x_star, x_sketch, trace, plain, singular_values(p.A), singular_values(p.A, R))


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
    """Forward error per inner iteration, preconditioned and plain; exact zeros dropped (log axis)."""
    frame = pd.concat([
        pd.DataFrame({"inner iteration": np.arange(w.trace.forward_error.size),
                      ERROR_COLUMN: w.trace.forward_error, "method": "preconditioned (step 1)"}),
        pd.DataFrame({"inner iteration": np.arange(w.plain.forward_error.size),
                      ERROR_COLUMN: w.plain.forward_error, "method": "plain gradient descent (best step)"}),
    ], ignore_index=True)
    return frame[frame[ERROR_COLUMN] > 0]


def library_curves(M, W, k: int, solvers, *, seed: int = 0, max_iter: int = 15) -> dict[str, list[dict]]:
    """wlra_core.iterate on the example: per solver, one record per iteration (iteration,
    relative_objective), the history format of ui.charts. The iterative solvers solve their
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
