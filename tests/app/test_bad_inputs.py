"""The bad-input catalogue through the app (issue 4, item 1): images, masks, rating files and URL
parameters, each through the real page script.

Every refused input must leave an in-page message naming the file, what was found in it and what
is needed, no exception element, and the session as it was: the image (or ratings) on screen, the
runs and their iterations. Every accepted input must give the page something a Step can fit
with finite numbers. Uploads go through the real uploader widgets (AppTest's `upload`, whose
on_change callback queues the file as a browser upload does; ui/uploads.py).

Cheap by sharing: the refused inputs of a page all go to one session prepared once (an accepted
upload and one Step), which each test must leave as it found it; `Shared.fresh()` rebuilds it when
a test did not (so a failure does not spread to the next test). Accepted inputs replace the data:
each of those tests opens its own session.
"""
from __future__ import annotations

import io
import math
import re
import tomllib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from PIL import Image
from _apptest import html_bodies, run_page
from streamlit.testing.v1 import AppTest

import wlra_core as wc
from tests.files import encode
from ui import loaders, state, uploads

ROOT = Path(__file__).resolve().parents[2]
INPAINTING = str(ROOT / "views" / "inpainting.py")
RATINGS = str(ROOT / "views" / "ratings.py")
# Small and quick: 64 px working resolution, one solver.
# the pixel matrix: these tests check the page's M and W entry by entry in its [R | G | B] layout
INP_QUERY = {"inp_res": "64", "inp_solvers": ["exact"], "inp_lift": "pixels"}


# --- files ------------------------------------------------------------------------------------

def noise(shape: tuple[int, ...], seed: int, dtype=np.uint8, high: int = 256) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, high, shape).astype(dtype)


GOOD_IMAGE = encode(Image.fromarray(noise((40, 60, 3), seed=1)))  # 60×40 px, colour
GOOD_RATINGS = b"user,item,rating\n1,1,4\n1,2,3\n2,1,5\n2,2,1\n3,2,2\n3,3,4\n4,1,2\n4,3,5\n"


def animation(fmt: str) -> bytes:
    """Two frames, red then green: the app must work on the first."""
    frames = [Image.new("RGB", (30, 20), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


# --- reading the page -------------------------------------------------------------------------

def shown_text(at: AppTest) -> str:
    """Everything the page shows as text: messages, captions, markdown, metrics, HTML blocks."""
    parts = [e.value for kind in (at.error, at.warning, at.info, at.caption, at.markdown) for e in kind]
    return "\n".join(parts) + "\n" + shown_results(at)


def shown_results(at: AppTest) -> str:
    """The numbers of the runs as shown: metrics (ratings) and the run table (inpainting)."""
    return "\n".join([f"{m.label} {m.value}" for m in at.metric] + [html_bodies(at)])


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def warnings(at: AppTest) -> list[str]:
    return [w.value for w in at.warning]


def assert_no_crash(at: AppTest) -> None:
    """No exception element, no traceback on the page, and no NaN among the results shown."""
    assert not at.exception, [e.value for e in at.exception]
    assert "Traceback" not in shown_text(at)
    assert not re.search(r"\bnan\b", shown_results(at), flags=re.IGNORECASE), "a result is shown as NaN"


def assert_says(message: str, *parts: str) -> None:
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


def upload(at: AppTest, key: str, name: str, data: bytes) -> AppTest:
    """A file chosen in the uploader `key`: its on_change queues it, the page validates it."""
    return at.file_uploader(key=key).upload(name, data).run()


def step(at: AppTest, prefix: str) -> AppTest:
    return at.button(key=f"{prefix}_step").click().run()


def image_caption(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith("Original "))


def fitted_weights(at: AppTest, weights: np.ndarray) -> np.ndarray:
    """The pixel-matrix W the solver gets for these image weights: the page holds a seeded 5 % of
    the known pixels out of the fit (to pick the best iteration)."""
    held = at.session_state["inp_runs"].context.held
    return np.tile(np.where(held, 0.0, weights), (1, 3))


def hidden_count(at: AppTest) -> int:
    return int(re.search(r"Hidden pixels: (\d+)", " ".join(m.value for m in at.markdown)).group(1))


def shown_iteration(at: AppTest) -> int:
    return int(re.search(r'data-testid="iteration-count"[^>]*>Iteration (\d+)<', html_bodies(at)).group(1))


def runs(at: AppTest, prefix: str) -> dict:
    rs = at.session_state[f"{prefix}_runs"]
    return {} if rs is None else rs.runs


def run_history(at: AppTest, prefix: str) -> tuple:
    """What the runs on screen hold: their problem, and every record of every solver."""
    rs = at.session_state[f"{prefix}_runs"]
    if rs is None:
        return None
    return (rs.signature, {name: [tuple(sorted(r.items())) for r in run.records] for name, run in rs.runs.items()})


def assert_inpainting_step_is_finite(at: AppTest) -> dict:
    """Every run's newest record after a Step: finite objective and PSNR (PSNR on the hidden pixels
    is undefined when none is hidden, shown as —; PSNR on all pixels is +inf for an exact fit)."""
    assert_no_crash(at)
    assert not errors(at)
    hidden = bool(at.session_state["inp_runs"].context.hidden.any())
    records = {}
    for name, run in runs(at, "inp").items():
        assert run.error is None and run.records, name
        rec = records[name] = run.records[-1]
        assert math.isfinite(rec["objective"]) and math.isfinite(rec["relative_objective"])
        assert not math.isnan(rec["psnr_all"]) and rec["psnr_all"] > 0
        assert math.isfinite(rec["psnr_hidden"]) if hidden else math.isnan(rec["psnr_hidden"])
    return records


def assert_ratings_step_is_finite(at: AppTest, *, held_out: bool = True) -> None:
    assert_no_crash(at)
    assert not errors(at)
    for name, run in runs(at, "rat").items():
        assert run.error is None and run.records, name
        rec = run.records[-1]
        assert math.isfinite(rec["objective"]) and math.isfinite(rec["train_rmse"])
        assert math.isfinite(rec["test_rmse"]) if held_out else math.isnan(rec["test_rmse"])
        metric = next(m.value for m in at.metric if m.label == f"{name}: test RMSE")
        assert metric == (f"{rec['test_rmse']:.4f}" if held_out else "—")


# --- shared sessions --------------------------------------------------------------------------

class Shared:
    """One AppTest session shared by the tests of a group. `fresh()` returns it and the snapshot
    it had when built; it is rebuilt first if the previous test left it otherwise."""

    def __init__(self, build: Callable[[], AppTest], snapshot: Callable[[AppTest], dict]):
        self.build, self.snapshot = build, snapshot
        self.at: AppTest | None = None
        self.before: dict | None = None

    def fresh(self) -> tuple[AppTest, dict]:
        if self.at is None or self.snapshot(self.at) != self.before:
            self.at = self.build()
            self.before = self.snapshot(self.at)
        return self.at, self.before


def inpainting_with_a_run() -> AppTest:
    """The inpainting page with an accepted upload (60×40 colour) and one Step."""
    at = upload(run_page(INPAINTING, **INP_QUERY), "inp_image_file", "good.png", GOOD_IMAGE)
    at = step(at, "inp")
    assert not errors(at) and at.selectbox(key="inp_image").value == loaders.UPLOAD_CHOICE
    assert image_caption(at).startswith("Original 60×40 px, worked on at 60×40 px (colour")
    return at


def inpainting_snapshot(at: AppTest) -> dict:
    return {"caption": image_caption(at), "image": at.selectbox(key="inp_image").value,
            "upload": at.session_state["inp_upload"]["digest"], "mask": at.session_state["inp_mask_upload"],
            "hidden": hidden_count(at), "iteration": shown_iteration(at), "runs": run_history(at, "inp")}


def ratings_with_a_run() -> AppTest:
    at = step(upload(run_page(RATINGS), "rat_upload", "good.csv", GOOD_RATINGS), "rat")
    assert not errors(at) and at.caption[0].value.startswith("**good.csv**: 4 users × 3 items, 8 ratings")
    return at


def ratings_snapshot(at: AppTest) -> dict:
    return {"caption": at.caption[0].value, "data": at.session_state["rat_data"]["digest"],
            "metrics": [(m.label, m.value) for m in at.metric], "runs": run_history(at, "rat")}


@pytest.fixture(scope="module")
def inpainting_shared() -> Shared:
    return Shared(inpainting_with_a_run, inpainting_snapshot)


@pytest.fixture()
def inpainting(inpainting_shared: Shared) -> tuple[AppTest, dict]:
    return inpainting_shared.fresh()


@pytest.fixture(scope="module")
def ratings_shared() -> Shared:
    return Shared(ratings_with_a_run, ratings_snapshot)


@pytest.fixture()
def ratings(ratings_shared: Shared) -> tuple[AppTest, dict]:
    return ratings_shared.fresh()


def assert_refused(at: AppTest, before: dict, snapshot: Callable[[AppTest], dict], *parts: str) -> str:
    """One message naming the file, what was found and what is needed; the session as before."""
    assert_no_crash(at)
    assert len(errors(at)) == 1, errors(at)
    assert_says(errors(at)[0], *parts)
    assert snapshot(at) == before
    return errors(at)[0]


# --- images (inpainting page) -------------------------------------------------------------------

_truncated_png = encode(Image.fromarray(noise((40, 60, 3), seed=2)))
_truncated_jpeg = encode(Image.fromarray(noise((40, 60, 3), seed=3)), "JPEG")


@pytest.mark.parametrize("name, data, parts", [
    pytest.param("empty.png", b"", ["Image 'empty.png': found an empty file (0 bytes)",
                                    "need a PNG, JPEG, GIF or WebP image"], id="empty-file"),
    pytest.param("notes.png", b"Shopping list: milk, eggs\n", [
        "Image 'notes.png': found 26 bytes that are not an image Pillow can read (starting b'Shopping list: m')",
        "need an image file"], id="text-renamed-png"),
    pytest.param("cut.png", _truncated_png[:len(_truncated_png) // 2], [
        "Image 'cut.png': the image data is damaged or truncated", "need a complete image file"], id="truncated-png"),
    pytest.param("cut.jpg", _truncated_jpeg[:len(_truncated_jpeg) // 2], [
        "Image 'cut.jpg': the image data is damaged or truncated", "need a complete image file"],
        id="truncated-jpeg"),
])
def test_an_unreadable_image_is_refused_and_the_session_keeps_its_image_and_runs(inpainting, name, data, parts):
    at, before = inpainting
    assert_refused(upload(at, "inp_image_file", name, data), before, inpainting_snapshot, *parts)
    at.run()  # the message is shown once
    assert not errors(at) and inpainting_snapshot(at) == before


def test_a_decompression_bomb_is_refused_under_pillows_limit(inpainting, monkeypatch):
    """Pillow's limit is lowered (never lifted) instead of making a huge file: 2 500 pixels, so
    the session's 60×40 image (2 400) stays below it and a 60×50 (warning level) and a 60×90 image
    (error level, more than twice the limit) are bombs."""
    at, before = inpainting
    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 2_500)
    for size in ((60, 50), (60, 90)):
        bomb = encode(Image.new("L", size, 7))
        message = assert_refused(upload(at, "inp_image_file", "bomb.png", bomb), before, inpainting_snapshot,
                                 "Image 'bomb.png': found an image too large to decode safely",
                                 "Pillow's limit of 2,500 pixels", "need a smaller image")
        assert "MAX_IMAGE_PIXELS" in message


def test_an_image_above_the_pixel_cap_is_refused_with_the_cap_stated(inpainting):
    at, before = inpainting
    huge = encode(Image.new("1", (6000, 6000)))  # 36 M pixels in a few kB; refused from its header
    assert len(huge) < 100_000
    assert_refused(upload(at, "inp_image_file", "huge.png", huge), before, inpainting_snapshot,
                   "Image 'huge.png': found a 6,000×6,000 image (36,000,000 pixels)",
                   f"need at most {wc.limits.MAX_IMAGE_PIXELS:,} pixels")


def upload_limit_in_config() -> int:
    with open(ROOT / ".streamlit" / "config.toml", "rb") as f:
        return tomllib.load(f)["server"]["maxUploadSize"] * 2**20


def test_an_image_above_the_upload_limit_is_refused_with_the_limit_stated(inpainting, monkeypatch):
    """The real limit is the library's file cap and Streamlit's (50 MB); it is lowered to 1 MB here
    instead of making a 50 MB file."""
    assert uploads.MAX_UPLOAD_BYTES == wc.limits.MAX_FILE_BYTES == upload_limit_in_config()
    at, before = inpainting
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 2**20)
    small = encode(Image.fromarray(noise((40, 60, 3), seed=4)))
    padded = small + bytes(2**20 + 1 - len(small))  # a valid PNG (bytes after its end are ignored)
    assert_refused(upload(at, "inp_image_file", "big.png", padded), before, inpainting_snapshot,
                   "Image 'big.png': found 1,048,577 bytes (1.0 MB)",
                   "need at most 1,048,576 bytes (1 MB, the upload limit)")
    assert loaders.decode_image(padded, 64).shape == (40, 60, 3)  # the file itself reads: refused for its size


def _la() -> tuple[bytes, np.ndarray]:
    grey, alpha = noise((40, 60), seed=5), noise((40, 60), seed=6)
    la = np.stack([grey, alpha], axis=2)
    a = alpha / 255.0
    return encode(Image.fromarray(la, "LA")), grey / 255.0 * a + (1.0 - a)  # composited on white


def _palette() -> tuple[bytes, np.ndarray]:
    img = Image.fromarray(noise((40, 60, 3), seed=7)).convert("P")
    return encode(img), np.asarray(img.convert("RGB")) / 255.0


def _cmyk() -> tuple[bytes, np.ndarray]:
    data = encode(Image.fromarray(noise((40, 60, 4), seed=8), "CMYK"), "JPEG")
    return data, np.asarray(Image.open(io.BytesIO(data)).convert("RGB")) / 255.0


def _sixteen_bit() -> tuple[bytes, np.ndarray]:
    levels = noise((40, 60), seed=9, dtype=np.uint16, high=65536)
    return encode(Image.fromarray(levels)), levels / 65535.0  # the full 16-bit range, not the image's maximum


RED_FIRST_FRAME = np.broadcast_to([1.0, 0.0, 0.0], (20, 30, 3))
ACCEPTED_IMAGES = {
    "16-bit-png": ("deep.png", *_sixteen_bit(), "Original 60×40 px, worked on at 60×40 px (grey"),
    "palette-png": ("palette.png", *_palette(), "Original 60×40 px, worked on at 60×40 px (colour"),
    "la-png": ("la.png", *_la(), "Original 60×40 px, worked on at 60×40 px (grey"),
    "cmyk-jpeg": ("print.jpg", *_cmyk(), "Original 60×40 px, worked on at 60×40 px (colour"),
    "animated-gif": ("anim.gif", animation("GIF"), RED_FIRST_FRAME, "Original 30×20 px, worked on at 30×20 px"),
    "animated-apng": ("anim.png", animation("PNG"), RED_FIRST_FRAME, "Original 30×20 px, worked on at 30×20 px"),
}


@pytest.fixture()
def accepting_inpainting() -> AppTest:
    """A session for accepted images: presets give a centre block to hide, deterministically."""
    return run_page(INPAINTING, **INP_QUERY, inp_dropout="0.0", inp_text="", inp_block="0.3")


@pytest.mark.parametrize("case", list(ACCEPTED_IMAGES))
def test_an_image_in_another_mode_or_animated_is_converted_and_fitted(accepting_inpainting, case):
    name, data, expected, caption = ACCEPTED_IMAGES[case]
    at = upload(accepting_inpainting, "inp_image_file", name, data)
    assert_no_crash(at)
    assert not errors(at) and at.selectbox(key="inp_image").value == loaders.UPLOAD_CHOICE
    assert at.session_state["inp_upload"]["name"] == name
    assert image_caption(at).startswith(caption)
    step(at, "inp")
    assert_inpainting_step_is_finite(at)
    image = at.session_state["inp_runs"].context.image  # the truth the runs are fitted to and scored on
    np.testing.assert_allclose(image, expected, rtol=0, atol=1e-6)  # 16-bit grey goes through float32


def test_the_upload_widget_accepts_gif_as_well():
    assert "gif" in loaders.UPLOAD_TYPES
    at = run_page(INPAINTING, **INP_QUERY)
    assert ".gif" in at.file_uploader(key="inp_image_file").allowed_type


def test_an_image_larger_than_the_working_resolution_is_downscaled_with_a_notice(accepting_inpainting):
    at = upload(accepting_inpainting, "inp_image_file", "wide.png",
                encode(Image.fromarray(noise((100, 200, 3), seed=10))))
    assert_no_crash(at)
    assert not errors(at)
    assert image_caption(at).startswith("Original 200×100 px, downscaled to 64×32 px (colour")
    step(at, "inp")
    assert_inpainting_step_is_finite(at)
    assert at.session_state["inp_runs"].context.image.shape == (32, 64, 3)


def test_a_one_pixel_image_is_fitted_at_rank_one_with_a_notice(accepting_inpainting, monkeypatch):
    """M is 1×3 (colour): the rank is at most 1, so the page uses k = 1 and says so; the fit is
    exact (PSNR +inf, shown as ∞) and nothing is hidden (PSNR on hidden pixels: —)."""
    calls = []
    real = wc.iterate
    monkeypatch.setattr(wc, "iterate", lambda M, W, k, **kw: calls.append((M.shape, k)) or real(M, W, k, **kw))
    at = upload(accepting_inpainting, "inp_image_file", "dot.png", encode(Image.new("RGB", (1, 1), (10, 200, 30))))
    assert_no_crash(at)
    assert not errors(at)
    assert image_caption(at).startswith("Original 1×1 px, worked on at 1×1 px (colour; M = [R | G | B], 1×3)")
    assert at.slider(key="inp_k").value == 12  # the control keeps the user's k …
    assert_says(" ".join(warnings(at)), "Rank k = 12 is more than this image allows",
                "at most min(n, m) = 1 for its 1×3 matrix M", "k = 1 is used")
    step(at, "inp")
    records = assert_inpainting_step_is_finite(at)
    assert calls == [((1, 3), 1)]  # … and the solver gets k = 1
    assert records["exact"]["objective"] == pytest.approx(0.0, abs=1e-20)
    body = html_bodies(at)
    assert 'data-testid="psnr-hidden-exact"' in body and re.search(r'psnr-hidden-exact"[^>]*>—<', body)
    assert re.search(r'psnr-all-exact"[^>]*>(∞|[\d.]+) dB<', body)


# --- masks (inpainting page) --------------------------------------------------------------------

@pytest.mark.parametrize("name, data, parts", [
    pytest.param("square.png", encode(Image.new("L", (40, 40), 255)), [
        "Mask 'square.png': found 40×40 px", "need the image's aspect ratio (60×40 px at this resolution)"],
        id="wrong-aspect-ratio"),
    pytest.param("mask.png", b"not a mask", [
        "Mask 'mask.png': found 10 bytes that are not an image", "need an image file"], id="not-an-image"),
    pytest.param("blank.png", b"", ["Mask 'blank.png': found an empty file (0 bytes)", "need a PNG image"],
                 id="empty-file"),
])
def test_a_bad_mask_is_refused_and_the_session_keeps_its_mask_and_runs(inpainting, name, data, parts):
    at, before = inpainting
    assert_refused(upload(at, "inp_mask_file", name, data), before, inpainting_snapshot, *parts)
    assert at.session_state["inp_mask_upload"] is None


@pytest.fixture()
def masking() -> AppTest:
    """A session for accepted masks: the 60×40 image, no preset holes, one Step."""
    at = upload(run_page(INPAINTING, **INP_QUERY, inp_dropout="0.0", inp_text=""), "inp_image_file",
                "good.png", GOOD_IMAGE)
    assert hidden_count(at) == 0
    return step(at, "inp")


@pytest.fixture()
def solver_inputs(monkeypatch) -> list:
    """(M, W, k) of every wlra_core.iterate call the page makes."""
    calls = []
    real = wc.iterate
    monkeypatch.setattr(wc, "iterate", lambda M, W, k, **kw: calls.append((M, W, k)) or real(M, W, k, **kw))
    return calls


GRADED = np.repeat(np.array([[0, 64, 128, 255]], dtype=np.uint8), 15, axis=1).repeat(40, axis=0)  # 40×60


def test_a_mask_with_the_images_aspect_ratio_is_resampled_onto_the_image(masking, solver_inputs):
    twice = GRADED.repeat(2, axis=0).repeat(2, axis=1)  # 120×80: made for a larger copy of the image
    at = step(upload(masking, "inp_mask_file", "large.png", encode(Image.fromarray(twice))), "inp")
    assert_inpainting_step_is_finite(at)
    assert at.session_state["inp_mask_upload"]["name"] == "large.png"
    M, W, k = solver_inputs[-1]  # the Step after the mask upload
    np.testing.assert_allclose(W, fitted_weights(at, GRADED / 255.0), atol=1e-6)  # area average of 2×2 blocks


def test_grey_levels_in_a_mask_become_graded_weights(masking, solver_inputs):
    at = upload(masking, "inp_mask_file", "graded.png", encode(Image.fromarray(GRADED)))
    assert_no_crash(at)
    assert not errors(at)
    assert hidden_count(at) == 40 * 30  # 0 and 64/255 are below 0.5; 128/255 is not
    step(at, "inp")
    assert_inpainting_step_is_finite(at)
    M, W, k = solver_inputs[-1]  # the Step after the mask upload
    np.testing.assert_array_equal(W, fitted_weights(at, GRADED / 255.0))
    assert sorted(np.unique(W)) == pytest.approx([0.0, 64 / 255, 128 / 255, 1.0])
    assert np.all(M[W == 0] == 0)  # a hidden pixel's value never reaches the solver


def test_an_alpha_only_mask_uses_its_alpha_as_the_weight(masking, solver_inputs):
    """Strokes on a transparent canvas: one colour everywhere, the alpha says where."""
    rgba = np.zeros((40, 60, 4), dtype=np.uint8)
    rgba[..., :3] = (200, 30, 30)
    rgba[..., 3] = 255
    rgba[10:20, 10:50, 3] = 0      # transparent: missing
    rgba[25:30, 10:50, 3] = 153    # 60 % opaque: weight 0.6
    at = upload(masking, "inp_mask_file", "strokes.png", encode(Image.fromarray(rgba, "RGBA")))
    assert_no_crash(at)
    assert not errors(at) and hidden_count(at) == 10 * 40
    step(at, "inp")
    assert_inpainting_step_is_finite(at)
    M, W, k = solver_inputs[-1]  # the Step after the mask upload
    np.testing.assert_allclose(W, fitted_weights(at, rgba[..., 3] / 255.0))


def test_a_mask_that_hides_everything_gets_the_solvers_message_and_keeps_the_runs(masking, solver_inputs):
    at = masking
    before = run_history(at, "inp")
    at = upload(at, "inp_mask_file", "black.png", encode(Image.new("L", (60, 40), 0)))
    assert_no_crash(at)
    assert not errors(at) and hidden_count(at) == 60 * 40  # accepted as a mask …
    step(at, "inp")
    assert_no_crash(at)
    message, = errors(at)  # … but there is nothing to fit: the solver's InputError, in the page
    assert_says(message, "W: found no positive weight (nothing is observed)", "need at least one entry with W > 0")
    assert run_history(at, "inp") == before  # the runs on screen are the previous ones, untouched
    M, W, k = solver_inputs[-1]  # the Step after the mask upload
    assert not W.any()


# --- ratings (ratings page) ---------------------------------------------------------------------

KEPT = "The previous data is kept."


@pytest.mark.parametrize("name, data, parts", [
    pytest.param("empty.csv", b"", ["empty.csv: the file is empty (0 bytes)",
                                    "need lines 'user, item, rating[, timestamp]'"], id="empty-file"),
    pytest.param("header.csv", b"user,item,rating\n", ["header.csv: found only a header line",
                                                       "need at least one rating"], id="header-only"),
    pytest.param("pairs.csv", b"1,2\n3,4\n", ["pairs.csv: found 2 column(s) on line 1",
                                             "need 3 (user, item, rating) or 4 (user, item, rating, timestamp)"],
                 id="wrong-column-count"),
    pytest.param("ragged.csv", b"1,1,4\n1,2,3,9,9\n", ["ragged.csv: could not parse the file",
                                                      "Expected 3 fields in line 2, saw 5",
                                                      "need the same number of separated values on every line"],
                 id="ragged-lines"),
    pytest.param("words.csv", b"user,item,rating\n1,1,4\n1,2,good\n", [
        "words.csv: found a non-numeric rating 'good' on line 3", "need a finite number"], id="non-numeric-rating"),
    pytest.param("inf.csv", b"1,1,4\n1,2,inf\n", ["inf.csv: found a non-finite rating 'inf' on line 2",
                                                 "need a finite number"], id="infinite-rating"),
    pytest.param("nan.csv", b"1,1,4\n1,2,nan\n", ["nan.csv: found a non-finite rating 'nan' on line 2",
                                                 "need a finite number"], id="nan-rating"),
    pytest.param("ratings.csv", b"PK\x03\x04" + bytes(40), [
        "ratings.csv: found a ZIP archive (an .npz, .xlsx or .zip file)", "save the sheet as CSV"], id="xlsx-named-csv"),
])
def test_a_bad_rating_file_is_refused_and_the_session_keeps_its_data_and_runs(ratings, name, data, parts):
    at, before = ratings
    message = assert_refused(upload(at, "rat_upload", name, data), before, ratings_snapshot, *parts, KEPT)
    assert message.startswith(f"Could not use the upload: {name}: ")


def test_a_rating_file_above_the_upload_limit_is_refused_with_the_limit_stated(ratings, monkeypatch):
    assert uploads.MAX_UPLOAD_BYTES == wc.limits.MAX_FILE_BYTES == upload_limit_in_config()
    at, before = ratings
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 2**20)
    big = GOOD_RATINGS + b"\n" * (2**20 + 1 - len(GOOD_RATINGS))  # valid ratings, then blank lines
    assert_refused(upload(at, "rat_upload", "big.csv", big), before, ratings_snapshot,
                   "Ratings 'big.csv': found 1,048,577 bytes (1.0 MB)",
                   "need at most 1,048,576 bytes (1 MB, the upload limit)", KEPT)


def test_a_rating_file_above_the_apps_problem_cap_is_refused_with_the_cap_stated(ratings, monkeypatch):
    """The app's cap (ui.state.APP_MAX_ENTRIES, 2**22) is lowered to 10 instead of making 4 M ratings."""
    assert state.APP_MAX_ENTRIES == 2**22
    at, before = ratings
    monkeypatch.setattr(state, "APP_MAX_ENTRIES", 10)
    many = "".join(f"{u},{i},3\n" for u in range(1, 5) for i in range(1, 4)).encode()  # 12 ratings
    assert_refused(upload(at, "rat_upload", "many.csv", many), before, ratings_snapshot,
                   "many.csv: found 12 lines (up to one rating each)", "need at most 10 entries", KEPT)


@pytest.fixture()
def accepting_ratings() -> AppTest:
    return run_page(RATINGS)


def ratings_of(at: AppTest):
    return at.session_state["rat_data"]["ratings"]


def test_duplicate_pairs_are_averaged_and_the_page_says_how_many(accepting_ratings):
    data = b"1,1,4\n1,1,2\n1,2,3\n2,1,5\n2,2,1\n2,2,2\n3,2,2\n3,1,4\n"
    at = upload(accepting_ratings, "rat_upload", "dup.csv", data)
    assert_no_crash(at)
    assert not errors(at)
    assert_says(at.caption[0].value, "**dup.csv**: 3 users × 2 items, 6 ratings",
                "2 (user, item) pairs were rated more than once: each counts once, with the mean of its ratings.")
    M = ratings_of(at).M.toarray()
    assert M[0, 0] == 3.0 and M[1, 1] == 1.5  # (4 + 2) / 2, (1 + 2) / 2
    assert_ratings_step_is_finite(step(at, "rat"))


def test_string_ids_are_kept_as_names(accepting_ratings):
    data = (b"user,item,rating\nalice,matrix,5\nalice,up,3\nbob,matrix,4\nbob,heat,2\ncarol,up,4\ncarol,heat,1\n"
            b"dave,matrix,2\ndave,up,5\n")
    at = upload(accepting_ratings, "rat_upload", "names.csv", data)
    assert_no_crash(at)
    assert not errors(at) and "**names.csv**: 4 users × 3 items, 8 ratings" in at.caption[0].value
    assert list(ratings_of(at).users) == ["alice", "bob", "carol", "dave"]
    assert list(ratings_of(at).items) == ["heat", "matrix", "up"]
    at = step(at, "rat")
    assert_ratings_step_is_finite(at)
    assert any("Top 10 for user **alice**" in m.value for m in at.markdown)


def test_a_single_user_is_fitted_at_rank_one_and_the_page_says_nothing_could_be_held_out(accepting_ratings):
    at = upload(accepting_ratings, "rat_upload", "me.csv", b"user,item,rating\n7,1,4\n7,2,3\n7,3,5\n7,4,2\n")
    assert_no_crash(at)
    assert not errors(at) and "**me.csv**: 1 users × 4 items, 4 ratings" in at.caption[0].value
    said = " ".join(warnings(at))
    assert_says(said, "at most min(users, items) = 1", "k = 1 is used",
                "No rating could be held out", "the test RMSE is undefined")
    at = step(at, "rat")
    assert_ratings_step_is_finite(at, held_out=False)  # test RMSE shown as —, never as nan
    # rank 1, plus the three columns that carry the fitted offsets (ui.models.ratings.offsets_in_factors)
    assert all(run.factors_at(1)[1].shape == (1, 1 + 3) for run in runs(at, "rat").values())
    assert {m.label: m.value for m in at.metric}["mean predictor"] == "—"


FORMATS = {
    "double-colon": ("ratings.dat", b"1::10::4::978300760\n1::20::3::978300761\n2::10::5::978300762\n"
                                    b"2::20::1::978300763\n3::20::2::978300764\n3::10::4::978300765\n"),
    "tab": ("u.data", b"1\t10\t4\t881250949\n1\t20\t3\t881250950\n2\t10\t5\t881250951\n2\t20\t1\t881250952\n"
                      b"3\t20\t2\t881250953\n3\t10\t4\t881250954\n"),
    "comma": ("ratings.csv", b"userId,movieId,rating,timestamp\n1,10,4.0,1\n1,20,3.0,2\n2,10,5.0,3\n2,20,1.0,4\n"
                             b"3,20,2.0,5\n3,10,4.0,6\n"),
}


@pytest.mark.parametrize("case", list(FORMATS))
def test_the_movielens_formats_are_read_alike(accepting_ratings, case):
    name, data = FORMATS[case]
    at = upload(accepting_ratings, "rat_upload", name, data)
    assert_no_crash(at)
    assert not errors(at) and f"**{name}**: 3 users × 2 items, 6 ratings" in at.caption[0].value
    np.testing.assert_array_equal(ratings_of(at).M.toarray(), [[4, 3], [5, 1], [4, 2]])
    assert list(ratings_of(at).items) == [10, 20]
    assert_ratings_step_is_finite(step(at, "rat"))


# --- URL parameters (both pages) --------------------------------------------------------------

@pytest.fixture()
def iterate_calls(monkeypatch) -> list[dict]:
    """The settings of every wlra_core.iterate call: what the page actually uses."""
    calls = []
    real = wc.iterate

    def spy(M, W, k, **kwargs):
        calls.append({"k": k, **{key: kwargs[key] for key in ("solver", "eps", "max_iter", "ridge", "init")}})
        return real(M, W, k, **kwargs)

    monkeypatch.setattr(wc, "iterate", spy)
    return calls


INP_USED = {"k": 12, "eps": 1e-4, "max_iter": 60, "ridge": 0.0, "init": "svd"}  # the page's defaults
RAT_USED = {"k": 4, "eps": 1e-4, "max_iter": 30, "ridge": 0.05, "init": "svd"}   # λ·N_i (fitted offsets)


@pytest.mark.parametrize("path, query, used, solvers", [
    *[pytest.param(INPAINTING, {"inp_k": value}, INP_USED, ["exact"], id=f"inpainting-k={value}")
      for value in ("0", "-3", "abc", "1000")],  # 1000: above the slider's 128
    *[pytest.param(INPAINTING, {"inp_eps": value}, INP_USED, ["exact"], id=f"inpainting-eps={value}")
      for value in ("2", "0", "-1")],
    pytest.param(INPAINTING, {"inp_max_iter": "0"}, INP_USED, ["exact"], id="inpainting-max_iter=0"),
    pytest.param(INPAINTING, {"inp_ridge": "-1"}, INP_USED, ["exact"], id="inpainting-ridge=-1"),
    pytest.param(INPAINTING, {"inp_init": "bogus"}, INP_USED, ["exact"], id="inpainting-init=bogus"),
    pytest.param(INPAINTING, {"inp_solvers": "bogus"}, INP_USED, ["exact", "sketched"], id="inpainting-solver=bogus"),
    *[pytest.param(RATINGS, {"rat_k": value}, RAT_USED, ["exact"], id=f"ratings-k={value}")
      for value in ("0", "-3", "abc", "51")],  # 51: above the slider's min(50, users, items)
    *[pytest.param(RATINGS, {"rat_eps": value}, RAT_USED, ["exact"], id=f"ratings-eps={value}")
      for value in ("2", "0", "-1")],
    pytest.param(RATINGS, {"rat_max_iter": "0"}, RAT_USED, ["exact"], id="ratings-max_iter=0"),
    pytest.param(RATINGS, {"rat_ridge": "-1"}, RAT_USED, ["exact"], id="ratings-ridge=-1"),
    pytest.param(RATINGS, {"rat_init": "bogus"}, RAT_USED, ["exact"], id="ratings-init=bogus"),
    pytest.param(RATINGS, {"rat_solvers": "bogus"}, RAT_USED, ["exact", "sketched"], id="ratings-solver=bogus"),
])
def test_a_url_value_a_widget_cannot_take_is_dropped_and_the_default_used(iterate_calls, path, query, used, solvers):
    prefix = "inp" if path == INPAINTING else "rat"
    others = {"inp_res": "64"} if prefix == "inp" else {}
    if f"{prefix}_solvers" not in query:
        others[f"{prefix}_solvers"] = ["exact"]
    at = run_page(path, **others, **query)
    assert_no_crash(at)
    assert not errors(at) and not warnings(at)
    (key, _), = query.items()
    assert key not in at.query_params  # dropped from the URL: the address shows what is used
    step(at, prefix)
    assert_no_crash(at)
    assert not errors(at)
    assert iterate_calls == [{**used, "solver": solver} for solver in solvers]


def test_a_url_k_above_the_images_rank_is_capped_with_a_notice(iterate_calls):
    """k = 100 fits the slider (1–128) but not the 64×64 camera at 64 px: k = 64 is used, and said."""
    at = run_page(INPAINTING, **INP_QUERY, inp_k="100")
    assert_no_crash(at)
    assert at.slider(key="inp_k").value == 100 and at.query_params["inp_k"] == "100"
    assert_says(" ".join(warnings(at)), "Rank k = 100 is more than this image allows",
                "at most min(n, m) = 64 for its 64×64 matrix M", "k = 64 is used")
    step(at, "inp")
    assert_inpainting_step_is_finite(at)
    assert iterate_calls == [{**INP_USED, "k": 64, "solver": "exact"}]


# --- issue 12: what an outside tester broke --------------------------------------------------------

@pytest.mark.parametrize("name, data, parts", [
    pytest.param("na-first.csv", b"1,1,NA\n1,2,3\n2,1,5\n", ["na-first.csv: found a non-numeric rating 'NA' on line 1",
                                                           "need a finite number"], id="na-in-the-first-row"),
    pytest.param("word-first.csv", b"1,1,good\n1,2,3\n2,1,5\n", [
        "word-first.csv: found a non-numeric rating 'good' on line 1"], id="word-in-the-first-row"),
])
def test_a_first_rating_that_is_not_a_number_is_refused_not_dropped_as_a_header(ratings, name, data, parts):
    at, before = ratings
    assert_refused(upload(at, "rat_upload", name, data), before, ratings_snapshot, *parts, KEPT)


@pytest.mark.parametrize("name, data", [
    pytest.param("quoted.csv", b'user,item,rating\n"Smith, J",1,4\n"Smith, J",2,3\n"Doe, A",1,5\n"Doe, A",3,1\n'
                               b'"Roe, B",2,2\n"Roe, B",3,4\n', id="quoted-ids-with-commas"),
    pytest.param("utf16.csv", "user,item,rating\nzoë,1,4\nzoë,2,3\nada,1,5\nada,3,1\nbo,2,2\nbo,3,4\n".encode("utf-16"),
                 id="utf-16"),
    pytest.param("semicolons.csv", b"user;item;rating\na;1;4,5\na;2;3\nb;1;5\nb;3;1\nc;2;2,5\nc;3;4\n",
                 id="decimal-commas"),
])
def test_rating_files_that_were_misread_are_read_whole(accepting_ratings, name, data):
    at = upload(accepting_ratings, "rat_upload", name, data)
    assert_no_crash(at)
    assert not errors(at) and f"**{name}**: 3 users × 3 items, 6 ratings" in at.caption[0].value
    assert_ratings_step_is_finite(step(at, "rat"))


def test_an_eps_image_is_named_and_never_sent_to_ghostscript(inpainting):
    at, before = inpainting
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n%%EndComments\nshowpage\n"
    message = assert_refused(upload(at, "inp_image_file", "figure.png", eps), before, inpainting_snapshot,
                             "Image 'figure.png': found an image in EPS format, which this loader does not read",
                             "need an image file (PNG, JPEG, GIF, TIFF, BMP or WebP)")
    assert "Ghostscript" not in message


def test_a_png_header_declaring_more_pixels_than_its_file_holds_is_refused(inpainting):
    import struct
    import zlib

    data = bytearray(encode(Image.fromarray(np.zeros((2, 2), dtype=np.uint8))))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", 5000, 5000)
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr:ihdr + 17])))
    at, before = inpainting
    assert_refused(upload(at, "inp_image_file", "liar.png", bytes(data)), before, inpainting_snapshot,
                   "Image 'liar.png': found a PNG header declaring 5,000×5,000 pixels in a file of",
                   "which cannot hold them", "need a complete image file")


def test_an_iphone_heic_photo_is_named_with_what_to_do(inpainting):
    at, before = inpainting
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(40)
    assert_refused(upload(at, "inp_image_file", "IMG_0001.jpg", heic), before, inpainting_snapshot,
                   "Image 'IMG_0001.jpg': found an HEIC/HEIF image (as phones save photos)",
                   "convert it to JPEG or PNG first")
