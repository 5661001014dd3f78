"""Solver lab and How it works in a real browser: they load with their defaults, without errors;
a shared link opened first on a fresh server still runs through app.py's navigation."""
import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import VIEWPORT, start_app, stop_app

pytestmark = pytest.mark.browser

# A traceback, an exception class name (ValueError, InputError, …), "Error:" as a message prefix,
# or the how-it-works fallback that reports a library failure. (A bare "Error" is legitimate text
# here: the lab's chart "Error against the planted truth".)
ERROR_TEXT = re.compile(r"Traceback|\b[A-Z]\w*Error\b|\bError:|could not run here")


def settle(page: Page) -> None:
    """No script run in progress: no running indicator, no element still marked stale."""
    expect(page.get_by_test_id("stStatusWidgetRunningIcon")).to_have_count(0)
    expect(page.locator('[data-stale="true"]')).to_have_count(0)


def assert_no_errors(page: Page, main: Locator) -> None:
    expect(main.get_by_test_id("stException")).to_have_count(0)
    expect(main.get_by_test_id("stAlertContentError")).to_have_count(0)
    found = ERROR_TEXT.findall(main.inner_text())
    assert not found, f"error text on the page: {found}"


def test_solver_lab_loads_with_defaults_and_steps(page, screenshot):
    page.goto("/solver_lab")
    main = page.get_by_test_id("stMainBlockContainer")
    expect(main.get_by_role("heading", level=1)).to_contain_text("Solver lab", timeout=90_000)
    for tab in ("Convergence", "Time per iteration vs k", "Regression accuracy"):
        expect(main.get_by_role("tab", name=tab)).to_have_count(1)
    # The last element of the script (inside the third tab) is there: the run got to the end.
    expect(main.locator(".st-key-lab_diag_run button")).to_have_count(1)
    expect(main).to_contain_text("Press Play")
    settle(page)
    assert_no_errors(page, main)

    # One Step of every default solver: charts and the iterations table appear, still no error.
    main.locator(".st-key-lab_step button").click()
    expect(main).to_contain_text("Iterations to converge")
    expect(main.locator(".st-key-lab_fig_iter div.wlra-live-chart")).to_have_count(1)
    settle(page)
    assert_no_errors(page, main)
    screenshot("solver_lab")


def test_how_it_works_loads_with_defaults(page, screenshot):
    page.goto("/how_it_works")
    main = page.get_by_test_id("stMainBlockContainer")
    expect(main.get_by_role("heading", level=1)).to_contain_text("How it works", timeout=90_000)
    # The last section, and its last sentence: the script ran to its end.
    expect(main.get_by_role("heading", name="8. When does sketching pay off?")).to_have_count(1)
    expect(main).to_contain_text("The Solver lab page measures where the crossover lies")
    for n in range(1, 8):
        expect(main.get_by_role("heading", name=re.compile(rf"^{n}\. "))).to_have_count(1)
    settle(page)
    assert_no_errors(page, main)
    # Formulas are typeset (st.latex → KaTeX).
    expect(main.locator(".katex").first).to_be_visible()
    screenshot("how_it_works")


def test_a_link_opened_first_on_a_fresh_server_runs_through_app_navigation(browser, tmp_path):
    """Streamlit decides on the first session whether the app uses a pages/ folder instead of
    st.navigation; the pages live in views/ so that a link opened first still gets app.py."""
    proc, url = start_app(tmp_path / "server.log")
    context = browser.new_context(viewport=VIEWPORT, base_url=url)
    try:
        page = context.new_page()
        page.goto("/inpainting?inp_k=8")
        main = page.get_by_test_id("stMainBlockContainer")
        expect(main.get_by_role("heading", level=1)).to_contain_text("inpainting", timeout=90_000)
        nav = page.get_by_test_id("stSidebarNav")
        for title in ("Home", "Image inpainting", "Rating matrices", "Solver lab", "How it works"):
            expect(nav.get_by_role("link", name=title, exact=True)).to_have_count(1)
        assert "app" not in [t.strip().lower() for t in nav.get_by_role("link").all_inner_texts()]
        # layout="wide" from app.py: the main block uses the width, not the centred 736 px column
        assert main.bounding_box()["width"] > 900
        assert "Traceback" not in (tmp_path / "server.log").read_text(errors="replace")
    finally:
        context.close()
        stop_app(proc)
