"""The run controller (ui/runs/controller.py) under rapid clicks: every click carried out once, in order.

What the browser measurements showed: Streamlit merges clicks made
while the page is busy into one event, and with runner.fastReruns a newer click stops the run of
the previous one, after its button callback but before `sync`, or before the callback. These
tests play those sequences on a small page with fake solvers:

- callbacks whose runs were stopped before `sync` (several Step callbacks, then one `sync`);
- a run stopped between two commands, and a tick stopped between two rounds;
- the browser's click log (the hidden click recorder), which brings clicks Streamlit merged or
  dropped; here a stand-in recorder returns the log a browser would have sent;
- a Pause clicked as the runs finish, and Play clicked twice;
- two threads advancing one RunSet (a stopped run goes on in its own thread until its next
  Streamlit call): every history stays 1, 2, …, n with the same count for every run.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from _apptest import run_page
from streamlit.runtime.scriptrunner_utils.exceptions import StopException
from streamlit.testing.v1 import AppTest

from ui.runs import controller as run_module
from ui.runs import RunSet
from ui.runs.controller import RunController

INPAINTING = str(Path(__file__).resolve().parents[2] / "views" / "inpainting.py")

# A page with the controller over fake solvers. Session-state inputs: "max_iter" (each fake run
# stops there), "pushed" (commands of button callbacks whose runs were stopped before `sync`),
# "stop_before_sync" (this run is stopped after its callbacks, before `sync`).
SCRIPT = """
import time

import numpy as np
import streamlit as st
from ui.runs.controller import RunController


def fake_steps(n):
    for i in range(1, n + 1):
        time.sleep(0.002)  # a live tick (0.06 s) makes a dozen rounds, not all of them
        yield type("Step", (), {"iteration": i, "objective": 1.0 / i, "relative_objective": 1.0 / i,
                                "seconds": 0.001, "elapsed": 0.001 * i, "X": np.full((3, 2), float(i)),
                                "Y": np.ones((4, 2)), "inner": {},
                                "stop_reason": "max_iter reached" if i == n else None})()


n = st.session_state.setdefault("max_iter", 1000)
controller = RunController("t")
controller.buttons()
for command in st.session_state.pop("pushed", []):
    controller.controls.push(command)
if st.session_state.pop("stop_before_sync", False):
    st.stop()
message = controller.sync(("problem", n), ["a", "b"], lambda name: fake_steps(n))
if message:
    st.error(message)
controller.live(lambda view: st.markdown(f"Iteration {view.iteration}"), ("problem", n))
"""


def app(max_iter: int = 1000) -> AppTest:
    at = AppTest.from_string(SCRIPT, default_timeout=30)
    at.session_state["max_iter"] = max_iter
    return at.run()


def histories(at: AppTest) -> dict[str, list[int]]:
    runs = at.session_state["t_runs"]
    return {} if runs is None else {name: [r["iteration"] for r in run.records] for name, run in runs.runs.items()}


def assert_consistent(at: AppTest, iterations: int) -> None:
    """Every run at `iterations`, with the history 1 … iterations, and the page says so."""
    assert not at.exception and not at.error
    assert histories(at) == {"a": list(range(1, iterations + 1)), "b": list(range(1, iterations + 1))}
    assert at.markdown[-1].value == f"Iteration {iterations}"


def click(at: AppTest, button: str, stop_before_sync: bool = False) -> AppTest:
    if stop_before_sync:
        at.session_state["stop_before_sync"] = True
    return at.button(key=f"t_{button}").click().run()


def interrupted_callbacks(at: AppTest, *commands: str) -> AppTest:
    """Button callbacks (Controls.push, as Streamlit calls them) of runs stopped before `sync`
    (such a run draws no buttons: the next click is a callback too)."""
    at.session_state["pushed"] = list(commands)
    at.session_state["stop_before_sync"] = True
    return at.run()


def delivered(at: AppTest, *commands: str) -> AppTest:
    """Button callbacks of a run that goes on to `sync`."""
    at.session_state["pushed"] = list(commands)
    return at.run()


class Recorder:
    """Stands in for the hidden click recorder: returns the log a browser would have sent."""

    def __init__(self):
        self.commands: list[str] = []   # every click so far, in order
        self.epoch: str | None = None   # None: this session's epoch

    def __call__(self, *, key, data, on_clicks_change, height):
        log = [[n, command] for n, command in enumerate(self.commands, start=1)][-run_module.CLICK_LOG:]
        return {"clicks": {"epoch": self.epoch or data["epoch"], "log": log} if self.commands else None}


@pytest.fixture()
def recorder(monkeypatch) -> Recorder:
    fake = Recorder()
    monkeypatch.setattr(run_module, "_click_recorder", fake)
    return fake


# --- clicks through the button callbacks (no click log: AppTest, or before the recorder loads) ---

def test_step_callbacks_of_interrupted_runs_each_advance_one_iteration():
    """A command kept as one value was overwritten: four Step callbacks before one sync gave one
    iteration."""
    at = click(app(), "step", stop_before_sync=True)   # the callback ran, sync did not
    assert histories(at) == {}
    at = interrupted_callbacks(at, "step", "step")      # two more, also stopped before sync
    at = delivered(at, "step")                          # the fourth, and a sync
    assert_consistent(at, 4)
    at = click(at, "step")
    assert_consistent(at, 5)


def test_queued_commands_are_carried_out_in_click_order():
    at = click(app(), "step")
    at = click(at, "step")
    assert_consistent(at, 2)
    # Step, Step, Reset, Step, all before one sync: two more on the old runs, then a fresh start.
    at = interrupted_callbacks(at, "step", "step", "reset")
    at = delivered(at, "step")
    assert_consistent(at, 1)
    assert at.session_state["t_playing"] is False


def test_play_then_pause_queued_before_one_sync_ends_paused_with_the_play_label():
    at = interrupted_callbacks(app(), "step", "play")
    at = delivered(at, "pause")
    assert_consistent(at, 1)
    assert at.session_state["t_playing"] is False
    assert at.button(key="t_play").label == "Play" and not at.button(key="t_step").disabled


def test_a_run_stopped_between_two_commands_leaves_the_rest_to_the_next_run(monkeypatch):
    at = interrupted_callbacks(app(), "step", "step", "step")
    calls = []

    def stop_once(self):
        calls.append(1)
        if len(calls) == 1:
            raise StopException()  # a newer click arrived: Streamlit stops this run here

    monkeypatch.setattr(RunController, "_checkpoint", stop_once)
    at.run()                       # carries out the first Step, then stops
    runs = at.session_state["t_controls"].runs
    assert {name: run.iterations for name, run in runs.runs.items()} == {"a": 1, "b": 1}
    at.run()                       # the next run carries out the other two, once each
    assert_consistent(at, 3)


# --- clicks through the browser's click log --------------------------------------------------

def test_clicks_streamlit_merged_are_counted_from_the_click_log(recorder):
    """Ten clicks, one event (the browser sent them as one batch): ten iterations, not one."""
    at = app()
    recorder.commands = ["step"] * 10
    at = click(at, "step")              # the one callback Streamlit delivered
    assert_consistent(at, 10)
    at.run()                            # the same log again: nothing left to carry out
    assert_consistent(at, 10)
    recorder.commands += ["step"] * 3   # three more, whose events were all dropped
    at.run()                            # a later event (any widget) brings them
    assert_consistent(at, 13)


def test_a_click_log_from_another_session_is_ignored(recorder):
    at = app()
    recorder.commands, recorder.epoch = ["step"] * 5, "another session"
    at = click(at, "step")              # the callback's command counts, the foreign log does not
    assert_consistent(at, 1)


def test_the_click_log_keeps_the_order_of_steps_resets_and_plays(recorder):
    at = app()
    recorder.commands = ["step", "step", "step", "reset", "step", "step"]
    at = click(at, "step")
    assert_consistent(at, 2)
    recorder.commands += ["play", "play"]   # a double click on Play: both clicks saw "Play"
    at = click(at, "play")
    assert at.session_state["t_playing"] is True and at.button(key="t_play").label == "Pause"
    recorder.commands += ["pause", "pause"]  # a double click on Pause
    at = click(at, "play")
    assert at.session_state["t_playing"] is False and at.button(key="t_play").label == "Play"
    assert not at.exception and not at.error
    counts = {len(h) for h in histories(at).values()}
    assert len(counts) == 1 and counts.pop() >= 3   # the tick advanced both runs together


def test_pause_clicked_as_the_runs_finish_does_not_start_them_over(recorder):
    """The runs finish during a tick; the Pause click the user made meanwhile arrives after the
    server has drawn Play. It used to arrive as Play and start the finished runs over."""
    at = app(max_iter=3)
    recorder.commands = ["play"]
    at = click(at, "play")                     # one tick: all three iterations, the runs stop
    finished = at.session_state["t_controls"].runs
    assert finished.done and at.session_state["t_playing"] is False
    assert_consistent(at, 3)
    assert at.button(key="t_play").label == "Play" and at.button(key="t_play").disabled
    recorder.commands += ["pause"]             # the label the user clicked
    at.run()
    assert at.session_state["t_controls"].runs is finished
    assert_consistent(at, 3)
    assert at.session_state["t_playing"] is False


def test_play_arriving_after_the_runs_stopped_keeps_them(recorder):
    """A Play click made while Play was still enabled (a Step was finishing the runs): the runs
    are kept, not started over; Reset starts over."""
    at = app(max_iter=2)
    recorder.commands = ["step", "step", "play"]
    at = click(at, "step")
    finished = at.session_state["t_controls"].runs
    assert finished.done and at.session_state["t_controls"].runs is finished
    assert_consistent(at, 2)
    assert at.session_state["t_playing"] is False and at.button(key="t_play").disabled
    recorder.commands += ["reset", "step"]
    at = click(at, "reset")
    assert_consistent(at, 1)
    assert not at.button(key="t_play").disabled


def test_the_inpainting_page_steps_once_per_recorded_click(recorder):
    at = run_page(INPAINTING, 120, inp_max_iter="50")
    recorder.commands = ["step"] * 4
    at.button(key="inp_step").click().run()
    assert not at.exception and not at.error
    runs = at.session_state["inp_runs"].runs
    assert {name: [r["iteration"] for r in run.records] for name, run in runs.items()} == \
        {"exact": [1, 2, 3, 4], "sketched": [1, 2, 3, 4]}
    assert "Iteration 4" in "".join(h.proto.body for h in at.get("html"))


# --- two threads on one RunSet -----------------------------------------------------------------

def slow_steps(n: int, pause: float = 0.002):
    """Fake solver steps that release the GIL inside each step, like numpy does."""
    for i in range(1, n + 1):
        time.sleep(pause)
        yield type("Step", (), {"iteration": i, "objective": 1.0 / i, "relative_objective": 1.0 / i,
                                "seconds": pause, "elapsed": pause * i, "X": np.zeros((3, 2)),
                                "Y": np.zeros((4, 2)), "inner": {}, "stop_reason": None})()


def test_two_threads_advancing_one_run_set_keep_every_history_contiguous():
    """A stopped run goes on in its own thread while the newer run advances the same runs: the
    two used to call next() on one generator ("generator already executing" ended that run)."""
    runs = RunSet.build("sig", ["a", "b", "c"], lambda name: slow_steps(1000))
    barrier = threading.Barrier(2)
    failures = []

    def work():
        barrier.wait()
        try:
            for _ in range(25):
                runs.advance()
        except Exception as exc:  # noqa: BLE001 - the test reports whatever broke
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    for name, run in runs.runs.items():
        assert run.error is None and run.stop_reason is None, (name, run.error)
        assert [r["iteration"] for r in run.records] == list(range(1, 51)), name


def test_a_tick_told_to_stop_between_rounds_ends_on_a_whole_round():
    runs = RunSet.build("sig", ["a", "b"], lambda name: slow_steps(1000))
    rounds = []

    def between():
        rounds.append(1)
        if len(rounds) == 3:
            raise StopException()

    with pytest.raises(StopException):
        runs.advance_for(10.0, between=between)
    assert {name: run.iterations for name, run in runs.runs.items()} == {"a": 3, "b": 3}
