"""Every input type a numpy or pandas user might pass as M or W (issue 12, the class of finding 6),
fuzzed with Hypothesis (derandomised, like tests/test_properties.py): an accepted type gives the
result of the same numbers as a float64 ndarray (or canonical CSR for sparse W), to round-off; a
refused one raises InputError naming the input, and nothing else (no other exception, no
warning); the caller's object is never changed.

Accepted: nested lists and tuples, bool / int8…uint64 / float16 / float32 arrays, np.matrix,
memmaps, F-ordered and strided views, object arrays of numbers (None read as NaN), objects with
__array__ (xarray-like), pandas DataFrames (float, nullable Int64/Float64 with NA read as NaN,
so allowed only where W = 0), numpy masked arrays (masked entries get weight 0), and every
scipy.sparse format as matrix or array, with bool/int dtypes, for W (and M).
Refused: complex (dense or sparse, even with a zero imaginary part), datetime64 and timedelta64,
strings and other non-numbers, 0-d, 1-d and 3-d arrays, NA where the weight is positive.
"""
from __future__ import annotations

import copy
import fractions
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wlra_core as wc


def profile(examples):
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


class ArrayLike:
    """An xarray-like object: only __array__."""

    def __init__(self, A):
        self._A = A

    def __array__(self, dtype=None, copy=None):
        return self._A if dtype is None else self._A.astype(dtype)


# each kind: (name, make(A) -> the object passed, or None when the kind does not apply)
def _memmap(A, tmp):
    mm = np.memmap(tmp / f"mm{id(A)}.dat", dtype=np.float64, mode="w+", shape=A.shape)
    mm[:] = A
    mm.flush()
    return np.memmap(tmp / f"mm{id(A)}.dat", dtype=np.float64, mode="r", shape=A.shape)


ACCEPTED = {
    "list": lambda A, tmp: A.tolist(),
    "tuple": lambda A, tmp: tuple(tuple(r) for r in A.tolist()),
    "int8": lambda A, tmp: A.astype(np.int8),
    "int64": lambda A, tmp: A.astype(np.int64),
    "uint16": lambda A, tmp: A.astype(np.uint16) if (A >= 0).all() else None,
    "float16": lambda A, tmp: A.astype(np.float16),
    "float32": lambda A, tmp: A.astype(np.float32),
    "bool": lambda A, tmp: A.astype(bool) if set(np.unique(A)) <= {0.0, 1.0} else None,
    "matrix": lambda A, tmp: np.asmatrix(A),
    "memmap": _memmap,
    "fortran": lambda A, tmp: np.asfortranarray(A),
    "strided": lambda A, tmp: np.repeat(np.repeat(A, 2, axis=0), 2, axis=1)[::2, ::2],
    "object-numbers": lambda A, tmp: np.array([[fractions.Fraction(int(v)) if i % 2 else int(v)
                                                for i, v in enumerate(r)] for r in A], dtype=object),
    "array-like": lambda A, tmp: ArrayLike(A.copy()),
    "dataframe": lambda A, tmp: pd.DataFrame(A),
    "dataframe-Int64": lambda A, tmp: pd.DataFrame(A.astype(np.int64)).astype("Int64"),
    "dataframe-Float64": lambda A, tmp: pd.DataFrame(A).astype("Float64"),
    "masked-nothing": lambda A, tmp: np.ma.array(A, mask=np.zeros(A.shape, bool)),
}
SPARSE = ["csr_matrix", "csc_matrix", "coo_matrix", "lil_matrix", "dok_matrix", "bsr_matrix",
          "csr_array", "csc_array", "coo_array", "lil_array", "dok_array", "bsr_array"]
REFUSED = {
    "complex": (lambda A: A + 1j, r"found complex values"),
    "complex-zero-imaginary": (lambda A: A.astype(complex), r"found complex values"),
    "sparse-complex": (lambda A: sp.csr_array(A.astype(complex)), r"found complex values"),
    "datetime": (lambda A: A.astype("datetime64[s]"), r"found dates or durations"),
    "timedelta": (lambda A: A.astype("timedelta64[s]"), r"found dates or durations"),
    "strings": (lambda A: A.astype(str).astype(object) + "x", r"found values that are not numbers"),
    "0-d": (lambda A: np.float64(A[0, 0]), r"found an array with 0 dimension"),
    "1-d": (lambda A: A[0], r"found an array with 1 dimension"),
    "3-d": (lambda A: A[None], r"found an array with 3 dimension"),
}


@st.composite
def base(draw):
    n = draw(st.integers(3, 8))
    m = draw(st.integers(3, 8))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    M = rng.integers(-5, 6, (n, m)).astype(float)        # exactly representable in every dtype above
    W = (rng.random((n, m)) < 0.8).astype(float)
    W[0, 0] = 1.0
    return M, W


def _reference(M, W, k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wc.ConvergenceWarning)
        return wc.solve(M, W, k, solver="exact", max_iter=3, seed=0)


def _run(M, W, k):
    with warnings.catch_warnings():
        warnings.simplefilter("error")                   # any warning fails the test ...
        warnings.simplefilter("ignore", wc.ConvergenceWarning)   # ... but this expected one
        return wc.solve(M, W, k, solver="exact", max_iter=3, seed=0)


def _snapshot(obj):
    if sp.issparse(obj):
        return obj.toarray().copy()
    if isinstance(obj, pd.DataFrame):
        return obj.copy(deep=True)
    if isinstance(obj, ArrayLike):
        return obj._A.copy()
    return copy.deepcopy(obj)


def _same(a, b):
    if isinstance(a, pd.DataFrame):
        return a.equals(b)
    return np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object))


@profile(80)
@given(data=base(), kind=st.sampled_from(sorted(ACCEPTED) + SPARSE), which=st.sampled_from(["M", "W"]))
def test_every_accepted_input_type_gives_the_result_of_its_float64_numbers(tmp_path_factory, data, kind, which):
    M, W = data
    tmp = tmp_path_factory.mktemp("types")
    want = _reference(M, sp.csr_array(W) if kind in SPARSE and which == "W" else W, 2)
    A = M if which == "M" else W
    if kind in SPARSE:
        typed = getattr(sp, kind)(A)
    else:
        typed = ACCEPTED[kind](A, tmp)
        if typed is None:                                # this kind cannot hold these numbers
            typed = A.copy()
    before = _snapshot(typed)
    args = (typed, W) if which == "M" else (M, typed)
    got = _run(*args, 2)
    assert np.allclose(got.low_rank(), want.low_rank(), rtol=1e-9, atol=1e-9), kind
    assert got.objective == pytest.approx(want.objective, rel=1e-9, abs=1e-12)
    after = _snapshot(typed)
    assert _same(before, after), f"{kind}: the caller's {which} changed"


@profile(40)
@given(data=base(), kind=st.sampled_from(sorted(REFUSED)), which=st.sampled_from(["M", "W"]))
def test_every_refused_input_type_raises_input_error_naming_the_input(data, kind, which):
    M, W = data
    make, found = REFUSED[kind]
    typed = make(M if which == "M" else W)
    args = (typed, W) if which == "M" else (M, typed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(wc.InputError, match=rf"^{which}: {found}"):
            wc.solve(*args, 2, max_iter=2)


@profile(30)
@given(data=base(), where=st.sampled_from(["unweighted", "weighted"]), dtype=st.sampled_from(["Float64", "Int64"]))
def test_pandas_na_is_missing_allowed_only_where_the_weight_is_zero(data, where, dtype):
    M, W = data
    i, j = (0, 0) if where == "weighted" else tuple(np.argwhere(W == 0)[0]) if (W == 0).any() else (None, None)
    frame = pd.DataFrame(M.astype(np.int64)).astype(dtype)
    if i is None:                                        # nothing unweighted: make one entry so
        W = W.copy()
        W[-1, -1] = 0.0
        i, j = W.shape[0] - 1, W.shape[1] - 1
    frame.iloc[i, j] = pd.NA
    if where == "weighted":
        with pytest.raises(wc.InputError, match=r"^M: found a non-finite value \(nan\) at \(0, 0\) where the weight is positive"):
            wc.solve(frame, W, 2, max_iter=2)
    else:
        got = _run(frame, W, 2)
        Mn = M.copy()
        Mn[i, j] = np.nan
        want = _reference(Mn, W, 2)
        assert np.allclose(got.low_rank(), want.low_rank(), rtol=1e-9, atol=1e-9)


@profile(30)
@given(data=base(), which=st.sampled_from(["M", "W", "both"]), seed=st.integers(0, 1000))
def test_masked_entries_are_unobserved_whatever_the_data_under_the_mask(data, which, seed):
    M, W = data
    rng = np.random.default_rng(seed)
    mask = rng.random(M.shape) < 0.2
    mask[0, 0] = False                                  # keep something observed
    Mx = np.ma.array(np.where(mask, 1e6, M), mask=mask) if which in ("M", "both") else M
    Wx = np.ma.array(np.where(mask, 1e6, W), mask=mask) if which in ("W", "both") else W
    got = _run(Mx, Wx, 2)
    want = _reference(M, np.where(mask, 0.0, W), 2)
    assert np.allclose(got.low_rank(), want.low_rank(), rtol=1e-9, atol=1e-9)
