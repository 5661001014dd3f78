"""AppTest of the Rating matrices page (pages/ratings.py)."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "ratings.py")


def page(**query) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


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
    assert at.dataframe[0].value.shape[0] == 10  # top-10 recommendations


def test_recommendations_follow_the_chosen_user(stepped):
    at = stepped
    first = at.dataframe[0].value["item id"].tolist()
    at.number_input(key="rat_user").set_value(7).run()
    assert not at.exception
    assert any("user **8**" in m.value for m in at.markdown)  # row 7 is user id 8 (ids are 1-based)
    assert at.dataframe[0].value["item id"].tolist() != first


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


def test_replay_after_factor_thinning_shows_the_nearest_kept_iterate():
    """Past its memory budget ui.run drops stored factors (None); the page must go through
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
    assert at.dataframe[0].value.shape[0] == 10
    assert {b.label for b in at.get("download_button")} >= {"History (CSV)", "Held-out predictions (CSV)"}
