"""Rapid clicks on Step and Play/Pause in a real browser: every click counted once, state consistent.

Measured before the fix (without the click recorder): ten fast clicks on Step gave 1 to 9 iterations
(Streamlit's browser code merged clicks made while the page was busy into 1 to 7 events, and the
server dropped or overwrote some of those), once with "generator already executing" ending a run;
a Pause clicked as the runs finished started them over. These tests click as fast as Playwright
can (mouse events at the button's centre, no waiting in between) and then check:

- Step: the iteration count equals the number of clicks the browser dispatched on the enabled
  Step button, on the inpainting page (two solvers) and in the solver lab (four); the history CSV
  holds iterations 1 … n for every solver; no error on the page;
- Play/Pause: the page ends in the state the last click asked for (its label when clicked), the
  label says so (Pause ⇔ playing), and after Pause the history is contiguous and matches the
  counter;
- a click as the runs finish never starts them over (the counter never goes down).

The page counts clicks itself (an init script with a capturing click listener): a click Streamlit
merged is still a click the user made.
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

pytestmark = pytest.mark.browser

CLICKS = 10
LONG_RUNS = {"inp": "/inpainting?inp_init=random&inp_eps=1e-10&inp_max_iter=500",
             "lab": "/solver_lab?lab_eps=1e-10&lab_max_iter=500"}
SOLVERS = {"inp": ["exact", "sketched"], "lab": ["exact", "sketched", "cg", "em", "auto"]}
HISTORY_BUTTON = {"inp": "History CSV", "lab": "History (CSV)"}

# Every click on an enabled button: [label when clicked, key of its Streamlit container]; and every
# value the inpainting counter showed, to see it never go down.
WATCH_CLICKS_JS = """
window.__clicks = [];
document.addEventListener('click', event => {
  const button = event.target instanceof Element ? event.target.closest('button') : null;
  if (!button || button.disabled) return;
  const box = button.closest('[class*="st-key-"]');
  const key = box ? [...box.classList].find(c => c.startsWith('st-key-')) : null;
  const text = button.textContent;
  window.__clicks.push([text.includes('Pause') ? 'Pause' : text.includes('Play') ? 'Play' : text.trim(), key]);
}, true);
window.__shown = [];
new MutationObserver(() => {
  const el = document.querySelector('[data-testid="stMainBlockContainer"] [data-testid="iteration-count"]');
  const m = el && el.textContent.match(/Iteration (\\d+)/);
  if (m && window.__shown[window.__shown.length - 1] !== Number(m[1])) window.__shown.push(Number(m[1]));
}).observe(document, { subtree: true, childList: true, characterData: true });
"""


def main_block(page: Page) -> Locator:
    return page.get_by_test_id("stMainBlockContainer")


def settle(page: Page) -> None:
    """No script run in progress: no running indicator, no element still marked stale."""
    expect(page.get_by_test_id("stStatusWidgetRunningIcon")).to_have_count(0)
    expect(page.locator('[data-stale="true"]')).to_have_count(0)


def open_page(page: Page, which: str, url: str | None = None) -> Locator:
    page.add_init_script(WATCH_CLICKS_JS)
    page.goto(url or LONG_RUNS[which])
    main = main_block(page)
    expect(main.locator(f".st-key-{which}_step button")).to_be_enabled(timeout=90_000)
    settle(page)
    return main


def rapid_clicks(page: Page, button: Locator, times: int) -> None:
    """`times` clicks at the button's centre, each sent as soon as the previous one was dispatched."""
    box = button.bounding_box()
    assert box, "the button is not on screen"
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for _ in range(times):
        page.mouse.click(x, y)


def clicks_on(page: Page, key: str) -> list[str]:
    """Labels of the clicks the page dispatched on the enabled button keyed `key`, in order."""
    return [label for label, on in page.evaluate("window.__clicks") if on == f"st-key-{key}"]


def history(page: Page, main: Locator, which: str) -> dict[str, list[int]]:
    """The History CSV download, as {solver: [iteration, …]} in file order."""
    button = main.get_by_test_id("stDownloadButton").filter(has_text=HISTORY_BUTTON[which]).locator("button")
    with page.expect_download() as download:
        button.click()
    rows = csv.DictReader(io.StringIO(Path(download.value.path()).read_text()))
    iterations: dict[str, list[int]] = {}
    for row in rows:
        iterations.setdefault(row["solver"], []).append(int(float(row["iteration"])))
    return iterations


def assert_no_errors(main: Locator) -> None:
    expect(main.get_by_test_id("stException")).to_have_count(0)
    expect(main.get_by_test_id("stAlertContentError")).to_have_count(0)


@pytest.mark.parametrize("which", ["inp", "lab"])
def test_every_rapid_step_click_advances_one_iteration(page, which):
    main = open_page(page, which)
    rapid_clicks(page, main.locator(f".st-key-{which}_step button"), CLICKS)
    clicked = len(clicks_on(page, f"{which}_step"))
    assert clicked == CLICKS, f"the browser dispatched {clicked} of {CLICKS} clicks on Step"

    # Wait for the app to show the n-th iteration, then for it to settle: it must stay there.
    if which == "inp":
        expect(main.get_by_test_id("iteration-count")).to_have_text(f"Iteration {clicked}")
    else:
        slider = main.get_by_test_id("stSlider").filter(has_text="Replay iteration").get_by_role("slider")
        expect(slider).to_have_attribute("max", str(clicked))
    settle(page)
    assert_no_errors(main)
    if which == "inp":
        expect(main.get_by_test_id("iteration-count")).to_have_text(f"Iteration {clicked}")
        for solver in SOLVERS[which]:
            expect(main.get_by_test_id(f"solver-iteration-{solver}")).to_have_text(str(clicked))
    assert history(page, main, which) == {s: list(range(1, clicked + 1)) for s in SOLVERS[which]}


def test_rapid_play_pause_ends_in_the_state_of_the_last_click(page):
    main = open_page(page, "inp")
    play = main.locator(".st-key-inp_play button")
    status = main.get_by_test_id("run-status")
    rapid_clicks(page, play, 7)
    labels = clicks_on(page, "inp_play")
    assert labels, "no click reached the Play/Pause button"
    # Each click asks for the state its label names (Play → playing); the last one decides.
    if labels[-1] == "Play":
        expect(play).to_contain_text("Pause")
        expect(status).to_contain_text("live")
        expect(status).not_to_contain_text("Iteration 0")
        play.click()  # Pause
    expect(play).to_contain_text("Play")
    expect(play).to_be_enabled()
    expect(status).to_contain_text("paused")
    settle(page)
    assert_no_errors(main)
    shown = int(re.search(r"Iteration (\d+)", main.get_by_test_id("iteration-count").inner_text()).group(1))
    assert shown >= 1
    for solver in SOLVERS["inp"]:
        expect(main.get_by_test_id(f"solver-iteration-{solver}")).to_have_text(str(shown))
    assert history(page, main, "inp") == {s: list(range(1, shown + 1)) for s in SOLVERS["inp"]}
    seen = page.evaluate("window.__shown")
    assert all(b >= a for a, b in zip(seen, seen[1:])), f"the counter went back: {seen}"


def test_a_click_as_the_runs_finish_never_starts_them_over(page):
    """Pause clicked as the last iterations arrive lands on Pause (paused) or on the Play button the
    finished runs disabled (nothing happens): it used to land on Play and start the runs over."""
    max_iter = 12
    main = open_page(page, "inp", f"/inpainting?inp_init=random&inp_eps=1e-10&inp_max_iter={max_iter}")
    play = main.locator(".st-key-inp_play button")
    play.click()
    expect(play).to_contain_text("Pause")
    page.wait_for_function(
        """(n) => { const el = document.querySelector('[data-testid="stMainBlockContainer"] [data-testid="iteration-count"]');
                    const m = el && el.textContent.match(/Iteration (\\d+)/); return m && Number(m[1]) >= n; }""",
        arg=max_iter - 2, polling="raf")
    rapid_clicks(page, play, 1)
    expect(play).to_contain_text("Play")
    expect(main.get_by_test_id("run-status")).not_to_contain_text("live")
    settle(page)
    assert_no_errors(main)
    seen = page.evaluate("window.__shown")
    assert all(b >= a for a, b in zip(seen, seen[1:])), f"the runs started over: the counter showed {seen}"
    shown = seen[-1]
    assert max_iter - 2 <= shown <= max_iter
    assert history(page, main, "inp") == {s: list(range(1, shown + 1)) for s in SOLVERS["inp"]}
    if shown == max_iter:  # finished: nothing left to play until Reset
        expect(play).to_be_disabled()
        main.locator(".st-key-inp_reset button").click()
        expect(main.get_by_test_id("iteration-count")).to_have_text("Iteration 0")
        expect(play).to_be_enabled()
