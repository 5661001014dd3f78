"""The run controller: Play / Pause / Step / Reset over a dict of named solver runs.

State layout (in st.session_state, under `<prefix>_…`; see RunController.key):

    <prefix>_controls  Controls        the runs, playing, follow and the commands not yet carried
                                       out: one object, changed under its lock (see below)
    <prefix>_runs      RunSet | None   the runs on screen (a copy of Controls.runs, for readers)
    <prefix>_playing   bool            Play pressed and not yet paused or finished (a copy too)
    <prefix>_clicks    click recorder  the browser's log of button clicks (see "Rapid clicks")
    <prefix>_replay    int             the iteration shown (slider; follows the newest while playing)
    <prefix>_ticks     int             live ticks so far (the pacer's tick number)

A RunSet holds one Run per name. A Run keeps its live generator (wlra_core.iterate; fine within
a session, never pickled) and, per iteration, a plain record (numbers only, for charts and CSV;
"cumulative_seconds" is the run's own compute time, see _record)
and the factors X, Y as float32 (float64 beyond its range; for replay and exports; never images; thinned past
FACTOR_BUDGET_BYTES, read them with Run.factors_at). Every run of a set comes
from the same `start(name)` factory, so they share M, W, k, init and seed: the same start.

The page describes the problem by a signature (data identity + settings except the solver
names). Buttons only record a command; `sync` carries the commands out, in click order, during
the page's run, when the current problem is known, and then draws the buttons (so they show the
state the commands left):
- Step: advance every unfinished run by one iteration, once per click;
- Play: start ticking; Pause: stop; Reset: forget the runs;
- Step or Play with a changed signature (or no runs yet) builds a new RunSet first. If building
  fails (wlra_core.InputError: an impossible k, …) the old runs stay on screen and the message
  is returned for st.error. While playing, a changed signature restarts at once.
- Changing only the solver names adds fresh runs and drops deselected ones.
- When every run has stopped and the settings are unchanged, Play is disabled (Reset, or a
  changed setting, enables it again); a Play click made just before does nothing, and Step
  leaves stopped runs as they are.

Rapid clicks. Measured in Chromium on this machine (2 shared cores, loaded), ten fast clicks on
Step gave 1 to 9 iterations, and a Pause clicked as the runs finished restarted them (13 times
in 14). Three mechanisms lose or misread clicks:
1. Streamlit's browser code sends the clicks made while the page is busy as one batch: several
   clicks on one button become one event (ten mouse clicks 0–50 ms apart: 4 to 8 events).
2. With runner.fastReruns, each event stops the running script and starts a new one at once;
   an event whose new run is stopped before it reaches the button callbacks is dropped, and a
   command kept as one value was overwritten by the next click's before `sync` carried it out.
   The stopped run also goes on until its next Streamlit call, in another thread: two threads
   advanced the same generators ("ValueError: generator already executing" ended a run).
3. Play and Pause are one button (key `<prefix>_play`, which the tests and benchmarks use), so
   the server reads a click with the label it drew last, not the one the user saw: a Pause
   clicked as the runs finished arrived as Play, and Play on stopped runs started them over.
Hence:
- A click recorder (a hidden Components v2 element, `_click_recorder`) numbers every click on
  this page's Play/Pause, Step and Reset in the browser, with what a Play/Pause click asked for
  (the label it had), and keeps the last CLICK_LOG of them in one state value. State values
  travel with every later event, so the newest event that reaches a run brings every click
  before it; `sync` carries out each number once, in order (Controls.clicks_done). Without the
  log (AppTest, or a click before the recorder loaded) the button callbacks' commands are
  queued in order instead (Controls.queue). Play and Pause are explicit: a click asks for the
  state its label names, so a double click on Play plays, and Pause on a paused page does
  nothing. Play never starts stopped runs over (it is disabled then: see above).
- Callbacks make no Streamlit call (nothing can interrupt them); all run state lives in one
  Controls object and changes under its lock, one command at a time, with a possible stop only
  between commands (and between rounds of iterations). RunSet.advance holds the set's lock for
  a whole round, so two threads never advance one generator and every run gains one record per
  round: histories stay 1, 2, …, n and runs side by side keep the same count.

Live updates: `live(render)` is an st.fragment; while playing, each tick first calls render (the
iterations made so far), then advances every unfinished run by at least one iteration, more
while the tick's time budget (TICK_BUDGET) lasts, so fast solvers are not held to the screen's
pace and every iteration is still recorded and plotted by the next tick. The browser starts the
next tick when it has painted this one (see _pacer); run_every is only a slow fallback.
When all runs have stopped it pauses and reruns the whole app, which draws the last iterations.

The replay slider (1 … newest) exists only while not playing; a tick draws a look-alike in its
place instead. Streamlit derives a keyed slider's identity from its range: a slider redrawn on
every tick got a new identity each time, and Streamlit keeps a replaced element in the page
until the run ends (two sliders in the DOM for most of the run, and 0.3–0.5 s after Pause). A
slider with a fixed range keeps its identity, but then the browser echoes the values the server
set on earlier ticks back as moves of the slider (the view jumped back to an old iteration after
Pause). The look-alike has no identity, so Pause swaps it for a fresh slider at the newest
iteration.
"""
from __future__ import annotations

import contextlib
import gc
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import streamlit as st

import wlra_core as wc

# While playing, the browser paces the ticks: a tiny component (_pacer) acknowledges each tick once
# the browser has painted it, and the acknowledgement reruns the live fragment. With a timer alone
# (run_every = 0.05 s) the server ran ticks as fast as it could make them whatever the browser
# managed to draw; on a loaded machine the browser fell behind, Pause and the last updates took
# seconds to show, and once 500 messages waited in Streamlit's send queue the session was
# dropped (the page then stayed faded, "running", for good). The timer stays as a slow fallback
# in case an acknowledgement is lost.
TICK_SECONDS = 1.0

# Compute time per tick, spent after the tick has drawn (at least one round of iterations). A
# tick draws what the earlier ticks computed, then computes: the browser draws the update while
# the solvers work, and no element is stale meanwhile (Streamlit fades elements that stay stale
# for half a second; computing first, for 1.5 × the last screen update (0.12–0.8 s), left the
# pictures faded in 12–15 % of samples and gave 1.2–2.3 screen updates per second). Measured
# with benchmarks/app_fps.py, alternating: 0.06 s gave 8.1 screen updates per second and 15.6
# iterations per second, 0.1 s 6.6 and 21.4 (results/app_fps.md has the final figures).
TICK_BUDGET = 0.06

# Streamlit calls gc.collect(2) after every script and fragment run (config runner.postScriptGC).
# With numpy, scipy, pandas and plotly loaded that walks about 165 000 objects: 100–150 ms after
# every live tick here, as much as the tick's drawing and computing together. The first live view
# moves the objects alive by then (modules, mostly) to the collector's permanent generation
# (gc.freeze), so each collection walks only what was made since (about 1 000 objects, < 1 ms).
# Measured: app server CPU per screen update 190 → 100 ms, 3.5 → 4.9 updates per second.
# Frozen objects are still freed by reference counting, only never by the cycle collector.
_LONG_LIVED_FROZEN = False


def _freeze_long_lived_objects() -> None:
    global _LONG_LIVED_FROZEN
    if not _LONG_LIVED_FROZEN:
        gc.freeze()
        _LONG_LIVED_FROZEN = True


_PACER_JS = """
// Acknowledges a live tick once the browser has painted it (two animation frames after its data
// arrived, and after every element the tick drew before it): the trigger reruns the live
// fragment, so the next tick starts when the browser has caught up. Once per tick.
const acked = {};
export default function (component) {
  const { data, setTriggerValue } = component;
  if (!data || !data.active || acked[data.key] === data.tick) return;
  acked[data.key] = data.tick;
  requestAnimationFrame(() => requestAnimationFrame(() => setTriggerValue("drawn", data.tick)));
}
"""

# Nothing to see: its element takes no room (no gap after the fragment's last element either).
_pacer = st.components.v2.component(
    "wlra_explorer.tick_pacer", js=_PACER_JS, html='<div class="wlra-tick-pacer"></div>',
    css=".stElementContainer:has(.wlra-tick-pacer) { display: none; }", isolate_styles=False)


def _ignore() -> None:
    """The acknowledgement needs no callback: the rerun it causes is the point."""


# Factors kept for replay, per run set. Past this budget every other stored iteration is dropped
# (the newest always stays) and replay shows the nearest kept one at or before the asked one.
# A 256 px grey image, k = 20, four solvers, 100 iterations is 16 MB. It is per session, and a
# classroom server holds thirty or more (plus closed tabs, which Streamlit keeps for two minutes
# for a reconnect): 64 MiB each keeps that within a few GB.
FACTOR_BUDGET_BYTES = 64 * 2**20

INNER_KEYS = ("inner_iterations", "inner_iterations_max", "sketch_size", "residual", "exact_rows", "iterative_rows")


@dataclass
class Run:
    name: str
    steps: Iterator | None           # None before the first step of a run added later
    records: list[dict[str, Any]] = field(default_factory=list)
    factors: list[tuple[np.ndarray, np.ndarray] | None] = field(default_factory=list)  # per record;
    # None where dropped to stay within FACTOR_BUDGET_BYTES (see factors_at)
    stop_reason: str | None = None   # the library's reason, or "error"
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.stop_reason is not None

    @property
    def iterations(self) -> int:
        return len(self.records)

    def at(self, iteration: int) -> int | None:
        """Index of the record shown for `iteration` (the last one for a run that stopped earlier)."""
        if not self.records:
            return None
        return min(max(iteration, 1), len(self.records)) - 1

    def factors_at(self, iteration: int) -> tuple[int, np.ndarray, np.ndarray] | None:
        """(iteration, X, Y) kept for `iteration`, or for the nearest earlier one still kept."""
        index = self.at(iteration)
        if index is None:
            return None
        for i in range(index, -1, -1):
            if self.factors[i] is not None:
                return (self.records[i]["iteration"], *self.factors[i])
        i = next(i for i, f in enumerate(self.factors) if f is not None)
        return (self.records[i]["iteration"], *self.factors[i])


def _record(step: Any, measure: Callable[[Any], Mapping[str, float]] | None,
            previous: Mapping[str, Any] | None) -> dict[str, Any]:
    # "cumulative_seconds": this run's own compute time so far, the sum of its steps' `seconds`
    # (the x axis "by seconds"). Not `elapsed`: runs side by side advance in turns, so a step's
    # `elapsed` (wall time since wlra_core.iterate was called) also counts the other runs' turns
    # and any pause between Steps. The shared initialisation is in no step's `seconds`.
    so_far = (previous["cumulative_seconds"] if previous is not None else 0.0) + float(step.seconds)
    rec: dict[str, Any] = {
        "iteration": int(step.iteration),
        "objective": float(step.objective),
        "relative_objective": float(step.relative_objective),
        "seconds": float(step.seconds),
        "elapsed": float(step.elapsed),
        "cumulative_seconds": so_far,
    }
    inner = getattr(step, "inner", None) or {}
    for name in INNER_KEYS:
        value = inner.get(name)
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            rec[name] = float(value)
    if measure is not None:
        rec.update({k: float(v) for k, v in measure(step).items()})
    return rec


def _kept(A: np.ndarray) -> np.ndarray:
    """A factor as kept for replay: float32 (half the memory) unless its values are beyond float32's
    range (data near 1e150 has factors near 1e75), then float64."""
    A = np.asarray(A)
    return A.astype(np.float32) if not A.size or np.abs(A).max() < 1e37 else A.astype(np.float64)


@dataclass
class RunSet:
    """Named runs of one problem, started by `start(name) -> iterator of wlra_core.Step`."""

    signature: Any
    start: Callable[[str], Iterator]
    measure: Callable[[Any], Mapping[str, float]] | None = None
    context: Any = None                      # whatever the page needs to draw these runs
    runs: dict[str, Run] = field(default_factory=dict)
    factor_bytes: int = 0
    # Held for a whole round of `advance` (and by set_names): a run stopped by a newer click goes on
    # in its own thread until its next Streamlit call, and two threads must never advance one
    # generator or interleave their rounds.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def build(cls, signature: Any, names: Sequence[str], start: Callable[[str], Iterator],
              measure: Callable[[Any], Mapping[str, float]] | None = None, context: Any = None) -> RunSet:
        """Start every run (wlra_core validates here: InputError propagates to the caller)."""
        rs = cls(signature=signature, start=start, measure=measure, context=context)
        for name in names:
            rs.runs[name] = Run(name=name, steps=start(name))
        return rs

    def set_names(self, names: Sequence[str]) -> None:
        """Keep the runs still selected, add the new ones (started at their first step), in order."""
        with self.lock:
            self.runs = {name: self.runs.get(name) or Run(name=name, steps=None) for name in names}

    @property
    def done(self) -> bool:
        return all(run.done for run in self.runs.values())

    @property
    def iterations(self) -> int:
        return max((run.iterations for run in self.runs.values()), default=0)

    def advance(self) -> None:
        """One iteration of every unfinished run (each step recorded before anything else happens).

        The whole round holds the set's lock: no other thread advances these runs meanwhile."""
        with self.lock:
            self._advance()

    def wait_idle(self) -> None:
        """Return once no round is in progress (one a stopped script run may still be finishing)."""
        with self.lock:
            pass

    def _advance(self) -> None:
        for run in self.runs.values():
            if run.done:
                continue
            try:
                if run.steps is None:  # added after the set started: its clock starts now
                    run.steps = self.start(run.name)
                step = next(run.steps)
            except StopIteration:
                run.stop_reason = run.stop_reason or "stopped"
                run.steps = None
                continue
            except Exception as exc:  # a solver failure ends that run only, with a message
                run.stop_reason, run.error, run.steps = "error", f"{type(exc).__name__}: {exc}", None
                continue
            # the relative objective: the objective itself may be inf for finite, huge data (values
            # near 1e150 with large weights: beyond the float range, though the fit is fine)
            if not np.isfinite(step.relative_objective):
                run.stop_reason, run.steps = "error", None
                run.error = (f"the objective became {step.objective} at iteration {step.iteration}; "
                             "the run was stopped (try another k, a ridge, or another solver)")
                continue
            with np.errstate(all="ignore"):
                run.records.append(_record(step, self.measure, run.records[-1] if run.records else None))
            X, Y = _kept(step.X), _kept(step.Y)
            run.factors.append((X, Y))
            self.factor_bytes += X.nbytes + Y.nbytes
            if self.factor_bytes > FACTOR_BUDGET_BYTES:
                self._thin_factors()
            if getattr(step, "stop_reason", None):
                run.stop_reason, run.steps = step.stop_reason, None

    def _thin_factors(self) -> None:
        """Drop every other kept (X, Y) of every run, never a run's newest."""
        for run in self.runs.values():
            kept = [i for i, f in enumerate(run.factors) if f is not None][:-1]
            for i in kept[1::2]:
                X, Y = run.factors[i]
                self.factor_bytes -= X.nbytes + Y.nbytes
                run.factors[i] = None

    def advance_for(self, budget: float, between: Callable[[], None] | None = None) -> int:
        """Advance round after round until `budget` seconds are spent (at least one round).

        `between` is called after each round but the last: the live tick passes a Streamlit call
        there, so a tick superseded by a click stops at the end of a round, not of its budget."""
        start, rounds = time.perf_counter(), 0
        while not self.done:
            self.advance()
            rounds += 1
            if time.perf_counter() - start >= budget:
                break
            if between is not None:
                between()
        return rounds

    def histories(self) -> dict[str, list[dict[str, Any]]]:
        return {name: run.records for name, run in self.runs.items()}

    def history_rows(self) -> list[dict[str, Any]]:
        """All records, one row per (solver, iteration), for CSV export."""
        return [{"solver": name, **rec} for name, run in self.runs.items() for rec in run.records]


# --- rapid clicks (see the module docstring) ----------------------------------------------------

COMMANDS = ("play", "pause", "step", "reset")

# Clicks kept in the browser's log: any more between two runs of the page would be lost (the log
# numbers them, so `sync` would see the gap; ten a second for six seconds without one full run).
CLICK_LOG = 64

_RECORDER_JS = """
// Numbers every click on a page's Play/Pause, Step and Reset buttons (Streamlit keys <prefix>_play,
// _step, _reset), with what it asked for: "play" or "pause" is the label the user clicked, not
// the one the server drew last. The last CLICK_LOG clicks go to the server as one state value,
// which Streamlit sends with every later event: clicks it merges or drops still arrive, in order.
// One listener per tab; logs live on window, so that a re-imported module keeps counting, and
// restart when the server's session (epoch) changes.
const store = (window.__wlraClickRecorder ??= { logs: {}, send: {}, listening: false });
function kindOf(button, prefix) {
  if (button.closest(`.st-key-${prefix}_step`)) return "step";
  if (button.closest(`.st-key-${prefix}_reset`)) return "reset";
  if (button.closest(`.st-key-${prefix}_play`)) return button.textContent.includes("Pause") ? "pause" : "play";
  return null;
}
function record(event) {
  const button = event.target instanceof Element ? event.target.closest("button") : null;
  if (!button || button.disabled) return;   // Streamlit ignores a disabled button: so do we
  for (const [prefix, send] of Object.entries(store.send)) {
    const kind = kindOf(button, prefix);
    if (!kind) continue;
    const log = store.logs[prefix];
    log.n += 1;
    log.entries = [...log.entries, [log.n, kind]].slice(-LOG_LENGTH);
    send("clicks", { epoch: log.epoch, log: log.entries });
  }
}
export default function (component) {
  const { data, setStateValue } = component;
  if (!data) return;
  if (store.logs[data.prefix]?.epoch !== data.epoch) store.logs[data.prefix] = { epoch: data.epoch, n: 0, entries: [] };
  store.send[data.prefix] = setStateValue;
  if (!store.listening) {
    // Capture phase: before Streamlit's own handler, so the state value and the button's event
    // leave in the same batch.
    document.addEventListener("click", record, true);
    store.listening = true;
  }
}
""".replace("LOG_LENGTH", str(CLICK_LOG))

_click_recorder = st.components.v2.component(
    "wlra_explorer.click_recorder", js=_RECORDER_JS, html='<div class="wlra-click-recorder"></div>',
    css=".stElementContainer:has(.wlra-click-recorder) { display: none; }", isolate_styles=False)


@dataclass(eq=False)
class Controls:
    """One page's run state in one session: what the buttons asked for and the runs it acts on.

    Everything here changes under `lock`, in plain Python (no Streamlit call, so a newer click
    cannot stop a change half-way): button callbacks `push`, `sync` carries commands out one at a
    time, the live tick pauses at the end. `epoch` names this object for the click recorder."""

    epoch: str = field(default_factory=lambda: secrets.token_hex(8))
    runs: RunSet | None = None
    playing: bool = False
    follow: bool = True             # the view follows the newest iteration
    queue: list[str] = field(default_factory=list)   # callbacks' commands, used without a click log
    clicks_done: int = 0            # the click log's numbers carried out so far
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def push(self, command: str) -> None:
        """A button's on_click."""
        with self.lock:
            self.queue.append(command)

    def click_log(self, recorded: Any) -> list[tuple[int, str]] | None:
        """The recorder's state as [(number, command)] in click order; None if it is missing or
        comes from another session (epoch)."""
        if not isinstance(recorded, Mapping) or recorded.get("epoch") != self.epoch:
            return None
        entries = []
        for entry in recorded.get("log") or ():
            try:
                number, command = int(entry[0]), str(entry[1])
            except (TypeError, ValueError, IndexError, KeyError):
                continue
            if command in COMMANDS:
                entries.append((number, command))
        return sorted(entries)

    def next_command(self, log: list[tuple[int, str]] | None) -> tuple[str, int | None] | None:
        """The oldest command not carried out: (command, click number), or (command, None) from the
        queue. With a click log the queue is dropped: it holds the same clicks, minus the ones
        Streamlit merged or dropped."""
        if log is not None:
            self.queue.clear()
            return next(((command, number) for number, command in log if number > self.clicks_done), None)
        return (self.queue[0], None) if self.queue else None

    def mark_done(self, number: int | None) -> None:
        if number is None:
            self.queue.pop(0)
        else:
            self.clicks_done = max(self.clicks_done, number)

    def pending(self, log: list[tuple[int, str]] | None) -> bool:
        return bool(self.queue) or (log is not None and any(n > self.clicks_done for n, _ in log))


@dataclass(frozen=True)
class View:
    """What a render callback gets: the runs, the iteration to show, whether it is live."""

    runs: RunSet | None
    iteration: int
    playing: bool
    stale: bool   # settings changed since these runs started


class RunController:
    """Buttons, commands and the live fragment for one page's RunSet (see the module docstring)."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        if self.key("controls") not in st.session_state:
            st.session_state[self.key("controls")] = Controls()
        for name, value in (("runs", None), ("playing", False), ("ticks", 0)):
            st.session_state.setdefault(self.key(name), value)
        self._box: Any = None          # where `buttons` reserved their place
        self._drawn = False
        self._log: list[tuple[int, str]] | None = None   # this run's click log

    def key(self, name: str) -> str:
        return f"{self.prefix}_{name}"

    # --- state ------------------------------------------------------------------------------
    @property
    def controls(self) -> Controls:
        return st.session_state[self.key("controls")]

    @property
    def runs(self) -> RunSet | None:
        return self.controls.runs

    @property
    def playing(self) -> bool:
        return self.controls.playing

    def _set(self, name: str, value: Any) -> None:
        st.session_state[self.key(name)] = value

    def _publish(self, controls: Controls) -> None:
        """Copy the runs and playing where readers (tests, other modules) look for them."""
        self._set("runs", controls.runs)
        self._set("playing", controls.playing)

    def _checkpoint(self) -> None:
        """A Streamlit call: where a run superseded by a newer click stops (StopException)."""
        st.session_state.get(self.key("controls"))

    def _recorded_log(self, controls: Controls) -> list[tuple[int, str]] | None:
        """The click log as this run received it, read from session state (inside the fragment)."""
        try:
            recorded = st.session_state[self.key("clicks")]
        except (KeyError, AttributeError):
            return None
        return controls.click_log(recorded.get("clicks") if isinstance(recorded, Mapping) else None)

    # --- buttons (outside the fragment: changing run_every needs a full rerun) -----------------
    def buttons(self, container: Any = None) -> None:
        """Reserve the place of Play / Pause, Step and Reset (keys `<prefix>_play`, `_step`,
        `_reset`) and read the click log. `sync` draws the buttons once the commands are carried
        out (drawn before, they showed the state before the click)."""
        controls = self.controls
        with container if container is not None else contextlib.nullcontext():
            self._box = st.container(horizontal=True, gap="small")
            recorded = _click_recorder(key=self.key("clicks"), on_clicks_change=_ignore, height=0,
                                       data={"prefix": self.prefix, "epoch": controls.epoch})
        self._drawn = False
        self._log = controls.click_log(recorded.get("clicks"))

    def _draw_buttons(self, finished: bool = False) -> None:
        """The buttons for the state the commands left. `finished`: every run has stopped and the
        settings are those they ran with, so Play has nothing to do (disabled: a Pause clicked as
        the runs stopped used to land on Play and start them over). Step stays enabled, a click
        leaves stopped runs as they are (the rows say why they stopped). No `help` on these: a
        button with help is drawn twice in the DOM (tooltip target and measure), which breaks the
        tests' `.st-key-<prefix>_play button` locators."""
        if self._box is None or self._drawn:
            return
        self._drawn = True
        controls = self.controls
        playing = controls.playing
        with self._box:
            if playing:
                st.button("Pause", key=self.key("play"), icon=":material/pause:", type="primary",
                          on_click=controls.push, args=("pause",))
            else:
                st.button("Play", key=self.key("play"), icon=":material/play_arrow:", type="primary",
                          on_click=controls.push, args=("play",), disabled=finished)
            st.button("Step", key=self.key("step"), icon=":material/skip_next:", on_click=controls.push,
                      args=("step",), disabled=playing)
            st.button("Reset", key=self.key("reset"), icon=":material/replay:", on_click=controls.push,
                      args=("reset",))

    # --- commands ---------------------------------------------------------------------------
    def sync(
        self,
        signature: Any,
        names: Sequence[str],
        start: Callable[[str], Iterator],
        *,
        measure: Callable[[Any], Mapping[str, float]] | None = None,
        context: Any = None,
    ) -> str | None:
        """Carry out the commands not yet carried out, in click order, for the current problem;
        then draw the buttons. Returns an error message or None."""
        controls, log = self.controls, self._log
        messages: list[str] = []
        while True:
            with controls.lock:
                command = controls.next_command(log)
                if command is None:
                    break
                message = self._carry_out(controls, command[0], signature, names, start, measure, context)
                controls.mark_done(command[1])
            if message and message not in messages:
                messages.append(message)
            self._checkpoint()  # a newer click stops this run here, never inside a command
        with controls.lock:
            runs = controls.runs
            stale = runs is None or runs.signature != signature
            if controls.playing and stale and names:  # settings changed while playing: start over
                message = self._build(controls, signature, names, start, measure, context)
                if message and message not in messages:
                    messages.append(message)
            elif runs is not None and not stale and names and list(runs.runs) != list(names):
                runs.set_names(names)
            runs = controls.runs
        if runs is not None:
            runs.wait_idle()  # a stopped tick finishing its round: draw after it
            messages += [f"{run.name}: {run.error}" for run in runs.runs.values() if run.error]
        self._publish(controls)
        self._draw_buttons(finished=runs is not None and runs.done and not self.is_stale(signature))
        return "; ".join(messages) or None

    @staticmethod
    def _build(controls: Controls, signature: Any, names: Sequence[str], start: Callable[[str], Iterator],
               measure: Callable[[Any], Mapping[str, float]] | None, context: Any) -> str | None:
        try:
            controls.runs = RunSet.build(signature, names, start, measure, context)
        except wc.InputError as exc:
            controls.playing = False
            return str(exc)
        controls.follow = True
        return None

    def _carry_out(self, controls: Controls, command: str, signature: Any, names: Sequence[str],
                   start: Callable[[str], Iterator], measure: Callable[[Any], Mapping[str, float]] | None,
                   context: Any) -> str | None:
        """One command, under controls.lock, without Streamlit calls."""
        if command == "reset":
            controls.runs, controls.playing, controls.follow = None, False, True
            return None
        if command == "pause":
            controls.playing = False
            return None
        if not names:
            controls.playing = False
            return "Select at least one solver to run."
        runs = controls.runs
        if runs is None or runs.signature != signature:  # no runs yet, or a new problem: start over
            if (message := self._build(controls, signature, names, start, measure, context)) is not None:
                return message
        elif list(runs.runs) != list(names):
            runs.set_names(names)
        elif runs.done:
            # Nothing left to run. Play is drawn disabled then, so a Play click here was made just
            # before the runs stopped (or as a Step finished them): starting over threw the
            # finished runs away. Reset starts over.
            return None
        controls.follow = True
        if command == "play":
            controls.playing = True
        else:
            controls.runs.advance()
        return None

    def is_stale(self, signature: Any) -> bool:
        return self.runs is not None and self.runs.signature != signature

    # --- the live fragment ------------------------------------------------------------------
    def live(self, render: Callable[[View], None], signature: Any = None) -> None:
        """Render the runs, then, while playing, advance them (an st.fragment on a timer)."""
        self._draw_buttons()  # in case the page did not call sync
        controls = self.controls
        playing = controls.playing
        _freeze_long_lived_objects()

        def _body() -> None:
            if controls.playing != playing or controls.pending(self._recorded_log(controls)):
                # A click that arrived with a rerun of this fragment only: the browser sends
                # widget updates made in the same moment as one batch, scoped to the first one's
                # fragment, and a tick's acknowledgement may be that one. Only a full run redraws
                # the buttons and carries out the command.
                st.rerun()
            runs = controls.runs
            if controls.playing and runs is not None and not runs.done and runs.iterations == 0:
                runs.advance_for(TICK_BUDGET, between=self._checkpoint)  # just started: nothing to draw yet
            render(self.view(signature))
            ticking = controls.playing and runs is not None and not runs.done
            tick = st.session_state[self.key("ticks")] + ticking
            # Last element of the tick: the browser acknowledges it after drawing all the others.
            _pacer(key=self.key("pacer"), data={"key": self.prefix, "tick": tick, "active": ticking},
                   on_drawn_change=_ignore, height=0)
            if ticking:
                self._set("ticks", tick)
                runs.advance_for(TICK_BUDGET, between=self._checkpoint)
            if controls.playing and runs is not None and runs.done:
                with controls.lock:
                    finished = controls.playing and controls.runs is runs
                    if finished:
                        controls.playing = False
                if finished:
                    self._publish(controls)
                    st.rerun()  # the whole app: Play turns back into a button, run_every stops

        st.fragment(_body, run_every=TICK_SECONDS if playing else None)()

    def view(self, signature: Any = None) -> View:
        controls = self.controls
        runs = controls.runs
        newest = runs.iterations if runs is not None else 0
        replay_key = self.key("replay")
        if controls.playing or controls.follow or replay_key not in st.session_state:
            iteration = newest
        else:
            iteration = min(int(st.session_state[replay_key]), newest)
        stale = runs is not None and signature is not None and runs.signature != signature
        return View(runs=runs, iteration=iteration, playing=controls.playing, stale=stale)

    def replay_slider(self, view: View, container: Any = None) -> int:
        """Slider over past iterations (key `<prefix>_replay`); returns the iteration to show.

        Shown from 2 iterations on. While playing, a look-alike without a widget stands in its
        place (same height, knob at the newest end): see the module docstring."""
        newest = view.runs.iterations if view.runs is not None else 0
        if newest < 2:
            return view.iteration
        box = container if container is not None else st
        replay_key = self.key("replay")
        if view.playing:
            box.html(replay_placeholder_html())
            return view.iteration
        controls = self.controls
        if controls.follow or st.session_state.get(replay_key, newest) > newest:
            st.session_state[replay_key] = newest

        def _moved() -> None:
            controls.follow = st.session_state[replay_key] >= newest

        value = box.slider("Replay iteration", 1, newest, key=replay_key, on_change=_moved,
                           help="Show the reconstructions and the chart marker at any past iteration. "
                                "Back at the newest iteration the view follows the run again.")
        return int(value)


MUTED = "rgba(49,51,63,0.4)"  # Streamlit's colour for a disabled widget's label and track


def replay_placeholder_html() -> str:
    """What stands in for the replay slider while playing: its label, a full track and the knob at
    the newest end, 68 px high like the slider, so that Pause does not move the page. No number:
    the counter below says which iteration is shown."""
    return (
        '<div data-testid="replay-placeholder" title="Pause to replay any iteration so far" '
        'style="height:68px;position:relative;box-sizing:border-box">'
        f'<div style="font-size:14px;line-height:22.4px;height:24px;color:{MUTED}">'
        "Replay iteration · after Pause</div>"
        f'<div style="position:absolute;left:0;right:0;top:48px;height:4px;border-radius:2px;background:{MUTED}"></div>'
        f'<div style="position:absolute;right:0;top:42px;width:16px;height:16px;border-radius:50%;'
        f'background:{MUTED}"></div></div>'
    )


# --- keyboard shortcuts (Play/Pause, Step, Reset) -------------------------------------------------

# Keys P, N and X: Streamlit itself listens for R (rerun) and C (clear caches), and the browser for
# Space and Enter on the focused control. Ignored while typing in a field or with a modifier held.
SHORTCUTS = {"p": "play", "n": "step", "x": "reset"}
SHORTCUTS_HELP = "Keys: **P** Play/Pause · **N** Step · **X** Reset"

_SHORTCUTS_JS = """
// Presses this page's Play/Pause, Step or Reset button for a key: a real click, so the click
// recorder numbers it like a mouse click. Labels the mask canvas (an iframe) for screen readers.
export default function (component) {
  const { data } = component;
  if (!data) return;
  window.__wlraShortcuts = data;
  if (!window.__wlraShortcutsOn) {
    window.__wlraShortcutsOn = true;
    document.addEventListener("keydown", (event) => {
      const d = window.__wlraShortcuts;
      const t = event.target;
      if (!d || event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
      if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
      const name = d.keys[event.key.toLowerCase()];
      if (!name) return;
      const button = document.querySelector(`.st-key-${d.prefix}_${name} button`);
      if (!button || button.disabled) return;
      event.preventDefault();
      button.click();
    });
  }
  if (data.canvas_label) {
    // the drawing canvas lives in the component's shadow root, under the widget's st-key class
    const walk = (root, found) => {
      root.querySelectorAll("canvas.upper-canvas").forEach((c) => found.push(c));
      root.querySelectorAll("*").forEach((e) => { if (e.shadowRoot) walk(e.shadowRoot, found); });
      return found;
    };
    const label = () => document.querySelectorAll(`[class*="st-key-${data.canvas_key}"]`).forEach((box) =>
      walk(box, []).forEach((c) => { c.setAttribute("role", "img"); c.setAttribute("aria-label", data.canvas_label); }));
    label();   // and again every 2 s: the canvas mounts later, and remounts after Clear
    if (!window.__wlraCanvasLabel) window.__wlraCanvasLabel = setInterval(() => {
      const d = window.__wlraShortcuts;
      if (d && d.canvas_label) document.querySelectorAll(`[class*="st-key-${d.canvas_key}"]`).forEach((box) =>
        walk(box, []).forEach((c) => { c.setAttribute("role", "img"); c.setAttribute("aria-label", d.canvas_label); }));
    }, 2000);
  }
}
"""

_shortcut_keys = st.components.v2.component(
    "wlra_explorer.run_shortcuts", js=_SHORTCUTS_JS, html='<div class="wlra-run-shortcuts"></div>',
    css=".stElementContainer:has(.wlra-run-shortcuts) { display: none; }", isolate_styles=False)


def shortcuts(prefix: str, *, canvas_label: str | None = None, canvas_key: str | None = None) -> str:
    """Listen for the shortcut keys on this page (buttons keyed `<prefix>_play`, `_step`, `_reset`)
    and give the drawing canvas of the widget whose key starts with `canvas_key` an ARIA label;
    returns the help text naming the keys."""
    _shortcut_keys(key=f"{prefix}_shortcuts", data={"prefix": prefix, "keys": SHORTCUTS,
                                                     "canvas_label": canvas_label, "canvas_key": canvas_key},
                   height=0)
    return SHORTCUTS_HELP
