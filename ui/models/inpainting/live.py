"""The inpainting page's live view: the status table and the row of pictures, as HTML."""
from __future__ import annotations

import html
import math

import numpy as np

from ui import images
from ui.models.inpainting.comparison import Cost, cost, difference, timing
from ui.models.inpainting.problem import Problem
from ui.runs import Run, RunSet, View


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
    "holdout stalled": "stopped (held-out error stalled)",
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
    """Where one solver's iterations go: the row regressions by kind, then the time of each part
    per iteration (Step.inner's timed parts, mean over the iterations so far; parts the solver
    does not have are left out)."""
    per = (c.exact_rows + c.iterative_rows) / max(iterations, 1)
    if not c.iterative_rows:
        line = f"{name}: {per:,.0f} row regressions per iteration, all solved exactly (normal equations, k×k Cholesky)"
    elif c.sketch_size is None:
        line = (f"{name}: {per:,.0f} row regressions per iteration; {100 * c.exact_share:.0f} % exactly, "
                f"the others by {c.inner_iterations:.1f} inner iterations each")
    else:
        line = (f"{name}: {per:,.0f} row regressions per iteration; {100 * c.exact_share:.0f} % exactly (no longer "
                f"than the sketch of s = {c.sketch_size} rows), the others by a sketch of {c.sketch_size} rows, its "
                f"k×k factorisation and {c.inner_iterations:.1f} inner iterations each")
    parts = [(part, seconds) for part, seconds in c.seconds if seconds > 0]
    if parts:
        line += "; per iteration " + ", ".join(f"{part} {1000 * seconds / max(iterations, 1):.1f} ms"
                                                for part, seconds in parts)
    return line


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
    (ties: the earliest); the shown one itself when nothing was held out. A run whose records carry
    the library's own mark ("is_best": wlra_core.InpaintStep, whose rounds tie within GROUP_TIE)
    takes its last marked record."""
    index = run.at(iteration)
    if index is None:
        return None
    if "is_best" in run.records[0]:
        return max((i for i in range(index + 1) if run.records[i]["is_best"]), default=index)
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
    image_items), or None when that iteration's factors are not kept. A run of images (lift="groups")
    has no X Yᵀ: every ``show`` is its inpainted image (the page says so)."""
    index = best_index(run, iteration) if show == "best" else run.at(iteration)
    if index is None:
        return None
    if not run.has_factors:
        return run.image_at(run.records[index]["iteration"])
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
