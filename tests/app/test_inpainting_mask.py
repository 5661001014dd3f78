"""AppTest of the inpainting page's mask painting and solver controls, end to end in the page.

AppTest cannot render the canvas (streamlit-drawable-canvas), so `FakeCanvas` stands in for
`streamlit_drawable_canvas.st_canvas`: it records what the page asks of the canvas (tool, brush
size and colour, initial drawing, key) and answers with a stroke image of our making, the way the
real component answers (RGBA PNG of the strokes, fabric json, background fit). What happens
inside the browser (a mouse stroke reaching Python, the undo button of the canvas toolbar) is for
the browser tests.
"""
from __future__ import annotations

import base64
import io
import json
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from _apptest import run_page, spy_on_iterate
from streamlit.testing.v1 import AppTest

from ui import loaders, mask

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "views" / "inpainting.py")
APP = str(ROOT / "app.py")
NO_PRESETS = {"inp_dropout": "0.0", "inp_text": ""}


class CanvasResult(types.SimpleNamespace):
    """What ui.mask reads of streamlit_drawable_canvas.CanvasResult (the real module cannot be
    imported outside a running app: its component registers on import)."""

    def __init__(self, json_data, image_bytes, background_fit):
        super().__init__(json_data=json_data, image_bytes=image_bytes, background_fit=background_fit)


class FakeCanvas:
    """st_canvas stand-in. `strokes` is the drawing the next run reports: a list of
    ((x0, y0, x1, y1) canvas CSS px, weight); None reports nothing new (as after a remount)."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.strokes: list | None = None

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        if self.strokes is None:
            return CanvasResult(kwargs.get("initial_drawing"), None, None)
        width, height = kwargs["width"], kwargs["height"]
        img = Image.new("RGBA", (2 * width, 2 * height), (0, 0, 0, 0))  # device pixel ratio 2
        draw = ImageDraw.Draw(img)
        for (x0, y0, x1, y1), weight in self.strokes:
            draw.rectangle((2 * x0, 2 * y0, 2 * x1 - 1, 2 * y1 - 1), fill=(*mask.weight_rgb(weight), 255))
        buffer = io.BytesIO()
        img.save(buffer, format="PNG")
        objects = [{"type": "rect", "left": b[0], "top": b[1], "fill": mask.weight_css(w)} for b, w in self.strokes]
        fit = {"natural_width": 0, "natural_height": 0, "scale_x": 1.5, "scale_y": 1.5, "offset_x": 0.0,
               "offset_y": 0.0}
        return CanvasResult({"version": "5.3.0", "objects": objects}, buffer.getvalue(), fit)

    @property
    def last(self) -> dict:
        return self.calls[-1]


@pytest.fixture
def canvas(monkeypatch) -> FakeCanvas:
    fake = FakeCanvas()
    monkeypatch.setitem(sys.modules, "streamlit_drawable_canvas",
                        types.SimpleNamespace(st_canvas=fake, __name__="streamlit_drawable_canvas"))
    return fake


def page(**query) -> AppTest:
    return run_page(PAGE, 120, **query)


def hidden_count(at: AppTest) -> int:
    match = re.search(r"Hidden pixels: (\d+)", " ".join(m.value for m in at.markdown))
    assert match
    return int(match.group(1))


def weights_shown(at: AppTest) -> np.ndarray:
    """The z of the weight heatmap: what the page says the solver sees."""
    found = [el for el in at.get("bidi_component") if el.proto.id.endswith("-inp_weights_chart")]
    figure = json.loads(json.loads(found[0].proto.json)["figure"])
    z = figure["data"][0]["z"]
    if isinstance(z, dict):  # plotly's typed-array encoding
        z = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape([int(n) for n in str(z["shape"]).split(",")])
    return np.asarray(z, dtype=float)


def test_a_stroke_maps_exactly_onto_image_pixels_and_reaches_the_solver(canvas):
    at = page(**NO_PRESETS)
    assert hidden_count(at) == 0
    canvas.strokes = [((30, 15, 60, 45), 0.0)]  # canvas 384 px over 256 px: image [20, 40) × [10, 30)
    at.run()
    assert not at.exception and hidden_count(at) == 400
    expected = np.ones((256, 256))
    expected[10:30, 20:40] = 0.0
    assert np.array_equal(weights_shown(at), expected)  # the heatmap
    at.button(key="inp_step").click().run()
    W = at.session_state["inp_runs"].context.weights
    assert np.array_equal(W, expected)  # the problem the solvers ran on


def test_the_brush_paints_its_weight_in_the_colour_of_the_scale(canvas):
    at = page(**NO_PRESETS)
    at.slider(key="inp_brush_weight").set_value(0.5).run()
    at.slider(key="inp_brush").set_value(30).run()
    assert canvas.last["stroke_color"] == canvas.last["fill_color"] == mask.weight_css(0.5)
    assert canvas.last["stroke_width"] == 30
    legend = next(h.proto.body for h in at.get("html") if 'data-testid="brush-scale"' in h.proto.body)
    assert "left:calc(50.0% - 2px)" in legend and "0 = missing" in legend and "1 = trusted" in legend
    canvas.strokes = [((0, 0, 384, 384), 0.5)]
    at.run()
    assert np.allclose(weights_shown(at), 0.5, atol=0.01)  # a graded weight, not just hidden or not
    assert hidden_count(at) == 0  # 0.5 is not below HIDDEN_BELOW


@pytest.mark.parametrize("tool, mode", [("Brush", "freedraw"), ("Rectangle", "rect"), ("Polygon", "polygon")])
def test_each_paint_tool_sets_the_canvas_drawing_mode(canvas, tool, mode):
    at = page()
    at.segmented_control(key="inp_tool").set_value(tool).run()
    assert not at.exception and canvas.last["drawing_mode"] == mode


def test_painting_combines_with_every_preset_and_a_trusted_brush_restores_hidden_pixels(canvas):
    at = page(inp_dropout="0.0", inp_text="", inp_block="0.5")
    assert hidden_count(at) == 128 * 128  # the centre block, 128 px of 256
    at.slider(key="inp_brush_weight").set_value(1.0).run()
    canvas.strokes = [((192, 192, 288, 288), 1.0)]  # canvas → image [128, 192)²: a quarter of the block
    at.run()
    assert hidden_count(at) == 128 * 128 - 64 * 64
    canvas.strokes = [((192, 192, 288, 288), 1.0), ((0, 0, 30, 30), 0.0)]  # and hide a corner
    at.run()
    assert hidden_count(at) == 128 * 128 - 64 * 64 + 20 * 20
    at.text_input(key="inp_text").set_value("WLRA").run()
    at.slider(key="inp_scratches").set_value(5).run()
    at.slider(key="inp_dropout").set_value(0.3).run()
    W = weights_shown(at)
    assert (W[128:192, 128:192] == 1).all()  # the brush still wins over every preset under it
    assert (W[:20, :20] == 0).all()
    assert hidden_count(at) > 0.3 * 256 * 256


def test_presets_are_wired_to_the_page(canvas):
    counts = {}
    for name, query in {"block": {"inp_block": "0.25"}, "text": {"inp_text": "AB"},
                        "scratches": {"inp_scratches": "6"}, "dropout": {"inp_dropout": "0.5"}}.items():
        at = page(**{**NO_PRESETS, **query})
        assert not at.exception
        counts[name] = hidden_count(at)
    assert counts["block"] == 64 * 64
    assert counts["text"] > 0 and counts["scratches"] > 0
    assert counts["dropout"] == pytest.approx(0.5 * 256 * 256, rel=0.02)
    at = page(inp_block="0.25", inp_text="AB", inp_scratches="6", inp_dropout="0.5", inp_mask_seed="0")
    assert hidden_count(at) >= max(counts.values())


def test_clear_removes_every_stroke_and_remounts_an_empty_canvas(canvas):
    at = page(**NO_PRESETS)
    canvas.strokes = [((30, 15, 60, 45), 0.0)]
    at.run()
    key = canvas.last["key"]
    assert hidden_count(at) == 400
    canvas.strokes = None
    at.button(key="inp_clear").click().run()
    assert hidden_count(at) == 0
    assert canvas.last["key"] != key and canvas.last["initial_drawing"] is None


def test_undoing_the_last_stroke_gives_the_earlier_mask_back(canvas):
    # The canvas toolbar's Undo (browser side) sends the drawing without its last stroke.
    at = page(**NO_PRESETS)
    canvas.strokes = [((30, 15, 60, 45), 0.0)]
    at.run()
    canvas.strokes = [((30, 15, 60, 45), 0.0), ((90, 90, 120, 120), 0.0)]
    at.run()
    assert hidden_count(at) == 800
    canvas.strokes = [((30, 15, 60, 45), 0.0)]
    at.run()
    assert hidden_count(at) == 400
    canvas.strokes = []
    at.run()
    assert hidden_count(at) == 0


def test_the_painted_mask_survives_a_page_switch(canvas):
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("views/inpainting.py")
    for key, value in NO_PRESETS.items():
        at.query_params[key] = value
    at.run()
    canvas.strokes = [((30, 15, 60, 45), 0.0)]
    at.run()
    assert hidden_count(at) == 400
    drawing = canvas.last  # what the page keeps of the drawing
    canvas.strokes = None  # a remounted canvas reports no image until the next stroke
    at.switch_page("views/home.py").run()
    assert not at.exception
    at.switch_page("views/inpainting.py").run()
    assert not at.exception
    assert hidden_count(at) == 400
    assert canvas.last["initial_drawing"]["objects"] == [{"type": "rect", "left": 30, "top": 15,
                                                         "fill": mask.weight_css(0.0)}]
    assert drawing["key"] == canvas.last["key"]


@pytest.mark.parametrize("query, expected", [
    ({"inp_k": "5", "inp_eps": "1e-06", "inp_init": "random", "inp_ridge": "0.5", "inp_max_iter": "7",
      "inp_seed": "3"},
     {"k": 5, "eps": 1e-6, "init": "random", "ridge": 0.5, "max_iter": 7, "seed": 3, "clip": False}),
    ({"inp_k": "4", "inp_eps": "1e-02", "inp_clip": "true", "inp_max_iter": "9"},
     {"k": 4, "eps": 1e-2, "init": "svd", "ridge": 0.0, "max_iter": 9, "seed": 0, "clip": True}),
])
def test_every_solver_control_reaches_wlra_core(canvas, monkeypatch, query, expected):
    calls = spy_on_iterate(monkeypatch)
    at = page(inp_res="64", inp_solvers=["exact", "em"], **query)
    at.button(key="inp_step").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert sorted(c["solver"] for c in calls) == ["em", "exact"]
    for call in calls:
        assert {key: call[key] for key in expected} == expected


def test_an_impossible_combination_of_controls_is_explained_in_the_page(canvas):
    at = page(inp_res="64", inp_ridge="0.5", inp_clip="true")
    at.button(key="inp_step").click().run()
    assert not at.exception
    assert any("clip" in e.value and "ridge" in e.value for e in at.error)


def test_status_shows_iteration_time_per_iteration_and_sketched_inner_iterations():
    at = page(inp_res="64")
    for _ in range(2):
        at.button(key="inp_step").click().run()
    body = next(h.proto.body for h in at.get("html") if 'data-testid="run-status"' in h.proto.body)
    assert 'data-testid="iteration-count"' in body and ">Iteration 2<" in body
    rows = {name: re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
            for name, row in re.findall(r'<tr data-testid="solver-row-(\w+)"[^>]*>(.*?)</tr>', body, re.S)}
    assert set(rows) == {"exact", "sketched"}
    records = {name: run.records[-1] for name, run in at.session_state["inp_runs"].runs.items()}
    for name, cells in rows.items():
        assert float(cells[1].split()[0]) == pytest.approx(records[name]["psnr_hidden"], abs=0.01)  # hidden
        assert float(cells[2].split()[0]) == pytest.approx(records[name]["psnr_all"], abs=0.01)  # all pixels
        assert cells[3] in ("1", "2")  # the best iteration on the held-out pixels so far
        # time per iteration: median (25th–75th percentile) over the iterations so far, in ms
        ms = sorted(r["seconds"] * 1000 for r in at.session_state["inp_runs"].runs[name].records)
        assert cells[5] == f"{np.median(ms):.0f} ({np.percentile(ms, 25):.0f}–{np.percentile(ms, 75):.0f})"
    assert rows["exact"][6] == "100 %"  # every row regression solved exactly
    assert rows["exact"][7] == "—"  # no inner iterations: solved exactly
    assert float(rows["sketched"][7]) == pytest.approx(records["sketched"]["inner_iterations"], abs=0.05)
    assert records["sketched"]["inner_iterations"] > 0


def test_every_sample_image_states_its_licence():
    readme = (ROOT / "assets" / "README.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip(" `"): line.split("|")[-2].strip()
            for line in readme.splitlines() if line.startswith("| `")}
    for name in loaders.sample_names():
        file = loaders.sample_path(name).name
        assert file in rows, f"{file} not in assets/README.md"
        assert len(rows[file]) > 10, f"no licence stated for {file}"
