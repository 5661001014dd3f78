"""Two sessions on one server see only their own data (issue 4: isolation).

Two browser contexts (separate cookies and storage, so two Streamlit sessions) open the
inpainting page on the same server, each uploads its own image (tests/browser/pictures.py:
orthogonal patterns, so whose image a picture shows is decided from its pixels), and they step
their runs different numbers of times, interleaved. Each must show only its own image, masked
input and reconstructions, its own iteration count and its own settings: a change of k in one
leaves the other's k and runs alone, and Play in one does not make the other tick. Any state
shared between sessions (a module-level cache of the upload, of the runs, of a widget value)
would show up as the other session's picture, count or k.
"""
from __future__ import annotations

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.browser import pictures
from tests.browser.conftest import TIMEOUT_MS, VIEWPORT
from tests.browser.inpainting_page import (
    check_pictures_are_own, k_slider, main_block, open_inpainting, play_button, step, upload_image,
    wait_for_iteration_above,
)

pytestmark = pytest.mark.browser

# Long runs (eps at its smallest, max_iter 500): Play keeps going while the test watches.
URL = "/inpainting?inp_k=20&inp_res=256&inp_eps=1e-10&inp_max_iter=500"
STALE_NOTE = "Settings changed since these runs started"


@pytest.fixture()
def two_pages(browser, app_url):
    contexts = [browser.new_context(viewport=VIEWPORT, base_url=app_url) for _ in range(2)]
    for context in contexts:
        context.set_default_timeout(TIMEOUT_MS)
    try:
        yield [context.new_page() for context in contexts]
    finally:
        for context in contexts:
            context.close()


def test_two_sessions_see_only_their_own_image_run_and_settings(two_pages, tmp_path):
    a, b = two_pages
    paths = pictures.write_session_images(2, tmp_path, stem="isolation")
    references = [pictures.session_image(i).astype(np.float64) for i in range(2)]
    main_a, main_b = open_inpainting(a, URL), open_inpainting(b, URL)
    upload_image(a, paths[0])
    upload_image(b, paths[1])
    # B's upload did not replace A's.
    expect(main_a.get_by_role("combobox", name="Image")).to_have_value(f"uploaded: {paths[0].name}")

    # Interleaved steps: A three, B one; each page's pictures are its own from the first step on.
    step(a, 1)
    check_pictures_are_own(a, 0, references, solvers=2)
    step(b, 1)
    check_pictures_are_own(b, 1, references, solvers=2)
    step(a, 2)
    step(a, 3)
    expect(main_b.get_by_test_id("iteration-count")).to_have_text("Iteration 1")
    expect(main_b.get_by_test_id("solver-iteration-exact")).to_have_text("1")
    expect(main_a.get_by_test_id("solver-iteration-exact")).to_have_text("3")
    expect(main_a.get_by_test_id("image-row-exact-iteration-3")).to_have_count(1)
    expect(main_b.get_by_test_id("image-row-exact-iteration-1")).to_have_count(1)
    shown_a = check_pictures_are_own(a, 0, references, solvers=2)
    shown_b = check_pictures_are_own(b, 1, references, solvers=2)
    assert shown_a != shown_b, "both pages list the same pictures although at different iterations"

    # Settings: k up by one in A; B keeps k = 20 and its runs are not marked stale.
    expect(k_slider(a)).to_have_value("20")
    k_slider(a).focus()
    k_slider(a).press("ArrowRight")
    expect(k_slider(a)).to_have_value("21")
    expect(main_a.get_by_text(STALE_NOTE)).to_be_visible()
    step(b, 2)  # a run of B's script after A's change
    expect(k_slider(b)).to_have_value("20")
    expect(main_b.get_by_text(STALE_NOTE)).to_have_count(0)
    expect(main_b.get_by_test_id("solver-iteration-exact")).to_have_text("2")
    # A's next Step starts over with k = 21; B's run goes on.
    step(a, 1)
    expect(main_a.get_by_text(STALE_NOTE)).to_have_count(0)
    expect(k_slider(b)).to_have_value("20")
    expect(main_b.get_by_test_id("iteration-count")).to_have_text("Iteration 2")
    check_pictures_are_own(a, 0, references, solvers=2)
    check_pictures_are_own(b, 1, references, solvers=2)

    # Play in B only: B ticks on its own, A stays where it was and never turns into Pause.
    play_button(b).click()
    expect(play_button(b)).to_contain_text("Pause")
    shown = wait_for_iteration_above(b, 2)
    wait_for_iteration_above(b, shown)  # at least two ticks drawn in B
    expect(main_a.get_by_test_id("iteration-count")).to_have_text("Iteration 1")
    expect(play_button(a)).to_contain_text("Play")
    expect(main_a.get_by_test_id("run-status")).to_contain_text("paused")
    check_pictures_are_own(a, 0, references, solvers=2)
    play_button(b).click()
    expect(play_button(b)).to_contain_text("Play")
    expect(main_b.get_by_test_id("run-status")).to_contain_text("paused")
    expect(b.locator('[data-stale="true"]')).to_have_count(0)
    check_pictures_are_own(b, 1, references, solvers=2)
    # Neither page shows an error.
    for page in (a, b):
        expect(main_block(page).get_by_test_id("stAlertContentError")).to_have_count(0)
        expect(page.get_by_test_id("stException")).to_have_count(0)
