"""Faults (issue 4): a closed tab stops its session's computation; a solver failure in one session
shows an error there only and leaves the others running.

Closing a tab: while playing, the browser paces the live ticks (ui/runs/controller.py: each tick's last
element acknowledges it once painted, and that reruns the fragment; `run_every` is a 1 s fallback,
and Streamlit runs that timer in the browser too). When the websocket closes, Streamlit asks the
session's script runner to stop and keeps the session for a reconnection (2 minutes by
default), so nothing should compute any more. The test measures the server's CPU rate (from
/proc, utime + stime) while playing and after the tab is closed, and compares them as a ratio.

Solver failure: a second server started through tests/browser/faulty_server.py, whose
`wlra_core.alternating.half_step` raises when k = FAULT_K; the production code has no fault hook.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser import faulty_server
from tests.browser.conftest import ROOT, TIMEOUT_MS, VIEWPORT, App, start_app, stop_app
from tests.browser.inpainting_page import (
    k_slider, main_block, open_inpainting, play_button, step, wait_for_iteration_above,
)

pytestmark = pytest.mark.browser

# Long runs (eps at its smallest, max_iter 500): Play keeps computing while the test measures.
LONG = "inp_res=256&inp_eps=1e-10&inp_max_iter=500"
CPU_WINDOW_S = 3.0
# After the tab closed, the server may finish the tick it was running (TICK_BUDGET = 0.06 s of
# solving plus drawing): well under a tenth of a window's CPU. Idle, the server uses almost none.
IDLE_RATIO = 0.2
# On a loaded machine the tick in flight and the session's teardown can spill into the first
# window after the close; a session that kept computing would stay near its playing rate in every
# window, so the test looks at up to this many windows for one that is idle.
SETTLE_WINDOWS = 4


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` and of its threads, so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_rate(pid: int, seconds: float) -> float:
    """The server's CPU use over the next `seconds` (in cores): measuring, not waiting on the app."""
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def test_closing_a_tab_mid_run_stops_its_computation(browser, app: App, app_url):
    context = browser.new_context(viewport=VIEWPORT, base_url=app_url)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        main = open_inpainting(page, f"/inpainting?inp_k=20&{LONG}")
        play_button(page).click()
        expect(play_button(page)).to_contain_text("Pause")
        before = wait_for_iteration_above(page, 2)
        playing = cpu_rate(app.pid, CPU_WINDOW_S)
        # The run really went on during the window: the page shows a later iteration.
        during = wait_for_iteration_above(page, before)
        expect(main.get_by_test_id("run-status")).to_contain_text("live")
        page.close()  # the tab, mid-run: its websocket closes
        closed = []
        while len(closed) < SETTLE_WINDOWS and (not closed or closed[-1] >= IDLE_RATIO * playing):
            closed.append(cpu_rate(app.pid, CPU_WINDOW_S))
    finally:
        context.close()
    print(f"server CPU: {playing:.3f} cores while playing (iterations {before} → {during}+), "
          f"{', '.join(f'{c:.3f}' for c in closed)} cores in the {CPU_WINDOW_S:g} s windows after the tab closed")
    assert closed[-1] < IDLE_RATIO * playing, (
        f"the server still used {closed[-1]:.3f} cores {len(closed)} windows of {CPU_WINDOW_S:g} s after the tab "
        f"closed, against {playing:.3f} while playing (ratio {closed[-1] / playing:.2f}, at most {IDLE_RATIO} "
        "expected): the session kept computing")


@pytest.fixture(scope="module")
def faulty_app(chromium_path, tmp_path_factory) -> Iterator[App]:
    """A server whose solver raises faulty_server.FaultInjected in every run with k = FAULT_K."""
    log_path = tmp_path_factory.mktemp("faulty_streamlit") / "server.log"
    proc, url = start_app(log_path, launcher=ROOT / "tests" / "browser" / "faulty_server.py")
    try:
        yield App(url, log_path, proc.pid)
    finally:
        stop_app(proc)


def test_a_solver_failure_shows_in_its_own_session_only(browser, faulty_app: App):
    k = faulty_server.FAULT_K
    offset = faulty_app.log_size()
    contexts = [browser.new_context(viewport=VIEWPORT, base_url=faulty_app.url) for _ in range(2)]
    try:
        for context in contexts:
            context.set_default_timeout(TIMEOUT_MS)
        a, b = (context.new_page() for context in contexts)
        main_a = open_inpainting(a, f"/inpainting?inp_k={k}&{LONG}")
        main_b = open_inpainting(b, f"/inpainting?inp_k={k + 1}&{LONG}")
        # B runs first; then A plays into the fault.
        play_button(b).click()
        expect(play_button(b)).to_contain_text("Pause")
        wait_for_iteration_above(b, 1)
        play_button(a).click()

        # A: an error that names the failure, no traceback, the runs marked failed, Play again.
        error_a = main_a.get_by_test_id("stAlertContentError")
        expect(error_a).to_have_count(1)
        expect(error_a).to_contain_text("FaultInjected")
        expect(error_a).to_contain_text(faulty_server.MESSAGE)
        for solver in ("exact", "sketched"):
            expect(main_a.get_by_test_id(f"solver-status-{solver}")).to_contain_text("failed: FaultInjected")
        expect(play_button(a)).to_contain_text("Play")
        expect(a.get_by_test_id("stException")).to_have_count(0)
        expect(main_a).not_to_contain_text("Traceback")

        # B: still ticking after A's failure, no error anywhere on its page.
        shown = wait_for_iteration_above(b, 0)
        later = wait_for_iteration_above(b, shown)
        wait_for_iteration_above(b, later)
        expect(main_b.get_by_test_id("run-status")).to_contain_text("live")
        for solver in ("exact", "sketched"):
            expect(main_b.get_by_test_id(f"solver-status-{solver}")).to_have_text("running")
        expect(main_b.get_by_test_id("stAlertContentError")).to_have_count(0)
        expect(b.get_by_test_id("stException")).to_have_count(0)
        expect(main_b).not_to_contain_text("FaultInjected")

        # A recovers with another k: a Step computes an iteration and the error is gone.
        k_slider(a).focus()
        k_slider(a).press("ArrowRight")
        expect(k_slider(a)).to_have_value(str(k + 1))
        step(a, 1)
        expect(error_a).to_have_count(0)
        expect(main_a.get_by_test_id("solver-status-exact")).to_have_text("paused")

        play_button(b).click()
        expect(play_button(b)).to_contain_text("Play")
        expect(main_b.get_by_test_id("stAlertContentError")).to_have_count(0)
        expect(main_block(b).get_by_test_id("run-status")).to_contain_text("paused")
    finally:
        for context in contexts:
            context.close()
    logged = faulty_app.log_since(offset)
    assert "Traceback" not in logged, f"the server logged a traceback:\n{logged[-3000:]}"
