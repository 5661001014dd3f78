"""The teaching version of one alternating step, for the "How it works" page.

Small, readable, dense numpy + scipy.fft; slow on purpose. The real solver is wlra_core (vectorised
over rows, in blocks, with fast transforms); nothing here is used by it. Names follow PAPER.md:

    row i of the X-update:  A_i = D_√W_i Y,  b_i = D_√W_i M_iᵀ,  x_i = argmin ‖A_i x − b_i‖²
    sketch:                 S = √(N/s) · P · H · D   (D random signs, H orthonormal DCT, P samples s rows)
    precondition:           S A_i = Q R   ⇒   A_i R⁻¹ has singular values close to 1
    iterate:                z ← z + R⁻ᵀ A_iᵀ (b_i − A_i R⁻¹ z),   x_i = R⁻¹ z
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.fft
import scipy.linalg


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


def objective(M, W, X, Y) -> float:
    """f(X, Y) = Σ_ij W_ij (M_ij − ⟨X_i, Y_j⟩)²: weights multiply the squared residual."""
    return float(np.sum(W * (M - X @ Y.T) ** 2))


def init_Y(M, W, k: int) -> np.ndarray:
    """SVD initialisation: top-k right singular vectors of W∘M (orthonormal columns)."""
    _, _, vt = np.linalg.svd(W * M, full_matrices=False)
    return vt[:k].T.copy()


class RowProblem(NamedTuple):
    A: np.ndarray  # (N_i, k)  rows of Y scaled by √W_ij, observed j only
    b: np.ndarray  # (N_i,)    √W_ij M_ij
    cols: np.ndarray  # the observed columns j (W_ij > 0)
    sqrt_w: np.ndarray


def row_problem(M, W, Y, i: int) -> RowProblem:
    """The weighted least-squares problem of row i: only columns with W_ij > 0 take part."""
    cols = np.flatnonzero(W[i] > 0)
    sqrt_w = np.sqrt(W[i, cols])
    return RowProblem(sqrt_w[:, None] * Y[cols], sqrt_w * M[i, cols], cols, sqrt_w)


def exact_solution(A, b, ridge: float = 0.0) -> np.ndarray:
    """Normal equations (Aᵀ A + λI) x = Aᵀ b, the LLR16 exact solve."""
    k = A.shape[1]
    return np.linalg.solve(A.T @ A + ridge * np.eye(k), A.T @ b)


def srht_matrix(N: int, s: int, seed: int = 0) -> np.ndarray:
    """The SRHT sketch S (s × N) as an explicit matrix, for drawing: √(N/s) · P · DCT · D.

    H is the orthonormal DCT-II (a fast orthogonal transform; the Walsh–Hadamard transform would
    do the same job for N a power of 2). Rows of H·D are sampled uniformly without replacement.
    """
    if not 0 < s <= N:
        raise ValueError(f"sketch size s must be in [1, N={N}]; got {s}.")
    rng = np.random.default_rng(seed)
    D = rng.choice([-1.0, 1.0], size=N)
    H = scipy.fft.dct(np.eye(N), norm="ortho", axis=0)  # H @ v == dct(v, norm="ortho")
    P = np.sort(rng.choice(N, size=s, replace=False))
    return np.sqrt(N / s) * H[P] * D[None, :]


def preconditioner(SA) -> np.ndarray:
    """R of the thin QR of S·A (upper triangular, k × k)."""
    return np.linalg.qr(SA, mode="r")


def sketch_and_solve(SA, Sb) -> np.ndarray:
    """x = argmin ‖S A x − S b‖: the cheap, rough answer the iteration starts from."""
    return np.linalg.lstsq(SA, Sb, rcond=None)[0]


def singular_values(A, R=None) -> np.ndarray:
    """Singular values of A, or of A R⁻¹ when R is given."""
    if R is not None:
        A = scipy.linalg.solve_triangular(R, A.T, trans="T").T  # A R⁻¹
    return np.linalg.svd(A, compute_uv=False)


class InnerTrace(NamedTuple):
    x: np.ndarray
    residual: np.ndarray  # ‖R⁻ᵀ Aᵀ (b − A x_t)‖ / ‖b‖ per iteration t (t = 0 is the start)
    forward_error: np.ndarray  # ‖x_t − x*‖ / ‖x*‖ per iteration


def precondition_and_iterate(A, b, R, *, eps: float = 1e-10, max_iter: int = 50,
                             x0=None, x_star=None) -> InnerTrace:
    """Gradient descent with step 1 on the preconditioned problem min ‖(A R⁻¹) z − b‖.

    Starts from x0 (for example the sketch-and-solve point, `sketch_and_solve`), or from 0.
    Stops when the preconditioned gradient is ≤ eps·‖b‖ or after max_iter steps. Each step
    contracts the error by about the preconditioned condition number's (κ² − 1)/κ²-like factor,
    so a κ(A R⁻¹) near 1 means a handful of steps.
    """
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
        if res[-1] <= eps or t == max_iter:
            break
        z = z + grad
    return InnerTrace(x, np.array(res), np.array(fwd))


def plain_gradient_descent(A, b, *, eps: float = 1e-10, max_iter: int = 50, x_star=None) -> InnerTrace:
    """The same iteration without the preconditioner, with the best fixed step 2/(σ_max² + σ_min²).

    Its rate is (κ² − 1)/(κ² + 1): with an ill-conditioned A_i it crawls. Shown for contrast.
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


def half_step_exact(M, W, Y, ridge: float = 0.0) -> np.ndarray:
    """X̃ with every row solved exactly, row by row (the specification of the fast solvers)."""
    X = np.zeros((M.shape[0], Y.shape[1]))
    for i in range(M.shape[0]):
        p = row_problem(M, W, Y, i)
        if p.cols.size:
            X[i] = exact_solution(p.A, p.b, ridge + (1e-12 if p.cols.size < Y.shape[1] else 0.0))
    return X


def alternating_objectives(M, W, k: int, n_steps: int = 8) -> np.ndarray:
    """Objective after each alternating step (exact row solves, QR orthonormalisation), from SVD init.

    Entry 0 is f(X̃, Y) after the first X half-step; then one entry per full step.
    """
    Y = init_Y(M, W, k)
    out = []
    for _ in range(n_steps):
        X = np.linalg.qr(half_step_exact(M, W, Y))[0]
        Yt = half_step_exact(M.T, W.T, X)
        out.append(objective(M, W, X, Yt))
        Y = np.linalg.qr(Yt)[0]
    return np.array(out)
