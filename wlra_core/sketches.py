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
* "rownorm": row-norm (length-squared) sampling by independent coin flips: row j of A_i is kept
  with probability π_j = min(1, c·W_ij‖Y_j‖²), c chosen so that about s rows are kept, and scaled
  by 1/√π_j. Rows carrying a large share of ‖A_i‖_F² are kept for sure, which matters for
  heavy-tailed weights (sampling with replacement drew them again and again and left the
  preconditioner near-singular). Cost O(N + s k²) per row.
* "gaussian": a dense Gaussian S (s × N)/√s. Cost O(s N k) per row: for small problems and teaching.
"""
from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.sparse as sp
from scipy.linalg.blas import dsyrk

SKETCHES = ("rownorm", "sparse_sign", "srht", "gaussian")


def _design(Y, idx, w, rows):
    """A for a subset of rows: (c, N, k), padding rows zero."""
    sw = np.sqrt(w[rows])
    if idx is None:
        return sw[:, :, None] * Y[None, :, :]
    return sw[:, :, None] * Y[idx[rows]]


def _inclusion_probabilities(q, s, rounds=8):
    """π_j = min(1, c·q_j) with c per row such that Σ_j π_j ≈ s (Poisson sampling): entries that
    carry a large share of the row's mass are kept for sure instead of being drawn again and again.
    q is first divided by its row maximum (π does not change): a row of subnormal mass, which a
    factor shrunk by a large ridge gives, made s / Σq overflow."""
    top = q.max(axis=1, keepdims=True)
    q = q / np.where(top > 0, top, 1.0)
    total = q.sum(axis=1, keepdims=True)
    c = s / np.where(total > 0, total, 1.0)
    n_sure = None
    for _ in range(rounds):
        sure = c * q >= 1.0
        count = sure.sum(axis=1, keepdims=True)
        if n_sure is not None and np.array_equal(count, n_sure):
            break
        n_sure = count
        rest = np.where(sure, 0.0, q).sum(axis=1, keepdims=True)
        need = s - count
        c = np.where((rest > 0) & (need > 0), need / np.where(rest > 0, rest, 1.0), c)
    return np.minimum(1.0, c * q)


def gram(SA):
    """(SA_i)ᵀ(SA_i) per row. From k = 32 on, BLAS syrk (one triangle, half the flops of a
    product) then a mirror."""
    b, s, k = SA.shape
    if k < 32:
        return np.matmul(SA.transpose(0, 2, 1), SA)
    out = np.empty((b, k, k))
    for i in range(b):
        out[i] = dsyrk(1.0, SA[i].T, trans=0, lower=1)
    lower = np.tril_indices(k, -1)
    out[:, lower[1], lower[0]] = out[:, lower[0], lower[1]]
    return out


def sketch_rows(kind, s, Y, idx, w, rows, rng):
    """S·A_i for the rows `rows` of the batch: an array (c, s, k)."""
    N = w.shape[1]
    k = Y.shape[1]
    if kind == "rownorm":
        ynorm2 = np.einsum("ij,ij->i", Y, Y)
        wr = w[rows]
        q = wr * (ynorm2[None, :] if idx is None else ynorm2[idx[rows]])
        pi = _inclusion_probabilities(q, s)
        keep = rng.random(q.shape) < pi
        # gather the kept entries of every row to the front, padded with zero rows
        cnt = keep.sum(axis=1)
        width = max(int(cnt.max()), 1)
        order = np.argsort(~keep, axis=1, kind="stable")[:, :width]
        valid = np.arange(width)[None, :] < cnt[:, None]
        pj = np.take_along_axis(pi, order, axis=1)
        wj = np.take_along_axis(wr, order, axis=1)
        scale = np.where(valid, np.sqrt(wj / np.where(valid, pj, 1.0)), 0.0)
        cols = order if idx is None else np.take_along_axis(idx[rows], order, axis=1)
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


def sketch_gram(kind, s, Y, idx, w, rng):
    """(S A_i)ᵀ(S A_i) for every row i of the batch: an array (b, k, k).

    Each row is sketched on its own, with a generator keyed by one uniform drawn from `rng` for
    it (one double per row, in row order): a row's sketch depends only on the row and on the
    stream position, never on which rows share its batch or on padding to the batch's longest
    row. So the same seed gives the same sketches however the rows are blocked (a memory budget
    changes blocks, and must not change results). Working memory is one row's sketch."""
    b, N = w.shape
    k = Y.shape[1]
    out = np.empty((b, k, k))
    keys = rng.random(b)                       # doubles: concatenating batches keeps the stream
    for i in range(b):
        wi, ii = w[i:i + 1], None if idx is None else idx[i:i + 1]
        if idx is not None:                    # drop the padding: the row's own length decides
            Ni = int(np.count_nonzero(w[i]))
            wi, ii = wi[:, :max(Ni, 1)], ii[:, :max(Ni, 1)]
        row_rng = np.random.Generator(np.random.PCG64(int(keys[i] * 2.0**53)))
        out[i] = gram(sketch_rows(kind, s, Y, ii, wi, slice(0, 1), row_rng))[0]
    return out
