"""The inpainting page's comparison of its runs: their difference, timings, cost and a reading."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ui.models.inpainting.problem import Problem
from ui.models.lab import BYPASS_SHARE, PART_KEYS
from ui.runs import Run, RunSet


# A sketched half-step that solves more than this share of its rows exactly (rows with no more
# weighted entries than the sketch: a sketch of them buys nothing) is timed as exact, not as the
# sketch: the same threshold as the solver lab's note.
BYPASSED_ABOVE = BYPASS_SHARE


def difference(runs: RunSet, iteration: int) -> list[tuple[str, str, float]]:
    """(a, b, ‖M̂_a − M̂_b‖_F / ‖M̂_b‖_F) at the shown iteration, b the first solver and a each
    other one, M̂ = X Yᵀ the lifted estimate. Formed explicitly (not from k×k Gram traces, whose
    cancellation would hide differences below about 1e-4); the factors are kept as float32, so
    values near 1e-7 mean "the same iterates". Runs without factors (lift="groups") are left out."""
    names = [name for name, run in runs.runs.items() if run.records and run.has_factors]
    if len(names) < 2:
        return []
    ref = runs.runs[names[0]].factors_at(iteration)
    B = np.asarray(ref[1], np.float64) @ np.asarray(ref[2], np.float64).T
    scale = float(np.linalg.norm(B))
    out = []
    for name in names[1:]:
        _, X, Y = runs.runs[name].factors_at(iteration)
        gap = float(np.linalg.norm(np.asarray(X, np.float64) @ np.asarray(Y, np.float64).T - B))
        out.append((name, names[0], gap / scale if scale > 0 else math.nan))
    return out


@dataclass(frozen=True)
class Timing:
    """One solver's seconds per iteration over the iterations so far: median and quartiles."""
    median: float
    low: float      # 25th percentile
    high: float     # 75th percentile
    count: int


def timing(run: Run, iteration: int) -> Timing | None:
    """Median and interquartile range of the run's seconds per iteration up to the shown one (a
    single iteration's time varies by 10× on a shared machine)."""
    index = run.at(iteration)
    if index is None:
        return None
    seconds = np.array([r["seconds"] for r in run.records[:index + 1]], dtype=float)
    low, median, high = np.percentile(seconds, [25, 50, 75])
    return Timing(float(median), float(low), float(high), int(seconds.size))


# The timed parts of Step.inner, named as the solver lab names them.
PART_SECONDS = tuple(PART_KEYS.items())


@dataclass(frozen=True)
class Cost:
    """Where one solver's iteration goes, from Step.inner, summed over the iterations so far."""
    exact_rows: int         # rows solved by their normal equations (all of exact's)
    iterative_rows: int     # rows solved by inner iterations
    inner_iterations: float  # mean inner iterations per iteratively solved row
    sketch_size: int | None
    seconds: tuple[tuple[str, float], ...] = ()   # (part, seconds summed over the iterations so far)

    @property
    def exact_share(self) -> float:
        total = self.exact_rows + self.iterative_rows
        return self.exact_rows / total if total else 1.0


def cost(run: Run, iteration: int) -> Cost | None:
    index = run.at(iteration)
    if index is None:
        return None
    records = run.records[:index + 1]
    exact = sum(int(r.get("exact_rows", 0)) for r in records)
    iterative = sum(int(r.get("iterative_rows", 0)) for r in records)
    total_inner = sum(r.get("inner_iterations", 0.0) * r.get("iterative_rows", 0) for r in records)
    sketch = records[-1].get("sketch_size")
    seconds = tuple((part, sum(float(r.get(key, 0.0)) for r in records))
                    for part, key in PART_SECONDS if any(key in r for r in records))
    return Cost(exact, iterative, total_inner / iterative if iterative else 0.0,
                None if sketch is None else int(sketch), seconds)


def bypassed(runs: RunSet | None, iteration: int) -> dict[str, Cost]:
    """The sketched runs that solve most of their rows exactly (more than BYPASSED_ABOVE)."""
    out = {}
    for name, run in (runs.runs.items() if runs else []):
        c = cost(run, iteration)
        if name == "sketched" and c is not None and c.exact_share > BYPASSED_ABOVE:
            out[name] = c
    return out


def bypass_note(problem: Problem, runs: RunSet | None, iteration: int) -> str | None:
    """The page's note when the sketch is bypassed for most rows, or None."""
    notes = []
    for name, c in bypassed(runs, iteration).items():
        n, m = problem.M.shape
        notes.append(f"**{name}** solves {100 * c.exact_share:.0f} % of its rows exactly, because they have "
                     f"no more weighted entries than its sketch (s = {c.sketch_size}; M is {n}×{m}): here it "
                     "is the exact solver with extra bookkeeping, not the sketch-preconditioned method.")
    return " ".join(notes) or None


def reading(runs: RunSet | None, iteration: int) -> str | None:
    """One line computed from the numbers shown: how the per-iteration medians compare, and why."""
    if runs is None:
        return None
    timings = {name: timing(run, iteration) for name, run in runs.runs.items()}
    timings = {name: t for name, t in timings.items() if t is not None and t.median > 0}
    if "exact" not in timings or len(timings) < 2:
        return None
    base = timings["exact"].median
    parts = []
    for name, t in timings.items():
        if name == "exact":
            continue
        ratio = t.median / base
        word = f"{ratio:.1f}× slower" if ratio >= 1 else f"{1 / ratio:.1f}× faster"
        why = ""
        c = cost(runs.runs[name], iteration)
        if c is not None and name == "sketched":
            if c.exact_share > BYPASSED_ABOVE:
                why = f": {100 * c.exact_share:.0f} % of its rows are solved exactly (no longer than the sketch)"
            elif c.iterative_rows:
                why = (f": per row a sketch of {c.sketch_size} rows and its factorisation, then "
                       f"{c.inner_iterations:.1f} inner iterations")
        elif c is not None and name == "cg" and c.iterative_rows:
            why = f": {c.inner_iterations:.1f} inner iterations per row"
        parts.append(f"{name} is {word} per iteration than exact here (median over {t.count}){why}")
    return "; ".join(parts) + "."
