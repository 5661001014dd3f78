"""wlra_core.io.matrices: matrix files (.npy, delimited text, Matrix Market) on good and bad files
made in memory, and matrix_problem (what a loaded matrix means as (M, W))."""
from __future__ import annotations

import io
import os
import pickle

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from wlra_core.io.matrices import load_matrix, matrix_problem
from wlra_core.io.ratings import load_ratings
from wlra_core.problem import InputError

from tests.files import _write, npy_bytes


# ------------------------------------------------------------------------------------------------
# load_matrix

def test_load_matrix_npy_from_path_bytes_and_file(tmp_path):
    arr = np.arange(6).reshape(2, 3)
    path = _write(tmp_path, "m.npy", npy_bytes(arr))
    for src in (path, npy_bytes(arr), io.BytesIO(npy_bytes(arr))):
        mat = load_matrix(src)
        assert mat.dtype == np.float64
        np.testing.assert_array_equal(mat, arr)


def test_load_matrix_npy_keeps_nan_as_missing():
    arr = np.array([[1.0, np.nan], [3.0, 4.0]])
    np.testing.assert_array_equal(load_matrix(npy_bytes(arr), name="x.npy"), arr)


class _LeavesAMark:
    """Unpickling this object creates a directory: proof that pickled code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_load_matrix_refuses_object_npy_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled"
    arr = np.empty((1, 1), dtype=object)
    arr[0, 0] = _LeavesAMark(str(marker))
    # the bytes np.save writes for an object array: a header saying '|O', then the pickle
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, np.lib.format.header_data_from_array_1_0(arr))
    buffer.write(pickle.dumps(arr, protocol=3))
    data = buffer.getvalue()
    pickle.loads(pickle.dumps(_LeavesAMark(str(tmp_path / "check"))))  # the mark really works
    assert (tmp_path / "check").is_dir()
    with pytest.raises(InputError, match="object array"):
        load_matrix(data, name="evil.npy")
    assert not marker.exists()


@pytest.mark.parametrize("text, expected", [
    ("1,2,3\n4,5,6\n", [[1, 2, 3], [4, 5, 6]]),
    ("a,b,c\n1,2,3\n", [[1, 2, 3]]),                  # header skipped
    ("1\t2\n3\t4\n", [[1, 2], [3, 4]]),
    ("1 2\n3   4\n\n", [[1, 2], [3, 4]]),
    ("1,,3\n4,NaN,6\n", [[1, np.nan, 3], [4, np.nan, 6]]),  # missing entries
    ("1;2\n3;4\n", [[1, 2], [3, 4]]),
    ("0.5\n1e-3\n", [[0.5], [0.001]]),
])
def test_load_matrix_dense_text(text, expected):
    mat = load_matrix(text.encode(), name="m.csv")
    np.testing.assert_array_equal(mat, expected)
    np.testing.assert_array_equal(load_matrix(text.encode()), expected)  # sniffed


def test_load_matrix_matrix_market_gives_csr(tmp_path):
    A = sp.random(5, 4, density=0.4, random_state=np.random.default_rng(0), format="csr")
    buffer = io.BytesIO()
    scipy.io.mmwrite(buffer, A)
    path = _write(tmp_path, "a.mtx", buffer.getvalue())
    for src, name in ((path, None), (buffer.getvalue(), None), (buffer.getvalue(), "a.mtx")):
        mat = load_matrix(src, name=name)
        assert isinstance(mat, sp.csr_matrix) and mat.dtype == np.float64
        np.testing.assert_allclose(mat.toarray(), A.toarray())


BAD_MATRICES = [
    (lambda tmp: (b"", None), "empty file"),
    (lambda tmp: (npy_bytes(np.zeros((2, 2, 2))), None), r"3-D array of shape \(2, 2, 2\)"),
    (lambda tmp: (npy_bytes(np.zeros(3)), "v.npy"), "1-D array"),
    (lambda tmp: (npy_bytes(np.zeros((2, 2), dtype=complex)), None), "need a real numeric array"),
    (lambda tmp: (npy_bytes(np.array([["a", "b"]])), None), "need a real numeric array"),
    (lambda tmp: (npy_bytes(np.array([[1.0, np.inf]])), None), "infinite"),
    (lambda tmp: (npy_bytes(np.zeros((20, 20)))[:-50], None), "damaged or truncated"),
    (lambda tmp: (b"1,2,3\n", "m.npy"), "not a valid .npy"),
    (lambda tmp: (b"1,2,3\n4,5\n", "m.csv"), "found 2 values on data row 2 but 3"),
    (lambda tmp: (b"1,2\n3,x\n", "m.csv"), "non-numeric value 'x' at data row 2, column 2"),
    (lambda tmp: (b"1,2\n3,inf\n", "m.csv"), "infinite"),
    (lambda tmp: (b"a,b\n", "m.csv"), "only a header"),
    (lambda tmp: (b"\xff\x01garbage", "m.csv"), "not UTF-8"),
    (lambda tmp: (b"\xff\xfe1,2", "m.csv"), "nor complete UTF-16"),  # a UTF-16 BOM, then 3 bytes
    (lambda tmp: (b"%%MatrixMarket matrix coordinate real general\n3 3 2\n1 1 1.0\n", None),
     "found 1 entry lines where the header declares 2"),
    (lambda tmp: (b"%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1 abc\n", "a.mtx"), "malformed"),
    (lambda tmp: (b"%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1 inf\n", "a.mtx"), "infinite"),
    (lambda tmp: (b"%%MatrixMarket matrix coordinate complex general\n1 1 1\n1 1 1 2\n", None), "complex"),
    (lambda tmp: (b"%%MatrixMarket matrix coordinate real general\n1000000000 2 0\n", None),
     "declared size of 1,000,000,000×2"),
    (lambda tmp: (tmp / "gone.npy", None), "found no file"),
]


@pytest.mark.parametrize("make_bad, match", BAD_MATRICES)
def test_load_matrix_refuses_bad_input(tmp_path, make_bad, match):
    src, name = make_bad(tmp_path)
    with pytest.raises(InputError, match=match):
        load_matrix(src, name=name)


# ------------------------------------------------------------------------------------------------
# size caps (wlra_core.limits): refused before decoding or allocating

def test_load_matrix_npy_refuses_a_declared_shape_above_max_entries_without_reading_the_data():
    # a header declaring 100 000 × 100 000 float64 (80 GB) followed by 8 bytes: judged by the header
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (100_000, 100_000)})
    data = buffer.getvalue() + b"\x00" * 8
    with pytest.raises(InputError, match=r"matrix: found a 100,000×100,000 array \(10,000,000,000 entries\), "
                                         r"need at most 33,554,432 entries"):
        load_matrix(data)


COORDINATE_2X2 = b"%%MatrixMarket matrix coordinate real general\n2 2 4\n1 1 1\n1 2 2\n2 1 3\n2 2 4\n"


@pytest.mark.parametrize("data, name, cap, message", [
    (COORDINATE_2X2, None, 3, r"matrix: found a Matrix Market file declaring 4 entries \(2×2\), need at most 3"),
    (b"%%MatrixMarket matrix array real general\n2 2\n1\n2\n3\n4\n", None, 3,
     r"found a dense 2×2 Matrix Market array \(4 entries\), need at most 3"),
    (b"1,2,3\n4,5,6\n", "m.csv", 5, r"found 2 rows of 3 values \(6 entries\), need at most 5"),
])
def test_load_matrix_mtx_and_text_refuse_more_entries_than_max_entries(data, name, cap, message):
    kwargs = {} if name is None else {"name": name}
    with pytest.raises(InputError, match=message):
        load_matrix(data, max_entries=cap, **kwargs)


def test_load_matrix_mtx_at_exactly_max_entries_is_read():
    assert load_matrix(COORDINATE_2X2, max_entries=4).nnz == 4


# ------------------------------------------------------------------------------------------------
# matrix_problem: a loaded matrix (and weights) as (M, W) for the solvers

def test_matrix_problem_weights_the_observed_entries_and_leaves_the_inputs_alone():
    M = np.array([[1.0, np.nan], [3.0, 4.0]])
    original = M.copy()
    Mp, W = matrix_problem(M)
    np.testing.assert_array_equal(W, [[1, 0], [1, 1]])
    np.testing.assert_array_equal(Mp, [[1, 0], [3, 4]])
    np.testing.assert_array_equal(M, original)  # NaN still there: a copy was filled
    S = sp.csr_matrix(np.array([[0.0, 2.0], [0.0, 0.0]]))
    S_data = S.data.copy()
    Ms, Ws = matrix_problem(S)
    assert sp.issparse(Ws) and Ws.nnz == 1 and Ws[0, 1] == 1  # unstored entries are missing
    np.testing.assert_array_equal(S.data, S_data)


@pytest.mark.parametrize("W, match", [
    (np.ones((3, 2)), r"weights: found shape 3×2, need the shape of the matrix, 2×2"),
    (np.array([[1.0, 0.0], [-1.0, 1.0]]), r"weights: found a negative weight \(-1\), need weights ≥ 0"),
    (np.array([[1.0, 0.0], [np.inf, 1.0]]), r"weights: found NaN or infinite weights"),
    (np.ones((2, 2)), r"matrix: found a missing value \(NaN\) at row 1, column 2 where the weight is 1"),
])
def test_matrix_problem_refuses_weights_that_do_not_fit(W, match):
    with pytest.raises(InputError, match=match):
        matrix_problem(np.array([[1.0, np.nan], [3.0, 4.0]]), W)


def test_matrix_problem_accepts_zero_weight_where_m_is_missing():
    M, W = matrix_problem(np.array([[1.0, np.nan]]), np.array([[2.0, 0.0]]))
    np.testing.assert_array_equal(M, [[1.0, 0.0]])
    np.testing.assert_array_equal(W, [[2.0, 0.0]])


# ------------------------------------------------------------------------------------------------
# Issue 12: what an outside tester broke (files, loaders, messages)

TINY_HUGE_MTX = b"%%MatrixMarket matrix coordinate real general\n100000000 100000000 1\n1 1 1.0\n"


@pytest.mark.parametrize("max_entries", [2**25, 2**22])  # the library's cap and the app's
def test_a_76_byte_mtx_declaring_a_10_8_square_matrix_is_refused_before_allocating(max_entries):
    import tracemalloc

    assert len(TINY_HUGE_MTX) < 80
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as caught:
            load_matrix(TINY_HUGE_MTX, name="huge.mtx", max_entries=max_entries)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20  # nothing proportional to n or m was allocated (it was 1.44 GB)
    message = str(caught.value)
    assert message.startswith("matrix: found a Matrix Market header declaring a 100,000,000×100,000,000 "
                              "matrix with 1 entry, whose rows and columns alone take n + m = "
                              f"200,000,000 entries of memory, need at most {max_entries:,} entries")
    assert "larger" not in message and "raise" not in message  # no advice to lift a cap


def test_an_mtx_whose_rows_and_columns_fit_the_cap_is_read():
    data = b"%%MatrixMarket matrix coordinate real general\n1000 2000 1\n5 7 2.5\n"
    with pytest.raises(InputError, match=r"n \+ m = 3,000 entries"):
        load_matrix(data, max_entries=2999)
    mat = load_matrix(data, max_entries=3000)
    assert mat.shape == (1000, 2000) and mat.nnz == 1 and mat[4, 6] == 2.5


@pytest.mark.parametrize("data, match", [
    (npy_bytes(np.zeros((2000, 2000)))[:200], r"declaring a 2,000×2,000 float64 array \(32,000,000 bytes of "
                                               r"data\) followed by 72 bytes"),
    (npy_bytes(np.zeros((2, 2))) + b"\x00" * 8, r"\(32 bytes of data\) followed by 40 bytes"),
    (b"%%MatrixMarket matrix coordinate real general\n10 10 30\n1 1 1\n", r"declaring 30 values in a file "
                                                                         r"of \d+ bytes, which holds at most"),
    (b"%%MatrixMarket matrix array real general\n100 100\n1\n", r"declaring 10,000 values"),
])
def test_a_header_declaring_more_or_less_data_than_the_file_holds_is_refused(data, match):
    with pytest.raises(InputError, match=match):
        load_matrix(data)


def test_default_weights_of_a_matrix_file_are_decided_by_matrix_problem():
    """The one meaning of a matrix file (the CLI and the app both call matrix_problem)."""
    array = load_matrix(b"%%MatrixMarket matrix array real general\n2 2\n1\n0\n0\n2\n")
    assert isinstance(array, np.ndarray)  # every entry of an array file is stored, zeros included
    M, W = matrix_problem(array)
    np.testing.assert_array_equal(W, np.ones((2, 2)))
    pattern = load_matrix(b"%%MatrixMarket matrix coordinate pattern general\n2 3 2\n1 1\n2 3\n")
    M, W = matrix_problem(pattern)
    np.testing.assert_array_equal(W.toarray(), [[1, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(M.toarray(), [[1, 0, 0], [0, 0, 1]])
    zeros = load_matrix(b"%%MatrixMarket matrix coordinate real general\n2 2 2\n1 1 0\n2 2 3\n")
    M, W = matrix_problem(zeros)
    assert W.nnz == 2 and M.nnz == 2  # an explicit zero is an observed 0
    np.testing.assert_array_equal(W.toarray(), [[1, 0], [0, 1]])


def test_duplicate_mtx_entries_follow_the_same_rule_as_duplicate_ratings():
    triplets = [(1, 1, 1.0), (1, 1, 3.0), (2, 1, 5.0), (1, 2, 2.0), (1, 1, 5.0), (2, 1, 4.0)]
    mtx = ("%%MatrixMarket matrix coordinate real general\n2 2 6\n"
           + "".join(f"{i} {j} {v}\n" for i, j, v in triplets)).encode()
    csv_text = "".join(f"{i},{j},{v}\n" for i, j, v in triplets).encode()
    for policy in ("mean", "last"):
        with pytest.warns(UserWarning, match=r"found 2 entries given more than once"):
            from_mtx = load_matrix(mtx, duplicates=policy)
        np.testing.assert_array_equal(from_mtx.toarray(), load_ratings(csv_text, duplicates=policy).M.toarray())
    with pytest.warns(UserWarning, match=r"each holds the mean of its values \(duplicates='mean'\)"):
        np.testing.assert_array_equal(load_matrix(mtx).toarray(), [[3.0, 2.0], [4.5, 0.0]])
    with pytest.raises(InputError, match=r"found 2 entry position\(s\) given more than once, e.g. row 1, "
                                         r"column 1 \(3 times\)"):
        load_matrix(mtx, duplicates="error")


@pytest.mark.parametrize("text, expected", [
    ("NA,2\n3,4\n", [[np.nan, 2], [3, 4]]),
    ("NaN;2\n3;4\n", [[np.nan, 2], [3, 4]]),
    (",2\n3,4\n", [[np.nan, 2], [3, 4]]),
    ("a,b\nNA,2\n", [[np.nan, 2]]),        # a header of names, then a row with a missing entry
])
def test_a_first_row_of_na_is_data_not_a_header(text, expected):
    np.testing.assert_array_equal(load_matrix(text.encode(), name="m.csv"), expected)


def test_a_first_row_that_mixes_numbers_and_a_word_is_refused_not_dropped():
    with pytest.raises(InputError, match=r"non-numeric value 'x' at data row 1, column 1 \(a header line "
                                         r"holds names only\)"):
        load_matrix(b"x,2\n3,4\n", name="m.csv")


def test_a_stored_nan_in_mtx_is_a_missing_entry_and_refused_where_weighted():
    M = load_matrix(b"%%MatrixMarket matrix coordinate real general\n2 2 3\n1 1 1\n1 2 nan\n2 2 4\n")
    M2, W = matrix_problem(M)
    assert W.nnz == 2 and np.isfinite(M2.data).all()  # the NaN is missing, as in a dense file
    with pytest.raises(InputError, match=r"^ratings.mtx: found a missing value \(NaN\) at row 1, column 2 "
                                         r"where the weight is 1"):
        matrix_problem(M, sp.csr_matrix(np.ones((2, 2))), names=("ratings.mtx", "w.mtx"))
    M3, W3 = matrix_problem(M, sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 2.0]])))
    assert np.isfinite(M3.data).all() and M3.nnz == 2


CUT_EXPONENT_MTX = b"%%MatrixMarket matrix coordinate real general\n1 1 1\n1 1 1.5E-"


def test_an_mtx_value_cut_off_in_its_exponent_is_refused_without_crashing_the_process():
    """SciPy 1.17's Matrix Market reader dies with SIGSEGV on this file; the loader reads .mtx
    itself. In a child process, so that a crash fails this test instead of ending the run."""
    import subprocess
    import sys

    code = ("import sys; from wlra_core.data import load_matrix\n"
            "try:\n    load_matrix(sys.stdin.buffer.read(), name='cut.mtx')\n"
            "except ValueError as exc:\n    print(exc)\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", code], input=CUT_EXPONENT_MTX, capture_output=True, cwd=root,
                          timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-500:]
    assert done.stdout.decode().startswith("matrix: found a malformed Matrix Market file (could not convert "
                                           "string '1.5E-' to float64")
    with pytest.raises(InputError, match="1.5E-"):
        load_matrix(CUT_EXPONENT_MTX + b"\n")  # with a final newline SciPy read 1.5 silently


@pytest.mark.parametrize("data, match", [
    (b"%%MatrixMarket matrix coordinate real general\n2 2 1\n3 1 1\n", r"entry \(3, 1\) outside the declared 2×2"),
    (b"%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1.5 1\n", r"entry \(1, 1.5\) outside"),
    (b"%%MatrixMarket matrix coordinate real symmetric\n2 3 1\n1 1 1\n", r"symmetric 2×3 matrix, need a square"),
    (b"%%MatrixMarket matrix coordinate real general\n2 2\n1 1 1\n", r"size line '2 2', need 'rows columns entries'"),
    (b"%%MatrixMarket matrix coordinate real general\n2 2 2\n1 1 1\n2 2\n", r"number of columns changed from 3 to 2"),
    (b"%%MatrixMarket matrix coordinate real general\n2 2 0\n1 1 5\n", r"found 1 entry lines where the header "
                                                                      r"declares 0"),
    (b"%%MatrixMarket tensor coordinate real general\n2 2 1\n1 1 1\n", r"malformed Matrix Market header"),
    (b"%%MatrixMarket matrix coordinate quaternion general\n1 1 1\n1 1 1\n", r"field 'quaternion'"),
])
def test_a_damaged_matrix_market_body_or_header_is_refused_naming_what_was_found(data, match):
    with pytest.raises(InputError, match=match):
        load_matrix(data, name="d.mtx")
