"""AppTest of the ratings page's recommender model (issue 10): fitted offsets with a count-scaled
ridge by default, the test RMSE at the best iteration on the early-stopping ratings, and the gain
over the biases-only baseline computed by wlra_core."""
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from _apptest import run_page

import wlra_core
from ui.models import ratings as rm

PAGE = str(Path(__file__).resolve().parents[2] / "views" / "ratings.py")


def page(**query):
    return run_page(PAGE, 60, **query)


def metric(at, label):
    return next(m for m in at.metric if m.label == label)


@pytest.fixture
def spy(monkeypatch):
    calls = {"iterate": [], "fit_biases": 0}
    real_iterate, real_biases = wlra_core.iterate, wlra_core.fit_biases

    def iterate(M, W, k, **kwargs):
        calls["iterate"].append(kwargs)
        return real_iterate(M, W, k, **kwargs)

    def fit_biases(*args, **kwargs):
        calls["fit_biases"] += 1
        return real_biases(*args, **kwargs)

    monkeypatch.setattr(wlra_core, "iterate", iterate)
    monkeypatch.setattr(wlra_core, "fit_biases", fit_biases)
    return calls


def test_default_model_is_bias_with_count_ridge_and_early_stopping(spy):
    at = page(rat_solvers=["exact"])
    assert at.selectbox(key="rat_centring").value == rm.MODEL
    at.button(key="rat_step").click().run()
    assert not at.exception and not at.error
    (kw,) = spy["iterate"]
    assert kw["bias"] is True and kw["ridge_scaling"] == "count" and kw["ridge"] == 0.05
    assert kw["holdout"] == 0.1
    assert spy["fit_biases"] >= 1                 # the baseline comes from the library


def test_metrics_show_the_best_iteration_and_the_gain_over_biases_only():
    at = page(rat_solvers=["exact"])
    for _ in range(12):
        at.button(key="rat_step").click().run()
    assert not at.exception and not at.error
    records = at.session_state["rat_runs"].runs["exact"].records
    held = [r["holdout_rmse"] for r in records]
    best = int(np.argmin(held))                   # first minimum, as is_best marks it
    shown = metric(at, "exact: test RMSE")
    assert float(shown.value) == pytest.approx(records[best]["test_rmse"], abs=1e-4)
    assert f"at iteration {best + 1}," in shown.help
    # the baseline is the library's biases-only fit on the same training ratings
    prep = at.session_state["rat_runs"].context[0]
    fit = wlra_core.fit_biases(prep.M, prep.split.W_train, ridge=0.05, ridge_scaling="count")
    rows, cols, r = rm.entries(prep.M, prep.split.W_test)
    direct = np.sqrt(np.mean((np.clip(fit.predict(rows, cols), *prep.clip) - r) ** 2))
    assert float(metric(at, "biases only").value) == pytest.approx(direct, abs=1e-4)
    gain = records[best]["test_rmse"] - direct
    assert gain < 0 and shown.delta == f"{gain:+.4f} vs biases only"


def test_without_early_stopping_the_last_iteration_is_shown(spy):
    at = page(rat_solvers=["exact"], rat_early="0.0")
    for _ in range(3):
        at.button(key="rat_step").click().run()
    assert spy["iterate"][0]["holdout"] == 0.0
    records = at.session_state["rat_runs"].runs["exact"].records
    assert all(np.isnan(r["holdout_rmse"]) for r in records)
    assert float(metric(at, "exact: test RMSE").value) == pytest.approx(records[-1]["test_rmse"], abs=1e-4)


def test_em_gets_the_offsets_with_its_plain_ridge(spy):
    at = page(rat_solvers=["em"])
    at.button(key="rat_step").click().run()
    assert not at.exception and not at.error
    (kw,) = spy["iterate"]
    assert kw["bias"] is True and "ridge_scaling" not in kw


def test_predictions_include_the_fitted_offsets():
    at = page(rat_solvers=["exact"])
    for _ in range(3):
        at.button(key="rat_step").click().run()
    run = at.session_state["rat_runs"].runs["exact"]
    prep = at.session_state["rat_runs"].context[0]
    _, X, Y = run.factors_at(3)
    rows, cols, r = rm.entries(prep.M, prep.split.W_test)
    pred = np.clip(np.einsum("ij,ij->i", np.asarray(X, float)[rows], np.asarray(Y, float)[cols]), *prep.clip)
    assert np.sqrt(np.mean((pred - r) ** 2)) == pytest.approx(run.records[2]["test_rmse"], abs=1e-3)
    assert np.mean(pred) == pytest.approx(np.mean(r), abs=0.2)    # the mean rating is in the factors


def test_best_record_is_the_last_marked_best_up_to_the_shown_iteration():
    records = [{"iteration": i + 1, "is_best": b} for i, b in enumerate([1.0, 1.0, 0.0, 1.0, 0.0])]
    assert rm.best_record(records, 2)["iteration"] == 2
    assert rm.best_record(records, 4)["iteration"] == 4
    assert rm.best_record([{"iteration": 1}, {"iteration": 2}], 1)["iteration"] == 2   # no holdout


def test_early_stopping_share_drops_to_zero_when_it_would_hold_out_nothing_or_everything():
    assert rm.early_stopping_share(0.1, 100) == 0.1
    assert rm.early_stopping_share(0.1, 4) == 0.0        # round(0.4) = 0 ratings
    assert rm.early_stopping_share(0.3, 1) == 0.0
    assert rm.early_stopping_share(0.0, 100) == 0.0


def test_window_entries_gives_each_rating_once_with_its_value_and_its_set():
    M = np.arange(1.0, 21.0).reshape(4, 5)
    W = sp.csr_matrix((M % 3 != 0).astype(float))
    split = rm.split_ratings(W, 0.4, seed=1)
    cells = rm.window_entries(sp.csr_matrix(M * W.toarray()), split, slice(1, 4), slice(2, 5))
    for name, mask in (("train", split.W_train), ("test", split.W_test)):
        r, c, v = cells[name]
        assert np.array_equal(v, M[1:4, 2:5][r, c])                 # the window's own values
        assert len(r) == mask[1:4, 2:5].nnz
    observed = cells["observed"]
    assert observed.shape == (3, 3)
    assert np.array_equal(~np.isnan(observed), W.toarray()[1:4, 2:5] > 0)


@pytest.mark.parametrize("position, size, row", [(1, 5, 0), (5, 5, 4)])
def test_positions_shown_are_one_based(position, size, row):
    assert rm.row_position(position, size) == row


@pytest.mark.parametrize("position", [0, 6])
def test_a_position_outside_the_rows_is_refused(position):
    with pytest.raises(ValueError, match="position: found"):
        rm.row_position(position, 5)
