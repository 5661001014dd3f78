"""The landing page in a real browser: its picture, its links, and the "Start here" path that opens
the inpainting page already playing."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.inpainting_page import ITERATION_SELECTOR, SHOWN_ABOVE_JS, main_block, play_button

pytestmark = pytest.mark.browser

PAGES = {  # link label on the landing page → URL path of the page it opens
    "Image inpainting": "inpainting",
    "Rating matrices": "ratings",
    "Solver lab": "solver_lab",
    "How it works": "how_it_works",
}


def open_landing(page):
    page.goto("/")
    main = main_block(page)
    expect(main.get_by_role("heading", level=1)).to_contain_text("WLRA Explorer", timeout=90_000)
    example = main.get_by_test_id("landing-example")
    expect(example).to_contain_text("Inpainted", timeout=120_000)   # computed on first view, then cached
    return main


def test_landing_page_shows_title_picture_and_links_to_every_page(page, screenshot):
    main = open_landing(page)
    expect(page).to_have_title("WLRA Explorer")
    example = main.get_by_test_id("landing-example")
    expect(example).to_contain_text("Masked input")
    expect(example).to_contain_text("Original")
    assert example.locator("img").count() == 3
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=landing-example] img')]"
                           ".every(img => img.complete && img.naturalWidth > 0)")
    links = main.get_by_test_id("stPageLink-NavLink")
    for label, path in PAGES.items():
        link = links.filter(has_text=label)
        expect(link).to_have_count(1)
        expect(link).to_have_attribute("href", path)
    assert "Traceback" not in main.inner_text()
    screenshot("landing")

    # A link really opens its page (through app.py's navigation, the URL follows).
    links.filter(has_text="Rating matrices").click()
    expect(main.get_by_role("heading", level=1)).to_contain_text("Rating matrices")
    expect(page).to_have_url(re.compile(r"/ratings/?$"))


def test_start_here_is_in_view_and_opens_the_inpainting_demo_playing(page):
    page.set_viewport_size({"width": 1280, "height": 720})
    main = open_landing(page)
    start = main.get_by_test_id("stPageLink-NavLink").filter(has_text="Start here")
    expect(start).to_have_count(1)
    box = start.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 720   # above the fold on a projector
    start.click()
    expect(main.get_by_role("heading", level=1)).to_contain_text("Image inpainting", timeout=90_000)
    expect(page).to_have_url(re.compile(r"/inpainting"))
    # Playing without a click: the button says Pause (or the runs finished), and iterations appear.
    page.wait_for_function(SHOWN_ABOVE_JS, arg=[ITERATION_SELECTOR, 1], timeout=120_000)
    expect(page).not_to_have_url(re.compile(r"autoplay"))
    assert "Traceback" not in main.inner_text()
    label = play_button(page).inner_text()
    assert "Pause" in label or play_button(page).is_disabled()
