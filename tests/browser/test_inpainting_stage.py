"""The inpainting page as a stage, in a real browser at 1280×720 (a projector):

- after Play on the default page, every running solver's picture lies fully inside the viewport
  within 5 s, with the alt text "SOLVER · iteration N";
- sampled every 200 ms during a 10 s run, no element of the stage (counter, pictures, numbers,
  charts) is below 0.9 opacity (Streamlit fades stale elements to 0.33 during reruns);
- the keys P (Play/Pause), N (Step) and X (Reset) work, and the canvas has an ARIA label;
- a URL with painted strokes restores the same hidden-pixel count in a fresh session;
- Matrix = groups plays on the same stage: one picture, "groups · iteration N", the same keys.
"""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.inpainting_page import main_block, wait_for_iteration_above

pytestmark = pytest.mark.browser

PROJECTOR = {"width": 1280, "height": 720}
# Long runs: eps at its smallest and max_iter 500 keep both solvers running past the 10 s watched.
LONG = "inp_eps=1e-10&inp_max_iter=500"
SOLVER_PICTURES = '[data-testid="image-row"] figure:not([data-testid="image-row-original"]) img'

# The lowest opacity of the stage's elements and their ancestors up to the stage (the effective
# opacity of what is seen), and how many elements were measured.
STAGE_OPACITY_JS = """
() => {
  const stage = document.querySelector('.st-key-inp_stage');
  if (!stage) return [0, 0];
  let lowest = 1, n = 0;
  for (const el of stage.querySelectorAll('[data-testid="stElementContainer"]')) {
    if (el.offsetParent === null) continue;   // not displayed (the hidden pacer and key listener)
    let o = 1;
    for (let e = el; e && e !== stage.parentElement; e = e.parentElement) o *= Number(getComputedStyle(e).opacity);
    lowest = Math.min(lowest, o);
    n += 1;
  }
  return [lowest, n];
}
"""


def open_page(page: Page, query: str = "") -> None:
    page.set_viewport_size(PROJECTOR)
    page.goto(f"/inpainting?{query}")
    main = main_block(page)
    expect(main.get_by_test_id("hidden-count")).to_contain_text("Hidden pixels", timeout=90_000)
    expect(main.get_by_test_id("iteration-count")).to_have_text("Iteration 0")


def fully_in_view(page: Page, box: dict | None) -> bool:
    size = page.viewport_size
    return (box is not None and box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= size["width"]
            and box["y"] + box["height"] <= size["height"])


def pictures_in_view_within_5_s_of_play(page: Page) -> None:
    main = main_block(page)
    main.locator(".st-key-inp_play button").click()
    started = time.monotonic()
    pictures = page.locator(SOLVER_PICTURES)
    expect(pictures).to_have_count(2, timeout=5_000)
    deadline = started + 5.0
    while True:   # within 5 s of Play, both pictures entirely inside the 1280×720 viewport
        boxes = [pictures.nth(i).bounding_box() for i in range(2)]
        if all(fully_in_view(page, b) for b in boxes):
            break
        assert time.monotonic() < deadline, f"solver pictures not in view 5 s after Play: {boxes}"
        page.wait_for_timeout(100)
    alts = [pictures.nth(i).get_attribute("alt") for i in range(2)]
    assert [re.fullmatch(r"(exact|sketched) · iteration \d+", a) is not None for a in alts] == [True, True], alts


def test_after_play_on_the_default_page_the_solvers_pictures_are_in_view(page: Page):
    open_page(page)
    pictures_in_view_within_5_s_of_play(page)


def test_during_a_10_s_run_the_stage_is_never_faded(page: Page, screenshot):
    open_page(page, LONG)
    main = main_block(page)
    pictures_in_view_within_5_s_of_play(page)
    samples = []
    end = time.monotonic() + 10.0
    while time.monotonic() < end:
        samples.append(page.evaluate(STAGE_OPACITY_JS))
        page.wait_for_timeout(200)
    assert len(samples) >= 25 and min(n for _, n in samples) > 0
    faded = [o for o, _ in samples if o < 0.9]
    assert not faded, f"{len(faded)} of {len(samples)} samples had a stage element below 0.9 opacity: {faded[:5]}"
    assert wait_for_iteration_above(page, 1) > 1   # it did run meanwhile
    screenshot("inpainting_stage")
    main.locator(".st-key-inp_play button").click()   # Pause


def test_keys_play_pause_step_and_reset(page: Page):
    open_page(page, LONG)
    main = main_block(page)
    counter = main.get_by_test_id("iteration-count")
    main.get_by_role("heading", name="Image inpainting").click()   # focus the page, not a field
    page.keyboard.press("n")
    expect(counter).to_have_text("Iteration 1")
    page.keyboard.press("n")
    expect(counter).to_have_text("Iteration 2")
    page.keyboard.press("p")
    expect(main.locator(".st-key-inp_play button")).to_have_text(re.compile("Pause"))
    wait_for_iteration_above(page, 3)
    page.keyboard.press("p")
    expect(main.locator(".st-key-inp_play button")).to_have_text(re.compile("Play"))
    page.keyboard.press("x")
    expect(counter).to_have_text("Iteration 0")
    expect(main).to_contain_text("P Play/Pause")   # the keys are named on the page
    # typing in a field is not a shortcut
    field = main.get_by_role("textbox", name="Text overlay")
    field.click()
    field.press("n")
    page.wait_for_timeout(1500)
    expect(counter).to_have_text("Iteration 0")
    expect(page.locator("canvas.upper-canvas")).to_have_attribute("aria-label", re.compile("Mask canvas"))


def test_a_shared_url_with_strokes_restores_the_hidden_pixel_count(page: Page, browser, app_url):
    open_page(page, "inp_dropout=0.0&inp_text=")
    main = main_block(page)
    count = main.get_by_test_id("hidden-count")
    expect(count).to_contain_text("Hidden pixels: 0 ")
    canvas = page.locator("canvas.upper-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 40, box["y"] + 60)
    page.mouse.down()
    for x in range(40, 220, 10):
        page.mouse.move(box["x"] + x, box["y"] + 60 + x / 4, steps=2)
    page.mouse.up()
    expect(count).not_to_contain_text("Hidden pixels: 0 ", timeout=30_000)
    page.wait_for_function("() => location.search.includes('inp_strokes=')")
    expect(page.locator('[data-stale="true"]')).to_have_count(0)   # the count and the URL of the same run
    hidden = re.search(r"Hidden pixels: (\d+)", count.inner_text()).group(1)
    shared = page.url
    other = browser.new_context(viewport=PROJECTOR, base_url=app_url)
    try:
        fresh = other.new_page()
        fresh.goto(shared)
        expect(main_block(fresh).get_by_test_id("hidden-count")).to_contain_text(f"Hidden pixels: {hidden} ",
                                                                                  timeout=90_000)
    finally:
        other.close()


def test_groups_runs_on_the_stage_with_its_keys_and_picture(page: Page):
    """Matrix = groups: one run named groups, stepped and played by the same keys, its picture
    titled "groups · iteration N"."""
    open_page(page, "inp_lift=groups")
    main = main_block(page)
    counter = main.get_by_test_id("iteration-count")
    main.get_by_role("heading", name="Image inpainting").click()
    page.keyboard.press("n")
    expect(counter).to_have_text("Iteration 1", timeout=60_000)
    page.keyboard.press("n")
    expect(counter).to_have_text("Iteration 2", timeout=60_000)
    pictures = page.locator(SOLVER_PICTURES)
    expect(pictures).to_have_count(1)
    expect(pictures.first).to_have_attribute("alt", "groups · iteration 2")
    expect(page.locator('[data-testid="psnr-hidden-groups"]')).to_contain_text(" dB")
    page.keyboard.press("p")
    wait_for_iteration_above(page, 2)
    expect(main.get_by_test_id("solver-status-groups")).to_contain_text(re.compile("converged|stopped"),
                                                                      timeout=120_000)
    page.keyboard.press("x")
    expect(counter).to_have_text("Iteration 0")
