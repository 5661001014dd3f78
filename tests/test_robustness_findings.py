"""Regression tests for the library findings of issue 12 (an outside tester's round): each test is
named after what broke. The input-type fuzz of the same class is in tests/test_input_types.py."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import wlra_core as wc
from wlra_core.sketches import SKETCHES, sketch_gram


def quiet_solve(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wc.ConvergenceWarning)
        return wc.solve(*args, **kwargs)


# ----------------------------------------------------------------------------------------------
# 8. the memory budget changed the answer

@pytest.mark.parametrize("kind", SKETCHES)
@pytest.mark.parametrize("layout", ["dense", "sparse"])
def test_a_rows_sketch_does_not_depend_on_the_rows_batched_with_it(kind, layout):
    """The same rows sketched as one batch or as two (a different padding width for sparse rows,
    different chunks) get the very same Grams from the same seed."""
    rng = np.random.default_rng(3)
    m, k, s = 90, 4, 12
    Y = rng.standard_normal((m, k))
    lengths = [70, 20, 45, 90, 30, 60]
    if layout == "dense":
        idx = None
        w = rng.uniform(0.1, 1.0, (len(lengths), m)) * (rng.random((len(lengths), m)) < 0.6)
    else:
        N = max(lengths)
        idx = np.zeros((len(lengths), N), np.int64)
        w = np.zeros((len(lengths), N))
        for i, n_i in enumerate(lengths):
            idx[i, :n_i] = np.sort(rng.choice(m, n_i, replace=False))
            w[i, :n_i] = rng.uniform(0.1, 1.0, n_i)
    whole = sketch_gram(kind, s, Y, idx, w, np.random.default_rng(9))
    gen = np.random.default_rng(9)
    parts = []
    for rows in (slice(0, 2), slice(2, 6)):
        wi = w[rows]
        ii = None if idx is None else idx[rows]
        if idx is not None:                      # each batch padded only to its own longest row
            width = int(np.count_nonzero(wi, axis=1).max())
            wi, ii = wi[:, :width], ii[:, :width]
        parts.append(sketch_gram(kind, s, Y, ii, wi, gen))
    assert np.array_equal(whole, np.concatenate(parts))


def _budget_problem(sparse):
    rng = np.random.default_rng(12)
    n, m, k = 1500, 400, 32
    U, V = rng.standard_normal((n, k)), rng.standard_normal((m, k))
    M = U @ V.T + 0.1 * rng.standard_normal((n, m))
    mask = rng.random((n, m)) < 0.15
    W = sp.csr_array(mask.astype(float)) if sparse else mask.astype(float)
    return M, W, k


@pytest.mark.parametrize("sketch", ["rownorm", "sparse_sign"])
@pytest.mark.parametrize("sparse", [True, False], ids=["sparse", "dense"])
def test_the_memory_budget_does_not_change_the_sketched_result(sparse, sketch):
    """Budgets of 36 MiB, 48 MiB and 1 GiB cut the rows into blocks of about 580 and 800 rows or
    one block (k = 32, 1500 × 400): the factors agree to round-off, and the same budget twice
    gives the same bits. Sparse rows are solved one by one in compiled loops, so exactly; dense
    blocks go through BLAS products whose rounding may depend on their shape."""
    M, W, k = _budget_problem(sparse)
    kw = dict(solver="sketched", sketch=sketch, max_iter=3, eps=1e-12, seed=4)
    runs = [quiet_solve(M, W, k, memory_budget=b, **kw) for b in (36 << 20, 48 << 20, 1 << 30)]
    again = quiet_solve(M, W, k, memory_budget=36 << 20, **kw)
    assert np.array_equal(again.X, runs[0].X) and np.array_equal(again.Y, runs[0].Y)
    ref = runs[-1].low_rank()
    scale = np.abs(ref).max()
    for r in runs[:-1]:
        diff = np.abs(r.low_rank() - ref).max() / scale
        assert diff == 0.0 if sparse else diff < 1e-11


# ----------------------------------------------------------------------------------------------
# 7. concurrent solves left the process's BLAS at one thread: in tests/test_threads.py


# ----------------------------------------------------------------------------------------------
# 6. complex inputs lost their imaginary part, masked arrays' masks were ignored

def _small(seed=0, n=12, m=9):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, m)), (rng.random((n, m)) < 0.8).astype(float)


@pytest.mark.parametrize("which", ["M", "W"])
@pytest.mark.parametrize("layout", ["dense", "sparse"])
@pytest.mark.parametrize("imag", [0.5, 0.0], ids=["imaginary", "zero-imaginary"])
def test_complex_M_or_W_is_refused_not_cast_to_its_real_part(which, layout, imag):
    M, W = _small()
    conv = sp.csr_array if layout == "sparse" else np.asarray
    args = {"M": M, "W": W}
    args[which] = conv(args[which] + 1j * imag)
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # no ComplexWarning either: refused first
        with pytest.raises(wc.InputError, match=rf"^{which}: found complex values .*need a real matrix"):
            wc.solve(args["M"], args["W"], 2, max_iter=2)


@pytest.mark.parametrize("masked, layout", [("M", "dense"), ("W", "dense"), ("both", "dense"),
                                            ("M", "sparse")])   # a sparse W cannot be masked
def test_a_masked_arrays_masked_entries_get_weight_zero(masked, layout):
    """The masked entries hold a huge value (in M) or a huge weight (in W): ignoring the mask
    would fit them. The result equals the fit with those weights set to 0, and the caller's
    arrays (data and mask) are unchanged."""
    M, W = _small(1)
    mask = np.zeros(M.shape, bool)
    mask[[0, 3, 7], [1, 4, 2]] = True
    Mx, Wx = M.copy(), W.copy()
    if masked in ("M", "both"):
        Mx[mask] = 1e6
        Mx = np.ma.array(Mx, mask=mask)
    if masked in ("W", "both"):
        Wx[mask] = 1e6
        Wx = np.ma.array(Wx, mask=mask)
    if layout == "sparse":
        Wx = sp.csr_array(Wx)
    kept = [np.ma.getdata(A).copy() for A in (Mx, Wx) if isinstance(A, np.ma.MaskedArray)]
    W0 = np.where(mask, 0.0, W)
    got = quiet_solve(Mx, Wx, 3, solver="exact", max_iter=5, seed=2)
    want = quiet_solve(M, sp.csr_array(W0) if layout == "sparse" else W0, 3, solver="exact", max_iter=5, seed=2)
    assert np.allclose(got.low_rank(), want.low_rank(), rtol=1e-10, atol=1e-10)
    assert got.objective == pytest.approx(want.objective, rel=1e-10)
    now = [np.ma.getdata(A) for A in (Mx, Wx) if isinstance(A, np.ma.MaskedArray)]
    assert all(np.array_equal(a, b) for a, b in zip(kept, now))
    assert all(np.array_equal(np.ma.getmaskarray(A), mask) for A in (Mx, Wx) if isinstance(A, np.ma.MaskedArray))


# ----------------------------------------------------------------------------------------------
# 10. the edges of the float range

@pytest.mark.parametrize("layout", ["dense", "sparse"])
def test_values_near_1e308_are_refused_naming_M_instead_of_inf_factors(layout):
    M, W = _small(2, n=30, m=20)
    W = sp.csr_array(W) if layout == "sparse" else W
    with pytest.raises(wc.InputError, match=r"^M: found a value of magnitude 1\.5e\+308, need \|M\| ≤ 1\.64e\+307 "
                                            r"for a 30×20 matrix .* Scale M down"):
        wc.solve(1.5e308 * (M / np.abs(M).max()), W, 3, max_iter=3)


@pytest.mark.parametrize("solver", ["exact", "sketched", "cg", "em", "auto"])
def test_values_at_the_largest_accepted_magnitude_give_finite_factors_and_reconstruction(solver):
    M, W = _small(3, n=30, m=20)
    top = np.finfo(float).max / (2 * np.sqrt(30))
    M = top * np.clip(M / np.abs(M).max(), -1, 1)
    res = quiet_solve(M, W, 3, solver=solver, max_iter=5)
    assert np.isfinite(res.X).all() and np.isfinite(res.Y).all() and np.isfinite(res.low_rank()).all()
    assert 0 < res.relative_objective < 1


@pytest.mark.parametrize("solver", ["exact", "sketched", "cg", "auto"])
@pytest.mark.parametrize("ridge, scale", [(1e308, 1e-10), (1e300, 1e-300)])
def test_a_ridge_of_1e308_with_tiny_values_prints_no_lapack_errors_and_gives_zero_factors(solver, ridge, scale):
    """LAPACK's "illegal value" lines are written by the C library to file descriptor 2, so the
    solve runs in a child process whose stderr is read whole."""
    import subprocess
    import sys

    code = ("import warnings, numpy as np, wlra_core as wc\n"
            "warnings.simplefilter('ignore')\n"
            "rng = np.random.default_rng(0)\n"
            "M = rng.standard_normal((30, 20)); W = (rng.random((30, 20)) < 0.7) * 1.0\n"
            f"r = wc.solve(M * {scale!r}, W, 3, solver={solver!r}, ridge={ridge!r}, max_iter=3)\n"
            "assert np.isfinite(r.X).all() and np.isfinite(r.Y).all()\n"
            "print(float(np.abs(r.low_rank()).max()), r.relative_objective)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == ""
    biggest, rel = map(float, done.stdout.split())
    assert biggest <= 1e-200 * scale and rel == pytest.approx(1.0, abs=1e-12)


# ----------------------------------------------------------------------------------------------
# 11 (part). two threads on one generator: "generator already executing"

def test_two_threads_advancing_one_iterate_each_get_the_next_step_in_turn():
    M, W = _small(4, n=80, m=60)
    steps = wc.iterate(M, W, 4, solver="sketched", eps=1e-15, max_iter=30, seed=0)
    import threading

    got, errors = [], []

    def run():
        try:
            for step in steps:
                got.append(step.iteration)
        except Exception as exc:                      # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(got) == list(range(1, 31))


def test_runs_sharing_one_numpy_generator_from_threads_do_not_interleave_their_draws():
    """Each run takes one draw from the shared Generator at its start and uses its own stream:
    the four threaded runs give exactly the results of four runs made one after the other
    from a Generator in the same state (in some order)."""
    import threading

    M, W = _small(5, n=60, m=40)
    kw = dict(solver="sketched", init="random", eps=1e-15, max_iter=5)

    def fit(gen):
        return b"".join(s.Y.tobytes() for s in wc.iterate(M, W, 3, seed=gen, **kw))

    shared = np.random.default_rng(11)
    got, start = [], threading.Barrier(4)

    def run():
        start.wait()
        got.append(fit(shared))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    one_by_one = np.random.default_rng(11)
    expected = [fit(one_by_one) for _ in range(4)]
    assert len(set(expected)) == 4 and sorted(got) == sorted(expected)


# ----------------------------------------------------------------------------------------------
# 12. changing M between steps of iterate gave NaN objectives

@pytest.mark.parametrize("which", ["M", "W"])
@pytest.mark.parametrize("change", ["nan", "one entry"])
def test_changing_M_or_W_in_place_between_steps_of_iterate_is_detected(which, change):
    M, W = _small(6, n=70, m=50)
    arrays = {"M": M.copy(), "W": W.copy()}
    steps = wc.iterate(arrays["M"], arrays["W"], 3, eps=1e-15, max_iter=10)
    first = next(steps)
    assert np.isfinite(first.objective)
    if change == "nan":
        arrays[which][:] = np.nan
    else:
        arrays[which][5, 7] += 1.0
    with pytest.raises(wc.InputError, match=r"^M, W: found them changed in place after iterate\(\) was "
                                            r"called \(before iteration 2\)"):
        next(steps)


def test_the_change_check_wraps_its_sums_without_an_overflow_warning():
    """The checksum sums the entries' bits as uint64 modulo 2**64; a numpy scalar sum warned
    "overflow encountered in scalar add" on large matrices."""
    rng = np.random.default_rng(10)
    M = rng.standard_normal((5000, 500)) * 1e300         # high exponent bits; five row blocks
    W = np.ones((5000, 500))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        steps = wc.iterate(M, W, 2, solver="exact", eps=1e-15, max_iter=2)
        assert len(list(steps)) == 2


def test_changing_the_callers_arrays_before_the_first_step_is_detected_too():
    M, W = _small(7)
    M = M.copy()
    steps = wc.iterate(M, W, 2, max_iter=3)
    M[0, 0] = 1e9
    with pytest.raises(wc.InputError, match=r"before iteration 1"):
        next(steps)


def test_a_sparse_problem_works_on_its_own_copy_so_changing_the_callers_W_changes_nothing():
    M, W = _small(8, n=70, m=50)
    Ws = sp.csr_array(W)
    kw = dict(eps=1e-15, max_iter=6, seed=1)
    want = [s.objective for s in wc.iterate(M, sp.csr_array(W), 3, **kw)]
    steps = wc.iterate(M, Ws, 3, **kw)
    got = [next(steps).objective]
    Ws.data[:] = np.nan                       # the caller's W: the loop holds its own layout
    got += [s.objective for s in steps]
    assert got == want
