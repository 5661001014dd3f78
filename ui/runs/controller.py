"""The run controller: Play / Pause / Step / Reset over a page's RunSet, and the live fragment.

State layout (in st.session_state, under `<prefix>_…`; see RunController.key):

    <prefix>_controls  Controls        the runs, playing, follow and the commands not yet carried
                                       out: one object, changed under its lock
    <prefix>_runs      RunSet | None   the runs on screen (a copy of Controls.runs, for readers)
    <prefix>_playing   bool            Play pressed and not yet paused or finished (a copy too)
    <prefix>_clicks    click recorder  the browser's numbered log of button clicks
    <prefix>_replay    int             the iteration shown (slider; follows the newest while playing)
    <prefix>_ticks     int             live ticks so far (the pacer's tick number)

Buttons only record a command; `sync` carries the commands out, in click order, during the page's
run, when the current problem (its signature) is known, and then draws the buttons:
- Step: advance every unfinished run by one iteration, once per click;
- Play: start ticking; Pause: stop; Reset: forget the runs;
- Step or Play with a changed signature (or no runs yet) builds a new RunSet first; if building
  fails (wlra_core.InputError) the old runs stay and the message is returned. While playing, a
  changed signature restarts at once; changing only the solver names adds and drops runs;
- when every run has stopped and the settings are unchanged, Play is disabled.

Streamlit merges, drops and mislabels rapid clicks, so the browser numbers them (Controls) and
every change to the run state happens under one lock, with no Streamlit call inside a command.

Live updates: `live(render)` is an st.fragment; while playing, each tick renders, then advances
the runs for TICK_BUDGET seconds; the browser acknowledges each painted tick (the pacer), which
starts the next one. The replay slider exists only while paused; a tick draws a look-alike
without a widget identity instead, so Pause swaps in a fresh slider at the newest iteration.
"""
from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import streamlit as st

import wlra_core as wc
from ui.js import component_js
from ui.runs.clicks import CLICK_LOG, Controls
from ui.runs.runset import RunSet, View


def _js(name: str) -> str:
    return component_js(__file__, name)


# While playing, the browser paces the ticks (the pacer acknowledges each painted tick), so the
# server never outruns what the browser can draw; the timer is only a fallback for a lost ack.
TICK_SECONDS = 1.0

# Compute time per tick, spent after the tick has drawn (at least one round of iterations): the
# browser draws while the solvers work; benchmarks/results/app_fps.md compares budgets.
TICK_BUDGET = 0.06

# Streamlit runs gc.collect(2) after every script and fragment run; freezing the objects alive at
# the first live view (modules, mostly) keeps each collection to what a tick made. Frozen objects
# are still freed by reference counting.
_LONG_LIVED_FROZEN = False


def _freeze_long_lived_objects() -> None:
    global _LONG_LIVED_FROZEN
    if not _LONG_LIVED_FROZEN:
        gc.freeze()
        _LONG_LIVED_FROZEN = True


# Nothing to see: its element takes no room (no gap after the fragment's last element either).
_pacer = st.components.v2.component(
    "wlra_explorer.tick_pacer", js=_js("pacer.js"), html='<div class="wlra-tick-pacer"></div>',
    css=".stElementContainer:has(.wlra-tick-pacer) { display: none; }", isolate_styles=False)


def _ignore() -> None:
    """The acknowledgement needs no callback: the rerun it causes is the point."""


_click_recorder = st.components.v2.component(
    "wlra_explorer.click_recorder", js=_js("click_recorder.js").replace("LOG_LENGTH", str(CLICK_LOG)),
    html='<div class="wlra-click-recorder"></div>',
    css=".stElementContainer:has(.wlra-click-recorder) { display: none; }", isolate_styles=False)


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
        settings are those they ran with, so Play has nothing to do (disabled, so that a Pause
        clicked as the runs stop cannot land on Play and start them over). Step stays enabled, a click
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
