"""Rating-matrix helpers for the ratings page: split, centre, predict, recommend.

Pure numpy/scipy (no Streamlit), so they are unit-tested on their own. The solver itself is
wlra_core; these functions only prepare its input (a centred, sparse training matrix) and turn
its factors back into ratings.

A prediction is   r̂_ui = μ + b_u + c_i + ⟨X_u, Y_i⟩   where (μ, b, c) is the `Centring` and
X Yᵀ is the low-rank fit of the centred training ratings. With the default MODEL the offsets are
not a centring: wlra_core fits them with the factors (bias=True, count-scaled ridge); the
centring is then zero and the offsets travel inside the factors, [X, b, 1, μ]·[Y, 1, c, 1]ᵀ being
the full estimate, so everything downstream (RMSE, heatmap, top-N, replay) reads one X Yᵀ.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp

MODEL = "fitted offsets (bias=True)"
CENTRINGS = (MODEL, "none", "global mean", "user+item biases")


class Split(NamedTuple):
    """Train/test split of the observed entries; both masks are CSR with M's shape."""

    W_train: sp.csr_matrix
    W_test: sp.csr_matrix


def split_ratings(W, test_fraction: float, seed: int = 0) -> Split:
    """Hold out about `test_fraction` of the observed entries of W as a test set.

    Each user (row) and each item (column) keeps at least one training entry, so every held-out
    rating can be predicted from something: the entry with the largest random key of each row
    and of each column (the one least likely to be drawn for testing) is forced into the training
    set, so only rows or columns drawn entirely for testing lose a test entry. Same seed, same split.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1); got {test_fraction}.")
    W = sp.csr_matrix(W, copy=True)
    W.eliminate_zeros()
    coo = W.tocoo()
    rows, cols, vals = coo.row, coo.col, coo.data
    rng = np.random.default_rng(seed)
    key = rng.random(vals.size)
    test = key < test_fraction
    for idx in (rows, cols):
        # position of the largest key within each row (column): keep it for training
        order = np.lexsort((-key, idx))
        first = np.ones(order.size, dtype=bool)
        first[1:] = idx[order][1:] != idx[order][:-1]
        test[order[first]] = False
    shape = W.shape
    W_train = sp.csr_matrix((vals[~test], (rows[~test], cols[~test])), shape=shape)
    W_test = sp.csr_matrix((vals[test], (rows[test], cols[test])), shape=shape)
    return Split(W_train, W_test)


def entries(M, W) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, ratings) of M at the stored entries of W, in W's CSR order.

    M may be dense or sparse; an entry of W that M does not store reads as 0.
    """
    W = sp.csr_matrix(W)
    coo = W.tocoo()
    rows, cols = coo.row.astype(np.int64), coo.col.astype(np.int64)
    if not sp.issparse(M):
        return rows, cols, np.asarray(M, dtype=float)[rows, cols]
    Mc = sp.csr_matrix(M, copy=True)
    Mc.sum_duplicates()  # canonical: sorted indices, so the keys below are sorted
    mc = Mc.tocoo()
    keys = mc.row.astype(np.int64) * W.shape[1] + mc.col
    query = rows * W.shape[1] + cols
    pos = np.minimum(np.searchsorted(keys, query), max(keys.size - 1, 0))
    found = keys[pos] == query if keys.size else np.zeros(query.size, dtype=bool)
    vals = np.where(found, mc.data[pos] if keys.size else 0.0, 0.0)
    return rows, cols, vals.astype(float)


@dataclass(frozen=True)
class Centring:
    """Baseline μ + b_u + c_i subtracted before the low-rank fit and added back after it."""

    mode: str
    mu: float
    user_bias: np.ndarray
    item_bias: np.ndarray

    def baseline(self, rows, cols) -> np.ndarray:
        return self.mu + self.user_bias[rows] + self.item_bias[cols]


def fit_centring(M, W_train, mode: str, *, bias_reg: float = 5.0, sweeps: int = 10) -> Centring:
    """Fit the baseline on the training entries.

    - "none": 0.
    - "global mean": μ = mean training rating.
    - "user+item biases": μ plus damped biases, by `sweeps` alternating updates of
      b_u = Σ_i (r_ui − μ − c_i) / (n_u + bias_reg),  c_i = Σ_u (r_ui − μ − b_u) / (n_i + bias_reg).
      bias_reg pulls users and items with few ratings towards the mean.
    """
    if mode not in CENTRINGS:
        raise ValueError(f"centring must be one of {CENTRINGS}; got {mode!r}.")
    n, m = W_train.shape
    rows, cols, r = entries(M, W_train)
    b, c = np.zeros(n), np.zeros(m)
    if mode in ("none", MODEL) or r.size == 0:        # MODEL: the offsets are fitted with the factors
        return Centring(mode, 0.0, b, c)
    mu = float(r.mean())
    if mode == "user+item biases":
        n_u = np.bincount(rows, minlength=n)
        n_i = np.bincount(cols, minlength=m)
        for _ in range(sweeps):
            b = np.bincount(rows, weights=r - mu - c[cols], minlength=n) / (n_u + bias_reg)
            c = np.bincount(cols, weights=r - mu - b[rows], minlength=m) / (n_i + bias_reg)
    return Centring(mode, mu, b, c)


def centred_matrix(M, W_train, centring: Centring) -> sp.csr_matrix:
    """Sparse residual M − baseline on the pattern of W_train (what the solver fits)."""
    rows, cols, r = entries(M, W_train)
    resid = r - centring.baseline(rows, cols)
    return sp.csr_matrix((resid, (rows, cols)), shape=W_train.shape)


def predict(centring: Centring, X, Y, rows, cols, *, clip: tuple[float, float] | None = None):
    """Predicted ratings at (rows, cols); optionally clipped to the rating range."""
    rows, cols = np.asarray(rows), np.asarray(cols)
    pred = centring.baseline(rows, cols)
    if X is not None and Y is not None:
        pred = pred + np.einsum("ij,ij->i", X[rows], Y[cols])
    return np.clip(pred, *clip) if clip is not None else pred


def rmse(centring: Centring, X, Y, M, W_eval, *, clip=None) -> float:
    """Root-mean-square error of the predictions on the entries stored in W_eval (unweighted)."""
    rows, cols, r = entries(M, W_eval)
    if r.size == 0:
        return float("nan")
    err = predict(centring, X, Y, rows, cols, clip=clip) - r
    return float(np.sqrt(np.mean(err**2)))


def mean_predictor_rmse(M, W_train, W_test) -> float:
    """RMSE on the test entries of predicting every rating by the training mean (the reference)."""
    return rmse(fit_centring(M, W_train, "global mean"), None, None, M, W_test)


def rating_range(M, W) -> tuple[float, float]:
    _, _, r = entries(M, W)
    return (float(r.min()), float(r.max())) if r.size else (0.0, 0.0)


def prediction_window(centring, X, Y, users: slice, items: slice, *, clip=None) -> np.ndarray:
    """Dense block of predictions for a window of users × items."""
    u = np.arange(centring.user_bias.size)[users]
    i = np.arange(centring.item_bias.size)[items]
    uu, ii = np.meshgrid(u, i, indexing="ij")
    return predict(centring, X, Y, uu.ravel(), ii.ravel(), clip=clip).reshape(uu.shape)


def top_n(centring, X, Y, user: int, W_rated, n: int = 10, *, clip=None) -> pd.DataFrame:
    """The n items with the highest predicted rating for `user`, among items they have not rated.

    W_rated: every entry the user has rated (train and test), whose items are excluded.
    Returns columns: item (index), predicted, n_ratings (how many users rated the item).
    """
    m = centring.item_bias.size
    items = np.arange(m)
    scores = predict(centring, X, Y, np.full(m, user), items, clip=clip)
    W_rated = sp.csr_matrix(W_rated)
    rated = W_rated.indices[W_rated.indptr[user] : W_rated.indptr[user + 1]]
    candidates = np.setdiff1d(items, rated)
    # stable: highest score first, ties by item index
    order = candidates[np.lexsort((candidates, -scores[candidates]))][:n]
    popularity = np.diff(sp.csc_matrix(W_rated).indptr)
    return pd.DataFrame(
        {"item": order, "predicted": scores[order], "n_ratings": popularity[order]}
    )


def history_row(centring, X, Y, M, split: Split, *, clip=None) -> dict:
    """Train and test RMSE of one iterate (for the per-iteration history)."""
    return {
        "train_rmse": rmse(centring, X, Y, M, split.W_train, clip=clip),
        "test_rmse": rmse(centring, X, Y, M, split.W_test, clip=clip),
    }


def load_upload(data: bytes, filename: str, loader):
    """Parse uploaded bytes with `loader` (wlra_core.data.load_ratings, which reads bytes).

    Any failure is raised as ValueError with a message for the page, naming the file; the caller
    keeps its previous data.
    """
    if not data:
        raise ValueError(f"{filename}: the file is empty (0 bytes), need lines 'user, item, rating[, timestamp]'.")
    try:
        ratings = loader(bytes(data))
    except ValueError as exc:  # wlra_core.InputError is a ValueError; it names the input "ratings"
        raise ValueError(f"{filename}: {str(exc).removeprefix('ratings: ')}") from exc
    except Exception as exc:  # a parser error of another kind: still a message, no traceback
        raise ValueError(f"{filename}: could not be read as ratings ({type(exc).__name__}: {exc})") from exc
    if ratings.W.nnz == 0:
        raise ValueError(f"{filename}: no ratings found.")
    return ratings


def history_csv(frame: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode()


class Prepared(NamedTuple):
    """Everything a fit needs, derived from the ratings and the split/centring settings."""

    M: sp.csr_matrix
    split: Split
    centring: Centring
    R: sp.csr_matrix  # centred training ratings (what the solver fits), pattern of W_train
    clip: tuple[float, float]  # the training rating range, predictions are clipped to it
    mean_rmse: float  # test RMSE of the training-mean predictor (the reference line)
    baseline_rmse: float  # test RMSE of the centring alone (μ, or μ + b_u + c_i; MODEL: wc.fit_biases)


def prepare(M, W, *, test_fraction: float, seed: int, centring: str, ridge: float = 0.0) -> Prepared:
    M = sp.csr_matrix(M)
    split = split_ratings(W, test_fraction, seed)
    cent = fit_centring(M, split.W_train, centring)
    clip = rating_range(M, split.W_train)
    return Prepared(
        M, split, cent, centred_matrix(M, split.W_train, cent), clip,
        mean_predictor_rmse(M, split.W_train, split.W_test),
        biases_only_rmse(M, split, ridge, clip) if centring == MODEL
        else rmse(cent, None, None, M, split.W_test, clip=clip),
    )


def model_options(prep: Prepared, ridge: float, solver: str) -> dict:
    """wlra_core keywords of the model: bias=True and, with a ridge, its count scaling (EM has no
    per-row ridge: it keeps the plain λ)."""
    if prep.centring.mode != MODEL:
        return {}
    return {"bias": True, **({"ridge_scaling": "count"} if ridge > 0 and solver != "em" else {})}


def biases_only_rmse(M, split: Split, ridge: float, clip) -> float:
    """Test RMSE of the biases-only model (wlra_core.fit_biases, the offsets' penalty of the
    count-scaled model): the baseline the low-rank part is measured against."""
    import wlra_core as wc
    if split.W_test.nnz == 0:
        return float("nan")
    fit = wc.fit_biases(M, split.W_train, ridge=ridge, ridge_scaling="count" if ridge > 0 else "none")
    rows, cols, r = entries(M, split.W_test)
    err = np.clip(fit.predict(rows, cols), *clip) - r
    return float(np.sqrt(np.mean(err ** 2)))


def offsets_in_factors(step):
    """The step with its offsets folded into the factors (module docstring); unchanged without."""
    import dataclasses
    if step.row_offsets is None:
        return step
    n, m = step.X.shape[0], step.Y.shape[0]
    X = np.hstack([step.X, step.row_offsets[:, None], np.ones((n, 1)), np.full((n, 1), step.mean)])
    Y = np.hstack([step.Y, np.ones((m, 1)), step.col_offsets[:, None], np.ones((m, 1))])
    return dataclasses.replace(step, X=X, Y=Y, mean=0.0, row_offsets=None, col_offsets=None)


def early_stopping_share(share: float, n_train: int) -> float:
    """The holdout passed to wlra_core: `share`, or 0 when it would hold out no training rating or
    all of them (wlra_core refuses both; a tiny upload then runs without early stopping)."""
    held = round(share * n_train)
    return float(share) if 1 <= held < n_train else 0.0


def best_record(records: list, upto: int) -> dict | None:
    """The record of the best iteration so far (lowest held-out error, `is_best`) among the first
    `upto` + 1 records; the last one when no record says (no holdout)."""
    shown = records[:upto + 1]
    best = [r for r in shown if r.get("is_best")]
    return best[-1] if best else (shown[-1] if shown else None)


def fit_iterations(iterate, prep: Prepared, k: int, solver: str, **options):
    """Run `iterate` (wlra_core.iterate) on the centred training ratings.

    Yields (step, record) per iteration; the record has the train objective and train/test RMSE.
    """
    for step in iterate(prep.R, prep.split.W_train, k, solver=solver, **options):
        record = {
            "solver": solver,
            "iteration": int(step.iteration),
            "objective": float(step.objective),
            "relative_objective": float(step.relative_objective),
            "seconds": float(step.seconds),
            **history_row(prep.centring, step.X, step.Y, prep.M, prep.split, clip=prep.clip),
        }
        yield step, record


def test_predictions(prep: Prepared, factors: dict, users=None, items=None) -> pd.DataFrame:
    """Held-out ratings beside each solver's prediction (for the predictions CSV)."""
    rows, cols, r = entries(prep.M, prep.split.W_test)
    frame = pd.DataFrame({
        "user": rows if users is None else np.asarray(users)[rows],
        "item": cols if items is None else np.asarray(items)[cols],
        "rating": r,
        "baseline": predict(prep.centring, None, None, rows, cols, clip=prep.clip),
    })
    for solver, (X, Y) in factors.items():
        frame[f"predicted_{solver}"] = predict(prep.centring, X, Y, rows, cols, clip=prep.clip)
    return frame


def window_entries(M, split: Split, users: slice, items: slice) -> dict:
    """The ratings inside a window of users × items, for the heatmap and the data preview.

    Returns {"observed": dense block of the ratings (NaN where unrated), "train": (rows, cols,
    ratings), "test": (rows, cols, ratings)}, rows and cols relative to the window's corner."""
    u0, i0 = users.start or 0, items.start or 0
    shape = (users.stop - u0, items.stop - i0)
    observed = np.full(shape, np.nan)
    out = {"observed": observed}
    block = (sp.csr_matrix(M) if sp.issparse(M) else np.asarray(M))[users, items]
    for name, W in (("train", split.W_train), ("test", split.W_test)):
        r, c, v = entries(block, sp.csr_matrix(W)[users, items])
        observed[r, c] = v
        out[name] = (r, c, v)
    return out


def row_position(one_based: int, size: int) -> int:
    """The 0-based row of a 1-based position shown to the user, checked against the size."""
    if not 1 <= int(one_based) <= size:
        raise ValueError(f"position: found {one_based}, need 1 to {size}.")
    return int(one_based) - 1
