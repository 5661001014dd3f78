"""wlra_core.io.ratings: rating files (user, item, rating) as sparse M and W, on good and bad files
made in memory."""
from __future__ import annotations

import io

import numpy as np
import pytest
import scipy.sparse as sp

from wlra_core.io.ratings import load_ratings
from wlra_core.synthetic import make_ratings
from wlra_core.problem import InputError

from tests.files import _write, dense


# ------------------------------------------------------------------------------------------------
# load_ratings

U_DATA = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n196\t377\t4.5\t1\n"


RATINGS_CSV = "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n7,31,4.0,1\n"


RATINGS_DAT = "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n"


def test_load_ratings_movielens_u_data():
    r = load_ratings(U_DATA.encode())
    np.testing.assert_array_equal(r.users, [22, 186, 196])
    np.testing.assert_array_equal(r.items, [242, 302, 377])
    expected = np.array([[0, 0, 1], [0, 3, 0], [3, 0, 4.5]])
    np.testing.assert_array_equal(dense(r), expected)
    np.testing.assert_array_equal(r.W.toarray(), expected != 0)
    assert r.duplicates == 0
    assert isinstance(r.M, sp.csr_matrix) and isinstance(r.W, sp.csr_matrix)
    assert r.M.dtype == np.float64 and r.W.dtype == np.float64


def test_load_ratings_movielens_ratings_csv_with_header(tmp_path):
    path = _write(tmp_path, "ratings.csv", RATINGS_CSV.encode())
    r = load_ratings(path)
    np.testing.assert_array_equal(r.users, [1, 7])
    np.testing.assert_array_equal(r.items, [31, 1029])
    np.testing.assert_array_equal(dense(r), [[2.5, 3.0], [4.0, 0.0]])


def test_load_ratings_movielens_ratings_dat_double_colon():
    with io.BytesIO(RATINGS_DAT.encode()) as f:
        r = load_ratings(f)
    np.testing.assert_array_equal(r.items, [661, 1193])
    np.testing.assert_array_equal(dense(r), [[3, 5], [0, 4]])


@pytest.mark.parametrize("text", [
    "1,10,4\n2,20,3.5\n",                          # CSV triplets, no header
    "user,item,rating\n1,10,4\n2,20,3.5\n",         # CSV with header
    "user\titem\trating\n1\t10\t4\n2\t20\t3.5\n",  # TSV with header
    "1;10;4\n2;20;3.5\n",                          # semicolons
    "1 10 4\n\n2   20 3.5\n",                      # whitespace, a blank line
    "\ufeffu,i,r\r\n1, 10, 4\r\n2, 20, 3.5\r\n",    # BOM, CRLF, spaces after commas
    "rating,item_id,user_id\n4,10,1\n3.5,20,2\n",  # named columns in another order
])
def test_load_ratings_generic_triplets(text):
    r = load_ratings(text.encode())
    np.testing.assert_array_equal(r.users, [1, 2])
    np.testing.assert_array_equal(r.items, [10, 20])
    np.testing.assert_array_equal(dense(r), [[4, 0], [0, 3.5]])


def test_load_ratings_quoted_semicolon_file_with_named_columns():
    text = '"User-ID";"ISBN";"Book-Rating"\n"276725";"034545104X";"0"\n"276726";"0155061224";"5"\n'
    r = load_ratings(text.encode())
    np.testing.assert_array_equal(r.users, [276725, 276726])
    assert list(r.items) == ["0155061224", "034545104X"]
    np.testing.assert_array_equal(dense(r), [[0, 0], [5, 0]])
    assert r.M.nnz == 2


def test_load_ratings_string_ids_sorted_as_strings():
    r = load_ratings(b"user,item,rating\nbob,Heat,4\nalice,Alien,5\nalice,Heat,2\ncarol,007,1\n")
    assert list(r.users) == ["alice", "bob", "carol"]
    assert list(r.items) == ["007", "Alien", "Heat"]
    np.testing.assert_array_equal(dense(r), [[0, 5, 2], [0, 0, 4], [1, 0, 0]])


def test_load_ratings_ids_with_leading_zeros_stay_strings():
    r = load_ratings(b"007,1,3\n7,1,4\n")
    assert list(r.users) == ["007", "7"]


def test_load_ratings_stores_a_zero_rating_explicitly():
    r = load_ratings(b"1,1,0\n1,2,3\n")
    assert r.M.nnz == 2 and r.W.nnz == 2
    np.testing.assert_array_equal(r.M.indices, r.W.indices)
    np.testing.assert_array_equal(r.M.indptr, r.W.indptr)
    np.testing.assert_array_equal(r.W.data, [1.0, 1.0])


DUPLICATED = b"u,i,r\n1,1,1\n1,1,3\n2,1,5\n1,2,2\n1,1,5\n2,1,4\n"  # (1,1) three times, (2,1) twice


@pytest.mark.parametrize("policy, expected", [
    ("mean", [[3.0, 2.0], [4.5, 0.0]]),
    ("last", [[5.0, 2.0], [4.0, 0.0]]),
])
def test_load_ratings_duplicates(policy, expected):
    r = load_ratings(DUPLICATED, duplicates=policy)
    np.testing.assert_array_equal(dense(r), expected)
    assert r.duplicates == 2
    assert r.M.nnz == 3


def test_load_ratings_duplicates_error_names_a_pair():
    with pytest.raises(InputError, match=r"found 2 \(user, item\) pair\(s\).*user 1 and item 1 \(3 times\)"):
        load_ratings(DUPLICATED, duplicates="error")


BAD_RATINGS = [
    (lambda tmp: b"", "empty file"),
    (lambda tmp: _write(tmp, "r.csv", b"\n  \n"), "empty file"),
    (lambda tmp: b"userId,movieId,rating,timestamp\n", "only a header"),
    (lambda tmp: b"1,2\n3,4\n", r"found 2 column\(s\) on line 1, need 3"),
    (lambda tmp: b"1,2,3,4,5\n", r"found 5 column\(s\)"),
    (lambda tmp: b"1,2,3\n1,3,4\n2,2,5,6\n", "same number of"),
    (lambda tmp: b"1,2,3\n1,3\n", "empty rating on line 2"),
    (lambda tmp: b"1,2,3\n1,3,good\n", "non-numeric rating 'good' on line 2"),
    (lambda tmp: b"user,item,rating\n1,2,3\n\n1,3,inf\n", "non-finite rating 'inf' on line 4"),
    (lambda tmp: b"1,2,3\n1,3,nan\n", "non-finite rating 'nan'"),
    (lambda tmp: b"a,b,c,d\n1,2,x,4\n", "non-numeric rating 'x'"),
    (lambda tmp: b"\x89PNG\r\n\x1a\n\x00\x00", r"found an image \(PNG\), need a text file"),
    (lambda tmp: b"\x00\x01\x02\x03binary", "binary data"),
    (lambda tmp: tmp / "nope.csv", "found no file"),
]


@pytest.mark.parametrize("make_bad, match", BAD_RATINGS)
def test_load_ratings_refuses_bad_input(tmp_path, make_bad, match):
    with pytest.raises(InputError, match=match):
        load_ratings(make_bad(tmp_path))


def test_load_ratings_refuses_an_unknown_duplicate_policy():
    with pytest.raises(InputError, match="duplicates: found 'first'"):
        load_ratings(b"1,1,1\n", duplicates="first")


def test_make_ratings_round_trips_through_load_ratings():
    frame = make_ratings(40, 30, 2, density=0.2, seed=3)
    r = load_ratings(frame.to_csv(index=False).encode())
    assert r.M.shape == (40, 30) and r.M.nnz == len(frame) and r.duplicates == 0
    row = np.searchsorted(r.users, frame.user.to_numpy())
    col = np.searchsorted(r.items, frame.item.to_numpy())
    np.testing.assert_array_equal(r.M.toarray()[row, col], frame.rating.to_numpy())


# ------------------------------------------------------------------------------------------------
# size caps (wlra_core.limits): refused before decoding or allocating

def test_load_ratings_refuses_more_lines_than_max_entries_before_parsing():
    text = "".join(f"{u},{u % 7},{u % 5 + 1}\n" for u in range(50)).encode()
    with pytest.raises(InputError, match=r"ratings: found 50 lines \(up to one rating each\), need at most 40 entries"):
        load_ratings(text, max_entries=40)
    assert load_ratings(text, max_entries=50).W.nnz == 50
    assert load_ratings(text.rstrip(b"\n"), max_entries=50).W.nnz == 50


# ------------------------------------------------------------------------------------------------
# matrix_problem: a loaded matrix (and weights) as (M, W) for the solvers

def test_load_ratings_of_a_single_user_gives_one_row_that_solves_at_rank_one():
    ratings = load_ratings(b"alice,1,4\nalice,2,3\nalice,3,5\n")
    assert ratings.M.shape == (1, 3) and list(ratings.users) == ["alice"]
    import wlra_core as wc
    with pytest.raises(InputError, match=r"k: found 2, need an integer ≤ 1"):
        wc.solve(ratings.M, ratings.W, 2)
    result = wc.solve(ratings.M, ratings.W, 1, solver="exact", max_iter=3)
    np.testing.assert_allclose(result.low_rank(), [[4, 3, 5]], atol=1e-8)


# ------------------------------------------------------------------------------------------------
# Issue 12: what an outside tester broke (files, loaders, messages)

@pytest.mark.parametrize("text, match", [
    (b"1,2,NA\n1,3,4\n", "non-numeric rating 'NA' on line 1"),
    (b"1,2,good\n1,3,4\n", "non-numeric rating 'good' on line 1"),
    (b"1,2,nan\n1,3,4\n", "non-finite rating 'nan' on line 1"),
])
def test_a_first_rating_of_na_is_refused_not_taken_for_a_header(text, match):
    with pytest.raises(InputError, match=match):
        load_ratings(text)


def test_quoted_ids_with_commas_are_one_field():
    r = load_ratings(b'"Smith, J","Book, The",4\n"Doe, A","Book, The",2\n')
    assert list(r.users) == ["Doe, A", "Smith, J"] and list(r.items) == ["Book, The"]
    np.testing.assert_array_equal(dense(r), [[2.0], [4.0]])
