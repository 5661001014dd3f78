"""Driving the inpainting page from several browser contexts: helpers for test_isolation.py and
test_faults.py (selectors: tests/app/README.md). Every wait is on what the page shows."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from playwright.sync_api import Locator, Page, expect

from tests.browser import pictures

ITERATION_SELECTOR = '[data-testid="stMainBlockContainer"] [data-testid="iteration-count"]'
# The iteration the page shows, once it is above `above` (else null): for wait_for_function.
SHOWN_ABOVE_JS = """
([selector, above]) => {
  const el = document.querySelector(selector);
  const m = el && el.textContent.match(/Iteration (\\d+)/);
  return m && Number(m[1]) > above ? Number(m[1]) : null;
}
"""
# Every picture of the image row: {data-testid: data URI}.
PICTURES_JS = """
() => Object.fromEntries([...document.querySelectorAll('[data-testid="image-row"] figure')]
    .map(f => [f.dataset.testid, f.querySelector('img') && f.querySelector('img').src]))
"""


def main_block(page: Page) -> Locator:
    # Scoped: Streamlit's header has its own "Stop" button while a script runs.
    return page.get_by_test_id("stMainBlockContainer")


def open_inpainting(page: Page, url: str) -> Locator:
    page.goto(url)
    main = main_block(page)
    expect(main.get_by_test_id("hidden-count")).to_contain_text("Hidden pixels", timeout=90_000)
    expect(main.get_by_test_id("iteration-count")).to_have_text("Iteration 0")
    return main


def upload_image(page: Page, path: Path) -> None:
    """Upload `path` as the image and wait until the page shows it (a new original, nothing stale).

    Streamlit 1.67 loses an upload now and then: the browser asks for upload URLs, the answer is
    queued, and a script run starting before the queue is sent clears it (ForwardMsgQueue.clear
    keeps only lifecycle messages), so the uploader waits for good and lists nothing (1 in 16
    fresh page loads here, right after the first run). When the uploader has not listed the file
    within 15 s, the page is reloaded (a new session: nothing is lost this early, the settings
    are in the URL) and the file set again."""
    main = main_block(page)
    original = main.get_by_test_id("image-row-original").locator("img")
    before = original.get_attribute("src")
    uploader = main.get_by_test_id("stFileUploader").nth(0)
    for attempt in range(3):
        main.get_by_test_id("stFileUploaderDropzoneInput").nth(0).set_input_files(str(path))
        try:
            expect(uploader).to_contain_text(path.name, timeout=15_000)
            break
        except AssertionError:
            if attempt == 2:
                raise
            page.reload()
            expect(main.get_by_test_id("hidden-count")).to_contain_text("Hidden pixels", timeout=90_000)
    expect(main.get_by_role("combobox", name="Image")).to_have_value(f"uploaded: {path.name}")
    expect(original).not_to_have_attribute("src", before)
    expect(page.locator('[data-stale="true"]')).to_have_count(0)


def k_slider(page: Page) -> Locator:
    return page.locator(".st-key-inp_k").get_by_role("slider")


def play_button(page: Page) -> Locator:
    return main_block(page).locator(".st-key-inp_play button")


def step(page: Page, to: int) -> None:
    """Press Step and wait for the page to show iteration `to`."""
    main = main_block(page)
    main.locator(".st-key-inp_step button").click()
    expect(main.get_by_test_id("iteration-count")).to_have_text(f"Iteration {to}")


def wait_for_iteration_above(page: Page, above: int, timeout_ms: float = 60_000) -> int:
    """Wait until the page shows an iteration above `above`; return the one shown."""
    handle = page.wait_for_function(SHOWN_ABOVE_JS, arg=[ITERATION_SELECTOR, above], timeout=timeout_ms)
    return int(handle.json_value())


def shown_pictures(page: Page) -> dict[str, np.ndarray]:
    """The pictures of the image row as grey arrays, by data-testid (image-row-original, …)."""
    return {test_id: pictures.decode_data_uri(src) for test_id, src in page.evaluate(PICTURES_JS).items() if src}


def check_pictures_are_own(page: Page, own: int, references: list[np.ndarray], *, solvers: int) -> list[str]:
    """Every picture shown attributed to session `own`; the original equal to its upload.

    Returns the pictures' ids (for the caller's messages). `solvers`: reconstructions expected."""
    shown = shown_pictures(page)
    ids = sorted(shown)
    assert "image-row-original" in shown, ids
    assert len(shown) == 1 + solvers, f"expected the original and {solvers} reconstructions: {ids}"
    original = shown["image-row-original"] * 255.0
    assert original.shape == references[own].shape, (original.shape, references[own].shape)
    assert np.abs(original - references[own]).max() <= 1.0, "the original is not this session's upload"
    for test_id, picture in shown.items():
        best, c = pictures.attribute(picture, references)
        assert best == own and c[own] > 0.6, (
            f"{test_id} correlates {np.round(c, 2).tolist()} with the sessions' images: it should look "
            f"like session {own + 1}'s own image")
    return ids
