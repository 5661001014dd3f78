"""AppTest of the inpainting page (views/inpainting.py) and unit tests of its ui/ helpers.

AppTest cannot upload files, fire run_every timers or render the canvas (see README.md here):
uploads are injected as bytes through the same session key the uploader's callback fills
(`inp_pending_upload`, `inp_pending_mask`); Play is checked by the first tick, which runs inside
the same script run as the click; painting is checked on the mask helpers with a synthetic
canvas image, and in the browser tests.
"""
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from _apptest import html_bodies, run_page, step_inpainting as step
from streamlit.testing.v1 import AppTest

from ui import mask

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "views" / "inpainting.py")

# Settings widgets and the URL parameter each one is bound to (the parameter is the key).
BOUND_WIDGETS = {
    "multiselect": ["inp_solvers"],
    "slider": ["inp_k", "inp_dropout", "inp_text_size", "inp_scratches", "inp_block"],
    "segmented_control": ["inp_init", "inp_lift"],
    "select_slider": ["inp_eps", "inp_res", "inp_patch"],
    "number_input": ["inp_max_iter", "inp_ridge", "inp_seed", "inp_mask_seed"],
    "selectbox": ["inp_image"],
    "text_input": ["inp_text"],
    "checkbox": ["inp_clip"],
}


def page(**query) -> AppTest:
    return run_page(PAGE, 120, **query)


def shown_iteration(at: AppTest) -> int:
    match = re.search(r'data-testid="iteration-count"[^>]*>Iteration (\d+)<', html_bodies(at))
    assert match, "no 'Iteration N' element"
    return int(match.group(1))


def hidden_count(at: AppTest) -> int:
    match = re.search(r"Hidden pixels: (\d+)", " ".join(m.value for m in at.markdown))
    assert match
    return int(match.group(1))


def image_caption(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith("Original "))


def component_data(at: AppTest, key: str) -> dict:
    """The data a Components v2 element (a live chart, the canvas) was sent, by its key."""
    found = [el for el in at.get("bidi_component") if el.proto.id.endswith(f"-{key}")]
    assert len(found) == 1, f"{len(found)} components with key {key}"
    return json.loads(found[0].proto.json)


def chart(at: AppTest, key: str) -> dict:
    """The plotly figure (data, layout) of a live chart."""
    return json.loads(component_data(at, key)["figure"])


def runs(at: AppTest) -> dict:
    rs = at.session_state["inp_runs"]
    return {} if rs is None else rs.runs


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


# --- the page ---------------------------------------------------------------------------------

def test_defaults_render_sample_mask_and_idle_run():
    at = page()
    assert not at.exception and not at.error
    assert at.selectbox(key="inp_image").value == "camera"
    assert image_caption(at).startswith("Original 512×512 px, downscaled to 256×256 px")
    assert 0 < hidden_count(at) < 256 * 256
    assert shown_iteration(at) == 0
    assert runs(at) == {}
    assert at.button(key="inp_play").label == "Play"


def test_step_twice_advances_every_solver_two_iterations():
    at = step(page(), 2)
    assert not at.exception and not at.error
    assert shown_iteration(at) == 2
    assert list(runs(at)) == ["exact", "sketched"]
    for run in runs(at).values():
        assert [r["iteration"] for r in run.records] == [1, 2]
        # the default matrix: one row per 8×8 window at stride 2 of the 256 px image, 64 columns
        assert len(run.factors) == 2 and run.factors_at(1)[1].shape == (125 * 125, 12)
        assert run.factors_at(1)[2].shape == (64, 12)
    body = html_bodies(at)
    for solver in ("exact", "sketched"):
        psnr = re.search(rf'data-testid="psnr-hidden-{solver}"[^>]*>([\d.]+) dB<', body)
        assert psnr and 10 < float(psnr.group(1)) < 60
    labels = {b.label for b in at.get("download_button")}
    assert {"Reconstruction PNG", "Factors .npz", "History CSV", "Mask PNG"} <= labels


def test_every_solver_starts_from_the_same_initialisation():
    at = step(page(inp_solvers=["exact", "cg"], inp_eps="1e-08"), 1)
    exact, cg = runs(at)["exact"].records[0], runs(at)["cg"].records[0]
    # cg solves the same regressions from the same start, its first ones to the adaptive
    # tolerance 1e-3 (a relative excess of at most about 1e-6 in each regression's objective):
    # the same first iterate to well within a percent
    assert exact["relative_objective"] == pytest.approx(cg["relative_objective"], rel=1e-2)


def test_changing_the_solver_set_changes_the_runs():
    at = step(page(), 2)
    at.multiselect(key="inp_solvers").set_value(["exact", "cg"]).run()
    assert not at.exception
    assert list(runs(at)) == ["exact", "cg"]
    assert runs(at)["exact"].iterations == 2 and runs(at)["cg"].iterations == 0
    step(at)
    assert runs(at)["exact"].iterations == 3 and runs(at)["cg"].iterations == 1
    at.multiselect(key="inp_solvers").set_value([]).run()
    step(at)
    assert any("at least one solver" in e.value for e in at.error)


def test_changing_a_setting_marks_runs_stale_and_step_starts_over():
    at = step(page(inp_solvers=["exact", "cg"]), 3)
    at.slider(key="inp_k").set_value(8).run()
    assert any("Settings changed" in i.value for i in at.info)
    assert runs(at)["exact"].iterations == 3  # kept on screen until the next Step or Play
    step(at)
    assert runs(at)["exact"].iterations == 1 and runs(at)["exact"].factors_at(1)[1].shape[1] == 8


def test_play_ticks_once_per_script_run_and_pause_stops():
    at = page(inp_max_iter="3")
    at.button(key="inp_play").click().run()
    assert not at.exception
    # AppTest runs the live fragment once per script run (run_every timers never fire here).
    assert at.session_state["inp_playing"] in (True, False)
    assert all(run.iterations >= 1 for run in runs(at).values())
    if at.session_state["inp_playing"]:
        assert at.button(key="inp_play").label == "Pause"
        at.button(key="inp_play").click().run()
    assert at.session_state["inp_playing"] is False
    assert at.button(key="inp_play").label == "Play"


def test_status_says_live_paused_replaying_or_finished():
    from ui.models import inpainting
    from ui.runs import View

    at = step(page(inp_res="64", inp_max_iter="3"), 2)
    rs = at.session_state["inp_runs"]
    status = lambda **kw: re.search(r"of at most \d+ · (\w+)", inpainting.status_html(View(rs, **kw), kw["iteration"], 3)).group(1)
    assert status(iteration=2, playing=True, stale=False) == "live"
    assert status(iteration=2, playing=False, stale=False) == "paused"
    assert status(iteration=1, playing=False, stale=False) == "replaying"
    step(at)
    assert at.session_state["inp_runs"].done
    assert "of at most 3 · finished" in html_bodies(at)


def test_each_solver_row_says_running_paused_or_replaying_and_where_its_run_is():
    from ui.models import inpainting
    from ui.runs import View

    at = step(page(inp_res="64", inp_max_iter="5"), 3)

    def rows(iteration: int, playing: bool) -> list[tuple[str, str]]:
        body = inpainting.status_html(View(at.session_state["inp_runs"], iteration, playing, False), iteration, 5)
        return re.findall(r'data-testid="solver-status-(\w+)"[^>]*>([^<]*)<', body)

    assert rows(3, playing=True) == [("exact", "running"), ("sketched", "running")]
    assert rows(3, playing=False) == [("exact", "paused"), ("sketched", "paused")]
    # Replaying an earlier iteration: the run is paused further on, not running.
    assert rows(1, playing=False) == [("exact", "replaying · paused at iteration 3"),
                                      ("sketched", "replaying · paused at iteration 3")]
    step(at, 2)
    assert at.session_state["inp_runs"].done
    assert rows(5, playing=False) == [("exact", "stopped at max_iter"), ("sketched", "stopped at max_iter")]
    assert rows(2, playing=False)[0] == ("exact", "replaying · stopped at max_iter at iteration 5")


def test_the_counter_the_solver_rows_and_the_pictures_are_one_element():
    """One st.html for all three: the browser draws them in the same update, so the pictures can
    never show another iteration than the counter (as separate elements they lagged it)."""
    at = step(page(), 2)
    live = [h.proto.body for h in at.get("html") if 'data-testid="iteration-count"' in h.proto.body]
    assert len(live) == 1
    for test_id in ("solver-row-exact", "solver-row-sketched", "image-row-original",
                    "image-row-exact-iteration-2", "image-row-sketched-iteration-2"):
        assert f'data-testid="{test_id}"' in live[0], test_id


def test_a_live_tick_draws_first_then_computes_and_the_slider_waits_for_pause():
    at = step(page(), 2)
    at.button(key="inp_play").click().run()
    assert not at.exception
    # The tick inside this script run drew iterations 1–2, then computed at least one more round
    # (the next tick draws them): the browser draws while the solvers work.
    assert shown_iteration(at) == 2
    assert all(run.iterations >= 3 for run in runs(at).values())
    assert at.session_state["inp_playing"]
    # The tick's last element asks the browser to acknowledge it once painted (which starts the
    # next tick), so the server never runs ahead of what the browser can draw.
    pacer = component_data(at, "inp_pacer")
    assert pacer["active"] is True and pacer["tick"] == at.session_state["inp_ticks"] >= 1
    # While playing, a look-alike without a widget identity stands where the replay slider goes.
    assert not [s for s in at.slider if s.key == "inp_replay"]
    assert 'data-testid="replay-placeholder"' in html_bodies(at)
    at.button(key="inp_play").click().run()  # Pause: the slider comes back, at the newest iteration
    newest = runs(at)["exact"].iterations
    assert shown_iteration(at) == newest
    assert at.slider(key="inp_replay").value == newest and at.slider(key="inp_replay").max == newest
    assert 'data-testid="replay-placeholder"' not in html_bodies(at)
    assert component_data(at, "inp_pacer")["active"] is False


def test_play_from_scratch_draws_its_first_iterations_not_empty_charts():
    at = page()
    at.button(key="inp_play").click().run()
    assert not at.exception
    assert shown_iteration(at) >= 1
    lines = [t for t in chart(at, "inp_objective_chart")["data"] if t.get("name")]
    assert lines and all(len(t["x"]) >= 1 for t in lines)


def test_the_first_live_view_freezes_the_long_lived_objects_for_streamlits_collections():
    """Streamlit runs gc.collect(2) after every run; frozen objects (modules, mostly) are skipped."""
    import gc

    page()
    assert gc.get_freeze_count() > 10_000


def test_live_charts_drop_the_marker_per_point_past_a_few_dozen_iterations():
    from ui import figures

    records = [{"iteration": i, "relative_objective": 1.0 / i} for i in range(1, 62)]
    few = figures.history_dict({"exact": records[:60]}, y="relative_objective", y_title="f", markers_up_to=60)
    many = figures.history_dict({"exact": records}, y="relative_objective", y_title="f", markers_up_to=60)
    assert few["data"][0]["mode"] == "lines+markers"
    assert many["data"][0]["mode"] == "lines" and many["data"][0]["x"] == list(range(1, 62))  # every point
    default = figures.history_dict({"exact": records}, y="relative_objective", y_title="f")
    assert default["data"][0]["mode"] == "lines+markers"


def test_replay_slider_shows_a_past_iteration():
    at = step(page(), 3)
    at.slider(key="inp_replay").set_value(1).run()
    assert shown_iteration(at) == 1
    assert "exact · iteration 1" in html_bodies(at)
    at.slider(key="inp_replay").set_value(3).run()  # back at the newest: follows the run again
    step(at)
    assert shown_iteration(at) == 4


def test_reset_forgets_the_runs():
    at = step(page(), 2)
    at.button(key="inp_reset").click().run()
    assert runs(at) == {} and shown_iteration(at) == 0


def test_k_above_the_images_rank_is_capped_with_a_warning():
    at = step(page(inp_res="64"), 2)  # camera at 64×64
    at.slider(key="inp_k").set_value(100).run()
    assert not at.exception and not at.error
    assert any("k = 64 is used" in w.value for w in at.warning), [w.value for w in at.warning]
    assert runs(at)["exact"].iterations == 2  # the previous runs stay until the next Step
    step(at)
    assert not at.exception and not at.error
    # the patch matrix of the 64 px image is 29² windows × 64 pixels: rank at most 64
    assert runs(at)["exact"].iterations == 1 and runs(at)["exact"].factors_at(1)[2].shape == (64, 64)


def test_bad_upload_shows_an_error_and_keeps_the_previous_image():
    at = step(page(), 1)
    before = image_caption(at)
    at.session_state["inp_pending_upload"] = ("holiday.png", b"this is not an image")
    at.run()
    assert not at.exception
    assert any("holiday.png" in e.value or "image" in e.value.lower() for e in at.error)
    assert at.selectbox(key="inp_image").value == "camera"
    assert image_caption(at) == before
    assert runs(at)["exact"].iterations == 1
    at.run()  # the message is shown once
    assert not at.error


def test_good_upload_becomes_the_image():
    at = page()
    rng = np.random.default_rng(0)
    at.session_state["inp_pending_upload"] = ("noise.png", png(rng.integers(0, 255, (120, 300, 3), dtype=np.uint8)))
    at.run()
    assert not at.exception and not at.error
    assert at.selectbox(key="inp_image").value == "upload"
    assert image_caption(at).startswith("Original 300×120 px, downscaled to 256×102 px (colour")
    at.session_state["inp_pending_upload"] = ("grey.png", png(rng.integers(0, 255, (90, 60), dtype=np.uint8)))
    at.run()
    assert not at.error and image_caption(at).startswith("Original 60×90 px, worked on at 60×90 px (grey")


def test_mask_upload_sets_the_weights_and_a_wrong_aspect_is_refused():
    at = page(inp_dropout="0.0", inp_text="")
    assert hidden_count(at) == 0
    weights = np.full((512, 512), 255, dtype=np.uint8)
    weights[:256] = 0  # top half missing, made for the original 512 px image
    at.session_state["inp_pending_mask"] = ("half.png", png(weights))
    at.run()
    assert not at.exception and not at.error
    assert hidden_count(at) == 128 * 256
    at.session_state["inp_pending_mask"] = ("wide.png", png(np.zeros((100, 300), dtype=np.uint8)))
    at.run()
    assert any("aspect ratio" in e.value for e in at.error)
    assert hidden_count(at) == 128 * 256  # the previous mask stays


def test_settings_come_from_the_url_and_every_setting_is_bound_to_it():
    at = page(inp_k="7", inp_solvers=["cg", "em"], inp_eps="1e-06", inp_image="coffee", inp_res="128",
              inp_dropout="0.5", inp_text="", inp_max_iter="9")
    assert not at.exception
    assert at.slider(key="inp_k").value == 7
    assert at.multiselect(key="inp_solvers").value == ["cg", "em"]
    assert at.select_slider(key="inp_eps").value == 1e-6
    assert image_caption(at).startswith("Original 600×400 px, downscaled to 128×85 px")
    assert hidden_count(at) == pytest.approx(0.5 * 128 * 85, rel=0.1)
    step(at)
    assert list(runs(at)) == ["cg", "em"] and runs(at)["cg"].factors_at(1)[1].shape[1] == 7
    # The other direction: each settings widget writes its value to the URL parameter named
    # like its key (the browser does the writing; the widget declares the binding).
    for kind, keys in BOUND_WIDGETS.items():
        for key in keys:
            assert getattr(at, kind)(key=key).proto.query_param_key == key


def test_the_matrix_choice_lifts_the_image_to_patches_or_pixels():
    at = page(inp_res="64", inp_lift="pixels")
    assert not at.exception and "M = the grey image, 64×64" in image_caption(at)
    assert at.select_slider(key="inp_patch").proto.disabled
    step(at)
    assert runs(at)["exact"].factors_at(1)[1].shape == (64, 12)
    at.segmented_control(key="inp_lift").set_value("patches").run()
    at.select_slider(key="inp_patch").set_value(6).run()
    assert "one row per 6×6 window (stride 2): 900×36" in image_caption(at)   # 30² windows of the 64 px image
    step(at)
    assert not at.exception
    assert runs(at)["exact"].factors_at(1)[1].shape == (900, 12)
    assert runs(at)["exact"].factors_at(1)[2].shape == (36, 12)


def test_the_status_names_each_solvers_best_iteration_on_the_held_out_pixels():
    at = step(page(inp_res="64"), 3)
    body = html_bodies(at)
    for name, run in runs(at).items():
        errors = [r["holdout_rmse"] for r in run.records]
        assert all(np.isfinite(errors))
        shown = re.search(rf'data-testid="best-iteration-{name}"[^>]*>(\d+)<', body)
        assert shown and int(shown.group(1)) == 1 + int(np.argmin(errors))
    problem = at.session_state["inp_runs"].context
    # the held-out pixels are known pixels, about 5 % of them, and weightless in the fit
    assert not (problem.held & (problem.weights == 0)).any()
    assert problem.held.sum() == pytest.approx(0.05 * (problem.weights > 0).sum(), abs=1)


def test_invalid_url_values_are_ignored():
    at = page(inp_k="abc", inp_solvers=["nonsense"], inp_image="../../etc/passwd")
    assert not at.exception
    assert at.slider(key="inp_k").value == 12
    assert at.selectbox(key="inp_image").value == "camera"


# --- the mask helpers -------------------------------------------------------------------------

def canvas_png(size: tuple[int, int], boxes: list[tuple[tuple[int, int, int, int], float]]) -> bytes:
    """A transparent canvas image with opaque rectangles painted in the brush colour of a weight."""
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    for (x0, y0, x1, y1), weight in boxes:
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=(*mask.weight_rgb(weight), 255))
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def test_colour_scale_round_trips_weights():
    weights = np.linspace(0, 1, 21)
    rgb = np.array([mask.weight_rgb(w) for w in weights])
    assert np.allclose(mask.rgb_to_weight(rgb), weights, atol=0.01)


@pytest.mark.parametrize("fit", [None, {"scale_x": 1.5, "scale_y": 1.5, "offset_x": 0.0, "offset_y": 0.0}])
def test_painted_pixels_map_exactly_onto_image_pixels(fit):
    # A 384 px canvas over a 256 px image: canvas box [30, 60) x [15, 45) is image [20, 40) x [10, 30).
    layer = mask.paint_layer.__wrapped__(canvas_png((384, 384), [((30, 15, 60, 45), 0.0)]), fit, (384, 384), (256, 256))
    coverage, weighted = layer
    expected = np.zeros((256, 256))
    expected[10:30, 20:40] = 1.0
    assert np.allclose(coverage, expected, atol=1e-6)
    assert np.allclose(weighted, 0.0, atol=1e-6)
    weights = mask.combine((256, 256), painted=layer)
    assert mask.hidden_pixels(weights).sum() == 20 * 20


def test_device_pixel_ratio_two_and_partial_pixels_area_average():
    # The canvas PNG at twice the CSS size; a box covering half of image pixel column 10.
    png_bytes = canvas_png((768, 768), [((2 * 15 + 0, 0, 2 * 15 + 3, 768), 0.0)])  # CSS x 15..16.5 = image 10..11
    coverage, _ = mask.paint_layer.__wrapped__(png_bytes, None, (384, 384), (256, 256))
    assert np.allclose(coverage[:, 10], 1.0, atol=1e-6) and np.allclose(coverage[:, 11], 0.0, atol=1e-6)


def test_layers_combine_upload_then_presets_then_paint():
    uploaded = np.full((4, 4), 0.5)
    hidden = np.zeros((4, 4), dtype=bool)
    hidden[0, 0] = hidden[1, 1] = True
    coverage = np.zeros((4, 4))
    coverage[1, 1] = coverage[2, 2] = 1.0
    weighted = coverage * 1.0  # a weight-1 brush: restores what a preset hid
    w = mask.combine((4, 4), uploaded=uploaded, hidden=hidden, painted=(coverage, weighted))
    assert w[0, 0] == 0.0 and w[1, 1] == 1.0 and w[2, 2] == 1.0 and w[3, 3] == 0.5


def test_presets_are_deterministic_for_a_seed_and_combine():
    presets = mask.Presets(dropout=0.3, text="AB", scratches=3, block=0.25, seed=4)
    a = mask.preset_hidden.__wrapped__((64, 96), presets)
    b = mask.preset_hidden.__wrapped__((64, 96), presets)
    assert np.array_equal(a, b)
    block_only = mask.preset_hidden.__wrapped__((64, 96), mask.Presets(block=0.25))
    assert block_only.sum() == 16 * 16 and (a >= block_only).all()
    assert not mask.preset_hidden.__wrapped__((64, 96), mask.Presets()).any()


def test_a_diverging_solver_stops_with_a_message_and_the_others_go_on():
    from ui.runs import RunSet

    def start(name):
        def steps():
            for i in range(1, 4):
                value = float("nan") if name == "bad" and i == 2 else 1.0 / i
                yield type("Step", (), {"iteration": i, "objective": value, "relative_objective": value,
                                        "seconds": 0.0, "elapsed": 0.0, "X": np.ones((2, 1)),
                                        "Y": np.ones((2, 1)), "inner": {}, "stop_reason": None})()
        return steps()

    rs = RunSet.build("sig", ["good", "bad"], start)
    for _ in range(3):
        rs.advance()
    assert rs.runs["good"].iterations == 3
    assert rs.runs["bad"].iterations == 1 and rs.runs["bad"].stop_reason == "error"
    assert "nan" in rs.runs["bad"].error


def test_upload_honours_exif_orientation_and_reads_webp():
    img = Image.fromarray(np.random.default_rng(1).integers(0, 255, (20, 40, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": stored 40×20, shown 20×40
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", exif=exif.tobytes())
    at = page()
    at.session_state["inp_pending_upload"] = ("phone.jpg", buffer.getvalue())
    at.run()
    assert not at.error
    assert image_caption(at).startswith("Original 20×40 px")
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((30, 50), dtype=np.uint8)).save(buffer, format="WEBP", lossless=True)
    at.session_state["inp_pending_upload"] = ("grey.webp", buffer.getvalue())
    at.run()
    assert not at.error
    assert image_caption(at).startswith("Original 50×30 px")  # WebP stores no grey mode: read as RGB


def test_pictures_carry_stable_test_ids_for_the_browser_tests():
    at = step(page(), 1)
    body = html_bodies(at)
    for test_id in ("image-row-original", "image-row-exact-iteration-1",
                    "image-row-sketched-iteration-1", "solver-row-exact", "psnr-hidden-sketched", "psnr-all-exact",
                    "solver-status-exact", "solver-iteration-sketched", "time-exact", "rows-exact-sketched",
                    "solver-difference"):
        assert f'data-testid="{test_id}"' in body, test_id


def test_the_mask_is_shown_once_and_each_solver_picture_has_its_alt_text():
    """The canvas shows the masked input: no second copy in the picture row, and the weights heatmap
    is folded away in an expander."""
    at = step(page(), 2)
    body = html_bodies(at)
    assert 'data-testid="image-row-masked-input"' not in body
    assert 'alt="exact · iteration 2"' in body and 'alt="sketched · iteration 2"' in body
    assert "Weights W, as the solver sees them" in [e.label for e in at.expander]


def fake_steps(n: int, shape=(4, 2)):
    """A stand-in for wlra_core.iterate: n steps with X filled with the iteration number."""
    for i in range(1, n + 1):
        yield type("Step", (), {"iteration": i, "objective": 1.0 / i, "relative_objective": 1.0 / i,
                                "seconds": 0.01, "elapsed": 0.01 * i, "X": np.full(shape, float(i)),
                                "Y": np.ones(shape), "inner": {}, "stop_reason": "max_iter reached" if i == n else None})()


def test_stored_factors_are_thinned_past_the_budget_and_replay_uses_the_nearest(monkeypatch):
    from ui.runs import runset as run_module

    per_step = 2 * 4 * 2 * 4  # X and Y, 4×2 float32
    monkeypatch.setattr(run_module, "FACTOR_BUDGET_BYTES", 10 * per_step)
    rs = run_module.RunSet.build("sig", ["a"], lambda name: fake_steps(40))
    while not rs.done:
        rs.advance()
    run = rs.runs["a"]
    assert run.iterations == 40 and rs.factor_bytes <= 10 * per_step
    assert run.factors[-1] is not None  # the newest is always kept
    kept = [i + 1 for i, f in enumerate(run.factors) if f is not None]
    for iteration in range(1, 41):
        shown, X, _ = run.factors_at(iteration)
        assert shown == max([k for k in kept if k <= iteration] or [kept[0]])
        assert X[0, 0] == shown
    assert run.stop_reason == "max_iter reached"
    assert [r["cumulative_seconds"] for r in run.records][:3] == pytest.approx([0.01, 0.02, 0.03])


def test_the_seconds_axis_counts_only_each_solvers_own_iterations():
    """Runs side by side advance in turns on one clock: a step's `elapsed` also counts the other
    runs' turns (and the pause between Steps); the x axis "by seconds" must not."""
    from ui.runs import RunSet

    clock = {"now": 0.0}
    cost = {"fast": 0.01, "slow": 0.5}

    def start(name):
        t_start = clock["now"]

        def steps():
            for i in range(1, 4):
                clock["now"] += cost[name]
                yield type("Step", (), {"iteration": i, "objective": 1.0 / i, "relative_objective": 1.0 / i,
                                        "seconds": cost[name], "elapsed": clock["now"] - t_start,
                                        "X": np.ones((2, 1)), "Y": np.ones((2, 1)), "inner": {},
                                        "stop_reason": None})()
        return steps()

    rs = RunSet.build("sig", ["slow", "fast"], start)
    for _ in range(3):
        rs.advance()
        clock["now"] += 10.0  # paused between two Steps
    fast = rs.runs["fast"].records
    assert [r["cumulative_seconds"] for r in fast] == pytest.approx([0.01, 0.02, 0.03])
    assert fast[-1]["elapsed"] > 20  # what the axis must not use
    assert [r["cumulative_seconds"] for r in rs.runs["slow"].records] == pytest.approx([0.5, 1.0, 1.5])


def test_exports_hold_the_shown_iteration():
    at = step(page(), 3)
    at.slider(key="inp_replay").set_value(2).run()
    rs, problem = at.session_state["inp_runs"], at.session_state["inp_runs"].context
    from ui import controls
    from ui.models import inpainting

    npz = np.load(io.BytesIO(inpainting.factors_npz(problem, rs, controls.SolverSettings(k=12), 2)))
    assert npz["exact_X"].shape == (125 * 125, 12) and npz["sketched_Y"].shape == (64, 12)
    assert json.loads(str(npz["lifting"])) == {"lift": "patches", "patch": 8, "stride": 2, "colour": "rows"}
    assert int(npz["exact_iteration"]) == 2 and tuple(npz["image_shape"]) == (256, 256)
    image = Image.open(io.BytesIO(inpainting.reconstruction_png(problem, rs, "exact", 2)))
    assert image.size == (256, 256) and image.mode == "L"
    csv = inpainting.history_csv(rs).decode()
    assert csv.splitlines()[0].startswith("solver,iteration,objective,relative_objective")
    assert len(csv.splitlines()) == 1 + 2 * 3
    weights = np.asarray(Image.open(io.BytesIO(mask.mask_png(problem.weights)))) / 255
    assert np.allclose(weights, problem.weights, atol=1 / 255)


def test_pictures_switch_between_the_approximation_and_the_inpainted_image():
    at = step(page(), 2)
    rs = at.session_state["inp_runs"]
    from ui.models import inpainting

    items = lambda show: {caption: picture for caption, picture, *_ in inpainting.image_items(rs.context, rs, 2, show=show)}
    raw = items("raw")["exact · iteration 2"]
    filled = items("inpainted")["exact · iteration 2"]
    trusted = rs.context.weights == 1
    assert np.allclose(filled[trusted], rs.context.image[trusted])
    assert np.allclose(filled[rs.context.weights == 0], raw[rs.context.weights == 0])
    best = inpainting.best_index(rs.runs["exact"], 2)
    errors = [r["holdout_rmse"] for r in rs.runs["exact"].records]
    assert best == int(np.argmin(errors))
    assert f"exact · iteration 2 · best at {best + 1}" in items("best")
    assert at.segmented_control(key="inp_pictures").value == "best so far"   # the default view
    before = html_bodies(at)
    at.segmented_control(key="inp_pictures").set_value("inpainted").run()
    assert not at.exception and html_bodies(at) != before


def test_objective_chart_is_log_scale_by_iteration_or_by_each_solvers_own_seconds():
    at = step(page(), 3)
    fig = chart(at, "inp_objective_chart")
    assert fig["layout"]["yaxis"]["type"] == "log"
    lines = {t["name"]: t for t in fig["data"] if t.get("name")}
    assert set(lines) == {"exact", "sketched"}
    for name, run in runs(at).items():
        assert lines[name]["x"] == [1, 2, 3]
        assert lines[name]["y"] == pytest.approx([r["relative_objective"] for r in run.records])
    assert fig["layout"]["xaxis"]["title"]["text"] == "iteration"
    at.segmented_control(key="inp_axis").set_value("seconds").run()
    fig = chart(at, "inp_objective_chart")
    lines = {t["name"]: t for t in fig["data"] if t.get("name")}
    for name, run in runs(at).items():
        own = np.cumsum([r["seconds"] for r in run.records])
        assert lines[name]["x"] == pytest.approx(own)  # not `elapsed`, which counts the other runs' turns
    assert "own" in fig["layout"]["xaxis"]["title"]["text"]
    assert fig["layout"]["yaxis"]["type"] == "log"
    # The user's zoom survives updates: plotly keeps it while uirevision stays the same.
    revision = fig["layout"]["uirevision"]
    step(at)
    assert chart(at, "inp_objective_chart")["layout"]["uirevision"] == revision
    assert len(chart(at, "inp_objective_chart")["data"][0]["x"]) == 4


def test_psnr_chart_follows_the_hidden_pixels_of_every_solver():
    at = step(page(), 2)
    fig = chart(at, "inp_psnr_chart")
    lines = {t["name"]: t for t in fig["data"] if t.get("name")}
    assert set(lines) == {"exact", "sketched"}
    for name, run in runs(at).items():
        assert lines[name]["y"] == pytest.approx([r["psnr_hidden"] for r in run.records])
    assert "hidden" in fig["layout"]["yaxis"]["title"]["text"]


def test_a_tick_runs_several_iterations_while_its_budget_lasts_and_records_every_one():
    from ui.runs import RunSet

    rs = RunSet.build("sig", ["a", "b"], lambda name: fake_steps(50))
    rounds = rs.advance_for(0.2)  # the fake steps cost nothing: the whole run fits in one tick
    assert rounds == 50 and rs.done
    assert all([r["iteration"] for r in run.records] == list(range(1, 51)) for run in rs.runs.values())
    rs = RunSet.build("sig", ["a"], lambda name: fake_steps(50))
    assert rs.advance_for(0.0) == 1  # at least one iteration per tick, however short the budget


def test_the_download_buttons_deliver_the_files_of_the_shown_iteration(monkeypatch):
    """What a click on each download button returns, read from Streamlit's media manager."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    files = {}
    real_add, real_deferred = MediaFileManager.add, MediaFileManager.add_deferred

    def add(self, data, *args, **kwargs):
        url = real_add(self, data, *args, **kwargs)
        files[url] = lambda: data
        return url

    def add_deferred(self, data_callable, *args, **kwargs):
        file_id = real_deferred(self, data_callable, *args, **kwargs)
        files[file_id] = data_callable
        return file_id

    monkeypatch.setattr(MediaFileManager, "add", add)
    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    at = step(page(inp_res="64"), 3)
    at.slider(key="inp_replay").set_value(2).run()
    buttons = {b.label: b.proto for b in at.get("download_button")}
    get = lambda label: files[buttons[label].deferred_file_id or buttons[label].url]()
    rs = at.session_state["inp_runs"]

    # The reconstruction PNG is the picture shown: by default the inpainted image of the best iteration
    picture = np.asarray(Image.open(io.BytesIO(get("Reconstruction PNG"))), dtype=float) / 255
    from ui import images
    from ui.models import inpainting
    best = rs.runs["exact"].records[inpainting.best_index(rs.runs["exact"], 2)]["iteration"]
    _, X, Y = rs.runs["exact"].factors_at(best)
    shown = images.fill_in(rs.context.image, images.reconstruct(X, Y, rs.context.shape, rs.context.lifting),
                           rs.context.weights)
    assert np.allclose(picture, shown, atol=1 / 255)
    npz = np.load(io.BytesIO(get("Factors .npz")))
    assert int(npz["exact_iteration"]) == int(npz["sketched_iteration"]) == 2
    assert np.array_equal(npz["sketched_Y"], rs.runs["sketched"].factors_at(2)[2])
    history = get("History CSV").decode().splitlines()
    assert len(history) == 1 + 2 * 3 and "cumulative_seconds" in history[0]
    weights = np.asarray(Image.open(io.BytesIO(get("Mask PNG"))), dtype=float) / 255
    assert np.allclose(weights, rs.context.weights, atol=1 / 255)


def test_the_reconstruction_png_exports_what_the_pictures_show():
    """"inpainted" exports the inpainted image (the original where trusted), "X Yᵀ" the estimate itself."""
    from ui import images
    from ui.models import inpainting
    at = step(page(inp_res="64"), 2)
    rs = at.session_state["inp_runs"]
    p = rs.context
    _, X, Y = rs.runs["sketched"].factors_at(2)
    raw = images.reconstruct(X, Y, p.shape, p.lifting)
    read = lambda show: np.asarray(Image.open(io.BytesIO(inpainting.reconstruction_png(p, rs, "sketched", 2, show))),
                                   dtype=float) / 255
    trusted = p.weights == 1
    assert np.allclose(read("inpainted")[trusted], p.image[trusted], atol=1 / 255)
    assert np.allclose(read("raw"), raw, atol=1 / 255)
    assert not np.allclose(read("raw")[trusted], p.image[trusted], atol=1 / 255)
    with pytest.raises(ValueError, match="show: found 'filled'"):
        inpainting.reconstruction_png(p, rs, "sketched", 2, "filled")
