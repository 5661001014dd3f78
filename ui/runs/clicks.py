"""What a page's Play/Pause, Step and Reset buttons asked for, in click order (no Streamlit).

Streamlit can merge, drop or mislabel rapid clicks, so the browser numbers every click (the
click recorder, ui/runs/click_recorder.js) and `Controls` carries each number out once, in order.
"""
from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ui.runs.runset import RunSet

COMMANDS = ("play", "pause", "step", "reset")

# Clicks kept in the browser's log: any more between two runs of the page would be lost (the log
# numbers them, so `sync` would see the gap; ten a second for six seconds without one full run).
CLICK_LOG = 64


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

