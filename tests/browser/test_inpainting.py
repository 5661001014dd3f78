"""The inpainting page in a real browser: what AppTest cannot see.

- a stroke painted on the mask canvas reaches the solver's mask (the hidden-pixel count grows);
- Play advances the runs on a timer (iteration count and PSNR rise on screen), with the pictures
  at the counter's iteration in every frame and no replay slider twice; Pause stops them, and the
  replay slider shows an old iteration with the numbers it had then, each row saying where its
  run is.

Selectors (see views/inpainting.py, ui/models/inpainting.py, ui/runs/controller.py): data-testid "hidden-count",
"iteration-count", "run-status", "psnr-hidden-<solver>", "solver-iteration-<solver>"; the
Play/Pause button is the widget keyed `inp_play` (CSS class `st-key-inp_play`); the canvas of
streamlit-drawable-canvas renders in an open shadow root, and CSS locators pierce it.
"""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = pytest.mark.browser

# Long runs for the live checks: eps at its smallest and max_iter 500 keep both solvers running
# well past the few seconds the test watches; a random start makes the PSNR rise clearly
# (about 13.7 dB after one iteration, about 21 dB after a few, on the default mask).
LIVE_URL = "/inpainting?inp_init=random&inp_eps=1e-10&inp_max_iter=500"
ITERATION = re.compile(r"Iteration (\d+)")
DB = re.compile(r"(-?\d+(?:\.\d+)?) dB")


def main_block(page: Page) -> Locator:
    # Scoped: Streamlit's header has its own "Stop" button while a script runs.
    return page.get_by_test_id("stMainBlockContainer")


def number(locator: Locator, pattern: re.Pattern) -> float:
    text = locator.inner_text()
    match = pattern.search(text)
    assert match, f"no {pattern.pattern!r} in {text!r}"
    return float(match.group(1))


SHOWN_ITERATION_JS = """
([selector, above]) => {
  const el = document.querySelector(selector);
  const m = el && el.textContent.match(/Iteration (\\d+)/);
  return m && Number(m[1]) > above ? Number(m[1]) : null;
}
"""
ITERATION_SELECTOR = '[data-testid="stMainBlockContainer"] [data-testid="iteration-count"]'
# True when every solver picture's caption ("exact · iteration 12") shows the counter's iteration,
# above `above`.
PICTURES_IN_STEP_JS = """
(above) => {
  const el = document.querySelector('[data-testid="stMainBlockContainer"] [data-testid="iteration-count"]');
  const m = el && el.textContent.match(/Iteration (\\d+)/);
  if (!m || Number(m[1]) <= above) return false;
  const shown = [...document.querySelectorAll('[data-testid="image-row"] figcaption')]
      .map(c => (c.textContent.match(/· iteration (\\d+)/) || [])[1]).filter(Boolean);
  const stale = document.querySelector('[data-testid="stMainBlockContainer"] [data-stale="true"]');
  return !stale && shown.length === 2 && shown.every(n => n === m[1]);
}
"""


# Watches the page at every animation frame for `ms` milliseconds and returns what went wrong:
# frames where a solver picture showed another iteration than the counter, and frames with more
# than one replay slider (or a look-alike next to a slider) in the page.
WATCH_JS = """
(ms) => new Promise(resolve => {
  const out = { frames: 0, pictures_off: [], sliders: 0, placeholders: 0 };
  const end = performance.now() + ms;
  const frame = () => {
    const main = document.querySelector('[data-testid="stMainBlockContainer"]');
    const el = main.querySelector('[data-testid="iteration-count"]');
    const m = el && el.textContent.match(/Iteration (\\d+)/);
    const shown = [...main.querySelectorAll('[data-testid="image-row"] figcaption')]
        .map(c => (c.textContent.match(/· iteration (\\d+)/) || [])[1]).filter(Boolean);
    if (m && shown.some(n => n !== m[1])) out.pictures_off.push([m[1], shown.join(',')]);
    const sliders = [...main.querySelectorAll('[data-testid="stSlider"]')]
        .filter(s => s.textContent.includes('Replay iteration')).length;
    const placeholders = main.querySelectorAll('[data-testid="replay-placeholder"]').length;
    out.sliders = Math.max(out.sliders, sliders);
    out.placeholders = Math.max(out.placeholders, placeholders);
    if (sliders + placeholders > 1) out.both = true;
    out.frames += 1;
    if (performance.now() < end) requestAnimationFrame(frame); else resolve(out);
  };
  requestAnimationFrame(frame);
})
"""


def watch(page: Page, ms: int) -> dict:
    return page.evaluate(WATCH_JS, ms)


def row_statuses(main: Locator) -> dict[str, str]:
    return {solver: main.get_by_test_id(f"solver-status-{solver}").inner_text() for solver in ("exact", "sketched")}


def wait_for_iteration_above(page: Page, above: int, timeout_ms: float = 60_000) -> int:
    """Wait until the page shows an iteration number above `above`; return the number shown."""
    handle = page.wait_for_function(SHOWN_ITERATION_JS, arg=[ITERATION_SELECTOR, above], timeout=timeout_ms)
    return int(handle.json_value())


def play_button(page: Page) -> Locator:
    return main_block(page).locator(".st-key-inp_play button")


def open_page(page: Page, url: str) -> Locator:
    page.goto(url)
    main = main_block(page)
    expect(main.get_by_test_id("hidden-count")).to_contain_text("Hidden pixels", timeout=90_000)
    expect(main.get_by_test_id("iteration-count")).to_have_text("Iteration 0")
    return main


def test_a_painted_stroke_hides_pixels(page, screenshot):
    main = open_page(page, "/inpainting")
    hidden = main.get_by_test_id("hidden-count")
    # The default brush paints weight 0 (missing): a stroke can only add hidden pixels.
    expect(main.locator(".st-key-inp_brush_weight")).to_contain_text("0.00")
    before = int(number(hidden, re.compile(r"Hidden pixels: (\d+)")))

    canvas = page.locator("canvas.upper-canvas")
    expect(canvas).to_have_count(1)
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 100, f"canvas box {box}"
    x0, y0 = box["x"] + 0.15 * box["width"], box["y"] + 0.2 * box["height"]
    x1, y1 = box["x"] + 0.85 * box["width"], box["y"] + 0.7 * box["height"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=30)
    page.mouse.up()
    released = time.monotonic()

    expect(hidden).not_to_contain_text(f"Hidden pixels: {before}")
    latency = time.monotonic() - released
    after = int(number(hidden, re.compile(r"Hidden pixels: (\d+)")))
    # An 18 px brush (canvas px; the 256 px image is drawn 384 px wide, so 12 image px) along a
    # ~ 0.86 canvas-width diagonal covers at most ~ 12 × 230 ≈ 2800 image pixels, about 45 %
    # of which the default dropout and text already hide.
    assert 300 < after - before < 4000, f"hidden pixels {before} → {after}"
    print(f"stroke reached the mask {latency:.2f} s after mouse-up; hidden {before} → {after}")
    # The weights heatmap (what the solver sees) was redrawn for the new mask.
    expect(main.locator(".st-key-inp_weights_chart div.wlra-live-chart")).to_have_count(1)
    expect(main.locator('[data-stale="true"]')).to_have_count(0)
    screenshot("inpainting_mask")


def test_play_pause_and_replay(page, screenshot):
    # Tall enough for the whole page: the mid-run screenshot then needs no resize (which takes
    # long enough for Streamlit to fade the elements a tick has not redrawn yet).
    page.set_viewport_size({"width": page.viewport_size["width"], "height": 2400})
    main = open_page(page, LIVE_URL)
    iteration = main.get_by_test_id("iteration-count")
    status = main.get_by_test_id("run-status")
    psnr = main.get_by_test_id("psnr-hidden-exact")

    # One Step first, to read iteration 1's PSNR (Play's first tick already does several).
    main.locator(".st-key-inp_step button").click()
    expect(iteration).to_have_text("Iteration 1")
    expect(psnr).to_contain_text(DB)
    psnr_1 = number(psnr, DB)
    psnr_all_1 = main.get_by_test_id("psnr-all-exact").inner_text()

    # Play: the count and the PSNR rise on screen while the page updates itself.
    expect(play_button(page)).to_contain_text("Play")
    play_button(page).click()
    expect(play_button(page)).to_contain_text("Pause")
    expect(status).to_contain_text("live")
    first = wait_for_iteration_above(page, 2)
    second = wait_for_iteration_above(page, first)
    third = wait_for_iteration_above(page, second)
    psnr_now = number(psnr, DB)
    assert psnr_now > psnr_1 + 3, f"PSNR hidden {psnr_1} dB at iteration 1, {psnr_now} dB at {third}"
    expect(main.get_by_test_id("psnr-hidden-sketched")).to_contain_text(DB)
    expect(main.get_by_test_id("solver-iteration-sketched")).not_to_have_text("1")
    assert row_statuses(main) == {"exact": "running", "sketched": "running"}
    # The reconstructions are drawn with the counter (one element), so at every frame they show
    # its iteration; while playing a look-alike stands where the replay slider goes, never both.
    seen = watch(page, 1500)
    assert seen["frames"] > 10 and not seen["pictures_off"], seen
    assert seen["sliders"] == 0 and seen["placeholders"] == 1 and not seen.get("both"), seen
    # The screenshot when every element of a tick is drawn (none marked stale).
    page.wait_for_function(PICTURES_IN_STEP_JS, arg=third)
    screenshot("inpainting_running")

    # Pause: the button turns back into Play and the page says paused (the same element that
    # shows the count, so both are read at once); from then on the count must stay put. It is
    # watched for 3 s, in the browser at every frame: while running it changes several times
    # a second (and Pause lands within about a second).
    play_button(page).click()
    after_pause = watch(page, 1500)  # from the click on: one slider at most, never two
    expect(play_button(page)).to_contain_text("Play")
    expect(status).to_contain_text("paused")
    assert after_pause["sliders"] <= 1 and not after_pause.get("both"), after_pause
    paused_at = int(number(status, ITERATION))
    assert paused_at > third
    try:
        moved = wait_for_iteration_above(page, paused_at, timeout_ms=3_000)
    except PlaywrightTimeout:
        moved = None
    assert moved is None, f"the page said paused at iteration {paused_at}, then showed {moved}"
    expect(status).to_contain_text(f"Iteration {paused_at}")
    expect(status).to_contain_text("paused")
    expect(main.locator(".st-key-inp_step button")).to_be_enabled()
    assert row_statuses(main) == {"exact": "paused", "sketched": "paused"}
    expect(main.locator("[data-retained]")).to_have_count(0)  # no element kept twice

    # Replay: the slider takes the view back to iteration 1, with the numbers it had then.
    slider = main.get_by_test_id("stSlider").filter(has_text="Replay iteration").get_by_role("slider")
    expect(slider).to_have_count(1)
    expect(slider).to_be_enabled()
    slider.focus()
    slider.press("Home")
    expect(iteration).to_have_text("Iteration 1")
    expect(status).to_contain_text("replaying")
    expect(psnr).to_contain_text(f"{psnr_1:.2f} dB")
    expect(main.get_by_test_id("psnr-all-exact")).to_have_text(psnr_all_1)
    # the default view: the inpainted image at the best iteration so far (at iteration 1, itself)
    expect(main.get_by_text("exact · iteration 1 · best at 1", exact=True)).to_be_visible()
    # Each row says where its run really is, not "running".
    expect(main.get_by_test_id("solver-status-exact")).to_have_text(f"replaying · paused at iteration {paused_at}")
    expect(main.get_by_test_id("solver-status-sketched")).to_have_text(f"replaying · paused at iteration {paused_at}")
    # One step forward with the keyboard: iteration 2.
    slider.press("ArrowRight")
    expect(iteration).to_have_text("Iteration 2")
    expect(main.locator('[data-stale="true"]')).to_have_count(0)  # the rerun has drawn everything
    screenshot("inpainting_replay")
    # Back at the newest iteration the view follows the run again.
    slider.press("End")
    expect(iteration).to_have_text(f"Iteration {int(paused_at)}")
