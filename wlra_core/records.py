"""What a run reports: `Step` (one alternating iteration), `Result` (a whole `solve`), the
`StopReason` of the last step, the typed inner statistics of each solver family, and `step_row`,
the one flat record of a Step that the command line, the benchmarks and the exports write.
"""
from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from types import MappingProxyType

import numpy as np

from .problem import InputError


class StopReason(enum.StrEnum):
    """Why the loop stopped (set on the last step). A str, so ``reason == "fit"`` keeps working."""

    FIT = "fit"                        # f ≤ eps² Σ W M²: the weighted residual is below eps
    STALLED = "stalled"                # |f_{t−1} − f_t| ≤ eps f_{t−1}: the objective no longer moves
    MAX_ITER = "max_iter reached"      # max_iter iterations without the rule holding
    INTERRUPTED = "interrupted"        # the caller stopped the run (the command line on Ctrl-C)

    @property
    def converged(self) -> bool:
        """Whether the stopping rule held ('fit' or 'stalled')."""
        return self in (StopReason.FIT, StopReason.STALLED)


# ---- inner statistics: one typed record per solver family, read like a mapping too ----

class _Fields(Mapping):
    """Mapping access to a dataclass's fields (``stats["residual"]``, ``.get``, ``dict(stats)``),
    for code that reads the statistics by name."""

    def __getitem__(self, key):
        if key not in self._names():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self):
        return iter(self._names())

    def __len__(self):
        return len(self._names())

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def __repr__(self):
        shown = []
        for name in self._names():
            value = getattr(self, name)
            if isinstance(value, np.ndarray):
                value = f"<{value.size} values>"
            elif isinstance(value, float):
                value = f"{value:.3g}"
            else:
                value = repr(value)
            shown.append(f"{name}={value}")
        return f"{type(self).__name__}({', '.join(shown)})"


@dataclass(frozen=True, eq=False, repr=False)
class RegressionStats(_Fields):
    """One iteration of the regression solvers ("exact", "sketched", "cg"): both half-steps.

    inner_iterations      mean inner iterations per iteratively solved row (0.0 for "exact")
    inner_iterations_max  the most inner iterations one row took
    sketch_size           rows of the sketch ("sketched"), else None
    sketch                the sketch's name ("sketched"), else None
    residual              the largest relative regression residual left, ‖Aᵀ(b − Ax)‖/‖Aᵀb‖
    inner_eps             the regression tolerance η_t used (None when solved exactly)
    exact_rows            rows solved exactly (too short to iterate on, or solver "exact")
    weak_sketches         rows whose sketch was rank-deficient and fell back to exact
    reused_rows           rows whose preconditioner was kept from an earlier iteration
                          ("sketched": no sketch or factorisation for them; sketched.py)
    iterative_rows        rows solved by inner iterations
    cond_before           κ(A_i) on sampled rows (diagnostics=True), else empty
    cond_after            κ(A_i R⁻¹) with the preconditioner R on the same rows, else empty
    forward_error         ‖x_i − x_i*‖ / ‖x_i*‖ against the SVD solution on the same rows, else empty
    seconds_x, seconds_y  wall time of the X and the Y half-step
    sketch_seconds        wall time of the sketches (their Gram matrices), both half-steps summed;
                          0.0 where no sketch is made ("exact", "cg")
    factor_seconds        wall time of factorising the sketched Grams into preconditioners; 0.0
                          likewise
    inner_seconds         wall time of the inner iterations (0.0 for "exact")
    exact_seconds         wall time of the rows solved exactly (their Grams and solves): every row
                          for "exact", rows no longer than the sketch (or than k for "cg") otherwise
    The iterative solvers' parts are measured around those parts only (their right-hand sides,
    copies and objective are in seconds_x + seconds_y but in none of them); "exact"'s one part is its
    whole block loop, right-hand sides included.
    """

    inner_iterations: float
    inner_iterations_max: int
    sketch_size: int | None
    sketch: str | None
    residual: float
    inner_eps: float | None
    exact_rows: int
    weak_sketches: int
    reused_rows: int
    iterative_rows: int
    cond_before: np.ndarray
    cond_after: np.ndarray
    forward_error: np.ndarray
    seconds_x: float
    seconds_y: float
    sketch_seconds: float
    factor_seconds: float
    inner_seconds: float
    exact_seconds: float


@dataclass(frozen=True, eq=False, repr=False)
class AutoStats(RegressionStats):
    """RegressionStats of solver "auto", plus what it picked for the (X, Y) half-steps and why.

    choice  the solver of each half-step, e.g. ("exact", "sketched")
    reason  the cost model's predicted times behind each choice
    """

    choice: tuple[str, str]
    reason: tuple[str, str]


@dataclass(frozen=True, eq=False, repr=False)
class EMStats(_Fields):
    """One iteration of solver "em" (an E-step and an M-step, no regressions).

    seconds_x  wall time of the EM step
    seconds_y  0.0 (EM has no second half-step; kept so every family reports both times)
    """

    seconds_x: float
    seconds_y: float


_PART_SECONDS = ("sketch_seconds", "factor_seconds", "inner_seconds", "exact_seconds")


def regression_stats(a: dict, b: dict, solver: str, sketch: str, sketch_size: int, seconds: tuple) -> RegressionStats:
    """One iteration's record from the statistics the solvers return for its two half-steps."""
    its = a["inner_iterations_total"] + b["inner_iterations_total"]
    rows = a["iterative_rows"] + b["iterative_rows"]
    sketched = "sketched" in (a["solver"], b["solver"])
    values = dict(
        inner_iterations=its / rows if rows else 0.0,
        inner_iterations_max=max(a["inner_iterations_max"], b["inner_iterations_max"]),
        sketch_size=sketch_size if sketched else None,
        sketch=sketch if sketched else None,
        residual=max(a["residual"], b["residual"]),
        inner_eps=a["inner_eps"] if a["inner_eps"] is not None else b["inner_eps"],
        exact_rows=a["exact_rows"] + b["exact_rows"],
        weak_sketches=a["weak_sketches"] + b["weak_sketches"],
        reused_rows=a.get("reused_rows", 0) + b.get("reused_rows", 0),
        iterative_rows=rows,
        cond_before=np.concatenate([a["cond_before"], b["cond_before"]]),
        cond_after=np.concatenate([a["cond_after"], b["cond_after"]]),
        forward_error=np.concatenate([a["forward_error"], b["forward_error"]]),
        seconds_x=seconds[0], seconds_y=seconds[1],
        **{name: a[name] + b[name] for name in _PART_SECONDS},
    )
    if solver == "auto":
        return AutoStats(**values, choice=(a["choice"], b["choice"]), reason=(a["reason"], b["reason"]))
    return RegressionStats(**values)


# ---- steps and results ----

def _predict(X, Y, mean, row_offsets, col_offsets, rows, cols):
    """M̂ at the entries (rows[t], cols[t]) without forming M̂."""
    rows = np.asarray(rows, dtype=np.intp)
    cols = np.asarray(cols, dtype=np.intp)
    if rows.shape != cols.shape:
        raise InputError(f"rows, cols: found shapes {rows.shape} and {cols.shape}, need the same shape.")
    n, m = X.shape[0], Y.shape[0]
    if rows.size and (rows.min() < -n or rows.max() >= n or cols.min() < -m or cols.max() >= m):
        raise InputError(f"rows, cols: found indices outside the {n}×{m} matrix, need rows in [0, {n}) "
                         f"and cols in [0, {m}).")
    out = np.einsum("...j,...j->...", X[rows], Y[cols])
    if row_offsets is not None:
        out += mean + row_offsets[rows] + col_offsets[cols]
    return out


def _full(X, Y, mean, row_offsets, col_offsets):
    out = X @ Y.T
    if row_offsets is not None:
        out += mean + row_offsets[:, None] + col_offsets[None, :]
    return out


def _model_factors(X, Y, mean, row_offsets, col_offsets):
    """Factors whose product is the full estimate: μ + b_i + c_j = [b, 1, μ]·[1, c, 1]."""
    X, Y = np.asarray(X), np.asarray(Y)
    if row_offsets is None:
        return X, Y
    n, m = X.shape[0], Y.shape[0]
    return (np.hstack([X, row_offsets[:, None], np.ones((n, 1)), np.full((n, 1), mean)]),
            np.hstack([Y, np.ones((m, 1)), col_offsets[:, None], np.ones((m, 1))]))


def _shape(A) -> str:
    return "None" if A is None else "×".join(str(s) for s in np.shape(A))


class _Estimate:
    """M̂ = mean + row_offsets_i + col_offsets_j + X Yᵀ of a Step or a Result (offsets with bias=True)."""

    def low_rank(self):
        """The dense estimate M̂ (n×m: mind the size for large problems), offsets included."""
        return _full(self.X, self.Y, self.mean, self.row_offsets, self.col_offsets)

    def predict(self, rows, cols):
        """M̂ at the entries (rows[t], cols[t]), without forming M̂."""
        return _predict(self.X, self.Y, self.mean, self.row_offsets, self.col_offsets, rows, cols)

    def model_factors(self):
        """(A, B) with A Bᵀ = M̂, offsets included (A = X, B = Y without bias), n×k' and m×k'."""
        return _model_factors(self.X, self.Y, self.mean, self.row_offsets, self.col_offsets)


@dataclass(frozen=True)
class Step(_Estimate):
    """One alternating iteration. M̂ = X @ Y.T (+ mean + row_offsets_i + col_offsets_j with
    bias=True); the arrays are read-only."""

    iteration: int
    objective: float            # Σ W (M − X Yᵀ)², the data term; inf only when it exceeds 1.8e308
    relative_objective: float   # objective / Σ W M², always finite (computed on the scaled problem)
    penalised: float            # objective + ridge (‖X‖² + ‖Y‖²); inf likewise
    seconds: float              # wall time of this iteration
    elapsed: float              # wall time since the call started, initialisation included
    X: np.ndarray | None
    Y: np.ndarray | None
    inner: RegressionStats | AutoStats | EMStats
    stop_reason: StopReason | None = None   # set on the last step only
    holdout_rmse: float | None = None  # √(Σ_h W (M − M̂)² / Σ_h W) on the held-out entries; None without
    is_best: bool = False            # lowest holdout_rmse so far (holdout=0: lowest objective so far)
    mean: float = 0.0                # μ of the biased model (bias=True), else 0
    row_offsets: np.ndarray | None = None   # b_i (bias=True), else None
    col_offsets: np.ndarray | None = None   # c_j (bias=True), else None

    def __repr__(self):
        extra = f", stop_reason={str(self.stop_reason)!r}" if self.stop_reason is not None else ""
        if self.holdout_rmse is not None:
            extra += f", holdout_rmse={self.holdout_rmse:.4g}"
        return (f"Step(iteration={self.iteration}, objective={self.objective:.6g}, "
                f"relative_objective={self.relative_objective:.4g}, seconds={self.seconds:.3g}, "
                f"X={_shape(self.X)}, Y={_shape(self.Y)}{extra})")


def strip(step: Step) -> Step:
    """A history step without its arrays (solve's keep_factors=False)."""
    return replace(step, X=None, Y=None, row_offsets=None, col_offsets=None)


@dataclass(frozen=True)
class Result(_Estimate):
    """What `solve` returns: the last iteration's factors and the run's history (a tuple of Steps)."""

    X: np.ndarray
    Y: np.ndarray
    history: tuple[Step, ...]
    objective: float
    relative_objective: float
    converged: bool
    stop_reason: StopReason
    seconds: float
    settings: MappingProxyType
    best: Step | None = None         # the best iteration: lowest holdout_rmse (holdout=0: the last step)
    mean: float = 0.0
    row_offsets: np.ndarray | None = None
    col_offsets: np.ndarray | None = None

    def __repr__(self):
        return (f"Result(stop_reason={str(self.stop_reason)!r}, converged={self.converged}, "
                f"iterations={len(self.history)}, objective={self.objective:.6g}, "
                f"relative_objective={self.relative_objective:.4g}, seconds={self.seconds:.3g}, "
                f"X={_shape(self.X)}, Y={_shape(self.Y)}, solver={self.settings.get('solver')!r})")


# ---- one flat row per step ----

# The columns of the command line's history CSV (and the default of step_row).
ROW_FIELDS = ("iteration", "objective", "relative_objective", "seconds", "elapsed",
              "inner_iterations", "inner_iterations_max", "sketch_size", "residual")
# Step attributes a row can hold; any other name is looked up in the step's inner statistics.
_STEP_SCALARS = ("iteration", "objective", "relative_objective", "penalised", "seconds", "elapsed",
                 "stop_reason", "holdout_rmse", "is_best", "mean")


def step_row(step: Step, fields: tuple[str, ...] = ROW_FIELDS) -> dict:
    """The flat record of one Step: ``{field: value}`` for each of ``fields`` (a Step scalar or an
    inner statistic by name), None where the step's solver family has no such statistic. Numbers
    stay numbers (a stop reason becomes its plain string)."""
    inner = step.inner if step.inner is not None else {}
    row = {}
    for name in fields:
        if name in _STEP_SCALARS:
            value = getattr(step, name)
        elif name in inner:
            value = inner[name]
        elif name in _ALL_STATS:
            value = None
        else:
            raise InputError(f"fields: found {name!r}, need a Step field ({', '.join(_STEP_SCALARS)}) or an "
                             f"inner statistic ({', '.join(sorted(_ALL_STATS))})")
        if isinstance(value, StopReason):
            value = str(value)
        elif isinstance(value, (np.integer, np.floating)):
            value = value.item()
        row[name] = value
    return row


_ALL_STATS = frozenset(AutoStats._names()) | frozenset(EMStats._names())
