"""Many sessions on one app server: time to the first iteration, time between updates, memory, isolation.

The issue's acceptance: with 8 concurrent sessions the server stays responsive (no session waits
more than a few seconds for its first iteration on a 256×256 image, k = 20) and no session sees
another's data. This script measures exactly that, in the browser:

1. starts one app server like the browser tests (tests/browser/conftest.py `start_app`:
   `streamlit run app.py`, OPENBLAS_NUM_THREADS=1) and one Debian Chromium;
2. opens `--sessions` browser contexts (separate cookies and storage: separate Streamlit
   sessions), driven concurrently from one asyncio loop. Each opens `/inpainting` with the
   settings in the URL (k = 20, resolution 256, eps 1e-8, max_iter 500, exact + sketched, and
   its own mask seed, so each session hides a different set of pixels) and uploads its OWN
   256×256 image (tests/browser/pictures.py: orthogonal stripe/check patterns with a texture, the
   session's number drawn on it);
3. when every session shows its upload, all press Play at once; each page timestamps every change
   of its "Iteration N" counter (a MutationObserver, installed before the page loads) and the
   Play click itself, and every 0.5 s keeps the pictures it shows (the `img` data URIs of the
   original, the masked input and the reconstructions, whenever they changed) and its texts (the
   image selector, k, the hidden-pixel count, error messages, exceptions);
4. after `--seconds` it reads the logs back and reports, per session and pooled: Play → first
   iteration on screen, time between counter updates (median, 95th percentile, longest),
   iterations per second on screen; the server's memory (VmRSS sampled every 0.2 s from /proc
   for the server and its children, and the kernel's VmHWM peak), CPU used by the server, by
   Chromium (CDP SystemInfo.getProcessInfo) and by the whole machine (/proc/stat) over the window,
   and the load average;
5. isolation: every sampled picture is decoded and correlated with every session's image; it must
   correlate best with its own session's (the original must also equal it pixel for pixel), and
   every text must be the session's own (its file name, k = 20, its hidden-pixel count, which
   differs between sessions, an iteration counter that never goes back).

With `--sessions 1,8` it runs each count on a fresh server in turn (a baseline for comparison).

    .venv/bin/python benchmarks/load.py                      # 8 sessions, 30 s, writes results/load.md
    .venv/bin/python benchmarks/load.py --sessions 1,8       # baseline, then 8
    .venv/bin/python benchmarks/load.py --sessions 4 --seconds 10 --no-write   # quick look
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import importlib.util
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "load.md"
FIRST_ITERATION_LIMIT = 5.0  # s: "no session waits more than a few seconds for its first iteration"


def _module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _helpers():
    """tests/browser/conftest.py (start_app, stop_app, launch flags) and tests/browser/pictures.py."""
    browser_tests = ROOT / "tests" / "browser"
    return (_module("_wlra_browser_fixture", browser_tests / "conftest.py"),
            _module("_wlra_browser_pictures", browser_tests / "pictures.py"))


def _app_fps():
    """benchmarks/app_fps.py, for machine_description, load_average and process_cpu_seconds."""
    return _module("_wlra_app_fps", ROOT / "benchmarks" / "app_fps.py")


# --- the server side: a traced app server (this file as start_app's launcher) ---------------------

TRACE_ENV = "WLRA_LOAD_TRACE"
TRACED_EVENTS = ("SCRIPT_STARTED", "SCRIPT_STOPPED_WITH_SUCCESS", "FRAGMENT_STOPPED_WITH_SUCCESS",
                 "SCRIPT_STOPPED_FOR_RERUN")


def serve_traced() -> int:
    """`python benchmarks/load.py run app.py …`: the app server, with timestamps in a trace file.

    Records, as JSON lines in $WLRA_LOAD_TRACE (wall clock, comparable with the pages' clocks via
    performance.timeOrigin; CPU as the script thread's own time.thread_time()): every script and
    fragment run's start and end per Streamlit session (AppSession._on_scriptrunner_event), every
    RunSet.advance_for (ui/runs/runset.py: the solvers' compute in a tick) and every inpainting.live_html
    (the counter and the pictures of a tick, PNG encoding included), with the session's upload
    name. Only wrappers around existing functions: the app itself is unchanged.
    """
    import json

    sys.path.insert(0, os.getcwd())  # the app's root (start_app's cwd), as for app.py's imports
    out = open(os.environ[TRACE_ENV], "a", buffering=1)
    lock = threading.Lock()

    def emit(**record) -> None:
        with lock:
            out.write(json.dumps(record) + "\n")

    import streamlit as st
    from streamlit.runtime.app_session import AppSession
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    def who() -> tuple[str | None, str | None]:
        ctx = get_script_run_ctx()
        upload = st.session_state.get("inp_upload") if ctx is not None else None
        return (ctx.session_id if ctx else None), (upload["name"] if upload else None)

    patched = threading.Event()

    def patch_ui() -> None:
        from ui.models import inpainting
        from ui.runs import RunSet

        real_advance, real_html = RunSet.advance_for, inpainting.live_html

        def advance_for(self, *args, **kwargs):
            t0, c0 = time.time(), time.thread_time()
            rounds = real_advance(self, *args, **kwargs)
            sid, name = who()
            emit(e="advance", sid=sid, name=name, t0=t0, t1=time.time(), cpu=time.thread_time() - c0,
                 it=self.iterations, rounds=rounds)
            return rounds

        def live_html(view, iteration, *args, **kwargs):
            t0, c0 = time.time(), time.thread_time()
            text = real_html(view, iteration, *args, **kwargs)
            sid, name = who()
            emit(e="html", sid=sid, name=name, t0=t0, t1=time.time(), cpu=time.thread_time() - c0,
                 it=iteration, playing=view.playing, pacer=repr(st.session_state.get("inp_pacer"))[:120])
            return text

        RunSet.advance_for, inpainting.live_html = advance_for, live_html
        patched.set()

    real_event = AppSession._on_scriptrunner_event

    def on_event(self, sender, event, *args, **kwargs):
        if event.name in TRACED_EVENTS:
            emit(e=event.name, sid=self.id, t=time.time(), cpu=time.thread_time(),
                 fragment=bool(kwargs.get("fragment_ids_this_run")))
        # The page imports ui/ in its first run (not before: ui.runs.controller registers a component).
        if not patched.is_set() and "ui.runs.controller" in sys.modules and "ui.models.inpainting" in sys.modules:
            patch_ui()
        return real_event(self, sender, event, *args, **kwargs)

    AppSession._on_scriptrunner_event = on_event
    from streamlit.web import cli

    sys.argv = ["streamlit", *sys.argv[1:]]
    return cli.main()


OBSERVER_JS = r"""
(() => {
  const log = { counter: [], clicks: [], pictures: [], texts: [], origin: performance.timeOrigin };
  window.__wlraLoad = log;
  const main = () => document.querySelector('[data-testid="stMainBlockContainer"]');
  const shown = () => {
    const el = main() && main().querySelector('[data-testid="iteration-count"]');
    const m = el && el.textContent.match(/Iteration (\d+)/);
    return m ? Number(m[1]) : null;
  };
  let last = null;
  new MutationObserver(() => {
    const it = shown();
    if (it !== null && it !== last) { last = it; log.counter.push([performance.now(), it]); }
  }).observe(document, { subtree: true, childList: true, characterData: true });
  // The moment Play is clicked, in the page's clock (the counter's timestamps use the same one).
  document.addEventListener('click', e => {
    if (e.target.closest && e.target.closest('.st-key-inp_play')) log.clicks.push(performance.now());
  }, true);
  let lastSrc = {}, lastTexts = null;
  // Called once the upload is shown: what the page showed before (the default sample) is dropped.
  window.__wlraLoadReset = () => { log.pictures = []; log.texts = []; lastSrc = {}; lastTexts = null; };
  setInterval(() => {
    const now = performance.now(), it = shown();
    for (const fig of document.querySelectorAll('[data-testid="image-row"] figure')) {
      const id = fig.dataset.testid, img = fig.querySelector('img');
      if (!id || !img) continue;
      const kind = id.replace(/-iteration-\d+$/, '');
      if (lastSrc[kind] !== img.src) { lastSrc[kind] = img.src; log.pictures.push([now, it, id, img.src]); }
    }
    const m = main();
    const text = sel => { const el = document.querySelector(sel); return el ? el.textContent : null; };
    const image = document.querySelector('.st-key-inp_image input');
    const k = document.querySelector('.st-key-inp_k input[type="range"]');
    const texts = [
      image ? image.value : null,
      k ? k.value : null,
      text('[data-testid="hidden-count"]'),
      m ? [...m.querySelectorAll('[data-testid="stAlertContentError"]')].map(e => e.textContent) : [],
      document.querySelectorAll('[data-testid="stException"]').length,
    ];
    const key = JSON.stringify(texts);
    if (key !== lastTexts) { lastTexts = key; log.texts.push([now, it, ...texts]); }
  }, 500);
})();
"""


# --- server memory and CPU from /proc ------------------------------------------------------------

def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            out += [int(c) for c in text]
    except OSError:
        pass
    return out


def process_tree(pid: int) -> list[int]:
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += _children(p)
    return tree


def status_kib(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def runnable_tasks() -> int:
    """Tasks running or waiting for a CPU right now, machine-wide (/proc/stat procs_running)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("procs_running"):
            return int(line.split()[1])
    return 0


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])       # guest time is already counted in user
    return float(total - idle), float(total)


class MemorySampler(threading.Thread):
    """Every `period` s: VmRSS and CPU seconds of the server and its children, and the machine's
    runnable tasks; phases marked with `mark`."""

    def __init__(self, pid: int, period: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.period = pid, period
        self.samples: list[tuple[float, str, int]] = []  # (time, phase, KiB)
        self.runnable: list[tuple[str, int]] = []        # (phase, tasks running or ready to run)
        self.cpu: list[tuple[float, float]] = []         # (wall clock, server CPU seconds so far)
        self.phase = "idle"
        self._halt = threading.Event()

    def mark(self, phase: str) -> None:
        self.phase = phase

    def run(self) -> None:
        while not self._halt.is_set():
            kib = sum(status_kib(p, "VmRSS") for p in process_tree(self.pid))
            self.samples.append((time.monotonic(), self.phase, kib))
            self.runnable.append((self.phase, runnable_tasks()))
            self.cpu.append((time.time(), fixture_cpu(self.pid)))
            self._halt.wait(self.period)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)

    def peak(self, phase: str | None = None) -> int:
        return max((kib for _, p, kib in self.samples if phase is None or p == phase), default=0)

    def cpu_rate(self, t0: float, t1: float) -> float:
        """The server's CPU use (cores) between wall-clock times t0 and t1 (nearest samples)."""
        inside = [(t, c) for t, c in self.cpu if t0 - self.period <= t <= t1 + self.period]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return float("nan")
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])

    def last(self, phase: str) -> int:
        values = [kib for _, p, kib in self.samples if p == phase]
        return values[-1] if values else 0


# --- one session ---------------------------------------------------------------------------------

@dataclass
class Session:
    index: int
    image_path: Path
    mask_seed: int
    log: dict = field(default_factory=dict)
    error: str | None = None
    ready_s: float = float("nan")     # page open → upload shown (s)
    hidden_text: str = ""
    upload_retries: int = 0           # uploads lost by Streamlit and retried (see drive)


async def drive(session: Session, browser, url: str, query: list, viewport: dict, timeout_ms: int,
                ready: asyncio.Barrier, go: asyncio.Event, done: asyncio.Event) -> None:
    from playwright.async_api import expect

    context = await browser.new_context(viewport=viewport)
    context.set_default_timeout(timeout_ms)
    try:
        page = await context.new_page()
        await page.add_init_script(OBSERVER_JS)
        started = time.monotonic()
        q = query + [("inp_mask_seed", str(session.mask_seed))]
        await page.goto(f"{url}/inpainting?{urlencode(q)}")
        main = page.get_by_test_id("stMainBlockContainer")
        await expect(main.get_by_test_id("iteration-count")).to_have_text("Iteration 0", timeout=timeout_ms)
        original = main.get_by_test_id("image-row-original").locator("img")
        before = await original.get_attribute("src")
        # Streamlit 1.67 loses an upload now and then: its answer with the upload URLs is queued,
        # and a script run starting before the queue is sent clears it (ForwardMsgQueue.clear keeps
        # lifecycle messages only); the uploader then waits for good. When it has not listed the
        # file in 30 s, reload the page (a new session; the settings are in the URL) and set the file
        # again ("uploads retried").
        uploader = main.get_by_test_id("stFileUploader").nth(0)
        for attempt in range(3):
            await main.get_by_test_id("stFileUploaderDropzoneInput").nth(0).set_input_files(str(session.image_path))
            try:
                await expect(uploader).to_contain_text(session.image_path.name, timeout=30_000)
                break
            except AssertionError:
                session.upload_retries += 1
                if attempt == 2:
                    raise
                await page.reload()
                await expect(main.get_by_test_id("hidden-count")).to_contain_text("Hidden pixels", timeout=timeout_ms)
        await expect(main.get_by_role("combobox", name="Image")).to_have_value(
            f"uploaded: {session.image_path.name}", timeout=timeout_ms)
        # The run that accepted the upload has drawn everything: a new original, nothing stale.
        await expect(original).not_to_have_attribute("src", before, timeout=timeout_ms)
        await expect(page.locator('[data-stale="true"]')).to_have_count(0, timeout=timeout_ms)
        await expect(page.locator('.st-key-inp_k input[type="range"]')).to_have_value(
            dict(query)["inp_k"], timeout=timeout_ms)
        session.hidden_text = await main.get_by_test_id("hidden-count").inner_text()
        await page.evaluate("() => window.__wlraLoadReset()")
        session.ready_s = time.monotonic() - started
    except Exception as exc:  # reported, and this session left out of the timing
        session.error = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    await ready.wait()
    try:
        if session.error is None:
            await go.wait()
            play = main.locator(".st-key-inp_play button")
            await play.click()
            await expect(play).to_contain_text("Pause")
        await done.wait()
        if session.error is None:
            session.log = await page.evaluate("() => window.__wlraLoad")
            session.log["end"] = await page.evaluate("() => performance.now()")
    except Exception as exc:
        session.error = session.error or f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    finally:
        await context.close()


def chromium_cpu_seconds(processes: list[dict]) -> float:
    return float(sum(p["cpuTime"] for p in processes))


def renice(processes: list[dict], nice: int) -> int:
    """Lower the priority of every thread of these (Chromium's) processes; returns threads reniced.
    setpriority on a PID reaches its main thread only, hence every task of /proc/<pid>/task."""
    done = 0
    for p in processes:
        try:
            tasks = [int(t.name) for t in Path(f"/proc/{p['id']}/task").iterdir()]
        except OSError:
            continue
        for tid in tasks:
            try:
                os.setpriority(os.PRIO_PROCESS, tid, nice)
                done += 1
            except OSError:
                pass
    return done


async def run_sessions(fixture, n: int, url: str, query: list, image_paths: list[Path], seconds: float,
                       server_pid: int, memory: MemorySampler, browser_nice: int = 0) -> dict:
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=fixture.TIMEOUT_MS)
    timeout_ms = max(fixture.TIMEOUT_MS, 60_000 + 20_000 * n)  # page loads queue up behind each other
    sessions = [Session(i, image_paths[i], mask_seed=i + 1) for i in range(n)]
    out: dict[str, Any] = {"sessions": sessions}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=fixture.CHROMIUM, headless=True,
                                                   args=fixture.LAUNCH_ARGS)
        cdp = await browser.new_browser_cdp_session()
        ready, go, done = asyncio.Barrier(n + 1), asyncio.Event(), asyncio.Event()
        memory.mark("loading")
        tasks = [asyncio.create_task(drive(s, browser, url, query, fixture.VIEWPORT, timeout_ms, ready, go, done))
                 for s in sessions]
        await ready.wait()
        out["rss_ready_kib"] = memory.last("loading")
        if browser_nice:  # the pages are loaded: every renderer exists by now
            out["reniced"] = renice((await cdp.send("SystemInfo.getProcessInfo"))["processInfo"], browser_nice)
        memory.mark("playing")
        cpu0 = (fixture_cpu(server_pid), chromium_cpu_seconds((await cdp.send("SystemInfo.getProcessInfo"))["processInfo"]),
                machine_cpu(), time.monotonic())
        go.set()
        await asyncio.sleep(seconds)  # the measurement window: the pages update on their own
        cpu1 = (fixture_cpu(server_pid), chromium_cpu_seconds((await cdp.send("SystemInfo.getProcessInfo"))["processInfo"]),
                machine_cpu(), time.monotonic())
        memory.mark("reading")
        done.set()
        await asyncio.gather(*tasks)
        await browser.close()
    window = cpu1[3] - cpu0[3]
    busy = (cpu1[2][0] - cpu0[2][0]) / (cpu1[2][1] - cpu0[2][1]) * (os.cpu_count() or 1)
    out["cpu"] = {"server": (cpu1[0] - cpu0[0]) / window, "chromium": (cpu1[1] - cpu0[1]) / window,
                  "machine": busy, "window_s": window}
    return out


def fixture_cpu(pid: int) -> float:
    """User + system CPU seconds of the server and its children so far."""
    total = 0.0
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


# --- analysis ------------------------------------------------------------------------------------

def quantiles(values: list[float]) -> tuple[float, float, float]:
    """(median, 95th percentile, max); NaN for no values. Percentiles interpolate linearly."""
    if not values:
        return (float("nan"),) * 3
    a = np.asarray(values, dtype=float)
    return float(np.median(a)), float(np.percentile(a, 95)), float(a.max())


def analyse_session(s: Session, seconds: float, references: list[np.ndarray], pictures) -> dict:
    log = s.log
    r: dict[str, Any] = {"index": s.index, "error": s.error, "ready_s": s.ready_s,
                         "upload_retries": s.upload_retries}
    if s.error or not log.get("clicks"):
        r["error"] = s.error or "no Play click seen"
        r.update(first_s=float("nan"), gaps=[], iter_per_s=float("nan"), updates=0, foreign=[], pictures=0,
                 own_min=float("nan"), other_max=float("nan"), text_problems=[],
                 original_exact=False, last_iteration=0)
        return r
    t_click = log["clicks"][0]
    t_end = t_click + 1000.0 * seconds
    counter = [(t, it) for t, it in log["counter"] if t_click <= t <= t_end and it > 0]
    r["first_s"] = (counter[0][0] - t_click) / 1000.0 if counter else float("nan")
    origin = log["origin"] / 1000.0  # the page's clock in wall-clock seconds
    r["click_epoch"] = origin + t_click / 1000.0
    r["first_epoch"] = origin + counter[0][0] / 1000.0 if counter else float("nan")
    r["gaps"] = [(b[0] - a[0]) / 1000.0 for a, b in zip(counter, counter[1:])]
    r["updates"] = len(counter)
    r["last_iteration"] = counter[-1][1] if counter else 0
    span = (counter[-1][0] - counter[0][0]) / 1000.0 if len(counter) > 1 else float("nan")
    r["iter_per_s"] = (counter[-1][1] - counter[0][1]) / span if span == span and span > 0 else float("nan")
    # The counter never goes back (a value from another session's run would likely break this).
    values = [it for _, it in log["counter"]]
    problems = [f"counter went back {a} → {b}" for a, b in zip(values, values[1:]) if b < a and b != 0]
    # Pictures: each must correlate best with this session's own image.
    owns, others, foreign, original_exact = [], [], [], True
    for _, it, test_id, src in log["pictures"]:
        picture = pictures.decode_data_uri(src)
        best, c = pictures.attribute(picture, references)
        own = c[s.index]
        owns.append(own)
        others += [c[j] for j in range(len(references)) if j != s.index]
        if best != s.index:
            foreign.append(f"{test_id} at iteration {it} looks like session {best + 1}'s image "
                           f"(correlation {c[best]:.2f}, own {own:.2f})")
        if test_id == "image-row-original":
            exact = picture.shape == references[s.index].shape and np.abs(
                picture * 255.0 - references[s.index]).max() <= 1.0
            original_exact = original_exact and exact
    r.update(pictures=len(log["pictures"]), own_min=min(owns, default=float("nan")),
             other_max=max(others, default=float("nan")), foreign=foreign,
             original_exact=original_exact and bool(owns))
    # Texts: its own file name and hidden-pixel count, no error, no exception, throughout (k: see
    # check_texts_against_each_other).
    want_name = f"uploaded: {s.image_path.name}"
    for _, it, name, k, hidden, errors, exceptions in log["texts"]:
        if name is not None and name != want_name:
            problems.append(f"image selector showed {name!r} at iteration {it}")
        if hidden is not None and hidden != s.hidden_text:
            problems.append(f"hidden count showed {hidden!r} instead of {s.hidden_text!r}")
        if errors:
            problems.append(f"error shown at iteration {it}: {errors}")
        if exceptions:
            problems.append(f"{exceptions} exception(s) shown at iteration {it}")
    r["text_problems"] = problems
    return r


def check_texts_against_each_other(results: list[dict], sessions: list[Session], k: str) -> None:
    """k must be the asked one everywhere, and hidden counts must differ between sessions."""
    by_text: dict[str, list[int]] = {}
    for s in sessions:
        if s.hidden_text:
            by_text.setdefault(s.hidden_text, []).append(s.index)
    for r, s in zip(results, sessions):
        for _, it, _, shown_k, *_ in s.log.get("texts", []):
            if shown_k is not None and shown_k != k:
                r["text_problems"].append(f"k showed {shown_k} at iteration {it}, asked {k}")
        same = [i + 1 for i in by_text.get(s.hidden_text, []) if i != s.index]
        if same:
            r["notes"] = f"same hidden count as session(s) {same} (mask seeds collide; not a leak)"


def read_trace(path: Path | None) -> list[dict]:
    import json

    if path is None or not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _runs(mine: list[dict]) -> list[tuple[dict, dict]]:
    """(start, end) event pairs of one session's script and fragment runs, in order."""
    pairs, start = [], None
    for r in mine:
        if r["e"] == "SCRIPT_STARTED":
            start = r
        elif r["e"] in TRACED_EVENTS and start is not None:
            pairs.append((start, r))
            start = None
    return pairs


def trace_breakdown(s: Session, records: list[dict], seconds: float) -> dict:
    """Where a session's time went, server against browser (needs the trace and the page log).

    first: Play click → the server starts the run it caused → that run has drawn an iteration ≥ 1
    (live_html returned) → the page shows it. Ticks: each fragment run's wall time and its script
    thread's CPU time, the solvers' part (advance_for) and the pictures' part (live_html), and the
    wait from one fragment run's end to the next one's start (the browser painting the tick and
    acknowledging it)."""
    log = s.log
    out: dict[str, Any] = {}
    if not records or not log.get("clicks") or not log.get("counter"):
        return out
    sids = {r["sid"] for r in records if r.get("name") == s.image_path.name and r.get("sid")}
    out["server_sessions"] = len(sids)
    if len(sids) != 1:
        return out
    sid = sids.pop()
    origin = log["origin"] / 1000.0
    click = origin + log["clicks"][0] / 1000.0
    end = click + seconds
    mine = [r for r in records if r.get("sid") == sid]
    runs = [(a, b) for a, b in _runs(mine) if a["t"] >= click - 0.5 and b["t"] <= end]
    screen = [origin + t / 1000.0 for t, it in log["counter"] if it > 0 and origin + t / 1000.0 >= click]
    first_html = next((r for r in mine if r["e"] == "html" and r["it"] >= 1 and r["t1"] >= click), None)
    first_run = next(((a, b) for a, b in runs if a["t"] >= click), None)
    if first_run and first_html and screen:
        a, b = first_run
        out["click_to_start"] = a["t"] - click
        out["start_to_drawn"] = first_html["t1"] - a["t"]
        out["first_run_cpu"] = b["cpu"] - a["cpu"]
        out["first_run_wall"] = b["t"] - a["t"]
        out["drawn_to_screen"] = screen[0] - first_html["t1"]
    ticks = [(a, b) for a, b in runs if a["fragment"] and a["t"] >= click]
    out["tick_wall"] = [b["t"] - a["t"] for a, b in ticks]
    out["tick_cpu"] = [b["cpu"] - a["cpu"] for a, b in ticks]
    out["between_ticks"] = [c["t"] - b["t"] for (_, b), (c, _) in zip(ticks, ticks[1:])]
    out["ticks_interrupted"] = sum(1 for _, b in ticks if b["e"] == "SCRIPT_STOPPED_FOR_RERUN")
    window = [r for r in mine if r["e"] in ("advance", "html") and click <= r["t0"] <= end]
    out["advance_wall"] = [r["t1"] - r["t0"] for r in window if r["e"] == "advance"]
    out["advance_cpu"] = [r["cpu"] for r in window if r["e"] == "advance"]
    out["html_wall"] = [r["t1"] - r["t0"] for r in window if r["e"] == "html"]
    out["html_cpu"] = [r["cpu"] for r in window if r["e"] == "html"]
    # Which live ticks the browser's acknowledgement started (the pacer's trigger value is set in
    # that run only) and which the run_every fallback timer did.
    tick_html = [r for r in window if r["e"] == "html" and r.get("playing")
                 and any(a["t"] <= r["t0"] <= b["t"] for a, b in ticks)]
    out["ticks_by_timer"] = sum(1 for r in tick_html if "drawn" not in r.get("pacer", ""))
    out["ticks_seen"] = len(tick_html)
    if first_run:
        a, b = first_run
        inside = [r for r in mine if r["e"] in ("advance", "html") and a["t"] <= r["t0"] <= b["t"]]
        out["first_run_solver_cpu"] = sum(r["cpu"] for r in inside if r["e"] == "advance")
        out["first_run_html_cpu"] = sum(r["cpu"] for r in inside if r["e"] == "html")
    out["script_cpu"] = sum(b["cpu"] - a["cpu"] for a, b in runs)
    return out


def breakdown_rows(m: dict) -> list[list[str]]:
    """Pooled over the sessions of one run: medians / 95th percentiles of the trace's parts."""
    parts = [r["trace"] for r in m["results"] if r.get("trace")]
    if not parts:
        return []

    def values(key):
        out = []
        for p in parts:
            v = p.get(key)
            out += v if isinstance(v, list) else ([] if v is None else [v])
        return out

    def q(key):
        med, p95, top = quantiles(values(key))
        return f"{fmt(med)} / {fmt(p95)} / {fmt(top)}"

    script_cpu = sum(p.get("script_cpu", 0.0) for p in parts)
    return [
        ["Play click → the server starts that run (s)", q("click_to_start")],
        ["… run start → iteration ≥ 1 drawn by the server (s)", q("start_to_drawn")],
        ["… drawn by the server → shown in the page (s)", q("drawn_to_screen")],
        ["that first run: wall / its thread's CPU (s)", f"{q('first_run_wall')} · {q('first_run_cpu')}"],
        ["… of its CPU: solvers (init + iterations) / counter and pictures (s)",
         f"{q('first_run_solver_cpu')} · {q('first_run_html_cpu')}"],
        ["live tick (fragment run): wall (s)", q("tick_wall")],
        ["live tick: its thread's CPU (s)", q("tick_cpu")],
        ["… solvers in a tick (advance_for): wall / CPU (s)", f"{q('advance_wall')} · {q('advance_cpu')}"],
        ["… counter and pictures (live_html): wall / CPU (s)", f"{q('html_wall')} · {q('html_cpu')}"],
        ["tick end → next tick start: the browser paints and acknowledges (s)", q("between_ticks")],
        ["… waits of 0.9 s or more (no acknowledgement: the 1 s run_every fallback)",
         f"{sum(1 for v in values('between_ticks') if v >= 0.9)} of {len(values('between_ticks'))}"],
        ["live ticks stopped before their end by a newer rerun (timer or acknowledgement)",
         f"{sum(p.get('ticks_interrupted', 0) for p in parts)} of {len(values('tick_wall'))}"],
        ["live ticks started by the run_every timer (it fires every 1 s, acknowledged or not)",
         f"{sum(p.get('ticks_by_timer', 0) for p in parts)} of {sum(p.get('ticks_seen', 0) for p in parts)}"],
        ["script threads' CPU over the window, all sessions (cores)", f"{script_cpu / m['cpu']['window_s']:.2f}"],
    ]


def fmt(x: float, spec: str = ".2f") -> str:
    return "—" if x != x else f"{x:{spec}}"


def session_table(results: list[dict], pooled: dict) -> list[list[str]]:
    rows = [["session", "Play → first iteration (s)", "gap median / p95 / max (s)", "updates",
             "iterations/s on screen", "last iteration", "pictures checked", "own corr. min / other max",
             "another's data seen"]]
    for r in results + [pooled]:
        g = quantiles(r["gaps"])
        seen = ("no" if not r["foreign"] and not r["text_problems"] and r["original_exact"]
                else "YES: " + "; ".join((r["foreign"] + r["text_problems"])[:3]
                                        + ([] if r["original_exact"] else ["original differs"])))
        if r.get("error"):
            seen = f"— (did not run: {r['error'][:120]})"
        elif r.get("failed"):
            seen += f" ({r['failed']} session(s) did not run)"
        rows.append([
            str(r["index"] + 1) if isinstance(r["index"], int) else r["index"],
            fmt(r["first_s"]) if "first_values" not in r else
            f"{fmt(quantiles(r['first_values'])[0])} / {fmt(quantiles(r['first_values'])[1])} / "
            f"{fmt(quantiles(r['first_values'])[2])}",
            f"{fmt(g[0])} / {fmt(g[1])} / {fmt(g[2])}",
            str(r["updates"]),
            fmt(r["iter_per_s"], ".1f"),
            str(r["last_iteration"]),
            str(r["pictures"]),
            f"{fmt(r['own_min'])} / {fmt(r['other_max'])}",
            seen,
        ])
    return rows


def pool(results: list[dict]) -> dict:
    ok = [r for r in results if not r["error"]]
    firsts = [r["first_s"] for r in ok if r["first_s"] == r["first_s"]]
    return {
        "index": "pooled (first: median / p95 / max)",
        "first_s": quantiles(firsts)[0], "first_values": firsts,
        "gaps": [g for r in ok for g in r["gaps"]],
        "updates": sum(r["updates"] for r in ok),
        "iter_per_s": statistics.median([r["iter_per_s"] for r in ok if r["iter_per_s"] == r["iter_per_s"]] or [float("nan")]),
        "last_iteration": max((r["last_iteration"] for r in ok), default=0),
        "pictures": sum(r["pictures"] for r in results),
        "own_min": min((r["own_min"] for r in ok if r["own_min"] == r["own_min"]), default=float("nan")),
        "other_max": max((r["other_max"] for r in ok if r["other_max"] == r["other_max"]), default=float("nan")),
        "foreign": [f"session {r['index'] + 1}: {x}" for r in results for x in r["foreign"]],
        "text_problems": [f"session {r['index'] + 1}: {x}" for r in results for x in r["text_problems"]],
        "original_exact": all(r["original_exact"] for r in ok),
        "failed": len(results) - len(ok),
        "upload_retries": sum(r["upload_retries"] for r in results),
    }


def markdown(rows: list[list[str]]) -> str:
    return "\n".join("| " + " | ".join(row) + " |" for row in [rows[0], ["---"] * len(rows[0])] + rows[1:])


# --- one server, n sessions ----------------------------------------------------------------------

def measure(fixture, pictures, n: int, args, query: list, image_paths: list[Path], log_path: Path,
            trace_path: Path | None) -> dict:
    if trace_path is not None:
        os.environ[TRACE_ENV] = str(trace_path)
    proc, url = fixture.start_app(log_path, launcher=Path(__file__).resolve() if trace_path else None)
    memory = MemorySampler(proc.pid)
    memory.start()
    try:
        time.sleep(1.0)  # a few idle samples: the server's memory before any session
        rss_idle = memory.peak("idle")
        out = asyncio.run(run_sessions(fixture, n, url, query, image_paths, args.seconds, proc.pid, memory,
                                       args.browser_nice))
        memory.mark("after")
        hwm = sum(status_kib(p, "VmHWM") for p in process_tree(proc.pid))
    finally:
        try:
            memory.stop()
        finally:
            fixture.stop_app(proc)  # whatever happened, the server does not outlive the run
    references = [pictures.session_image(i).astype(np.float64) for i in range(len(image_paths))]
    burst = (float("nan"),) * 3
    results = [analyse_session(s, args.seconds, references, pictures) for s in out["sessions"]]
    check_texts_against_each_other(results, out["sessions"], str(args.k))
    # The start burst: from the first Play click to the last session's first iteration on screen.
    clicks = [r["click_epoch"] for r in results if r.get("click_epoch")]
    firsts = [r["first_epoch"] for r in results if r.get("first_epoch", float("nan")) == r.get("first_epoch")]
    if clicks and firsts:
        burst = (min(clicks), max(firsts), memory.cpu_rate(min(clicks), max(firsts)))
    records = read_trace(trace_path)
    for r, s in zip(results, out["sessions"]):
        r["trace"] = trace_breakdown(s, records, args.seconds)
        if r["trace"].get("server_sessions", 1) > 1:  # two server sessions with one session's upload
            r["text_problems"].append(f"its upload appeared in {r['trace']['server_sessions']} server sessions")
    logged = log_path.read_text(errors="replace")
    return {
        "n": n, "results": results, "pooled": pool(results), "cpu": out["cpu"],
        "rss_idle_mib": rss_idle / 1024, "rss_ready_mib": out["rss_ready_kib"] / 1024,
        "rss_peak_mib": memory.peak("playing") / 1024, "hwm_mib": hwm / 1024,
        "runnable": quantiles([float(v) for ph, v in memory.runnable if ph == "playing"]),
        "burst": burst,
        "tracebacks": logged.count("Traceback"),
        "ready_s": quantiles([s.ready_s for s in out["sessions"] if s.ready_s == s.ready_s]),
    }


def reading(m: dict) -> str:
    """A paragraph on where the first iteration's wait went, from the trace (empty without it)."""
    parts = [r["trace"] for r in m["results"] if r.get("trace", {}).get("first_run_cpu") is not None]
    if not parts:
        return ""
    med = lambda key: statistics.median(p[key] for p in parts)  # noqa: E731
    cpu, wall, solver = med("first_run_cpu"), med("first_run_wall"), med("first_run_solver_cpu")
    burst_cores, burst_s = m["burst"][2], m["burst"][1] - m["burst"][0]
    need = sum(p["first_run_cpu"] for p in parts)
    if burst_cores != burst_cores:
        verdict = ""
    elif burst_cores < 0.8:
        verdict = ("A server held back by its own GIL would use about 1 core then; well below that, its "
                   "threads were mostly waiting for a core (the machine was oversubscribed).")
    else:
        verdict = ("About 1 core: the server's Python work, serialised by the GIL, was the limit, more "
                   "than the machine's other load.")
    return f"""## Where the wait for the first iteration goes ({m['n']} sessions)

The run a Play click starts (the whole page, with the live fragment inside it) needed
{cpu:.2f} s of its thread's CPU (median; {solver:.2f} s of it the solvers' initialisation and
first iterations) but took {wall:.2f} s of wall time: {wall / cpu:.0f}× its CPU time, so the thread
spent most of the run waiting. All {len(parts)} Play runs together needed {need:.2f} CPU seconds;
from the first click to the last first iteration on screen ({burst_s:.2f} s) the server process
used {burst_cores:.2f} cores. {verdict} The browser took {m['cpu']['chromium']:.2f} cores over the
window, and {m['runnable'][0]:.0f} tasks (median) were runnable on the machine's {os.cpu_count()} cores.
With the cores to itself, the GIL alone would hold the last of {len(parts)} simultaneous Play runs
back by about {need:.1f} s (their CPU seconds, one after another).

"""


def summary_rows(runs: list[dict]) -> list[list[str]]:
    def col(get) -> list[str]:
        return [get(m) for m in runs]

    def firsts(m):
        return quantiles(m["pooled"]["first_values"])

    def gaps(m):
        return quantiles(m["pooled"]["gaps"])

    rows = [["measure"] + [f"{m['n']} session{'s' if m['n'] > 1 else ''}" for m in runs]]
    rows += [
        ["Play → first iteration on screen: median / p95 / max (s)"]
        + col(lambda m: f"{fmt(firsts(m)[0])} / {fmt(firsts(m)[1])} / {fmt(firsts(m)[2])}"),
        ["time between iteration updates on screen: median / p95 / max (s)"]
        + col(lambda m: f"{fmt(gaps(m)[0])} / {fmt(gaps(m)[1])} / {fmt(gaps(m)[2])}"),
        ["iterations per second on screen, per session (median)"] + col(lambda m: fmt(m["pooled"]["iter_per_s"], ".1f")),
        ["screen updates per second, all sessions together"]
        + col(lambda m: fmt(m["pooled"]["updates"] / m["cpu"]["window_s"], ".1f")),
        ["sessions failing to load or run / uploads retried (page reloaded)"]
        + col(lambda m: f"{m['pooled']['failed']} / {m['pooled']['upload_retries']}"),
        ["page open → upload shown: median / max (s)"] + col(lambda m: f"{fmt(m['ready_s'][0])} / {fmt(m['ready_s'][2])}"),
        ["server memory: idle / sessions loaded / peak while playing, VmRSS (MiB)"]
        + col(lambda m: f"{m['rss_idle_mib']:.0f} / {m['rss_ready_mib']:.0f} / {m['rss_peak_mib']:.0f}"),
        ["server memory: kernel peak VmHWM (MiB)"] + col(lambda m: f"{m['hwm_mib']:.0f}"),
        ["CPU over the window: server / Chromium / whole machine (cores of "
         f"{os.cpu_count()})"]
        + col(lambda m: f"{m['cpu']['server']:.2f} / {m['cpu']['chromium']:.2f} / {m['cpu']['machine']:.2f}"),
        ["server CPU from the first Play click to the last first iteration on screen (cores)"]
        + col(lambda m: f"{fmt(m['burst'][2])} over {fmt(m['burst'][1] - m['burst'][0])} s"),
        [f"tasks running or waiting for one of the {os.cpu_count()} cores (machine-wide, /proc/stat): median / p95"]
        + col(lambda m: f"{fmt(m['runnable'][0], '.0f')} / {fmt(m['runnable'][1], '.0f')}"),
        ["pictures checked / attributed to another session"]
        + col(lambda m: f"{m['pooled']['pictures']} / {len(m['pooled']['foreign'])}"),
        ["correlation with own image (min) / with another's (max)"]
        + col(lambda m: f"{fmt(m['pooled']['own_min'])} / {fmt(m['pooled']['other_max'])}"),
        ["original picture equal to the uploaded image, every sample"]
        + col(lambda m: "yes" if m["pooled"]["original_exact"] else "NO"),
        ["texts not the session's own (file name, k, hidden count) or errors shown"]
        + col(lambda m: str(len(m["pooled"]["text_problems"]))),
        ["tracebacks in the server log"] + col(lambda m: str(m["tracebacks"])),
    ]
    return rows


def main_() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", default="8", help="concurrent sessions; a comma list runs each count "
                                                       "on a fresh server in turn (default 8)")
    parser.add_argument("--seconds", type=float, default=30.0, help="measurement window after Play (default 30)")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--res", type=int, default=256)
    parser.add_argument("--solvers", default="exact,sketched")
    parser.add_argument("--eps", default="1e-08", help="as the page's URL writes it (default 1e-08)")
    parser.add_argument("--max-iter", type=int, default=500)
    parser.add_argument("--no-write", action="store_true", help="do not write the report")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help=f"the report's path (default {RESULTS.relative_to(ROOT)})")
    parser.add_argument("--server-log", type=Path, help="keep the (last) server's output in this file")
    parser.add_argument("--browser-nice", type=int, default=0,
                        help="run Chromium at this nice level once the pages are loaded (e.g. 10): the "
                             "server gets the cores first, as if the browsers were on other machines")
    parser.add_argument("--no-trace", action="store_true",
                        help="run the plain server, without the timestamps of serve_traced (no breakdown)")
    args = parser.parse_args()
    counts = [int(c) for c in args.sessions.split(",") if c.strip()]

    fixture, pictures = _helpers()
    if fixture.chromium_missing():
        print(fixture.SKIP_REASON, file=sys.stderr)
        return 2
    if max(counts) > pictures.MAX_SESSIONS:
        print(f"--sessions: at most {pictures.MAX_SESSIONS} (distinct test images)", file=sys.stderr)
        return 2
    fps = _app_fps()
    query = [("inp_res", str(args.res)), ("inp_k", str(args.k)), ("inp_eps", args.eps),
             ("inp_max_iter", str(args.max_iter))] + [("inp_solvers", s) for s in args.solvers.split(",") if s]
    machine = fps.machine_description()
    load_before = fps.load_average()
    started = _dt.datetime.now().astimezone()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        image_paths = pictures.write_session_images(max(counts), Path(tmp) / "images", stem="load")
        for n in counts:
            log = args.server_log or Path(tmp) / f"server_{n}.log"
            print(f"{n} session(s): starting", flush=True)
            trace = None if args.no_trace else Path(tmp) / f"trace_{n}.jsonl"
            m = measure(fixture, pictures, n, args, query, image_paths[:n], log, trace)
            runs.append(m)
            print(markdown(session_table(m["results"], m["pooled"])), flush=True)
            if breakdown_rows(m):
                print(markdown([["where the time went (median / p95 / max)", "value"]] + breakdown_rows(m)), flush=True)
    load_after = fps.load_average()

    summary = markdown(summary_rows(runs))
    print("\n" + summary)
    worsts = [quantiles(m["pooled"]["first_values"])[2] for m in runs]
    worst = max((w for w in worsts if w == w), default=float("nan"))
    leaks = sum(len(m["pooled"]["foreign"]) + len(m["pooled"]["text_problems"])
                + (not m["pooled"]["original_exact"]) for m in runs)
    failed = sum(m["pooled"]["failed"] for m in runs)
    responsive = "meets" if worst <= FIRST_ITERATION_LIMIT and not failed else "MISSES"  # nan: MISSES
    isolated = "no session showed another's data" if not leaks else f"{leaks} ISOLATION PROBLEM(S)"
    verdict = (f"longest wait for a first iteration {worst:.2f} s ({responsive} the limit of "
               f"{FIRST_ITERATION_LIMIT:g} s{f'; {failed} session(s) did not run' if failed else ''}); {isolated}")
    print("\n" + verdict)

    if not args.no_write:
        command = "benchmarks/load.py " + " ".join(sys.argv[1:])
        per_session = "\n\n".join(
            f"### {m['n']} session{'s' if m['n'] > 1 else ''}\n\n" + markdown(session_table(m["results"], m["pooled"]))
            + ("\n\nWhere the time went (server trace, all sessions pooled):\n\n"
               + markdown([["part (median / p95 / max)", "value"]] + breakdown_rows(m)) if breakdown_rows(m) else "")
            for m in runs)
        niced = (f" Chromium's threads at nice {args.browser_nice} once the pages were loaded (the server "
                 "gets the cores first, as if the browsers were on other machines)." if args.browser_nice else "")
        text = f"""# Many sessions on one app server: responsiveness, memory and isolation

Measured by `benchmarks/load.py` on {started:%Y-%m-%d %H:%M %Z}: `.venv/bin/python {command}`.

**Result: {verdict}.**

- Machine: {machine['cpu']}, {machine['cores']} cores shared with other work (load average
  {load_before} before, {load_after} after), {machine['os']}; Python {machine['python']},
  Streamlit {machine['streamlit']}; {machine['chromium']}, headless (`--disable-gpu`),
  viewport {fixture.VIEWPORT['width']}×{fixture.VIEWPORT['height']}. Server and every browser
  session on the same machine: one Chromium, one context per session (its own Streamlit session).{niced}
- Settings: each session uploads its own 256×256 grey image (tests/browser/pictures.py:
  orthogonal stripe/check patterns with texture and noise, the session's number drawn on it);
  `/inpainting?{urlencode(query)}&inp_mask_seed=<session>`: k = {args.k}, working resolution
  {args.res} px, solvers {args.solvers.replace(',', ' + ')}, eps = {args.eps}, max_iter = {args.max_iter},
  the page's default mask (25 % dropout + text "WLRA") drawn with the session's own seed.
- Method: all sessions press Play at once; the window is {args.seconds:g} s. Each page timestamps
  every change of its "Iteration N" counter (MutationObserver, page clock) and the Play click;
  "Play → first iteration" is click → first counter value ≥ 1; "between updates" are the gaps
  between successive counter changes (percentiles interpolate linearly; pooled = all sessions'
  values together). Memory: VmRSS of the server and its children from /proc every 0.2 s, and the
  kernel's peak (VmHWM) at the end. CPU: the server's utime + stime from /proc, Chromium's from
  CDP `SystemInfo.getProcessInfo`, the machine's from /proc/stat, over the window, in cores.
  Isolation: every 0.5 s each page keeps the pictures it shows (data URIs, when they changed);
  each is decoded and correlated with every session's image and must correlate best with its
  own (the original must equal the upload pixel for pixel); the texts (image selector, k,
  hidden-pixel count, errors, exceptions) must be the session's own all along, and its counter
  must never go back.

## Summary

{summary}

{reading(runs[-1])}## Every session

{per_session}

Reading it: one Chromium draws every session's page, on the same two cores as the server, and
each page asks for its next live tick only after it has painted the last one (ui/runs/controller.py), so the
update rate is shared between the browser and the server; a real classroom has one browser per
user on other machines. "Uploads retried": Streamlit 1.67 sometimes drops its answer with the
upload URLs (a script run starting before the answer is sent clears the queue), and the uploader
then waits for good; the script reloads such a page and uploads again.
"""
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"wrote {args.out}")
    return 0 if responsive == "meets" and not leaks else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["run"]:  # started by start_app as the server's launcher (--trace)
        sys.exit(serve_traced())
    sys.exit(main_())
