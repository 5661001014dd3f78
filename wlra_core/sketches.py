"""Sketches of each row's weighted design A_i = D_√W_i · Y, used to build the preconditioner.

For a batch of rows, every function here returns the sketched Gram matrices (S A_i)ᵀ(S A_i), one
k×k matrix per row, whose Cholesky factor R (RᵀR = (SA)ᵀSA, the R of a QR of S·A) makes A_i R⁻¹
well conditioned when S is a subspace embedding for the column span of A_i.

Rows come in a padded ("ragged") layout: `idx` (b, N) holds column indices into Y and `w` (b, N) the
weights there, 0 on padding; `idx=None` means every row uses all m rows of Y (dense W). Padding
rows are zero rows of A and change neither AᵀA nor any sketch's Gram in expectation.

Sketches (all with a seeded Generator):
* "srht": random signs, an orthonormal DCT-II along each row's design (the fast mixing transform of
  Blendenpik), then s rows sampled uniformly without replacement, scaled by √(N/s).
  Cost O(N k log N + s k²) per row.
* "sparse_sign": a sparse sign embedding, each of the N rows of A_i added with a random sign to
  ζ = min(4, s) random rows of S·A_i (scaled 1/√ζ). Cost O(ζ N k + s k²) per row.
* "rownorm": length-squared sampling: s rows drawn with probability ∝ ‖(A_i)_j‖² = W_ij ‖Y_j‖²,
  with replacement, each scaled by 1/√(s p_j). Cost O(N + s k²) per row.
* "gaussian": a dense Gaussian S (s × N)/√s. Cost O(s N k) per row: for small problems and teaching.
"""
from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.sparse as sp

SKETCHES = ("rownorm", "sparse_sign", "srht", "gaussian")


def _design(Y, idx, w, rows):
    """A for a subset of rows: (c, N, k), padding rows zero."""
    sw = np.sqrt(w[rows])
    if idx is None:
        return sw[:, :, None] * Y[None, :, :]
    return sw[:, :, None] * Y[idx[rows]]


def _gram(SA):
    return np.matmul(SA.transpose(0, 2, 1), SA)


def _chunks(b, per_row_bytes, budget):
    c = int(max(1, min(b, budget // max(per_row_bytes, 1))))
    return [slice(r0, min(r0 + c, b)) for r0 in range(0, b, c)]


def _per_row_bytes(kind, N, s, k):
    zeta = min(4, s)
    return 8 * {"rownorm": 3 * N + 2 * s * k, "srht": 3 * N * k + s * k,
                "sparse_sign": 2 * N * k + s * k + 3 * zeta * N,
                "gaussian": N * k + s * N + s * k}[kind]


def sketch_rows(kind, s, Y, idx, w, rows, rng):
    """S·A_i for the rows `rows` of the batch: an array (c, s, k)."""
    N = w.shape[1]
    k = Y.shape[1]
    if kind == "rownorm":
        ynorm2 = np.einsum("ij,ij->i", Y, Y)
        wr = w[rows]
        q = wr * (ynorm2[None, :] if idx is None else ynorm2[idx[rows]])
        total = q.sum(axis=1)
        total[total == 0] = 1.0
        c = q.shape[0]
        cum = np.cumsum(q, axis=1) / total[:, None]
        cum += np.arange(c)[:, None]          # the rows stacked into one increasing sequence
        u = rng.random((c, s)) + np.arange(c)[:, None]
        j = np.searchsorted(cum.ravel(), u.ravel(), side="right").reshape(c, s)
        j -= (np.arange(c) * N)[:, None]
        np.clip(j, 0, N - 1, out=j)
        p = np.take_along_axis(q, j, axis=1) / total[:, None]
        wj = np.take_along_axis(wr, j, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(p > 0, np.sqrt(wj / (s * p)), 0.0)
        cols = j if idx is None else np.take_along_axis(idx[rows], j, axis=1)
        return Y[cols] * scale[:, :, None]
    A = _design(Y, idx, w, rows)
    c = A.shape[0]
    if kind == "srht":
        A *= rng.choice(np.array([-1.0, 1.0]), size=A.shape[:2])[:, :, None]
        T = scipy.fft.dct(A, type=2, norm="ortho", axis=1, overwrite_x=True)
        pick = np.sort(rng.choice(N, size=min(s, N), replace=False))
        return T[:, pick, :] * np.sqrt(N / len(pick))
    if kind == "sparse_sign":
        zeta = min(4, s)
        buckets = rng.integers(0, s, size=(c, N, zeta))
        signs = rng.choice(np.array([-1.0, 1.0]), size=(c, N, zeta)) / np.sqrt(zeta)
        r = (buckets + (np.arange(c) * s)[:, None, None]).ravel()
        col = np.repeat(np.arange(c * N), zeta)
        S = sp.csr_array((signs.ravel(), (r, col)), shape=(c * s, c * N))
        return (S @ A.reshape(c * N, k)).reshape(c, s, k)
    if kind == "gaussian":
        return np.matmul(rng.standard_normal((c, s, N)) / np.sqrt(s), A)
    raise ValueError(f"unknown sketch {kind!r}")


def sketch_gram(kind, s, Y, idx, w, rng, budget=256 << 20):
    """(S A_i)ᵀ(S A_i) for every row i of the batch: an array (b, k, k), computed in row chunks
    that keep the sketch's working memory within `budget` bytes."""
    b, N = w.shape
    k = Y.shape[1]
    out = np.empty((b, k, k))
    for rows in _chunks(b, _per_row_bytes(kind, N, s, k), budget):
        out[rows] = _gram(sketch_rows(kind, s, Y, idx, w, rows, rng))
    return out
