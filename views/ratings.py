"""Rating matrices: fit a low-rank model to user × item ratings, check it on held-out ratings.

Data handling and all arithmetic live in ui.models.ratings; runs go through the shared run
controller (ui.runs); this page holds widgets and plots.
"""
import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

import wlra_core as wc
from ui import controls, figures, loaders, state, uploads
from ui.models import lab
from ui.models import ratings as rm
from ui.runs import View
from ui.runs.controller import RunController

SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "ratings" / "sample_ratings.csv"
P = state.RATINGS  # key prefix; widget keys double as URL query parameters
BIND = {"bind": "query-params", "persist_state": "session"}
# ridge 0.05·N_i: picked on held-out ratings by benchmarks/ratings.py on the sample (grid 0.03–0.3)
DEFAULTS = controls.SolverSettings(k=4, eps=1e-4, solvers=("exact", "sketched"), ridge=0.05, max_iter=30)
WINDOW = 40  # users × items shown in the heatmap


@st.cache_data(max_entries=2, show_spinner=False)
def load_sample(path: str, mtime: float):
    return wc.data.load_ratings(path)


def rmse_text(value: float) -> str:
    """An RMSE for a metric; "—" when it is undefined (nothing held out to measure it on)."""
    return f"{value:.4f}" if math.isfinite(value) else "—"


def use_sample() -> None:
    state.put(P, "data", None)
    state.put(P, "upload_error", None)


def window(ratings) -> tuple[slice, slice]:
    """The users × items shown in the heatmap, from 1-based sliders (as every id on the page)."""
    n_users, n_items = ratings.W.shape
    w1, w2 = st.columns(2)
    u0 = w1.slider("first user (row)", 1, max(n_users - WINDOW + 1, 1), 1, key=f"{P}_u0") if n_users > WINDOW else 1
    i0 = w2.slider("first item (column)", 1, max(n_items - WINDOW + 1, 1), 1, key=f"{P}_i0") if n_items > WINDOW else 1
    u0, i0 = rm.row_position(u0, n_users), rm.row_position(i0, n_items)
    return slice(u0, min(u0 + WINDOW, n_users)), slice(i0, min(i0 + WINDOW, n_items))


def heatmap(prep: rm.Prepared, ratings, users: slice, items: slice, Z=None, *, key: str, what: str) -> None:
    """Predicted ratings Z (or the observed ones when Z is None) with training and held-out marks."""
    cells = rm.window_entries(ratings.M, prep.split, users, items)
    user_ids = [str(v) for v in np.asarray(ratings.users)[users]]
    item_ids = [str(v) for v in np.asarray(ratings.items)[items]]
    predicted = Z is not None
    fig = figures.ratings_heatmap(Z if predicted else cells["observed"], user_ids, item_ids, cells,
                                 clip=prep.clip, predicted=predicted)
    figures.live_chart(fig, key=key, height=460)
    st.caption(f"Users {user_ids[0]}–{user_ids[-1]} × items {item_ids[0]}–{item_ids[-1]} ({what}): white dots are "
               f"training ratings ({len(cells['train'][0])} here), red crosses held-out ones "
               f"({len(cells['test'][0])}), kept from the fit to measure the test RMSE.")


def preview(prep: rm.Prepared, ratings) -> None:
    """What the data looks like before any run: the observed ratings and how they are spread."""
    st.subheader("The data")
    users, items = window(ratings)
    heatmap(prep, ratings, users, items, key=f"{P}_fig_preview", what="observed ratings; blank: not rated")
    per_user = np.diff(ratings.W.tocsr().indptr)
    st.caption(f"Ratings per user: median {np.median(per_user):g}, from {per_user.min()} to {per_user.max()}; "
               f"{prep.split.W_train.nnz} ratings for training, {prep.split.W_test.nnz} held out.")


def recommendations(view: View, prep: rm.Prepared, ratings) -> None:
    """Heatmap of predictions and top-N for one user, from the iterate shown by the controller."""
    n_users, n_items = ratings.W.shape
    fitted = {name: run for name, run in view.runs.runs.items() if run.records}
    if not fitted:
        return
    st.subheader("Predicted ratings")
    solver = st.radio("solver", list(fitted), horizontal=True, key=f"{P}_show")
    run = fitted.get(solver) or next(iter(fitted.values()))
    shown, X, Y = run.factors_at(view.iteration)  # the nearest kept iterate (factors are thinned)
    X, Y = np.asarray(X, dtype=float), np.asarray(Y, dtype=float)
    users, items = window(ratings)
    Z = rm.prediction_window(prep.centring, X, Y, users, items, clip=prep.clip)
    heatmap(prep, ratings, users, items, Z, key=f"{P}_fig_heatmap", what=f"iteration {shown} of {solver}")

    st.subheader("Recommendations")
    t1, t2 = st.columns(2)
    position = t1.number_input(f"user (row 1–{n_users})", 1, n_users, 1, step=1, key=f"{P}_user", **BIND)
    top = t2.number_input("how many", 1, 100, 10, step=1, key=f"{P}_top", **BIND)
    user = rm.row_position(position, n_users)
    recs = rm.top_n(prep.centring, X, Y, user, ratings.W, int(top), clip=prep.clip)
    recs.insert(1, "item id", np.asarray(ratings.items)[recs["item"].to_numpy()])
    st.markdown(f"Top {int(top)} for user **{np.asarray(ratings.users)[user]}** (row {user + 1}) among the items "
                f"they have not rated ({ratings.W[user].nnz} rated), by {solver}:")
    st.dataframe(recs.drop(columns="item"), hide_index=True)


def timing(histories: dict, prep: rm.Prepared, k: int) -> None:
    """Each solver's time per iteration (median and spread), where its work goes, and a reading."""
    table = lab.breakdown(histories, prep.split.W_train, k)
    if table.empty:
        return
    st.markdown("**Time per solver** (each iteration's own compute time; the spread is the fastest and the "
                "slowest iteration)")
    st.dataframe(table[["solver", "iterations", "median s / iteration", "fastest s", "slowest s",
                        "rows solved exactly %", "inner iterations"]], hide_index=True, key=f"{P}_timing",
                 column_config={c: st.column_config.NumberColumn(format="%.4f")
                                for c in ("median s / iteration", "fastest s", "slowest s")}
                 | {"rows solved exactly %": st.column_config.NumberColumn(format="%.0f"),
                    "inner iterations": st.column_config.NumberColumn(format="%.1f")})
    if (note := lab.bypass_note(table)) is not None:
        st.caption(note + " On rating data this is the paper's advice: short rows are cheapest solved exactly.")
    if (line := lab.reading(table, prep.split.W_train, k)) is not None:
        st.caption(f"**Reading.** {line}")


def render(view: View, prep: rm.Prepared, ratings) -> None:
    if view.runs is None:
        st.info("Press **Play** to run the selected solvers on the training ratings (or **Step** for "
                "one iteration at a time).")
        preview(prep, ratings)
        return
    if view.stale:
        st.warning("The settings changed since these runs started: press **Play** or **Step** to start over.")
    histories = view.runs.histories()
    cols = st.columns(len(histories) + 2)
    cols[0].metric("mean predictor", rmse_text(prep.mean_rmse),
                   help="test RMSE of predicting every rating by the training mean: the reference line")
    model = prep.centring.mode == rm.MODEL
    cols[1].metric("biases only" if model else f"baseline ({prep.centring.mode})", rmse_text(prep.baseline_rmse),
                   help="test RMSE of μ + b_u + c_i alone (wlra_core.fit_biases, same ridge): what the "
                        "low-rank part must improve on" if model else
                        "test RMSE of the centring alone, before any low-rank fit")
    for col, (name, run) in zip(cols[2:], view.runs.runs.items()):
        if run.records:
            rec = rm.best_record(run.records, run.at(view.iteration))
            gain = rec["test_rmse"] - (prep.baseline_rmse if model else prep.mean_rmse)
            col.metric(f"{name}: test RMSE", rmse_text(rec["test_rmse"]),
                       delta=(f"{gain:+.4f} vs biases only" if model else f"{gain:+.4f} vs mean")
                       if math.isfinite(gain) else None, delta_color="inverse",
                       help=f"at iteration {rec['iteration']}, the best so far on the early-stopping "
                            "ratings (lowest held-out error)" + (f"; stopped: {run.stop_reason}" if run.done else ""))
        elif run.error:
            col.error(f"{name}: {run.error}")
    c1, c2 = st.columns(2)
    with c1:
        figures.live_chart(figures.history_figure(histories, y="relative_objective", log_y=True,
                                                y_title="relative train objective", title="Train objective",
                                                marker_at=view.iteration), key=f"{P}_fig_objective")
    with c2:
        figures.live_chart(figures.history_figure(histories, y="test_rmse", y_title="RMSE on held-out ratings",
                                                title="Test RMSE",
                                                reference=("mean predictor", prep.mean_rmse)
                                                if math.isfinite(prep.mean_rmse) else None,
                                                marker_at=view.iteration), key=f"{P}_fig_rmse")
    st.caption(f"{prep.split.W_test.nnz} held-out ratings; predictions clipped to "
               f"[{prep.clip[0]:g}, {prep.clip[1]:g}]. {lab.measured_label()}")
    timing(histories, prep, settings.k)
    controller.replay_slider(view)
    if not view.playing:
        d1, d2 = st.columns(2)
        d1.download_button("History (CSV)", rm.history_csv(pd.DataFrame(view.runs.history_rows())),
                           "ratings_history.csv", "text/csv", key=f"{P}_dl_history")
        last = {name: tuple(np.asarray(a, dtype=float) for a in run.factors_at(view.iteration)[1:])
                for name, run in view.runs.runs.items() if run.records}
        d2.download_button("Held-out predictions (CSV)",
                           rm.history_csv(rm.test_predictions(prep, last, ratings.users, ratings.items)),
                           "ratings_predictions.csv", "text/csv", key=f"{P}_dl_predictions")
    recommendations(view, prep, ratings)


st.title("Rating matrices")
st.markdown(
    "Users rate a few items each; the rest of the user × item matrix is missing (weight 0). A rank-k "
    "model fitted to the observed ratings predicts the missing ones. Part of the ratings is held out "
    "to measure how good those predictions are."
)

# data ----------------------------------------------------------------------------------------
state.init(P)
loaders.accept_pending_ratings(P, max_entries=state.APP_MAX_ENTRIES)
with st.expander("Data: sample or upload", expanded=bool(state.get(P, "upload_error"))):
    st.file_uploader("Upload ratings: one rating per line, user, item, rating (CSV, TSV, "
                     "MovieLens u.data / ratings.csv / ratings.dat)", key=f"{P}_upload",
                     on_change=uploads.queue_upload, args=(P, f"{P}_upload", "pending_upload"))
    if state.get(P, "data") is not None:
        st.button("Back to the sample data", key=f"{P}_use_sample", on_click=use_sample)
if state.get(P, "upload_error"):
    st.error(f"Could not use the upload: {state.get(P, 'upload_error').rstrip('.')}. "
             "The previous data is kept.")

data = state.get(P, "data")
if data is not None:
    data_name, ratings, data_id = data["name"], data["ratings"], data["digest"]
else:
    data_name, data_id = "sample (synthetic)", "sample"
    ratings = load_sample(str(SAMPLE), SAMPLE.stat().st_mtime)
n_users, n_items = ratings.W.shape
lo, hi = rm.rating_range(ratings.M, ratings.W)
st.caption(
    f"**{data_name}**: {n_users} users × {n_items} items, {ratings.W.nnz} ratings "
    f"({ratings.W.nnz / (n_users * n_items):.1%} observed), ratings from {lo:g} to {hi:g}."
    + (" **The sample is synthetic**: made by `scripts/make_sample_ratings.py` from a planted "
       "low-rank taste model, not real people's ratings." if data is None else "")
    + (f" {ratings.duplicates} (user, item) pairs were rated more than once: each counts once, with "
       "the mean of its ratings." if ratings.duplicates else "")
)

# settings ------------------------------------------------------------------------------------
with st.sidebar:
    st.subheader("Held-out split and centring")
    test_fraction = st.slider("held-out test fraction", 0.05, 0.5, 0.2, step=0.05, key=f"{P}_test", **BIND)
    split_seed = st.number_input("split seed", 0, 10_000, 0, step=1, key=f"{P}_split_seed", **BIND)
    centring = st.selectbox("centring", rm.CENTRINGS, index=rm.CENTRINGS.index(rm.MODEL),
                            key=f"{P}_centring", **BIND,
                            help="fitted offsets: wlra_core fits μ + b_u + c_i with the factors (bias=True; "
                                 "a ridge λ is scaled by each row's count of ratings). The others subtract "
                                 "a baseline before the low-rank fit: the global mean, or the mean plus a "
                                 "bias per user and per item (added back to predict)")
    early = st.slider("early stopping: training ratings held out", 0.0, 0.3, 0.1, step=0.05, key=f"{P}_early",
                      **BIND, help="a share of the training ratings is kept out of the fit; the metrics show "
                                   "the test RMSE at the iteration with the lowest error on them (0: none)")
    st.subheader("Solvers")
# The rank is at most min(users, items); a slider needs two values, so one user (or item) gets a
# slider of 1–2 and the rank is capped below.
rank_limit = min(n_users, n_items)
settings = controls.solver_settings(P, defaults=DEFAULTS, k_max=max(2, min(50, rank_limit)))
if settings.k > rank_limit:
    st.warning(f"Rank k = {settings.k} is more than these ratings allow (at most min(users, items) = "
               f"{rank_limit}): k = {rank_limit} is used.")
    settings = dataclasses.replace(settings, k=rank_limit)
st.sidebar.caption(f"Ridge λ = {settings.ridge:g} (under *More solver settings*): it keeps users and items "
                   "with few ratings from overfitting; λ = 0 is the paper's unregularised problem."
                   + (" With fitted offsets each user's and item's λ is times its number of ratings "
                      "(EM keeps the plain λ)." if centring == rm.MODEL else ""))

prep = rm.prepare(ratings.M, ratings.W, test_fraction=float(test_fraction), seed=int(split_seed),
                  centring=centring, ridge=settings.ridge)
if prep.split.W_test.nnz == 0:
    st.warning("No rating could be held out (each user and each item keeps at least one training "
               "rating): the test RMSE is undefined. Use more data or a larger test fraction.")
early = rm.early_stopping_share(float(early), prep.split.W_train.nnz)
signature = (data_id, float(test_fraction), int(split_seed), centring, early, settings.problem_signature())


def start(name: str, prep=prep, settings=settings):
    steps = wc.iterate(prep.R, prep.split.W_train, settings.k, solver=name, diagnostics=False, holdout=early,
                       **rm.model_options(prep, settings.ridge, name), **settings.iterate_kwargs())
    return (rm.offsets_in_factors(step) for step in steps)


def measure(step, prep=prep):
    held = step.holdout_rmse if step.holdout_rmse is not None else math.nan
    return {**rm.history_row(prep.centring, step.X, step.Y, prep.M, prep.split, clip=prep.clip),
            "holdout_rmse": held, "is_best": step.is_best}


controller = RunController(P)
controller.buttons()
message = controller.sync(signature, settings.solvers, start, measure=measure, context=(prep, ratings))
if message:
    st.error(message)
# draw the runs with the data they were fitted on (it differs from the page's while stale)
shown = controller.runs.context if controller.runs is not None else (prep, ratings)
controller.live(lambda view: render(view, *shown), signature)
