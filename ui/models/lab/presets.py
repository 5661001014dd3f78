"""The paper's regime as presets: dense problems chosen with benchmarks/solvers.py
(benchmarks/results/solvers_dense3072: 3072², k = 128 and 256, sketched 1.9× faster than exact
per iteration; solvers_dense_rerun: log-normal weights, k = 64, cg needs 69 inner iterations
against sketched's 10), shrunk until every solver runs in well under a minute here."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from ui.models.lab.breakdown import breakdown
from ui.models.lab.measurements import _secs, warm_up

@dataclass(frozen=True)
class Preset:
    """A problem where one method should beat another (`fast` against `reference`), and how to run it."""

    key: str
    title: str
    n: int
    m: int
    k: int
    weights: str                 # "full" (all ones) or "lognormal" (Bernoulli(p) × exp(sigma·N(0, 1)))
    fast: str
    reference: str
    solvers: tuple
    max_iter: int
    about: str
    sigma: float = 0.0
    p: float = 1.0
    rank: int = 10

    def size(self, scale: float) -> tuple[int, int, int]:
        """(n, m, k) at a fraction `scale` of the preset's size (tests run a reduced one)."""
        return (max(8, int(self.n * scale)), max(8, int(self.m * scale)), max(2, int(self.k * scale)))


PRESETS = {
    "wide_dense": Preset(
        "wide_dense", "Sketched vs exact: wide dense matrix, large k", 1024, 2048, 128, "full",
        "sketched", "exact", ("exact", "sketched", "cg"), 4,
        "All weights one (dense W), 1024 × 2048, k = 128: every row is longer than the sketch "
        "(s = 4k = 512), and k is large, so the sketched Gram s·k² plus a few inner iterations should "
        "cost less than the exact Gram N·k². The engine benchmark measured sketched 1.9× faster per "
        "iteration at 3072², k = 128 (benchmarks/results/solvers_dense3072); at this size the margin "
        "is smaller, and other work on the machine can erase it."),
    "lognormal": Preset(
        "lognormal", "Preconditioning vs CG: heavy-tailed (log-normal) weights", 1024, 1024, 64, "lognormal",
        "sketched", "cg", ("exact", "sketched", "cg"), 3,
        "Half the entries observed, with log-normal weights exp(2.5·g), g ~ N(0, 1): the weights span "
        "several orders of magnitude, so every row's regression is ill-conditioned. Plain CG needs "
        "many inner iterations; the sketch preconditioner should bring them down to a few.",
        sigma=2.5, p=0.5),
}


def preset_problem(preset: Preset, scale: float = 1.0, seed: int = 0):
    """(M, W, truth, k) of a preset at `scale`: dense arrays, a planted rank-`rank` truth with
    noise 0.01; log-normal weights are drawn from their own child stream of `seed`."""
    from wlra_core import data

    n, m, k = preset.size(scale)
    pattern = "full" if preset.weights == "full" else "bernoulli"
    problem = data.planted(n, m, min(preset.rank, k), noise=0.01, pattern=pattern, p=preset.p, seed=seed)
    W = problem.W
    if preset.weights == "lognormal":
        rng = np.random.default_rng([seed, 1])
        W = W * np.exp(preset.sigma * rng.standard_normal(W.shape))
    return problem.M, W, problem.truth, k


def run_preset(iterate: Callable, preset: Preset, scale: float = 1.0, seed: int = 0, on_done=None):
    """Run every solver of the preset for max_iter iterations from the same start, after an untimed
    warm-up iteration of each. Returns (histories {solver: [record]}, W, k); a record has iteration,
    seconds, cumulative_seconds, relative_objective and the Step.inner counts breakdown reads."""
    options = {"eps": 1e-8, "seed": seed}
    # compiling the kernels and warming the caches needs the same kind of problem, not its size
    warm_M, warm_W, _truth, warm_k = preset_problem(preset, scale / 8, seed)
    warm_up(iterate, warm_M, warm_W, warm_k, preset.solvers, **options)
    M, W, _truth, k = preset_problem(preset, scale, seed)
    histories = {}
    for j, solver in enumerate(preset.solvers, start=1):
        records, so_far = [], 0.0
        for step in iterate(M, W, k, solver=solver, max_iter=preset.max_iter, diagnostics=False, **options):
            so_far += float(step.seconds)
            inner = step.inner or {}
            records.append({"iteration": int(step.iteration), "seconds": float(step.seconds),
                            "cumulative_seconds": so_far, "relative_objective": float(step.relative_objective),
                            **{key: float(inner[key]) for key in ("inner_iterations", "sketch_size", "exact_rows")
                               if isinstance(inner.get(key), (int, float, np.integer, np.floating))}})
        histories[solver] = records
        if on_done is not None:
            on_done(j / len(preset.solvers), solver)
    return histories, W, k


ACCURACY_SLACK = 1e-3   # "reached" = within 0.1 % of the target objective (round-off of the inner solves)


def to_accuracy(histories: dict) -> tuple[float, dict]:
    """(target, {solver: seconds}): the target is the worst of the solvers' final relative
    objectives (an accuracy every solver reached), and each solver's time is its own compute time
    until its relative objective was within ACCURACY_SLACK of it."""
    finals = [records[-1]["relative_objective"] for records in histories.values() if records]
    target = max(finals)
    out = {}
    for name, records in histories.items():
        hit = [r["cumulative_seconds"] for r in records if r["relative_objective"] <= target * (1 + ACCURACY_SLACK)]
        out[name] = hit[0] if hit else math.nan
    return target, out


def preset_table(histories: dict, W, k: int) -> pd.DataFrame:
    """breakdown's table plus the final relative objective and the seconds to the common accuracy."""
    table = breakdown(histories, W, k)
    target, seconds = to_accuracy(histories)
    table.insert(2, "final relative objective", [histories[s][-1]["relative_objective"] for s in table["solver"]])
    table.insert(3, "s to accuracy", [seconds[s] for s in table["solver"]])
    table.attrs["target"] = target
    return table


def preset_reading(table: pd.DataFrame, preset: Preset) -> tuple[bool, str]:
    """(won, text): whether `preset.fast` beat `preset.reference` per iteration and to accuracy in
    `table`, said with the numbers of the table; and whether a third solver was faster still."""
    by = table.set_index("solver")
    fast, ref = preset.fast, preset.reference
    a, b = float(by.at[fast, "median s / iteration"]), float(by.at[ref, "median s / iteration"])
    ta, tb = float(by.at[fast, "s to accuracy"]), float(by.at[ref, "s to accuracy"])
    per_it = a < b
    to_acc = ta < tb
    won = per_it and to_acc
    target = table.attrs.get("target", math.nan)
    it_text = (f"{b / a:.1f}× faster" if per_it else f"{a / b:.1f}× slower") + \
        f" per iteration ({_secs(a)} against {_secs(b)}, medians)"
    acc_text = (f"reached the relative objective {target:.3e} in {_secs(ta)} against {_secs(tb)}"
                if not (math.isnan(ta) or math.isnan(tb)) else "did not both reach the common accuracy")
    if won:
        text = f"Shown here: {fast} is {it_text} than {ref}, and {acc_text}."
    else:
        text = (f"Not shown on this machine at this size: {fast} is {it_text} than {ref}, and {acc_text}"
                f"{' — faster to accuracy' if to_acc else ''}{' — not faster to accuracy' if per_it and not to_acc else ''}.")
    if fast == "sketched" and ref == "cg" and "inner iterations" in by:
        text += (f" Inner iterations per regression: {by.at[ref, 'inner iterations']:.1f} for {ref}, "
                 f"{by.at[fast, 'inner iterations']:.1f} for {fast}.")
    best = by["median s / iteration"].idxmin()
    if best not in (fast, ref):
        text += (f" {best} was faster still ({_secs(float(by.at[best, 'median s / iteration']))} per iteration): "
                 "this preset compares two methods, it is not a race of every solver.")
    return won, text
