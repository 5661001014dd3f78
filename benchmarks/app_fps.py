"""How many solver iterations per second reach the screen in the inpainting page, measured in Chromium.

The issue's target: on a 256×256 sample image with k = 20 and two solvers side by side, at least 5
iterations per second reach the screen. This script measures exactly that, in the browser:

1. starts the app like the browser-test fixture (tests/browser/conftest.py: `streamlit run app.py`
   on a free loopback port, OPENBLAS_NUM_THREADS=1) and opens Debian's Chromium (/usr/bin/chromium);
2. opens `/inpainting` with the settings in the URL (camera at 256 px, k = 20, exact + sketched,
   eps 1e-8, max_iter 500: long enough not to converge inside the window; the page's default mask:
   25 % dropout and the text "WLRA");
3. before the page loads, installs a MutationObserver that timestamps (performance.now) every
   change of the shown "Iteration N" counter, every redraw of the two live charts (their
   `data-drawn` revision), every change of the solver pictures' captions, of the number of replay
   sliders (in the DOM and visible), of Streamlit's "retained" elements and of the Play/Pause
   button, plus a 200 ms sampler that checks whether the charts are blank (no plotted trace),
   whether the pictures lag the counter and whether they are faded (stale styling);
4. presses Play, watches for `--seconds` (default 20), presses Pause, and reads the log back;
   reads CPU time of the app server (/proc) and of Chromium (CDP) over the window; takes the
   replay slider to iteration 1 and reads each solver row's status.

With `--before <checkout>` it measures that checkout's app too, alternating with this one, and
writes a before/after table (results/app_fps.md).

"Iterations per second on screen" = (last counter value − first counter value after Play) /
(time between those two counter changes), both read from the DOM timestamps: iterations that
were computed but never shown do not count, and neither does the start-up before the first
update. It also reports screen updates per second (distinct counter values shown), chart
redraws per second, the longest gap between updates, and the solvers' own time per iteration
(the page's "time / it" column) to show who sets the pace.

    .venv/bin/python benchmarks/app_fps.py            # 2 runs of 20 s, writes benchmarks/results/app_fps.md
    .venv/bin/python benchmarks/app_fps.py --runs 1 --seconds 10 --no-write   # quick look
    git worktree add /tmp/before <commit>             # then a before/after, alternating the two apps:
    .venv/bin/python benchmarks/app_fps.py --before /tmp/before --rounds 2 --seconds 12
"""
from __future__ import annotations

import argparse
import csv
import datetime as _dt
import importlib.util
import io
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "app_fps.md"
TARGET = 5.0  # iterations per second on screen (issue 3)
UPDATES_TARGET = 4.0  # screen updates per second for a smooth live view


def _fixture_module():
    """tests/browser/conftest.py, for start_app / stop_app / launch_chromium (one way to start the app)."""
    spec = importlib.util.spec_from_file_location("_wlra_browser_fixture", ROOT / "tests" / "browser" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OBSERVER_JS = r"""
(() => {
  const log = { counter: [], charts: [], pictures: [], samples: [], sliders: [], visibleSliders: [], retained: [], gone: [], button: [] };
  window.__wlraFps = log;
  const CHARTS = ['inp_objective_chart', 'inp_psnr_chart'];
  let lastCounter = null, lastPictures = null, lastSliders = null, lastVisible = null, lastRetained = null, lastGone = 0, lastLabel = null;
  const lastDrawn = {};
  const shownIteration = () => {
    const el = document.querySelector('[data-testid="stMainBlockContainer"] [data-testid="iteration-count"]');
    const m = el && el.textContent.match(/Iteration (\d+)/);
    return m ? Number(m[1]) : null;
  };
  const pictureIterations = () => [...document.querySelectorAll('[data-testid="image-row"] figcaption')]
      .map(c => (c.textContent.match(/iteration (\d+)/) || [])[1]).filter(Boolean).map(Number);
  const observe = () => {
    const now = performance.now();
    const it = shownIteration();
    if (it !== null && it !== lastCounter) { lastCounter = it; log.counter.push([now, it]); }
    const button = document.querySelector('.st-key-inp_play button');
    const label = button ? (button.innerText.includes('Pause') ? 'Pause' : 'Play') : null;
    if (label !== lastLabel) { lastLabel = label; log.button.push([now, label]); }
    // The counter gone from the page for a moment (its element being replaced).
    const gone = it === null && lastCounter !== null ? 1 : 0;
    if (gone !== lastGone) { lastGone = gone; log.gone.push([now, gone]); }
    for (const key of CHARTS) {
      const div = document.querySelector(`.st-key-${key} div.wlra-live-chart`);
      const drawn = div ? div.dataset.drawn : undefined;
      if (drawn !== undefined && drawn !== lastDrawn[key]) { lastDrawn[key] = drawn; log.charts.push([now, key]); }
    }
    const pics = pictureIterations().join(',');
    if (pics && pics !== lastPictures) { lastPictures = pics; log.pictures.push([now, pics]); }
    // Replay sliders on screen (more than one: an element kept while its replacement is drawn),
    // and elements Streamlit keeps on screen as "retained" (an element whose identity changed).
    const main = document.querySelector('[data-testid="stMainBlockContainer"]');
    if (main) {
      const all = [...main.querySelectorAll('[data-testid="stSlider"]')]
          .filter(el => el.textContent.includes('Replay iteration'));
      // In the DOM, and visible (Streamlit hides a retained element unless it holds the focus).
      const sliders = all.length, visible = all.filter(el => el.checkVisibility()).length;
      if (sliders !== lastSliders) { lastSliders = sliders; log.sliders.push([now, sliders]); }
      if (visible !== lastVisible) { lastVisible = visible; log.visibleSliders.push([now, visible]); }
      const retained = main.querySelectorAll('[data-retained]').length;
      if (retained !== lastRetained) { lastRetained = retained; log.retained.push([now, retained]); }
    }
  };
  new MutationObserver(observe).observe(document, {
    subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['data-drawn'],
  });
  setInterval(() => {
    const charts = CHARTS.map(key => {
      const div = document.querySelector(`.st-key-${key} div.wlra-live-chart`);
      if (!div) return 'missing';
      return div.querySelectorAll('.scatterlayer .trace').length > 0 ? 'drawn' : 'blank';
    });
    const pics = pictureIterations();
    // Effective opacity of the pictures (Streamlit fades elements that stay stale during a run).
    let opacity = 1;
    for (let el = document.querySelector('[data-testid="image-row"]'); el; el = el.parentElement) {
      opacity *= Number(getComputedStyle(el).opacity);
    }
    log.samples.push([performance.now(), shownIteration(), charts, pics, opacity < 0.9]);
  }, 200);
})();
"""


def machine_description() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        chromium = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True, text=True,
                                  timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        chromium = "?"
    import streamlit
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "streamlit": streamlit.__version__,
        "chromium": chromium,
    }


def load_average() -> str:
    try:
        return " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "?"


def time_at_least(changes: list, start: float, end: float, level: int) -> tuple[float, int]:
    """(seconds spent at `level` or more, highest value) of a step function logged as
    [time, value] changes, within [start, end] (ms timestamps)."""
    value = 0  # the value in force at `start`
    for t, v in changes:
        if t > start:
            break
        value = v
    total, peak, since = 0.0, value, start
    for t, v in changes:
        if start < t <= end:
            if value >= level:
                total += t - since
            value, since, peak = v, t, max(peak, v)
    if value >= level:
        total += end - since
    return total / 1000.0, peak


def analyse(log: dict, t_play: float, t_pause: float, t_settled: float | None = None) -> dict:
    """Numbers from the DOM log, restricted to [Play click, Pause click] (and, for the elements
    shown twice, also [Pause click, the page settled after Pause])."""
    counter = [(t, it) for t, it in log["counter"] if t_play <= t <= t_pause]
    if len(counter) < 2:
        raise RuntimeError(f"fewer than two counter updates between Play and Pause: {counter}")
    (t0, it0), (t1, it1) = counter[0], counter[-1]
    span = (t1 - t0) / 1000.0
    gaps = [(b[0] - a[0]) / 1000.0 for a, b in zip(counter, counter[1:])]
    steps = [b[1] - a[1] for a, b in zip(counter, counter[1:])]
    charts = [c for c in log["charts"] if t_play <= c[0] <= t_pause]
    per_chart = {key: sum(1 for c in charts if c[1] == key) for key in ("inp_objective_chart", "inp_psnr_chart")}
    samples = [s for s in log["samples"] if t0 <= s[0] <= t1]
    blank = sum(1 for s in samples if "blank" in s[2] or "missing" in s[2])
    lagging = [s[1] - min(s[3]) for s in samples if s[1] is not None and s[3]]
    faded = sum(1 for s in samples if s[4])
    pictures = [p for p in log["pictures"] if t0 <= p[0] <= t1]
    return {
        "first_update_s": (t0 - t_play) / 1000.0,
        "window_s": span,
        "iterations": it1 - it0,
        "first_iteration": it0,
        "last_iteration": it1,
        "iter_per_s": (it1 - it0) / span if span > 0 else float("nan"),
        "updates": len(counter) - 1,
        "updates_per_s": (len(counter) - 1) / span if span > 0 else float("nan"),
        "iterations_per_update": statistics.mean(steps),
        "max_gap_s": max(gaps),
        "median_gap_s": statistics.median(gaps),
        "chart_redraws_per_s": {k: v / span for k, v in per_chart.items()},
        "samples": len(samples),
        "blank_chart_samples": blank,
        "pictures_lagging_samples": sum(1 for d in lagging if d > 0),
        "pictures_max_lag": max(lagging, default=0),
        "pictures_faded_samples": faded,
        "picture_updates_per_s": len(pictures) / span if span > 0 else float("nan"),
        # Two replay sliders at once, and Streamlit "retained" elements (identity changed), in s.
        "sliders_twice_playing": time_at_least(log["sliders"], t_play, t_pause, 2),
        "sliders_twice_after_pause": time_at_least(log["sliders"], t_pause, t_settled or t_pause, 2),
        "visible_sliders_twice_playing": time_at_least(log["visibleSliders"], t_play, t_pause, 2),
        "visible_sliders_twice_after_pause": time_at_least(log["visibleSliders"], t_pause, t_settled or t_pause, 2),
        "counter_gone_playing": time_at_least(log["gone"], t_play, t_pause, 1),
        "counter_gone_after_pause": time_at_least(log["gone"], t_pause, t_settled or t_pause, 1),
        "retained_playing": time_at_least(log["retained"], t_play, t_pause, 1),
        "retained_after_pause": time_at_least(log["retained"], t_pause, t_settled or t_pause, 1),
    }


def solver_times(page, main) -> dict[str, float]:
    """Median compute time per iteration of each solver (ms), from the page's History CSV export."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    button = main.get_by_role("button", name="History CSV")
    button.wait_for()
    page.locator('[data-stale="true"]').first.wait_for(state="detached")  # the rerun after Pause is over
    for attempt in range(3):  # a click that lands while the page redraws the button can be lost
        try:
            with page.expect_download(timeout=15_000) as download:
                button.click()
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    times: dict[str, list[float]] = {}
    for row in rows:
        if int(row["iteration"]) > 1:  # the first iteration's time includes the initialisation
            times.setdefault(row["solver"], []).append(1000.0 * float(row["seconds"]))
    return {name: statistics.median(values) for name, values in times.items()}


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CHROMIUM_TYPES = ("renderer", "GPU", "browser")


class CpuMeter:
    """CPU seconds spent by the app server (its PID) and by every Chromium process (the browser's
    SystemInfo.getProcessInfo over CDP) between two readings."""

    def __init__(self, server_pid: int, browser):
        self.server_pid = server_pid
        self.cdp = browser.new_browser_cdp_session()

    def read(self) -> dict[str, float]:
        """{"server": s, "chromium": s, "chromium <type>": s per process type (renderer, gpu, …)}."""
        processes = self.cdp.send("SystemInfo.getProcessInfo")["processInfo"]
        seconds = {"server": process_cpu_seconds(self.server_pid),
                   "chromium": sum(p["cpuTime"] for p in processes)}
        for p in processes:
            key = f"chromium {p['type']}"
            seconds[key] = seconds.get(key, 0.0) + p["cpuTime"]
        return seconds


def one_run(page, main, seconds: float, expect, cpu: CpuMeter | None = None) -> dict:
    play = main.locator(".st-key-inp_play button")
    expect(play).to_contain_text("Play")
    page.evaluate("() => { const l = window.__wlraFps; for (const k in l) l[k].length = 0; }")
    cpu_start = cpu.read() if cpu else None
    t_play = page.evaluate("() => performance.now()")
    play.click()
    expect(play).to_contain_text("Pause")
    # The measurement window itself: the page updates on its own; we only watch.
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        page.wait_for_timeout(min(1000, max(1, (deadline - time.monotonic()) * 1000)))
        status = main.get_by_test_id("run-status").inner_text()
        if "converged" in status or "stopped" in status or "failed" in status:
            break  # a run ended early: measure up to here
    t_pause = page.evaluate("() => performance.now()")
    cpu_end = cpu.read() if cpu else None
    if "Pause" in play.inner_text():
        play.click()
    expect(play).to_contain_text("Play")
    expect(main.get_by_test_id("run-status")).to_contain_text(re.compile(r"paused|converged|stopped|failed"))
    page.locator('[data-stale="true"]').first.wait_for(state="detached")  # the rerun after Pause is over
    page.wait_for_timeout(300)  # and whatever it left on screen has been drawn
    t_settled = page.evaluate("() => performance.now()")
    log = page.evaluate("() => window.__wlraFps")
    result = analyse(log, t_play, t_pause, t_settled)
    # Pause: from the moment the click was sent to the button turning back into Play, and how
    # many iterations the counter still advanced after the click.
    turned = [t for t, label in log["button"] if t > t_pause and label == "Play"]
    result["pause_to_play_s"] = (turned[0] - t_pause) / 1000.0 if turned else float("nan")
    at_click = [it for t, it in log["counter"] if t <= t_pause]
    result["after_pause_iterations"] = (log["counter"][-1][1] - at_click[-1]) if at_click else 0
    if cpu:  # CPU per screen update, over Play → Pause (includes the solvers' compute in the server)
        updates = max(1, result["updates"] + 1)
        window = (t_pause - t_play) / 1000.0
        used = {k: cpu_end[k] - cpu_start.get(k, 0.0) for k in cpu_end}
        result["cpu_per_update_ms"] = {k: 1000.0 * v / updates for k, v in used.items()}
        result["cpu_share"] = {k: v / window for k, v in used.items()}
    # Every iteration is plotted, not only those the counter showed: the objective chart's traces
    # (plotly keeps them on the div as .data) should hold x = 1 … N without a gap.
    result["plotted"] = page.evaluate("""() => {
      const div = document.querySelector('.st-key-inp_objective_chart div.wlra-live-chart');
      return (div && div.data || []).filter(t => t.name && Array.isArray(t.x) && t.x.length > 1)
        .map(t => [t.name, t.x.length, t.x.every((x, i) => i === 0 || x - t.x[i - 1] === 1)]);
    }""")
    status = main.get_by_test_id("run-status").inner_text()
    result["status"] = status
    result["time_per_it_ms"] = solver_times(page, main)
    result["row_status_paused"] = row_statuses(main)
    result["row_status_replaying"] = replay_first(page, main, expect)
    return result


ROW_STATUS_JS = """rows => rows.map(row => [
  row.dataset.testid.replace('solver-row-', ''),
  row.querySelector('td').innerText.split('\\n').slice(1).join(' ').trim()])"""


def row_statuses(main) -> dict[str, str]:
    """Each solver row's status line (under its name), as shown."""
    return dict(main.locator('[data-testid^="solver-row-"]').evaluate_all(ROW_STATUS_JS))


def replay_first(page, main, expect) -> dict[str, str]:
    """Take the replay slider to iteration 1 and read each solver row's status there."""
    slider = main.get_by_test_id("stSlider").filter(has_text="Replay iteration").get_by_role("slider")
    slider.focus()
    slider.press("Home")
    expect(main.get_by_test_id("iteration-count")).to_have_text("Iteration 1")
    page.locator('[data-stale="true"]').first.wait_for(state="detached")
    return row_statuses(main)


def measure(fixture, tree: Path, args, query: list, server_log: Path) -> tuple[list[dict], str, str]:
    """Start `tree`'s app, open the page in Chromium and make `args.runs` Play/Pause runs.
    Returns (results, working size caption, hidden-pixel text)."""
    from playwright.sync_api import expect, sync_playwright

    results = []
    proc, url = fixture.start_app(server_log, root=tree.resolve())
    try:
        with sync_playwright() as playwright:
            browser = fixture.launch_chromium(playwright)
            context = browser.new_context(viewport=fixture.VIEWPORT)
            context.set_default_timeout(fixture.TIMEOUT_MS)
            expect.set_options(timeout=fixture.TIMEOUT_MS)
            page = context.new_page()
            page.add_init_script(OBSERVER_JS)
            page.goto(f"{url}/inpainting?{urlencode(query)}")
            main = page.get_by_test_id("stMainBlockContainer")
            expect(main.get_by_test_id("iteration-count")).to_have_text("Iteration 0", timeout=120_000)
            # The settings really came from the URL.
            expect(main.get_by_role("combobox", name="Image")).to_have_value(args.image)
            # the working size: "working 256×256 px" in older checkouts (--before), now
            # "downscaled to 256×256 px" or "worked on at 256×256 px"
            working = r"(?:working|downscaled to|worked on at) (\d+)×(\d+) px"
            caption = main.get_by_text(re.compile(working)).inner_text()
            size = "working " + "×".join(re.search(working, caption).groups()) + " px"
            hidden = main.get_by_test_id("hidden-count").inner_text()
            expect(page.locator(".st-key-inp_k")).to_contain_text(str(args.k))
            expect(page.locator(".st-key-inp_eps")).to_contain_text(f"{float(args.eps):.0e}")
            for s in args.solver_list:
                expect(page.locator(".st-key-inp_solvers")).to_contain_text(s)
            for run in range(args.runs):
                if run:
                    main.locator(".st-key-inp_reset button").click()
                    expect(main.get_by_test_id("iteration-count")).to_have_text("Iteration 0")
                r = one_run(page, main, args.seconds, expect, CpuMeter(proc.pid, browser))
                results.append(r)
                print(f"{tree.name or tree}: run {run + 1}: {r['iter_per_s']:.2f} iterations/s on screen "
                      f"({r['iterations']} iterations in {r['window_s']:.1f} s, "
                      f"{r['updates_per_s']:.2f} screen updates/s)", flush=True)
            browser.close()
    finally:
        fixture.stop_app(proc)
    return results, size, hidden


def run_rows(solvers: list[str]) -> list[tuple[str, Any]]:
    """The per-run table: (measure, format(result))."""
    return [
        ("iterations per second on screen", lambda r: f"{r['iter_per_s']:.2f}"),
        ("iterations shown (first → last)", lambda r: f"{r['first_iteration']} → {r['last_iteration']}"),
        ("measured window (s)", lambda r: f"{r['window_s']:.1f}"),
        ("Play → first update (s)", lambda r: f"{r['first_update_s']:.2f}"),
        ("screen updates per second", lambda r: f"{r['updates_per_s']:.2f}"),
        ("iterations per update (mean)", lambda r: f"{r['iterations_per_update']:.1f}"),
        ("gap between updates: median / max (s)", lambda r: f"{r['median_gap_s']:.2f} / {r['max_gap_s']:.2f}"),
        ("objective chart redraws per second", lambda r: f"{r['chart_redraws_per_s']['inp_objective_chart']:.2f}"),
        ("PSNR chart redraws per second", lambda r: f"{r['chart_redraws_per_s']['inp_psnr_chart']:.2f}"),
        ("points per solver in the objective chart after Pause (no gap?)",
         lambda r: "; ".join(f"{n}: {c}{'' if ok else ' (gaps)'}" for n, c, ok in r["plotted"]) or "?"),
        ("200 ms samples with a blank chart", lambda r: f"{r['blank_chart_samples']} of {r['samples']}"),
        ("samples with pictures behind the counter (max lag, iterations)",
         lambda r: f"{r['pictures_lagging_samples']} of {r['samples']} ({r['pictures_max_lag']})"),
        ("picture row updates per second", lambda r: f"{r['picture_updates_per_s']:.2f}"),
        ("samples with the pictures faded (opacity < 0.9)", lambda r: f"{r['pictures_faded_samples']} of {r['samples']}"),
        ("two replay sliders visible: s while playing / s after Pause",
         lambda r: f"{r['visible_sliders_twice_playing'][0]:.2f} / {r['visible_sliders_twice_after_pause'][0]:.2f}"),
        ("two replay sliders in the DOM (one hidden): s while playing / s after Pause",
         lambda r: f"{r['sliders_twice_playing'][0]:.2f} / {r['sliders_twice_after_pause'][0]:.2f}"),
        ("elements kept after their identity changed (data-retained): s while playing / s after Pause",
         lambda r: f"{r['retained_playing'][0]:.2f} / {r['retained_after_pause'][0]:.2f}"),
        ("Pause click → button shows Play (s) / iterations the counter still advanced",
         lambda r: f"{r['pause_to_play_s']:.2f} / {r['after_pause_iterations']}"),
        ("counter missing from the page: s while playing / s after Pause",
         lambda r: f"{r['counter_gone_playing'][0]:.2f} / {r['counter_gone_after_pause'][0]:.2f}"),
        ("row status, paused at the newest iteration",
         lambda r: "; ".join(f"{n}: {t}" for n, t in r["row_status_paused"].items())),
        ("row status, replaying iteration 1",
         lambda r: "; ".join(f"{n}: {t}" for n, t in r["row_status_replaying"].items())),
        ("CPU per screen update, app server (solvers included) / Chromium (ms)",
         lambda r: f"{r['cpu_per_update_ms']['server']:.0f} / {r['cpu_per_update_ms']['chromium']:.0f}"),
        ("… Chromium by process: " + " / ".join(CHROMIUM_TYPES) + " (ms)",
         lambda r: " / ".join(f"{r['cpu_per_update_ms'].get('chromium ' + t, 0.0):.0f}" for t in CHROMIUM_TYPES)),
        ("CPU used over the window, app server / Chromium (cores)",
         lambda r: f"{r['cpu_share']['server']:.2f} / {r['cpu_share']['chromium']:.2f}"),
        ("solver compute time per iteration, median: " + " / ".join(solvers) + " (ms)",
         lambda r: " / ".join(f"{r['time_per_it_ms'].get(s, float('nan')):.0f}" for s in solvers)),
    ]


def markdown(rows: list[list[str]]) -> str:
    return "\n".join("| " + " | ".join(row) + " |" for row in [rows[0], ["---"] * len(rows[0])] + rows[1:])


def run_table(results: list[dict], solvers: list[str]) -> str:
    return markdown([["measure"] + [f"run {i + 1}" for i in range(len(results))]]
                    + [[name] + [fmt(r) for r in results] for name, fmt in run_rows(solvers)])


def _med(results: list[dict], get) -> float:
    values = [v for v in (get(r) for r in results) if v == v]  # NaN (nothing measured) left out
    return statistics.median(values) if values else float("nan")


def _share(results: list[dict], key: str) -> str:
    hits, samples = sum(r[key] for r in results), sum(r["samples"] for r in results)
    return f"{100 * hits / samples:.0f} % of {samples}" if samples else "—"


def summary_rows() -> list[tuple[str, Any]]:
    """Before/after rows over all runs of one side: medians of per-run figures, totals of samples."""
    return [
        ("iterations per second on screen (median)", lambda rs: f"{_med(rs, lambda r: r['iter_per_s']):.1f}"),
        ("screen updates per second (median)", lambda rs: f"{_med(rs, lambda r: r['updates_per_s']):.1f}"),
        ("iterations per update (median of means)", lambda rs: f"{_med(rs, lambda r: r['iterations_per_update']):.1f}"),
        ("gap between updates: median / longest (s)",
         lambda rs: f"{_med(rs, lambda r: r['median_gap_s']):.2f} / {max(r['max_gap_s'] for r in rs):.2f}"),
        ("every iteration plotted (no gap in the objective chart)",
         lambda rs: "yes" if all(ok for r in rs for _, _, ok in r["plotted"]) else "no"),
        ("200 ms samples with the pictures behind the counter",
         lambda rs: f"{_share(rs, 'pictures_lagging_samples')} (up to {max(r['pictures_max_lag'] for r in rs)} it.)"),
        ("200 ms samples with the pictures faded", lambda rs: _share(rs, "pictures_faded_samples")),
        ("200 ms samples with a blank chart", lambda rs: _share(rs, "blank_chart_samples")),
        ("two replay sliders in the DOM: s while playing / s after Pause (per run, median)",
         lambda rs: f"{_med(rs, lambda r: r['sliders_twice_playing'][0]):.2f} / "
                    f"{_med(rs, lambda r: r['sliders_twice_after_pause'][0]):.2f}"),
        ("two replay sliders visible (s, all runs)",
         lambda rs: f"{sum(r['visible_sliders_twice_playing'][0] + r['visible_sliders_twice_after_pause'][0] for r in rs):.2f}"),
        ("counter missing from the page (s, all runs)",
         lambda rs: f"{sum(r['counter_gone_playing'][0] + r['counter_gone_after_pause'][0] for r in rs):.2f}"),
        ("Pause click → Play button (s, median) / iterations shown after the click (max)",
         lambda rs: f"{_med(rs, lambda r: r['pause_to_play_s']):.2f} / {max(r['after_pause_iterations'] for r in rs)}"),
        ("row status replaying iteration 1 (first run)",
         lambda rs: "; ".join(f"{n}: {t}" for n, t in rs[0]["row_status_replaying"].items())),
        ("CPU per screen update, app server / Chromium (ms, median)",
         lambda rs: f"{_med(rs, lambda r: r['cpu_per_update_ms']['server']):.0f} / "
                    f"{_med(rs, lambda r: r['cpu_per_update_ms']['chromium']):.0f}"),
        ("solver time per iteration, exact / sketched (ms, median)",
         lambda rs: " / ".join(f"{_med(rs, lambda r: r['time_per_it_ms'].get(s, float('nan'))):.0f}"
                               for s in ("exact", "sketched"))),
    ]


def main_() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="watch each run this long (default 20)")
    parser.add_argument("--runs", type=int, default=2, help="Play/Pause runs per app start, each from a Reset (default 2)")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--image", default="camera")
    parser.add_argument("--res", type=int, default=256)
    parser.add_argument("--solvers", default="exact,sketched")
    parser.add_argument("--eps", default="1e-08", help="as the page's URL writes it (default 1e-08)")
    parser.add_argument("--max-iter", type=int, default=500)
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.relative_to(ROOT)}")
    parser.add_argument("--server-log", type=Path, help="keep the (last) server's output in this file")
    parser.add_argument("--tree", type=Path, default=ROOT,
                        help="run the app of this checkout (default: this one); the browser side of the "
                             "measurement stays this script's")
    parser.add_argument("--before", type=Path,
                        help="also measure this checkout's app (e.g. an older commit's, `git worktree add`), "
                             "alternating with --tree, and write a before/after table")
    parser.add_argument("--rounds", type=int, default=2, help="with --before: alternations (default 2)")
    args = parser.parse_args()
    args.solver_list = [s for s in args.solvers.split(",") if s]

    fixture = _fixture_module()
    if fixture.chromium_missing():
        print(fixture.SKIP_REASON, file=sys.stderr)
        return 2

    solvers = args.solver_list
    query = [("inp_image", args.image), ("inp_res", str(args.res)), ("inp_k", str(args.k)),
             ("inp_eps", args.eps), ("inp_max_iter", str(args.max_iter))] + [("inp_solvers", s) for s in solvers]
    machine = machine_description()
    load_before = load_average()
    before: list[dict] = []
    after: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        log = args.server_log or Path(tmp) / "server.log"
        for _ in range(args.rounds if args.before else 1):
            if args.before:
                before += measure(fixture, args.before, args, query, log)[0]
            results, size, hidden = measure(fixture, args.tree, args, query, log)
            after += results
    load_after = load_average()

    table = run_table(after, solvers)
    summary = ""
    if args.before:
        summary = markdown([["measure", "before", "after"]]
                           + [[name, fmt(before), fmt(after)] for name, fmt in summary_rows()])
        print("\n" + summary)
    print("\n" + table)
    rates = [r["iter_per_s"] for r in after]
    updates = [r["updates_per_s"] for r in after]
    figure, screen = statistics.median(rates), statistics.median(updates)
    verdict = "meets" if figure >= TARGET else "misses"
    screen_verdict = "meets" if screen >= UPDATES_TARGET else "misses"
    print(f"\nmedian {figure:.2f} iterations per second on screen: {verdict} the target of {TARGET:g}; "
          f"median {screen:.2f} screen updates per second: {screen_verdict} the target of {UPDATES_TARGET:g}")

    if not args.no_write:
        now = _dt.datetime.now().astimezone()
        settings = (f"`{args.image}` sample at {args.res} px ({size}, grey), {hidden.replace('Hidden pixels: ', '')} "
                    f"hidden by the page's default mask (25 % dropout + text \"WLRA\"); k = {args.k}; solvers "
                    f"{' + '.join(solvers)} side by side; eps = {args.eps}; max_iter = {args.max_iter}; init svd, "
                    f"ridge 0, seed 0; the settings passed in the URL (`/inpainting?{urlencode(query)}`)")
        compared = ""
        if args.before:
            compared = f"""## Before and after

`before` is the app of `{args.before}`, `after` the app of `{args.tree if args.tree != ROOT else 'this checkout'}`,
measured {args.rounds} times each in alternation ({args.runs} runs of {args.seconds:g} s per app start,
{len(before)} and {len(after)} runs in all), so that both see the same load on the shared machine.

{summary}

"""
        text = f"""# The live inpainting view in Chromium: iterations and screen updates per second

Measured by `benchmarks/app_fps.py` on {now:%Y-%m-%d %H:%M %Z}.

**Result: {figure:.1f} iterations per second reach the screen in {screen:.1f} screen updates per
second** (medians of {len(after)} runs of {args.seconds:g} s: {', '.join(f'{x:.1f}' for x in rates)}
iterations/s; {', '.join(f'{x:.1f}' for x in updates)} updates/s). Targets: at least {TARGET:g}
iterations per second (issue 3) — **{verdict}**; at least {UPDATES_TARGET:g} screen updates per second
with every iteration plotted, pictures never behind the counter and never faded —
**{screen_verdict}** (see the rows below).

- Machine: {machine['cpu']}, {machine['cores']} cores shared with other work (load average
  {load_before} before, {load_after} after), {machine['os']}; Python {machine['python']},
  Streamlit {machine['streamlit']}; {machine['chromium']}, headless (`--disable-gpu`),
  viewport {fixture.VIEWPORT['width']}×{fixture.VIEWPORT['height']}. Server and browser on the same machine.
- Settings: {settings}.
- Method: a MutationObserver installed before the page loads timestamps every change of the
  "Iteration N" counter, every redraw of the two live charts (`data-drawn` set after each
  `Plotly.react`), the pictures' captions, the replay sliders in the page (in the DOM and
  visible), Streamlit's `data-retained` elements (an element kept on screen while its
  replacement with another identity is drawn) and the Play/Pause button; a 200 ms sampler
  checks for blank charts (no trace drawn), pictures behind the counter and pictures faded by
  Streamlit's stale-element styling (opacity below 0.9). Play and Pause are clicked in the page;
  the rate is (last − first counter value) / (time between those two updates), so start-up is
  excluded and only iterations that were displayed count; every iteration is plotted (the
  "points" row: the objective chart holds 1 … N without a gap). After Pause the replay slider is
  taken to iteration 1 and each solver row's status read. CPU per screen update: CPU seconds of
  the app server (which includes the solvers) from /proc and of every Chromium process from
  CDP `SystemInfo.getProcessInfo`, over Play → Pause, divided by the screen updates.

{compared}## Every run (after)

{table}

Reading it: "screen updates per second" is how often the page redraws; "iterations per update"
how many iterations each redraw brings (each live tick draws, then computes for a fixed
budget, TICK_BUDGET in ui/runs/controller.py; the browser acknowledges each tick once painted, which starts
the next). The solvers' compute time
per iteration is the median of the `seconds` column of the page's History CSV export
(iterations after the first, which includes the initialisation): with two solvers, one round of
iterations costs their sum. A run ends early when the solvers stop ("objective stalled" at about
270 iterations here), then no Pause is measured (nan).
"""
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main_())
