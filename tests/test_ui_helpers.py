"""Unit tests of the pure helpers behind the ratings, solver lab and how-it-works pages."""
from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import wlra_core as wc
from ui.models import lab
from ui.models import ratings as rm
from ui.models import walkthrough as wt


# --- ratings_model ---------------------------------------------------------------------------

def random_ratings(n=60, m=40, density=0.3, seed=0):
    rng = np.random.default_rng(seed)
    mask = rng.random((n, m)) < density
    mask[np.arange(n), rng.integers(0, m, n)] = True
    mask[rng.integers(0, n, m), np.arange(m)] = True
    r, c = np.nonzero(mask)
    vals = rng.integers(1, 6, r.size).astype(float)
    M = sp.csr_matrix((vals, (r, c)), shape=(n, m))
    W = sp.csr_matrix((np.ones(r.size), (r, c)), shape=(n, m))
    return M, W


def test_split_is_a_deterministic_partition_keeping_every_row_and_column_in_training():
    _, W = random_ratings()
    a, b = rm.split_ratings(W, 0.3, seed=4), rm.split_ratings(W, 0.3, seed=4)
    assert (a.W_train != b.W_train).nnz == 0 and (a.W_test != b.W_test).nnz == 0
    assert a.W_train.multiply(a.W_test).nnz == 0  # disjoint
    assert ((a.W_train + a.W_test) != W).nnz == 0  # together: everything
    assert 0.26 < a.W_test.nnz / W.nnz < 0.34
    assert np.all(np.diff(a.W_train.indptr) > 0)
    assert np.all(np.diff(a.W_train.tocsc().indptr) > 0)
    assert (rm.split_ratings(W, 0.3, seed=5).W_test != a.W_test).nnz > 0


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 2.0])
def test_split_rejects_impossible_fractions(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        rm.split_ratings(sp.eye(3, format="csr"), fraction)


def test_entries_reads_stored_values_and_zero_for_unstored_entries():
    M = sp.csr_matrix(np.array([[1.0, 0.0, 3.0], [0.0, 5.0, 0.0]]))
    W = sp.csr_matrix(np.array([[1.0, 1.0, 1.0], [0.0, 1.0, 0.0]]))
    rows, cols, vals = rm.entries(M, W)
    assert list(zip(rows, cols, vals)) == [(0, 0, 1.0), (0, 1, 0.0), (0, 2, 3.0), (1, 1, 5.0)]
    assert np.array_equal(rm.entries(M.toarray(), W)[2], vals)
    assert rm.entries(M, sp.csr_matrix((2, 3)))[2].size == 0


def test_centring_recovers_additive_biases():
    rng = np.random.default_rng(1)
    n, m = 80, 50
    b, c = rng.normal(0, 0.5, n), rng.normal(0, 0.8, m)
    full = 3.0 + b[:, None] + c[None, :]
    W = sp.csr_matrix(np.ones((n, m)))
    cent = rm.fit_centring(full, W, "user+item biases", bias_reg=0.0, sweeps=50)
    assert np.allclose(cent.baseline(*np.nonzero(np.ones((n, m)))), full.ravel(), atol=1e-8)
    glob = rm.fit_centring(full, W, "global mean")
    assert glob.mu == pytest.approx(full.mean()) and not glob.user_bias.any()
    none = rm.fit_centring(full, W, "none")
    assert none.mu == 0.0
    with pytest.raises(ValueError, match="centring"):
        rm.fit_centring(full, W, "median")


def test_centred_matrix_plus_baseline_gives_back_the_training_ratings():
    M, W = random_ratings()
    split = rm.split_ratings(W, 0.2, seed=0)
    cent = rm.fit_centring(M, split.W_train, "user+item biases")
    R = rm.centred_matrix(M, split.W_train, cent)
    rows, cols, r = rm.entries(M, split.W_train)
    assert np.allclose(rm.entries(R, split.W_train)[2] + cent.baseline(rows, cols), r)


def test_rmse_and_mean_predictor_by_hand():
    M = sp.csr_matrix(np.array([[1.0, 3.0], [5.0, 2.0]]))
    train = sp.csr_matrix(np.array([[1.0, 1.0], [1.0, 0.0]]))
    test = sp.csr_matrix(np.array([[0.0, 0.0], [0.0, 1.0]]))
    assert rm.mean_predictor_rmse(M, train, test) == pytest.approx(1.0)  # mean 3, rating 2
    cent = rm.fit_centring(M, train, "global mean")
    X, Y = np.array([[0.0], [1.0]]), np.array([[0.0], [-2.0]])  # predicts 3 − 2 = 1 at (1, 1)
    assert rm.rmse(cent, X, Y, M, test) == pytest.approx(1.0)
    assert rm.rmse(cent, X, Y, M, test, clip=(1.5, 5.0)) == pytest.approx(0.5)
    assert np.isnan(rm.rmse(cent, X, Y, M, sp.csr_matrix((2, 2))))


def test_top_n_excludes_rated_items_and_sorts_by_prediction():
    cent = rm.Centring("none", 0.0, np.zeros(2), np.zeros(5))
    X = np.array([[1.0], [1.0]])
    Y = np.array([[5.0], [1.0], [4.0], [2.0], [3.0]])
    rated = sp.csr_matrix(np.array([[1, 0, 0, 0, 1], [0, 0, 0, 0, 0]], dtype=float))
    top = rm.top_n(cent, X, Y, 0, rated, n=2)
    assert list(top["item"]) == [2, 3] and list(top["predicted"]) == [4.0, 2.0]
    assert list(top["n_ratings"]) == [0, 0]
    assert len(rm.top_n(cent, X, Y, 0, rated, n=10)) == 3


def test_prediction_window_matches_predict():
    rng = np.random.default_rng(0)
    cent = rm.Centring("user+item biases", 3.0, rng.normal(size=10), rng.normal(size=8))
    X, Y = rng.normal(size=(10, 2)), rng.normal(size=(8, 2))
    Z = rm.prediction_window(cent, X, Y, slice(2, 5), slice(3, 8))
    assert Z.shape == (3, 5)
    assert Z[1, 2] == pytest.approx(rm.predict(cent, X, Y, [3], [5])[0])


def test_prepare_and_fit_iterations_beat_the_mean_predictor():
    M, W = random_ratings(density=0.5)
    prep = rm.prepare(M, W, test_fraction=0.2, seed=0, centring="global mean")
    assert prep.clip == (1.0, 5.0) and prep.R.shape == M.shape
    records = [rec for _, rec in rm.fit_iterations(wc.iterate, prep, 2, "exact", ridge=1.0, max_iter=3,
                                                   eps=1e-4, diagnostics=False)]
    assert [r["iteration"] for r in records] == list(range(1, len(records) + 1))
    assert {"train_rmse", "test_rmse", "objective", "solver"} <= set(records[0])
    assert records[-1]["train_rmse"] < prep.mean_rmse  # it fits the training data
    frame = rm.test_predictions(prep, {"exact": (np.zeros((60, 2)), np.zeros((40, 2)))})
    assert len(frame) == prep.split.W_test.nnz and "predicted_exact" in frame


def test_load_upload_turns_every_failure_into_a_message_naming_the_file():
    good = rm.load_upload(b"user,item,rating\n1,2,4\n2,2,3\n", "r.csv", wc.data.load_ratings)
    assert good.W.nnz == 2
    with pytest.raises(ValueError, match="r.csv: the file is empty"):
        rm.load_upload(b"", "r.csv", wc.data.load_ratings)
    with pytest.raises(ValueError, match="bad.csv: .*rating"):
        rm.load_upload(b"user,item,rating\n1,2,abc\n", "bad.csv", wc.data.load_ratings)

    def broken(_):
        raise KeyError("boom")

    with pytest.raises(ValueError, match="x.bin: could not be read as ratings \\(KeyError"):
        rm.load_upload(b"123", "x.bin", broken)


def test_history_csv_round_trips():
    frame = pd.DataFrame({"iteration": [1, 2], "test_rmse": [0.9, 0.8]})
    assert rm.history_csv(frame).decode().splitlines() == ["iteration,test_rmse", "1,0.9", "2,0.8"]


# --- lab -------------------------------------------------------------------------------------

def fake_step(iteration, seconds=0.01, **inner):
    return SimpleNamespace(iteration=iteration, seconds=seconds, objective=1.0 / iteration,
                           relative_objective=0.1 / iteration, X=np.eye(2), Y=np.eye(2), inner=inner)


def fake_iterate(M, W, k, *, solver, max_iter=3, **options):
    for t in range(1, max_iter + 1):
        yield fake_step(t, seconds=0.001 * k * (2 if solver == "exact" else 1) + 0.01 * (solver == "sketched"),
                        cond_before=np.array([10.0, 100.0]), cond_after=np.array([1.1, 1.2]),
                        forward_error=np.array([options.get("eps", 1e-6)] * 2))


def test_measured_label_says_where_and_when():
    text = lab.measured_label()
    assert text.startswith("Measured here, on this machine") and date.today().isoformat() in text


@pytest.mark.parametrize("times, expected", [
    ({2: (1.0, 2.0), 4: (1.0, 2.0)}, None),          # sketched never faster
    ({2: (1.0, 2.0), 4: (2.0, 1.0), 8: (4.0, 1.0)}, 4),
    ({2: (2.0, 1.0), 4: (1.0, 2.0), 8: (4.0, 1.0)}, 8),  # faster at 2 by noise, not from 2 on
    ({2: (2.0, 1.0), 4: (3.0, 1.0)}, 2),
])
def test_crossover_is_the_smallest_k_from_which_sketched_stays_faster(times, expected):
    rows = [{"k": k, "solver": s, "seconds_per_iteration": t}
            for k, (te, ts) in times.items() for s, t in (("exact", te), ("sketched", ts))]
    assert lab.crossover(pd.DataFrame(rows)) == expected


def test_crossover_needs_both_solvers():
    table = pd.DataFrame({"k": [2], "solver": ["exact"], "seconds_per_iteration": [1.0]})
    assert lab.crossover(table) is None


def test_k_sweep_reports_progress_and_a_time_per_k_and_solver():
    out = list(lab.k_sweep(fake_iterate, None, None, [2, 16], ["exact", "sketched"], n_iter=3))
    assert [f for f, _ in out] == [0.25, 0.5, 0.75, 1.0]
    rows = pd.DataFrame([r for _, r in out])
    assert rows.loc[(rows.k == 16) & (rows.solver == "exact"), "seconds_per_iteration"].item() == pytest.approx(0.032)
    assert lab.crossover(rows) == 16


def test_diagnostics_frame_collects_sampled_rows_and_tolerates_missing_ones():
    steps = [fake_step(1, cond_before=np.array([3.0, 4.0]), cond_after=np.array([1.0, 1.5]),
                       forward_error=np.array([1e-7, 2e-7])),
             fake_step(2, cond_before=np.zeros(0), cond_after=np.zeros(0), forward_error=np.zeros(0)),
             fake_step(3)]
    d = lab.diagnostics_frame(steps)
    assert list(d.columns) == ["iteration", "cond_before", "cond_after", "forward_error"]
    assert d["iteration"].tolist() == [1, 1] and d["cond_after"].tolist() == [1.0, 1.5]
    assert lab.diagnostics_frame([]).empty


def test_diagnostics_vs_eps_runs_the_sketched_solver_once_per_eps():
    done = []
    rows, inner = lab.diagnostics_vs_eps(fake_iterate, None, None, 2, [1e-2, 1e-6], max_iter=2, on_done=done.append)
    assert done == [0.5, 1.0]
    assert sorted(rows["eps"].unique()) == [1e-6, 1e-2]
    assert (rows["forward_error"] == rows["eps"]).all()
    assert len(inner) == 4


def test_summary_reports_iterations_and_stop_reason():
    hist = {"exact": [{"iteration": 1, "seconds": 0.1, "relative_objective": 0.5, "truth_error": 0.3},
                      {"iteration": 2, "seconds": 0.3, "relative_objective": 0.1, "truth_error": 0.2}],
            "em": []}
    table = lab.summary(hist, {"exact": "stalled"})
    assert table.to_dict("records")[0] | {} == {
        "solver": "exact", "iterations": 2, "stop reason": "stalled", "median s / iteration": pytest.approx(0.2),
        "fastest s": 0.1, "slowest s": 0.3, "total s": pytest.approx(0.4), "final relative objective": 0.1, "relative error vs truth": 0.2}
    assert len(table) == 1


def test_condition_frame_is_long_and_drops_infinite_values():
    rows = pd.DataFrame({"cond_before": [10.0, np.inf, 100.0], "cond_after": [1.0, 2.0, np.nan]})
    out = lab.condition_frame(rows)
    assert sorted(out.loc[out["matrix"] == "A_i (before)", "log10 κ"]) == [1.0, 2.0]
    assert sorted(out.loc[out["matrix"] == "A_i R⁻¹ (after)", "log10 κ"]) == [0.0, pytest.approx(np.log10(2))]


def test_inner_summary_averages_each_eps_with_readable_names():
    inner = pd.DataFrame({"eps": [1e-2, 1e-2, 1e-6], "inner_iterations": [2.0, 4.0, 5.0],
                          "inner_iterations_max": [3.0, 5.0, 8.0]})
    out = lab.inner_summary(inner).set_index(["eps", "statistic"])["inner iterations"]
    assert out[(1e-2, "mean over rows")] == 3.0 and out[(1e-2, "max over rows")] == 4.0
    assert out[(1e-6, "max over rows")] == 8.0 and len(out) == 4


def test_relative_truth_error():
    X, Y = np.eye(2), np.eye(2)
    assert lab.relative_truth_error(X, Y, np.eye(2)) == 0.0
    assert lab.relative_truth_error(X, Y, 2 * np.eye(2)) == pytest.approx(0.5)
    assert np.isnan(lab.relative_truth_error(X, Y, None))


# --- walkthrough -----------------------------------------------------------------------------

def test_example_is_seeded_and_has_missing_and_wild_weights():
    a, b = wt.example(seed=3), wt.example(seed=3)
    assert np.array_equal(a.W, b.W) and np.array_equal(a.M, b.M)
    assert a.M.shape == (12, 60) and 0.1 < np.mean(a.W == 0) < 0.3
    w = a.W[a.W > 0]
    assert w.max() / w.min() > 1e4
    assert np.linalg.matrix_rank(a.truth) == 3


def test_row_problem_uses_only_observed_columns_and_matches_lstsq():
    ex = wt.example(seed=0)
    Y = wt.init_Y(ex.M, ex.W, 3)
    assert np.allclose(Y.T @ Y, np.eye(3))
    p = wt.row_problem(ex.M, ex.W, Y, 2)
    assert set(p.cols) == set(np.flatnonzero(ex.W[2] > 0)) and p.A.shape == (p.N, 3)
    assert np.allclose(wt.exact_solution(p.A, p.b), np.linalg.lstsq(p.A, p.b, rcond=None)[0])


def test_data_summaries_for_the_pictures():
    W = np.array([[0.0, 1e-3], [10.0, 1.0]])
    logw = wt.log_weights(W)
    assert np.isnan(logw[0, 0]) and np.allclose(logw[[0, 1, 1], [1, 0, 1]], [-3, 1, 0])
    assert wt.weight_summary(W) == (pytest.approx(4.0), 0.25)
    assert np.isnan(wt.observed(np.ones((2, 2)), W)[0, 0]) and wt.observed(np.ones((2, 2)), W)[1, 1] == 1
    assert wt.colour_limit(np.r_[-np.ones(99), 1e6]) == pytest.approx(1.0)  # one huge entry ignored
    assert wt.colour_limit(np.zeros(3)) == 1.0


@pytest.mark.parametrize("s, k, N, expected", [(24, 3, 40, 24), (1, 3, 40, 3), (60, 3, 40, 40)])
def test_sketch_size_is_clamped_between_k_and_the_row_length(s, k, N, expected):
    assert wt.sketch_size(s, k, N) == expected


@pytest.mark.parametrize("kind", wt.DRAWABLE_SKETCHES)
def test_the_drawn_sketch_is_the_operator_wlra_core_applied(kind):
    from wlra_core.sketches import sketch_rows

    ex = wt.example(seed=0)
    Y = wt.init_Y(ex.M, ex.W, 3)
    p = wt.row_problem(ex.M, ex.W, Y, 2)
    sk = wt.sketch(kind, 12, Y[p.cols], ex.W[2, p.cols], p.b, seed=5)
    library = sketch_rows(kind, 12, Y[p.cols], None, ex.W[2, p.cols][None], slice(0, 1),
                          np.random.default_rng(5))[0]
    rows = 12 if kind != "rownorm" else library.shape[0]   # rownorm keeps about s rows, by coin flips
    assert sk.S.shape == (rows, p.N) and np.array_equal(sk.SA, library)
    assert np.allclose(sk.S @ p.A, sk.SA, atol=1e-12) and np.allclose(sk.Sb, sk.S @ p.b)
    if kind == "srht":  # √(N/s)·P·H·D: orthogonal rows of squared norm N/s
        assert np.allclose(sk.S @ sk.S.T, (p.N / 12) * np.eye(12))


def test_only_sketches_that_can_be_drawn_are_offered():
    assert set(wt.DRAWABLE_SKETCHES) <= set(wc.SKETCHES) and "srht" in wt.DRAWABLE_SKETCHES
    assert set(wt.SKETCH_NOTES) >= set(wt.DRAWABLE_SKETCHES)
    assert wt.DRAWABLE_SKETCHES[0] == "rownorm"   # the solvers' default, drawn first
    with pytest.raises(ValueError, match="rownorm"):
        wt.sketch("no_such_sketch", 4, np.eye(5), np.ones(5), np.ones(5))


def test_preconditioner_is_the_r_of_a_qr_of_the_sketch():
    SA = np.random.default_rng(0).standard_normal((10, 4))
    R = wt.preconditioner(SA)
    assert np.allclose(np.triu(R), R) and np.allclose(R.T @ R, SA.T @ SA)
    assert np.allclose(np.abs(R), np.abs(np.linalg.qr(SA, mode="r")))
    singular = np.zeros((5, 2))
    singular[:, 0] = 1.0
    assert np.all(np.isfinite(wt.preconditioner(singular)))  # a rank-deficient sketch still gives an R


def test_preconditioning_fixes_an_ill_conditioned_row_and_iterating_reaches_the_exact_solution():
    ex = wt.example(seed=0)
    Y = wt.init_Y(ex.M, ex.W, 3)
    w = wt.walk(ex.M, ex.W, Y, 2, 24, kind="srht", seed=0)
    assert w.kappa_before > 20 and w.kappa_after < 2
    assert w.kappa_before == pytest.approx(np.linalg.cond(w.problem.A))
    assert w.converged and np.allclose(w.trace.x, w.x_star)
    assert w.trace.forward_error[-1] < 1e-9 and w.trace.residual.size < 40
    assert w.trace.forward_error[0] < 1  # sketch-and-solve starts closer than 0 does
    plain = wt.plain_gradient_descent(w.problem.A, w.problem.b, eps=1e-12, max_iter=w.trace.residual.size)
    assert plain.forward_error[-1] > 1e3 * w.trace.forward_error[-1]  # same steps, far behind
    assert wt.plain_rate(w.kappa_before) == pytest.approx((w.kappa_before ** 2 - 1) / (w.kappa_before ** 2 + 1))


def test_a_too_small_sketch_is_reported_as_not_converged():
    ex = wt.example(seed=0)
    Y = wt.init_Y(ex.M, ex.W, 3)
    results = [wt.walk(ex.M, ex.W, Y, row, 3, kind="gaussian", seed=1, max_iter=20) for row in range(12)]
    assert any(not w.converged for w in results)
    assert all(w.converged == (w.trace.forward_error[-1] <= 1e-6) for w in results)


def test_frames_for_the_figures():
    ex = wt.example(seed=0)
    Y = wt.init_Y(ex.M, ex.W, 3)
    w = wt.walk(ex.M, ex.W, Y, 2, 24)
    fits = wt.fit_frame(w, Y)
    exact = fits[fits["fit"] == "exact solve"]
    assert list(exact["column j"]) == list(w.problem.cols)
    assert np.allclose(exact["value"], Y[w.problem.cols] @ w.x_star)
    assert set(fits["fit"]) == set(wt.FITS)
    lo, hi = wt.data_range(ex.M, w)
    assert lo < ex.M[2, w.problem.cols].min() and hi > ex.M[2, w.problem.cols].max()
    sizes = wt.marker_sizes(w)
    assert sizes.max() == pytest.approx(22.0) and np.argmax(sizes) == np.argmax(ex.W[2, w.problem.cols])
    svs = wt.singular_value_frame(w)
    assert len(svs) == 6 and np.allclose(svs["singular value"][:3], np.linalg.svd(w.problem.A, compute_uv=False))
    inner = wt.inner_frame(w)
    assert (inner[wt.ERROR_COLUMN] > 0).all()
    assert set(inner["method"]) == {"preconditioned (step 1)", "conjugate gradients, no preconditioner (cg)",
                                     "plain gradient descent (best step)"}


def test_library_curves_run_wlra_core_from_the_same_start():
    ex = wt.example(seed=1)
    curves = wt.library_curves(ex.M, ex.W, 3, ("exact", "sketched"), seed=1, max_iter=4)
    assert list(curves) == ["exact", "sketched"]
    for records in curves.values():
        assert [r["iteration"] for r in records] == list(range(1, len(records) + 1))
        assert np.all(np.diff([r["relative_objective"] for r in records]) <= 1e-9)
    assert curves["exact"][0]["relative_objective"] == pytest.approx(curves["sketched"][0]["relative_objective"],
                                                                      rel=1e-6)
