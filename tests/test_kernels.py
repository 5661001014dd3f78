"""The compiled kernels (wlra_core/solvers/compiled/, gathered in solvers/kernels.py) against their
numpy references.

Every kernel is run on parametrised tables of shapes (k ∈ {1, 3, 12, 40}; rows with no entries,
a single row, no entries at all, long rows; int32 and int64 `indices`; `rows` all of them, a
subset in arbitrary order, or none) and compared with the reference beside it (for
csr_rownorm_gram, which has none, with one written here from `inclusion_reference`, and with the
dense sketch of the same rows densified), with tolerances relative to the size of the results
(1e-12 of the largest reference entry, or of the sum of the terms' sizes where a sum cancels, for
float64 results; 1e-6 for float32 ones); the private `_inclusion` through a tiny njit wrapper.
Then: results do not depend on the number of threads (bit for bit), no kernel writes to its inputs
(add_weighted_outer updates its first argument by design), and every kernel has a reference and a
test here (`test_every_kernel_is_tested` fails when one is added without them).

All inputs come from local `np.random.default_rng(seed)` generators, seeded from the parameters.
"""
from __future__ import annotations

import os
import subprocess
import sys
import zlib
from pathlib import Path

import numba
import numpy as np
import pytest
from numba import njit

from wlra_core.solvers import kernels as K
from wlra_core.solvers.compiled import factor, grams, pcg, rownorm
from wlra_core.solvers.compiled.rownorm import inclusion

REPO = Path(__file__).resolve().parents[1]
KS = (1, 3, 12, 40)
F64 = 1e-12            # relative tolerance of float64 results
F32 = 1e-6             # relative tolerance of float32 results


def rng_for(*key):
    """A generator seeded from the test's parameters (stable across runs and platforms)."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def assert_close(got, ref, rtol=F64, scale=None, what=""):
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != reference {ref.shape}"
    assert np.all(np.isfinite(got)) == np.all(np.isfinite(ref)), f"{what}: finiteness differs"
    if scale is None:
        scale = float(np.max(np.abs(ref), initial=0.0))
    err = float(np.max(np.abs(got - ref), initial=0.0))
    assert err <= rtol * scale, (f"{what}: max |kernel − reference| = {err:.3e} > {rtol:g} · {scale:.3e}"
                                 f"\nkernel:\n{got}\nreference:\n{ref}")


# ----------------------------------------------------------------------------------------------
# sparse rows

# name: (n, m, how many entries each row has)
STRUCTURES = {
    "mixed": (23, 37, lambda rng, n, m: rng.integers(0, m + 1, n)),
    "empty_rows": (19, 29, lambda rng, n, m: np.where(rng.random(n) < 0.5, 0, rng.integers(1, m + 1, n))),
    "single_row": (1, 31, lambda rng, n, m: np.array([17])),
    "single_empty_row": (1, 8, lambda rng, n, m: np.array([0])),
    "no_entries": (7, 11, lambda rng, n, m: np.zeros(n, int)),
    "long_rows": (6, 300, lambda rng, n, m: rng.integers(150, m + 1, n)),
    "heavy_weights": (15, 61, lambda rng, n, m: rng.integers(0, m + 1, n)),   # log-normal w, zero y_j
}
# (indptr, indices) dtypes: the project's own layout (problem.py: int64 indptr, int32 indices, int64
# ones past 2³¹ − 1). Each combination is one more compilation of every CSR kernel (~5 s each
# after any edit of the kernels), so scipy's int32 indptr, which the engine never passes, is left out.
DTYPES = {"i64/i32": (np.int64, np.int32), "i64/i64": (np.int64, np.int64)}
ROWS = ("all", "subset_shuffled", "none")


def make_csr(structure, k, dtypes, seed_key=()):
    """CSR rows (indptr, indices, w, mv) with unsorted column indices, and Y (m, k)."""
    n, m, count = STRUCTURES[structure]
    rng = rng_for("csr", structure, k, dtypes, *seed_key)
    counts = np.asarray(count(rng, n, m), dtype=np.int64)
    p_t, i_t = DTYPES[dtypes]
    indptr = np.zeros(n + 1, p_t)
    np.cumsum(counts, out=indptr[1:])
    indices = np.concatenate([rng.permutation(m)[:c] for c in counts] + [np.zeros(0, int)]).astype(i_t)
    nnz = int(counts.sum())
    if structure == "heavy_weights":
        w = np.exp(2.0 * rng.standard_normal(nnz))
    else:
        w = rng.uniform(0.1, 2.0, nnz)
    mv = rng.standard_normal(nnz) * 3.0
    Y = rng.standard_normal((m, k))
    if structure == "heavy_weights":
        Y[rng.random(m) < 0.2] = 0.0               # entries with w·‖y_j‖² = 0
        Y *= np.exp(rng.standard_normal(m))[:, None]
    return indptr, indices, w, mv, np.ascontiguousarray(Y)


def make_rows(n, mode, rng):
    if mode == "all":
        return np.arange(n, dtype=np.int64)
    if mode == "none":
        return np.zeros(0, np.int64)
    take = max(1, (2 * n) // 3)
    return np.ascontiguousarray(rng.permutation(n)[:take], dtype=np.int64)


csr_params = pytest.mark.parametrize("structure", list(STRUCTURES))
k_params = pytest.mark.parametrize("k", KS)
dtype_params = pytest.mark.parametrize("dtypes", list(DTYPES))
# (`rows` modes are looped over inside each test: the same coverage with a third of the test items)


@csr_params
@k_params
@dtype_params
def test_csr_gram(structure, k, dtypes):
    indptr, indices, w, mv, Y = make_csr(structure, k, dtypes)
    for rows_mode in ROWS:
        rows = make_rows(len(indptr) - 1, rows_mode, rng_for("rows", structure, k, dtypes))
        got = K.csr_gram(indptr, indices, w, Y, rows)
        ref = K.csr_gram_reference(indptr, indices, w, Y, rows)
        assert got.dtype == np.float64
        assert_close(got, ref, what=f"csr_gram, rows {rows_mode}")


@csr_params
@k_params
@dtype_params
def test_csr_rhs(structure, k, dtypes):
    indptr, indices, w, mv, Y = make_csr(structure, k, dtypes)
    for rows_mode in ROWS:
        rows = make_rows(len(indptr) - 1, rows_mode, rng_for("rows", structure, k, dtypes))
        rhs, bnorm2, trace = K.csr_rhs(indptr, indices, w, mv, Y, rows)
        rrhs, rbnorm2, rtrace = K.csr_rhs_reference(indptr, indices, w, mv, Y, rows)
        # rhs is a sum with cancellation: its scale is the sum of the terms' sizes
        terms = K.csr_rhs_reference(indptr, indices, w, np.abs(mv), np.abs(Y), rows)[0]
        scale = max(float(np.max(np.abs(rrhs), initial=0.0)), float(np.max(terms, initial=0.0)))
        assert_close(rhs, rrhs, scale=scale, what=f"csr_rhs: rhs, rows {rows_mode}")
        assert_close(bnorm2, rbnorm2, what=f"csr_rhs: ‖b‖², rows {rows_mode}")
        assert_close(trace, rtrace, what=f"csr_rhs: trace, rows {rows_mode}")


@csr_params
@k_params
@dtype_params
def test_csr_apply(structure, k, dtypes):
    indptr, indices, w, mv, Y = make_csr(structure, k, dtypes)
    rng = rng_for("apply", structure, k, dtypes)
    for rows_mode in ROWS:
        rows = make_rows(len(indptr) - 1, rows_mode, rng)
        V = rng.standard_normal((len(rows), k))
        got = K.csr_apply(indptr, indices, w, Y, rows, V)
        ref = K.csr_apply_reference(indptr, indices, w, Y, rows, V)
        terms = K.csr_apply_reference(indptr, indices, w, np.abs(Y), rows, np.abs(V))
        scale = max(float(np.max(np.abs(ref), initial=0.0)), float(np.max(terms, initial=0.0)))
        assert_close(got, ref, scale=scale, what=f"csr_apply, rows {rows_mode}")


@csr_params
@k_params
@dtype_params
def test_csr_objective_rows(structure, k, dtypes):
    indptr, indices, w, mv, Y = make_csr(structure, k, dtypes)
    X = rng_for("X", structure, k, dtypes).standard_normal((len(indptr) - 1, k))
    got = K.csr_objective_rows(indptr, indices, w, mv, X, Y)
    ref = K.csr_objective_rows_reference(indptr, indices, w, mv, X, Y)
    assert_close(got, ref, what="csr_objective_rows")


def csr_rownorm_gram_ref(indptr, indices, w, Y, ynorm2, rows, s, u, uptr):
    """The row-norm sketch of CSR rows from `inclusion_reference` (plain numpy)."""
    k = Y.shape[1]
    out = np.zeros((len(rows), k, k))
    for r, i in enumerate(rows):
        sl = slice(indptr[i], indptr[i + 1])
        if sl.stop == sl.start:
            continue                       # inclusion_reference needs at least one entry
        pi = K.inclusion_reference(w[sl] * ynorm2[indices[sl]], s)
        keep = u[uptr[r]:uptr[r + 1]] < pi
        A = np.sqrt(w[sl][keep] / pi[keep])[:, None] * Y[indices[sl][keep]]
        out[r] = A.T @ A
    return out


def sketch_inputs(indptr, indices, w, Y, rows, rng):
    counts = np.diff(indptr)[rows]
    uptr = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(counts, out=uptr[1:])
    u = rng.random(int(uptr[-1]))
    ynorm2 = np.einsum("ij,ij->i", Y, Y)
    return ynorm2, u, uptr


@csr_params
@k_params
@dtype_params
@pytest.mark.parametrize("s_of_k", [0.5, 4.0])
def test_csr_rownorm_gram(structure, k, dtypes, s_of_k):
    indptr, indices, w, mv, Y = make_csr(structure, k, dtypes)
    rng = rng_for("sketch", structure, k, dtypes, s_of_k)
    s = max(1.0, s_of_k * k)
    m = Y.shape[0]
    for rows_mode in ROWS:
        rows = make_rows(len(indptr) - 1, rows_mode, rng)
        ynorm2, u, uptr = sketch_inputs(indptr, indices, w, Y, rows, rng)
        got = K.csr_rownorm_gram(indptr, indices, w, Y, ynorm2, rows, s, u, uptr)
        ref = csr_rownorm_gram_ref(indptr, indices, w, Y, ynorm2, rows, s, u, uptr)
        assert_close(got, ref, what=f"csr_rownorm_gram, rows {rows_mode}")

        # the same rows densified, with the same uniforms at their columns: the dense sketch agrees
        Wd, Ud = np.zeros((len(rows), m)), np.ones((len(rows), m))
        for r, i in enumerate(rows):
            cols = indices[indptr[i]:indptr[i + 1]]
            Wd[r, cols] = w[indptr[i]:indptr[i + 1]]
            Ud[r, cols] = u[uptr[r]:uptr[r + 1]]
        assert_close(got, K.dense_rownorm_gram_reference(Wd, Y, ynorm2, s, Ud),
                     what=f"csr vs dense reference, rows {rows_mode}")
        assert_close(got, K.dense_rownorm_gram(Wd, Y, ynorm2, s, Ud), what=f"csr vs dense kernel, rows {rows_mode}")


def test_csr_rownorm_gram_keeps_everything_when_s_is_large():
    """s above every row's count: π = 1 everywhere and the sketch is the exact Gram matrix."""
    indptr, indices, w, mv, Y = make_csr("mixed", 5, "i64/i32")
    rows = make_rows(len(indptr) - 1, "subset_shuffled", rng_for("large s"))
    ynorm2, u, uptr = sketch_inputs(indptr, indices, w, Y, rows, rng_for("large s u"))
    got = K.csr_rownorm_gram(indptr, indices, w, Y, ynorm2, rows, 1e6, u, uptr)
    assert_close(got, K.csr_gram_reference(indptr, indices, w, Y, rows), what="s ≫ N")


# ----------------------------------------------------------------------------------------------
# dense row-norm sketch

DENSE = {   # name: (b, m, W)
    "bernoulli": (17, 41, lambda rng, b, m: rng.uniform(0.1, 1.0, (b, m)) * (rng.random((b, m)) < 0.5)),
    "zero_rows": (9, 23, lambda rng, b, m: rng.uniform(0.1, 1.0, (b, m)) * (rng.random((b, 1)) < 0.5)),
    "lognormal": (11, 57, lambda rng, b, m: np.exp(2 * rng.standard_normal((b, m))) * (rng.random((b, m)) < 0.7)),
    "single_row": (1, 33, lambda rng, b, m: rng.uniform(0.1, 1.0, (b, m))),
    "no_rows": (0, 13, lambda rng, b, m: np.zeros((b, m))),
}


@pytest.mark.parametrize("case", list(DENSE))
@k_params
@pytest.mark.parametrize("s_of_k", [0.5, 4.0])
def test_dense_rownorm_gram(case, k, s_of_k):
    b, m, make_W = DENSE[case]
    rng = rng_for("dense", case, k, s_of_k)
    W = np.ascontiguousarray(make_W(rng, b, m))
    Y = rng.standard_normal((m, k))
    Y[rng.random(m) < 0.1] = 0.0
    ynorm2 = np.einsum("ij,ij->i", Y, Y)
    u = rng.random((b, m))
    s = max(1.0, s_of_k * k)
    got = K.dense_rownorm_gram(W, Y, ynorm2, s, u)
    ref = K.dense_rownorm_gram_reference(W, Y, ynorm2, s, u)
    assert got.shape == (b, k, k)
    assert_close(got, ref, what="dense_rownorm_gram")


# ----------------------------------------------------------------------------------------------
# the inclusion probabilities

@njit(cache=False)
def _inclusion_kernel(q, s):
    pi = np.empty_like(q)
    inclusion(q, s, pi)
    return pi


def _q(kind, rng):
    if kind == "uniform":
        return rng.random(200)
    if kind == "lognormal":
        return np.exp(2.0 * rng.standard_normal(300))
    if kind == "heavy":            # two entries carry almost all the mass
        return np.concatenate([[1000.0, 500.0], rng.random(98)])[rng.permutation(100)]
    if kind == "with_zeros":
        return rng.random(150) * (rng.random(150) < 0.4)
    if kind == "equal":
        return np.full(64, 0.37)
    if kind == "single":
        return np.array([2.5])
    raise ValueError(kind)


Q_KINDS = ("uniform", "lognormal", "heavy", "with_zeros", "equal", "single")


@pytest.mark.parametrize("kind", Q_KINDS)
@pytest.mark.parametrize("s", [1.0, 2.5, 12.0, 40.0, 1e4])
def test_inclusion(kind, s):
    q = _q(kind, rng_for("q", kind))
    pi = _inclusion_kernel(q, s)
    ref = K.inclusion_reference(q, s)
    assert_close(pi, ref, scale=1.0, what="_inclusion")
    assert np.all((pi >= 0) & (pi <= 1))
    assert np.all(pi[q == 0] == 0)
    positive = int((q > 0).sum())
    assert pi.sum() <= min(s, positive) * (1 + 1e-12)
    # Σπ = s when s is below the number of positive entries, else every positive entry is kept
    assert pi.sum() == pytest.approx(min(s, positive), rel=1e-9)
    if s >= positive:
        assert np.all(pi[q > 0] == 1.0)
    order = np.argsort(q, kind="stable")                    # π is non-decreasing in q
    assert np.all(np.diff(pi[order]) >= -1e-15)
    if kind == "heavy" and s >= 2.5:                         # (s = 1 cannot keep two entries for sure)
        assert np.all(pi[q >= 500] == 1.0)                 # the entries with most of the mass are sure
        if s < 40:
            assert np.all(pi[q < 500] < 1.0)


@pytest.mark.parametrize("q", [np.zeros(5), np.zeros(1)])
def test_inclusion_all_zero(q):
    assert np.array_equal(_inclusion_kernel(q, 3.0), np.zeros_like(q))
    assert np.array_equal(K.inclusion_reference(q, 3.0), np.zeros_like(q))


def test_inclusion_rescales_when_sure_entries_are_removed():
    """Three rounds needed: the kernel still sums to s and matches the reference."""
    q = np.concatenate([[1e6, 1e5, 1e4], np.ones(500)])
    pi = _inclusion_kernel(q, 20.0)
    assert np.array_equal(pi[:3], np.ones(3))
    assert pi.sum() == pytest.approx(20.0, rel=1e-12)
    assert_close(pi, K.inclusion_reference(q, 20.0), scale=1.0, what="_inclusion")


# ----------------------------------------------------------------------------------------------
# batched SPD solves

SPD_KINDS = ("spd", "spd_scaled", "indefinite", "singular_zero_col", "singular_ones", "zero",
             "illcond", "nan_rhs", "overflow")


def spd_batch(k, rng):
    """A batch mixing the kinds above (several rows of each), with NaN in every strict upper
    triangle (the kernels read the lower ones only)."""
    Hs, kinds = [], []
    for kind in SPD_KINDS * 2:
        B = rng.standard_normal((k, k))
        if kind == "spd":
            H = B @ B.T / k + np.eye(k)                    # eigenvalues in about [1, 5]
        elif kind == "spd_scaled":
            H = (B @ B.T / k + np.eye(k)) * 10.0 ** rng.uniform(-6, 6)
        elif kind == "indefinite":
            H = B @ B.T / k + np.eye(k)
            H[0, 0] = -3.0 - 2.0 * np.abs(H[0]).sum()       # the first pivot is negative
        elif kind == "singular_zero_col":
            H = B @ B.T / k + np.eye(k)
            j = rng.integers(k)
            H[j, :] = H[:, j] = 0.0                      # an exact zero pivot
        elif kind == "singular_ones":
            H = np.full((k, k), 4.0)                     # rank 1, pivots exactly 0 (k > 1)
        elif kind == "zero":
            H = np.zeros((k, k))
        elif kind == "illcond":                          # κ = 1e14: refinement moves x by ≫ tol
            Q, _ = np.linalg.qr(B)
            H = (Q * np.logspace(0, -14, k)) @ Q.T if k > 1 else np.array([[1e-14]])
            H = (H + H.T) / 2
        elif kind == "nan_rhs":
            H = B @ B.T / k + np.eye(k)
        elif kind == "overflow":
            H = np.eye(k) * 1e-300                       # x = rhs / 1e-300 overflows
        Hs.append(H)
        kinds.append(kind)
    H = np.array(Hs)
    iu = np.triu_indices(k, 1)
    H[:, iu[0], iu[1]] = np.nan
    rhs = rng.standard_normal((len(kinds), k))
    rhs[np.array(kinds) == "nan_rhs", -1] = np.nan
    over = np.array(kinds) == "overflow"
    rhs[over] = 1e10 * (1.0 + np.abs(rhs[over]))            # |x| ≥ 1e310 without the ridge
    return np.ascontiguousarray(H), rhs, np.array(kinds)


WHICH = ("all", "subset_shuffled", "none")


@pytest.mark.parametrize("k", KS + (70,))     # 70: the LAPACK path
@pytest.mark.parametrize("ridge", [0.0, 0.5])
@pytest.mark.parametrize("which_mode", WHICH)
def test_spd_solve(k, ridge, which_mode):
    rng = rng_for("spd", k, ridge, which_mode)
    H, rhs, kinds = spd_batch(k, rng)
    which = make_rows(len(kinds), which_mode, rng)
    tol = 1e-6
    with np.errstate(all="ignore"):
        x, ok = K.spd_solve(H, rhs, ridge, tol, which)
        rx, rok = K.spd_solve_reference(H, rhs, ridge, tol, which)
    assert x.shape == rhs.shape and ok.dtype == np.bool_
    disagree = np.flatnonzero(ok != rok)
    assert not len(disagree), (f"ok flags disagree on rows {disagree} (kinds {kinds[disagree]}): "
                               f"kernel {ok[disagree]}, reference {rok[disagree]}")
    for r in range(len(kinds)):
        assert_close(x[r], rx[r], what=f"spd_solve row {r} ({kinds[r]})")
    # what the flags must be, whatever the reference says
    chosen = np.zeros(len(kinds), bool)
    chosen[which] = True
    assert not ok[~chosen].any() and not x[~chosen].any()
    expect_ok = {"spd": True, "spd_scaled": True, "indefinite": False, "nan_rhs": False,
                 "zero": ridge > 0, "singular_zero_col": ridge > 0, "singular_ones": ridge > 0 or k == 1,
                 "illcond": ridge > 0 or k == 1, "overflow": ridge > 0}
    for r in which:
        assert ok[r] == expect_ok[kinds[r]], f"row {r} ({kinds[r]}): ok {ok[r]}"
    zero = chosen & (kinds == "zero") & ok
    if zero.any():
        assert_close(x[zero], rhs[zero] / ridge, what="(0 + λI)⁻¹ rhs")


@k_params
def test_spd_solve_against_numpy_solve(k):
    """Independent of the reference: x solves (H + λI) x = rhs to round-off."""
    rng = rng_for("spd numpy", k)
    B = rng.standard_normal((6, k, k))
    H = np.ascontiguousarray(B @ B.transpose(0, 2, 1) / k + np.eye(k))
    rhs = rng.standard_normal((6, k))
    x, ok = K.spd_solve(H, rhs, 0.25, 1e-8, np.arange(6, dtype=np.int64))
    assert ok.all()
    assert_close(x, np.linalg.solve(H + 0.25 * np.eye(k), rhs[..., None])[..., 0], what="spd_solve vs numpy")


def pack_lower(H):
    """The packed upper parts (`np.triu_indices` order) of the symmetric matrices whose lower
    triangles H holds (what DenseBlock.gram gives the exact solver)."""
    iu, ju = np.triu_indices(H.shape[-1])
    return np.ascontiguousarray(H[:, ju, iu])


@pytest.mark.parametrize("k", KS + (70,))
@pytest.mark.parametrize("ridge", [0.0, 0.5])
@pytest.mark.parametrize("which_mode", WHICH)
def test_spd_solve_packed(k, ridge, which_mode):
    """The same batches as spd_solve's, packed: the same flags and solutions as the reference and
    as spd_solve itself (LAPACK's factorisation against the compiled one)."""
    rng = rng_for("spd packed", k, ridge, which_mode)
    H, rhs, kinds = spd_batch(k, rng)
    P = pack_lower(H)
    which = make_rows(len(kinds), which_mode, rng)
    with np.errstate(all="ignore"):
        x, ok = K.spd_solve_packed(P, rhs, ridge, 1e-6, which)
        rx, rok = K.spd_solve_packed_reference(P, rhs, ridge, 1e-6, which)
        sx, sok = K.spd_solve(H, rhs, ridge, 1e-6, which)
    assert x.shape == rhs.shape and ok.dtype == np.bool_
    disagree = np.flatnonzero(ok != rok)
    assert not len(disagree), f"ok flags disagree on rows {disagree} (kinds {kinds[disagree]})"
    assert np.array_equal(ok, sok)
    for r in range(len(kinds)):
        assert_close(x[r], rx[r], what=f"spd_solve_packed row {r} ({kinds[r]})")
        assert_close(x[r], sx[r], what=f"spd_solve_packed vs spd_solve row {r} ({kinds[r]})")
    chosen = np.zeros(len(kinds), bool)
    chosen[which] = True
    assert not ok[~chosen].any() and not x[~chosen].any()


@pytest.mark.parametrize("k", (1, 5, 16))
@pytest.mark.parametrize("part", ["all", "chunk"])
def test_packed_pairs(k, part):
    rng = rng_for("packed pairs", k, part)
    Y = rng.standard_normal((23, k))
    iu, ju = (np.ascontiguousarray(a, dtype=np.int64) for a in np.triu_indices(k))
    if part == "chunk":
        iu, ju = iu[1::2].copy(), ju[1::2].copy()
    got = K.packed_pairs(Y, iu, ju)
    assert got.dtype == Y.dtype and got.shape == (23, len(iu))
    assert np.array_equal(got, K.packed_pairs_reference(Y, iu, ju))


@k_params
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("b", [0, 1, 9])
def test_unpack(k, dtype, b):
    P = rng_for("unpack", k, dtype.__name__, b).standard_normal((b, k * (k + 1) // 2)).astype(dtype)
    got = K.unpack(P, k)
    assert got.dtype == dtype
    assert np.array_equal(got, K.unpack_reference(P, k))
    assert np.array_equal(got, got.transpose(0, 2, 1))
    iu = np.triu_indices(k)
    assert np.array_equal(got[:, iu[0], iu[1]], P)


# ----------------------------------------------------------------------------------------------
# float32 Cholesky factors and their two substitutions

CHOL_KINDS = ("spd", "spd_scaled", "singular_shifted", "indefinite", "zero", "zero_shifted", "nan_lower",
              "nan_diagonal", "inf_lower", "beyond_float32")


def chol_batch(k, rng, dtype):
    Hs, shift = [], []
    for kind in CHOL_KINDS:
        B = rng.standard_normal((k, k))
        H, sh = B @ B.T / k + np.eye(k), 0.0
        if kind == "spd_scaled":
            H, sh = H * 10.0 ** rng.uniform(-4, 4), 1e-3
        elif kind == "singular_shifted":
            H, sh = np.outer(B[0], B[0]), 0.5
        elif kind == "indefinite":
            H[0, 0] = -1.0 - 2.0 * np.abs(H[0]).sum()
        elif kind == "zero":
            H = np.zeros((k, k))
        elif kind == "zero_shifted":
            H, sh = np.zeros((k, k)), 2.0
        elif kind == "nan_lower":
            H[-1, 0] = np.nan                       # (the diagonal when k = 1)
        elif kind == "nan_diagonal":
            H[k // 2, k // 2] = np.nan
        elif kind == "inf_lower":
            H[-1, 0] = np.inf
        elif kind == "beyond_float32":              # a pivot² above float32's range: not ok
            H[0, 0] = 1e39
        Hs.append(H)
        shift.append(sh)
    H = np.array(Hs)
    iu = np.triu_indices(k, 1)
    H[:, iu[0], iu[1]] = np.nan                       # never read
    with np.errstate(over="ignore"):                  # 1e39 is inf in float32: not ok either
        H = H.astype(dtype)
    return np.ascontiguousarray(H), np.array(shift), np.array(CHOL_KINDS)


@pytest.mark.parametrize("k", KS + (70,))     # 70: the LAPACK path
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cholesky32(k, dtype):
    H, shift, kinds = chol_batch(k, rng_for("cholesky32", k, dtype.__name__), dtype)
    with np.errstate(all="ignore"):
        L, ok = K.cholesky32(H, shift)
    assert L.dtype == np.float32 and L.shape == H.shape and ok.dtype == np.bool_
    expect = np.isin(kinds, ("spd", "spd_scaled", "singular_shifted", "zero_shifted"))
    assert np.array_equal(ok, expect), f"ok {ok} for kinds {kinds}"
    ref = K.cholesky32_reference(H[expect].astype(np.float64), shift[expect])
    for r, rr in zip(np.flatnonzero(expect), ref):
        assert_close(L[r], rr, rtol=F32, what=f"cholesky32 ({kinds[r]})")
        assert not np.triu(L[r], 1).any()                      # the upper triangle is zero
    assert not L[~expect].any()                                 # rows that failed are left zero


@k_params
@pytest.mark.parametrize("b", [0, 1, 9])
def test_cho_apply(k, b):
    rng = rng_for("cho_apply", k, b)
    B = rng.standard_normal((b, k, k))
    H = B @ B.transpose(0, 2, 1) / k + np.eye(k)
    L = np.linalg.cholesky(H).astype(np.float32) if b else np.zeros((0, k, k), np.float32)
    V = rng.standard_normal((b, k)) * 10.0 ** rng.uniform(-3, 3, (b, 1))
    Lnan = L.copy()
    iu = np.triu_indices(k, 1)
    Lnan[:, iu[0], iu[1]] = np.nan                             # the upper triangle is never read
    got = K.cho_apply(np.ascontiguousarray(Lnan), V)
    ref = K.cho_apply_reference(L, V)
    assert got.dtype == np.float64 and got.shape == (b, k)
    for r in range(b):
        assert_close(got[r], ref[r], what=f"cho_apply row {r}")


@k_params
@pytest.mark.parametrize("b", [0, 1, 9])
def test_cho_apply_rows(k, b):
    """Some rows' factors, in any order and repeated, read in place: the rows' own solves."""
    rng = rng_for("cho_apply_rows", k, b)
    B = rng.standard_normal((11, k, k))
    L = np.linalg.cholesky(B @ B.transpose(0, 2, 1) / k + np.eye(k)).astype(np.float32)
    rows = np.ascontiguousarray(rng.integers(0, 11, b), dtype=np.int64)
    V = rng.standard_normal((b, k)) * 10.0 ** rng.uniform(-3, 3, (b, 1))
    got = K.cho_apply_rows(L, rows, V)
    ref = K.cho_apply_rows_reference(L, rows, V)
    assert got.dtype == np.float64 and got.shape == (b, k)
    for j in range(b):
        assert_close(got[j], ref[j], what=f"cho_apply_rows row {j}")
        assert_close(got[j], K.cho_apply(L[rows[j]:rows[j] + 1], V[j:j + 1])[0], rtol=0, what="same as cho_apply")


@pytest.mark.parametrize("k", KS + (70,))     # 70: the LAPACK path
def test_cholesky32_then_cho_apply_solves(k):
    """The two together: (H + λI) z = v to float32 accuracy of the factor."""
    rng = rng_for("chol solve", k)
    B = rng.standard_normal((7, k, k))
    H = np.ascontiguousarray(B @ B.transpose(0, 2, 1) / k + np.eye(k))
    shift = rng.uniform(0, 1, 7)
    V = rng.standard_normal((7, k))
    L, ok = K.cholesky32(H, shift)
    assert ok.all()
    z = K.cho_apply(L, V)
    full = H + shift[:, None, None] * np.eye(k)
    assert_close(np.einsum("rac,rc->ra", full, z), V, rtol=1e-5, scale=float(np.abs(V).max()), what="(H+λI) z")


# ----------------------------------------------------------------------------------------------
# the shared-sample sketch's pieces

@k_params
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("h", [1, 5, 30])
def test_add_weighted_outer(k, dtype, h):
    rng = rng_for("add_weighted_outer", k, dtype.__name__, h)
    b, m = 11, 40
    Y = rng.standard_normal((m, k)).astype(dtype)
    A = rng.standard_normal((b, k, k))
    G0 = np.ascontiguousarray((A + A.transpose(0, 2, 1)).astype(dtype))
    cols = np.ascontiguousarray(rng.integers(0, m, (b, h)), dtype=np.int64)      # repeats allowed
    coef = (rng.standard_normal((b, h)) * 3).astype(dtype)                         # negative ones too
    G = G0.copy()
    assert K.add_weighted_outer(G, Y, cols, coef) is None                          # in place
    ref = K.add_weighted_outer_reference(G0, Y, cols, coef)
    assert G.dtype == dtype
    absref = K.add_weighted_outer_reference(np.abs(G0), np.abs(Y), cols, np.abs(coef))
    rtol = F64 if dtype == np.float64 else F32 * max(1.0, h / 4)
    assert_close(G, ref, rtol=rtol, scale=float(np.abs(absref).max()), what="add_weighted_outer")


# ----------------------------------------------------------------------------------------------
# the fused inner iterations (pcg_dense, pcg_csr) against a per-row numpy loop

PCG_MODES = {                      # name: (preconditioned, gd, ridge)
    "cg": (False, False, 0.0),
    "cg_ridge": (False, False, 0.3),
    "pcg": (True, False, 0.0),
    "pcg_ridge": (True, False, 0.3),
    "gd": (True, True, 0.0),
}
# (eps, max_inner): every row runs 2 iterations (fewer than k: CG has not converged exactly,
# which would leave the last steps to round-off); rows stop on the rule
PCG_STOPS = {"fixed": (1e-300, 2), "rule": (1e-6, 100)}


def pcg_inputs(Wdense, Y, rng, preconditioned, ridge):
    """Right-hand sides, ‖b‖, traces, warm starts (one far off, one zero) and float32 factors of
    slightly perturbed Gram matrices (a preconditioner, not the inverse)."""
    b, m = Wdense.shape
    k = Y.shape[1]
    Mv = rng.standard_normal((b, m)) * 2.0
    rhs = np.ascontiguousarray((Wdense * Mv) @ Y)
    bnorm = np.sqrt(np.einsum("ij,ij,ij->i", Wdense, Mv, Mv))
    trace = Wdense @ np.einsum("ij,ij->i", Y, Y)
    x0 = rng.standard_normal((b, k))
    x0[:1] *= 1e6                                 # worse than x = 0: dropped
    x0[1:2] = 0.0
    if preconditioned:
        G = np.einsum("bj,ja,jc->bac", Wdense, Y, Y) + np.eye(k)
        E = rng.standard_normal((b, k, k)) * 0.05
        G = G + np.einsum("bac,bdc->bad", E, E) * np.trace(G, axis1=1, axis2=2)[:, None, None] / k
        L = np.linalg.cholesky(G).astype(np.float32)
    else:
        L = np.zeros((1, k, k), np.float32)
    return rhs, bnorm, trace, np.ascontiguousarray(x0), np.ascontiguousarray(L)


def assert_pcg_agree(got, ref, stop, what):
    x, iters, rel = got
    xr, itr, relr = ref
    assert x.dtype == np.float64 and iters.dtype == np.int64 and rel.dtype == np.float64
    assert x.shape == xr.shape and iters.shape == itr.shape
    # two iterations agree to round-off; run to the rule, CG's trajectories drift apart with the
    # order of its sums (heavy weights, no preconditioner): agreement to the tolerance's order
    rtol = 1e-9 if stop == "fixed" else 1e-5
    spread = 0 if stop == "fixed" else 1
    assert np.abs(iters - itr).max(initial=0) <= spread, f"{what}: iterations {iters} != reference {itr}"
    for r in range(len(x)):                        # each row on its own scale
        assert_close(x[r], xr[r], rtol=rtol, scale=max(float(np.abs(xr[r]).max()), 1e-300),
                     what=f"{what} row {r}")
    if stop == "rule":                             # both below the tolerance where they stopped
        assert np.all(rel[iters < 100] <= 1e-6) and np.all(relr[itr < 100] <= 1e-6), what
    else:   # relative stopping measures: equal to 1e-6 of the largest, or both at round-off (1e-9)
        assert_close(rel, relr, rtol=1e-6, scale=max(float(relr.max(initial=0.0)), 1e-3), what=f"{what} rel")


@pytest.mark.parametrize("k", (3, 12, 40))
@pytest.mark.parametrize("mode", list(PCG_MODES))
@pytest.mark.parametrize("stop", list(PCG_STOPS))
def test_pcg_dense(k, mode, stop):
    preconditioned, gd, ridge = PCG_MODES[mode]
    eps, max_inner = PCG_STOPS[stop]
    rng = rng_for("pcg_dense", k, mode, stop)
    b, m = 11, 3 * k + 20
    W = rng.uniform(0.1, 2.0, (b, m)) * (rng.random((b, m)) < 0.7)
    W[-1] = 0.0                                    # an empty row
    Y = np.ascontiguousarray(rng.standard_normal((m, k)))
    rhs, bnorm, trace, x0, L = pcg_inputs(W, Y, rng, preconditioned, ridge)
    Lnan = L.copy()
    iu = np.triu_indices(k, 1)
    Lnan[:, iu[0], iu[1]] = np.nan                 # the upper triangles are never read
    args = (W, Y, x0, rhs, bnorm, trace)
    tail = (ridge, eps, max_inner, gd)
    got = K.pcg_dense(*args, Lnan, preconditioned, *tail)
    ref = K.pcg_dense_reference(*args, L, preconditioned, *tail)
    assert_pcg_agree(got, ref, stop, f"pcg_dense {mode}")
    assert got[1][-1] == 0                          # the empty row: nothing to iterate


@csr_params
@pytest.mark.parametrize("k", (3, 12, 40))
@pytest.mark.parametrize("mode", ["cg", "pcg_ridge", "gd"])
def test_pcg_csr(structure, k, mode):
    preconditioned, gd, ridge = PCG_MODES[mode]
    indptr, indices, w, mv, Y = make_csr(structure, k, "i64/i32")
    n, m = len(indptr) - 1, Y.shape[0]
    rng = rng_for("pcg_csr", structure, k, mode)
    counts = np.diff(indptr)
    for rows_mode in ROWS:
        rows = make_rows(n, rows_mode, rng_for("rows", structure, k, mode))
        # the solvers iterate on long rows only (shorter ones are solved exactly): on a singular
        # system, unpreconditioned CG drifts along the null space as round-off dictates
        rows = np.ascontiguousarray(rows[(counts[rows] >= 2 * k) | (counts[rows] == 0)])
        Wd = np.zeros((n, m))
        for i in range(n):
            Wd[i, indices[indptr[i]:indptr[i + 1]]] = w[indptr[i]:indptr[i + 1]]
        rhs, bnorm, trace, x0, L = pcg_inputs(Wd[rows], Y, rng, preconditioned, ridge)
        for stop, (eps, max_inner) in PCG_STOPS.items():
            tail = (preconditioned, ridge, eps, max_inner, gd)
            got = K.pcg_csr(indptr, indices, w, Y, rows, x0, rhs, bnorm, trace, L, *tail)
            ref = K.pcg_csr_reference(indptr, indices, w, Y, rows, x0, rhs, bnorm, trace, L, *tail)
            assert_pcg_agree(got, ref, stop, f"pcg_csr {mode}, rows {rows_mode}, {stop}")
            # the same rows densified: the dense kernel agrees with the sparse one
            if len(rows) and structure != "heavy_weights":
                dense = K.pcg_dense(np.ascontiguousarray(Wd[rows]), Y, x0, rhs, bnorm, trace, L, *tail)
                assert_pcg_agree(dense, got, stop, "pcg_dense vs pcg_csr")


def test_pcg_stops_on_overflow_with_the_last_finite_iterate():
    """A row whose step overflows keeps its last finite iterate (as the block iterations do)."""
    rng = rng_for("pcg overflow")
    k, m = 3, 12
    W = np.ones((2, m))
    Y = rng.standard_normal((m, k))
    Y[:, 0] *= 1e200                                 # AᵀA overflows on the first coordinate
    rhs = np.array([[1e-100, 1.0, 1.0], [0.0, 1.0, -1.0]])
    args = (W, Y, np.zeros((2, k)), rhs, np.ones(2), np.ones(2), np.zeros((1, k, k), np.float32),
            False, 0.0, 1e-12, 50, False)
    with np.errstate(all="ignore"):
        x, iters, rel = K.pcg_dense(*args)
        xr, itr, relr = K.pcg_dense_reference(*args)
    assert np.all(np.isfinite(x)) and np.array_equal(iters, itr)
    assert np.array_equal(np.isfinite(rel), np.isfinite(relr))


LOCAL_REFERENCES = {"csr_rownorm_gram": csr_rownorm_gram_ref}     # kernels.py has none for it


def test_every_kernel_is_tested():
    """Each compiled kernel (a parallel one: the serial ones are helpers inside them) is exported by
    its module and kernels.py, and has a reference and a test here (a new one needs both)."""
    modules = (factor, grams, pcg, rownorm)
    parallel = {name for mod in modules for name, obj in vars(mod).items()
                if isinstance(obj, numba.core.registry.CPUDispatcher) and obj.targetoptions.get("parallel")}
    exported = {name for mod in modules for name in mod.__all__}
    assert parallel <= exported, f"kernels missing from their module's __all__: {sorted(parallel - exported)}"
    kernels = {name for name, obj in vars(K).items()
               if isinstance(obj, numba.core.registry.CPUDispatcher) and not name.startswith("_")}
    assert kernels == parallel, f"kernels.py exports {sorted(kernels ^ parallel)} differently"
    tested = {name[len("test_"):] for name in globals() if name.startswith("test_")}
    missing_ref = sorted(n for n in kernels if not hasattr(K, n + "_reference") and n not in LOCAL_REFERENCES)
    untested = sorted(n for n in kernels if n not in tested)
    assert not missing_ref, f"kernels without a numpy reference: {missing_ref}"
    assert not untested, f"kernels without a test in tests/test_kernels.py: {untested}"
    assert set(battery()) == kernels, "battery() (threads, inputs) must run every kernel"


# ----------------------------------------------------------------------------------------------
# thread count and inputs

def battery(seed=0, b=257):
    """Every kernel once on inputs big enough for prange to split them: {name: (kernel, args)}."""
    rng = np.random.default_rng(seed)
    n, m, k = b, 90, 7
    counts = rng.integers(0, m + 1, n)
    counts[::11] = 0
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.concatenate([rng.permutation(m)[:c] for c in counts]).astype(np.int32)
    w = np.exp(rng.standard_normal(len(indices)))
    mv = rng.standard_normal(len(indices))
    Y = rng.standard_normal((m, k))
    X = rng.standard_normal((n, k))
    rows = np.ascontiguousarray(rng.permutation(n), dtype=np.int64)
    V = rng.standard_normal((n, k))
    ynorm2 = np.einsum("ij,ij->i", Y, Y)
    uptr = np.zeros(n + 1, np.int64)
    np.cumsum(counts[rows], out=uptr[1:])
    u = rng.random(int(uptr[-1]))
    W = rng.uniform(0.1, 1, (n, m)) * (rng.random((n, m)) < 0.5)
    ud = rng.random((n, m))
    B = rng.standard_normal((n, k, k))
    H = np.ascontiguousarray(B @ B.transpose(0, 2, 1) / k + np.eye(k))
    H[::13, 0, 0] = -1.0                                      # some rows fail
    rhs = rng.standard_normal((n, k))
    which = np.ascontiguousarray(rng.permutation(n)[: n - 10], dtype=np.int64)
    P = rng.standard_normal((n, k * (k + 1) // 2))
    L, _ = K.cholesky32(np.ascontiguousarray(B @ B.transpose(0, 2, 1) / k + np.eye(k)), np.zeros(n))
    Y32 = Y.astype(np.float32)
    cols = np.ascontiguousarray(rng.integers(0, m, (n, 9)), dtype=np.int64)
    coef = rng.standard_normal((n, 9)).astype(np.float32)
    G32 = np.ascontiguousarray(rng.standard_normal((n, k, k)).astype(np.float32))
    return {
        "csr_gram": (K.csr_gram, (indptr, indices, w, Y, rows)),
        "csr_rhs": (K.csr_rhs, (indptr, indices, w, mv, Y, rows)),
        "csr_apply": (K.csr_apply, (indptr, indices, w, Y, rows, V)),
        "csr_objective_rows": (K.csr_objective_rows, (indptr, indices, w, mv, X, Y)),
        "csr_rownorm_gram": (K.csr_rownorm_gram, (indptr, indices, w, Y, ynorm2, rows, 2.0 * k, u, uptr)),
        "dense_rownorm_gram": (K.dense_rownorm_gram, (W, Y, ynorm2, 2.0 * k, ud)),
        "spd_solve": (K.spd_solve, (H, rhs, 0.0, 1e-6, which)),
        "unpack": (K.unpack, (P, k)),
        "cholesky32": (K.cholesky32, (H, np.full(n, 1e-3))),
        "cho_apply": (K.cho_apply, (L, V)),
        "cho_apply_rows": (K.cho_apply_rows, (L, np.ascontiguousarray(rng.permutation(n)[: n - 3], dtype=np.int64),
                                              V[: n - 3])),
        "add_weighted_outer": (K.add_weighted_outer, (G32, Y32, cols, coef)),     # in place: G32 is its result
        "spd_solve_packed": (K.spd_solve_packed, (pack_lower(H), rhs, 0.1, 1e-6, which)),
        "packed_pairs": (K.packed_pairs, (Y, *(np.ascontiguousarray(a, dtype=np.int64) for a in np.triu_indices(k)))),
        "pcg_dense": (K.pcg_dense, (W, Y, V, rhs, np.ones(n), W @ ynorm2, L, True, 0.1, 1e-8, 20, False)),
        "pcg_csr": (K.pcg_csr, (indptr, indices, w, Y, rows, V, rhs, np.ones(n), np.ones(n), L, False,
                                0.0, 1e-8, 20, False)),
    }


IN_PLACE = {"add_weighted_outer": 0}      # kernel: the argument it updates (its result)


def run_battery(cases):
    out = {}
    for name, (fn, args) in cases.items():
        if name in IN_PLACE:
            args = list(args)
            args[IN_PLACE[name]] = args[IN_PLACE[name]].copy()
            fn(*args)
            out[name] = (args[IN_PLACE[name]],)
            continue
        res = fn(*args)
        out[name] = res if isinstance(res, tuple) else (res,)
    return out


def assert_bit_identical(a, b, what):
    for name in a:
        for i, (x, y) in enumerate(zip(a[name], b[name])):
            assert x.dtype == y.dtype and x.shape == y.shape, f"{what}: {name}[{i}]"
            assert x.tobytes() == y.tobytes(), f"{what}: {name}[{i}] differs bit for bit"


def test_results_do_not_depend_on_the_number_of_threads():
    cases = battery()
    default = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run_battery(cases)
    finally:
        numba.set_num_threads(default)
    many = run_battery(cases)
    assert_bit_identical(one, many, f"1 thread vs {default}")


@pytest.mark.slow
def test_results_do_not_depend_on_the_number_of_threads_oversubscribed(tmp_path):
    """More threads than cores (5, an odd count so the chunks are uneven), in a fresh process."""
    script = (
        "import sys, numpy as np\n"
        f"sys.path.insert(0, {str(REPO / 'tests')!r})\n"
        "import numba, test_kernels as T\n"
        "assert numba.get_num_threads() == 5, numba.get_num_threads()\n"
        "out = T.run_battery(T.battery())\n"
        "np.savez(sys.argv[1], **{f'{n}__{i}': a for n, r in out.items() for i, a in enumerate(r)})\n"
    )
    env = dict(os.environ, NUMBA_NUM_THREADS="5", PYTHONPATH=str(REPO))
    path = tmp_path / "five.npz"
    subprocess.run([sys.executable, "-c", script, str(path)], env=env, cwd=tmp_path, check=True, timeout=240)
    five = {}
    with np.load(path) as f:
        for key in f.files:
            name, i = key.rsplit("__", 1)
            five.setdefault(name, {})[int(i)] = f[key]
    five = {name: tuple(d[i] for i in sorted(d)) for name, d in five.items()}
    default = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run_battery(battery())
    finally:
        numba.set_num_threads(default)
    assert set(five) == set(one)
    assert_bit_identical(one, five, "1 thread vs 5")


def test_inputs_are_not_modified():
    cases = battery(seed=3, b=61)
    before = {name: [a.copy() if isinstance(a, np.ndarray) else a for a in args] for name, (_, args) in cases.items()}
    run_battery(cases)
    for name, (_, args) in cases.items():
        for i, (a, a0) in enumerate(zip(args, before[name])):
            if isinstance(a, np.ndarray):
                assert a.dtype == a0.dtype and np.array_equal(a, a0, equal_nan=True), f"{name} modified argument {i}"
            else:
                assert a == a0
    # the NaN-filled upper triangles of the solver tests too
    H, rhs, kinds = spd_batch(5, rng_for("inputs"))
    H0, rhs0 = H.copy(), rhs.copy()
    which = np.arange(len(kinds), dtype=np.int64)
    with np.errstate(all="ignore"):
        K.spd_solve(H, rhs, 0.0, 1e-6, which)
    K.cholesky32(H, np.zeros(len(kinds)))
    assert np.array_equal(H, H0, equal_nan=True) and np.array_equal(rhs, rhs0, equal_nan=True)
    q = _q("lognormal", rng_for("inputs q"))
    q0 = q.copy()
    _inclusion_kernel(q, 5.0)
    assert np.array_equal(q, q0)
