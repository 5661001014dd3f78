"""Pieces of the inpainting page: the WLRA problem of an image and its mask, its metrics,
and the HTML of the live view (status table, image row) and exports.

An image becomes a matrix by a lifting (wlra_core.lifting): its overlapping patches (the default)
or the pixel matrix M = [R | G | B]; its mask becomes W in the same layout. Pixels with weight 0
are zeroed in M, so a hidden pixel's value never reaches a solver, and a seeded 5 % of the known
pixels are held out of W (wlra_core.inpainting.held_out): their error picks the best iteration,
the picture shown by default. PSNR is measured against the original image on the hidden pixels
(weight < 0.5) and on all pixels.
"""
from __future__ import annotations

import hashlib
import html
import io
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

import wlra_core as wc
from ui import images, mask
from ui.controls import SolverSettings
from ui.lab import BYPASS_SHARE
from ui.run import Run, RunSet, View


LIFTS = ("patches", "pixels")   # the page's choices of matrix (wlra_core.lifting)
PATCH_SIZES = [4, 6, 8, 10, 12, 16]
HOLDOUT = wc.inpainting.DEFAULTS["holdout"]
SHOW = ("best", "inpainted", "raw")   # what the pictures show (image_items)


@dataclass(frozen=True)
class Problem:
    image: np.ndarray      # the truth, (h, w) grey or (h, w, 3) colour, in [0, 1]
    weights: np.ndarray    # (h, w) in [0, 1]
    hidden: np.ndarray     # (h, w) bool: weight below mask.HIDDEN_BELOW
    M: np.ndarray          # lifting.lift(image), zero where the weight is 0
    W: np.ndarray          # lifting.lift_weights(weights without the held-out pixels)
    identity: str          # which image, at which resolution, under which mask and lifting
    original_uri: str      # the image and the masked input as data URIs, encoded once
    lifting: wc.lifting.Lifting | None = None   # None: the pixel matrix
    held: np.ndarray | None = None               # (h, w) bool: known pixels held out of W

    @property
    def shape(self) -> tuple[int, ...]:
        return self.image.shape

    def estimate(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """The image of the lifted estimate X Yᵀ, in [0, 1]."""
        return images.reconstruct(X, Y, self.shape, self.lifting)


def build_problem(image: np.ndarray, weights: np.ndarray, image_identity: str, lift: str = "patches",
                  patch: int | None = None, seed: int = 0) -> Problem:
    """The page's problem: ``lift`` "patches" (``patch`` × ``patch`` windows, stride 2) or "pixels";
    a seeded HOLDOUT of the known pixels is held out of W."""
    if min(image.shape[:2]) < 2:   # no window fits a one-pixel-wide image
        lift = "pixels"
    if lift != "pixels" and patch is not None:
        patch = min(patch, *image.shape[:2])   # a window never larger than a small image
    lifting = wc.lifting.lifting(image.shape, lift, patch=patch if lift != "pixels" else None)
    held = wc.inpainting.held_out(weights, HOLDOUT, seed)
    # inpaint's smooth guess at unknown pixels for patches (a hole wider than a window is not left black)
    M, W = wc.inpainting.lifted_problem(image, np.where(held, 0.0, weights), lifting,
                                        prior=wc.inpainting.DEFAULTS["prior"][lifting.kind])
    digest = hashlib.md5(np.ascontiguousarray(weights, dtype=np.float64).tobytes()).hexdigest()[:12]
    geometry = f"{lift}:{lifting.patch}/{lifting.stride}" if lift != "pixels" else "pixels"
    return Problem(image=image, weights=weights, hidden=mask.hidden_pixels(weights), M=M, W=W,
                   identity=f"{image_identity}|{image.shape}|mask:{digest}|{geometry}|held:{seed}",
                   original_uri=images.data_uri(image), lifting=lifting, held=held)


def describe_matrix(problem: Problem) -> str:
    """What M is, for the page's caption."""
    n, m = problem.M.shape
    lf = problem.lifting
    if lf is None or lf.kind == "pixels":
        kind = "[R | G | B]" if problem.image.ndim == 3 else "the grey image"
        return f"M = {kind}, {n}×{m}"
    return (f"M has one row per {lf.patch}×{lf.patch} window (stride {lf.stride}): {n}×{m}; "
            f"{100 * HOLDOUT:g} % of the known pixels held out to pick the best iteration")


def signature(problem: Problem, settings: SolverSettings) -> tuple:
    return (problem.identity, settings.problem_signature())


def starter(problem: Problem, settings: SolverSettings) -> Callable[[str], Iterator]:
    """start(solver) → wlra_core.iterate over this problem; every solver gets the same init and seed."""
    M, W, k, kwargs = problem.M, problem.W, settings.k, settings.iterate_kwargs()

    def start(solver: str) -> Iterator:
        return wc.iterate(M, W, k, solver=solver, diagnostics=False, **kwargs)

    return start


def _psnr(truth: np.ndarray, estimate: np.ndarray, selected: np.ndarray | None) -> float:
    if selected is not None and not selected.any():
        return math.nan
    return wc.metrics.psnr(truth, estimate, mask=selected)


def measurer(problem: Problem) -> Callable[[object], dict[str, float]]:
    """Per-step metrics against the original image."""
    truth, hidden = problem.image, problem.hidden

    def measure(step: object) -> dict[str, float]:
        estimate = problem.estimate(step.X, step.Y)
        held = None if problem.held is None else wc.inpainting.holdout_rmse(truth, estimate, problem.weights,
                                                                             problem.held)
        return {"psnr_hidden": _psnr(truth, estimate, hidden), "psnr_all": _psnr(truth, estimate, None),
                "holdout_rmse": math.nan if held is None else held}

    return measure


def masked_view(image: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The image as the solver sees it: hidden pixels faded to the 'missing' colour."""
    return images.overlay_missing(image, weights, mask.MISSING_RGB)


# --- the live view ----------------------------------------------------------------------------

def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "∞" + unit if value == math.inf else "—"
    return f"{value:{spec}}{unit}"


NUMBER = 'style="white-space:nowrap;padding-right:8px"'  # a number and its unit stay on one line

STOP_LABELS = {
    None: "running",
    "fit": "converged (fit below eps)",
    "stalled": "converged (objective stalled)",
    "max_iter reached": "stopped at max_iter",
    "stopped": "stopped",
    "error": "failed",
}


def row_status(run: Run, view: View, iteration: int) -> str:
    """What one solver row says: the run's state, and while replaying, where the run really is."""
    index = run.at(iteration)
    last = index is None or index == len(run.records) - 1
    if run.error:
        state = f"failed: {run.error}"
    elif run.done:
        state = STOP_LABELS.get(run.stop_reason, run.stop_reason)
    elif view.playing:
        return "running"
    elif not run.records:
        return "not started"
    else:
        state = "paused"
    return state if last else f"replaying · {state} at iteration {run.iterations}"


def _best_label(run: Run, iteration: int) -> str:
    index = best_index(run, iteration)
    if index is None or not math.isfinite(run.records[index].get("holdout_rmse", math.nan)):
        return "—"
    return str(run.records[index]["iteration"])


def status_html(view: View, iteration: int, max_iter: int) -> str:
    """'Iteration N' and one row per solver: the numbers at the shown iteration."""
    return f'<div data-testid="run-status">{status_header(view, iteration, max_iter)}{status_table(view, iteration)}</div>'


def status_header(view: View, iteration: int, max_iter: int) -> str:
    """'Iteration N of at most max_iter · live'."""
    runs = view.runs
    if view.playing:
        note = "live"
    elif runs and iteration < runs.iterations:
        note = "replaying"
    else:
        note = "finished" if runs and runs.done else "paused"
    header = (
        '<div style="display:flex;align-items:baseline;gap:12px">'
        f'<span data-testid="iteration-count" style="font-size:1.3rem;font-weight:600">Iteration {iteration}</span>'
        f'<span style="font-size:0.85rem;opacity:0.75">of at most {max_iter} · {note}</span></div>'
    )
    return header


def status_table(view: View, iteration: int) -> str:
    """One row per solver: its numbers at the shown iteration."""
    runs = view.runs
    rows = []
    for name, run in (runs.runs.items() if runs else []):
        index = run.at(iteration)
        rec = run.records[index] if index is not None else {}
        status = row_status(run, view, iteration)
        inner = rec.get("inner_iterations")
        esc = html.escape(name)
        rows.append(
            f'<tr data-testid="solver-row-{esc}" style="border-top:1px solid rgba(49,51,63,0.15)">'
            f'<td><b>{esc}</b> · it <span data-testid="solver-iteration-{esc}">{rec.get("iteration", 0)}</span>'
            f'<br><span data-testid="solver-status-{esc}" style="font-size:0.75rem;opacity:0.75">'
            f"{html.escape(status)}</span></td>"
            f'<td data-testid="psnr-hidden-{esc}" {NUMBER}>{_fmt(rec.get("psnr_hidden"), ".2f", " dB")}</td>'
            f'<td data-testid="psnr-all-{esc}" {NUMBER}>{_fmt(rec.get("psnr_all"), ".2f", " dB")}</td>'
            f'<td data-testid="best-iteration-{esc}" {NUMBER}>{_best_label(run, iteration)}</td>'
            f'<td {NUMBER}>{_fmt(rec.get("relative_objective"), ".3e")}</td>'
            f'<td data-testid="time-{esc}" {NUMBER}>{_timing_cell(run, iteration)}</td>'
            f'<td data-testid="rows-exact-{esc}" {NUMBER}>{_rows_cell(run, iteration)}</td>'
            f'<td {NUMBER}>{_fmt(inner, ".1f") if inner else "—"}</td></tr>'
        )
    table = ""
    if rows:
        table = (
            '<table data-testid="run-table" style="width:100%;border-collapse:collapse;font-size:0.85rem;'
            'margin-top:6px"><thead><tr style="text-align:left;font-size:0.75rem;opacity:0.8;white-space:nowrap">'
            '<th>solver</th><th title="PSNR against the original, on the pixels hidden from the solver">'
            'PSNR hidden</th><th title="PSNR against the original, on every pixel">PSNR all</th>'
            '<th title="the iteration with the lowest error on the held-out known pixels so far">best it.</th>'
            '<th title="f / Σ W M²">rel. objective</th><th title="this solver\'s seconds per iteration over the '
            'iterations so far: median (25th–75th percentile)">ms / it (IQR)</th><th title="share of the row '
            'regressions solved exactly: all of exact\'s; sketched\'s rows no longer than its sketch">rows exact</th>'
            '<th title="sketched and cg: mean inner iterations per row regression">'
            "inner it.</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        )
    return table


def _timing_cell(run: Run, iteration: int) -> str:
    t = timing(run, iteration)
    if t is None:
        return "—"
    return f"{t.median * 1000:.0f} ({t.low * 1000:.0f}–{t.high * 1000:.0f})"


def _rows_cell(run: Run, iteration: int) -> str:
    c = cost(run, iteration)
    return "—" if c is None or not (c.exact_rows + c.iterative_rows) else f"{100 * c.exact_share:.0f} %"


def difference_html(runs: RunSet | None, iteration: int) -> str:
    """The relative differences between the solvers' estimates at the shown iteration (one line)."""
    pairs = difference(runs, iteration) if runs is not None else []
    if not pairs:
        return ""
    text = " · ".join(f"‖M̂<sub>{html.escape(a)}</sub> − M̂<sub>{html.escape(b)}</sub>‖ / "
                      f"‖M̂<sub>{html.escape(b)}</sub>‖ = <b>{_fmt(v, '.1e')}</b>" for a, b, v in pairs)
    return (f'<div data-testid="solver-difference" style="font-size:0.85rem">{text} '
            '<span style="opacity:0.75">(difference of the estimates at this iteration; ~1e-7 is the '
            "float32 round-off of the kept factors: the same iterates)</span></div>")


def cost_line(name: str, c: Cost, iterations: int) -> str:
    """Where one solver's iterations go, in counts (Step.inner has no times for its parts)."""
    per = (c.exact_rows + c.iterative_rows) / max(iterations, 1)
    if not c.iterative_rows:
        return f"{name}: {per:,.0f} row regressions per iteration, all solved exactly (normal equations, k×k Cholesky)"
    if c.sketch_size is None:
        return (f"{name}: {per:,.0f} row regressions per iteration; {100 * c.exact_share:.0f} % exactly, "
                f"the others by {c.inner_iterations:.1f} inner iterations each")
    return (f"{name}: {per:,.0f} row regressions per iteration; {100 * c.exact_share:.0f} % exactly (no longer "
            f"than the sketch of s = {c.sketch_size} rows), the others by a sketch of {c.sketch_size} rows, its "
            f"k×k factorisation and {c.inner_iterations:.1f} inner iterations each")


def cost_html(runs: RunSet | None, iteration: int) -> str:
    """One line per solver: its cost breakdown over the iterations so far (see cost_line)."""
    lines = []
    for name, run in (runs.runs.items() if runs else []):
        c, index = cost(run, iteration), run.at(iteration)
        if c is not None and c.exact_rows + c.iterative_rows:
            lines.append(f'<div data-testid="cost-{html.escape(name)}">'
                         f"{html.escape(cost_line(name, c, index + 1))}</div>")
    if not lines:
        return ""
    return f'<div data-testid="cost" style="font-size:0.8rem;opacity:0.85">{"".join(lines)}</div>'


def best_index(run: Run, iteration: int) -> int | None:
    """Index of the record with the lowest held-out error up to the one shown for `iteration`
    (ties: the earliest); the shown one itself when nothing was held out."""
    index = run.at(iteration)
    if index is None:
        return None
    errors = np.array([r.get("holdout_rmse", math.nan) for r in run.records[:index + 1]], dtype=float)
    if not np.isfinite(errors).any():
        return index
    return int(np.nanargmin(errors))


def live_html(view: View, iteration: int, max_iter: int, problem: Problem, *, show: str = "best",
              width: int = 190) -> str:
    """The counter, the solver rows and the pictures of the shown iteration as one HTML block:
    one element, so the browser draws them in the same update and the pictures can never lag
    the counter (as separate elements they trailed it by up to 25 iterations)."""
    pictures = images.image_row(image_items(problem, view.runs, iteration, show=show), width=width)
    # the counter above the pictures, the numbers below them: the pictures come first on the stage
    # "run-status" holds the counter and the rows, as status_html does (the tests read both in it)
    return ('<div data-testid="run-status" style="display:flex;flex-direction:column;gap:8px">'
            f"{status_header(view, iteration, max_iter)}{pictures}{difference_html(view.runs, iteration)}"
            f"{status_table(view, iteration)}{cost_html(view.runs, iteration)}</div>")


def picture(problem: Problem, run: Run, iteration: int, show: str) -> tuple[int, np.ndarray] | None:
    """(iteration pictured, picture) of `run` as the page shows it at `iteration` (``show`` as in
    image_items), or None when that iteration's factors are not kept."""
    index = best_index(run, iteration) if show == "best" else run.at(iteration)
    if index is None:
        return None
    kept = run.factors_at(run.records[index]["iteration"])
    if kept is None:
        return None
    shown, X, Y = kept
    estimate = problem.estimate(X, Y)
    if show != "raw":
        estimate = images.fill_in(problem.image, estimate, problem.weights)
    return shown, estimate


def image_items(problem: Problem, runs: RunSet | None, iteration: int,
                *, show: str = "best") -> list[tuple[str, np.ndarray | str, str]]:
    """Original, and per solver: ``show`` "raw" the estimate X Yᵀ of the shown
    iteration, "inpainted" the original with its hidden pixels taken from it (blended by weight),
    "best" the inpainted image of the iteration with the lowest held-out error so far (each
    caption says "· iteration N" of the shown iteration, and which one the picture is; the alt text
    is "SOLVER · iteration N"). The masked input is not among them: the mask canvas shows it."""
    items: list[tuple] = [("Original", problem.original_uri, "original")]
    if runs is None:
        return items
    for name, run in runs.runs.items():
        pictured = picture(problem, run, iteration, show)
        if pictured is not None:
            shown, estimate = pictured
            shown_now = run.records[run.at(iteration)]["iteration"]
            caption = f"{name} · iteration {shown_now}" + (f" · best at {shown}" if show == "best" else "")
            items.append((caption, estimate, f"{name}-iteration-{shown_now}", f"{name} · iteration {shown_now}"))
    return items


# --- the comparison: difference, timings, cost, reading ------------------------------------------

# A sketched half-step that solves more than this share of its rows exactly (rows with no more
# weighted entries than the sketch: a sketch of them buys nothing) is timed as exact, not as the
# sketch: the same threshold as the solver lab's note.
BYPASSED_ABOVE = BYPASS_SHARE


def difference(runs: RunSet, iteration: int) -> list[tuple[str, str, float]]:
    """(a, b, ‖M̂_a − M̂_b‖_F / ‖M̂_b‖_F) at the shown iteration, b the first solver and a each
    other one, M̂ = X Yᵀ the lifted estimate. Formed explicitly (not from k×k Gram traces, whose
    cancellation would hide differences below about 1e-4); the factors are kept as float32, so
    values near 1e-7 mean "the same iterates"."""
    names = [name for name, run in runs.runs.items() if run.records]
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


@dataclass(frozen=True)
class Cost:
    """Where one solver's iteration goes, from Step.inner, summed over the iterations so far."""
    exact_rows: int         # rows solved by their normal equations (all of exact's)
    iterative_rows: int     # rows solved by inner iterations
    inner_iterations: float  # mean inner iterations per iteratively solved row
    sketch_size: int | None

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
    return Cost(exact, iterative, total_inner / iterative if iterative else 0.0,
                None if sketch is None else int(sketch))


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


# --- exports ----------------------------------------------------------------------------------

def reconstruction_png(problem: Problem, runs: RunSet, name: str, iteration: int, show: str = "raw") -> bytes:
    """The picture the page shows for `name` (``show`` as in image_items): the inpainted image of the
    best iteration so far, the inpainted image, or X Yᵀ itself."""
    if show not in SHOW:
        raise wc.InputError(f"show: found {show!r}, need one of {', '.join(SHOW)}.")
    _, estimate = picture(problem, runs.runs[name], iteration, show)
    return images.png_bytes(estimate)


def factors_npz(problem: Problem, runs: RunSet, settings: SolverSettings, iteration: int) -> bytes:
    """X and Y of every solver at the shown iteration (M̂ = X Yᵀ, M the lifted image: see "lifting")."""
    arrays: dict[str, np.ndarray] = {}
    for name, run in runs.runs.items():
        kept = run.factors_at(iteration)
        if kept is None:
            continue
        shown, X, Y = kept
        arrays[f"{name}_X"], arrays[f"{name}_Y"] = X, Y
        arrays[f"{name}_iteration"] = np.asarray(shown)
    arrays["image_shape"] = np.asarray(problem.shape)
    lf = problem.lifting
    arrays["lifting"] = np.asarray(json.dumps({"lift": "pixels" if lf is None else lf.kind,
                                               "patch": None if lf is None else lf.patch,
                                               "stride": None if lf is None else lf.stride,
                                               "colour": None if lf is None else lf.colour}))
    arrays["settings"] = np.asarray(json.dumps(settings.as_dict()))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def history_csv(runs: RunSet) -> bytes:
    return pd.DataFrame(runs.history_rows()).to_csv(index=False).encode("utf-8")
