"""The solver lab's cost guard (issue 12, finding 9): a Step predicted by wlra_core.estimate above
ui.models.lab.REFUSE_SECONDS is refused before it starts, saying the estimate and how to make it smaller;
one above WARN_SECONDS is announced; small problems run as before. No test reads the clock: the
estimate is a flop count divided by a constant."""
from __future__ import annotations

import numpy as np

from tests.app._apptest import run_page
from tests.app.test_lab_upload import PAGE, errors, npy, records, step, upload
from ui.models import lab
from ui.models.lab import cost_guard


def big_upload(at, n=1536):
    rng = np.random.default_rng(0)
    return upload(at, "big.npy", npy(rng.standard_normal((n, 8)) @ rng.standard_normal((8, n))))


def test_a_step_predicted_above_the_limit_is_refused_with_the_estimate_and_how_to_make_it_smaller():
    """A dense 1536² upload at k = 128 with the exact solver: 2·1536²·128² ≈ 7.7e10 flops per
    iteration, about 4 s predicted (the 2048² case froze the page for 49 s per Step)."""
    at = run_page(PAGE, lab_source="upload", lab_k="128", lab_solvers=["exact"])
    at = big_upload(at)
    assert not at.exception and not errors(at)
    warned = [w.value for w in at.warning if w.value.startswith("One Step would take about")]
    assert warned and "above the 3 s this page allows per Step" in warned[0]
    at = step(at)
    assert not at.exception
    (message,) = errors(at)
    n, k = 1536, 128
    seconds = (2 * n * n * k * k + 2 * n * k ** 3 / 3 + 2 * n * n * k) / 2e10   # the cost model, both sides
    assert message.startswith(f"One Step would take about {seconds:.2g} s here (exact {seconds:.2g} s; "
                              "predicted by wlra_core.estimate for a 1536×1536 problem at k = 128), above the 3 s")
    assert "a smaller rank k" in message and "crop or downscale" in message and "sparse weights" in message
    assert at.session_state["lab_runs"] is None                   # nothing ran


def test_a_smaller_rank_on_the_same_matrix_runs():
    at = run_page(PAGE, lab_source="upload", lab_k="128", lab_solvers=["exact"])
    at = big_upload(at)
    at.session_state["lab_k"] = 4
    at = step(at.run())
    assert not at.exception and not errors(at)
    assert [r["iteration"] for r in records(at)["exact"]] == [1]


def test_a_step_between_the_warning_and_the_limit_runs_with_the_estimate_shown(monkeypatch):
    """With the limits moved around a small problem's prediction, the page warns and still runs."""
    at = run_page(PAGE, lab_source="upload", lab_k="3", lab_solvers=["exact", "sketched"])
    rng = np.random.default_rng(1)
    at = upload(at, "M.npy", npy(rng.standard_normal((30, 20))))
    cost = lab.step_cost(np.zeros((30, 20)), np.ones((30, 20)), 3, ["exact", "sketched"],
                         {"max_iter": 100})
    monkeypatch.setattr(cost_guard, "WARN_SECONDS", cost.seconds / 2)
    monkeypatch.setattr(cost_guard, "_COSTS", {})
    at = step(at.run())
    assert not at.exception and not errors(at)
    assert any(w.value.startswith("One Step would take about") and "To make it faster" in w.value
               for w in at.warning)
    assert all(len(recs) == 1 for recs in records(at).values())


def test_a_k_sweep_predicted_above_its_limit_is_refused_and_its_button_disabled():
    at = run_page(PAGE, lab_source="upload", lab_k="4", lab_solvers=["exact"])
    at = big_upload(at)
    at.multiselect(key="lab_ks").set_value([8, 64, 128])
    at = at.run()
    assert not at.exception
    refused = [e for e in errors(at) if e.startswith("This sweep would take about")]
    assert refused and "exact at k = 128" in refused[0] and "drop the largest k values" in refused[0]
    assert at.button(key="lab_sweep_run").disabled
    at.multiselect(key="lab_ks").set_value([2, 4])
    at = at.run()
    assert not [e for e in errors(at) if e.startswith("This sweep")]
    assert not at.button(key="lab_sweep_run").disabled
