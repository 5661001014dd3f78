"""The run controller: Play / Pause / Step / Reset over a dict of named solver runs.

State layout (all in st.session_state, under `<prefix>_…`; see RunController.key):

    <prefix>_runs     RunSet | None   the runs on screen
    <prefix>_playing  bool            Play pressed and not yet paused or finished
    <prefix>_command  str | None      "step" / "play" / "reset", queued by a button callback
    <prefix>_replay   int             the iteration shown (slider; follows the newest while playing)
    <prefix>_follow   bool            whether the slider follows the newest iteration

A RunSet holds one Run per name. A Run keeps its live generator (wlra_core.iterate; fine within
a session, never pickled) and, per iteration, a plain record (numbers only, for charts and CSV;
"cumulative_seconds" is the run's own compute time, see _record)
and the factors X, Y as float32 (for replay and exports; never images; thinned past
FACTOR_BUDGET_BYTES, read them with Run.factors_at). Every run of a set comes
from the same `start(name)` factory, so they share M, W, k, init and seed: the same start.

The page describes the problem by a signature (data identity + settings except the solver
names). Buttons only queue a command; `sync` carries it out during the page's run, when the
current problem is known:
- Step: advance every unfinished run by one iteration;
- Play: start ticking; Pause: stop; Reset: forget the runs;
- Step or Play with a changed signature (or no runs yet) builds a new RunSet first. If building
  fails (wlra_core.InputError: an impossible k, …) the old runs stay on screen and the message
  is returned for st.error. While playing, a changed signature restarts at once.
- Changing only the solver names adds fresh runs and drops deselected ones.

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

import gc
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
# A 256 px grey image, k = 20, four solvers, 100 iterations is 16 MB.
FACTOR_BUDGET_BYTES = 256 * 2**20

INNER_KEYS = ("inner_iterations", "inner_iterations_max", "sketch_size", "residual", "exact_rows")


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


@dataclass
class RunSet:
    """Named runs of one problem, started by `start(name) -> iterator of wlra_core.Step`."""

    signature: Any
    start: Callable[[str], Iterator]
    measure: Callable[[Any], Mapping[str, float]] | None = None
    context: Any = None                      # whatever the page needs to draw these runs
    runs: dict[str, Run] = field(default_factory=dict)
    factor_bytes: int = 0

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
        self.runs = {name: self.runs.get(name) or Run(name=name, steps=None) for name in names}

    @property
    def done(self) -> bool:
        return all(run.done for run in self.runs.values())

    @property
    def iterations(self) -> int:
        return max((run.iterations for run in self.runs.values()), default=0)

    def advance(self) -> None:
        """One iteration of every unfinished run (each step recorded before anything else happens)."""
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
            if not np.isfinite(step.objective):
                run.stop_reason, run.steps = "error", None
                run.error = (f"the objective became {step.objective} at iteration {step.iteration}; "
                             "the run was stopped (try another k, a ridge, or another solver)")
                continue
            with np.errstate(all="ignore"):
                run.records.append(_record(step, self.measure, run.records[-1] if run.records else None))
            X, Y = np.asarray(step.X, dtype=np.float32), np.asarray(step.Y, dtype=np.float32)
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

    def advance_for(self, budget: float) -> int:
        """Advance round after round until `budget` seconds are spent (at least one round)."""
        start, rounds = time.perf_counter(), 0
        while not self.done:
            self.advance()
            rounds += 1
            if time.perf_counter() - start >= budget:
                break
        return rounds

    def histories(self) -> dict[str, list[dict[str, Any]]]:
        return {name: run.records for name, run in self.runs.items()}

    def history_rows(self) -> list[dict[str, Any]]:
        """All records, one row per (solver, iteration), for CSV export."""
        return [{"solver": name, **rec} for name, run in self.runs.items() for rec in run.records]


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
        for name, value in (("runs", None), ("playing", False), ("command", None),
                            ("follow", True), ("ticks", 0)):
            st.session_state.setdefault(self.key(name), value)

    def key(self, name: str) -> str:
        return f"{self.prefix}_{name}"

    # --- state ------------------------------------------------------------------------------
    @property
    def runs(self) -> RunSet | None:
        return st.session_state[self.key("runs")]

    @property
    def playing(self) -> bool:
        return bool(st.session_state[self.key("playing")])

    def _set(self, name: str, value: Any) -> None:
        st.session_state[self.key(name)] = value

    # --- buttons (outside the fragment: changing run_every needs a full rerun) -----------------
    def _queue(self, command: str) -> None:
        self._set("command", command)
        if command == "play":
            self._set("playing", True)
            self._set("follow", True)
        elif command in ("pause", "reset"):
            self._set("playing", False)

    def buttons(self, container: Any = None) -> None:
        """Play / Pause, Step and Reset; keys `<prefix>_play`, `<prefix>_step`, `<prefix>_reset`."""
        box = container if container is not None else st
        with box.container(horizontal=True, gap="small"):
            if self.playing:
                st.button("Pause", key=self.key("play"), icon=":material/pause:", type="primary",
                          on_click=self._queue, args=("pause",))
            else:
                st.button("Play", key=self.key("play"), icon=":material/play_arrow:", type="primary",
                          on_click=self._queue, args=("play",))
            st.button("Step", key=self.key("step"), icon=":material/skip_next:", on_click=self._queue,
                      args=("step",), disabled=self.playing)
            st.button("Reset", key=self.key("reset"), icon=":material/replay:", on_click=self._queue,
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
        """Carry out the queued command for the current problem; returns an error message or None."""
        command = st.session_state[self.key("command")]
        self._set("command", None)
        runs = self.runs
        if command == "reset":
            self._set("runs", None)
            self._set("follow", True)
            return None
        if not names:
            if command in ("step", "play"):
                self._set("playing", False)
                return "Select at least one solver to run."
            return None
        stale = runs is None or runs.signature != signature
        wants_run = command in ("step", "play") or (self.playing and stale)
        restart = stale or (command == "play" and runs.done)  # Play on finished runs starts over
        if restart and wants_run:
            try:
                runs = RunSet.build(signature, names, start, measure, context)
            except wc.InputError as exc:
                self._set("playing", False)
                return str(exc)
            self._set("runs", runs)
            self._set("follow", True)
        elif runs is not None and not stale and list(runs.runs) != list(names):
            runs.set_names(names)
        if runs is None or (stale and not wants_run):
            return None
        if command == "step":
            runs.advance()
            self._set("follow", True)
        errors = [f"{run.name}: {run.error}" for run in runs.runs.values() if run.error]
        return "; ".join(errors) or None

    def is_stale(self, signature: Any) -> bool:
        return self.runs is not None and self.runs.signature != signature

    # --- the live fragment ------------------------------------------------------------------
    def live(self, render: Callable[[View], None], signature: Any = None) -> None:
        """Render the runs, then, while playing, advance them (an st.fragment on a timer)."""
        playing = self.playing
        _freeze_long_lived_objects()

        def _body() -> None:
            if self.playing != playing or st.session_state[self.key("command")] is not None:
                # A Play / Pause / Step / Reset click that arrived with a rerun of this fragment
                # only: the browser sends widget updates made in the same moment as one batch,
                # scoped to the first one's fragment, and a tick's acknowledgement may be that
                # one. Only a full run redraws the buttons and carries out the command.
                st.rerun()
            runs = self.runs
            if self.playing and runs is not None and not runs.done and runs.iterations == 0:
                runs.advance_for(TICK_BUDGET)  # just started: nothing to draw yet (empty charts)
            render(self.view(signature))
            ticking = self.playing and runs is not None and not runs.done
            tick = st.session_state[self.key("ticks")] + ticking
            # Last element of the tick: the browser acknowledges it after drawing all the others.
            _pacer(key=self.key("pacer"), data={"key": self.prefix, "tick": tick, "active": ticking},
                   on_drawn_change=_ignore, height=0)
            if ticking:
                self._set("ticks", tick)
                runs.advance_for(TICK_BUDGET)
            if self.playing and runs is not None and runs.done:
                self._set("playing", False)
                st.rerun()  # the whole app: Play turns back into a button, run_every stops

        st.fragment(_body, run_every=TICK_SECONDS if playing else None)()

    def view(self, signature: Any = None) -> View:
        runs = self.runs
        newest = runs.iterations if runs is not None else 0
        replay_key = self.key("replay")
        if self.playing or st.session_state[self.key("follow")] or replay_key not in st.session_state:
            iteration = newest
        else:
            iteration = min(int(st.session_state[replay_key]), newest)
        stale = runs is not None and signature is not None and runs.signature != signature
        return View(runs=runs, iteration=iteration, playing=self.playing, stale=stale)

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
        if st.session_state[self.key("follow")] or st.session_state.get(replay_key, newest) > newest:
            st.session_state[replay_key] = newest

        def _moved() -> None:
            self._set("follow", st.session_state[replay_key] >= newest)

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
