"""The solver lab on an uploaded matrix (views/solver_lab.py, ui/matrix_upload.py): good files run,
bad files are refused in the page with what was found and what is needed, and the session keeps
the matrix, the weights and the runs it had. Uploads are fed as the uploaders' callbacks queue
them (tests/app/README.md): `lab_pending_matrix` / `lab_pending_weights` = (file name, bytes)."""
from __future__ import annotations

import io
import os
import warnings
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

import wlra_core as wc
from tests.app._apptest import run_page
from ui import matrix_upload, state, uploads

PAGE = str(Path(__file__).resolve().parents[2] / "views" / "solver_lab.py")
UPLOAD = {"lab_source": "upload", "lab_k": "3", "lab_solvers": ["exact", "sketched"]}


def npy(arr) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, arr, allow_pickle=False)
    return buffer.getvalue()


def mtx(mat) -> bytes:
    buffer = io.BytesIO()
    scipy.io.mmwrite(buffer, mat)
    return buffer.getvalue()


def low_rank(n=30, m=20, k=3, seed=0, missing=0.3):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, k)) @ rng.standard_normal((k, m))
    M[rng.random((n, m)) < missing] = np.nan
    return M


def upload(at, name: str, data: bytes, slot: str = "matrix"):
    at.session_state[f"lab_pending_{slot}"] = (name, data)
    return at.run()


def step(at):
    return at.button(key="lab_step").click().run()


def errors(at) -> list[str]:
    return [e.value for e in at.error]


def records(at) -> dict[str, list[dict]]:
    return {name: run.records for name, run in at.session_state["lab_runs"].runs.items()}


def with_a_run(name="M.npy", data=None):
    """The page with an accepted matrix and one iteration of exact and sketched on screen."""
    at = run_page(PAGE, **UPLOAD)
    at = upload(at, name, npy(low_rank()) if data is None else data)
    at = step(at)
    assert not at.exception and not errors(at)
    return at


def assert_kept(at, before_caption: str, before_iterations: int = 1):
    """Nothing the session had is lost: same matrix, same runs."""
    assert not at.exception
    assert at.caption[0].value == before_caption
    assert all(len(r) == before_iterations for r in records(at).values())


def test_without_an_upload_the_page_asks_for_one():
    at = run_page(PAGE, lab_source="upload")
    assert not at.exception and not at.error
    assert any("Upload a matrix M" in i.value for i in at.info)


def test_a_dense_npy_with_missing_entries_runs_with_weight_one_where_observed():
    M = low_rank()
    at = with_a_run(data=npy(M))
    caption = at.caption[0].value
    assert caption.startswith("**M.npy**: M is 30 × 20 with") and "no known truth" in caption
    assert f"{np.isfinite(M).sum():,} weighted entries" in caption
    for recs in records(at).values():
        assert np.isfinite(recs[0]["objective"]) and "truth_error" not in recs[0]
    table = at.dataframe[0].value
    assert "relative error vs truth" not in table.columns  # no truth: no such column
    assert M[0, 0] == low_rank()[0, 0] or np.isnan(M[0, 0])  # the page did not touch the test's array


@pytest.mark.parametrize("name, make", [
    ("ratings.mtx", lambda M: mtx(sp.coo_matrix(np.nan_to_num(M) * np.isfinite(M)))),
    ("M.csv", lambda M: "\n".join(",".join("" if np.isnan(v) else f"{v:.17g}" for v in row) for row in M).encode()),
    ("M.tsv", lambda M: ("a\tb\n" + "\n".join("\t".join(f"{v:.17g}" for v in row[:2]) for row in M)).encode()),
])
def test_text_and_matrix_market_files_are_accepted(name, make):
    at = with_a_run(name, make(low_rank(seed=1)))
    assert at.caption[0].value.startswith(f"**{name}**: M is 30 × ")


def test_weights_file_of_another_shape_is_refused_naming_both_shapes_and_nothing_is_lost():
    at = with_a_run()
    caption = at.caption[0].value
    at = upload(at, "W.npy", npy(np.ones((20, 30))), slot="weights")
    assert errors(at) == ["Weights file 'W.npy': weights W.npy: found shape 20×30, need the shape of the "
                          "matrix M.npy, 30×20. The previous data is kept."]
    assert_kept(at, caption)
    assert "lab_weights" not in at.session_state or at.session_state["lab_weights"] is None


def test_graded_weights_are_used_and_negative_ones_refused():
    at = with_a_run(data=npy(np.nan_to_num(low_rank(missing=0.0))))
    W = np.random.default_rng(2).uniform(0, 3, (30, 20))
    at = upload(at, "W.npy", npy(W), slot="weights")
    assert not errors(at) and "weights W.npy" in at.caption[0].value
    caption = at.caption[0].value
    at = step(at)  # a new problem: the runs start over on it
    run = at.session_state["lab_runs"]
    assert run.signature[0][1].endswith("+" + at.session_state["lab_weights"]["digest"])
    assert all(len(r) == 1 and np.isfinite(r[0]["objective"]) for r in records(at).values())
    at = upload(at, "neg.npy", npy(W - 1.0), slot="weights")
    assert errors(at)[0].startswith("Weights file 'neg.npy': weights neg.npy: found a negative weight (-")
    assert_kept(at, caption)


def test_missing_value_where_the_weight_is_positive_is_refused():
    at = with_a_run()
    caption = at.caption[0].value
    at = upload(at, "W.npy", npy(np.ones((30, 20))), slot="weights")
    assert "matrix M.npy: found a missing value (NaN) at row" in errors(at)[0]
    assert "need a value wherever the weight is positive" in errors(at)[0]
    assert_kept(at, caption)


class _LeavesAMark:
    """Unpickling this object creates a directory: proof that pickled code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def object_npy(marker: Path) -> bytes:
    arr = np.empty((1, 1), dtype=object)
    arr[0, 0] = _LeavesAMark(str(marker))
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, np.lib.format.header_data_from_array_1_0(arr))
    buffer.write(pickle.dumps(arr, protocol=3))
    return buffer.getvalue()


def three_d() -> bytes:
    return npy(np.zeros((2, 3, 4)))


@pytest.mark.parametrize("name, make, found", [
    ("empty.npy", lambda tmp: b"", "matrix: found an empty file (0 bytes)"),
    ("evil.npy", lambda tmp: object_npy(tmp / "unpickled"), "matrix: found an object array"),
    ("cube.npy", lambda tmp: three_d(), "matrix: found a 3-D array of shape (2, 3, 4), need a 2-D matrix"),
    ("bad.mtx", lambda tmp: b"%%MatrixMarket matrix coordinate real general\n3 3 2\n1 1 1.0\nnot a line\n",
     "matrix: found a malformed Matrix Market file"),
    ("ragged.csv", lambda tmp: b"1,2,3\n4,5\n", "matrix: found 2 values on data row 2 but 3 on the first"),
    ("words.csv", lambda tmp: b"1,2\nx,4\n", "matrix: found the non-numeric value 'x' at data row 2, column 1"),
    ("inf.csv", lambda tmp: b"1,2\ninf,4\n", "matrix: found infinite values, need finite numbers"),
    ("header.csv", lambda tmp: b"a,b,c\n", "matrix: found only a header line"),
    ("text.npy", lambda tmp: b"hello, I am not an array", "matrix: found data that is not a valid .npy file"),
    ("sheet.csv", lambda tmp: b"PK\x03\x04" + bytes(40), "matrix: found a ZIP archive (an .npz, .xlsx or .zip file), "
                                                       "need a .npy, CSV/TSV or .mtx matrix; save the sheet as CSV"),
    ("M.csv", lambda tmp: b"\x1f\x8b\x08\x00" + bytes(20), "matrix: found a gzip-compressed file"),
    ("short.npy", lambda tmp: npy(np.zeros((2000, 2000)))[:200],
     "matrix: found a .npy header declaring a 2,000×2,000 float64 array (32,000,000 bytes of data) followed by 72"),
])
def test_bad_matrix_files_are_refused_in_the_page_and_the_session_keeps_its_matrix(tmp_path, name, make, found):
    at = with_a_run()
    caption = at.caption[0].value
    at = upload(at, name, make(tmp_path))
    assert len(errors(at)) == 1
    assert errors(at)[0].startswith(f"Matrix file {name!r}: {found}"), errors(at)
    assert errors(at)[0].endswith("The previous data is kept.")
    assert_kept(at, caption)
    assert at.session_state["lab_matrix"]["name"] == "M.npy"
    assert not (tmp_path / "unpickled").exists()  # the object array was never unpickled
    at = step(at)  # and the kept runs go on
    assert all(len(r) == 2 for r in records(at).values())


def test_files_over_the_upload_limit_and_the_problem_cap_are_refused_with_the_cap_stated(monkeypatch):
    assert uploads.MAX_UPLOAD_BYTES == wc.limits.MAX_FILE_BYTES  # the real limit is the library's
    at = with_a_run()
    caption = at.caption[0].value
    big = npy(low_rank(seed=5))
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", len(big) - 1)
    at = upload(at, "big.npy", big)
    assert errors(at)[0].startswith("Matrix file 'big.npy': matrix: found a file of more than 0.0 MB, "
                                    "need at most")
    assert_kept(at, caption)
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", wc.limits.MAX_FILE_BYTES)
    monkeypatch.setattr(state, "APP_MAX_ENTRIES", 599)
    at = upload(at, "many.npy", npy(low_rank(seed=6)))
    assert errors(at)[0].startswith("Matrix file 'many.npy': matrix: found a 30×20 array (600 entries), "
                                    "need at most 599 entries")
    assert_kept(at, caption)


def test_a_matrix_with_nothing_observed_gets_the_solvers_message_on_step():
    at = run_page(PAGE, **UPLOAD)
    at = upload(at, "nothing.npy", npy(np.full((6, 5), np.nan)))
    assert not errors(at) and "with 0 weighted entries" in at.caption[0].value
    at = step(at)
    assert not at.exception
    assert errors(at) == ["W: found no positive weight (nothing is observed), need at least one entry with W > 0."]
    assert at.session_state["lab_runs"] is None


@pytest.mark.parametrize("scale", [1e150, 1e-150])
def test_values_near_the_float_limits_give_the_results_of_the_unscaled_matrix(scale):
    plain = step(with_a_run(data=npy(low_rank(seed=3))))
    at = step(with_a_run(data=npy(low_rank(seed=3) * scale)))
    for name, recs in records(at).items():
        assert [r["iteration"] for r in recs] == [1, 2]
        assert all(np.isfinite(r["relative_objective"]) and np.isfinite(r["objective"]) for r in recs)
        expected = [r["relative_objective"] for r in records(plain)[name]]
        np.testing.assert_allclose([r["relative_objective"] for r in recs], expected, rtol=1e-6)


def test_weights_spanning_twenty_four_orders_of_magnitude_give_finite_results():
    at = with_a_run(data=npy(np.nan_to_num(low_rank(seed=4, missing=0.0))))
    W = 10.0 ** np.random.default_rng(4).uniform(-12, 12, (30, 20))
    at = upload(at, "W.npy", npy(W), slot="weights")
    at = step(step(at))
    for recs in records(at).values():
        assert all(np.isfinite(r["objective"]) and np.isfinite(r["relative_objective"]) for r in recs)
        assert recs[1]["objective"] <= recs[0]["objective"] * (1 + 1e-9)


def test_k_is_capped_to_the_uploaded_matrix():
    at = run_page(PAGE, **UPLOAD)  # k = 3 chosen on the planted problem's scale
    at = upload(at, "thin.npy", npy(np.arange(12.0).reshape(6, 2) ** 1.5))
    assert not at.exception and not errors(at)
    assert at.caption[0].value.startswith("**thin.npy**: M is 6 × 2")
    slider = at.slider(key="lab_k")
    assert slider.max == 2 and slider.value <= 2
    at = step(at)
    assert not at.exception and not errors(at)
    assert all(np.isfinite(r[0]["objective"]) for r in records(at).values())


def test_a_single_column_matrix_runs_at_rank_one():
    at = run_page(PAGE, **UPLOAD)
    at = upload(at, "column.npy", npy(np.arange(1.0, 7.0).reshape(6, 1)))
    assert not at.exception and not errors(at)
    assert at.slider(key="lab_k").max == 2  # a slider needs two values; k = 2 is capped to 1
    at = step(at)
    assert not at.exception and not errors(at)
    assert all(r[0]["relative_objective"] < 1e-12 for r in records(at).values())  # rank 1 fits exactly


def test_empty_rows_and_columns_get_finite_factors_and_the_rest_is_fitted():
    M = low_rank(seed=7, missing=0.0)
    M[4, :] = np.nan   # a row with nothing observed
    M[:, 9] = np.nan   # and a column
    at = step(with_a_run(data=npy(M)))
    runs = at.session_state["lab_runs"]
    for name, run in runs.runs.items():
        assert run.records, name
        _, X, Y = run.factors_at(run.iterations)
        assert np.isfinite(X).all() and np.isfinite(Y).all(), name
        assert run.records[-1]["relative_objective"] < 1e-6, name  # the observed part is rank 3


def test_factors_of_huge_values_are_kept_for_replay_without_overflow():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        at = with_a_run(data=npy(low_rank(seed=3) * 1e150))
    for name, run in at.session_state["lab_runs"].runs.items():
        _, X, Y = run.factors_at(1)
        assert np.isfinite(X).all() and np.isfinite(Y).all(), name
        assert np.isfinite(X @ Y.T).all() and np.abs(X @ Y.T).max() > 1e149


# --- issue 12: what an outside tester broke -------------------------------------------------------

TINY_HUGE_MTX = b"%%MatrixMarket matrix coordinate real general\n100000000 100000000 1\n1 1 1.0\n"


def test_a_76_byte_mtx_declaring_a_10_8_square_matrix_is_refused_at_upload_not_at_step():
    at = with_a_run()
    caption = at.caption[0].value
    at = upload(at, "huge.mtx", TINY_HUGE_MTX)
    assert errors(at) == [
        "Matrix file 'huge.mtx': matrix: found a Matrix Market header declaring a 100,000,000×100,000,000 "
        "matrix with 1 entry, whose rows and columns alone take n + m = 200,000,000 entries of memory, need at "
        f"most {state.APP_MAX_ENTRIES:,} entries (the size cap of one problem); use a smaller problem. "
        "The previous data is kept."]  # no parameter the app user cannot set, no advice to raise it
    assert_kept(at, caption)
    assert at.session_state["lab_matrix"]["name"] == "M.npy"
    at = step(at)  # the kept runs go on
    assert not errors(at) and all(len(r) == 2 for r in records(at).values())


MTX_MEANINGS = {  # file, weighted entries (as the command line counts them: tests/test_cli.py)
    "array-with-zeros": (b"%%MatrixMarket matrix array real general\n3 2\n1\n0\n2\n0\n3\n4\n", 6),
    "pattern": (b"%%MatrixMarket matrix coordinate pattern general\n3 2 3\n1 1\n2 2\n3 1\n", 3),
    "explicit-zeros": (b"%%MatrixMarket matrix coordinate real general\n3 2 3\n1 1 0\n2 2 5\n3 1 0\n", 3),
    "stored-nan": (b"%%MatrixMarket matrix coordinate real general\n3 2 4\n1 1 1\n2 2 nan\n3 1 2\n3 2 4\n", 3),
    "duplicates": (b"%%MatrixMarket matrix coordinate real general\n3 2 4\n1 1 1\n1 1 3\n2 2 5\n3 1 2\n", 3),
}


@pytest.mark.parametrize("case", list(MTX_MEANINGS))
def test_an_mtx_gets_the_weights_the_command_line_gives_it(case):
    data, observed = MTX_MEANINGS[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicates averaged: the page's notes say it, below
        _, W = wc.data.matrix_problem(wc.data.load_matrix(data))
    assert (W.nnz if sp.issparse(W) else np.count_nonzero(W)) == observed
    at = run_page(PAGE, **dict(UPLOAD, lab_k="1"))
    at = upload(at, f"{case}.mtx", data)
    assert not at.exception and not errors(at)
    assert at.caption[0].value.startswith(f"**{case}.mtx**: M is 3 × 2 with {observed:,} weighted entries")
    at = step(at)
    assert not at.exception and not errors(at)
    assert all(np.isfinite(r[0]["objective"]) for r in records(at).values())
    notes = matrix_upload._build(at.session_state["lab_matrix"], None).notes  # for the page to show
    assert notes == ((f"{case}.mtx: found 1 entry given more than once; each holds the mean of its values "
                      "(duplicates='mean')",) if case == "duplicates" else ())


def test_a_stored_nan_in_an_mtx_weighted_by_a_weights_file_is_refused_at_upload_naming_the_file():
    at = run_page(PAGE, **dict(UPLOAD, lab_k="1"))
    at = upload(at, "nan.mtx", MTX_MEANINGS["stored-nan"][0])
    caption = at.caption[0].value
    at = upload(at, "ones.npy", npy(np.ones((3, 2))), slot="weights")
    assert errors(at) == ["Weights file 'ones.npy': matrix nan.mtx: found a missing value (NaN) at row 2, "
                          "column 2 where the weight is 1; need a value wherever the weight is positive. "
                          "The previous data is kept."]
    assert not at.exception and at.caption[0].value == caption


@pytest.mark.parametrize("name, data, shape", [
    ("na-first.csv", b"NA,2,3\n4,5,6\n7,8,9\n", "3 × 3 with 8 weighted"),      # the first row is data
    ("utf16.csv", "a,b\n1,2\n3,NA\n4,5\n".encode("utf-16"), "3 × 2 with 5 weighted"),
    ("comma.csv", b"a;b\n1,5;2\n3;4,25\n5;6\n", "3 × 2 with 6 weighted"),
])
def test_text_matrices_that_were_misread_are_read_whole(name, data, shape):
    at = run_page(PAGE, **dict(UPLOAD, lab_k="1"))
    at = upload(at, name, data)
    assert not at.exception and not errors(at)
    assert at.caption[0].value.startswith(f"**{name}**: M is {shape} entries")


def test_the_lab_writes_no_file_on_the_server(tmp_path, monkeypatch):
    """Exports are downloads made in memory: the app has no output path that could meet an input."""
    monkeypatch.chdir(tmp_path)
    at = with_a_run()
    assert [b.proto.label for b in at.get("download_button")] == ["History (CSV)"]
    assert list(tmp_path.iterdir()) == []


def test_an_mtx_value_cut_off_in_its_exponent_is_refused_and_the_server_lives():
    """SciPy's reader ends the whole server process (SIGSEGV) on this upload; wlra_core reads .mtx itself."""
    at = with_a_run()
    caption = at.caption[0].value
    at = upload(at, "cut.mtx", b"%%MatrixMarket matrix coordinate real general\n1 1 1\n1 1 1.5E-")
    assert len(errors(at)) == 1
    assert errors(at)[0].startswith("Matrix file 'cut.mtx': matrix: found a malformed Matrix Market file "
                                    "(could not convert string '1.5E-' to float64")
    assert_kept(at, caption)


def test_a_bad_weights_file_before_any_matrix_is_refused_naming_it_and_a_good_matrix_after_it_is_accepted():
    at = upload(run_page(PAGE, **UPLOAD), "W.npy", b"garbage", slot="weights")
    [message] = errors(at)
    assert message.startswith("Weights file 'W.npy'") and "The previous data is kept" in message
    assert at.session_state["lab_weights"] is None
    at = upload(at, "M.npy", npy(low_rank()))
    assert errors(at) == [] and at.session_state["lab_matrix"]["name"] == "M.npy"
