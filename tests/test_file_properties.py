"""Property-based tests of the classes of issue 12 (files and output paths): what a file declares
and what it holds, the same data written in the ways users write it, and the command line's
output paths against its inputs.

Derandomised like tests/test_properties.py (a fixed set of examples, no database), small cases so
the file runs in seconds.
"""
from __future__ import annotations

import argparse
import io
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse as sp
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import wlra_core as wc
from wlra_core import __main__ as cli
from wlra_core.data import load_matrix, load_ratings


def profile(examples):
    """Deterministic settings for one test: no deadline (a shared 2-core machine), no database."""
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------------------------------
# Files: the same matrix, written the ways users write it, reads back exactly

def _write_text(values: np.ndarray, sep: str, missing: str, header: bool, decimal_comma: bool,
                newline: str, encoding: str, final_newline: bool) -> bytes:
    def cell(v: float) -> str:
        if np.isnan(v):
            return missing
        text = repr(float(v))
        return text.replace(".", ",") if decimal_comma else text

    lines = [sep.join(f'"col {j}"' if sep != " " else f"col{j}" for j in range(values.shape[1]))] if header else []
    lines += [sep.join(cell(v) for v in row) for row in values]
    return (newline.join(lines) + (newline if final_newline else "")).encode(encoding)


@profile(120)
@given(n=st.integers(1, 6), m=st.integers(1, 5), seed=st.integers(0, 2**16),
       missing_rate=st.sampled_from([0.0, 0.3, 1.0]), sep=st.sampled_from([",", "\t", ";", " "]),
       missing=st.sampled_from(["", "NA", "NaN", "nan", "null"]), header=st.booleans(),
       decimal_comma=st.booleans(), newline=st.sampled_from(["\n", "\r\n"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]), final_newline=st.booleans())
@example(n=2, m=2, seed=0, missing_rate=1.0, sep=",", missing="NA", header=False, decimal_comma=False,
         newline="\n", encoding="utf-8", final_newline=True)  # a first row of NA is data (finding 5)
def test_a_dense_text_matrix_reads_back_exactly_however_it_is_written(n, m, seed, missing_rate, sep, missing,
                                                                      header, decimal_comma, newline, encoding,
                                                                      final_newline):
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((n, m)) * 10.0 ** rng.integers(-5, 6, (n, m))
    values[rng.random((n, m)) < missing_rate] = np.nan
    if sep == " " and missing == "":
        missing = "NaN"  # whitespace-separated text cannot hold an empty cell
    if m == 1 and missing == "" and np.isnan(values).any():
        missing = "NaN"  # a blank line is no row
    # A decimal comma is known by the semicolons between the values: one column has none.
    decimal_comma = decimal_comma and sep == ";" and m >= 2
    data = _write_text(values, sep, missing, header, decimal_comma, newline, encoding, final_newline)
    np.testing.assert_array_equal(load_matrix(data, name="m.csv"), values)


@profile(80)
@given(triplets=st.lists(st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(0, 10)), min_size=1,
                         max_size=12),
       policy=st.sampled_from(["mean", "last", "error"]))
def test_the_same_triplets_as_ratings_and_as_matrix_market_give_the_same_entries(triplets, policy):
    """One rule for entries given twice, and one meaning for a stored entry (finding 4)."""
    n = max(i for i, _, _ in triplets)
    m = max(j for _, j, _ in triplets)
    mtx = (f"%%MatrixMarket matrix coordinate real general\n{n} {m} {len(triplets)}\n"
           + "".join(f"{i} {j} {v / 2}\n" for i, j, v in triplets)).encode()
    csv_text = "".join(f"{i},{j},{v / 2}\n" for i, j, v in triplets).encode()
    repeated = len({(i, j) for i, j, _ in triplets}) < len(triplets)
    if policy == "error" and repeated:
        for load in (lambda: load_ratings(csv_text, duplicates=policy),
                     lambda: load_matrix(mtx, duplicates=policy)):
            try:
                load()
            except wc.InputError as exc:
                assert "given more than once" in str(exc)
            else:
                raise AssertionError("duplicates='error' accepted a repeated entry")
        return
    ratings = load_ratings(csv_text, duplicates=policy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "found N entries given more than once"
        M, W = wc.data.matrix_problem(load_matrix(mtx, duplicates=policy))
    from_ratings = _entries(ratings.M, ratings.users, ratings.items)
    from_mtx = _entries(M, np.arange(1, n + 1), np.arange(1, m + 1))
    assert from_mtx == from_ratings
    assert W.nnz == ratings.W.nnz == len(from_mtx)  # every stored entry is observed, zeros included


def _entries(A: sp.csr_matrix, rows, cols) -> dict:
    A = A.tocoo()
    return {(int(rows[i]), int(cols[j])): float(v) for i, j, v in zip(A.row, A.col, A.data)}


def _npy(arr) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, arr, allow_pickle=False)
    return buffer.getvalue()


def _mtx(arr) -> bytes:
    buffer = io.BytesIO()
    scipy.io.mmwrite(buffer, sp.coo_matrix(arr))
    return buffer.getvalue()


@profile(150)
@given(kind=st.sampled_from(["npy", "mtx"]), n=st.integers(1, 5), m=st.integers(1, 5), seed=st.integers(0, 999),
       cut=st.integers(-40, 40), junk=st.binary(max_size=12))
def test_a_file_whose_length_differs_from_its_header_is_refused_never_misread(kind, n, m, seed, cut, junk):
    """Truncated or extended files: an InputError (never another exception); a .npy whose bytes
    do not match its header is always refused; an untouched file reads back exactly."""
    arr = np.random.default_rng(seed).standard_normal((n, m))
    good = _npy(arr) if kind == "npy" else _mtx(arr)
    damaged = good[:len(good) + cut] if cut < 0 else good + junk[:cut]
    try:
        got = load_matrix(damaged, name=f"m.{kind}")
    except wc.InputError:
        assert damaged != good
        return
    if damaged == good:
        np.testing.assert_allclose(got.toarray() if sp.issparse(got) else got, arr, rtol=1e-15)
    else:
        assert kind == "mtx"  # text may still parse (a trailing comment, a shortened last digit)


# ------------------------------------------------------------------------------------------------
# Output paths: whatever the spelling, --out never writes over an input

INPUT_NAMES = ["run_X.npy", "run_Y.npy", "run_history.csv", "run.png", "m.npy", "sub/run_X.npy"]
PREFIXES = ["run", "./run", "sub/../run", "link/run", "sub/run", "new/run", "m", "hard", "sub/x/../../run"]


@profile(120)
@given(matrix=st.sampled_from(INPUT_NAMES[:3] + INPUT_NAMES[4:]), weights=st.none() | st.sampled_from(INPUT_NAMES),
       image=st.booleans(), prefix=st.sampled_from(PREFIXES), hard=st.sampled_from(INPUT_NAMES))
def test_out_never_lands_on_an_input_whatever_its_spelling(matrix, weights, image, prefix, hard):
    with tempfile.TemporaryDirectory() as root:
        root = Path(root)
        (root / "sub").mkdir()
        (root / "link").symlink_to(root)
        inputs = {"matrix": matrix, "weights": weights} if not image else {"image": "run.png", "mask": weights}
        for name in filter(None, inputs.values()):
            (root / name).write_bytes(f"input {name}".encode())
        first = next(iter(v for v in inputs.values() if v))
        os.link(root / first, root / "hard_X.npy")  # another name of an input, reached by the prefix "hard"
        args = argparse.Namespace(out=prefix, matrix=None, weights=None, ratings=None, image=None, mask=None)
        for option, name in inputs.items():
            setattr(args, option, name)
        before = {name: (root / name).read_bytes() for name in filter(None, inputs.values())}
        cwd = os.getcwd()
        os.chdir(root)
        try:
            try:
                cli.check_outputs(args)
            except cli._CliError as exc:
                assert "which is the input" in str(exc) or "is a directory" in str(exc), str(exc)
                return
            problem = cli._Problem(None, None, 1, "", image_shape=(2, 3) if image else None)
            cli._save_outputs(prefix, np.ones((2, 1)), np.ones((3, 1)), [], problem)
            after = {name: (root / name).read_bytes() for name in before}
            assert after == before, f"--out {prefix} overwrote an input"
        finally:
            os.chdir(cwd)


@profile(100)
@given(n=st.integers(1, 6), m=st.integers(1, 6), seed=st.integers(0, 999),
       symmetry=st.sampled_from(["general", "symmetric", "skew-symmetric"]),
       layout=st.sampled_from(["coordinate", "array"]), field=st.sampled_from(["real", "integer", "pattern"]),
       density=st.sampled_from([0.0, 0.3, 1.0]))
def test_the_matrix_market_reader_agrees_with_scipy_on_every_well_formed_file(n, m, seed, symmetry, layout, field,
                                                                               density):
    """wlra_core reads Matrix Market itself (SciPy's reader crashes on some damaged files): on
    files SciPy writes, both give the same matrix."""
    rng = np.random.default_rng(seed)
    if symmetry != "general":
        m = n
    A = rng.standard_normal((n, m)) * (rng.random((n, m)) < density)
    if field != "real":
        A = np.round(3 * A)
    if symmetry == "symmetric":
        A = np.tril(A) + np.tril(A, -1).T
    elif symmetry == "skew-symmetric":
        A = np.tril(A, -1) - np.tril(A, -1).T
    if field == "pattern":
        if layout == "array":
            return  # the format has no array of patterns
        A = (A != 0).astype(float)
    buffer = io.BytesIO()
    source = A if layout == "array" else sp.coo_matrix(A)
    scipy.io.mmwrite(buffer, source, field=field, symmetry=symmetry)
    data = buffer.getvalue()
    expected = scipy.io.mmread(io.BytesIO(data))
    expected = expected.toarray() if sp.issparse(expected) else np.asarray(expected, dtype=float)
    got = load_matrix(data, name="a.mtx")
    assert sp.issparse(got) == (layout == "coordinate")
    np.testing.assert_array_equal(got.toarray() if sp.issparse(got) else got, expected)
