"""Rating matrices: fit a low-rank model to user × item ratings, check it on held-out ratings.

Data handling and all arithmetic live in ui.ratings_model; this page holds widgets and plots.
"""
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import wlra_core as wc
from ui import charts, lab
from ui import ratings_model as rm

SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "ratings" / "sample_ratings.csv"
P = "ratings_"  # session-state prefix of this page
DATA, RESULT, UPLOAD_SEEN, UPLOAD_ERROR = P + "data", P + "result", P + "upload_seen", P + "upload_error"
SOLVERS = tuple(getattr(wc, "SOLVERS", ("exact", "sketched", "cg", "em")))
SPEC = {  # settings that travel in the URL
    "test_fraction": (0.2, lab.Interval(0.05, 0.5)),
    "split_seed": (0, lab.Interval(0, 10_000)),
    "centring": ("user+item biases", rm.CENTRINGS),
    "ridge": (1.0, lab.Interval(0.0, 1000.0)),
    "k": (4, lab.Interval(1, 50)),
    "solvers": (["exact", "sketched"], SOLVERS),
    "max_iter": (20, lab.Interval(1, 200)),
    "eps": (1e-4, lab.Interval(1e-12, 0.5)),
    "user": (0, lab.Interval(0, 10**9)),
    "top_n": (10, lab.Interval(1, 100)),
}
for name, value in lab.settings_from_url(SPEC, st.query_params.to_dict()).items():
    st.session_state.setdefault(P + name, value)


@st.cache_data(max_entries=2, show_spinner=False)
def load_sample(path: str, mtime: float):
    return wc.data.load_ratings(path)


def take_upload(data: bytes, name: str) -> None:
    """Replace the page's data by an uploaded file; on failure keep the old data, keep a message."""
    try:
        ratings = rm.load_upload(data, name, wc.data.load_ratings)
    except ValueError as exc:
        st.session_state[UPLOAD_ERROR] = str(exc)
        return
    st.session_state[DATA] = {"name": name, "ratings": ratings}
    st.session_state[UPLOAD_ERROR] = None
    st.session_state.pop(RESULT, None)


st.title("Rating matrices")
st.markdown(
    "Users rate a few items each; the rest of the user × item matrix is missing (weight 0). A rank-k "
    "model fitted on the observed ratings predicts the missing ones. Part of the ratings is held out "
    "to measure how good those predictions are."
)

# data ----------------------------------------------------------------------------------------
with st.expander("Data", expanded=DATA not in st.session_state or bool(st.session_state.get(UPLOAD_ERROR))):
    upload = st.file_uploader(
        "Upload ratings (one rating per line: user, item, rating; CSV, TSV or whitespace separated)",
        key=P + "upload",
    )
    if upload is not None and upload.file_id != st.session_state.get(UPLOAD_SEEN):
        st.session_state[UPLOAD_SEEN] = upload.file_id
        take_upload(upload.getvalue(), upload.name)
    if st.session_state.get(UPLOAD_ERROR):
        st.error(f"Could not use the upload: {st.session_state[UPLOAD_ERROR].rstrip('.')}. "
                 "The previous data is kept.")
    if DATA in st.session_state and st.button("Back to the sample data", key=P + "use_sample"):
        for key in (DATA, RESULT, UPLOAD_ERROR):
            st.session_state.pop(key, None)

if DATA in st.session_state:
    data_name, ratings = st.session_state[DATA]["name"], st.session_state[DATA]["ratings"]
else:
    data_name, ratings = "sample (synthetic)", load_sample(str(SAMPLE), SAMPLE.stat().st_mtime)
n_users, n_items = ratings.W.shape
nnz = ratings.W.nnz
lo, hi = rm.rating_range(ratings.M, ratings.W)
st.caption(
    f"**{data_name}**: {n_users} users × {n_items} items, {nnz} ratings "
    f"({nnz / (n_users * n_items):.1%} observed), ratings from {lo:g} to {hi:g}."
    + (" The sample is synthetic: made by `scripts/make_sample_ratings.py` from a planted "
       "low-rank taste model, not real people's ratings." if DATA not in st.session_state else "")
)

# settings ------------------------------------------------------------------------------------
with st.sidebar:
    st.subheader("Split and centring")
    test_fraction = st.slider("held-out test fraction", 0.05, 0.5, step=0.05, key=P + "test_fraction")
    split_seed = st.number_input("split seed", 0, 10_000, step=1, key=P + "split_seed")
    centring = st.selectbox("centring", rm.CENTRINGS, key=P + "centring",
                            help="subtract a baseline before the low-rank fit: the global mean, or "
                                 "the mean plus a bias per user and per item")
    st.subheader("Model")
    k = st.slider("rank k", 1, 50, key=P + "k")
    ridge = st.number_input("ridge λ", 0.0, 1000.0, step=1.0, key=P + "ridge",
                            help="adds λ(‖X‖² + ‖Y‖²): keeps users and items with few ratings tame")
    solvers = st.multiselect("solvers", SOLVERS, key=P + "solvers")
    max_iter = st.number_input("max_iter", 1, 200, step=1, key=P + "max_iter")
    eps = st.number_input("eps (stopping tolerance)", 1e-12, 0.5, format="%.0e", key=P + "eps")

settings = dict(data=data_name, nnz=nnz, test_fraction=float(test_fraction), split_seed=int(split_seed),
                centring=centring, k=int(k), ridge=float(ridge), solvers=tuple(solvers),
                max_iter=int(max_iter), eps=float(eps))
result = st.session_state.get(RESULT)

if st.button("Fit", type="primary", key=P + "run", disabled=not solvers):
    prep = rm.prepare(ratings.M, ratings.W, test_fraction=test_fraction, seed=int(split_seed),
                      centring=centring)
    histories, factors, errors = {}, {}, {}
    bar = st.progress(0.0, text="fitting…")
    for j, solver in enumerate(solvers):
        records = []
        try:
            for step, record in rm.fit_iterations(wc.iterate, prep, int(k), solver, ridge=float(ridge),
                                                  eps=float(eps), max_iter=int(max_iter), seed=int(split_seed),
                                                  diagnostics=False):
                records.append(record)
                factors[solver] = (step.X, step.Y)
                bar.progress((j + step.iteration / max_iter) / len(solvers),
                             text=f"{solver}: iteration {step.iteration}, test RMSE {record['test_rmse']:.4f}")
        except wc.InputError as exc:
            errors[solver] = str(exc)
        histories[solver] = records
    bar.empty()
    result = {"settings": settings, "prep": prep, "histories": histories, "factors": factors, "errors": errors}
    st.session_state[RESULT] = result

if result is None:
    st.info("Press **Fit** to run the selected solvers on the training ratings.")
else:
    prep, histories, factors = result["prep"], result["histories"], result["factors"]
    for solver, message in result["errors"].items():
        st.error(f"{solver}: {message}")
    if result["settings"] != settings:
        st.warning("The settings changed since this fit: press **Fit** to update the results below.")
    # convergence ------------------------------------------------------------------------------
    cols = st.columns(len(factors) + 2)
    cols[0].metric("mean predictor", f"{prep.mean_rmse:.4f}", help="test RMSE of predicting every "
                   "rating by the training mean: the reference line")
    cols[1].metric(f"baseline ({prep.centring.mode})", f"{prep.baseline_rmse:.4f}",
                   help="test RMSE of the centring alone, before any low-rank fit")
    for col, (solver, records) in zip(cols[2:], ((s, histories[s]) for s in factors)):
        final = records[-1]["test_rmse"]
        col.metric(f"{solver}, test RMSE", f"{final:.4f}", delta=f"{final - prep.mean_rmse:+.4f} vs mean",
                   delta_color="inverse")
    c1, c2 = st.columns(2)
    c1.plotly_chart(charts.history_figure(histories, y="relative_objective", log_y=True,
                                          y_title="relative train objective", title="Train objective"),
                    key=P + "fig_objective")
    c2.plotly_chart(charts.history_figure(histories, y="test_rmse", y_title="test RMSE", title="Held-out RMSE",
                                          reference=("mean predictor", prep.mean_rmse)),
                    key=P + "fig_rmse")
    st.caption(f"RMSE on {prep.split.W_test.nnz} held-out ratings; predictions clipped to "
               f"[{prep.clip[0]:g}, {prep.clip[1]:g}]. {lab.measured_label()}")
    frame = pd.DataFrame([r for records in histories.values() for r in records])
    d1, d2 = st.columns(2)
    d1.download_button("History (CSV)", rm.history_csv(frame), "ratings_history.csv", "text/csv",
                       key=P + "dl_history")
    d2.download_button("Held-out predictions (CSV)",
                       rm.history_csv(rm.test_predictions(prep, factors, ratings.users, ratings.items)),
                       "ratings_predictions.csv", "text/csv", key=P + "dl_predictions")

    if factors:
        # predictions heatmap ------------------------------------------------------------------
        st.subheader("Predicted ratings")
        solver = st.radio("solver", list(factors), horizontal=True, key=P + "show_solver")
        X, Y = factors[solver]
        size = 40
        w1, w2 = st.columns(2)
        u0 = w1.slider("first user", 0, max(n_users - 1, 0), key=P + "u0") if n_users > 1 else 0
        i0 = w2.slider("first item", 0, max(n_items - 1, 0), key=P + "i0") if n_items > 1 else 0
        users, items = slice(u0, min(u0 + size, n_users)), slice(i0, min(i0 + size, n_items))
        Z = rm.prediction_window(prep.centring, X, Y, users, items, clip=prep.clip)
        rated = ratings.W[users, items].toarray() > 0
        observed = np.where(rated, ratings.M[users, items].toarray(), np.nan)
        fig = go.Figure(go.Heatmap(
            z=Z, x=[str(v) for v in np.asarray(ratings.items)[items]],
            y=[str(v) for v in np.asarray(ratings.users)[users]], colorscale="Viridis",
            zmin=prep.clip[0], zmax=prep.clip[1], customdata=observed,
            colorbar={"title": {"text": "rating"}, "thickness": 12},
            hovertemplate="user %{y}, item %{x}<br>predicted %{z:.2f}<br>rated %{customdata}<extra></extra>",
        ))
        ry, rx = np.nonzero(rated)
        fig.add_scatter(x=[str(v) for v in np.asarray(ratings.items)[items][rx]],
                        y=[str(v) for v in np.asarray(ratings.users)[users][ry]], mode="markers",
                        marker={"size": 4, "color": "white", "line": {"width": 0.5, "color": "black"}},
                        name="rated", hoverinfo="skip")
        fig.update_yaxes(autorange="reversed", title="user", type="category")
        fig.update_xaxes(title="item", type="category")
        fig.update_layout(height=480, margin={"l": 10, "r": 10, "t": 10, "b": 10}, template="plotly_white",
                          legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"})
        st.plotly_chart(fig, key=P + "fig_heatmap")
        st.caption(f"Users {users.start}–{users.stop - 1} × items {items.start}–{items.stop - 1}; "
                   "dots mark ratings the user gave (train or test).")

        # top-N ---------------------------------------------------------------------------------
        st.subheader("Recommendations")
        t1, t2 = st.columns(2)
        if st.session_state[P + "user"] >= n_users:
            st.session_state[P + "user"] = 0
        user = t1.number_input(f"user (row 0–{n_users - 1})", 0, n_users - 1, step=1, key=P + "user")
        top = t2.number_input("how many", 1, 100, step=1, key=P + "top_n")
        recs = rm.top_n(prep.centring, X, Y, int(user), ratings.W, int(top), clip=prep.clip)
        recs.insert(1, "item label", np.asarray(ratings.items)[recs["item"].to_numpy()])
        st.markdown(f"Top {int(top)} for user **{np.asarray(ratings.users)[int(user)]}** among the "
                    f"items they have not rated ({ratings.W[int(user)].nnz} rated), by {solver}:")
        st.dataframe(recs, hide_index=True, key=P + "recs")

st.query_params.from_dict(lab.settings_to_url(SPEC, {n: st.session_state.get(P + n, SPEC[n][0]) for n in SPEC}))
