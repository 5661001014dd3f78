"""Browser tests: the real app (streamlit run app.py) driven by Playwright in the Debian Chromium.

- `app_url` (session): starts `python -m streamlit run app.py` on a free loopback port from the
  repository root, waits for /_stcore/health, and stops the server by its PID at the end.
- `browser` (session): Chromium at /usr/bin/chromium with LAUNCH_ARGS
  (Playwright's own browser download is never used).
- `page` (per test): a fresh context and page, with generous default timeouts: the machine has
  two shared cores, and tests wait on what the app shows, never on sleeps.

Without /usr/bin/chromium every browser test is skipped with a plain reason, except under CI=true,
where a missing browser fails the run (CI must never skip them).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SKIP_REASON = ("Chromium not found at /usr/bin/chromium: browser tests skipped; "
               "install the Debian package chromium to run them")
TIMEOUT_MS = 60_000          # default for every Playwright wait and expect()
SERVER_START_SECONDS = 90    # first start imports numpy, scipy, plotly, pandas on a loaded machine
VIEWPORT = {"width": 1400, "height": 1000}  # wide layout: mask and run columns side by side


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def chromium_missing() -> bool:
    return not os.access(CHROMIUM, os.X_OK)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the browser tests on a machine without Chromium, never under CI (they fail there)."""
    if not chromium_missing() or in_ci():
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(skip)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(log_path: Path, port: int | None = None, root: Path = ROOT,
              launcher: Path | None = None) -> tuple[subprocess.Popen, str]:
    """Start the app on a free loopback port; return (process, base url) once it is healthy.

    Shared with benchmarks/app_fps.py (which may start another checkout's app: `root`) and
    benchmarks/load.py. The server's output goes to `log_path`.

    `launcher`: a Python file run instead of `python -m streamlit`, with the same arguments
    (`run app.py --server...`); it may prepare the process (tests/browser/faulty_server.py patches
    the solver) and then hands over to Streamlit's command line. app.py stays the main script, so
    st.navigation resolves views/ as usual.
    """
    port = port or free_port()
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    entry = [str(launcher)] if launcher is not None else ["-m", "streamlit"]
    cmd = [
        sys.executable, *entry, "run", "app.py",
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        # Others edit the tree while tests run: no "source changed" reruns mid-test.
        "--server.fileWatcherType", "none",
    ]
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()  # the child keeps its own handle
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_SECONDS
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode} before it was healthy:\n"
                               + log_path.read_text(errors="replace")[-3000:])
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as response:
                if response.status == 200:
                    return proc, url
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.monotonic() > deadline:
            stop_app(proc)
            raise RuntimeError(f"streamlit was not healthy after {SERVER_START_SECONDS} s:\n"
                               + log_path.read_text(errors="replace")[-3000:])
        time.sleep(0.25)  # polling the health endpoint, not waiting on the app's output


def stop_app(proc: subprocess.Popen) -> None:
    """Stop the server by its PID: terminate, then kill if it does not exit."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if chromium_missing():
        if in_ci():
            pytest.fail(f"CI=true but {SKIP_REASON.split(':')[0]}: the browser tests must run under CI "
                        "(install the Debian package chromium)", pytrace=False)
        pytest.skip(SKIP_REASON)
    return CHROMIUM


class App:
    """The running server: its base URL, its log (stdout and stderr of streamlit) and its PID."""

    def __init__(self, url: str, log_path: Path, pid: int | None = None):
        self.url, self.log_path, self.pid = url, log_path, pid

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")


@pytest.fixture(scope="session")
def app(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    log_path = tmp_path_factory.mktemp("streamlit") / "server.log"
    proc, url = start_app(log_path)
    try:
        yield App(url, log_path, proc.pid)
    finally:
        stop_app(proc)


@pytest.fixture()
def app_url(app: App) -> Iterator[str]:
    """The app's base URL; the test fails if the server logged a traceback while it ran."""
    offset = app.log_size()
    yield app.url
    logged = app.log_since(offset)
    if "Traceback" in logged:
        pytest.fail(f"the server logged a traceback during this test:\n{logged[-4000:]}", pytrace=False)


@pytest.fixture(scope="session")
def browser(chromium_path: str):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture()
def page(browser, app_url):
    context = browser.new_context(viewport=VIEWPORT, base_url=app_url)
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


@pytest.fixture()
def screenshot(page):
    """screenshot(name): save the whole page to tests/browser/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        # Animations are left running: "disabled" would fast-forward the fade Streamlit starts on
        # elements a live tick has not redrawn yet, and every mid-run shot would look greyed out.
        # Streamlit scrolls its main area inside the page, so full_page=True would stop at the
        # viewport: grow the viewport to the content's height for the shot, then restore it.
        path = SCREENSHOTS / f"{name}.png"
        height = page.evaluate(
            "() => Math.max(...['stMain', 'stMainBlockContainer', 'stSidebarContent']"
            ".map(id => document.querySelector(`[data-testid=${id}]`)?.scrollHeight || 0))")
        size = page.viewport_size
        wanted = min(int(height) + 80, 6000)
        if wanted <= size["height"]:  # no resize: a test may have made the page tall enough already
            page.screenshot(path=str(path))
            return path
        page.set_viewport_size({"width": size["width"], "height": wanted})
        try:
            page.screenshot(path=str(path))
        finally:
            page.set_viewport_size(size)
        return path

    return take
