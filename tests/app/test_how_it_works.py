"""AppTest of the How it works page (views/how_it_works.py)."""
import json
from pathlib import Path

import numpy as np

import pytest
from _apptest import run_page
from streamlit.testing.v1 import AppTest

from ui.models import walkthrough as wt

PAGE = str(Path(__file__).resolve().parents[2] / "views" / "how_it_works.py")


def page(**query) -> AppTest:
    return run_page(PAGE, 60, **query)


def kappas(at: AppTest) -> tuple[float, float]:
    values = {m.label: float(m.value) for m in at.metric if m.label.startswith("κ")}
    return values["κ(A_i) before"], values["κ(A_i R⁻¹) after"]


def test_defaults_walk_through_every_step_without_error():
    at = page()
    assert not at.exception and not at.warning
    headers = [h.value for h in at.header]
    assert len(headers) == 9 and headers[0].startswith("1.") and headers[-1].startswith("9.")
    assert any("W_{ij}" in l.value and "^2" in l.value for l in at.latex)  # weights times squared residual
    before, after = kappas(at)
    assert before > 20 and after < 2  # the default row is ill-conditioned; preconditioning fixes it
    assert any("Measured here" in c.value for c in at.caption)  # the wlra_core run ran


def test_a_setting_change_is_reflected():
    at = page()
    first = kappas(at)
    at.slider(key="hiw_row").set_value(0).run()
    assert not at.exception and kappas(at) != first
    at.slider(key="hiw_s").set_value(3).run()  # s = k: the smallest sketch, a poor preconditioner
    assert not at.exception
    assert kappas(at)[1] > 1.5


def test_settings_come_from_the_url():
    at = page(hiw_k="4", hiw_row="5", hiw_seed="2")
    assert (at.slider(key="hiw_k").value, at.slider(key="hiw_row").value) == (4, 5)
    assert at.number_input(key="hiw_seed").value == 2
    assert not at.exception


def test_a_sketch_larger_than_the_row_is_clamped_with_a_note():
    at = page(hiw_s="60")
    assert not at.exception
    assert any("clamped" in i.value for i in at.info)


@pytest.mark.parametrize("kind", wt.DRAWABLE_SKETCHES)
def test_every_drawable_sketch_of_the_library_preconditions_the_row(kind):
    at = page(hiw_sketch=kind)
    assert not at.exception and not at.warning
    assert at.selectbox(key="hiw_sketch").value == kind
    assert any(f"`{kind}`" in c.value for c in at.caption)  # S·A_i said to be the library's own
    before, after = kappas(at)
    assert before > 20 and after < 2.5


def test_a_sketch_too_small_to_precondition_is_called_out():
    at = page(hiw_s="3")  # s = k
    assert not at.exception
    assert any("did not converge" in w.value for w in at.warning)


def test_the_contrast_with_plain_gradient_descent_is_quantified():
    at = page()
    caption = next(c.value for c in at.caption if c.value.startswith("Plain gradient descent"))
    before, _ = kappas(at)
    rate = float(caption.split("= ")[1].split(" ")[0])
    assert rate == pytest.approx((before ** 2 - 1) / (before ** 2 + 1), abs=1e-4)


def test_the_patch_matrix_section_shows_both_liftings_at_rank_r():
    at = page(hiw_patch="4", hiw_rank="4")
    assert not at.exception
    assert at.header[-1].value.startswith("9. Which matrix")
    lifted = wt.lifted_example(wt_sample(), patch=4)
    assert lifted.patches.shape == (15 * 15, 16)   # 32 px crop, 4 px windows at stride 2
    np.testing.assert_array_equal(lifted.lifting.average(lifted.patches), lifted.image)
    full = wt.rank_pictures(lifted, 16)             # the patch matrix's full rank: the crop back
    assert full.psnr_patches > 60 and full.psnr_pixels < full.psnr_patches
    assert wt.rank_pictures(lifted, 32).psnr_pixels > 60
    low = wt.rank_pictures(lifted, 2)
    assert low.psnr_pixels < 30 and low.psnr_patches < 30
    at.slider(key="hiw_rank").set_value(8).run()
    assert not at.exception


def wt_sample():
    from ui import loaders
    return loaders.sample_path("camera")


# --- controls beside their figures; s from k -------------------------------------------------------

def test_no_control_lives_in_the_sidebar_and_s_starts_at_k():
    at = page(hiw_k="4")
    assert not at.exception
    assert not any(len(at.sidebar.get(kind)) for kind in ("slider", "number_input", "selectbox"))
    s = at.slider(key="hiw_s")
    assert s.min == 4 and s.max == 60
    at.slider(key="hiw_k").set_value(2).run()
    assert not at.exception and at.slider(key="hiw_s").min == 2
    at.slider(key="hiw_s").set_value(2).run()
    at.slider(key="hiw_k").set_value(5).run()   # s = 2 is below the new k: a sketch of at least k rows, no error
    assert not at.exception and not any("clamped" in i.value for i in at.info)
    rows = [int(t.split("(")[1].split(" ")[0]) for t in chart_titles(at) if t.startswith("S·A_i (")]
    assert len(rows) == 1 and rows[0] >= 5


def chart_titles(at: AppTest) -> list[str]:
    layouts = [json.loads(chart.proto.spec)["layout"] for chart in at.get("plotly_chart")]
    return [layout["title"]["text"] for layout in layouts if "text" in layout.get("title", {})]


def test_a_sketch_as_long_as_the_row_says_why_kappa_is_one():
    at = page()
    N = wt.row_problem(*build_default(), 2).N
    at = page(hiw_s=str(N))
    assert not at.exception
    assert any("κ(A_i R⁻¹) = 1 trivially" in i.value for i in at.info)
    assert kappas(at)[1] == pytest.approx(1.0, abs=5e-3)
    assert not any("trivially" in i.value for i in page().info)  # the default s = 24 < N_i = 40


def build_default(k=3):
    ex = wt.example(k=k, spread=3.0, seed=0)
    return ex.M, ex.W, wt.init_Y(ex.M, ex.W, k)


# --- the sketch: drawn, κ against s, norms ---------------------------------------------------------

@pytest.mark.parametrize("kind", wt.DRAWABLE_SKETCHES)
def test_the_drawn_S_is_the_operator_the_library_applied(kind):
    M, W, Y = build_default()
    p = wt.row_problem(M, W, Y, 2)
    sk = wt.sketch(kind, 12, Y[p.cols], W[2, p.cols], p.b, seed=3)
    np.testing.assert_allclose(sk.S @ p.A, sk.SA, atol=1e-12)
    np.testing.assert_allclose(sk.S @ p.b, sk.Sb, atol=1e-12)


def test_rownorm_is_the_default_sketch_and_srht_is_called_the_papers():
    at = page()
    assert at.selectbox(key="hiw_sketch").value == "rownorm" == wc_default_sketch()
    at = page(hiw_sketch="srht")
    assert any("paper's sketch" in m.value for m in at.markdown)


def wc_default_sketch():
    import inspect
    import wlra_core as wc
    return inspect.signature(wc.solve).parameters["sketch"].default or wc.SKETCHES[0]


def test_kappa_against_s_falls_from_k_and_is_one_at_N():
    M, W, Y = build_default()
    curve = wt.kappa_curve(M, W, Y, 2, "srht")
    N = wt.row_problem(M, W, Y, 2).N
    assert curve["s"].iloc[0] == 3 and curve["s"].iloc[-1] == N
    assert curve["median"].iloc[-1] == pytest.approx(1.0, abs=1e-6)
    assert curve["median"].iloc[0] > 2 * curve["median"].iloc[len(curve) // 2]
    assert (curve["low"] <= curve["median"]).all() and (curve["median"] <= curve["high"]).all()


def test_norms_are_preserved_better_by_a_larger_sketch():
    M, W, Y = build_default()
    small = wt.norm_check(wt.walk(M, W, Y, 2, 3, kind="srht"))
    large = wt.norm_check(wt.walk(M, W, Y, 2, 36, kind="srht"))
    assert small.low < large.low <= 1 <= large.high < small.high
    at = page()
    label = next(m for m in at.metric if m.label.startswith("largest distortion"))
    assert 0 <= float(label.value) < 0.5


# --- the alternating step, animated ---------------------------------------------------------------

def test_the_animation_shows_each_half_step_and_f_never_rises():
    M, W, _ = build_default()
    frames = wt.alternating_frames(M, W, 3, iterations=3)
    assert [f.side for f in frames] == ["start", "X", "Y", "X", "Y", "X", "Y"]
    f = [frame.objective for frame in frames]
    assert all(b <= a * (1 + 1e-12) for a, b in zip(f, f[1:]))   # each half-step is an exact minimisation
    from ui import figures
    fig = figures.alternating_animation(frames, wt.observed(M, W))
    assert len(fig.frames) == 7 and len(fig.layout.sliders[0].steps) == 7
    assert fig.layout.updatemenus[0].buttons[0].method == "animate"


# --- CG in the comparison --------------------------------------------------------------------------

def test_cg_is_compared_and_finishes_in_about_k_steps():
    M, W, Y = build_default()
    w = wt.walk(M, W, Y, 2, 24, kind="srht")
    assert w.cg.forward_error[-1] < 1e-8
    assert w.cg.forward_error.size - 1 <= 3 * 3          # k = 3: CG needs about k steps (rounding adds a few)
    assert w.plain.forward_error.size > w.cg.forward_error.size
    methods = set(wt.inner_frame(w)["method"])
    assert any(m.startswith("conjugate gradients") for m in methods) and len(methods) == 3
    at = page()
    caption = next(c.value for c in at.caption if c.value.startswith("Plain gradient descent"))
    assert f"(κ − 1)/(κ + 1) = {wt.cg_rate(kappas(at)[0]):.4f}" in caption


# --- the calculator ----------------------------------------------------------------------------------

def test_the_calculator_uses_the_engines_cost_model():
    import wlra_core as wc
    rng = np.random.default_rng(0)
    n, m, k = 60, 200, 8
    M, W = rng.standard_normal((n, m)), np.ones((n, m))
    for solver in ("exact", "sketched"):
        est = wc.estimate(M, W, k, solver=solver)
        T = est.inner_iterations.get("sketched", 0.0)
        table = wt.complexity(n, m, k, est.sketch_size, T, 1.0).set_index("solver")
        for part in ("gram", "factor", "inner"):
            assert table.loc[solver, part] == pytest.approx(est.flops[part])


def test_the_calculators_reading_follows_its_numbers():
    big = wt.complexity_curve(3072, 3072, 4, 5, 10)
    window = wt.model_crossover(big)
    assert window is not None and window[0] < 128 < window[1]
    d = big[big["solver"] == "sketched"].set_index("k")["ratio"]
    assert d[window[0]] < 1 and all(d[kk] >= 1 for kk in d.index if kk < window[0])
    reading = wt.complexity_reading(wt.complexity(3072, 3072, 128, 512, 5, 10), big, wt.measured_ratios())
    assert f"from {window[0]} to {window[1]}" in reading
    small = wt.complexity_curve(12, 60, 4, 5, 10)
    assert wt.model_crossover(small) is None
    assert "finds no k" in wt.complexity_reading(wt.complexity(12, 60, 3, 12, 5, 10), small, wt.measured_ratios())


def test_the_measured_ratios_are_read_from_the_benchmark_results_and_shown():
    measured = wt.measured_ratios()
    assert len(measured) >= 2 and (measured["ratio"] > 0).all()
    assert (measured["ratio"] < 1).any() and (measured["ratio"] > 1).any()   # it wins somewhere, loses somewhere
    at = page(hiw_calc_n="512", hiw_calc_m="512", hiw_calc_k="32", hiw_calc_s="128")
    assert not at.exception
    reading = next(c.value for c in at.caption if c.value.startswith("At these sizes"))
    for r in measured.itertuples():
        assert f"{r.n}×{r.m}, k = {r.k}: {r.ratio:.2f}×" in reading
    table = at.dataframe[0].value.set_index("solver")
    assert table.loc["exact", "total"] == pytest.approx(wt.complexity(512, 512, 32, 128, 5, 10).set_index("solver").loc["exact", "total"])


# --- the same example in the lab --------------------------------------------------------------------

def test_the_lab_link_opens_the_same_example_in_the_lab():
    import urllib.parse
    at = page(hiw_k="4", hiw_seed="7", hiw_sketch="srht", hiw_s="20")
    link = next(m.value for m in at.markdown if "Open this example in the Solver lab" in m.value)
    query = dict(urllib.parse.parse_qsl(link.split("solver_lab?")[1].split(")")[0]))
    assert query == wt.lab_query(4, 7, "srht", 20)
    lab = run_page(str(Path(PAGE).parent / "solver_lab.py"), 120, **query)
    assert not lab.exception
    assert (lab.number_input(key="lab_n").value, lab.number_input(key="lab_m").value) == (12, 60)
    assert lab.slider(key="lab_k").value == 4 and lab.slider(key="lab_rank").value == 4
    assert lab.selectbox(key="lab_sketch").value == "srht" and lab.number_input(key="lab_s").value == 20
    assert lab.number_input(key="lab_pseed").value == 7


def test_measured_ratios_skip_result_files_they_cannot_read(tmp_path):
    (tmp_path / "solvers_dense3072").mkdir()
    (tmp_path / "solvers_dense3072" / "solvers.csv").write_text("case,solver,seconds\nx,exact,1\n")
    assert wt.measured_ratios(tmp_path).empty            # another layout: nothing read, no error
    assert wt.measured_ratios(tmp_path / "missing").empty
    reading = wt.complexity_reading(wt.complexity(12, 60, 3, 12, 5, 10), wt.complexity_curve(12, 60, 4, 5, 10),
                                    wt.measured_ratios(tmp_path))
    assert "Measured on this machine" not in reading


def test_the_measured_crossover_is_where_the_ratio_of_one_shape_crosses_one():
    import pandas as pd
    measured = pd.DataFrame({"case": ["a", "a", "a", "b", "b"], "n": [4096, 4096, 4096, 512, 512],
                             "m": [4096, 4096, 4096, 512, 512], "k": [64, 32, 128, 8, 16],
                             "ratio": [0.45, 1.41, 0.6, 0.9, 1.2], "source": ["x"] * 5})
    assert wt.measured_crossovers(measured) == [(4096, 4096, 32, 64)]   # 512²: faster, then slower, no crossover
    reading = wt.complexity_reading(wt.complexity(3072, 3072, 128, 512, 5, 10),
                                    wt.complexity_curve(3072, 3072, 4, 5, 10), measured)
    assert "Measured crossover at 4096×4096: sketched is slower at k = 32 and faster from k = 64" in reading
    assert wt.measured_crossovers(measured.iloc[3:]) == []


def test_the_calculator_marks_the_crossover_measured_in_the_benchmark_results():
    measured = wt.measured_ratios()
    crossings = wt.measured_crossovers(measured)
    assert crossings, "the engine benchmark results should hold a shape measured on both sides of its crossover"
    at = page()
    reading = next(c.value for c in at.caption if c.value.startswith("At these sizes"))
    for n, m, k0, k1 in crossings:
        assert f"Measured crossover at {n}×{m}: sketched is slower at k = {k0} and faster from k = {k1}" in reading


def test_a_repeat_listed_later_replaces_the_first_runs_ratio(tmp_path):
    def write(folder, sketched):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "solvers.csv").write_text(
            "case,n,m,k,solver,sketch,s_per_iter\n"
            f"dense4096,4096,4096,64,exact,,2.0\ndense4096,4096,4096,64,sketched,rownorm,{sketched}\n")

    write("solvers_large_crossover4096", 0.9)
    write("solvers_large_crossover4096_k64_repeat", 2.02)
    measured = wt.measured_ratios(tmp_path)
    assert len(measured) == 1 and measured["ratio"].iloc[0] == pytest.approx(1.01)
    assert measured["source"].iloc[0].endswith("k64_repeat/solvers.csv")
