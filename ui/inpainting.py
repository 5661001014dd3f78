"""Pieces of the inpainting page: the WLRA problem of an image and its mask, its metrics,
and the HTML of the live view (status table, image row) and exports.

An image becomes the matrix M = [R | G | B] (or the grey image itself); its mask becomes W in the
same layout. Pixels with weight 0 are zeroed in M, so a hidden pixel's value never reaches a
solver. PSNR is measured against the original image on the hidden pixels (weight < 0.5) and
on all pixels.
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
from ui.run import Run, RunSet, View


@dataclass(frozen=True)
class Problem:
    image: np.ndarray      # the truth, (h, w) grey or (h, w, 3) colour, in [0, 1]
    weights: np.ndarray    # (h, w) in [0, 1]
    hidden: np.ndarray     # (h, w) bool: weight below mask.HIDDEN_BELOW
    M: np.ndarray          # image_to_matrix(image), zero where the weight is 0
    W: np.ndarray          # mask_to_weights(weights)
    identity: str          # which image, at which resolution, under which mask
    original_uri: str      # the image and the masked input as data URIs, encoded once
    masked_uri: str

    @property
    def shape(self) -> tuple[int, ...]:
        return self.image.shape


def build_problem(image: np.ndarray, weights: np.ndarray, image_identity: str) -> Problem:
    M, W = wc.io.image_problem(image, weights)      # as the command line builds it
    digest = hashlib.md5(np.ascontiguousarray(weights, dtype=np.float64).tobytes()).hexdigest()[:12]
    return Problem(image=image, weights=weights, hidden=mask.hidden_pixels(weights), M=M, W=W,
                   identity=f"{image_identity}|{image.shape}|mask:{digest}",
                   original_uri=images.data_uri(image), masked_uri=images.data_uri(masked_view(image, weights)))


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
        estimate = images.reconstruct(step.X, step.Y, truth.shape)
        return {"psnr_hidden": _psnr(truth, estimate, hidden), "psnr_all": _psnr(truth, estimate, None)}

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


def status_html(view: View, iteration: int, max_iter: int) -> str:
    """'Iteration N' and one row per solver: the numbers at the shown iteration."""
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
            f'<td {NUMBER}>{_fmt(rec.get("relative_objective"), ".3e")}</td>'
            f'<td {NUMBER}>{_fmt(rec.get("seconds", math.nan) * 1000, ".0f", " ms")}</td>'
            f'<td {NUMBER}>{_fmt(inner, ".1f") if inner else "—"}</td></tr>'
        )
    table = ""
    if rows:
        table = (
            '<table data-testid="run-table" style="width:100%;border-collapse:collapse;font-size:0.85rem;'
            'margin-top:6px"><thead><tr style="text-align:left;font-size:0.75rem;opacity:0.8;white-space:nowrap">'
            '<th>solver</th><th title="PSNR against the original, on the pixels hidden from the solver">'
            'PSNR hidden</th><th title="PSNR against the original, on every pixel">PSNR all</th>'
            '<th title="f / Σ W M²">rel. objective</th><th title="this solver\'s time for this iteration">'
            'time / it</th><th title="sketched and cg: mean inner iterations per row regression">'
            "inner it.</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        )
    return f'<div data-testid="run-status">{header}{table}</div>'


def live_html(view: View, iteration: int, max_iter: int, problem: Problem, *, filled: bool = False,
              width: int = 190) -> str:
    """The counter, the solver rows and the pictures of the shown iteration as one HTML block:
    one element, so the browser draws them in the same update and the pictures can never lag
    the counter (as separate elements they trailed it by up to 25 iterations)."""
    pictures = images.image_row(image_items(problem, view.runs, iteration, filled=filled), width=width)
    return ('<div style="display:flex;flex-direction:column;gap:12px">'
            f"{status_html(view, iteration, max_iter)}{pictures}</div>")


def image_items(problem: Problem, runs: RunSet | None, iteration: int,
                *, filled: bool = False) -> list[tuple[str, np.ndarray | str]]:
    """Original, masked input, and per solver X Yᵀ (or, `filled`, the original with the hidden
    pixels taken from X Yᵀ, blended by weight)."""
    items: list[tuple[str, np.ndarray | str]] = [("Original", problem.original_uri),
                                                 ("Masked input", problem.masked_uri)]
    if runs is None:
        return items
    for name, run in runs.runs.items():
        kept = run.factors_at(iteration)
        if kept is not None:
            shown, X, Y = kept
            estimate = images.reconstruct(X, Y, problem.shape)
            if filled:
                estimate = images.fill_in(problem.image, estimate, problem.weights)
            items.append((f"{name} · iteration {shown}", estimate))
    return items


# --- exports ----------------------------------------------------------------------------------

def reconstruction_png(problem: Problem, runs: RunSet, name: str, iteration: int) -> bytes:
    _, X, Y = runs.runs[name].factors_at(iteration)
    return images.png_bytes(images.reconstruct(X, Y, problem.shape))


def factors_npz(problem: Problem, runs: RunSet, settings: SolverSettings, iteration: int) -> bytes:
    """X and Y of every solver at the shown iteration (M̂ = X Yᵀ, M = [R | G | B] for colour)."""
    arrays: dict[str, np.ndarray] = {}
    for name, run in runs.runs.items():
        kept = run.factors_at(iteration)
        if kept is None:
            continue
        shown, X, Y = kept
        arrays[f"{name}_X"], arrays[f"{name}_Y"] = X, Y
        arrays[f"{name}_iteration"] = np.asarray(shown)
    arrays["image_shape"] = np.asarray(problem.shape)
    arrays["settings"] = np.asarray(json.dumps(settings.as_dict()))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def history_csv(runs: RunSet) -> bytes:
    return pd.DataFrame(runs.history_rows()).to_csv(index=False).encode("utf-8")
