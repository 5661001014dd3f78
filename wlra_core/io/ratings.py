"""Rating files (user, item, rating triples) as sparse M and W."""
from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import scipy.sparse as sp

from .. import limits
from ..problem import InputError
from .sources import (DUPLICATE_POLICIES, Source, _check_entries, _csr_from_keys, _decode_text, _first_line,
                      _is_header, _is_number, _nonblank_line_number, _numbers, _pandas, _read_source, _read_table,
                      _resolve_duplicates, _sniff_separator, _split)

if TYPE_CHECKING:  # pandas is imported when a loader needs it
    import pandas as pd


class Ratings(NamedTuple):
    """A rating matrix: M holds the ratings, W = 1.0 at every observed (user, item) pair.

    M and W are n_users × n_items ``scipy.sparse.csr_matrix`` (float64) with the same sparsity
    structure; ``users`` and ``items`` are the original ids in row and column order;
    ``duplicates`` counts the (user, item) pairs that appeared more than once in the file.
    """
    M: sp.csr_matrix
    W: sp.csr_matrix
    users: np.ndarray
    items: np.ndarray
    duplicates: int


_USER_NAMES = {"user", "userid", "uid", "users", "customer", "customerid", "reviewer", "reviewerid"}
_ITEM_NAMES = {"item", "itemid", "iid", "items", "movie", "movieid", "product", "productid",
               "asin", "isbn", "book", "bookid"}
_RATING_NAMES = {"rating", "ratings", "score", "stars", "value", "bookrating"}


def _header_column(names: list[str], wanted: set[str]) -> int | None:
    keys = [n.lower().replace("_", "").replace("-", "").replace(" ", "").strip("\"'") for n in names]
    for index, key in enumerate(keys):
        if key in wanted:
            return index
    return None


def _ids(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes (0-based, in sorted id order) and the sorted unique ids.

    Ids that are all plain integers (written without leading zeros or "+") are compared as
    integers and returned as int64; anything else is kept as strings and sorted as strings.
    Only the distinct ids are examined, so this costs one hash pass over the column.
    """
    pd = _pandas()
    codes, uniques = pd.factorize(column)
    ids = np.asarray(uniques, dtype=str)
    as_number = pd.to_numeric(pd.Series(ids), errors="coerce").to_numpy()
    if not np.isnan(as_number).any() and np.all(np.abs(as_number) < 2**53) \
            and np.all(as_number == np.round(as_number)):
        ints = as_number.astype(np.int64)
        if np.array_equal(ints.astype(str), ids):
            ids = ints
    order = np.argsort(ids, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[codes], ids[order]


def load_ratings(src: Source, *, duplicates: str = "mean", max_bytes: int | None = limits.MAX_FILE_BYTES,
                 max_entries: int | None = limits.MAX_ENTRIES) -> Ratings:
    """Load (user, item, rating) triplets into sparse M and W (see :class:`Ratings`).

    Formats, detected from the content:

    * MovieLens 100k ``u.data``: tab-separated ``user item rating timestamp``, no header;
    * MovieLens ``ratings.csv``: ``userId,movieId,rating,timestamp`` with a header;
    * MovieLens 1M/10M ``ratings.dat``: ``user::item::rating::timestamp``;
    * generic CSV / TSV / semicolon- or whitespace-separated triplets ``user, item, rating`` with
      an optional fourth column, with or without a header.

    The first non-blank line is a header when its rating field is not a number.  With a header
    that names the user, item and rating columns (``userId``, ``movie_id``, ``rating``, ...) those
    columns are used and others ignored; otherwise there must be 3 or 4 columns, in the order
    user, item, rating[, timestamp].  Ids may be any strings; ids that are all integers sort
    numerically (MovieLens user 1 is row 0), others sort as strings.

    ``duplicates`` says what a (user, item) pair given more than once means: ``"mean"`` (default)
    averages its ratings, ``"last"`` keeps the one nearest the end of the file, ``"error"``
    raises InputError.  ``Ratings.duplicates`` reports how many pairs were repeated.

    A rating of 0 is kept as an explicitly stored entry of M (its W is 1).
    Size caps (wlra_core.limits): a file above ``max_bytes``, or with more lines than
    ``max_entries`` (each line is at most one rating), is refused before it is parsed.

    Raises InputError on an empty or header-only file, a wrong column count, an empty id, a
    non-numeric or non-finite rating, or duplicates under ``"error"``.
    """
    if duplicates not in DUPLICATE_POLICIES:
        raise InputError(f"duplicates: found {duplicates!r}, need one of {DUPLICATE_POLICIES}")
    need = "lines 'user, item, rating[, timestamp]'"
    data, _ = _read_source(src, "ratings", max_bytes)
    text = _decode_text(data, "ratings", strict=False,
                        need="a text file of lines 'user, item, rating[, timestamp]'")
    first = _first_line(text)
    if first is None:
        raise InputError(f"ratings: found an empty file, need {need}")
    lines = text.count("\n") + (not text.endswith("\n"))
    _check_entries("ratings", lines, f"{lines:,} lines (up to one rating each)", max_entries)
    first_number, line = first
    if "::" in line:
        text = text.replace("::", "\t")
        line = line.replace("::", "\t")
    sep = _sniff_separator(line)
    decimal_comma = sep == ";"
    fields = _split(line, sep)
    found = [_header_column(fields, names) for names in (_USER_NAMES, _ITEM_NAMES, _RATING_NAMES)]
    columns = found if None not in found else None
    header = columns is not None or _is_header(fields, decimal_comma)
    if len(fields) not in (3, 4) and columns is None:
        raise InputError(f"ratings: found {len(fields)} column(s) on line {first_number}, need 3 "
                         "(user, item, rating) or 4 (user, item, rating, timestamp)")
    columns = columns or [0, 1, 2]
    table = _read_table(text, sep, "ratings",
                        f"ratings: found only a header line, need at least one rating ({need})",
                        dtype=str, keep_default_na=False, na_filter=False,
                        skiprows=first_number if header else first_number - 1)
    if table.shape[1] != len(fields):
        raise InputError(f"ratings: found {table.shape[1]} columns in the data but {len(fields)} on "
                         f"line {first_number}; need the same number of columns on every line")
    offset = 1 if header else 0  # data row r is non-blank line r + offset

    def line_of(row: int) -> int:
        return _nonblank_line_number(text, row + offset)

    user_col, item_col, rating_col = (table.iloc[:, c].astype(str).str.strip() for c in columns)
    for label, col in (("user", user_col), ("item", item_col), ("rating", rating_col)):
        empty = np.flatnonzero((col == "").to_numpy())
        if empty.size:
            raise InputError(f"ratings: found an empty {label} on line {line_of(empty[0])} "
                             f"(a missing column?), need {need}")
    ratings = _numbers(rating_col, decimal_comma)
    bad = np.flatnonzero(~np.isfinite(ratings))
    if bad.size:
        value = rating_col.iloc[bad[0]]
        kind = "non-finite" if _is_number(value, decimal_comma) else "non-numeric"
        raise InputError(f"ratings: found a {kind} rating {value!r} on line {line_of(bad[0])}, "
                         "need a finite number")
    rows, users = _ids(user_col)
    cols, items = _ids(item_col)
    n_users, n_items = len(users), len(items)

    keys = rows.astype(np.int64) * n_items + cols
    keys, values, repeated = _resolve_duplicates(
        keys, ratings, duplicates, "ratings", unit="(user, item) pair(s)",
        example=lambda key, count: (f"user {users[key // n_items].item()!r} and item "
                                    f"{items[key % n_items].item()!r} ({count} times)"))
    M = _csr_from_keys(keys, values, (n_users, n_items))
    W = _csr_from_keys(keys, np.ones(keys.size), (n_users, n_items))
    return Ratings(M, W, users, items, repeated)
