"""AppTest of the Solver lab page (views/solver_lab.py), on small problems to stay fast."""
import json
from pathlib import Path

import numpy as np
import pytest

from streamlit.testing.v1 import AppTest

from ui.models import lab

PAGE = str(Path(__file__).resolve().parents[2] / "views" / "solver_lab.py")
DEFAULT_SOLVERS = ("exact", "sketched", "cg", "em", "auto")
SMALL = {"lab_n": "80", "lab_m": "60", "lab_rank": "3", "lab_k": "3"}


def page(**query) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=90)
    for key, value in {**SMALL, **query}.items():
        at.query_params[key] = value
    return at.run()


def assert_every_plotly_figure_says_measured_here(at: AppTest, count: int) -> None:
    specs = [json.loads(f.proto.spec) for f in at.get("plotly_chart")]
    assert len(specs) == count
    for spec in specs:
        notes = [a.get("text", "") for a in spec["layout"].get("annotations", [])]
        assert any(n.startswith("Measured here, on this machine") for n in notes), spec["layout"].get("title")


def test_defaults_render_without_error():
    at = AppTest.from_file(PAGE, default_timeout=90).run()
    assert not at.exception and not at.error
    assert "300 × 200" in at.caption[0].value
    assert at.number_input(key="lab_n").value == 300  # the documented defaults


def test_stepping_runs_every_solver_side_by_side_with_a_truth_error():
    at = page()
    at.button(key="lab_step").click().run()
    at.button(key="lab_step").click().run()
    assert not at.exception and not at.error
    runs = at.session_state["lab_runs"].runs
    assert set(runs) == {"exact", "sketched", "cg", "em", "auto"}
    for run in runs.values():
        assert [r["iteration"] for r in run.records] == [1, 2]
        assert 0 < run.records[-1]["truth_error"] < 1
    table = at.dataframe[0].value
    assert set(table["solver"]) == set(runs) and (table["iterations"] == 2).all()
    assert any(c.value.startswith("Measured here, on this machine") for c in at.caption)


def test_changing_the_solver_set_and_the_problem_is_reflected():
    at = page()
    at.button(key="lab_step").click().run()
    at.multiselect(key="lab_solvers").set_value(["exact", "sketched"]).run()
    assert set(at.session_state["lab_runs"].runs) == {"exact", "sketched"}
    at.selectbox(key="lab_pattern").set_value("bernoulli").run()
    assert any("changed since these runs started" in w.value for w in at.warning)


def test_k_sweep_measures_each_k_and_solver_and_reports_the_crossover():
    at = page()
    at.multiselect(key="lab_ks").set_value([2, 4]).run()
    at.button(key="lab_sweep_run").click().run()
    assert not at.exception
    table = at.session_state["lab_sweep_result"]["table"]
    assert sorted(zip(table["k"], table["solver"])) == [(2, "exact"), (2, "sketched"), (4, "exact"), (4, "sketched")]
    assert (table["seconds_per_iteration"] > 0).all()
    # the conclusion shown is the one the sweep's own table gives, whichever solver was faster
    kind, text = lab.sweep_reading(table)
    assert kind in ("crossover", "mixed", "never")
    said = [m.value for m in (*at.info, *at.success, *at.warning, *at.markdown, *at.caption)]
    assert any(text in s for s in said), (text, said)
    assert_every_plotly_figure_says_measured_here(at, count=1)


def test_regression_accuracy_reports_forward_errors_and_condition_numbers():
    at = page(lab_m="120", lab_p="0.5")  # rows long enough (N_i > s = 4k) to be solved iteratively
    at.multiselect(key="lab_eps_values").set_value([1e-2, 1e-6]).run()
    at.button(key="lab_diag_run").click().run()
    assert not at.exception and not at.error
    rows = at.session_state["lab_diag_result"]["rows"]
    assert set(rows["eps"]) == {1e-2, 1e-6} and len(rows) > 0
    assert (rows["cond_before"] >= 1).all() and (rows["cond_after"] >= 1).all()
    loose = rows.loc[rows["eps"] == 1e-2, "forward_error"].median()
    tight = rows.loc[rows["eps"] == 1e-6, "forward_error"].median()
    assert tight < loose
    assert any("sampled regressions" in c.value for c in at.caption)
    assert_every_plotly_figure_says_measured_here(at, count=3)  # forward error, κ histogram, inner iterations
    histogram = next(json.loads(f.proto.spec) for f in at.get("plotly_chart") if "Condition numbers" in f.proto.spec)
    assert {t["name"] for t in histogram["data"]} == {"A_i (before)", "A_i R⁻¹ (after)"}
    assert all(t["type"] == "histogram" for t in histogram["data"])


@pytest.mark.parametrize("query, key, value", [
    ({"lab_pattern": "graded"}, "lab_pattern", "graded"),
    ({"lab_noise": "0.5"}, "lab_noise", 0.5),
])
def test_settings_come_from_the_url(query, key, value):
    at = page(**query)
    widget = at.selectbox(key=key) if key == "lab_pattern" else at.number_input(key=key)
    assert widget.value == value


def test_a_larger_sketch_gives_a_better_preconditioner():
    medians = []
    for rows in ("0", "60"):  # 0: the default 4k = 12 rows
        at = page(lab_m="120", lab_p="0.8", lab_s=rows, lab_sketch="srht")
        at.multiselect(key="lab_eps_values").set_value([1e-6]).run()
        at.button(key="lab_diag_run").click().run()
        assert not at.exception and not at.error
        medians.append(at.session_state["lab_diag_result"]["rows"]["cond_after"].median())
    assert medians[1] < medians[0]


def chart(at: AppTest, key: str) -> dict:
    """The plotly figure of a live chart (ui.figures.live_chart), by its key."""
    found = [el for el in at.get("bidi_component") if el.proto.id.endswith(f"-{key}")]
    assert len(found) == 1
    return json.loads(json.loads(found[0].proto.json)["figure"])


def test_objective_by_time_uses_each_solvers_own_seconds_and_every_figure_is_labelled():
    at = page()
    for _ in range(3):
        at.button(key="lab_step").click().run()
    runs = at.session_state["lab_runs"].runs
    fig = chart(at, "lab_fig_time")
    lines = {t["name"]: t for t in fig["data"] if t.get("name")}
    assert set(lines) == set(runs)
    for name, run in runs.items():
        # runs advance in turns: `elapsed` would count the other solvers' iterations too
        assert lines[name]["x"] == pytest.approx(np.cumsum([r["seconds"] for r in run.records]))
    assert fig["layout"]["yaxis"]["type"] == "log"
    for key in ("lab_fig_iter", "lab_fig_time", "lab_fig_truth"):
        notes = [a["text"] for a in chart(at, key)["layout"].get("annotations", [])]
        assert any(n.startswith("Measured here, on this machine") for n in notes), key


def test_the_default_problem_runs_with_one_click():
    at = AppTest.from_file(PAGE, default_timeout=90).run()
    at.button(key="lab_step").click().run()
    assert not at.exception and not at.error
    runs = at.session_state["lab_runs"].runs
    assert set(runs) == set(DEFAULT_SOLVERS) and all(run.iterations == 1 for run in runs.values())
