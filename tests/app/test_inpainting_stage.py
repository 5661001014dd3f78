"""AppTest of the inpainting page as a stage for runs: the comparison it explains (difference
between the solvers' estimates, timings as median and spread, the rows each solver solves
exactly, the bypassed-sketch note, the one-line reading) and the painted strokes kept in the URL."""
import re
from pathlib import Path

import numpy as np
import pytest
from _apptest import run_page, step_inpainting as step

import wlra_core as wc
from ui import mask
from ui.models import inpainting
from ui.models.inpainting import live
from ui.runs import RunSet

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "views" / "inpainting.py")


def page(**query):
    return run_page(PAGE, 180, **query)


def notes(at) -> list[str]:
    return [w.value for w in at.warning]


def test_the_bypassed_sketch_note_appears_at_k_64_on_a_256_px_image():
    """At k = 64 the sketch has 4k = 256 rows: every row of the 256 px patch matrix (64 entries)
    is no longer than it, so "sketched" solves them exactly (only the 64 columns, 15 625 entries
    each, are sketched: 0.4 % of the regressions); the page says so."""
    at = step(page(inp_k="64", inp_max_iter="2"), 1)
    assert not at.exception and not at.error
    run = at.session_state["inp_runs"].runs["sketched"]
    cost = inpainting.cost(run, 1)
    assert cost.exact_share > 0.99 and cost.iterative_rows == 64 and cost.sketch_size == 256
    [note] = [n for n in notes(at) if "solves" in n]
    assert "**sketched** solves 100 % of its rows exactly" in note and "s = 256" in note
    # the reading names the cause, computed from the same numbers
    reading = " ".join(c.value for c in at.caption if "per iteration than exact" in c.value)
    assert "100 % of its rows are solved exactly" in reading


def test_no_bypass_note_at_the_default_k():
    at = step(page(inp_res="64"), 2)
    assert not at.exception
    assert not [n for n in notes(at) if "solves" in n]
    run = at.session_state["inp_runs"].runs["sketched"]
    assert inpainting.cost(run, 2).iterative_rows > 0


def fake_runs(seconds: dict[str, list[float]], X=None, timed: dict | None = None) -> RunSet:
    """A RunSet whose runs took the given seconds per iteration (factors: scaled copies of X)."""
    timed = timed or {}
    X = np.eye(4, 2) if X is None else X
    scale = {"exact": 1.0, "sketched": 1.0 + 1e-3}

    def start(name):
        for i, s in enumerate(seconds[name], 1):
            inner = ({"exact_rows": 6, "iterative_rows": 0} if name == "exact"
                     else {"exact_rows": 1, "iterative_rows": 5, "inner_iterations": 3.0, "sketch_size": 8})
            inner.update(timed.get(name, {}))
            yield type("Step", (), {"iteration": i, "objective": 1.0, "relative_objective": 1.0, "seconds": s,
                                    "elapsed": s, "X": X * scale[name], "Y": np.ones((3, 2)), "inner": inner,
                                    "stop_reason": None})()

    rs = RunSet.build("sig", list(seconds), start)
    for _ in range(len(seconds["exact"])):
        rs.advance()
    return rs


def test_timings_are_median_and_quartiles_of_the_iterations_so_far():
    rs = fake_runs({"exact": [0.010, 0.200, 0.012, 0.011, 0.013], "sketched": [0.03] * 5})
    t = inpainting.timing(rs.runs["exact"], 5)
    assert t.median == pytest.approx(0.012) and t.low == pytest.approx(0.011) and t.high == pytest.approx(0.013)
    assert t.count == 5
    assert inpainting.timing(rs.runs["exact"], 2).median == pytest.approx(0.105)   # up to the shown iteration
    assert "12 (11–13)" in live._timing_cell(rs.runs["exact"], 5)


def test_the_reading_is_computed_from_the_medians_shown():
    rs = fake_runs({"exact": [0.010, 0.200, 0.012, 0.011, 0.013], "sketched": [0.036, 0.037, 0.035, 0.5, 0.036]})
    line = inpainting.reading(rs, 5)
    assert line.startswith("sketched is 3.0× slower per iteration than exact here (median over 5)")
    assert "a sketch of 8 rows" in line and "3.0 inner iterations" in line
    rs = fake_runs({"exact": [0.04] * 3, "sketched": [0.01] * 3})
    assert inpainting.reading(rs, 3).startswith("sketched is 4.0× faster per iteration")


def test_the_cost_lines_count_what_each_solver_does_per_iteration():
    rs = fake_runs({"exact": [0.01] * 2, "sketched": [0.01] * 2})
    assert inpainting.cost_line("exact", inpainting.cost(rs.runs["exact"], 2), 2) == (
        "exact: 6 row regressions per iteration, all solved exactly (normal equations, k×k Cholesky)")
    line = inpainting.cost_line("sketched", inpainting.cost(rs.runs["sketched"], 2), 2)
    assert line.startswith("sketched: 6 row regressions per iteration; 17 % exactly (no longer than the sketch "
                           "of s = 8 rows)") and "3.0 inner iterations each" in line
    assert 'data-testid="cost-sketched"' in inpainting.cost_html(rs, 2)


def test_the_cost_lines_time_each_part_per_iteration_and_leave_out_parts_a_solver_lacks():
    timed = {"exact": {"sketch_seconds": 0.0, "factor_seconds": 0.0, "inner_seconds": 0.0, "exact_seconds": 0.004},
             "sketched": {"sketch_seconds": 0.002, "factor_seconds": 0.001, "inner_seconds": 0.003,
                          "exact_seconds": 0.0005}}
    rs = fake_runs({"exact": [0.01] * 2, "sketched": [0.01] * 2}, timed=timed)
    exact = inpainting.cost_line("exact", inpainting.cost(rs.runs["exact"], 2), 2)
    assert exact.endswith("; per iteration exact rows 4.0 ms") and "sketch " not in exact.split(";")[-1]
    sketched = inpainting.cost_line("sketched", inpainting.cost(rs.runs["sketched"], 2), 2)
    assert sketched.endswith("; per iteration sketch 2.0 ms, factorisation 1.0 ms, inner iterations 3.0 ms, "
                             "exact rows 0.5 ms")


def test_the_cost_lines_of_a_real_run_carry_the_solvers_timed_parts():
    import wlra_core as wc
    rng = np.random.default_rng(3)
    M = rng.standard_normal((40, 6)) @ rng.standard_normal((6, 300))
    W = (rng.random(M.shape) < 0.7).astype(float)

    def start(name):
        return wc.iterate(M, W, 4, solver=name, max_iter=3, seed=0)

    rs = RunSet.build("real", ["exact", "sketched"], start)
    for _ in range(3):
        rs.advance()
    sketched = inpainting.cost(rs.runs["sketched"], 3)
    parts = dict(sketched.seconds)
    assert set(parts) == {"sketch", "factorisation", "inner iterations", "exact rows"}
    assert parts["sketch"] > 0 and parts["inner iterations"] > 0            # 300-long rows: sketched for real
    assert "per iteration sketch " in inpainting.cost_line("sketched", sketched, 3)
    exact = dict(inpainting.cost(rs.runs["exact"], 3).seconds)
    assert exact["sketch"] == 0 and exact["exact rows"] > 0


def test_the_difference_between_solvers_is_relative_to_the_first():
    rs = fake_runs({"exact": [0.01] * 2, "sketched": [0.01] * 2})
    [(a, b, value)] = inpainting.difference(rs, 2)
    assert (a, b) == ("sketched", "exact") and value == pytest.approx(1e-3, rel=1e-4)
    assert "1.0e-03" in inpainting.difference_html(rs, 2)


def test_the_difference_of_the_real_runs_is_measured_on_their_estimates():
    at = step(page(inp_res="64"), 2)
    rs = at.session_state["inp_runs"]
    [(a, b, value)] = inpainting.difference(rs, 2)
    (_, Xa, Ya), (_, Xb, Yb) = rs.runs[a].factors_at(2), rs.runs[b].factors_at(2)
    Ma, Mb = Xa.astype(float) @ Ya.T.astype(float), Xb.astype(float) @ Yb.T.astype(float)
    assert value == pytest.approx(np.linalg.norm(Ma - Mb) / np.linalg.norm(Mb))
    body = "\n".join(h.proto.body for h in at.get("html"))
    assert 'data-testid="solver-difference"' in body


# --- painted strokes in the URL ---------------------------------------------------------------

def test_a_painted_layer_survives_its_url_code():
    rng = np.random.default_rng(0)
    coverage = np.zeros((40, 30))
    coverage[5:20, 3:25] = 1.0
    coverage[20, 3:25] = rng.random(22)
    weighted = coverage * 0.3
    code = mask.layer_code((coverage, weighted))
    assert re.fullmatch(r"[A-Za-z0-9_-]+", code) and len(code) < 2000
    c, v = mask.decode_layer(code, (40, 30))
    assert np.array_equal(c, coverage.astype(np.float32)) and np.array_equal(v, weighted.astype(np.float32))
    # a coverage of exactly 0.5 stays 0.5: its pixel's weight is 0.5, not hidden (not below 0.5)
    half = mask.decode_layer(mask.layer_code((np.full((2, 2), 0.5), np.zeros((2, 2)))), (2, 2))
    assert not mask.hidden_pixels(mask.combine((2, 2), painted=half)).any()
    with pytest.raises(wc.InputError, match="strokes for a 30×40 px image, need 20×10 px"):
        mask.decode_layer(code, (10, 20))
    with pytest.raises(wc.InputError, match="does not decode"):
        mask.decode_layer("not-a-code", (40, 30))


def test_composed_layers_act_like_painting_one_after_the_other():
    rng = np.random.default_rng(1)
    first = (rng.random((5, 5)), None)
    first = (first[0], first[0] * rng.random((5, 5)))
    second = (rng.random((5, 5)), None)
    second = (second[0], second[0] * rng.random((5, 5)))
    below = rng.random((5, 5))
    twice = mask.combine((5, 5), uploaded=mask.combine((5, 5), uploaded=below, painted=first), painted=second)
    once = mask.combine((5, 5), uploaded=below, painted=mask.compose_layers(first, second))
    assert np.allclose(twice, once)


def test_strokes_in_the_url_restore_the_same_hidden_pixels():
    coverage = np.zeros((256, 256))
    coverage[100:140, 20:200] = 1.0        # a brush stroke of weight 0 across the image
    code = mask.layer_code((coverage, np.zeros_like(coverage)))
    plain = page(inp_dropout="0.0", inp_text="")
    at = page(inp_dropout="0.0", inp_text="", inp_strokes=code)
    assert not at.exception and not at.error
    count = lambda a: int(re.search(r"Hidden pixels: (\d+)", " ".join(m.value for m in a.markdown)).group(1))
    assert count(plain) == 0 and count(at) == 40 * 180
    assert at.query_params["inp_strokes"] == [code] or at.query_params["inp_strokes"] == code


def test_a_bad_strokes_code_is_refused_with_a_message():
    at = page(inp_strokes="zzzz")
    assert not at.exception
    assert any("strokes in the URL" in e.value for e in at.error)


def test_the_shortcut_keys_are_named_on_the_page_and_the_listener_is_mounted():
    at = page(inp_res="64")
    assert any("**P** Play/Pause · **N** Step · **X** Reset" in c.value for c in at.caption)
    [listener] = [el for el in at.get("bidi_component") if el.proto.id.endswith("-inp_shortcuts")]
