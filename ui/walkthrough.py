"""The numbers of the "How it works" page: one row's regression, its sketch, the preconditioner,
the inner iterations, and the library's own run on the same small example.

Pure functions (numpy, scipy, pandas, wlra_core; no Streamlit), so the page only draws. The
sketch S·A_i and the Gram matrix behind R are wlra_core's own (`wlra_core.sketches.sketch_rows`,
`gram`), so the page shows the operator the sketched solver applies. The inner iterations are a
readable single-row loop on purpose (it is what the page teaches); wlra_core runs the same
iteration vectorised over all rows. Names follow the paper (arXiv 2306.04169):

    row i of the X-update:  A_i = D_√W_i Y,  b_i = D_√W_i M_iᵀ,  x_i = argmin ‖A_i x − b_i‖²
    sketch:                 S·A_i with s rows (S random, see SKETCH_NOTES)
    precondition:           RᵀR = (S A_i)ᵀ(S A_i)   ⇒   A_i R⁻¹ has singular values close to 1
    iterate:                z ← z + R⁻ᵀ A_iᵀ (b_i − A_i R⁻¹ z),   x_i = R⁻¹ z
"""
from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy.linalg

import wlra_core as wc
from wlra_core.sketches import gram, sketch_rows
from wlra_core.solvers import reference

# Sketches the page can draw as a matrix S. "rownorm" is the solvers' default: its S samples rows of
# A_i with probabilities that depend on A_i, so it is redrawn from the same seeded draw (see `sketch`).
DRAWABLE_SKETCHES = tuple(k for k in ("rownorm", "srht", "sparse_sign", "gaussian") if k in wc.SKETCHES)

SKETCH_NOTES = {
    "rownorm": (r"S = \operatorname{diag}\bigl(1/\sqrt{\pi_j}\bigr)_{j\ \text{kept}}, \qquad "
                r"\pi_j = \min\bigl(1,\ c\,W_{ij}\|Y_j\|^2\bigr)",
                "**The solvers' default.** Row j of A_i is kept with probability π_j proportional to its "
                "squared length W_ij‖Y_j‖² (c is chosen so that about s rows are kept) and scaled by "
                "1/√π_j, so that (S A_i)ᵀ(S A_i) equals A_iᵀA_i on average. Rows that carry a large share "
                "of ‖A_i‖² (a heavy weight) are kept for sure, which is what heavy-tailed weights need. "
                "It costs O(N_i) to draw and O(s k²) to use: no transform at all."),
    "srht": (r"S = \sqrt{N/s}\; P\,H\,D",
             "**The paper's sketch (SRHT).** D: random signs ±1; H: an orthonormal fast transform (here "
             "the DCT); P: keeps s of the N rows, chosen at random. The signs and the transform spread "
             "every row's information over all rows, so sampling a few keeps the geometry, whatever the "
             "weights. Applied with the fast transform it costs O(N_i log N_i) per column of A_i, never "
             "forming S. In wlra_core it is an option (`sketch=\"srht\"`)."),
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
    more than N_i rows buy nothing: with s ≥ N_i the sketch can keep all of A_i, R is A_i's own R
    factor and κ(A_i R⁻¹) = 1 trivially, at the price of the exact solve)."""
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
    srht, sparse_sign and gaussian the random draws do not depend on A, so it is the very operator
    that produced S·A. For rownorm the draw depends on A only through the row lengths
    q_j = w_j‖Y_j‖²: sketching I_N with weights q keeps the same rows, as e_j·√(q_j/π_j), and
    dividing column j by √q_j leaves S's row e_j/√π_j (tests check S @ A == S·A for every kind)."""
    if kind not in DRAWABLE_SKETCHES:
        raise ValueError(f"sketch must be one of {DRAWABLE_SKETCHES} to be drawn; got {kind!r}.")
    Y, w = np.asarray(Y, dtype=float), np.asarray(w, dtype=float)
    N = Y.shape[0]
    one_row = slice(0, 1)
    SA = sketch_rows(kind, s, Y, None, w[None, :], one_row, np.random.default_rng(seed))[0]
    if kind == "rownorm":
        q = w * np.einsum("ij,ij->i", Y, Y)
        S = sketch_rows(kind, s, np.eye(N), None, q[None, :], one_row, np.random.default_rng(seed))[0]
        S = S / np.sqrt(np.where(q > 0, q, 1.0))[None, :]
    else:
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


def conjugate_gradients(A, b, *, eps: float = 1e-10, max_iter: int = 50, x_star=None) -> InnerTrace:
    """Conjugate gradients on the normal equations AᵀA x = Aᵀb (CGLS), from 0, no preconditioner:
    what wlra_core's "cg" solver runs on every row. Its error shrinks at least like
    2·((κ − 1)/(κ + 1))^t (`cg_rate`): far faster than gradient descent, still slowed by κ(A_i)."""
    x_star = exact_solution(A, b) if x_star is None else x_star
    x = np.zeros(A.shape[1])
    r = np.array(b, dtype=float)             # b − A x
    g = A.T @ r                              # Aᵀ(b − A x)
    d = g.copy()
    nb = np.linalg.norm(b) or 1.0
    ns = np.linalg.norm(x_star) or 1.0
    scale = np.linalg.norm(A, 2) or 1.0
    res, fwd = [], []
    for t in range(max_iter + 1):
        res.append(np.linalg.norm(g) / (scale * nb))
        fwd.append(np.linalg.norm(x - x_star) / ns)
        Ad = A @ d
        if res[-1] <= eps or t == max_iter or not Ad.any():
            break
        gg = g @ g
        alpha = gg / (Ad @ Ad)
        x = x + alpha * d
        r = r - alpha * Ad
        g = A.T @ r
        d = g + (g @ g / gg) * d
    return InnerTrace(x, np.array(res), np.array(fwd))


def cg_rate(kappa: float) -> float:
    """The contraction per step of conjugate gradients' bound: (κ − 1)/(κ + 1)."""
    return (kappa - 1.0) / (kappa + 1.0) if np.isfinite(kappa) else 1.0


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


# --- what an iteration costs: the engine's cost model --------------------------------------------

CALC_SOLVERS = ("exact", "sketched", "cg")


def complexity(n: int, m: int, k: int, s: int, T: float, T_cg: float, density: float = 1.0) -> pd.DataFrame:
    """Flops of one alternating iteration (both half-steps) per solver, from wlra_core's own cost
    model (wlra_core.cost.row_flops), every row with density·m (X-side) or density·n (Y-side)
    weighted entries; T inner iterations for sketched, T_cg for cg. Columns: solver, gram, factor,
    inner, total, seconds (total / wlra_core.cost.RATE, the dense calibration)."""
    rows = []
    sides = (np.full(n, max(1.0, density * m)), np.full(m, max(1.0, density * n)))
    for solver in CALC_SOLVERS:
        T_solver = {"sketched": T, "cg": T_cg}.get(solver, 0.0)
        parts = {"gram": 0.0, "factor": 0.0, "inner": 0.0}
        for N in sides:
            for name, value in wc.cost.row_flops(solver, N, k, s, T_solver).items():
                parts[name] += value
        total = sum(parts.values())
        rows.append({"solver": solver, **parts, "total": total, "seconds": total / wc.cost.RATE})
    return pd.DataFrame(rows)


def complexity_curve(n: int, m: int, s_per_k: float, T: float, T_cg: float, density: float = 1.0,
                     ks=None) -> pd.DataFrame:
    """`complexity` over a range of k (s = s_per_k·k): columns k, solver, total, ratio (to exact)."""
    if ks is None:
        ks = np.unique(np.geomspace(1, max(2, min(n, m)), 40).round().astype(int))
    frames = []
    for k in ks:
        c = complexity(n, m, int(k), max(int(k), int(round(s_per_k * k))), T, T_cg, density)
        c["ratio"] = c["total"] / float(c.loc[c["solver"] == "exact", "total"].iloc[0])
        c["k"] = int(k)
        frames.append(c[["k", "solver", "total", "ratio"]])
    return pd.concat(frames, ignore_index=True)


def model_crossover(curve: pd.DataFrame, solver: str = "sketched"):
    """The k range where `solver` needs fewer flops than exact: (first k, last k) of the curve, or
    None if it never does. (At large k the sketch is no shorter than the rows, s ≥ N_i, and
    sketched falls back to exact: the range closes again.)"""
    d = curve[curve["solver"] == solver].sort_values("k")
    cheaper = d.loc[d["ratio"] < 1.0, "k"]
    return None if cheaper.empty else (int(cheaper.iloc[0]), int(cheaper.iloc[-1]))


RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
# The newest engine measurements with sketched and exact in one run: (csv, where its shapes are).
MEASURED_SOURCES = (("solvers_dense3072/solvers.csv", None),
                    ("solvers_ab.csv", "solvers_app/solvers.csv"))


def measured_ratios(results: Path = RESULTS) -> pd.DataFrame:
    """sketched / exact time per iteration measured on this project's machine, read from the
    benchmark results (benchmarks/solvers.py and solvers_ab.py): columns case, n, m, k, ratio,
    source. solvers_ab.csv has no shapes: they come from the run that defined its app cases."""
    rows = []
    for name, shapes in MEASURED_SOURCES:
        try:
            rows += _measured_rows(results, name, shapes)
        except (OSError, KeyError, ValueError, pd.errors.ParserError):
            continue  # a result file missing or rewritten in another layout: the page shows what it can read
    return pd.DataFrame(rows, columns=["case", "n", "m", "k", "ratio", "source"])


def _measured_rows(results: Path, name: str, shapes: str | None) -> list[dict]:
    rows = []
    path = results / name
    if path.exists():
        d = pd.read_csv(path)
        if shapes is None:
            d = d[d["solver"].isin(["exact", "sketched"])]
            t = d.pivot_table(index=["case", "n", "m", "k"], columns="solver", values="s_per_iter").dropna()
        else:
            geometry = pd.read_csv(results / shapes)[["case", "n", "m", "k"]].drop_duplicates("case")
            d = d[d["solver"].isin(["exact", "sketched"])].merge(geometry, on="case")
            t = d.pivot_table(index=["case", "n", "m", "k"], columns="solver", values="cpu_after_s").dropna()
        for (case, n, m, k), r in t.iterrows():
            rows.append({"case": case, "n": int(n), "m": int(m), "k": int(k),
                         "ratio": float(r["sketched"] / r["exact"]), "source": f"benchmarks/results/{name}"})
    return rows


# --- the same example in the solver lab ------------------------------------------------------------

def lab_query(k: int, seed: int, kind: str, s: int, n: int = 12, m: int = 60) -> dict[str, str]:
    """Query parameters that open the solver lab (views/solver_lab.py's widget keys) on the planted
    problem closest to this page's: n × m, rank k, noise 0.1, heavy-tailed weights with 80 %
    observed, the same seed, rank k, and this sketch (the lab draws its own weights, so the numbers
    differ)."""
    return {"lab_source": "planted", "lab_n": str(n), "lab_m": str(m), "lab_rank": str(k),
            "lab_noise": "0.1", "lab_pattern": "heavy_tailed", "lab_p": "0.8", "lab_pseed": str(seed),
            "lab_k": str(k), "lab_sketch": kind, "lab_s": str(s)}


def lab_url(k: int, seed: int, kind: str, s: int) -> str:
    """The solver lab's address (relative to this page's) with `lab_query`'s parameters."""
    return "solver_lab?" + urllib.parse.urlencode(lab_query(k, seed, kind, s))


def complexity_reading(table: pd.DataFrame, curve: pd.DataFrame, measured: pd.DataFrame) -> str:
    """One paragraph that reads the calculator's numbers: the ratios at the chosen k, the k range
    where the model favours the sketch, and what was measured on this machine."""
    total = dict(zip(table["solver"], table["total"]))
    text = [f"At these sizes sketched needs {total['sketched'] / total['exact']:.2f}× and cg "
            f"{total['cg'] / total['exact']:.2f}× the flops of exact."]
    window = model_crossover(curve)
    if window is None:
        text.append("The model finds no k where the sketch needs fewer flops than exact for this shape "
                    "(rows too short for s ≪ N_i, or k too small for the factor k to pay for the "
                    "inner iterations).")
    else:
        text.append(f"The model favours the sketch for k from {window[0]} to {window[1]} here "
                    "(beyond that s ≥ N_i and it solves rows exactly).")
    if len(measured):
        points = "; ".join(f"{r.n}×{r.m}, k = {r.k}: {r.ratio:.2f}×" for r in measured.itertuples())
        sources = ", ".join(sorted(set(measured["source"])))
        text.append(f"Measured on this machine (sketched / exact time per iteration, diamonds): {points} "
                    f"({sources}). Below 1 the sketch paid off.")
    text.append(f"Seconds divide flops by {wc.cost.RATE:.0e} flop/s, the engine's calibration for one core; "
                "measured times also carry memory traffic and overheads the flop count ignores.")
    return " ".join(text)
