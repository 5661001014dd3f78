"""The landing page in a real browser: it loads, shows its title and picture, links to every page."""
import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PAGES = {  # link label on the landing page → URL path of the page it opens
    "Image inpainting": "inpainting",
    "Rating matrices": "ratings",
    "Solver lab": "solver_lab",
    "How it works": "how_it_works",
}


def test_landing_page_shows_title_picture_and_links_to_every_page(page, screenshot):
    page.goto("/")
    main = page.get_by_test_id("stMainBlockContainer")
    expect(main.get_by_role("heading", level=1)).to_contain_text("WLRA Explorer", timeout=90_000)
    expect(page).to_have_title("WLRA Explorer")
    # The example (computed on first view, then cached): original, masked input, reconstruction
    # (and possibly more pictures), each a loaded image with its caption.
    example = main.get_by_test_id("landing-example")
    expect(example).to_contain_text("Original", timeout=90_000)
    expect(example).to_contain_text("Masked input")
    expect(example).to_contain_text("reconstruction")
    assert example.locator("img").count() >= 3
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=landing-example] img')]"
                           ".every(img => img.complete && img.naturalWidth > 0)")
    links = main.get_by_test_id("stPageLink-NavLink")
    expect(links).to_have_count(len(PAGES))
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
