"""A set of named solver runs of one problem, and what a page's render callback sees of it.

Pure Python and numpy (no Streamlit): a Run keeps its live `wlra_core.iterate` generator (never
pickled) and, per iteration, a plain record (numbers only, for charts and CSV) and the factors
X, Y as float32 (float64 beyond its range), thinned past FACTOR_BUDGET_BYTES (read them with
`Run.factors_at`). A step without factors (a wlra_core.InpaintStep of lift="groups": one small
WLRA per group, no global X, Y) is kept as its image instead (`Run.image_at`), under the same
budget. Every run of a set comes from the same `start(name)` factory, so they share
M, W, k, init and seed: the same start.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Factors kept for replay, per run set. Past this budget every other stored iteration is dropped
# (the newest always stays) and replay shows the nearest kept one at or before the asked one.
# A 256 px grey image, k = 20, four solvers, 100 iterations is 16 MB. It is per session, and a
# classroom server holds thirty or more (plus closed tabs, which Streamlit keeps for two minutes
# for a reconnect): 64 MiB each keeps that within a few GB.
FACTOR_BUDGET_BYTES = 64 * 2**20

INNER_KEYS = ("inner_iterations", "inner_iterations_max", "sketch_size", "residual", "exact_rows", "iterative_rows",
              "reused_rows", "sketch_seconds", "factor_seconds", "inner_seconds", "exact_seconds")


@dataclass
class Run:
    name: str
    steps: Iterator | None           # None before the first step of a run added later
    records: list[dict[str, Any]] = field(default_factory=list)
    factors: list[tuple[np.ndarray, np.ndarray] | None] = field(default_factory=list)  # per record;
    # None where dropped to stay within FACTOR_BUDGET_BYTES (see factors_at), or kept as an image
    images: list[np.ndarray | None] = field(default_factory=list)   # per record of a run whose steps
    # have no factors, only an image (see image_at); empty for a run of wlra_core.Step
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

    @property
    def has_factors(self) -> bool:
        """False for a run whose steps are images only (nothing to form X Yᵀ from)."""
        return not self.images

    def factors_at(self, iteration: int) -> tuple[int, np.ndarray, np.ndarray] | None:
        """(iteration, X, Y) kept for `iteration`, or for the nearest earlier one still kept; None
        for a run of images."""
        found = self._kept_at(self.factors, iteration)
        return None if found is None else (found[0], *found[1])

    def image_at(self, iteration: int) -> tuple[int, np.ndarray] | None:
        """(iteration, image) kept for `iteration`, or for the nearest earlier one still kept; None
        for a run of factors."""
        return self._kept_at(self.images, iteration)

    def _kept_at(self, kept: list, iteration: int) -> tuple[int, Any] | None:
        index = self.at(iteration)
        if index is None or not any(item is not None for item in kept):
            return None
        for i in range(min(index, len(kept) - 1), -1, -1):
            if kept[i] is not None:
                return self.records[i]["iteration"], kept[i]
        i = next(i for i, item in enumerate(kept) if item is not None)
        return self.records[i]["iteration"], kept[i]


def _record(step: Any, measure: Callable[[Any], Mapping[str, float]] | None,
            previous: Mapping[str, Any] | None) -> dict[str, Any]:
    # "cumulative_seconds": this run's own compute time so far, the sum of its steps' `seconds`
    # (the x axis "by seconds"). Not `elapsed`: runs side by side advance in turns, so a step's
    # `elapsed` (wall time since wlra_core.iterate was called) also counts the other runs' turns
    # and any pause between Steps. The shared initialisation is in no step's `seconds`.
    so_far = (previous["cumulative_seconds"] if previous is not None else 0.0) + float(step.seconds)
    rec: dict[str, Any] = {"iteration": int(step.iteration), "objective": float(step.objective)}
    if _has_factors(step):   # an image step's objective (a sum over groups) has no Σ W M² to scale by
        rec["relative_objective"] = float(step.relative_objective)
    rec.update(seconds=float(step.seconds), elapsed=float(step.elapsed), cumulative_seconds=so_far)
    inner = getattr(step, "inner", None) or {}
    for name in INNER_KEYS:
        value = inner.get(name)
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            rec[name] = float(value)
    if measure is not None:
        rec.update({k: float(v) for k, v in measure(step).items()})
    return rec


def _has_factors(step: Any) -> bool:
    """A wlra_core.Step (X, Y), not an image step (wlra_core.InpaintStep without its alternating step)."""
    return getattr(step, "X", None) is not None


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
            with_factors = _has_factors(step)
            if not np.isfinite(step.relative_objective if with_factors else step.objective):
                run.stop_reason, run.steps = "error", None
                run.error = (f"the objective became {step.objective} at iteration {step.iteration}; "
                             "the run was stopped (try another k, a ridge, or another solver)")
                continue
            with np.errstate(all="ignore"):
                run.records.append(_record(step, self.measure, run.records[-1] if run.records else None))
            if with_factors:
                X, Y = _kept(step.X), _kept(step.Y)
                run.factors.append((X, Y))
                self.factor_bytes += X.nbytes + Y.nbytes
            else:
                image = _kept(step.image)
                run.images.append(image)
                self.factor_bytes += image.nbytes
            if self.factor_bytes > FACTOR_BUDGET_BYTES:
                self._thin_factors()
            if getattr(step, "stop_reason", None):
                run.stop_reason, run.steps = step.stop_reason, None

    def _thin_factors(self) -> None:
        """Drop every other kept (X, Y) or image of every run, never a run's newest."""
        for run in self.runs.values():
            for items in (run.factors, run.images):
                kept = [i for i, f in enumerate(items) if f is not None][:-1]
                for i in kept[1::2]:
                    self.factor_bytes -= sum(a.nbytes for a in (items[i] if isinstance(items[i], tuple)
                                                                else (items[i],)))
                    items[i] = None

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



@dataclass(frozen=True)
class View:
    """What a render callback gets: the runs, the iteration to show, whether it is live."""

    runs: RunSet | None
    iteration: int
    playing: bool
    stale: bool   # settings changed since these runs started
