"""AppTest of the Rating matrices page (views/ratings.py)."""
import base64
import json
from pathlib import Path

import numpy as np
import pytest
from _apptest import run_page, spy_on_iterate
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[2] / "views" / "ratings.py")


def page(**query) -> AppTest:
    return run_page(PAGE, 60, **query)


def recommendations(at: AppTest):
    """The top-N table (the one with an "item id" column)."""
    found = [d.value for d in at.dataframe if "item id" in d.value.columns]
    assert len(found) == 1
    return found[0]


def metrics(at: AppTest) -> dict:
    return {m.label: float(m.value) for m in at.metric}


@pytest.fixture(scope="module")
def stepped() -> AppTest:
    """The page with defaults, after pressing Step three times."""
    at = page()
    for _ in range(3):
        at.button(key="rat_step").click().run()
    return at


def test_defaults_render_the_synthetic_sample_without_error():
    at = page()
    assert not at.exception
    assert "400 users × 250 items" in at.caption[0].value and "synthetic" in at.caption[0].value
    assert at.info[0].value.startswith("Press **Play**")


def test_stepping_builds_a_history_and_beats_the_mean_predictor(stepped):
    at = stepped
    assert not at.exception and not at.error
    runs = at.session_state["rat_runs"].runs
    assert list(runs) == ["exact", "sketched"]
    assert [r["iteration"] for r in runs["exact"].records] == [1, 2, 3]
    values = metrics(at)
    mean = values["mean predictor"]
    for solver in ("exact", "sketched"):
        assert values[f"{solver}: test RMSE"] < 0.9 * mean
        assert runs[solver].records[-1]["test_rmse"] < mean
    assert {b.label for b in at.get("download_button")} >= {"History (CSV)", "Held-out predictions (CSV)"}
    assert recommendations(at).shape[0] == 10  # top-10 recommendations


def test_recommendations_follow_the_chosen_user(stepped):
    at = stepped
    first = recommendations(at)["item id"].tolist()
    assert at.number_input(key="rat_user").min == 1                # positions are 1-based, as the ids
    at.number_input(key="rat_user").set_value(8).run()
    assert not at.exception
    assert any("user **8** (row 8)" in m.value for m in at.markdown)  # the sample's ids are 1-based too
    assert recommendations(at)["item id"].tolist() != first


def test_a_setting_change_is_reflected():
    at = page()
    at.button(key="rat_step").click().run()
    at.selectbox(key="rat_centring").set_value("global mean").run()
    assert not at.exception
    assert any("settings changed" in w.value for w in at.warning)
    at.button(key="rat_step").click().run()
    assert "baseline (global mean)" in metrics(at)
    assert len(at.session_state["rat_runs"].runs["exact"].records) == 1  # a fresh run


def test_settings_come_from_the_url():
    at = page(rat_k="6", rat_centring="none", rat_test="0.3")
    assert at.slider(key="rat_k").value == 6
    assert at.selectbox(key="rat_centring").value == "none"
    assert at.slider(key="rat_test").value == pytest.approx(0.3)


def test_a_bad_upload_shows_an_error_and_keeps_the_previous_data():
    at = page()
    at.file_uploader(key="rat_upload").upload("good.csv", b"user,item,rating\n1,1,4\n1,2,3\n2,1,5\n2,2,1\n3,2,2\n").run()
    assert "good.csv" in at.caption[0].value and "3 users × 2 items" in at.caption[0].value
    at.file_uploader(key="rat_upload").upload("bad.csv", b"user,item,rating\n1,2,abc\n").run()
    assert not at.exception
    assert "bad.csv" in at.error[0].value and "previous data is kept" in at.error[0].value
    assert "good.csv" in at.caption[0].value  # still the previous data
    at.file_uploader(key="rat_upload").upload("empty.csv", b"").run()
    assert "empty" in at.error[0].value and "good.csv" in at.caption[0].value
    at.button(key="rat_use_sample").click().run()
    assert "sample (synthetic)" in at.caption[0].value and not at.error


def test_replay_after_factor_thinning_shows_the_nearest_kept_iterate():
    """Past its memory budget ui.runs drops stored factors (None); the page must go through
    Run.factors_at, never index run.factors itself."""
    at = page()
    for _ in range(4):
        at.button(key="rat_step").click().run()
    for run in at.session_state["rat_runs"].runs.values():
        run.factors[0] = run.factors[2] = None  # as RunSet._thin_factors leaves them
    at.slider(key="rat_replay").set_value(3).run()
    assert not at.exception and not at.error
    assert any("(iteration 2 of exact)" in c.value for c in at.caption)  # 3 was dropped: the one before
    at.slider(key="rat_replay").set_value(1).run()
    assert not at.exception
    assert any("(iteration 2 of exact)" in c.value for c in at.caption)  # nothing kept before: the first kept
    assert recommendations(at).shape[0] == 10
    assert {b.label for b in at.get("download_button")} >= {"History (CSV)", "Held-out predictions (CSV)"}


def chart(at: AppTest, key: str) -> dict:
    """The plotly figure of a live chart (ui.figures.live_chart), by its key."""
    found = [el for el in at.get("bidi_component") if el.proto.id.endswith(f"-{key}")]
    assert len(found) == 1
    return json.loads(json.loads(found[0].proto.json)["figure"])


def z_values(z) -> np.ndarray:
    if isinstance(z, dict):  # plotly's typed-array encoding
        shape = [int(n) for n in str(z["shape"]).split(",")]
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape)
    return np.asarray(z, dtype=float)


def test_charts_show_train_objective_and_test_rmse_per_iteration_against_the_mean_predictor(stepped):
    at = stepped
    runs = at.session_state["rat_runs"].runs
    mean = metrics(at)["mean predictor"]
    objective, rmse = chart(at, "rat_fig_objective"), chart(at, "rat_fig_rmse")
    assert objective["layout"]["yaxis"]["type"] == "log"
    for fig, key in ((objective, "relative_objective"), (rmse, "test_rmse")):
        lines = {t["name"]: t for t in fig["data"] if t.get("name")}
        assert set(lines) == {"exact", "sketched"}
        for name, run in runs.items():
            assert lines[name]["x"] == [1, 2, 3]
            assert lines[name]["y"] == pytest.approx([r[key] for r in run.records])
    line = rmse["layout"]["shapes"][0]
    assert line["y0"] == line["y1"] == pytest.approx(mean, abs=1e-4)  # the reference line
    assert rmse["layout"]["annotations"][0]["text"] == "mean predictor"


def test_prediction_heatmap_shows_a_window_of_users_by_items(stepped):
    at = stepped
    fig = chart(at, "rat_fig_heatmap")
    z = z_values(fig["data"][0]["z"])
    assert z.shape == (40, 40)
    assert 1.0 <= z.min() and z.max() <= 5.0  # clipped to the rating range
    marks = {t["name"]: t for t in fig["data"][1:]}
    assert set(marks) == {"rated (training)", "held out (test)"}
    assert len(marks["rated (training)"]["x"]) > 0 and len(marks["held out (test)"]["x"]) > 0
    assert at.slider(key="rat_u0").min == 1
    at.slider(key="rat_u0").set_value(100).run()
    assert not at.exception
    moved = chart(at, "rat_fig_heatmap")
    assert moved["data"][0]["y"][0] != fig["data"][0]["y"][0]


def test_held_out_fraction_and_split_seed_set_the_test_set():
    counts = {}
    for fraction, seed in ((0.1, 0), (0.3, 0), (0.3, 1)):
        at = page(rat_test=str(fraction), rat_split_seed=str(seed))
        at.button(key="rat_step").click().run()
        caption = next(c.value for c in at.caption if "held-out ratings" in c.value)
        counts[fraction, seed] = int(caption.split()[0])
        split = at.session_state["rat_runs"].context[0].split
        assert split.W_test.nnz == counts[fraction, seed]
        counts[fraction, seed, "keys"] = set(zip(*split.W_test.nonzero()))
    assert counts[0.1, 0] == pytest.approx(0.1 * 8005, rel=0.15)
    assert counts[0.3, 0] == pytest.approx(0.3 * 8005, rel=0.15)
    assert counts[0.3, 0, "keys"] != counts[0.3, 1, "keys"]  # another seed, another split


def test_ridge_and_every_solver_setting_reach_wlra_core(monkeypatch):
    calls = spy_on_iterate(monkeypatch)
    at = page(rat_ridge="2.5", rat_k="3", rat_solvers=["cg"], rat_max_iter="5")
    at.button(key="rat_step").click().run()
    assert not at.exception and not at.error
    assert [(c["solver"], c["k"], c["ridge"], c["max_iter"]) for c in calls] == [("cg", 3, 2.5, 5)]


def test_step_twice_and_changing_the_solver_set():
    at = page(rat_solvers=["exact"])
    for _ in range(2):
        at.button(key="rat_step").click().run()
    assert [r["iteration"] for r in at.session_state["rat_runs"].runs["exact"].records] == [1, 2]
    at.multiselect(key="rat_solvers").set_value(["exact", "em"]).run()
    at.button(key="rat_step").click().run()
    assert not at.exception and not at.error
    runs = at.session_state["rat_runs"].runs
    assert list(runs) == ["exact", "em"] and runs["exact"].iterations == 3 and runs["em"].iterations == 1
    assert "em: test RMSE" in metrics(at)


@pytest.mark.parametrize("name, data", [
    ("u.data", b"1\t1\t4\t881250949\n1\t2\t3\t881250950\n2\t1\t5\t881250951\n2\t2\t1\t881250952\n3\t2\t2\t881250953\n"),
    ("ratings.dat", b"1::1::4::978300760\n1::2::3::978300761\n2::1::5::978300762\n2::2::1::978300763\n3::2::2::978300764\n"),
    ("ratings.csv", b"userId,movieId,rating,timestamp\n1,1,4.0,1\n1,2,3.0,2\n2,1,5.0,3\n2,2,1.0,4\n3,2,2.0,5\n"),
])
def test_uploads_in_the_movielens_formats_are_read(name, data):
    at = page()
    at.file_uploader(key="rat_upload").upload(name, data).run()
    assert not at.exception and not at.error
    assert name in at.caption[0].value and "3 users × 2 items, 5 ratings" in at.caption[0].value


def test_the_data_is_previewed_before_play_with_held_out_ratings_marked():
    at = page()
    fig = chart(at, "rat_fig_preview")
    z = z_values(fig["data"][0]["z"]).astype(float)
    marks = {t["name"]: t for t in fig["data"][1:]}
    train, test = marks["rated (training)"], marks["held out (test)"]
    assert len(train["x"]) > 0 and len(test["x"]) > 0
    users, items = fig["data"][0]["y"], fig["data"][0]["x"]
    assert users[0] == "1" and items[0] == "1"                     # the sample's first ids, 1-based
    marked = {(u, i) for kind in (train, test) for u, i in zip(kind["y"], kind["x"])}
    assert len(marked) == len(train["x"]) + len(test["x"])         # an entry is training or held out, not both
    assert np.count_nonzero(~np.isnan(z)) == len(marked)           # observed values exactly where marked
    assert 1 <= np.nanmin(z) and np.nanmax(z) <= 5
    assert any(c.value.startswith("Ratings per user") for c in at.caption)


def test_each_solver_is_timed_with_its_spread_and_read_from_the_numbers(stepped):
    at = stepped
    found = [d.value for d in at.dataframe if "median s / iteration" in d.value.columns]
    assert len(found) == 1
    table = found[0].set_index("solver")
    assert set(table.index) == {"exact", "sketched"} and (table["iterations"] == 3).all()
    assert ((table["fastest s"] <= table["median s / iteration"])
            & (table["median s / iteration"] <= table["slowest s"])).all()
    a, b = table.at["sketched", "median s / iteration"], table.at["exact", "median s / iteration"]
    ratio = f"{a / b:.1f}× slower" if a >= b else f"{b / a:.1f}× faster"
    assert any(f"sketched is {ratio} per iteration than exact" in c.value for c in at.caption)
