"""How it works, the basics: the small example, one row's regression, its sketch, the
preconditioner and the inner iterations.

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

from typing import NamedTuple

import numpy as np
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
